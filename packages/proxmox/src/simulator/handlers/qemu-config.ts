import {
  configDigest,
  DISK_KEY,
  formatSize,
  NET_KEY,
  parseSize,
  typeConfigValue,
  UNUSED_KEY,
} from '../config-file.js';
import {
  checkLock,
  checkLockInTask,
  checkSkiplock,
  forkWorker,
  type HandlerRequest,
  type HandlerTable,
  loadVm,
} from '../context.js';
import {
  allocateDrive,
  configProperties,
  isCdrom,
  normalizeNet,
  parseDrive,
  precheckDrive,
  printDrive,
  referencedVolume,
} from '../devices.js';
import { ApiError, die, TaskError } from '../errors.js';
import { lookupProperty } from '../schema.js';
import type { VmState } from '../state.js';

/** Config-update parameters that are not config keys. */
const UPDATE_META = new Set([
  'node',
  'vmid',
  'digest',
  'delete',
  'revert',
  'force',
  'skiplock',
  'background_delay',
]);

/**
 * Keys applied at once on a running VM: qemu-server's `$fast_plug_option`, which holds every
 * cloud-init option (the guest reads them at boot, so writing them is all a change does), plus
 * the keys vmconfig_hotplug_pending applies without a device (`ipconfigN`, cpulimit, cpuunits).
 */
const FAST_PLUG = new Set([
  'name',
  'description',
  'tags',
  'onboot',
  'startup',
  'protection',
  'hotplug',
  'shares',
  'hookscript',
  'vmstatestorage',
  'migrate_downtime',
  'migrate_speed',
  'lock',
  'balloon',
  'cpulimit',
  'cpuunits',
  'cicustom',
  'cipassword',
  'citype',
  'ciuser',
  'ciupgrade',
  'nameserver',
  'searchdomain',
  'sshkeys',
]);

function hotplugFeatures(vm: VmState): Set<string> {
  const value = vm.config.hotplug ?? 'network,disk,usb';
  if (value === '0') return new Set();
  if (value === '1') return new Set(['network', 'disk', 'usb']);
  return new Set(value.split(','));
}

/** Whether a change to `key` applies to a running VM now (else it waits in pending). */
export function isHotpluggable(vm: VmState, key: string): boolean {
  const features = hotplugFeatures(vm);
  if (FAST_PLUG.has(key) || UNUSED_KEY.test(key) || /^ipconfig\d+$/.test(key)) return true;
  if (NET_KEY.test(key)) return features.has('network');
  // qemu-server hot-plugs only SCSI and VirtIO disks; IDE and SATA wait for the next start.
  if (/^(scsi|virtio)\d+$/.test(key)) return features.has('disk');
  if (key === 'vcpus') return features.has('cpu');
  if (key === 'memory') return features.has('memory');
  return false;
}

function splitList(value: unknown): string[] {
  return value === undefined
    ? []
    : String(value)
        .split(/[,;\s\0]+/)
        .filter(Boolean);
}

export function typedConfig(
  request: HandlerRequest,
  config: Record<string, string>,
): Record<string, unknown> {
  const properties = configProperties(request.context);
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config))
    result[key] = typeConfigValue(properties, key, value);
  return result;
}

function firstFreeUnused(vm: VmState): string {
  let index = 0;
  while (vm.config[`unused${index}`] !== undefined || vm.pending[`unused${index}`] !== undefined)
    index++;
  return `unused${index}`;
}

/** Deletes a key now: disks go to unusedN unless forced; an unused volume is freed. */
function deleteNow(request: HandlerRequest, vm: VmState, key: string, force: boolean): void {
  const value = vm.config[key];
  if (value === undefined) return;
  const { context } = request;
  const volume = referencedVolume(context, key, value);
  delete vm.config[key];
  if (!volume) return;
  if (UNUSED_KEY.test(key) || force) {
    if (context.state.volume(vm.node, volume)?.vmid === vm.vmid)
      context.state.removeVolume(vm.node, volume);
  } else if (DISK_KEY.test(key) && !isCdrom(context, key, value)) {
    vm.config[firstFreeUnused(vm)] = volume;
  }
}

/** Applies pending values: everything when stopped, hotpluggable keys when running. */
function applyChanges(request: HandlerRequest, vm: VmState): void {
  const running = vm.status === 'running';
  for (const [key, force] of [...vm.pendingDelete]) {
    if (running && !isHotpluggable(vm, key)) continue;
    deleteNow(request, vm, key, force);
    vm.pendingDelete.delete(key);
  }
  for (const [key, value] of Object.entries(vm.pending)) {
    if (running && !isHotpluggable(vm, key)) continue;
    const old = vm.config[key];
    if (old !== undefined && DISK_KEY.test(key) && old !== value) {
      const oldVolume = referencedVolume(request.context, key, old);
      const newVolume = referencedVolume(request.context, key, value);
      if (oldVolume && oldVolume !== newVolume && !isCdrom(request.context, key, old)) {
        vm.config[firstFreeUnused(vm)] = oldVolume;
      }
    }
    vm.config[key] = value;
    delete vm.pending[key];
  }
}

/**
 * The synchronous part of update_vm_api: digest and lock checks, disk allocation, writing the
 * pending section. Returns the work that applies it (run inline for PUT, in a worker for POST).
 */
