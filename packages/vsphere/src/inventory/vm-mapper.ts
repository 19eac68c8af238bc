import type {
  Disk,
  DiskBus,
  GuestInfo,
  Nic,
  NicModel,
  PowerState,
  Provisioning,
  Snapshot,
  SnapshotTree,
  ToolsState,
  Vm,
} from '@hvkit/core';
import type { ObjectContent } from '../soap/soap-parser.js';
import { VM_TAGS_PROPERTY } from './vm-properties.js';

/** A network the driver read from the inventory. */
export interface VmNetworkInfo {
  name: string;
  /** `distributed` for a DVS portgroup, `network` for a standard or opaque network. */
  kind: 'network' | 'distributed';
}

/** A host the driver read from the inventory. */
export interface VmHostInfo {
  name: string;
  /** Name of the host's cluster; absent for a standalone host. */
  cluster?: string | undefined;
}

/**
 * What `toVm` needs besides the VM's own properties: names the driver read once from the
 * inventory (see {@link vmMapContextFrom}). Every lookup is optional; a missing entry falls back
 * to what the VM itself says (the `[datastore]` of a file name, a NIC's `deviceName`, the portgroup
 * key, the host's moref value).
 */
export interface VmMapContext {
  /** Name of the provider instance, used as `VmRef.provider`. */
  provider: string;
  /** Datastore moref value → datastore name. */
  datastores?: ReadonlyMap<string, string> | undefined;
  /** Network moref value (Network, DistributedVirtualPortgroup, OpaqueNetwork) → name and kind. */
  networks?: ReadonlyMap<string, VmNetworkInfo> | undefined;
  /** DVS portgroup key (on vCenter, the portgroup's moref value) → portgroup name. */
  portgroups?: ReadonlyMap<string, string> | undefined;
  /** HostSystem moref value → host name and cluster name. */
  hosts?: ReadonlyMap<string, VmHostInfo> | undefined;
}

/** The extraConfig key that holds hvkit's tags: a JSON object of string → string. */
export const TAGS_EXTRA_CONFIG_KEY = 'guestinfo.hvkit.tags';

type Fields = Record<string, unknown>;

function fields(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Fields)
    : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

// The parser types only the scalars it knows (SCALAR_FIELDS, xsi:type'd values); nested fields
// such as `reservation`, `thinProvisioned` or `capacity` arrive as strings.
function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}

function flag(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return undefined;
}

// vim25 arrays of one element may come as a bare value where the parser does not know the field
// is an array (`ipAddress` of a `<net>` inside a whole `guest`).
function list(value: unknown): unknown[] {
  if (value === undefined || value === null || value === '') return [];
  return Array.isArray(value) ? value : [value];
}

function morefValue(value: unknown): string | undefined {
  return text(fields(value)?.value);
}

/** `table[key]` for the table's own keys only (`constructor` is not a power state). */
function own<T>(table: Readonly<Record<string, T>>, key: string | undefined): T | undefined {
  return key !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}

function typeOf(value: Fields | undefined): string | undefined {
  return typeof value?.$type === 'string' ? value.$type : undefined;
}

/**
 * The value at a property path, whether the path itself was retrieved or one of its ancestors
 * (`config.hardware.numCPU` from `config.hardware` or `config`).
 */
function read(properties: Record<string, unknown>, path: string): unknown {
  if (path in properties) return properties[path];
  for (const [prefix, rest] of ancestorsOf(path)) {
    if (!(prefix in properties)) continue;
    let current: unknown = properties[prefix];
    for (const segment of rest) current = fields(current)?.[segment];
    return current;
  }
  return undefined;
}

/** Reads property paths of one VM: {@link read}, or a plain lookup when that is the same. */
type Reader = (path: string) => unknown;

/**
 * Keys that, when retrieved, hold a path `toVm` reads further down (`config` holds
 * `config.hardware.numCPU`). A VM whose properties have none of them (a summary listing) is read
 * with plain lookups instead of walking each absent path's ancestors.
 */
