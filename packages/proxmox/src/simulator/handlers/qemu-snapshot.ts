import { configDigest, DISK_KEY } from '../config-file.js';
import { checkLock, checkLockInTask, forkWorker, type HandlerTable, loadVm } from '../context.js';
import { die, TaskError } from '../errors.js';
import type { VmState } from '../state.js';
import { typedConfig } from './qemu-config.js';
import { markRunning, markStopped } from './vm-runtime.js';

/** Config keys never copied into a snapshot section. */
const NOT_SNAPSHOTTED = new Set(['lock', 'parent', 'snapstate']);

function snapshotList(vm: VmState): unknown[] {
  const list: unknown[] = [];
  for (const info of vm.snapshotInfo.values()) {
    const item: Record<string, unknown> = {
      name: info.name,
      snaptime: info.snaptime,
      vmstate: info.vmstate,
      description: info.description,
    };
    if (info.parent) item.parent = info.parent;
    list.push(item);
  }
  const current: Record<string, unknown> = {
    name: 'current',
    digest: configDigest(vm),
    running: vm.status === 'running' ? 1 : 0,
    description: 'You are here!',
  };
  if (vm.config.parent) current.parent = vm.config.parent;
  list.push(current);
  return list;
}

function loadSnapshot(vm: VmState, name: string) {
  const info = vm.snapshotInfo.get(name);
  const section = vm.snapshots.get(name);
  if (!info || !section) throw die(`snapshot '${name}' does not exist`);
  return { info, section };
}

export const qemuSnapshotHandlers: HandlerTable = {
  'GET /nodes/{node}/qemu/{vmid}/snapshot': (request) => snapshotList(loadVm(request)),

  'POST /nodes/{node}/qemu/{vmid}/snapshot': (request) => {
    const vm = loadVm(request);
    const { context, params } = request;
    const name = String(params.snapname);
    if (name === 'current' || name === 'pending') {
      throw die(`unable to use snapshot name '${name}' (reserved name)`);
    }
    checkLock(vm);
    return forkWorker(request, 'qmsnapshot', String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        if (vm.snapshotInfo.has(name)) throw new TaskError(`snapshot name '${name}' already used`);
        checkLockInTask(vm);
        vm.config.lock = 'snapshot';
        const withState = Boolean(params.vmstate) && vm.status === 'running';
        if (withState) task.log('saving VM state and RAM using storage');
        await task.work();
        const config: Record<string, string> = {};
        for (const [key, value] of Object.entries(vm.config)) {
          if (!NOT_SNAPSHOTTED.has(key)) config[key] = value;
        }
        const snaptime = Math.floor(context.clock.now() / 1000);
        config.snaptime = String(snaptime);
        if (params.description !== undefined) config.description = String(params.description);
        if (vm.config.parent) config.parent = vm.config.parent;
        if (withState) {
          const volid = `local-lvm:vm-${vm.vmid}-state-${name}`;
          context.state.addVolume(vm.node, {
            volid,
            content: 'images',
            format: 'raw',
            sizeBytes: 2 * 1024 ** 3,
            vmid: vm.vmid,
            ctime: snaptime,
          });
          config.vmstate = volid;
          config.runningmachine = 'pc-i440fx-9.2+pve0';
        }
        vm.snapshots.set(name, { config });
        vm.snapshotInfo.set(name, {
          name,
          snaptime,
          vmstate: withState ? 1 : 0,
          description: params.description !== undefined ? String(params.description) : '',
          ...(vm.config.parent ? { parent: vm.config.parent } : {}),
        });
        vm.config.parent = name;
        delete vm.config.lock;
      });
    });
  },

  'GET /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config': (request) => {
    const vm = loadVm(request);
    const { section } = loadSnapshot(vm, String(request.params.snapname));
    return { ...typedConfig(request, section.config), digest: configDigest(vm) };
  },

  'PUT /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config': async (request) => {
    const vm = loadVm(request);
    const name = String(request.params.snapname);
    await request.context.locks.runSync(vm.vmid, () => {
      const { info, section } = loadSnapshot(vm, name);
      if (request.params.description !== undefined) {
        info.description = String(request.params.description);
        section.config.description = info.description;
      }
    });
    return null;
  },

  'POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback': (request) => {
    const vm = loadVm(request);
    const { context, params } = request;
    const name = String(params.snapname);
    loadSnapshot(vm, name);
    checkLock(vm);
    return forkWorker(request, 'qmrollback', String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        const { info, section } = loadSnapshot(vm, name);
        vm.config.lock = 'rollback';
        await task.work();
        if (vm.status === 'running') markStopped(vm);
        const config: Record<string, string> = {};
        for (const [key, value] of Object.entries(section.config)) {
          if (!['snaptime', 'vmstate', 'runningmachine', 'description', 'parent'].includes(key)) {
            config[key] = value;
          }
        }
        if (section.config.description !== undefined && vm.config.description !== undefined) {
          config.description = vm.config.description;
        }
        config.parent = name;
        vm.config = config;
        vm.pending = {};
        vm.pendingDelete.clear();
        if (info.vmstate === 1 || params.start) markRunning(context, vm);
      });
    });
  },

  'DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}': (request) => {
    const vm = loadVm(request);
    const { context, params } = request;
    const name = String(params.snapname);
    if (!params.force) checkLock(vm);
    return forkWorker(request, 'qmdelsnapshot', String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        const info = vm.snapshotInfo.get(name);
        if (!info) throw new TaskError(`snapshot '${name}' does not exist`);
        vm.config.lock = 'snapshot-delete';
        await task.work();
        for (const other of vm.snapshotInfo.values()) {
          if (other.parent === name) {
            if (info.parent) other.parent = info.parent;
            else delete other.parent;
            const section = vm.snapshots.get(other.name);
            if (section) {
              if (info.parent) section.config.parent = info.parent;
              else delete section.config.parent;
            }
          }
        }
        if (vm.config.parent === name) {
          if (info.parent) vm.config.parent = info.parent;
          else delete vm.config.parent;
        }
        const state = vm.snapshots.get(name)?.config.vmstate;
        if (state) context.state.removeVolume(vm.node, state);
        vm.snapshots.delete(name);
        vm.snapshotInfo.delete(name);
        delete vm.config.lock;
      });
    });
  },

  'POST /nodes/{node}/qemu/{vmid}/template': (request) => {
    const vm = loadVm(request);
    const { context } = request;
    checkLock(vm);
    if (vm.status === 'running') throw die("you can't convert a VM to template if VM is running");
    return forkWorker(request, 'qmtemplate', String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        await task.work();
        for (const [key, value] of Object.entries(vm.config)) {
          if (!DISK_KEY.test(key) || /media=cdrom/.test(value)) continue;
          const volid = value.split(',')[0] as string;
          const renamed = volid.replace(`vm-${vm.vmid}-disk-`, `base-${vm.vmid}-disk-`);
          if (renamed === volid) continue;
          const volume = context.state.volume(vm.node, volid);
          if (volume) {
            context.state.removeVolume(vm.node, volid);
            context.state.addVolume(vm.node, { ...volume, volid: renamed });
          }
          task.log(`  Renamed "${volid.split(':')[1]}" to "${renamed.split(':')[1]}"`);
          vm.config[key] = value.replace(volid, renamed);
        }
        vm.config.template = '1';
      });
    });
  },
};