function prepareUpdate(request: HandlerRequest, vm: VmState): () => void {
  const { context, params } = request;
  const skiplock = checkSkiplock(request);
  const deletions = splitList(params.delete);
  const reverts = splitList(params.revert);
  const properties = configProperties(context);
  const modifications = Object.keys(params).filter((key) => !UPDATE_META.has(key));
  for (const key of deletions) {
    if (!lookupProperty(properties, key)) {
      throw new ApiError(400, 'Parameter verification failed.', {
        errors: { delete: `unknown option '${key}'` },
      });
    }
    if (modifications.includes(key)) {
      throw new ApiError(400, 'Parameter verification failed.', {
        errors: { delete: `You can't change and delete the same option '${key}'` },
      });
    }
  }
  if (modifications.length === 0 && deletions.length === 0 && reverts.length === 0) {
    throw die('no options specified');
  }
  if (params.digest !== undefined && params.digest !== configDigest(vm)) {
    throw die('checksum mismatch (file change by other user?)');
  }
  checkLock(vm, skiplock);
  for (const key of modifications) precheckDrive(context, vm.node, key, String(params[key]));
  for (const key of reverts) {
    delete vm.pending[key];
    vm.pendingDelete.delete(key);
  }
  for (const key of deletions) {
    delete vm.pending[key];
    if (vm.config[key] !== undefined) vm.pendingDelete.set(key, Boolean(params.force));
  }
  for (const key of modifications) {
    let value = String(params[key]);
    value = normalizeNet(context, key, value);
    value = allocateDrive(context, vm.node, vm.vmid, key, value);
    vm.pending[key] = value;
    vm.pendingDelete.delete(key);
  }
  return () => applyChanges(request, vm);
}

async function resize(request: HandlerRequest, vm: VmState): Promise<void> {
  const { context, params } = request;
  if (params.digest !== undefined && params.digest !== configDigest(vm)) {
    throw new TaskError('checksum mismatch (file change by other user?)');
  }
  if (!params.skiplock) checkLockInTask(vm);
  const disk = String(params.disk);
  const value = vm.config[disk];
  if (value === undefined) throw new TaskError(`disk '${disk}' does not exist`);
  const drive = parseDrive(context, disk, value);
  if (drive.media === 'cdrom') throw new TaskError("you can't resize a cdrom");
  const current = drive.size ? parseSize(drive.size) : 0;
  const text = String(params.size);
  const grow = text.startsWith('+');
  const amount = parseSize(grow ? text.slice(1) : text);
  const next = grow ? current + amount : amount;
  if (next < current) throw new TaskError('shrinking disks is not supported');
  drive.size = formatSize(next);
  vm.config[disk] = printDrive(drive);
  const volume = context.state.volume(vm.node, drive.file ?? '');
  if (volume) volume.sizeBytes = next;
}

export const qemuConfigHandlers: HandlerTable = {
  'GET /nodes/{node}/qemu/{vmid}/config': (request) => {
    const vm = loadVm(request);
    const { params } = request;
    let config: Record<string, string>;
    if (params.snapshot !== undefined) {
      const section = vm.snapshots.get(String(params.snapshot));
      if (!section) throw die(`snapshot '${params.snapshot}' does not exist`);
      config = { ...section.config };
    } else if (params.current) {
      config = { ...vm.config };
    } else {
      config = { ...vm.config, ...vm.pending };
      for (const key of vm.pendingDelete.keys()) delete config[key];
    }
    return { ...typedConfig(request, config), digest: configDigest(vm) };
  },

  'GET /nodes/{node}/qemu/{vmid}/pending': (request) => {
    const vm = loadVm(request);
    const properties = configProperties(request.context);
    const keys = new Set([
      ...Object.keys(vm.config),
      ...Object.keys(vm.pending),
      ...vm.pendingDelete.keys(),
    ]);
    return [...keys].sort().map((key) => {
      const item: Record<string, unknown> = { key };
      const value = vm.config[key];
      if (value !== undefined) item.value = typeConfigValue(properties, key, value);
      const pending = vm.pending[key];
      if (pending !== undefined) item.pending = typeConfigValue(properties, key, pending);
      if (vm.pendingDelete.has(key)) item.delete = vm.pendingDelete.get(key) ? 2 : 1;
      return item;
    });
  },

  'PUT /nodes/{node}/qemu/{vmid}/config': async (request) => {
    const vm = loadVm(request);
    await request.context.locks.runSync(vm.vmid, () => prepareUpdate(request, vm)());
    return null;
  },

  'POST /nodes/{node}/qemu/{vmid}/config': async (request) => {
    const vm = loadVm(request);
    const { context } = request;
    const apply = await context.locks.runSync(vm.vmid, () => prepareUpdate(request, vm));
    const upid = forkWorker(request, 'qmconfig', String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        await task.work();
        apply();
      });
    });
    const delay = request.params.background_delay;
    if (delay === undefined) return upid;
    const task = context.tasks.tasks.get(upid);
    if (!task) return upid;
    const timer = new AbortController();
    await Promise.race([
      task.finished,
      context.clock.sleep(Number(delay) * 1000, timer.signal).catch(() => {}),
    ]);
    timer.abort();
    if (task.status === 'running') return upid;
    if (task.exitstatus !== 'OK') throw die(`failed to update VM ${vm.vmid}: ${task.exitstatus}`);
    return null;
  },

  'PUT /nodes/{node}/qemu/{vmid}/resize': (request) => {
    const vm = loadVm(request);
    const { context } = request;
    checkSkiplock(request);
    return forkWorker(request, 'resize', String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        await task.work();
        await resize(request, vm);
      });
    });
  },
};