const ANCESTOR_KEYS: ReadonlySet<string> = new Set([
  'config',
  'config.hardware',
  'guest',
  'runtime',
  'summary',
  'summary.config',
]);

function readerOf(properties: Record<string, unknown>): Reader {
  for (const key in properties) {
    if (ANCESTOR_KEYS.has(key)) return (path) => read(properties, path);
  }
  return (path) => properties[path];
}

/** The paths `toVm` reads are a fixed few: their ancestors are split once, not once per VM. */
const ANCESTORS = new Map<string, readonly (readonly [string, readonly string[]])[]>();

/** `a.b.c` → `[['a.b', ['c']], ['a', ['b', 'c']]]`, nearest ancestor first. */
function ancestorsOf(path: string): readonly (readonly [string, readonly string[]])[] {
  let ancestors = ANCESTORS.get(path);
  if (ancestors === undefined) {
    const segments = path.split('.');
    const split: (readonly [string, readonly string[]])[] = [];
    for (let cut = segments.length - 1; cut > 0; cut--) {
      split.push([segments.slice(0, cut).join('.'), segments.slice(cut)]);
    }
    ancestors = split;
    // Bounded: toVm passes literals; a caller passing arbitrary paths would only skip the cache.
    if (ANCESTORS.size < 256) ANCESTORS.set(path, ancestors);
  }
  return ancestors;
}

/**
 * The value of `key` in an extraConfig array (`OptionValue[]`), or undefined when absent. The
 * LAST entry wins: vcsim's extraConfig is append-only (re-setting a key appends a duplicate, and
 * an empty value is appended instead of removing the key), and on vCenter keys are unique anyway.
 * Numbers and booleans come back as their text; other values as undefined.
 */
export function extraConfigValue(options: unknown, key: string): string | undefined {
  let found: string | undefined;
  for (const entry of list(options)) {
    const option = fields(entry);
    if (option?.key !== key) continue;
    const value = option.value;
    if (typeof value === 'string') found = value;
    else if (typeof value === 'number' || typeof value === 'boolean') found = String(value);
    else found = undefined;
  }
  return found;
}

/**
 * hvkit's tags from an extraConfig array: the JSON object under {@link TAGS_EXTRA_CONFIG_KEY}.
 * Returns `{}` when the key is absent, empty (vcsim's way of "removing" it) or not a JSON object,
 * and drops non-string values and the `__proto__` key: tags may have been written by other tools,
 * and a `get` must not fail over them.
 */
export function tagsFromExtraConfig(options: unknown): Record<string, string> {
  const value = extraConfigValue(options, TAGS_EXTRA_CONFIG_KEY);
  if (value === undefined || value.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return {};
  }
  const object = fields(parsed);
  if (object === undefined) return {};
  return Object.fromEntries(
    Object.entries(object).filter(
      (entry): entry is [string, string] =>
        typeof entry[1] === 'string' && entry[0] !== '__proto__',
    ),
  );
}

const POWER_STATES: Readonly<Record<string, PowerState>> = {
  poweredOn: 'on',
  poweredOff: 'off',
  suspended: 'suspended',
};

function powerStateOf(value: unknown): PowerState {
  return own(POWER_STATES, typeof value === 'string' ? value : undefined) ?? 'unknown';
}

/** An ISO 8601 string for an xsd:dateTime (vcsim sends nanoseconds), or undefined. */
function isoTime(value: unknown): string | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  const date = new Date(raw);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function snapshotOf(node: Fields, parentId: string | undefined): Snapshot {
  const id = morefValue(node.snapshot) ?? String(node.id ?? '');
  const state = typeof node.state === 'string' ? node.state : '';
  const snapshot: Snapshot = {
    id,
    name: typeof node.name === 'string' ? node.name : '',
    createdAt: isoTime(node.createTime) ?? String(node.createTime ?? ''),
    // vSphere has no memory flag on a snapshot: CreateSnapshot with memory=false records the
    // snapshot as poweredOff, so only a snapshot in a running (or suspended) state holds memory.
    // vcsim 0.24 records the VM's power state regardless of the memory argument, so there a
    // memory-less snapshot of a running VM reads as memory: true.
    memory: state === 'poweredOn' || state === 'suspended',
    quiesced: flag(node.quiesced) ?? false,
    powerState: powerStateOf(state),
    children: [],
  };
  const description = text(node.description);
  if (description !== undefined) snapshot.description = description;
  if (parentId !== undefined) snapshot.parentId = parentId;
  for (const child of list(node.childSnapshotList)) {
    const childFields = fields(child);
    if (childFields !== undefined) snapshot.children.push(snapshotOf(childFields, id));
  }
  return snapshot;
}

