import {
  checkLock,
  checkSkiplock,
  forkWorker,
  type HandlerRequest,
  type HandlerTable,
  loadVm,
} from '../context.js';
import { die, TaskError } from '../errors.js';
import type { VmState } from '../state.js';
import { markRunning, markStopped } from './vm-runtime.js';

function bridgesExist(request: HandlerRequest, vm: VmState): void {
  for (const [key, value] of Object.entries({ ...vm.config, ...vm.pending })) {
    if (!/^net\d+$/.test(key)) continue;
    const bridge = /(?:^|,)bridge=([^,]+)/.exec(value)?.[1];
    if (bridge && !request.context.state.bridges.includes(bridge)) {
      throw new TaskError(`bridge '${bridge}' does not exist`);
    }
  }
}

/** A power action: pre-fork checks, then a worker holding the config lock. */
function powerAction(
  type: string,
  options: { requiresRunning?: boolean; checkLock?: boolean },
  apply: (request: HandlerRequest, vm: VmState, skiplock: boolean) => void,
) {
  return (request: HandlerRequest) => {
    const vm = loadVm(request);
    const skiplock = checkSkiplock(request);
    if (options.checkLock) checkLock(vm, skiplock);
    if (options.requiresRunning && vm.status !== 'running') throw die(`VM ${vm.vmid} not running`);
    const { context } = request;
    return forkWorker(request, type, String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        await task.work();
        apply(request, vm, skiplock);
      });
    });
  };
}

function start(request: HandlerRequest, vm: VmState, skiplock: boolean): void {
  if (vm.config.template === '1') throw new TaskError("you can't start a vm if it's a template");
  if (vm.status === 'running') throw new TaskError(`VM ${vm.vmid} already running`);
  const lock = vm.config.lock;
  if (lock && lock !== 'suspended' && !skiplock) throw new TaskError(`VM is locked (${lock})`);
  bridgesExist(request, vm);
  if (lock === 'suspended') {
    const state = vm.config.vmstate;
    if (state) request.context.state.removeVolume(vm.node, state);
    delete vm.config.vmstate;
    delete vm.config.lock;
  }
  markRunning(request.context, vm);
}

const shutdown = powerAction('qmshutdown', {}, (_request, vm, skiplock) => {
  const lock = vm.config.lock;
  if (lock && !skiplock) throw new TaskError(`VM is locked (${lock})`);
  markStopped(vm);
});

export const qemuPowerHandlers: HandlerTable = {
  'POST /nodes/{node}/qemu/{vmid}/status/start': powerAction('qmstart', {}, start),
  'POST /nodes/{node}/qemu/{vmid}/status/stop': powerAction(
    'qmstop',
    {},
    (_request, vm, skiplock) => {
      const lock = vm.config.lock;
      if (lock && !skiplock) throw new TaskError(`VM is locked (${lock})`);
      markStopped(vm);
    },
  ),
  'POST /nodes/{node}/qemu/{vmid}/status/shutdown': (request) => {
    // A paused guest would act on the ACPI request only when resumed, so the API refuses it
    // before forking unless forceStop turns it into a stop (qemu-server Qemu.pm vm_shutdown).
    const vm = loadVm(request);
    if (vm.qmpstatus === 'paused' && !request.params.forceStop)
      throw die('VM is paused - cannot shutdown');
    return shutdown(request);
  },
  'POST /nodes/{node}/qemu/{vmid}/status/reboot': powerAction(
    'qmreboot',
    { requiresRunning: true, checkLock: true },
    (request, vm) => {
      markStopped(vm);
      markRunning(request.context, vm);
    },
  ),
  'POST /nodes/{node}/qemu/{vmid}/status/reset': powerAction(
    'qmreset',
    { requiresRunning: true, checkLock: true },
    (request, vm) => {
      vm.startedAt = request.context.clock.now();
    },
  ),
  'POST /nodes/{node}/qemu/{vmid}/status/suspend': (request) => {
    const vm = loadVm(request);
    const skiplock = checkSkiplock(request);
    checkLock(vm, skiplock);
    if (vm.status !== 'running') throw die(`VM ${vm.vmid} not running`);
    const { context, params } = request;
    const toDisk = Boolean(params.todisk);
    return forkWorker(request, toDisk ? 'qmsuspend' : 'qmpause', String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        if (!toDisk) {
          await task.work();
          vm.qmpstatus = 'paused';
          return;
        }
        vm.config.lock = 'suspending';
        await task.work();
        const storage = String(params.statestorage ?? vm.config.vmstatestorage ?? 'local-lvm');
        const stamp = new Date(context.clock.now())
          .toISOString()
          .replace(/[-:T]/g, '')
          .slice(0, 14);
        const volid =
          context.state.defaultFormat(storage) === 'qcow2'
            ? `${storage}:${vm.vmid}/vm-${vm.vmid}-state-suspend-${stamp}.raw`
            : `${storage}:vm-${vm.vmid}-state-suspend-${stamp}`;
        context.state.addVolume(vm.node, {
          volid,
          content: 'images',
          format: 'raw',
          sizeBytes: 2 * 1024 ** 3,
          vmid: vm.vmid,
          ctime: Math.floor(context.clock.now() / 1000),
        });
        vm.config.vmstate = volid;
        vm.config.lock = 'suspended';
        markStopped(vm);
      });
    });
  },
  'POST /nodes/{node}/qemu/{vmid}/status/resume': (request) => {
    const vm = loadVm(request);
    const skiplock = checkSkiplock(request);
    const toDisk = vm.config.lock === 'suspended';
    if (!toDisk) checkLock(vm, skiplock);
    if (!toDisk && vm.status !== 'running') throw die(`VM ${vm.vmid} not running`);
    const { context } = request;
    return forkWorker(request, 'qmresume', String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        await task.work();
        if (toDisk) start(request, vm, skiplock);
        else vm.qmpstatus = 'running';
      });
    });
  },
};
