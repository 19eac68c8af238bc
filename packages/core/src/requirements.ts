import type { CapabilityId } from './capabilities.js';
import type {
  CloneOptions,
  ImageImportSource,
  ImportImageOptions,
  SnapshotOptions,
  VmChange,
} from './model/operations.js';
import type { DiskSpec, NicSpec, VmSpec } from './model/vm-spec.js';

/** A capability an input needs, with the input path that needs it. */
export interface Requirement {
  capability: CapabilityId;
  path: string;
}

type Need = (capability: CapabilityId, path: string) => void;

/** What one disk asks for, wherever it is declared (a new VM or an added disk). */
function diskRequirements(
  disk: Pick<DiskSpec, 'provisioning' | 'storage' | 'storagePolicy'>,
  at: string,
  need: Need,
): void {
  if (disk.provisioning === 'thin') need('storage.thin', `${at}.provisioning`);
  if (disk.provisioning === 'thick' || disk.provisioning === 'eagerZeroedThick')
    need('storage.thick', `${at}.provisioning`);
  if (disk.storagePolicy !== undefined) need('storage.storagePolicies', `${at}.storagePolicy`);
  if (disk.storage !== undefined) need('storage.storagePools', `${at}.storage`);
}

/** What one NIC asks for, wherever it is declared (a new VM or an added NIC). */
function nicRequirements(
  nic: Pick<NicSpec, 'vlan' | 'connection' | 'ipv4' | 'ipv6'>,
  at: string,
  need: Need,
): void {
  if (nic.vlan !== undefined) need('network.vlan', `${at}.vlan`);
  if (nic.connection === 'bridge') need('network.bridge', `${at}.connection`);
  if (nic.connection === 'distributed') need('network.distributedSwitch', `${at}.connection`);
  if (nic.ipv4 === 'dhcp' || nic.ipv6 === 'dhcp')
    need('network.dhcp', nic.ipv4 === 'dhcp' ? `${at}.ipv4` : `${at}.ipv6`);
  if (typeof nic.ipv4 === 'object') need('network.staticIp', `${at}.ipv4`);
  if (typeof nic.ipv6 === 'object') need('network.staticIp', `${at}.ipv6`);
}

/** Every capability a (validated) spec asks of the provider, with the field that asks. */
export function requirementsOfSpec(spec: VmSpec): Requirement[] {
  const needs: Requirement[] = [
    { capability: 'core.create', path: '(root)' },
    { capability: 'resources.cpu', path: 'cpu' },
    { capability: 'resources.memory', path: 'memory' },
  ];
  const need = (capability: CapabilityId, path: string) => needs.push({ capability, path });
  if (spec.cpu.hotAdd) need('resources.cpuHotAdd', 'cpu.hotAdd');
  if (spec.memory.hotAdd) need('resources.memoryHotAdd', 'memory.hotAdd');
  if (spec.cpu.reservationMHz !== undefined) need('resources.reservations', 'cpu.reservationMHz');
  if (spec.memory.reservationMiB !== undefined)
    need('resources.reservations', 'memory.reservationMiB');
  if (spec.cpu.limitMHz !== undefined) need('resources.limits', 'cpu.limitMHz');
  if (spec.memory.limitMiB !== undefined) need('resources.limits', 'memory.limitMiB');
  const disks = spec.disks ?? [];
  if (disks.length > 0) need('storage.diskCreate', 'disks');
  if (disks.length > 1) need('storage.multipleDisks', 'disks');
  for (const [index, disk] of disks.entries()) diskRequirements(disk, `disks[${index}]`, need);
  const nics = spec.nics ?? [];
  if (nics.length > 0) need('network.basic', 'nics');
  if (nics.length > 1) need('network.multipleNics', 'nics');
  for (const [index, nic] of nics.entries()) nicRequirements(nic, `nics[${index}]`, need);
  if (spec.image?.kind === 'template') need('lifecycle.templateDeploy', 'image');
  if (spec.image?.kind === 'url') need('images.cloudImageDownload', 'image');
  if (spec.image?.kind === 'content-library') need('images.contentLibrary', 'image');
  if (spec.cloudInit !== undefined) need('guest.cloudInit', 'cloudInit');
  if (spec.customization !== undefined) need('guest.customization', 'customization');
  if (spec.placement?.resourcePool !== undefined)
    need('advanced.resourcePools', 'placement.resourcePool');
  if (spec.placement?.storage !== undefined) need('storage.storagePools', 'placement.storage');
  if (spec.powerState === 'on') need('core.powerOn', 'powerState');
  return needs;
}

