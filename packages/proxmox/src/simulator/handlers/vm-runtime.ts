import { DISK_KEY, parseSize } from '../config-file.js';
import type { SimulatorContext } from '../context.js';
import { parseDrive } from '../devices.js';
import type { VmState } from '../state.js';

/** Memory in MiB from `memory` (`2048` or `current=2048`); default 512. */
export function memoryMiB(vm: VmState): number {
  const value = vm.config.memory ?? '512';
  const match = /(?:^|current=)(\d+)/.exec(value);
  return match ? Number(match[1]) : 512;
}

export function cpuCount(vm: VmState): number {
  return Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1);
}

/** Size of the boot disk in bytes (first non-CD-ROM disk), as `maxdisk` reports it. */
export function bootDiskBytes(context: SimulatorContext, vm: VmState): number {
  for (const key of Object.keys(vm.config).sort()) {
    if (!DISK_KEY.test(key) || key === 'efidisk0' || key === 'tpmstate0') continue;
    const drive = parseDrive(context, key, vm.config[key] as string);
    if (drive.media === 'cdrom' || !drive.size) continue;
    return parseSize(drive.size);
  }
  return 0;
}

export function uptimeSeconds(context: SimulatorContext, vm: VmState): number {
  if (vm.status !== 'running' || vm.startedAt === undefined) return 0;
  return Math.max(0, Math.floor((context.clock.now() - vm.startedAt) / 1000));
}

/** Applies pending changes (at start or when the VM is stopped). */
export function applyPending(vm: VmState): void {
  for (const [key, value] of Object.entries(vm.pending)) vm.config[key] = value;
  for (const key of vm.pendingDelete.keys()) delete vm.config[key];
  vm.pending = {};
  vm.pendingDelete.clear();
}

/** Marks a VM running (pending changes applied first, as a fresh QEMU process reads the config). */
export function markRunning(context: SimulatorContext, vm: VmState): void {
  applyPending(vm);
  vm.status = 'running';
  vm.qmpstatus = 'running';
  vm.startedAt = context.clock.now();
  vm.pid = 100_000 + vm.vmid * 7 + (Math.floor(context.clock.now() / 1000) % 1000);
}

export function markStopped(vm: VmState): void {
  vm.status = 'stopped';
  vm.qmpstatus = 'stopped';
  vm.startedAt = undefined;
  vm.pid = undefined;
}
