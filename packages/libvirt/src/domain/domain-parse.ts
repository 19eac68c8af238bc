/**
 * libvirt domain XML (`virsh dumpxml`) → core's `Vm`. Pure: the caller passes what the XML does
 * not hold (power state, volume sizes and pools, guest agent data, snapshots) in a
 * {@link DomainParseContext}.
 *
 * Reading rules a reader needs:
 * - `ref.id` is the UUID; disk ids are target devs (`vda`); NIC ids are MAC addresses.
 * - `cpu.count` is `<vcpu current>` (else `<vcpu>`); `hotAdd` is true when the maximum is above it.
 *   `coresPerSocket` is cores × threads of `<topology>` (logical CPUs per socket), 1 without one.
 * - `memory.sizeMiB` is `<currentMemory>` (the balloon target; on a running domain the live
 *   value), `hotAdd` is true when `<memory>` (the maximum) is above it.
 * - Disks are `device='disk'` and `'lun'` only; cdroms (the seed ISO) and floppies are media, not
 *   disks. `parentId` is the path of the first `<backingStore>` source (linked clones) in live
 *   XML, else the volume's backing path from the caller's lookup.
 * - Tags and disk labels come from hvkit's `<metadata>` elements, matched by namespace URI (the
 *   prefix may be anything); other tools' metadata is ignored.
 * - Guest tools: the qemu-ga channel's `state` (`connected` → running, `disconnected` → not
 *   running), `not-installed` without the channel, unless the caller passes agent data.
 */
import {
  type Disk,
  type DiskBus,
  type DiskFormat,
  type Firmware,
  type GuestInfo,
  type Nic,
  type NicModel,
  type PowerState,
  ProviderApiError,
  type Provisioning,
  type SnapshotTree,
  type ToolsState,
  type Vm,
} from '@hvkit/core';
import {
  attributeOf,
  childOf,
  childrenOf,
  parseXml,
  pathOf,
  textOf,
  type XmlElement,
} from '../xml/xml-reader.js';
import { GUEST_AGENT_CHANNEL, HVKIT_DISKS_NS, HVKIT_TAGS_NS } from './domain-xml.js';
import { vmRecordOf } from './vm-metadata.js';

/** What the caller knows about one volume (from `vol-dumpxml` / `vol-info` / pool listings). */
export interface VolumeInfo {
  /** Storage pool holding the volume. */
  pool?: string | undefined;
  /** Volume name in the pool. */
  name?: string | undefined;
  capacityBytes: number;
  allocationBytes?: number | undefined;
  provisioning?: Provisioning | undefined;
  /**
   * Path of the volume's backing file (`vol-dumpxml` `<backingStore><path>`): an inactive
   * definition does not show the backing chain, only the live XML of a running domain does.
   */
  backingPath?: string | undefined;
}

/** What {@link parseDomainXml} needs besides the XML. */
export interface DomainParseContext {
  /** Name of the provider instance (`VmRef.provider`). */
  provider: string;
  /** Name of the libvirt host (`virsh hostname`), reported as `placement.host`. */
  host: string;
  /** Power state, from `domstate` / `domstats --state` (the XML does not hold it). */
  state: PowerState;
  /** Volume path (as in `<source file>`) → what the pool says about it. */
  volumes?: ReadonlyMap<string, VolumeInfo> | undefined;
  /** Guest agent data; default: derived from the agent channel's state. */
  guest?: GuestInfo | undefined;
  /** MAC (lower case) → IP addresses (agent or DHCP leases). */
  nicAddresses?: ReadonlyMap<string, readonly string[]> | undefined;
  /** Snapshot tree; default none. */
  snapshots?: SnapshotTree | undefined;
  /** Whether hvkit treats the domain as a template. Default false. */
  template?: boolean | undefined;
}

const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  bytes: 1,
  KB: 1000,
  k: 1024,
  KiB: 1024,
  MB: 1000 ** 2,
  M: 1024 ** 2,
  MiB: 1024 ** 2,
  GB: 1000 ** 3,
  G: 1024 ** 3,
  GiB: 1024 ** 3,
  TB: 1000 ** 4,
  T: 1024 ** 4,
  TiB: 1024 ** 4,
};

