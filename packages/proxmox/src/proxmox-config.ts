/**
 * VmSpec ↔ Proxmox VM config: the parameters of `POST /nodes/{node}/qemu` and `POST …/config`,
 * and the core `Vm` read back from `GET …/config` + `GET …/status/current`. Pure: no I/O.
 *
 * Decisions a reader needs:
 * - **Disk sizes.** Proxmox allocates `STORAGE:SIZE_GiB` in whole GiB (qemu-server truncates a
 *   fraction through convert_size). A size that is not a whole GiB is allocated at the whole GiB
 *   below it (at least 1) and listed in `resizes` so the caller grows it to the exact MiB
 *   (`PUT …/resize size=<n>M`); a size below 1 GiB cannot shrink back and is allocated at 1 GiB
 *   with a warning. `sizeBytes` of the observed disk is always the `size=` Proxmox reports.
 * - **Names.** Proxmox VM names are DNS names (pve-common `dns-name`: dot-separated labels of
 *   letters, digits and inner hyphens). A core name outside that is refused with an
 *   `InvalidSpecError` on `name` before any request; hvkit never rewrites a name, since a mangled
 *   name would not match later lookups by name.
 * - **Tags.** Proxmox tags are `;`-separated words of `[a-z0-9_][a-z0-9_+.-]*`. A core tag
 *   `key=value` is written `key+value` (just `key` for an empty value); `+` separates key and
 *   value, and every character outside `a-z 0-9 - .` (upper case, `_`, `:`, `/`, `+`, spaces,
 *   non-ASCII) is written `_` + two lower-case hex digits per UTF-8 byte. So tags hvkit writes read
 *   back exactly, whatever Proxmox's case-insensitive tag handling does. Tags written by others
 *   read as `{ tag: '' }` (or `key+value` split at the first `+`); an `_` not followed by two hex
 *   digits is kept as it is.
 * - **CPU hot-add.** Proxmox hot-plugs vCPUs through `vcpus`, up to `sockets × cores` fixed at boot.
 *   With `cpu.hotAdd` the topology is sized for `providerOptions.proxmox.maxCpuCount` (default:
 *   twice the count, capped by the node's CPUs when known) and `vcpus` holds the count.
 * - **Memory hot-add.** Needs `numa=1` (set here), at least 1024 MiB and a size on Proxmox's DIMM
 *   steps (1024 MiB static, then 512 MiB DIMMs, doubling every 32); other sizes are refused.
 * - **Suspend.** `status/suspend` pauses QEMU (`qmpstatus: paused`), which hvkit reports as
 *   `suspended`, as it does a guest-initiated `suspended` and a VM hibernated to disk (stopped
 *   with `lock: suspended`).
 */
import {
  type Disk,
  type DiskBus,
  type DiskFormat,
  type GuestInfo,
  InvalidSpecError,
  type Nic,
  type NicModel,
  type PowerState,
  type SnapshotTree,
  type SpecIssue,
  UnsupportedCapabilityError,
  type Vm,
  type VmChange,
  type VmPolicies,
  type VmSpec,
  type Warning,
} from '@hvkit/core';
import { z } from 'zod';
import {
  checkConfigValue,
  checkPropertyValue,
  checkStorageId,
  DEFAULT_HOTPLUG,
  DRIVE_BUSES,
  type DriveBus,
  type DriveConfig,
  formatAgent,
  formatCiCustom,
  formatDrive,
  formatEfiDisk,
  formatHotplug,
  formatIpConfig,
  formatMemory,
  formatNet,
  type HotplugFeature,
  type IpConfig,
  isDriveKey,
  type NetConfig,
  PropertyStringError,
  parseAgent,
  parseDrive,
  parseDriveFile,
  parseHotplug,
  parseMemory,
  parseNet,
} from './property-string.js';

/** PVE versions whose wire rules this mapping follows. */
export type ProxmoxVersion = '8.4' | '9.1';

/** A Proxmox config as `GET …/config` returns it (Perl-loose types: numbers may be strings). */
export type ProxmoxConfig = Record<string, string | number | undefined>;

/** Form parameters for a Proxmox write: strings and numbers, booleans as `0`/`1`. */
export type ProxmoxParams = Record<string, string | number>;

/** `GET …/status/current`, the fields this mapping reads. */
export interface ProxmoxStatus {
  status: string;
  qmpstatus?: string | undefined;
  template?: number | string | undefined;
  lock?: string | undefined;
  [key: string]: unknown;
}

// ---- provider options -------------------------------------------------------------------------

const StorageIdSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9\-_.]*$/, 'must be a Proxmox storage id');

/** `providerOptions.proxmox` of a VmSpec. */
export const ProxmoxVmOptionsSchema = z
  .object({
    /** cloud-init user (`ciuser`). */
    ciUser: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Linux user name')
      .optional(),
    /** OpenSSH public keys for `sshkeys`, one per entry. */
    sshKeys: z
      .array(
        z
          .string()
          .regex(/^(ssh|ecdsa|sk)-[^\s]+ [A-Za-z0-9+/=]+( [^\r\n]*)?$/, 'must be an OpenSSH key'),
      )
      .max(32)
      .optional(),
    /** Protect every NIC with the Proxmox firewall (`firewall=1`). Default: off. */
    firewall: z.boolean().optional(),
    /** Storage of the cloud-init drive. Default: the disk storage. */
    cloudInitStorage: StorageIdSchema.optional(),
    /** vCPU maximum for CPU hot-add (`sockets × cores`). */
    maxCpuCount: z.int().min(1).max(768).optional(),
  })
  .strict();
/** See {@link ProxmoxVmOptionsSchema}. */
export type ProxmoxVmOptions = z.infer<typeof ProxmoxVmOptionsSchema>;

// ---- names and tags ---------------------------------------------------------------------------

const DNS_NAME =
  /^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

/** True for a name Proxmox accepts as a VM name (pve-common `dns-name`). */
export function isProxmoxVmName(name: string): boolean {
  return DNS_NAME.test(name);
}

function nameIssue(name: string, path = 'name'): SpecIssue | undefined {
  if (isProxmoxVmName(name)) return undefined;
  return {
    path,
    code: 'proxmox-dns-name',
    message: `Proxmox VM names must be DNS names (letters, digits and inner hyphens, labels separated by dots): ${JSON.stringify(name)} is not`,
  };
}

const TAG_PLAIN = /[a-z0-9.-]/;

function encodeTagPart(text: string, first: boolean): string {
  let output = '';
  const bytes = new TextEncoder().encode(text);
  let index = 0;
  for (const char of text) {
    const size = new TextEncoder().encode(char).length;
    const plain = TAG_PLAIN.test(char) && !(first && index === 0 && /[.-]/.test(char));
    if (plain) output += char;
    else
      for (const byte of bytes.subarray(index, index + size))
        output += `_${byte.toString(16).padStart(2, '0')}`;
    index += size;
  }
  return output;
}

