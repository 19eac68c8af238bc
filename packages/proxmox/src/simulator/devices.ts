import { DISK_KEY, formatSize, NET_KEY } from './config-file.js';
import type { SimulatorContext } from './context.js';
import { die } from './errors.js';
import { parsePropertyString, printPropertyString } from './property-string.js';
import { lookupProperty, type ParameterSchema } from './schema.js';

/** The config-key schemas (`PUT /config` parameters) of the simulator's version. */
export function configProperties(context: SimulatorContext): Record<string, ParameterSchema> {
  return context.schemas['PUT /nodes/{node}/qemu/{vmid}/config']?.parameters.properties ?? {};
}

function nestedFormat(context: SimulatorContext, key: string): Record<string, ParameterSchema> {
  const format = lookupProperty(configProperties(context), key)?.format;
  return format && typeof format === 'object' ? format : {};
}

/** Parses a drive string (`local-lvm:vm-100-disk-0,size=32G`) into its keys (`file`, `size`, …). */
export function parseDrive(
  context: SimulatorContext,
  key: string,
  value: string,
): Record<string, string> {
  return parsePropertyString(nestedFormat(context, key), value);
}

export function printDrive(drive: Record<string, string | undefined>): string {
  return printPropertyString(drive, { defaultKey: 'file' });
}

export function parseNet(
  context: SimulatorContext,
  key: string,
  value: string,
): Record<string, string> {
  return parsePropertyString(nestedFormat(context, key), value);
}

export function printNet(net: Record<string, string | undefined>): string {
  return printPropertyString(net, { keyAlias: { key: 'model', valueKey: 'macaddr' } });
}

/** `STORAGE:SIZE_GiB` / `STORAGE:0` (+import-from) / `STORAGE:cloudinit`. */
const ALLOCATION = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?|cloudinit)$/i;

/** True when a drive value asks for a new volume. */
export function isAllocation(drive: Record<string, string>): boolean {
  return ALLOCATION.test(drive.file ?? '');
}

/**
 * The synchronous checks before a disk is allocated (qemu-server check_storage_access): the
 * storage exists and holds images; `import-from` uses the `STORAGE:0` syntax and exists.
 */
export function precheckDrive(
  context: SimulatorContext,
  node: string,
  key: string,
  value: string,
): void {
  if (!DISK_KEY.test(key)) return;
  const drive = parseDrive(context, key, value);
  const match = ALLOCATION.exec(drive.file ?? '');
  if (!match) {
    const file = drive.file ?? '';
    if (file === 'none' || file === 'cdrom' || file.startsWith('/')) return;
    const storageId = file.split(':')[0] as string;
    if (!context.state.storage(storageId)) throw die(`storage '${storageId}' does not exist`);
    if (!context.state.volume(node, file)) throw die(`volume '${file}' does not exist`);
    return;
  }
  const storageId = match[1] as string;
  const storage = context.state.storage(storageId);
  if (!storage) throw die(`storage '${storageId}' does not exist`);
  if (!storage.content.includes('images'))
    throw die(`storage '${storageId}' does not support vm images`);
  const source = drive['import-from'];
  if (source !== undefined) {
    if (match[2] !== '0') {
      throw die(`'import-from' requires special syntax - use <storage ID>:0,import-from=<source>`);
    }
    const sourceVolume = context.state.volume(node, source);
    if (!sourceVolume) throw die(`volume '${source}' does not exist`);
  }
}

/**
 * Allocates the volume a drive asks for and returns the value written to the config
 * (`local-lvm:vm-100-disk-0,size=32G`); other values come back unchanged.
 */
export function allocateDrive(
  context: SimulatorContext,
  node: string,
  vmid: number,
  key: string,
  value: string,
  log: (line: string) => void = () => {},
): string {
  if (!DISK_KEY.test(key)) return value;
  const drive = parseDrive(context, key, value);
  const match = ALLOCATION.exec(drive.file ?? '');
  if (!match) return value;
  const storageId = match[1] as string;
  const state = context.state;
  const now = Math.floor(context.clock.now() / 1000);
  const format = drive.format ?? state.defaultFormat(storageId);
  let volid: string;
  let sizeBytes: number;
  // An imported image keeps its bytes, so a later export (or a test) can compare them.
  let data: Buffer | undefined;
  if (match[2] === 'cloudinit') {
    const fileBased = state.defaultFormat(storageId) === 'qcow2';
    volid = fileBased
      ? `${storageId}:${vmid}/vm-${vmid}-cloudinit.qcow2`
      : `${storageId}:vm-${vmid}-cloudinit`;
    sizeBytes = 4 * 1024 ** 2;
    drive.media = 'cdrom';
  } else if (drive['import-from'] !== undefined) {
    const source = state.volume(node, drive['import-from']);
    if (!source) throw die(`volume '${drive['import-from']}' does not exist`);
    volid = state.newDiskVolid(node, storageId, vmid, format);
    sizeBytes = source.sizeBytes;
    data = source.data;
    log(`importing disk '${source.volid}' to VM ${vmid} ...`);
    delete drive['import-from'];
  } else if (key === 'efidisk0' || key === 'tpmstate0') {
    volid = state.newDiskVolid(node, storageId, vmid, format);
    sizeBytes = key === 'efidisk0' && drive.efitype !== '4m' ? 528 * 1024 : 4 * 1024 ** 2;
  } else {
    volid = state.newDiskVolid(node, storageId, vmid, format);
    sizeBytes = Math.round(Number(match[2]) * 1024 ** 3);
  }
  state.addVolume(node, {
    volid,
    content: 'images',
    format,
    sizeBytes,
    vmid,
    ctime: now,
    ...(data ? { data } : {}),
  });
  if (match[2] !== 'cloudinit') log(`  Logical volume "${volid.split(':')[1]}" created.`);
  delete drive.format;
  drive.file = volid;
  drive.size = formatSize(sizeBytes);
  return printDrive(drive);
}

/** Fills in a generated MAC (Proxmox OUI) when a NIC has none, and prints it canonically. */
export function normalizeNet(context: SimulatorContext, key: string, value: string): string {
  if (!NET_KEY.test(key)) return value;
  const net = parseNet(context, key, value);
  if (!net.macaddr) net.macaddr = context.state.nextMac();
  return printNet(net);
}

/** Volumes a config value references (disks, unused, vmstate), with `none`/cdrom/paths skipped. */
export function referencedVolume(
  context: SimulatorContext,
  key: string,
  value: string,
): string | undefined {
  if (/^unused\d+$/.test(key) || key === 'vmstate') return value;
  if (!DISK_KEY.test(key)) return undefined;
  const file = parseDrive(context, key, value).file ?? '';
  if (file === 'none' || file === 'cdrom' || file.startsWith('/') || !file.includes(':'))
    return undefined;
  return file;
}

/** Whether a drive is a CD-ROM (`media=cdrom`). */
export function isCdrom(context: SimulatorContext, key: string, value: string): boolean {
  return parseDrive(context, key, value).media === 'cdrom';
}