/**
 * Maps a `VirtualMachineSnapshotInfo` (the VM's `snapshot` property) to core's tree: the
 * snapshot moref value is the id, `createTime` becomes ISO 8601, `state` the power state, and
 * `currentSnapshot` the current id. `memory` is derived from `state` (see the comment in the
 * code: exact on vCenter, always true for a running VM's snapshot on vcsim). An absent property
 * (a VM without snapshots) gives an empty tree. Never throws.
 */
export function toSnapshotTree(snapshotInfo: unknown): SnapshotTree {
  const info = fields(snapshotInfo);
  const roots: Snapshot[] = [];
  for (const node of list(info?.rootSnapshotList)) {
    const nodeFields = fields(node);
    if (nodeFields !== undefined) roots.push(snapshotOf(nodeFields, undefined));
  }
  return { currentId: morefValue(info?.currentSnapshot) ?? null, roots };
}

const CONTROLLER_BUS: Readonly<Record<string, DiskBus>> = {
  ParaVirtualSCSIController: 'scsi',
  VirtualLsiLogicController: 'scsi',
  VirtualLsiLogicSASController: 'scsi',
  VirtualBusLogicController: 'scsi',
  VirtualSCSIController: 'scsi',
  VirtualAHCIController: 'sata',
  VirtualSATAController: 'sata',
  VirtualIDEController: 'ide',
  VirtualNVMEController: 'nvme',
};

/** VirtualEthernetCard subtypes; those without a core model map to no model. */
const NIC_MODELS: Readonly<Record<string, NicModel | undefined>> = {
  VirtualVmxnet3: 'vmxnet3',
  VirtualVmxnet3Vrdma: 'vmxnet3',
  VirtualE1000: 'e1000',
  VirtualE1000e: 'e1000e',
  VirtualVmxnet: undefined,
  VirtualVmxnet2: undefined,
  VirtualPCNet32: undefined,
  VirtualSriovEthernetCard: undefined,
  VirtualEthernetCard: undefined,
};

const SPARSE_BACKINGS = new Set([
  'VirtualDiskSeSparseBackingInfo',
  'VirtualDiskSparseVer1BackingInfo',
  'VirtualDiskSparseVer2BackingInfo',
]);

function provisioningOf(backing: Fields | undefined): Provisioning | undefined {
  if (backing === undefined) return undefined;
  if (flag(backing.thinProvisioned) === true) return 'thin';
  if (flag(backing.eagerlyScrub) === true) return 'eagerZeroedThick';
  if (flag(backing.thinProvisioned) === false) return 'thick';
  // Sparse formats grow on demand; raw device mappings and the rest have no provisioning.
  return SPARSE_BACKINGS.has(typeOf(backing) ?? '') ? 'thin' : undefined;
}

/** `LocalDS_0` of `[LocalDS_0] vm/vm.vmdk`. */
function datastoreOfPath(fileName: string | undefined): string | undefined {
  const match = fileName === undefined ? null : /^\[([^\]]+)\]/.exec(fileName);
  return match?.[1];
}