function decodeTagPart(text: string): string {
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    const hex = text.slice(index + 1, index + 3);
    if (text[index] === '_' && /^[0-9a-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      index += 2;
    } else {
      bytes.push(...new TextEncoder().encode(text[index] ?? ''));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** One core tag as a Proxmox tag (see the module comment). */
export function encodeTag(key: string, value: string): string {
  const head = encodeTagPart(key, true);
  return value === '' ? head : `${head}+${encodeTagPart(value, false)}`;
}

/** Core tags as the Proxmox `tags` value: sorted, `;`-separated. */
export function formatTags(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([key, value]) => encodeTag(key, value))
    .sort()
    .join(';');
}

/** Proxmox `tags` (`;`, `,` or space separated) as core tags. */
export function parseTags(text: string | number | undefined): Record<string, string> {
  if (text === undefined) return {};
  const entries: [string, string][] = [];
  for (const tag of String(text).split(/[;, ]+/)) {
    if (tag === '') continue;
    const plus = tag.indexOf('+');
    const key = decodeTagPart(plus < 0 ? tag : tag.slice(0, plus));
    entries.push([key, plus < 0 ? '' : decodeTagPart(tag.slice(plus + 1))]);
  }
  // Own properties whatever the key: `tags[key] = …` with a tag named `__proto__` would set the
  // object's prototype instead (fast-check found it).
  return Object.fromEntries(entries);
}

// ---- small helpers ----------------------------------------------------------------------------

function integer(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}

/** `encodeURIComponent` plus the characters it leaves alone that RFC 3986 reserves. */
function urlEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `sshkeys` as Proxmox stores it: the keys, one per line, URL-encoded (`%20`, never `+`). */
export function encodeSshKeys(keys: readonly string[]): string {
  return urlEncode(`${keys.join('\n')}\n`);
}

/** The keys of an `sshkeys` value. */
export function decodeSshKeys(value: string): string[] {
  return decodeURIComponent(value)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

const OSTYPE: Record<NonNullable<VmSpec['guestOs']>, string> = {
  linux: 'l26',
  windows: 'win11',
  other: 'other',
};

function guestOsOf(ostype: string | number | undefined): string | undefined {
  if (ostype === undefined) return undefined;
  const text = String(ostype);
  if (/^l2[46]$/.test(text)) return 'linux';
  if (/^(w|win)/.test(text)) return 'windows';
  return 'other';
}

/**
 * True when `mebibytes` is a size Proxmox memory hot-plug can reach: 1024 MiB static, then DIMMs of
 * 512 MiB (32 of them), 1024 MiB (32), and so on, doubling (qemu-server Memory.pm foreach_dimm).
 */
export function isHotplugMemorySize(mebibytes: number): boolean {
  let size = 1024;
  let dimm = 512;
  if (mebibytes === size) return true;
  for (let round = 0; round < 8; round++) {
    for (let slot = 0; slot < 32; slot++) {
      size += dimm;
      if (size === mebibytes) return true;
      if (size > mebibytes) return false;
    }
    dimm *= 2;
  }
  return false;
}

function memoryHotplugIssue(sizeMiB: number, path: string): SpecIssue | undefined {
  if (sizeMiB < 1024)
    return {
      path,
      code: 'proxmox-memory-hotplug',
      message: `Proxmox memory hot-plug needs at least 1024 MiB (got ${sizeMiB})`,
    };
  if (!isHotplugMemorySize(sizeMiB))
    return {
      path,
      code: 'proxmox-memory-hotplug',
      message: `Proxmox memory hot-plug adds DIMMs of 512 MiB after 1024 MiB (doubling every 32): ${sizeMiB} MiB is not reachable`,
    };
  return undefined;
}

const CORE_BUS_TO_PROXMOX: Partial<Record<DiskBus, DriveBus>> = {
  scsi: 'scsi',
  virtio: 'virtio',
  sata: 'sata',
  ide: 'ide',
};

const CORE_NIC_MODELS: readonly NicModel[] = ['virtio', 'e1000', 'e1000e', 'vmxnet3', 'rtl8139'];

function toCoreFormat(drive: DriveConfig): DiskFormat | undefined {
  const format =
    drive.format ??
    (/\.(qcow2|vmdk|raw)$/.exec(drive.file)?.[1] as DriveConfig['format'] | undefined);
  if (format === 'qcow2' || format === 'vmdk' || format === 'raw') return format;
  // Block storages (LVM, ZFS, Ceph) hold raw volumes without an extension.
  if (
    format === undefined &&
    /^[^/:\s]+:(?:base|vm)-\d+-disk-\d+(?:\/vm-\d+-disk-\d+)?$/.test(drive.file)
  )
    return 'raw';
  return undefined;
}

/** Splits a disk size in GiB into the whole GiB Proxmox allocates and the exact MiB to grow to. */
export function planDiskSize(sizeGiB: number): {
  allocateGiB: number;
  resizeToMiB?: number | undefined;
  roundedUp: boolean;
} {
  const mebibytes = Math.round(sizeGiB * 1024);
  if (mebibytes % 1024 === 0) return { allocateGiB: mebibytes / 1024, roundedUp: false };
  if (mebibytes < 1024) return { allocateGiB: 1, roundedUp: true };
  return { allocateGiB: Math.floor(mebibytes / 1024), resizeToMiB: mebibytes, roundedUp: false };
}

// ---- spec → create parameters -----------------------------------------------------------------

/** What {@link specToCreateParams} needs besides the spec. */
export interface CreateContext {
  vmid: number;
  node: string;
  /** Storage for disks that name none (after `placement.storage`). */
  storageDefault: string;
  version: ProxmoxVersion;
  /**
   * A storage with `snippets` content the caller can write files to (Proxmox's API cannot upload
   * snippets). Without it, `cloudInit.userData`/`metaData`/`networkConfig` are refused.
   */
  snippetsStorage?: string | undefined;
  /**
   * Volume to import the boot disk from: the downloaded file for `image` of kind `url`, the
   * template's disk for kind `template` (when not cloning); defaults to `imageId` for kind `image`.
   */
  imageVolume?: string | undefined;
  /** CPUs of the target node: the cap of the hot-add maximum. */
  nodeCpuCount?: number | undefined;
}

/** A snippet file the caller writes before the VM first boots. */
export interface SnippetFile {
  storage: string;
  /** Path below the storage's `snippets/` directory. */
  fileName: string;
  content: string;
}

/** A disk to grow right after creation (`PUT …/resize`). */
export interface DiskResize {
  disk: string;
  /** Absolute size, e.g. `1536M`. */
  size: string;
}

/** What {@link specToCreateParams} returns. */
export interface CreatePlan {
  /** Form parameters of `POST /nodes/{node}/qemu`. */
  params: ProxmoxParams;
  /** Config key of each spec disk, in spec order (`scsi0`, `scsi1`…). */
  diskKeys: string[];
  /** Config key of each spec NIC (`net0`…). */
  nicKeys: string[];
  resizes: DiskResize[];
  snippets: SnippetFile[];
  /** `spec.powerState === 'on'`: start the VM once created and resized. */
  start: boolean;
  warnings: Warning[];
}

function invalid(issues: SpecIssue[]): never {
  throw new InvalidSpecError(issues, { subject: 'spec', provider: undefined });
}

/** Turns a PropertyStringError into an issue at `path`. */
function guard<T>(issues: SpecIssue[], path: string, build: () => T): T | undefined {
  try {
    return build();
  } catch (error) {
    if (error instanceof PropertyStringError) {
      issues.push({ path, code: 'proxmox-value', message: error.message });
      return undefined;
    }
    throw error;
  }
}

function parseOptions(spec: {
  providerOptions?: Record<string, Record<string, unknown>> | undefined;
}): ProxmoxVmOptions {
  const raw = spec.providerOptions?.proxmox;
  if (raw === undefined) return {};
  const parsed = ProxmoxVmOptionsSchema.safeParse(raw);
  if (!parsed.success)
    throw InvalidSpecError.fromZod(parsed.error, {
      subject: 'spec',
      pathPrefix: ['providerOptions', 'proxmox'],
    });
  return parsed.data;
}

function diskFormat(
  format: DiskFormat | undefined,
  path: string,
  issues: SpecIssue[],
): DriveConfig['format'] {
  if (format === 'vhdx') {
    issues.push({
      path,
      code: 'proxmox-format',
      message: 'Proxmox does not store vhdx disks: use raw, qcow2 or vmdk',
    });
    return undefined;
  }
  return format;
}

function nicConfig(
  nic: NonNullable<VmSpec['nics']>[number],
  options: ProxmoxVmOptions,
  path: string,
  issues: SpecIssue[],
): NetConfig | undefined {
  if (nic.connection === 'distributed') {
    issues.push({
      path: `${path}.connection`,
      code: 'proxmox-network',
      message: 'Proxmox has no distributed switches: attach the NIC to a bridge or SDN VNet',
    });
    return undefined;
  }
  const net: NetConfig = {
    model: nic.model ?? 'virtio',
    macaddr: nic.mac?.toUpperCase(),
    bridge: nic.network,
    tag: nic.vlan,
    firewall: options.firewall,
  };
  if (guard(issues, `${path}.network`, () => formatNet(net)) === undefined) return undefined;
  return net;
}

function ipConfigOf(
  nic: NonNullable<VmSpec['nics']>[number],
  path: string,
  issues: SpecIssue[],
): string | undefined {
  const config: IpConfig = {};
  if (nic.ipv4 === 'dhcp') config.ip = 'dhcp';
  else if (typeof nic.ipv4 === 'object') {
    config.ip = nic.ipv4.address;
    config.gw = nic.ipv4.gateway;
  }
  if (nic.ipv6 === 'dhcp') config.ip6 = 'dhcp';
  else if (nic.ipv6 === 'slaac') config.ip6 = 'auto';
  else if (typeof nic.ipv6 === 'object') {
    config.ip6 = nic.ipv6.address;
    config.gw6 = nic.ipv6.gateway;
  }
  if (Object.keys(config).length === 0) return undefined;
  return guard(issues, path, () => formatIpConfig(config));
}

/** The Proxmox bus for a core bus (default scsi); records an issue at `<path>.bus` when there is none. */
function proxmoxBus(
  coreBus: DiskBus | undefined,
  path: string,
  issues: SpecIssue[],
): DriveBus | undefined {
  const bus = CORE_BUS_TO_PROXMOX[coreBus ?? 'scsi'];
  if (bus === undefined) {
    issues.push({
      path: `${path}.bus`,
      code: 'proxmox-bus',
      message: `Proxmox has no ${coreBus} disk bus: use scsi, virtio, sata or ide`,
    });
  }
  return bus;
}

/**
 * The parameters of `POST /nodes/{node}/qemu` for a validated spec, plus what the caller does
 * around that call (resizes, snippet files, start).
 *
 * Throws `InvalidSpecError` (before any request) for what Proxmox would refuse: a non-DNS name,
 * a vhdx disk, an NVMe bus, more disks on a bus than it has slots, a memory hot-add size Proxmox
 * cannot reach, values that cannot be written into a property string. Throws
 * `UnsupportedCapabilityError` (`guest.cloudInit`, `guest.customization`) for cloud-init documents
 * without a writable snippets storage and for a hostname other than the VM name. CPU reservations
 * and limits, disk labels and time zones come back as warnings. Throws `TypeError` for an image of
 * kind `url`, `template` or `content-library` without `context.imageVolume` (a caller bug).
 */
export function specToCreateParams(spec: VmSpec, context: CreateContext): CreatePlan {
  const issues: SpecIssue[] = [];
  const warnings: Warning[] = [];
  const options = parseOptions(spec);
  const params: ProxmoxParams = { vmid: context.vmid };

  const name = nameIssue(spec.name);
  if (name) issues.push(name);
  else params.name = spec.name;
  if (spec.description !== undefined) params.description = spec.description;
  params.ostype = OSTYPE[spec.guestOs ?? 'linux'];
  params.agent = formatAgent({ enabled: true });

  // CPU
  const coresPerSocket = spec.cpu.coresPerSocket ?? 1;
  params.cores = coresPerSocket;
  if (spec.cpu.hotAdd) {
    const cap = context.nodeCpuCount ?? Number.POSITIVE_INFINITY;
    let maximum =
      options.maxCpuCount ?? Math.max(spec.cpu.count, Math.min(spec.cpu.count * 2, cap));
    if (maximum < spec.cpu.count) {
      issues.push({
        path: 'providerOptions.proxmox.maxCpuCount',
        code: 'proxmox-cpu',
        message: `must be at least cpu.count (${spec.cpu.count})`,
      });
      maximum = spec.cpu.count;
    }
    const sockets = Math.max(1, Math.floor(maximum / coresPerSocket));
    params.sockets = sockets;
    if (sockets * coresPerSocket !== spec.cpu.count) params.vcpus = spec.cpu.count;
  } else {
    params.sockets = spec.cpu.count / coresPerSocket;
  }
  if (spec.cpu.reservationMHz !== undefined)
    warnings.push({
      type: 'unsupported',
      feature: 'cpu.reservationMHz',
      details: 'Proxmox has no CPU reservation in MHz (cpuunits is a relative weight); ignored',
    });
  if (spec.cpu.limitMHz !== undefined)
    warnings.push({
      type: 'unsupported',
      feature: 'cpu.limitMHz',
      details: 'Proxmox limits CPU in host cores (cpulimit), not MHz; ignored',
    });

  // Memory
  params.memory = formatMemory(spec.memory.sizeMiB, context.version);
  // `balloon` is the floor auto-ballooning never goes below; 0 would remove the balloon device.
  if (spec.memory.reservationMiB !== undefined && spec.memory.reservationMiB > 0)
    params.balloon = spec.memory.reservationMiB;
  else if (spec.memory.reservationMiB === 0)
    warnings.push({
      type: 'unsupported',
      feature: 'memory.reservationMiB',
      details:
        'Proxmox balloon=0 disables the balloon device; a zero reservation is left at the default',
    });
  if (spec.memory.limitMiB !== undefined && spec.memory.limitMiB !== spec.memory.sizeMiB)
    warnings.push({
      type: 'unsupported',
      feature: 'memory.limitMiB',
      details: 'Proxmox caps a VM at its memory size; a separate limit is ignored',
    });
  if (spec.memory.hotAdd) {
    const issue = memoryHotplugIssue(spec.memory.sizeMiB, 'memory.sizeMiB');
    if (issue) issues.push(issue);
    params.numa = 1;
  }
  if (spec.cpu.hotAdd || spec.memory.hotAdd) {
    const features = new Set<HotplugFeature>(DEFAULT_HOTPLUG);
    if (spec.cpu.hotAdd) features.add('cpu');
    if (spec.memory.hotAdd) features.add('memory');
    params.hotplug = formatHotplug(features);
  }

  // Firmware
  const defaultStorage = spec.placement?.storage ?? context.storageDefault;
  if (spec.firmware === 'efi') {
    params.bios = 'ovmf';
    params.machine = 'q35';
    const efi = guard(issues, 'placement.storage', () =>
      formatEfiDisk({
        file: `${checkStorageId('storage', defaultStorage)}:1`,
        efitype: '4m',
        'pre-enrolled-keys': spec.secureBoot === true,
      }),
    );
    if (efi !== undefined) params.efidisk0 = efi;
  }

  // Cloud-init: decide first whether ide2 is taken.
  const nics = spec.nics ?? [];
  const ipconfigs = nics.map((nic, index) => ipConfigOf(nic, `nics[${index}]`, issues));
  const nameservers = [...new Set(nics.flatMap((nic) => nic.dns?.servers ?? []))];
  const searchDomains = [
    ...new Set([
      ...nics.flatMap((nic) => nic.dns?.search ?? []),
      ...(spec.customization?.domain ? [spec.customization.domain] : []),
    ]),
  ];
  const documents = spec.cloudInit ?? {};
  const wantsDocuments =
    documents.userData !== undefined ||
    documents.metaData !== undefined ||
    documents.networkConfig !== undefined;
  const cloudInit =
    wantsDocuments ||
    ipconfigs.some((item) => item !== undefined) ||
    nameservers.length > 0 ||
    searchDomains.length > 0 ||
    options.ciUser !== undefined ||
    options.sshKeys !== undefined ||
    spec.customization !== undefined;

  // Image: the caller resolves a template (clone) or a URL (download-url) before this call.
  let imageVolume = context.imageVolume;
  if (spec.image?.kind === 'image') imageVolume ??= spec.image.imageId;
  else if (spec.image !== undefined && imageVolume === undefined)
    throw new TypeError(
      `specToCreateParams: an image of kind ${spec.image.kind} needs context.imageVolume (download or clone first)`,
    );

  // Disks
  const disks = spec.disks ?? [];
  const nextIndex: Record<DriveBus, number> = { scsi: 0, virtio: 0, sata: 0, ide: 0 };
  const diskKeys: string[] = [];
  const resizes: DiskResize[] = [];
  disks.forEach((disk, index) => {
    const path = `disks[${index}]`;
    const bus = proxmoxBus(disk.bus, path, issues);
    if (bus === undefined) return;
    let slot = nextIndex[bus];
    if (bus === 'ide' && cloudInit && slot === 2) slot = 3;
    if (slot > DRIVE_BUSES[bus]) {
      issues.push({
        path: `${path}.bus`,
        code: 'proxmox-bus',
        message: `Proxmox has ${DRIVE_BUSES[bus] + 1} ${bus} slots${bus === 'ide' && cloudInit ? ' (ide2 holds the cloud-init drive)' : ''}; this disk does not fit`,
      });
      return;
    }
    nextIndex[bus] = slot + 1;
    const key = `${bus}${slot}`;
    diskKeys.push(key);
    const storage = disk.storage ?? defaultStorage;
    const format = diskFormat(disk.format, `${path}.format`, issues);
    const source = disk.sourceImageId ?? (index === 0 ? imageVolume : undefined);
    const plan = planDiskSize(disk.sizeGiB);
    const drive: DriveConfig = {
      file: source === undefined ? `${storage}:${plan.allocateGiB}` : `${storage}:0`,
      'import-from': source,
      format,
      discard: 'on',
      iothread: bus === 'scsi' || bus === 'virtio' ? true : undefined,
    };
    const text = guard(issues, `${path}.storage`, () => {
      checkStorageId('storage', storage);
      return formatDrive(drive);
    });
    if (text !== undefined) params[key] = text;
    if (source !== undefined) {
      // Imported disks take the image's size; grow to the size asked for (never shrinks).
      resizes.push({ disk: key, size: `${Math.round(disk.sizeGiB * 1024)}M` });
    } else if (plan.resizeToMiB !== undefined) {
      resizes.push({ disk: key, size: `${plan.resizeToMiB}M` });
    } else if (plan.roundedUp) {
      warnings.push({
        type: 'other',
        feature: `${path}.sizeGiB`,
        details: `Proxmox allocates whole GiB: ${disk.sizeGiB} GiB becomes 1 GiB`,
      });
    }
    if (disk.name !== undefined)
      warnings.push({
        type: 'unsupported',
        feature: `${path}.name`,
        details: `Proxmox disks have no label; the disk is ${key}`,
      });
  });
  if (disks.length === 0 && imageVolume !== undefined) {
    params.scsi0 = formatDrive({
      file: `${defaultStorage}:0`,
      'import-from': imageVolume,
      discard: 'on',
      iothread: true,
    });
    diskKeys.push('scsi0');
  }
  if (diskKeys.some((key) => key.startsWith('scsi'))) params.scsihw = 'virtio-scsi-single';
  if (diskKeys[0] !== undefined) params.boot = `order=${diskKeys[0]}`;

  // NICs
  const nicKeys: string[] = [];
  nics.forEach((nic, index) => {
    const net = nicConfig(nic, options, `nics[${index}]`, issues);
    const key = `net${index}`;
    nicKeys.push(key);
    if (net) params[key] = formatNet(net);
    const ipconfig = ipconfigs[index];
    if (ipconfig !== undefined && ipconfig !== '') params[`ipconfig${index}`] = ipconfig;
  });

  // Cloud-init
  const snippets: SnippetFile[] = [];
  let unsupported: UnsupportedCapabilityError | undefined;
  if (cloudInit) {
    const storage = options.cloudInitStorage ?? defaultStorage;
    params.ide2 = `${storage}:cloudinit`;
    if (options.ciUser !== undefined) params.ciuser = options.ciUser;
    if (options.sshKeys !== undefined && options.sshKeys.length > 0)
      params.sshkeys = encodeSshKeys(options.sshKeys);
    if (nameservers.length > 0) params.nameserver = nameservers.join(' ');
    if (searchDomains.length > 0) params.searchdomain = searchDomains.join(' ');
    if (wantsDocuments) {
      if (context.snippetsStorage === undefined)
        unsupported ??= new UnsupportedCapabilityError(
          'guest.cloudInit',
          'cloud-init documents on Proxmox need a snippets storage hvkit can write to (the API cannot upload snippets); give one, or use providerOptions.proxmox ciUser/sshKeys and NIC addressing',
          { details: { reason: 'no-snippets-storage' } },
        );
      const snippetsStorage = context.snippetsStorage ?? '';
      const file = (kind: string, content: unknown): string => {
        const fileName = `hvkit-${context.vmid}-${kind}.yaml`;
        snippets.push({
          storage: snippetsStorage,
          fileName,
          content: typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`,
        });
        return `${snippetsStorage}:snippets/${fileName}`;
      };
      const cicustom = guard(issues, 'cloudInit', () => {
        if (unsupported) return undefined;
        const cicustomValue = formatCiCustom({
          user: documents.userData === undefined ? undefined : file('user', documents.userData),
          meta: documents.metaData === undefined ? undefined : file('meta', documents.metaData),
          network:
            documents.networkConfig === undefined
              ? undefined
              : file('network', documents.networkConfig),
        });
        return cicustomValue;
      });
      if (cicustom !== undefined) params.cicustom = cicustom;
    }
  }
  if (spec.customization?.hostname !== undefined && spec.customization.hostname !== spec.name)
    unsupported ??= new UnsupportedCapabilityError(
      'guest.customization',
      `Proxmox cloud-init takes the hostname from the VM name; customization.hostname ${JSON.stringify(spec.customization.hostname)} differs from name ${JSON.stringify(spec.name)}`,
      { details: { reason: 'hostname-is-vm-name' } },
    );
  if (spec.customization?.timeZone !== undefined)
    warnings.push({
      type: 'unsupported',
      feature: 'customization.timeZone',
      details: 'Proxmox cloud-init has no time zone setting; set it in user-data',
    });

  // Tags, pool
  if (spec.tags !== undefined && Object.keys(spec.tags).length > 0)
    params.tags = formatTags(spec.tags);
  if (spec.placement?.resourcePool !== undefined) params.pool = spec.placement.resourcePool;

  // Every top-level string goes through the one gate.
  for (const [key, value] of Object.entries(params)) {
    if (typeof value !== 'string' || key === 'description') continue;
    guard(issues, key, () => checkConfigValue(key, value));
  }
  if (issues.length > 0) invalid(issues);
  if (unsupported) throw unsupported;
  return {
    params,
    diskKeys,
    nicKeys,
    resizes,
    snippets,
    start: spec.powerState === 'on',
    warnings,
  };
}

// ---- config + status → Vm ---------------------------------------------------------------------

/** What {@link configToVm} needs besides the config and status. */
export interface VmContext {
  /** Name of the provider instance. */
  provider: string;
  node: string;
  vmid: number;
  snapshots?: SnapshotTree | undefined;
  guest?: GuestInfo | undefined;
  policies?: VmPolicies | undefined;
  /** Pool the VM belongs to (from `/cluster/resources`). */
  pool?: string | undefined;
  /** How a bridge name is reported: SDN VNets as `network`, Linux bridges as `bridge` (default). */
  connectionOf?: ((bridge: string) => 'network' | 'bridge') | undefined;
}

const BUS_ORDER: readonly DriveBus[] = ['scsi', 'virtio', 'sata', 'ide'];

/** Disk slots: those in `boot: order=…` first, in boot order, then by bus and slot. */
function driveKeys(config: ProxmoxConfig): string[] {
  const boot = /(?:^|,)order=([^,]+)/.exec(String(config.boot ?? ''))?.[1]?.split(';') ?? [];
  const rank = (key: string) => {
    const index = boot.indexOf(key);
    return index < 0 ? boot.length : index;
  };
  return Object.keys(config)
    .filter(isDriveKey)
    .sort((a, b) => {
      if (rank(a) !== rank(b)) return rank(a) - rank(b);
      const [, busA = '', indexA = '0'] = /^([a-z]+)(\d+)$/.exec(a) ?? [];
      const [, busB = '', indexB = '0'] = /^([a-z]+)(\d+)$/.exec(b) ?? [];
      return (
        BUS_ORDER.indexOf(busA as DriveBus) - BUS_ORDER.indexOf(busB as DriveBus) ||
        Number(indexA) - Number(indexB)
      );
    });
}

/** True for a disk slot holding a data disk (not a CD-ROM, the cloud-init drive or `none`). */
function isDataDisk(drive: DriveConfig): boolean {
  if (drive.media === 'cdrom') return false;
  if (drive.file === 'none' || drive.file === 'cdrom') return false;
  return !/[:/]vm-\d+-cloudinit(\.\w+)?$/.test(drive.file);
}

function parentOf(file: string): string | undefined {
  // Linked clones name their base: `local-lvm:base-9000-disk-0/vm-101-disk-0`,
  // `local:9000/base-9000-disk-0.qcow2/101/vm-101-disk-0.qcow2`.
  const match = /^([^/:\s]+):((?:\d+\/)?base-\d+-disk-\d+(?:\.\w+)?)\//.exec(file);
  return match ? `${match[1]}:${match[2]}` : undefined;
}

/** The core power state of a VM. See the module comment for `suspended`. */
export function powerStateOf(status: ProxmoxStatus, config: ProxmoxConfig = {}): PowerState {
  if (status.status === 'stopped') return config.lock === 'suspended' ? 'suspended' : 'off';
  if (status.status !== 'running') return 'unknown';
  switch (status.qmpstatus ?? 'running') {
    case 'running':
      return 'on';
    case 'paused':
    case 'suspended':
      return 'suspended';
    case 'prelaunch':
    case 'inmigrate':
    case 'postmigrate':
    case 'finish-migrate':
      return 'paused';
    default:
      return 'unknown';
  }
}

/** The disks of a config: boot disks first (in boot order), then by bus and slot. */
export function disksOfConfig(config: ProxmoxConfig): Disk[] {
  const disks: Disk[] = [];
  for (const key of driveKeys(config)) {
    const drive = parseDrive(String(config[key]));
    if (!isDataDisk(drive)) continue;
    const source = parseDriveFile(drive.file);
    const disk: Disk = {
      id: key,
      sizeBytes: drive.sizeBytes ?? 0,
      bus: /^[a-z]+/.exec(key)?.[0] as DiskBus,
    };
    if (source.kind === 'volume' && source.storage !== undefined) disk.storage = source.storage;
    const format = toCoreFormat(drive);
    if (format !== undefined) disk.format = format;
    const parent = parentOf(drive.file);
    if (parent !== undefined) disk.parentId = parent;
    disks.push(disk);
  }
  return disks;
}

/** The NICs of a config, `net0` first; addresses from the guest agent matched by MAC. */
export function nicsOfConfig(
  config: ProxmoxConfig,
  guest?: GuestInfo,
  connectionOf: (bridge: string) => 'network' | 'bridge' = () => 'bridge',
): Nic[] {
  return Object.keys(config)
    .filter((key) => /^net\d+$/.test(key))
    .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)))
    .map((key) => {
      const net = parseNet(String(config[key]));
      const mac = (net.macaddr ?? '').toLowerCase();
      const addresses =
        guest?.interfaces?.find((item) => item.mac.toLowerCase() === mac)?.ipAddresses ?? [];
      const nic: Nic = {
        id: key,
        network: net.bridge ?? '',
        connection: net.bridge === undefined ? 'network' : connectionOf(net.bridge),
        mac,
        ipAddresses: addresses,
      };
      if ((CORE_NIC_MODELS as readonly string[]).includes(net.model))
        nic.model = net.model as NicModel;
      if (net.tag !== undefined) nic.vlan = net.tag;
      return nic;
    });
}

/** CPU, memory and hot-add settings of a config. */
export function resourcesOfConfig(config: ProxmoxConfig): Pick<Vm, 'cpu' | 'memory'> {
  const hotplug = parseHotplug(config.hotplug);
  const cores = integer(config.cores) ?? 1;
  const sockets = integer(config.sockets) ?? 1;
  const memory = parseMemory(config.memory) ?? 512;
  const balloon = integer(config.balloon);
  return {
    cpu: {
      count: integer(config.vcpus) ?? cores * sockets,
      coresPerSocket: cores,
      hotAdd: hotplug.has('cpu'),
    },
    memory: {
      sizeMiB: memory,
      hotAdd: hotplug.has('memory'),
      ...(balloon !== undefined && balloon > 0 ? { reservationMiB: balloon } : {}),
    },
  };
}

function createdAtOf(config: ProxmoxConfig): string | undefined {
  const meta = config.meta;
  if (meta === undefined) return undefined;
  const ctime = /(?:^|,)ctime=(\d+)/.exec(String(meta))?.[1];
  return ctime === undefined ? undefined : new Date(Number(ctime) * 1000).toISOString();
}

/**
 * The core `Vm` of a Proxmox VM: ref id `node/vmid`, power state from status and config, disks
 * with ids `scsi0`… and byte sizes, NICs with MAC (lower case), bridge and VLAN, tags decoded,
 * `raw` = the config as given. Snapshots, guest info and policies come from the caller (other
 * endpoints); without them the VM has no snapshots, an `unknown` guest and no policies.
 */
export function configToVm(config: ProxmoxConfig, status: ProxmoxStatus, context: VmContext): Vm {
  const template = String(config.template ?? status.template ?? '0') === '1';
  const firmware = config.bios === 'ovmf' ? 'efi' : 'bios';
  const disks = disksOfConfig(config);
  const vm: Vm = {
    ref: { provider: context.provider, id: `${context.node}/${context.vmid}` },
    name: config.name === undefined ? `VM ${context.vmid}` : String(config.name),
    powerState: powerStateOf(status, config),
    template,
    ...resourcesOfConfig(config),
    disks,
    nics: nicsOfConfig(config, context.guest, context.connectionOf),
    firmware,
    guest: context.guest ?? {
      toolsState: parseAgent(config.agent).enabled ? 'unknown' : 'not-installed',
      ipAddresses: [],
    },
    snapshots: context.snapshots ?? { currentId: null, roots: [] },
    placement: {
      host: context.node,
      ...(context.pool === undefined ? {} : { resourcePool: context.pool }),
      ...(disks[0]?.storage === undefined ? {} : { storage: disks[0].storage }),
    },
    policies: context.policies ?? {},
    tags: parseTags(config.tags),
    raw: config,
  };
  if (config.description !== undefined) vm.description = String(config.description);
  const guestOs = guestOsOf(config.ostype);
  if (guestOs !== undefined) vm.guestOs = guestOs;
  const createdAt = createdAtOf(config);
  if (createdAt !== undefined) vm.createdAt = createdAt;
  return vm;
}

// ---- change → config --------------------------------------------------------------------------

/** What {@link changeToConfig} needs besides the change and the config. */
export interface ChangeContext {
  version: ProxmoxVersion;
  /** Storage for added disks that name none. */
  storageDefault: string;
  /** The VM runs now: hotplug rules decide what applies live. */
  running: boolean;
}

/** What {@link changeToConfig} returns. */
export interface ConfigChangePlan {
  /** Parameters of `POST …/config` (send the config's `digest` with them). */
  params: ProxmoxParams;
  /** Keys for the `delete` parameter. */
  delete: string[];
  /**
   * Send `force=1` with `delete`: removed disks are destroyed instead of kept as `unusedN`
   * (true when `removeDisks` is given).
   */
  force: boolean;
  /** Disks to grow (`PUT …/resize`), after the config change. */
  resizes: DiskResize[];
  /** Dotted fields Proxmox applies now (hot-plugged, or any change of a stopped VM). */
  applied: string[];
  /** Dotted fields Proxmox keeps pending until the next start. */
  pendingRestart: string[];
  warnings: Warning[];
}

/**
 * Options Proxmox writes straight into the config even while the VM runs (qemu-server
 * `$fast_plug_option`, which also takes every cloud-init option: the guest reads those at boot).
 */
const FAST_PLUG = new Set([
  'name',
  'description',
  'tags',
  'onboot',
  'protection',
  'startup',
  'shares',
  'hookscript',
  'vmstatestorage',
  'migrate_downtime',
  'migrate_speed',
  'lock',
  'cicustom',
  'cipassword',
  'citype',
  'ciuser',
  'ciupgrade',
  'nameserver',
  'searchdomain',
  'sshkeys',
]);

/**
 * Whether Proxmox applies a change of `key` to a running VM now (true) or keeps it pending
 * (false), per qemu-server src/PVE/QemuServer.pm vmconfig_hotplug_pending: fast-plug options
 * (including cloud-init's `ipconfigN`) always; `netN` with the
 * `network` feature; scsi/virtio disks with `disk` (never ide/sata, efidisk0, tpmstate0);
 * `vcpus` with `cpu`; `memory` with `memory`; `hotplug` unless cpu or memory are toggled; balloon
 * unless it turns the balloon device on or off; cpulimit/cpuunits; everything else pending.
 */
export function isHotpluggable(
  key: string,
  features: ReadonlySet<HotplugFeature>,
  current: ProxmoxConfig = {},
  next?: string | number,
): boolean {
  if (FAST_PLUG.has(key) || /^ipconfig\d+$/.test(key)) return true;
  if (/^net\d+$/.test(key)) return features.has('network');
  if (/^(scsi|virtio)\d+$/.test(key)) return features.has('disk');
  if (/^unused\d+$/.test(key)) return true;
  if (key === 'vcpus') return features.has('cpu');
  if (key === 'memory') return features.has('memory');
  if (key === 'cpulimit' || key === 'cpuunits') return true;
  if (key === 'balloon') {
    const before = current.balloon === undefined || Number(current.balloon) !== 0;
    const after = next === undefined || Number(next) !== 0;
    return before === after;
  }
  if (key === 'hotplug') {
    const after = parseHotplug(next);
    return (
      features.has('cpu') === after.has('cpu') &&
      features.has('memory') === after.has('memory') &&
      !after.has('cpu') &&
      !after.has('memory')
    );
  }
  return false;
}

/**
 * Config parameters for a validated `VmChange` against the VM's current config, with what
 * applies live and what waits for a restart under Proxmox's hotplug rules.
 *
 * Throws `InvalidSpecError` for a non-DNS name, a disk shrink (`resizeDisks[i].sizeGiB`), a memory
 * hot-add size Proxmox cannot reach, disks that do not fit the bus. Unknown disk or NIC ids are
 * issues with code `not-found`: the caller raises `NotFoundError` for them ({@link notFoundIssues}).
 */
export function changeToConfig(
  change: VmChange,
  current: ProxmoxConfig,
  context: ChangeContext,
): ConfigChangePlan {
  const issues: SpecIssue[] = [];
  const warnings: Warning[] = [];
  const params: ProxmoxParams = {};
  const remove: string[] = [];
  const resizes: DiskResize[] = [];
  const applied: string[] = [];
  const pending: string[] = [];
  const features = parseHotplug(current.hotplug);
  const live = (
    field: string,
    keys: string[],
    values: Record<string, string | number | undefined> = {},
  ) => {
    const now =
      !context.running || keys.every((key) => isHotpluggable(key, features, current, values[key]));
    (now ? applied : pending).push(field);
  };

  if (change.name !== undefined) {
    const issue = nameIssue(change.name);
    if (issue) issues.push(issue);
    else params.name = change.name;
    live('name', ['name']);
  }
  if (change.description !== undefined) {
    if (change.description === '') remove.push('description');
    else params.description = change.description;
    live('description', ['description']);
  }
  if (change.tags !== undefined) {
    const tags = formatTags(change.tags);
    if (tags === '') {
      if (current.tags !== undefined) remove.push('tags');
    } else params.tags = tags;
    live('tags', ['tags']);
  }

  // Hotplug features first: CPU and memory changes depend on them.
  const nextFeatures = new Set(features);
  if (change.cpu?.hotAdd !== undefined) {
    if (change.cpu.hotAdd) nextFeatures.add('cpu');
    else nextFeatures.delete('cpu');
  }
  if (change.memory?.hotAdd !== undefined) {
    if (change.memory.hotAdd) nextFeatures.add('memory');
    else nextFeatures.delete('memory');
  }
  const hotplugChanged =
    nextFeatures.size !== features.size || [...nextFeatures].some((item) => !features.has(item));
  if (hotplugChanged) {
    params.hotplug = formatHotplug(nextFeatures);
    if (nextFeatures.has('memory') && Number(current.numa ?? 0) !== 1) params.numa = 1;
  }
  const hotplugLive =
    !context.running || isHotpluggable('hotplug', features, current, params.hotplug);
  if (change.cpu?.hotAdd !== undefined) (hotplugLive ? applied : pending).push('cpu.hotAdd');
  if (change.memory?.hotAdd !== undefined) (hotplugLive ? applied : pending).push('memory.hotAdd');

  // CPU: `vcpus` within the booted topology hot-plugs with the cpu feature; a topology change waits.
  const cores = integer(current.cores) ?? 1;
  const sockets = integer(current.sockets) ?? 1;
  const vcpus = integer(current.vcpus);
  if (change.cpu?.count !== undefined || change.cpu?.coresPerSocket !== undefined) {
    const count = change.cpu.count ?? vcpus ?? cores * sockets;
    const newCores = change.cpu.coresPerSocket ?? cores;
    const fields = [
      ...(change.cpu.count !== undefined ? ['cpu.count'] : []),
      ...(change.cpu.coresPerSocket !== undefined ? ['cpu.coresPerSocket'] : []),
    ];
    if (newCores === cores && count <= cores * sockets && features.has('cpu')) {
      params.vcpus = count;
      for (const field of fields) live(field, ['vcpus']);
    } else {
      const newSockets = Math.ceil(count / newCores);
      if (newCores !== cores) params.cores = newCores;
      if (newSockets !== sockets) params.sockets = newSockets;
      if (newCores * newSockets !== count) params.vcpus = count;
      else if (vcpus !== undefined) remove.push('vcpus');
      for (const field of fields) live(field, ['cores', 'sockets']);
    }
  }
  for (const field of ['reservationMHz', 'limitMHz'] as const) {
    if (change.cpu?.[field] !== undefined)
      warnings.push({
        type: 'unsupported',
        feature: `cpu.${field}`,
        details: 'Proxmox has no CPU reservation or limit in MHz; ignored',
      });
  }

  // Memory
  const memoryHotplug = nextFeatures.has('memory');
  if (change.memory?.sizeMiB !== undefined) {
    if (memoryHotplug) {
      const issue = memoryHotplugIssue(change.memory.sizeMiB, 'memory.sizeMiB');
      if (issue) issues.push(issue);
    }
    params.memory = formatMemory(change.memory.sizeMiB, context.version);
    // Memory hot-plug needs the feature already active on the running VM.
    live('memory.sizeMiB', ['memory']);
  }
  if (change.memory?.reservationMiB !== undefined) {
    params.balloon = change.memory.reservationMiB;
    live('memory.reservationMiB', ['balloon'], { balloon: change.memory.reservationMiB });
  }
  if (change.memory?.limitMiB !== undefined)
    warnings.push({
      type: 'unsupported',
      feature: 'memory.limitMiB',
      details: 'Proxmox caps a VM at its memory size; a separate limit is ignored',
    });

  // Disks
  const existing = new Set(Object.keys(current).filter(isDriveKey));
  if (change.resizeDisks?.length) {
    change.resizeDisks.forEach((resize, index) => {
      const value = current[resize.diskId];
      if (value === undefined || !isDriveKey(resize.diskId)) {
        issues.push({
          path: `resizeDisks[${index}].diskId`,
          code: 'not-found',
          message: `disk ${JSON.stringify(resize.diskId)} not found`,
        });
        return;
      }
      const drive = parseDrive(String(value));
      const bytes = Math.round(resize.sizeGiB * 1024) * 2 ** 20;
      if (drive.sizeBytes !== undefined && bytes < drive.sizeBytes) {
        issues.push({
          path: `resizeDisks[${index}].sizeGiB`,
          code: 'shrink',
          message: `Proxmox cannot shrink disks: ${resize.diskId} is ${drive.sizeBytes / 2 ** 30} GiB`,
        });
        return;
      }
      if (drive.sizeBytes === bytes) return;
      resizes.push({ disk: resize.diskId, size: `${Math.round(resize.sizeGiB * 1024)}M` });
    });
    // Resize works on running VMs (block_resize).
    applied.push('resizeDisks');
  }
  if (change.removeDisks?.length) {
    change.removeDisks.forEach((id, index) => {
      if (!existing.has(id) || !isDataDisk(parseDrive(String(current[id])))) {
        issues.push({
          path: `removeDisks[${index}]`,
          code: 'not-found',
          message: `disk ${JSON.stringify(id)} not found`,
        });
        return;
      }
      remove.push(id);
    });
    live('removeDisks', change.removeDisks);
  }
  if (change.addDisks?.length) {
    const taken = new Set(existing);
    const keys: string[] = [];
    change.addDisks.forEach((disk, index) => {
      const path = `addDisks[${index}]`;
      const bus = proxmoxBus(disk.bus, path, issues);
      if (bus === undefined) return;
      let slot = 0;
      while (slot <= DRIVE_BUSES[bus] && taken.has(`${bus}${slot}`)) slot++;
      if (slot > DRIVE_BUSES[bus]) {
        issues.push({
          path: `${path}.bus`,
          code: 'proxmox-bus',
          message: `every ${bus} slot is taken`,
        });
        return;
      }
      const key = `${bus}${slot}`;
      taken.add(key);
      keys.push(key);
      const storage = disk.storage ?? context.storageDefault;
      const plan = planDiskSize(disk.sizeGiB);
      const format = diskFormat(disk.format, `${path}.format`, issues);
      const source = disk.sourceImageId;
      const text = guard(issues, `${path}.storage`, () => {
        checkStorageId('storage', storage);
        return formatDrive({
          file: source === undefined ? `${storage}:${plan.allocateGiB}` : `${storage}:0`,
          'import-from': source,
          format,
          discard: 'on',
          iothread: bus === 'scsi' || bus === 'virtio' ? true : undefined,
        });
      });
      if (text !== undefined) params[key] = text;
      if (source !== undefined)
        resizes.push({ disk: key, size: `${Math.round(disk.sizeGiB * 1024)}M` });
      else if (plan.resizeToMiB !== undefined)
        resizes.push({ disk: key, size: `${plan.resizeToMiB}M` });
      else if (plan.roundedUp)
        warnings.push({
          type: 'other',
          feature: `${path}.sizeGiB`,
          details: `Proxmox allocates whole GiB: ${disk.sizeGiB} GiB becomes 1 GiB`,
        });
    });
    live('addDisks', keys);
  }

  // NICs
  const nicKeys = new Set(Object.keys(current).filter((key) => /^net\d+$/.test(key)));
  if (change.removeNics?.length) {
    change.removeNics.forEach((id, index) => {
      if (!nicKeys.has(id)) {
        issues.push({
          path: `removeNics[${index}]`,
          code: 'not-found',
          message: `NIC ${JSON.stringify(id)} not found`,
        });
        return;
      }
      nicKeys.delete(id);
      remove.push(id);
      if (current[`ipconfig${id.slice(3)}`] !== undefined) remove.push(`ipconfig${id.slice(3)}`);
    });
    live('removeNics', change.removeNics);
  }
  if (change.addNics?.length) {
    const taken = new Set(Object.keys(current).filter((key) => /^net\d+$/.test(key)));
    const keys: string[] = [];
    change.addNics.forEach((nic, index) => {
      let slot = 0;
      while (taken.has(`net${slot}`)) slot++;
      const key = `net${slot}`;
      taken.add(key);
      keys.push(key);
      const net = nicConfig(nic, {}, `addNics[${index}]`, issues);
      if (net) params[key] = formatNet(net);
      const ipconfig = ipConfigOf(nic, `addNics[${index}]`, issues);
      if (ipconfig !== undefined && ipconfig !== '') params[`ipconfig${slot}`] = ipconfig;
    });
    live('addNics', keys);
  }

  for (const [key, value] of Object.entries(params)) {
    if (typeof value !== 'string' || key === 'description') continue;
    guard(issues, key, () => checkConfigValue(key, value));
  }
  for (const key of remove) guard(issues, 'delete', () => checkPropertyValue('delete', key));
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'change' });
  return {
    params,
    delete: remove,
    force: (change.removeDisks?.length ?? 0) > 0,
    resizes,
    applied,
    pendingRestart: pending,
    warnings,
  };
}

/**
 * The issues of an `InvalidSpecError` from {@link changeToConfig} that name a missing disk or
 * NIC: the caller raises `NotFoundError` (`disk`/`nic`) for these instead.
 */
export function notFoundIssues(error: InvalidSpecError): SpecIssue[] {
  return error.issues.filter((issue) => issue.code === 'not-found');
}