/** A libvirt scaled integer (`<memory unit='KiB'>262144</memory>`) in bytes; default unit KiB. */
function scaledBytes(node: XmlElement | undefined): number | undefined {
  if (node === undefined) return undefined;
  const value = Number(node.text.trim());
  if (!Number.isFinite(value) || node.text.trim() === '') return undefined;
  const unit = attributeOf(node, 'unit') ?? 'KiB';
  const scale = Object.hasOwn(UNIT_BYTES, unit) ? UNIT_BYTES[unit] : undefined;
  return scale === undefined ? undefined : value * scale;
}

function integer(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

const BUSES: ReadonlySet<string> = new Set(['virtio', 'scsi', 'sata', 'ide', 'nvme']);
const FORMATS: ReadonlySet<string> = new Set(['raw', 'qcow2', 'vmdk', 'vhdx']);
const NIC_MODELS: ReadonlySet<string> = new Set([
  'virtio',
  'e1000',
  'e1000e',
  'vmxnet3',
  'rtl8139',
]);

/** The path (or pool/volume) a disk's `<source>` names. */
function sourcePath(disk: XmlElement): string | undefined {
  const source = childOf(disk, 'source');
  return (
    attributeOf(source, 'file') ??
    attributeOf(source, 'dev') ??
    (attributeOf(source, 'volume') !== undefined
      ? `${attributeOf(source, 'pool') ?? ''}/${attributeOf(source, 'volume')}`
      : undefined)
  );
}

function diskOf(
  node: XmlElement,
  labels: ReadonlyMap<string, string>,
  context: DomainParseContext,
): Disk | undefined {
  const dev = attributeOf(childOf(node, 'target'), 'dev');
  if (dev === undefined) return undefined;
  const path = sourcePath(node);
  const volume = path === undefined ? undefined : context.volumes?.get(path);
  const bus = attributeOf(childOf(node, 'target'), 'bus');
  const format = attributeOf(childOf(node, 'driver'), 'type');
  const backing = childOf(childOf(node, 'backingStore'), 'source');
  const parentId =
    attributeOf(backing, 'file') ?? attributeOf(backing, 'dev') ?? volume?.backingPath;
  const disk: Disk = {
    id: dev,
    sizeBytes: volume?.capacityBytes ?? 0,
  };
  const name = labels.get(dev);
  if (name !== undefined) disk.name = name;
  if (volume?.provisioning !== undefined) disk.provisioning = volume.provisioning;
  if (bus !== undefined && BUSES.has(bus)) disk.bus = bus as DiskBus;
  const storage = volume?.pool ?? attributeOf(childOf(node, 'source'), 'pool');
  if (storage !== undefined) disk.storage = storage;
  if (format !== undefined && FORMATS.has(format)) disk.format = format as DiskFormat;
  if (parentId !== undefined) disk.parentId = parentId;
  return disk;
}

function nicOf(node: XmlElement, context: DomainParseContext): Nic | undefined {
  const mac = attributeOf(childOf(node, 'mac'), 'address')?.toLowerCase();
  if (mac === undefined) return undefined;
  const type = attributeOf(node, 'type') ?? '';
  const source = childOf(node, 'source');
  const bridged = type === 'bridge';
  const network =
    (bridged ? attributeOf(source, 'bridge') : attributeOf(source, 'network')) ??
    attributeOf(source, 'dev') ??
    type;
  const model = attributeOf(childOf(node, 'model'), 'type');
  const vlan = integer(attributeOf(childOf(childOf(node, 'vlan'), 'tag'), 'id'));
  const nic: Nic = {
    id: mac,
    network,
    connection: bridged ? 'bridge' : 'network',
    mac,
    ipAddresses: [...(context.nicAddresses?.get(mac) ?? [])],
  };
  if (model !== undefined && NIC_MODELS.has(model)) nic.model = model as NicModel;
  if (vlan !== undefined) nic.vlan = vlan;
  return nic;
}

function firmwareOf(os: XmlElement | undefined): Firmware {
  if (attributeOf(os, 'firmware') === 'efi') return 'efi';
  const loader = childOf(os, 'loader');
  if (attributeOf(loader, 'type') === 'pflash' || /OVMF|edk2|AAVMF/i.test(loader?.text ?? ''))
    return 'efi';
  return 'bios';
}

function tagsOf(metadata: XmlElement | undefined): Record<string, string> {
  const tags: Record<string, string> = {};
  const element = childOf(metadata, 'tags', HVKIT_TAGS_NS);
  for (const tag of childrenOf(element, 'tag', HVKIT_TAGS_NS)) {
    const key = attributeOf(tag, 'key');
    // `__proto__` cannot be a plain object key; core refuses it on the way in anyway.
    if (key === undefined || key === '__proto__') continue;
    tags[key] = tag.text;
  }
  return tags;
}

function diskLabelsOf(metadata: XmlElement | undefined): Map<string, string> {
  const labels = new Map<string, string>();
  const element = childOf(metadata, 'disks', HVKIT_DISKS_NS);
  for (const disk of childrenOf(element, 'disk', HVKIT_DISKS_NS)) {
    const target = attributeOf(disk, 'target');
    if (target !== undefined) labels.set(target, disk.text);
  }
  return labels;
}

function toolsStateOf(devices: XmlElement | undefined, state: PowerState): ToolsState {
  const channel = childrenOf(devices, 'channel').find(
    (node) => attributeOf(childOf(node, 'target'), 'name') === GUEST_AGENT_CHANNEL,
  );
  if (channel === undefined) return 'not-installed';
  const connected = attributeOf(childOf(channel, 'target'), 'state');
  if (connected === 'connected') return 'running';
  if (connected === 'disconnected' || state === 'off') return 'not-running';
  return 'unknown';
}

/**
 * The `Vm` a domain XML describes.
 *
 * @param xml `virsh dumpxml` output (live XML of a running domain, or the inactive definition).
 * @throws ProviderApiError (`fault: 'xml-parse'`) when the XML is not well-formed, or is not a
 *   `<domain>` with a name and UUID.
 */
export function parseDomainXml(xml: string, context: DomainParseContext): Vm {
  const root = parseXml(xml, { what: 'domain XML' });
  return domainToVm(root, xml, context);
}

/** {@link parseDomainXml} for an already parsed document (one element of a batch). */
export function domainToVm(root: XmlElement, xml: string, context: DomainParseContext): Vm {
  const name = textOf(root, 'name');
  const uuid = textOf(root, 'uuid')?.trim();
  if (root.name !== 'domain' || name === undefined || uuid === undefined || uuid === '') {
    throw new ProviderApiError('libvirt returned XML that is not a <domain> with a name and UUID', {
      fault: 'xml-parse',
    });
  }
  const vcpu = childOf(root, 'vcpu');
  const maximumCpus = integer(vcpu?.text) ?? 1;
  const count = integer(attributeOf(vcpu, 'current')) ?? maximumCpus;
  const topology = pathOf(root, 'cpu', 'topology');
  const coresPerSocket =
    (integer(attributeOf(topology, 'cores')) ?? 1) *
    (integer(attributeOf(topology, 'threads')) ?? 1);
  const maximumBytes = scaledBytes(childOf(root, 'memory')) ?? 0;
  const currentBytes = scaledBytes(childOf(root, 'currentMemory')) ?? maximumBytes;
  const mib = (bytes: number) => Math.floor(bytes / 1024 ** 2);

  const metadata = childOf(root, 'metadata');
  const labels = diskLabelsOf(metadata);
  const devices = childOf(root, 'devices');
  const disks = childrenOf(devices, 'disk')
    .filter((node) => {
      const device = attributeOf(node, 'device') ?? 'disk';
      return device === 'disk' || device === 'lun';
    })
    .map((node) => diskOf(node, labels, context))
    .filter((disk): disk is Disk => disk !== undefined);
  const nics = childrenOf(devices, 'interface')
    .map((node) => nicOf(node, context))
    .filter((nic): nic is Nic => nic !== undefined);

  const guest: GuestInfo = context.guest ?? {
    toolsState: toolsStateOf(devices, context.state),
    ipAddresses: [...new Set(nics.flatMap((nic) => nic.ipAddresses))],
  };
  const description = textOf(root, 'description');
  const storage = disks.find((disk) => disk.storage !== undefined)?.storage;

  const vm: Vm = {
    ref: { provider: context.provider, id: uuid },
    detail: 'full',
    name,
    powerState: context.state,
    template: context.template ?? vmRecordOf(metadata)?.template ?? false,
    cpu: { count, coresPerSocket, hotAdd: maximumCpus > count },
    memory: { sizeMiB: mib(currentBytes), hotAdd: maximumBytes > currentBytes },
    disks,
    nics,
    firmware: firmwareOf(childOf(root, 'os')),
    guest,
    snapshots: context.snapshots ?? { currentId: null, roots: [] },
    placement: { host: context.host, ...(storage === undefined ? {} : { storage }) },
    policies: {},
    tags: tagsOf(metadata),
    raw: { domainXml: xml },
  };
  if (description !== undefined) vm.description = description;
  return vm;
}
