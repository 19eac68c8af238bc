import { checkNode, type HandlerRequest, type HandlerTable, WithTotal } from '../context.js';
import { parameterError } from '../errors.js';
import type { SimulatedTask } from '../tasks.js';
import { parseUpid } from '../upid.js';

function loadTask(request: HandlerRequest): SimulatedTask {
  const upid = String(request.params.upid);
  if (!parseUpid(upid)) throw parameterError({ upid: 'unable to parse worker upid' });
  const task = request.context.tasks.tasks.get(upid);
  if (!task || task.node !== request.params.node) throw parameterError({ upid: 'no such task' });
  return task;
}

function splitUser(user: string): { user: string; tokenid?: string } {
  const bang = user.indexOf('!');
  return bang < 0 ? { user } : { user: user.slice(0, bang), tokenid: user.slice(bang + 1) };
}

function statusClass(exitstatus: string | undefined): string {
  if (exitstatus === 'OK') return 'ok';
  if (exitstatus?.startsWith('WARNINGS: ')) return 'warning';
  if (exitstatus === 'unexpected status') return 'unknown';
  return 'error';
}

export const taskHandlers: HandlerTable = {
  'GET /nodes/{node}/tasks': (request) => {
    const node = checkNode(request);
    const { params, context } = request;
    const source = String(params.source ?? 'archive');
    const statuses =
      params.statusfilter === undefined ? undefined : String(params.statusfilter).split(/[,;\s]+/);
    const typeFilter = params.typefilter === undefined ? undefined : String(params.typefilter);
    const userFilter = params.userfilter === undefined ? undefined : String(params.userfilter);
    const list = [...context.tasks.tasks.values()]
      .filter((task) => task.node === node)
      .filter((task) =>
        source === 'all'
          ? true
          : source === 'active'
            ? task.status === 'running'
            : task.status === 'stopped',
      )
      .filter((task) => params.vmid === undefined || task.id === String(params.vmid))
      .filter((task) => typeFilter === undefined || task.type === typeFilter)
      .filter((task) => userFilter === undefined || task.user.includes(userFilter))
      .filter(
        (task) =>
          !params.errors || (task.status === 'stopped' && statusClass(task.exitstatus) === 'error'),
      )
      .filter(
        (task) =>
          !statuses ||
          (task.status === 'stopped' && statuses.includes(statusClass(task.exitstatus))),
      )
      .filter((task) => params.since === undefined || task.starttime >= Number(params.since))
      .filter((task) => params.until === undefined || task.starttime <= Number(params.until))
      .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid);
    const start = Number(params.start ?? 0);
    const limit = Number(params.limit ?? 50);
    const page = list.slice(start, start + limit).map((task) => {
      const item: Record<string, unknown> = {
        upid: task.upid,
        node: task.node,
        pid: task.pid,
        pstart: task.pstart,
        starttime: task.starttime,
        type: task.type,
        id: task.id,
        user: task.user,
      };
      if (task.status === 'stopped') {
        item.status = task.exitstatus;
        item.endtime = task.endtime;
      }
      return item;
    });
    return new WithTotal(page, list.length);
  },

  'GET /nodes/{node}/tasks/{upid}/status': (request) => {
    const task = loadTask(request);
    const { user, tokenid } = splitUser(task.user);
    const result: Record<string, unknown> = {
      upid: task.upid,
      node: task.node,
      pid: task.pid,
      pstart: task.pstart,
      starttime: task.starttime,
      type: task.type,
      id: task.id,
      user,
      status: task.status,
    };
    if (tokenid !== undefined) result.tokenid = tokenid;
    if (task.status === 'stopped') result.exitstatus = task.exitstatus;
    return result;
  },

  'GET /nodes/{node}/tasks/{upid}/log': (request) => {
    const task = loadTask(request);
    const start = Number(request.params.start ?? 0);
    const limit = Number(request.params.limit ?? 50);
    if (task.log.length === 0) return new WithTotal([{ n: 1, t: 'no content' }], 1);
    const lines = task.log
      .slice(start, start + limit)
      .map((text, index) => ({ n: start + index + 1, t: text }));
    return new WithTotal(lines, task.log.length);
  },

  'DELETE /nodes/{node}/tasks/{upid}': (request) => {
    const task = loadTask(request);
    if (task.status === 'running') request.context.tasks.stop(task.upid);
    return null;
  },
};