function disksOf(devices: Fields[], context: VmMapContext): Disk[] {
  if (devices.length === 0) return [];
  const byKey = new Map(devices.map((device) => [String(device.key), device]));
  const disks: Disk[] = [];
  for (const device of devices) {
    if (typeOf(device) !== 'VirtualDisk') continue;
    const backing = fields(device.backing);
    const fileName = text(backing?.fileName);
    const datastore = morefValue(backing?.datastore);
    const capacityBytes = numeric(device.capacityInBytes);
    const capacityKiB = numeric(device.capacityInKB);
    const disk: Disk = {
      id: String(device.key),
      sizeBytes: capacityBytes ?? (capacityKiB === undefined ? 0 : capacityKiB * 1024),
      format: 'vmdk',
    };
    const label = text(fields(device.deviceInfo)?.label);
    if (label !== undefined) disk.name = label;
    const provisioning = provisioningOf(backing);
    if (provisioning !== undefined) disk.provisioning = provisioning;
    const controller = byKey.get(String(device.controllerKey));
    const bus = own(CONTROLLER_BUS, typeOf(controller));
    if (bus !== undefined) disk.bus = bus;
    const storage =
      (datastore === undefined ? undefined : context.datastores?.get(datastore)) ??
      datastoreOfPath(fileName);
    if (storage !== undefined) disk.storage = storage;
    // The parent file of a delta disk: a linked clone's base, or (on vCenter) the disk a snapshot
    // froze. Core's parentId is an id; vSphere names the parent by its file only.
    const parent = text(fields(backing?.parent)?.fileName);
    if (parent !== undefined) disk.parentId = parent;
    disks.push(disk);
  }
  return disks;
}

interface GuestNic {
  mac: string;
  ipAddresses: string[];
}

function guestNicsOf(net: unknown): GuestNic[] {
  const nics: GuestNic[] = [];
  for (const entry of list(net)) {
    const nic = fields(entry);
    const mac = text(nic?.macAddress);
    if (nic === undefined || mac === undefined) continue;
    nics.push({
      mac: mac.toLowerCase(),
      ipAddresses: list(nic.ipAddress).filter((ip): ip is string => text(ip) !== undefined),
    });
  }
  return nics;
}

function nicsOf(devices: Fields[], guestNics: GuestNic[], context: VmMapContext): Nic[] {
  const nics: Nic[] = [];
  for (const device of devices) {
    const type = typeOf(device) ?? '';
    if (!Object.hasOwn(NIC_MODELS, type)) continue;
    const backing = fields(device.backing);
    const backingType = typeOf(backing);
    let network: string | undefined;
    let connection: Nic['connection'] = 'network';
    if (backingType === 'VirtualEthernetCardDistributedVirtualPortBackingInfo') {
      const key = text(fields(backing?.port)?.portgroupKey);
      connection = 'distributed';
      network =
        key === undefined
          ? undefined
          : (context.portgroups?.get(key) ?? context.networks?.get(key)?.name ?? key);
    } else if (backingType === 'VirtualEthernetCardOpaqueNetworkBackingInfo') {
      network = text(backing?.opaqueNetworkId);
    } else {
      const moref = morefValue(backing?.network);
      const known = moref === undefined ? undefined : context.networks?.get(moref);
      network = known?.name ?? text(backing?.deviceName) ?? moref;
      if (known !== undefined) connection = known.kind;
    }
    const mac = text(device.macAddress)?.toLowerCase() ?? '';
    const nic: Nic = {
      id: String(device.key),
      network: network ?? '',
      connection,
      mac,
      ipAddresses: guestNics
        .filter((guestNic) => mac !== '' && guestNic.mac === mac)
        .flatMap((guestNic) => guestNic.ipAddresses),
    };
    const model = own(NIC_MODELS, type);
    if (model !== undefined) nic.model = model;
    nics.push(nic);
  }
  return nics;
}

/**
 * Tools state from `toolsRunningStatus` (current) and `toolsStatus` (deprecated, but the only
 * one that says "not installed"). Either alone is enough; the summary set carries `toolsStatus`
 * only, and both sets give the same answer for the same VM.
 */