/** Capabilities a reconfiguration needs. */
export function requirementsOfChange(change: VmChange): Requirement[] {
  const needs: Requirement[] = [{ capability: 'core.reconfigure', path: '(root)' }];
  const need = (capability: CapabilityId, path: string) => needs.push({ capability, path });
  const { cpu, memory } = change;
  if (cpu?.count !== undefined || cpu?.coresPerSocket !== undefined) need('resources.cpu', 'cpu');
  if (cpu?.hotAdd) need('resources.cpuHotAdd', 'cpu.hotAdd');
  if (cpu?.reservationMHz !== undefined) need('resources.reservations', 'cpu.reservationMHz');
  if (cpu?.limitMHz !== undefined) need('resources.limits', 'cpu.limitMHz');
  if (memory?.sizeMiB !== undefined) need('resources.memory', 'memory.sizeMiB');
  if (memory?.hotAdd) need('resources.memoryHotAdd', 'memory.hotAdd');
  if (memory?.reservationMiB !== undefined) need('resources.reservations', 'memory.reservationMiB');
  if (memory?.limitMiB !== undefined) need('resources.limits', 'memory.limitMiB');
  if (change.addDisks?.length || change.removeDisks?.length)
    need('storage.diskCreate', change.addDisks?.length ? 'addDisks' : 'removeDisks');
  for (const [index, disk] of (change.addDisks ?? []).entries()) {
    diskRequirements(disk, `addDisks[${index}]`, need);
  }
  if (change.resizeDisks?.length) need('storage.diskExpand', 'resizeDisks');
  if (change.addNics?.length || change.removeNics?.length)
    need('network.basic', change.addNics?.length ? 'addNics' : 'removeNics');
  // Same paths as requirementsOfSpec: name the field that asks.
  for (const [index, nic] of (change.addNics ?? []).entries()) {
    nicRequirements(nic, `addNics[${index}]`, need);
  }
  return needs;
}

/** Capabilities a clone needs. */
export function requirementsOfClone(options: CloneOptions): Requirement[] {
  const needs: Requirement[] = [
    {
      capability: options.mode === 'linked' ? 'lifecycle.linkedClone' : 'lifecycle.fullClone',
      path: 'mode',
    },
  ];
  if (options.placement?.resourcePool !== undefined)
    needs.push({ capability: 'advanced.resourcePools', path: 'placement.resourcePool' });
  if (options.placement?.storage !== undefined)
    needs.push({ capability: 'storage.storagePools', path: 'placement.storage' });
  if (options.powerOn) needs.push({ capability: 'core.powerOn', path: 'powerOn' });
  return needs;
}

/** Capabilities a snapshot needs. */
export function requirementsOfSnapshot(options: SnapshotOptions): Requirement[] {
  const needs: Requirement[] = [{ capability: 'snapshots.create', path: '(root)' }];
  if (options.memory) needs.push({ capability: 'snapshots.memory', path: 'memory' });
  if (options.quiesce) needs.push({ capability: 'snapshots.quiesce', path: 'quiesce' });
  return needs;
}

/** Capabilities an image import needs. */
export function requirementsOfImageImport(
  source: ImageImportSource,
  options: ImportImageOptions,
): Requirement[] {
  const needs: Requirement[] = [];
  if (source.kind === 'url')
    needs.push({ capability: 'images.cloudImageDownload', path: 'source' });
  if (source.kind === 'ova' || source.kind === 'ovf')
    needs.push({ capability: 'images.ovaImport', path: 'source' });
  if (source.kind === 'content-library')
    needs.push({ capability: 'images.contentLibrary', path: 'source' });
  if (options.convertTo !== undefined)
    needs.push({ capability: 'images.conversion', path: 'convertTo' });
  if (options.storage !== undefined)
    needs.push({ capability: 'storage.storagePools', path: 'storage' });
  return needs;
}
