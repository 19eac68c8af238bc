import { DISK_KEY, NET_KEY } from '../config-file.js';
import {
  checkLock,
  forkWorker,
  type HandlerRequest,
  type HandlerTable,
  loadVm,
} from '../context.js';
import { isCdrom, parseDrive, parseNet, printDrive, printNet } from '../devices.js';
import { die, parameterError, TaskError } from '../errors.js';
import type { VmState } from '../state.js';

/** Storage types whose base volumes can back linked clones. */
const LINKED_CLONE_TYPES = new Set(['lvmthin', 'dir', 'nfs', 'zfspool', 'rbd', 'cifs']);

function diskEntries(
  request: HandlerRequest,
  config: Record<string, string>,
): Array<[string, string]> {
  return Object.entries(config).filter(
    ([key, value]) =>
      DISK_KEY.test(key) && !isCdrom(request.context, key, value) && value.includes(':'),
  );
}

function usesLocalStorage(request: HandlerRequest, vm: VmState): boolean {
  return diskEntries(request, vm.config).some(([key, value]) => {
    const file = parseDrive(request.context, key, value).file ?? '';
    return !request.context.state.storage(file.split(':')[0] ?? '')?.shared;
  });
}

export const qemuCloneHandlers: HandlerTable = {
  'POST /nodes/{node}/qemu/{vmid}/clone': (request) => {
    const source = loadVm(request);
    const { context, params } = request;
    const state = context.state;
    const newid = Number(params.newid);
    const isTemplate = source.config.template === '1';
    const full = params.full === undefined ? !isTemplate : Boolean(params.full);
    const snapname = params.snapname === undefined ? undefined : String(params.snapname);
    if (!isTemplate || snapname) checkLock(source);
    if (snapname && !source.snapshots.has(snapname))
      throw die(`snapshot '${snapname}' does not exist`);
    const sourceConfig = snapname ? (source.snapshots.get(snapname)?.config ?? {}) : source.config;
    const targetNode = params.target === undefined ? source.node : String(params.target);
    if (!state.nodes.includes(targetNode)) throw die(`no such cluster node '${targetNode}'`);
    if (targetNode !== source.node && usesLocalStorage(request, source)) {
      throw die(`can't clone VM to node '${targetNode}' (VM uses local storage)`);
    }
    if (!full) {
      if (params.storage !== undefined)
        throw die("parameter 'storage' not allowed for linked clones");
      if (params.format !== undefined)
        throw die("parameter 'format' not allowed for linked clones");
      for (const [key, value] of diskEntries(request, sourceConfig)) {
        const file = parseDrive(context, key, value).file ?? '';
        const storage = state.storage(file.split(':')[0] ?? '');
        if (!isTemplate || !storage || !LINKED_CLONE_TYPES.has(storage.type)) {
          throw die(`Linked clone feature is not supported for '${file}' (${key})`);
        }
      }
    }
    if (params.storage !== undefined && !state.storage(String(params.storage))) {
      throw die(`storage '${params.storage}' does not exist`);
    }
    if (state.vms.has(newid)) throw die(`unable to create VM ${newid}: config file already exists`);
    const pool = params.pool === undefined ? undefined : state.pools.get(String(params.pool));
    if (params.pool !== undefined && !pool) throw die(`pool '${params.pool}' does not exist`);
    const target: VmState = {
      vmid: newid,
      node: targetNode,
      config: { lock: 'clone' },
      pending: {},
      pendingDelete: new Map(),
      snapshots: new Map(),
      snapshotInfo: new Map(),
      status: 'stopped',
      qmpstatus: 'stopped',
      agent: { mode: 'interfaces' },
    };
    state.vms.set(newid, target);
    pool?.vms.add(newid);
    return forkWorker(request, 'qmclone', String(source.vmid), async (task) => {
      const created: string[] = [];
      try {
        const config: Record<string, string> = {};
        for (const [key, value] of Object.entries(sourceConfig)) {
          if (['lock', 'parent', 'template', 'snaptime', 'vmstate', 'runningmachine'].includes(key))
            continue;
          if (/^unused\d+$/.test(key)) continue;
          config[key] = value;
        }
        for (const [key, value] of Object.entries(config)) {
          if (NET_KEY.test(key)) {
            const net = parseNet(context, key, value);
            net.macaddr = state.nextMac();
            config[key] = printNet(net);
          }
        }
        for (const [key, value] of diskEntries(request, config)) {
          const drive = parseDrive(context, key, value);
          const file = drive.file ?? '';
          const sourceVolume = state.volume(source.node, file);
          const storageId = full
            ? String(params.storage ?? file.split(':')[0])
            : (file.split(':')[0] as string);
          if (!state.storage(storageId)?.content.includes('images')) {
            throw new TaskError(`storage '${storageId}' does not support vm images`);
          }
          let volid: string;
          if (full) {
            task.log(`create full clone of drive ${key} (${file})`);
            const format =
              params.format === undefined ? state.defaultFormat(storageId) : String(params.format);
            volid = state.newDiskVolid(targetNode, storageId, newid, format);
            await task.work();
            task.log(`transferred ${drive.size ?? '0'} of ${drive.size ?? '0'} (100.00%)`);
          } else {
            task.log(`create linked clone of drive ${key} (${file})`);
            const fresh = state.newDiskVolid(targetNode, storageId, newid);
            const freshName = fresh.split(':')[1] as string;
            const baseName = file.split(':')[1] as string;
            volid = `${storageId}:${baseName}/${freshName}`;
          }
          state.addVolume(targetNode, {
            volid,
            content: 'images',
            format: full
              ? params.format === undefined
                ? state.defaultFormat(storageId)
                : String(params.format)
              : (sourceVolume?.format ?? 'raw'),
            sizeBytes: sourceVolume?.sizeBytes ?? 0,
            vmid: newid,
            ctime: Math.floor(context.clock.now() / 1000),
            ...(full ? {} : { base: file }),
            ...(full && sourceVolume?.data ? { data: sourceVolume.data } : {}),
          });
          created.push(volid);
          drive.file = volid;
          config[key] = printDrive(drive);
        }
        await task.work();
        config.name =
          params.name === undefined
            ? `Copy-of-VM-${source.config.name ?? source.vmid}`
            : String(params.name);
        if (params.description !== undefined) config.description = String(params.description);
        config.smbios1 = `uuid=${state.nextUuid()}`;
        config.vmgenid = state.nextUuid();
        target.config = config;
      } catch (error) {
        for (const volid of created) state.removeVolume(targetNode, volid);
        state.vms.delete(newid);
        pool?.vms.delete(newid);
        const message = error instanceof Error ? error.message : String(error);
        throw new TaskError(`clone failed: ${message}`);
      }
    });
  },

  'POST /nodes/{node}/qemu/{vmid}/migrate': (request) => {
    const vm = loadVm(request);
    const { context, params } = request;
    const state = context.state;
    const targetNode = String(params.target);
    checkLock(vm);
    // qemu-server's migrate_vm: a parameter error, checked before the node is known to exist.
    if (targetNode === vm.node) throw parameterError({ target: 'target is local node.' });
    if (!state.nodes.includes(targetNode)) throw die(`no such cluster node '${targetNode}'`);
    if (vm.status === 'running' && !params.online)
      throw die("can't migrate running VM without --online");
    return forkWorker(request, 'qmigrate', String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        const hasLocalDisks = usesLocalStorage(request, vm);
        if (vm.status === 'running' && hasLocalDisks && !params['with-local-disks']) {
          throw new TaskError(
            `can't live migrate attached local disks without with-local-disks option`,
          );
        }
        vm.config.lock = 'migrate';
        task.log(`starting migration of VM ${vm.vmid} to node '${targetNode}'`);
        try {
          await task.work();
        } catch (error) {
          delete vm.config.lock;
          throw error;
        }
        for (const volume of [...state.volumes.values()]) {
          if (volume.vmid !== vm.vmid || volume.node !== vm.node) continue;
          state.removeVolume(vm.node, volume.volid);
          state.addVolume(targetNode, { ...volume });
        }
        vm.node = targetNode;
        delete vm.config.lock;
        task.log('migration finished successfully');
      });
    });
  },
};