function toolsStateOf(runningStatus: unknown, toolsStatus: unknown): ToolsState {
  if (toolsStatus === 'toolsNotInstalled') return 'not-installed';
  if (runningStatus === 'guestToolsRunning' || runningStatus === 'guestToolsExecutingScripts') {
    return 'running';
  }
  if (runningStatus === 'guestToolsNotRunning') return 'not-running';
  if (toolsStatus === 'toolsOk' || toolsStatus === 'toolsOld') return 'running';
  if (toolsStatus === 'toolsNotRunning') return 'not-running';
  return 'unknown';
}

function guestOf(
  get: Reader,
  properties: Record<string, unknown>,
  guestNics: GuestNic[] | undefined,
): GuestInfo {
  const primary = text(get('guest.ipAddress'));
  // The primary address first, then every address the NICs report, once each.
  const ipAddresses =
    guestNics === undefined || guestNics.length === 0
      ? primary === undefined
        ? []
        : [primary]
      : [
          ...new Set([
            ...(primary === undefined ? [] : [primary]),
            ...guestNics.flatMap((nic) => nic.ipAddresses),
          ]),
        ];
  const guest: GuestInfo = {
    toolsState: toolsStateOf(get('guest.toolsRunningStatus'), get('guest.toolsStatus')),
    ipAddresses,
  };
  const hostname = text(get('guest.hostName'));
  if (hostname !== undefined) guest.hostname = hostname;
  const osName = text(get('guest.guestFullName'));
  if (osName !== undefined) guest.osName = osName;
  if (guestNics !== undefined) {
    guest.interfaces = guestNics.map((nic) => ({ mac: nic.mac, ipAddresses: nic.ipAddresses }));
  }
  const disks = get('guest.disk');
  if (disks !== undefined || 'guest.disk' in properties) {
    guest.filesystems = list(disks).flatMap((entry) => {
      const disk = fields(entry);
      const mountPoint = text(disk?.diskPath);
      if (mountPoint === undefined) return [];
      return [
        {
          mountPoint,
          capacityBytes: numeric(disk?.capacity) ?? 0,
          freeBytes: numeric(disk?.freeSpace) ?? 0,
        },
      ];
    });
  }
  return guest;
}

/** Core's guest OS family for a vSphere guestId (`ubuntu64Guest` → `linux`). */
export function guestOsFamily(guestId: string): 'linux' | 'windows' | 'other' {
  if (/^win/i.test(guestId)) return 'windows';
  if (
    /linux|ubuntu|debian|centos|rhel|sles|suse|fedora|photon|coreos|oracle|asianux|mandr|turbo|redhat|amazon|alma|rocky|nld/i.test(
      guestId,
    )
  ) {
    return 'linux';
  }
  return 'other';
}

interface Allocation {
  reservation?: number;
  limit?: number;
}

/** Reservation and limit of a ResourceAllocationInfo; limit -1 means none. */
function allocationOf(value: unknown): Allocation {
  const allocation = fields(value);
  const result: Allocation = {};
  const reservation = numeric(allocation?.reservation);
  if (reservation !== undefined) result.reservation = reservation;
  const limit = numeric(allocation?.limit);
  if (limit !== undefined && limit >= 0) result.limit = limit;
  return result;
}

/** Properties left out of `raw`: mapped in full elsewhere, bulky, or possibly secret. */
const RAW_OMITTED = new Set([
  'config.hardware',
  'config.hardware.device',
  // Holds cloud-init user data (passwords, keys) and, on vcsim, every value ever set.
  VM_TAGS_PROPERTY,
  'snapshot',
  'guest.net',
  'guest.disk',
]);

function rawOf(content: ObjectContent): Record<string, unknown> {
  if (content.missing.length === 0 && !needsRawCopy(content.properties)) {
    // Nothing to leave out (a summary listing): the properties themselves, no copy per VM. The
    // object is the parser's, built for this VM and held by nothing else.
    return content.properties;
  }
  const raw: Record<string, unknown> = {};
  for (const [path, value] of Object.entries(content.properties)) {
    if (RAW_OMITTED.has(path)) continue;
    const object = fields(value);
    if (path === 'config' && object !== undefined) {
      // A whole `config` was retrieved: keep it without the same bulky or secret parts.
      const { hardware: _hardware, extraConfig: _extraConfig, ...rest } = object;
      raw[path] = rest;
    } else {
      raw[path] = value;
    }
  }
  if (content.missing.length > 0) raw.missing = content.missing;
  return raw;
}

function needsRawCopy(properties: Record<string, unknown>): boolean {
  for (const key in properties) {
    if (RAW_OMITTED.has(key) || key === 'config' || key === 'missing') return true;
  }
  return false;
}

/**
 * `full` when the content holds the VM's device list (`config.hardware`, its `device` or the whole
 * `config`), so its disks and NICs are known; `summary` otherwise (empty disks and NICs mean
 * "not read", not "none").
 */
export function vmDetailOf(content: ObjectContent): 'full' | 'summary' {
  return ['config.hardware', 'config.hardware.device', 'config'].some(
    (path) => path in content.properties,
  )
    ? 'full'
    : 'summary';
}

/**
 * Maps one `ObjectContent` of a VirtualMachine to core's `Vm`. Works with any property set,
 * reading a path from an ancestor when only that was retrieved (`runtime.powerState` from
 * `runtime`).
 *
 * - From {@link VM_SUMMARY_PROPERTIES} (no `config.hardware`): `disks`, `nics` and the snapshot
 *   tree are empty, `tags` are `{}` unless `config.extraConfig` was added, and guest data is the
 *   primary IP and the tools state.
 * - From {@link VM_DETAIL_PROPERTIES}: everything `Vm` holds except `policies` (per-VM HA/DRS
 *   overrides live in the cluster's configuration; `{}` here) and NIC VLANs (a portgroup setting).
 *
 * Units: `memoryMB` and allocations in MB are MiB in vSphere; CPU allocations are MHz; a limit of
 * -1 (none) is left out. An inaccessible VM has no `config`: CPU count and memory size read 0.
 * `raw` holds the retrieved properties except `config.hardware`, `config.extraConfig` (cloud-init
 * data may be secret), `snapshot`, `guest.net` and `guest.disk`, plus `missing` when the
 * collector reported unreadable paths. Never throws; the result passes `VmSchema.parse`.
 */
export function toVm(content: ObjectContent, context: VmMapContext): Vm {
  const properties = content.properties;
  const get = readerOf(properties);
  const devices = list(get('config.hardware.device'))
    .map(fields)
    .filter((device): device is Fields => device !== undefined);
  const guestNetRetrieved = get('guest.net') !== undefined || 'guest.net' in properties;
  const guestNics = guestNetRetrieved ? guestNicsOf(get('guest.net')) : undefined;
  const cpuAllocation = allocationOf(get('config.cpuAllocation'));
  const memoryAllocation = allocationOf(get('config.memoryAllocation'));
  const disks = disksOf(devices, context);

  const vm: Vm = {
    ref: { provider: context.provider, id: content.obj.value },
    name:
      text(get('name')) ??
      text(get('config.name')) ??
      text(get('summary.config.name')) ??
      content.obj.value,
    // Core's VmSchema is getting `detail?: 'full' | 'summary'`; once it lands:
    // detail: vmDetailOf(content),
    powerState: powerStateOf(get('runtime.powerState')),
    template: flag(get('config.template') ?? get('summary.config.template')) ?? false,
    cpu: {
      count: numeric(get('config.hardware.numCPU')) ?? numeric(get('summary.config.numCpu')) ?? 0,
      // vSphere reports 1 core per socket when none was configured.
      coresPerSocket: numeric(get('config.hardware.numCoresPerSocket')) ?? 1,
      hotAdd: flag(get('config.cpuHotAddEnabled')) ?? false,
    },
    memory: {
      sizeMiB:
        numeric(get('config.hardware.memoryMB')) ??
        numeric(get('summary.config.memorySizeMB')) ??
        0,
      hotAdd: flag(get('config.memoryHotAddEnabled')) ?? false,
    },
    disks,
    nics: nicsOf(devices, guestNics ?? [], context),
    guest: guestOf(get, properties, guestNics),
    snapshots: toSnapshotTree(get('snapshot')),
    placement: {},
    policies: {},
    tags: tagsFromExtraConfig(get(VM_TAGS_PROPERTY)),
    raw: rawOf(content),
  };
  const description = text(get('config.annotation'));
  if (description !== undefined) vm.description = description;
  const guestId = text(get('config.guestId')) ?? text(get('summary.config.guestId'));
  if (guestId !== undefined) vm.guestOs = guestOsFamily(guestId);
  if (cpuAllocation.reservation !== undefined) vm.cpu.reservationMHz = cpuAllocation.reservation;
  if (cpuAllocation.limit !== undefined) vm.cpu.limitMHz = cpuAllocation.limit;
  if (memoryAllocation.reservation !== undefined) {
    vm.memory.reservationMiB = memoryAllocation.reservation;
  }
  if (memoryAllocation.limit !== undefined) vm.memory.limitMiB = memoryAllocation.limit;
  const firmware = get('config.firmware');
  if (firmware === 'bios' || firmware === 'efi') vm.firmware = firmware;
  const createdAt = isoTime(get('config.createDate'));
  if (createdAt !== undefined) vm.createdAt = createdAt;

  const host = morefValue(get('runtime.host'));
  if (host !== undefined) {
    const known = context.hosts?.get(host);
    vm.placement.host = known?.name ?? host;
    if (known?.cluster !== undefined) vm.placement.cluster = known.cluster;
  }
  const resourcePool = morefValue(get('resourcePool'));
  if (resourcePool !== undefined) vm.placement.resourcePool = resourcePool;
  const folder = morefValue(get('parent'));
  if (folder !== undefined) vm.placement.folder = folder;
  const [firstDatastore] = list(get('datastore')).map(morefValue);
  const storage =
    (firstDatastore === undefined ? undefined : context.datastores?.get(firstDatastore)) ??
    disks.find((disk) => disk.storage !== undefined)?.storage;
  if (storage !== undefined) vm.placement.storage = storage;
  return vm;
}

/**
 * Builds a {@link VmMapContext} from one inventory read: objects of type Datastore and Network
 * (`name`), DistributedVirtualPortgroup (`name`, `key`), OpaqueNetwork (`name`), HostSystem
 * (`name`, `parent`) and ClusterComputeResource (`name`). Other objects and missing properties
 * are ignored. Never throws.
 */
export function vmMapContextFrom(
  provider: string,
  contents: Iterable<ObjectContent>,
): VmMapContext {
  const datastores = new Map<string, string>();
  const networks = new Map<string, VmNetworkInfo>();
  const portgroups = new Map<string, string>();
  const clusters = new Map<string, string>();
  const hostParents: { moref: string; name: string; parent: string | undefined }[] = [];
  for (const content of contents) {
    const name = text(content.properties.name);
    const moref = content.obj.value;
    switch (content.obj.type) {
      case 'Datastore':
        if (name !== undefined) datastores.set(moref, name);
        break;
      case 'Network':
      case 'OpaqueNetwork':
        if (name !== undefined) networks.set(moref, { name, kind: 'network' });
        break;
      case 'DistributedVirtualPortgroup': {
        if (name !== undefined) networks.set(moref, { name, kind: 'distributed' });
        const key = text(content.properties.key) ?? moref;
        if (name !== undefined) portgroups.set(key, name);
        break;
      }
      case 'ClusterComputeResource':
        if (name !== undefined) clusters.set(moref, name);
        break;
      case 'HostSystem':
        if (name !== undefined) {
          hostParents.push({ moref, name, parent: morefValue(content.properties.parent) });
        }
        break;
    }
  }
  const hosts = new Map<string, VmHostInfo>();
  for (const host of hostParents) {
    const cluster = host.parent === undefined ? undefined : clusters.get(host.parent);
    hosts.set(
      host.moref,
      cluster === undefined ? { name: host.name } : { name: host.name, cluster },
    );
  }
  return { provider, datastores, networks, portgroups, hosts };
}
