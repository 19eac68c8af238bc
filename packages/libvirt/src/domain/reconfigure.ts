/**
 * `reconfigure` of a libvirt domain: core's validated `VmChange` → virsh commands, applied to the
 * running domain where libvirt can (`--live`) and always to its persistent definition
 * (`--config`), with a report of which fields applied now and which wait for the next boot.
 *
 * The driver calls {@link reconfigureDomain} (after refusing templates, which this module does not
 * know about) and returns its result as the `vm.reconfigure` task result; {@link reconfigureCan}
 * answers `can()` for `resources.cpu` / `resources.memory`.
 *
 * Three steps, so nothing is half-applied by a mistake that could have been seen first:
 * 1. {@link checkChange} — pure, before any I/O: what libvirt cannot do at all is an
 *    `InvalidSpecError` naming the field (reservations, limits, nvme, vmdk, storage policies,
 *    distributed switches, guest addressing, XML-unsafe text…).
 * 2. {@link readDomainForChange} (one `runMany`, plus one more when disks are resized) and
 *    {@link planReconfigure} — pure over what was read: unknown disk/NIC ids (`NotFoundError`),
 *    shrinking (`InvalidSpecError` on `resizeDisks[i].sizeGiB`), a rename of a running domain or
 *    onto a taken name (`ConflictError`), missing networks and pools — all before the first
 *    mutation; the plan says per field whether it applies live or at next boot.
 * 3. {@link executeReconfigurePlan} — one virsh command at a time (each waits for the previous
 *    one's success, so a failure stops the rest; `runMany` would go on after a failed command).
 *    New volumes are created first and deleted again when a later step fails.
 *
 * Behaviour measured on the bed (libvirt 9.0, QEMU 7.2 TCG, q35, domain not booted unless said):
 * - vCPUs: `setvcpus N --live` plugs vCPUs up to `<vcpu>` (the maximum); above it: `requested
 *   vcpus is greater than max allowable vcpus for the live domain: 5 > 4`. Unplug never works
 *   here: `unable to execute QEMU command 'device_del': acpi: device unplug request for not
 *   supported device type: qemu64-x86_64-cpu`, so fewer vCPUs wait for the next boot. `setvcpus
 *   --maximum` refuses when `<topology>` is set (`CPU topology doesn't match the desired vcpu
 *   count`): a new maximum or cores per socket is a redefinition of the persistent XML.
 * - A plugged vCPU reaches the booted guest OFFLINE (qemu-ga `guest-get-vcpus`: `online: false`;
 *   the guest kernel leaves onlining to userspace), so with the agent connected it is onlined with
 *   `setvcpus --guest`; `domstats vcpu.current` counts it at once either way.
 * - Memory: `setmem --live` moves the balloon target within `<memory>` (a guest without a balloon
 *   driver keeps its memory: `balloon.current` does not move); `setmaxmem --live` is refused
 *   (`cannot resize the maximum memory on an active domain`), `setmaxmem --config` is not. A
 *   booted guest reaches a 64 MiB change in 0.2–1.3 s (balloon.current), so the result is read
 *   after a bounded wait: the live `<currentMemory>` is the balloon's actual size, not its target.
 * - Hot-add is headroom (`<vcpu current>` below `<vcpu>`, `<currentMemory>` below `<memory>`):
 *   while it is on, a count or size that reaches the maximum doubles the maximum of the next boot,
 *   so hot-add survives; off, the maximum is the count/size. Without memory hot-add the balloon is
 *   not moved on a running domain: the change waits for the next boot (the conformance contract).
 * - Hot-plug on q35 needs an empty PCIe root port: a conventional PCI device (e1000, rtl8139) or a
 *   disk/NIC with no free port fails with `internal error: No more available PCI slots`, a SATA
 *   disk with `Bus 'ide.0' does not support hotplugging`; `attach-device --live --config` then
 *   changes nothing, and the device is added with `--config` only (next boot).
 * - Unplug needs the guest's consent: `detach-disk --live` of a guest that never booted waits
 *   5 s, says `Disk detached successfully`, and the disk stays in the live XML. A removal is live
 *   only once the device is gone from the live XML; until then its volume is kept.
 * - `blockresize` SHRINKS without complaint (`Block device 'vda' is resized` at 1 MiB from 32 MiB):
 *   a smaller size is refused here before any call. `vol-resize` refuses to shrink.
 * - `domrename` of a running domain: `Requested operation is not valid: cannot rename active
 *   domain`; refused here first with ConflictError `invalid-power-state`.
 * - `desc --new-desc ''` removes the description; `metadata --remove` of an absent element is fine.
 */
import { randomBytes } from 'node:crypto';
import {
  assertXmlSafe,
  type CanResult,
  type CapabilityId,
  ConflictError,
  HvkitError,
  InvalidSpecError,
  MAX_MEMORY_MIB,
  NotFoundError,
  type ParsedInput,
  ProviderApiError,
  type ReconfigureResult,
  type SpecIssue,
  type Vm,
  type Warning,
} from '@hvkit/core';
import { describeDomain } from '../inventory/inventory.js';
import { sleep } from '../sleep.js';
import {
  type CreateVolumeSpec,
  createVolume,
  deleteVolume,
  type Preallocation,
  type VolumeDetails,
} from '../storage/storage.js';
import type { Virsh } from '../virsh/virsh.js';
import { parseDomInfo, parseDomStats, parseKeyValues, parseNetList } from '../virsh/virsh-parse.js';
import {
  attributeOf,
  childOf,
  childrenOf,
  parseXml,
  pathOf,
  type XmlElement,
} from '../xml/xml-reader.js';
import {
  element,
  field,
  renderXml,
  text,
  type XmlAttributeValue,
  type XmlElementNode,
} from '../xml/xml-writer.js';
import {
  type DomainNetwork,
  diskLetters,
  GUEST_AGENT_CHANNEL,
  HVKIT_DISKS_NS,
  HVKIT_TAGS_NS,
} from './domain-xml.js';

/** core's validated change (`ParsedInput['vmChange']`). */
export type VmChange = ParsedInput['vmChange'];

/** What {@link reconfigureDomain} needs besides virsh and the change. */
export interface ReconfigureContext {
  /** Provider instance name (`VmRef.provider`, and on errors). */
  provider: string;
  /** libvirt host name (`placement.host` of the returned Vm). */
  host: string;
  /** Pool of new volumes when `addDisks[i].storage` is absent. Default `default`. */
  defaultPool?: string | undefined;
  /**
   * What each NIC network name is, when the caller resolved them (as for `buildDomainXml`).
   * Default: libvirt networks from `net-list --all`; `connection: 'bridge'` names are not checked.
   */
  networks?: ReadonlyMap<string, DomainNetwork> | undefined;
  /**
   * How long to wait, after libvirt's own 5 s, for the guest to release a device it was asked to
   * unplug before the removal is reported as pending. Default 10 000 ms.
   */
  detachWaitMs?: number | undefined;
  /**
   * How long to wait for a booted guest's balloon to reach a new live memory size before the
   * result is read (measured on the bed: 64 MiB in 0.2–1.3 s under TCG); past it a warning says
   * where the balloon is. Only when the guest agent is connected (a guest that never booted has no
   * balloon driver, and its balloon never moves). Default 10 000 ms.
   */
  balloonWaitMs?: number | undefined;
  /** The VM after the change; default {@link describeDomain}. */
  describe?: ((uuid: string) => Promise<Vm>) | undefined;
  signal?: AbortSignal | undefined;
}

/** One read of the domain: both definitions and what the plan checks against. */
export interface DomainForChange {
  uuid: string;
  name: string;
  /** The domain has a QEMU process (running, paused, pmsuspended, shutting down). */
  active: boolean;
  persistent: boolean;
  managedSave: boolean;
  /**
   * Persistent definition (`dumpxml --inactive --security-info`, as `virsh edit` reads it, so a
   * redefinition keeps e.g. a VNC password). Holds secrets: never log it or a `define` step.
   */
  config: XmlElement;
  /** Live XML when active. */
  live: XmlElement | undefined;
  /** libvirt network names (`net-list --all`), when read. */
  networks?: ReadonlySet<string> | undefined;
  /** Storage pool names, when read. */
  pools?: ReadonlySet<string> | undefined;
  /** UUID of another domain holding `change.name`, when one does. */
  nameTakenBy?: string | undefined;
  /** Capacity in bytes of each disk named by `resizeDisks`, by target dev. */
  capacities?: ReadonlyMap<string, number> | undefined;
}

/** Where a field's change takes effect. */
export type FieldOutcome = 'applied' | 'pending';

/** One mutation. Fields are core's dotted paths (`addDisks[1]`). */
export type ReconfigureStep =
  | { kind: 'virsh'; field?: string | undefined; args: string[] }
  /** Brings plugged vCPUs online in the guest through qemu-ga; a failure is a warning. */
  | { kind: 'guest-vcpus'; field: string; count: number }
  | { kind: 'define'; field: string; xml: string }
  | {
      kind: 'add-disk';
      field: string;
      volume: CreateVolumeSpec;
      dev: string;
      bus: string;
      live: boolean;
    }
  | { kind: 'add-device'; field: string; xml: string; live: boolean }
  | {
      kind: 'remove-disk';
      field: string;
      dev: string;
      config: boolean;
      live: boolean;
      /** Volume path to delete once the disk is gone from every definition. */
      path?: string | undefined;
    }
  | {
      kind: 'remove-nic';
      field: string;
      mac: string;
      type: string;
      config: boolean;
      live: boolean;
    };

/** What {@link planReconfigure} decided. */
export interface ReconfigurePlan {
  uuid: string;
  steps: ReconfigureStep[];
  /** Every changed field and where it is expected to take effect (execution may defer more). */
  fields: Map<string, FieldOutcome>;
  warnings: Warning[];
  /** New live balloon target (KiB) of a booted guest, waited for after the steps. */
  balloonTargetKiB?: number | undefined;
}

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;
const MAX_VCPUS = 768;
const DEFAULT_DETACH_WAIT_MS = 10_000;
const DETACH_POLL_MS = 500;
// How long a plugged vCPU may take to appear in the guest before it is onlined, and the poll.
const GUEST_VCPU_WAIT_MS = 10_000;
const GUEST_VCPU_POLL_MS = 100;
const DEFAULT_BALLOON_WAIT_MS = 10_000;
/** virsh texts (libvirt 9.0) of a live attach that cannot work now but can at the next boot. */
const NOT_HOTPLUGGABLE =
  /No more available PCI slots|does not support hotplugging|cannot be hotplugged/;

function issue(path: string, message: string, code = 'libvirt-unsupported'): SpecIssue {
  return { path, message, code };
}

function invalid(issues: SpecIssue[], provider: string): InvalidSpecError {
  return new InvalidSpecError(issues, { subject: 'change', provider });
}

// ---- 1. checks without I/O --------------------------------------------------------------------

/**
 * Refuses, before any I/O, what libvirt cannot do whatever the domain: one `InvalidSpecError`
 * listing every field. Also every string must be one XML can carry.
 */
export function checkChange(
  change: VmChange,
  context: Pick<ReconfigureContext, 'provider' | 'networks'>,
): void {
  assertXmlSafe(change, 'change');
  const issues: SpecIssue[] = [];
  if (change.name?.includes('/'))
    issues.push(issue('name', "libvirt domain names cannot contain '/'", 'libvirt-name'));
  if (change.cpu?.reservationMHz !== undefined)
    issues.push(issue('cpu.reservationMHz', 'libvirt has no CPU reservation in MHz'));
  if (change.cpu?.limitMHz !== undefined)
    issues.push(issue('cpu.limitMHz', 'libvirt limits CPU as a quota per period, not in MHz'));
  if (change.memory?.reservationMiB !== undefined)
    issues.push(issue('memory.reservationMiB', 'QEMU domains have no memory guarantee'));
  if (change.memory?.limitMiB !== undefined)
    issues.push(issue('memory.limitMiB', 'memory limits are not supported by this provider'));
  const names = new Set<string>();
  (change.addDisks ?? []).forEach((disk, index) => {
    const path = `addDisks[${index}]`;
    if (disk.bus === 'nvme') issues.push(issue(`${path}.bus`, 'libvirt 9.0 has no nvme disk bus'));
    if (disk.format !== undefined && disk.format !== 'qcow2' && disk.format !== 'raw')
      issues.push(issue(`${path}.format`, 'libvirt volumes are qcow2 or raw here'));
    if (disk.storagePolicy !== undefined)
      issues.push(issue(`${path}.storagePolicy`, 'libvirt has no storage policies'));
    if (disk.sourceImageId !== undefined)
      issues.push(issue(`${path}.sourceImageId`, 'reconfigure adds blank disks only'));
    if (!Number.isInteger(disk.sizeGiB * 1024))
      issues.push(issue(`${path}.sizeGiB`, 'must be a whole number of MiB', 'invalid'));
    if (disk.name !== undefined) {
      if (names.has(disk.name))
        issues.push(
          issue(`${path}.name`, `duplicate disk name ${JSON.stringify(disk.name)}`, 'duplicate'),
        );
      names.add(disk.name);
    }
  });
  const macs = new Set<string>();
  (change.addNics ?? []).forEach((nic, index) => {
    const path = `addNics[${index}]`;
    if (nic.connection === 'distributed')
      issues.push(issue(`${path}.connection`, 'libvirt has no distributed switches'));
    if (nic.vlan !== undefined && context.networks?.get(nic.network)?.openvswitch !== true)
      issues.push(
        issue(
          `${path}.vlan`,
          'libvirt applies a VLAN tag only on Open vSwitch connections',
          'libvirt-vlan',
        ),
      );
    for (const key of ['ipv4', 'ipv6'] as const) {
      const value = nic[key];
      if (value !== undefined && value !== 'dhcp')
        issues.push(
          issue(
            `${path}.${key}`,
            'the guest configures addresses of a NIC added to an existing VM',
          ),
        );
    }
    if (nic.dns !== undefined)
      issues.push(
        issue(`${path}.dns`, 'the guest configures DNS of a NIC added to an existing VM'),
      );
    if (nic.mac !== undefined) {
      const mac = nic.mac.toLowerCase();
      if (macs.has(mac)) issues.push(issue(`${path}.mac`, `duplicate MAC ${mac}`, 'duplicate'));
      macs.add(mac);
    }
  });
  (change.resizeDisks ?? []).forEach((resize, index) => {
    if (!Number.isInteger(resize.sizeGiB * 1024))
      issues.push(
        issue(`resizeDisks[${index}].sizeGiB`, 'must be a whole number of MiB', 'invalid'),
      );
    if ((change.removeDisks ?? []).includes(resize.diskId))
      issues.push(
        issue(`resizeDisks[${index}].diskId`, 'the same change removes this disk', 'conflict'),
      );
  });
  if (issues.length > 0) throw invalid(issues, context.provider);
}

// ---- 2. read ----------------------------------------------------------------------------------

function lines(textValue: string): string[] {
  return textValue
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

/**
 * Reads what the plan needs in one runMany: `dominfo`, live and persistent XML, and when the
 * change needs them `net-list --all`, `pool-list --all --name`, `domuuid` of the new name. When
 * disks are resized, a second runMany reads their capacities (`domblkinfo` of a disk the
 * definition being read holds, else `vol-dumpxml` of its volume).
 *
 * @throws NotFoundError (`vm`) when the domain does not exist.
 */
export async function readDomainForChange(
  virsh: Virsh,
  target: string,
  change: VmChange,
  context: Pick<ReconfigureContext, 'networks' | 'signal'>,
): Promise<DomainForChange> {
  const call = { signal: context.signal, idempotent: true };
  const needNetworks =
    context.networks === undefined &&
    (change.addNics ?? []).some((nic) => nic.connection !== 'bridge');
  const needPools = (change.addDisks ?? []).length > 0;
  const commands: string[][] = [
    ['dominfo', '--domain', target],
    ['dumpxml', '--domain', target],
    ['dumpxml', '--inactive', '--security-info', '--domain', target],
  ];
  const at = { networks: -1, pools: -1, name: -1 };
  if (needNetworks) at.networks = commands.push(['net-list', '--all']) - 1;
  if (needPools) at.pools = commands.push(['pool-list', '--all', '--name']) - 1;
  if (change.name !== undefined) at.name = commands.push(['domuuid', '--domain', change.name]) - 1;
  const results = await virsh.runMany(commands, call);
  const [info, liveXml, configXml] = results;
  for (const result of [info, liveXml, configXml]) if (result && !result.ok) throw result.error;
  const dominfo = parseDomInfo(info?.stdout ?? '');
  const active = dominfo.id !== undefined;
  const state: DomainForChange = {
    uuid: dominfo.uuid,
    name: dominfo.name,
    active,
    persistent: dominfo.persistent,
    managedSave: dominfo.managedSave,
    config: parseXml(configXml?.stdout ?? '', { what: 'persistent domain XML' }),
    live: active ? parseXml(liveXml?.stdout ?? '', { what: 'live domain XML' }) : undefined,
  };
  const optional = (index: number) => {
    const result = results[index];
    if (index < 0 || result === undefined) return undefined;
    return result;
  };
  const networks = optional(at.networks);
  if (networks !== undefined) {
    if (!networks.ok) throw networks.error;
    state.networks = new Set(parseNetList(networks.stdout).map((entry) => entry.name));
  }
  const pools = optional(at.pools);
  if (pools !== undefined) {
    if (!pools.ok) throw pools.error;
    // `pool-list --name` pads names with spaces on libvirt 9.0.
    state.pools = new Set(lines(pools.stdout));
  }
  const taken = optional(at.name);
  if (taken?.ok) state.nameTakenBy = taken.stdout.trim();
  if ((change.resizeDisks ?? []).length > 0)
    state.capacities = await readCapacities(virsh, state, change, context);
  return state;
}

async function readCapacities(
  virsh: Virsh,
  state: DomainForChange,
  change: VmChange,
  context: Pick<ReconfigureContext, 'signal'>,
): Promise<Map<string, number>> {
  const devs = [...new Set((change.resizeDisks ?? []).map((resize) => resize.diskId))];
  const reads: { dev: string; args: string[]; kind: 'blkinfo' | 'vol' }[] = [];
  for (const dev of devs) {
    const inLive = state.live !== undefined && diskNode(state.live, dev) !== undefined;
    const inConfig = diskNode(state.config, dev);
    if (inLive || (!state.active && inConfig !== undefined)) {
      reads.push({
        dev,
        args: ['domblkinfo', '--domain', state.uuid, '--device', dev],
        kind: 'blkinfo',
      });
    } else if (inConfig !== undefined) {
      const path = sourceFile(inConfig);
      if (path !== undefined)
        reads.push({ dev, args: ['vol-dumpxml', '--vol', path], kind: 'vol' });
    }
  }
  const capacities = new Map<string, number>();
  if (reads.length === 0) return capacities;
  const results = await virsh.runMany(
    reads.map((read) => read.args),
    { signal: context.signal, idempotent: true },
  );
  reads.forEach((read, index) => {
    const result = results[index];
    if (!result?.ok)
      throw result?.error ?? new ProviderApiError('no result', { fault: 'virsh-output' });
    const value =
      read.kind === 'blkinfo'
        ? parseKeyValues(result.stdout).Capacity
        : childOf(parseXml(result.stdout, { what: 'volume XML' }), 'capacity')?.text.trim();
    const bytes = Number(value);
    if (!Number.isSafeInteger(bytes))
      throw new ProviderApiError(
        `libvirt reported capacity ${JSON.stringify(value)} of ${read.dev}`,
        {
          fault: 'virsh-output',
        },
      );
    capacities.set(read.dev, bytes);
  });
  return capacities;
}

// ---- XML helpers ------------------------------------------------------------------------------

function devicesOf(root: XmlElement | undefined): XmlElement | undefined {
  return childOf(root, 'devices');
}

function diskNode(root: XmlElement | undefined, dev: string): XmlElement | undefined {
  return childrenOf(devicesOf(root), 'disk').find(
    (node) => attributeOf(childOf(node, 'target'), 'dev') === dev,
  );
}

function isDisk(node: XmlElement): boolean {
  const device = attributeOf(node, 'device') ?? 'disk';
  return device === 'disk' || device === 'lun';
}

function sourceFile(node: XmlElement): string | undefined {
  return attributeOf(childOf(node, 'source'), 'file');
}

function nicNode(root: XmlElement | undefined, mac: string): XmlElement | undefined {
  return childrenOf(devicesOf(root), 'interface').find(
    (node) => attributeOf(childOf(node, 'mac'), 'address')?.toLowerCase() === mac,
  );
}

/** The qemu-ga channel of a live XML is connected (the agent answers). */
function agentConnected(root: XmlElement | undefined): boolean {
  return childrenOf(devicesOf(root), 'channel').some((node) => {
    const target = childOf(node, 'target');
    return (
      attributeOf(target, 'name') === GUEST_AGENT_CHANNEL &&
      attributeOf(target, 'state') === 'connected'
    );
  });
}

function integerOf(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/** `<memory>`/`<currentMemory>` in KiB (libvirt prints KiB). */
function kibOf(node: XmlElement | undefined): number | undefined {
  if (node === undefined) return undefined;
  const unit = attributeOf(node, 'unit') ?? 'KiB';
  const scale: Record<string, number> = {
    KiB: 1,
    k: 1,
    MiB: 1024,
    M: 1024,
    GiB: 1024 ** 2,
    G: 1024 ** 2,
  };
  const value = integerOf(node.text);
  const factor = Object.hasOwn(scale, unit) ? scale[unit] : undefined;
  return value === undefined || factor === undefined ? undefined : value * factor;
}

interface CpuState {
  max: number;
  count: number;
  cores: number;
}

function cpuOf(root: XmlElement): CpuState {
  const vcpu = childOf(root, 'vcpu');
  const max = integerOf(vcpu?.text) ?? 1;
  const topology = pathOf(root, 'cpu', 'topology');
  return {
    max,
    count: integerOf(attributeOf(vcpu, 'current')) ?? max,
    cores:
      (integerOf(attributeOf(topology, 'cores')) ?? 1) *
      (integerOf(attributeOf(topology, 'threads')) ?? 1),
  };
}

interface MemoryState {
  maxMiB: number;
  sizeMiB: number;
}

function memoryOf(root: XmlElement): MemoryState {
  const maxKiB = kibOf(childOf(root, 'memory')) ?? 0;
  const sizeKiB = kibOf(childOf(root, 'currentMemory')) ?? maxKiB;
  return { maxMiB: Math.floor(maxKiB / 1024), sizeMiB: Math.floor(sizeKiB / 1024) };
}

/** Disk labels (`hvkit-disks` metadata) by target dev. */
function diskLabelsOf(root: XmlElement): Map<string, string> {
  const labels = new Map<string, string>();
  const node = childOf(childOf(root, 'metadata'), 'disks', HVKIT_DISKS_NS);
  for (const disk of childrenOf(node, 'disk', HVKIT_DISKS_NS)) {
    const dev = attributeOf(disk, 'target');
    if (dev !== undefined) labels.set(dev, disk.text);
  }
  return labels;
}

/**
 * An hvkit `<metadata>` element for `virsh metadata --key … --set`, WITHOUT namespace: libvirt
 * puts the element and its children in the `--uri` namespace under the `--key` prefix itself.
 * Measured on libvirt 9.0: an element that declares its own prefix (`<hvkit:tags
 * xmlns:hvkit=…>`, as `buildTagsMetadata` renders it) is refused with `internal error: failed to
 * create a new XML namespace`, for `--config` and `--live` alike.
 */
export function metadataXml(name: string, children: XmlElementNode[]): string {
  return renderXml(element(name, {}, children), { indent: false, subject: 'change' });
}

/** Namespace prefixes hvkit writes; other namespaces get `ns<N>` (matching is by URI). */
const KNOWN_PREFIXES: ReadonlyMap<string, string> = new Map([
  [HVKIT_TAGS_NS, 'hvkit'],
  [HVKIT_DISKS_NS, 'hvkit-disks'],
  ['https://hvkit.dev/libvirt/1/vm', 'hvkit-vm'],
]);

/**
 * An element read from libvirt as a writer node, so a definition can be redefined through the
 * writer (every value escaped again). Namespaced elements (only `<metadata>` children) get a
 * prefix per URI, declared where the namespace starts. Whitespace between child elements is
 * layout and is dropped; libvirt documents have no mixed content (refused if met).
 */
export function toWriterNode(
  node: XmlElement,
  parentUri = '',
  prefixes: Map<string, string> = new Map(KNOWN_PREFIXES),
): XmlElementNode {
  const attributes: Record<string, XmlAttributeValue> = {};
  let name = node.name;
  if (node.uri !== '') {
    let prefix = prefixes.get(node.uri);
    if (prefix === undefined) {
      prefix = `ns${prefixes.size}`;
      prefixes.set(node.uri, prefix);
    }
    name = `${prefix}:${node.name}`;
    if (node.uri !== parentUri) attributes[`xmlns:${prefix}`] = node.uri;
  }
  for (const [key, value] of Object.entries(node.attributes)) {
    if (key.includes(':') && !key.startsWith('xml:'))
      throw new ProviderApiError(
        `cannot rewrite the domain definition: attribute ${key} of <${node.name}> is in a namespace`,
        { fault: 'xml-namespace' },
      );
    attributes[key] = value;
  }
  if (node.children.length === 0)
    return element(name, attributes, node.text === '' ? undefined : text(node.text));
  if (node.text.trim() !== '')
    throw new ProviderApiError(
      `cannot rewrite the domain definition: <${node.name}> mixes text and elements`,
      {
        fault: 'xml-mixed-content',
      },
    );
  return element(
    name,
    attributes,
    node.children.map((child) => toWriterNode(child, node.uri, prefixes)),
  );
}

/**
 * The persistent definition with a new vCPU maximum, current count and cores per socket (whole
 * sockets of `cores`), rendered through the writer for `define`. `<vcpus>` (per-vCPU hot-plug
 * order, sized for the old maximum) is dropped: libvirt rebuilds it.
 */
export function definitionWithCpu(config: XmlElement, cpu: CpuState, name?: string): string {
  const prefixes = new Map(KNOWN_PREFIXES);
  const vcpuNode = childOf(config, 'vcpu');
  const vcpuAttributes: Record<string, XmlAttributeValue> = { ...(vcpuNode?.attributes ?? {}) };
  vcpuAttributes.current = cpu.count < cpu.max ? cpu.count : undefined;
  const vcpu = element('vcpu', vcpuAttributes, String(cpu.max));
  const topology = element('topology', {
    sockets: Math.max(1, Math.floor(cpu.max / cpu.cores)),
    dies: 1,
    cores: cpu.cores,
    threads: 1,
  });
  const cpuNode = childOf(config, 'cpu');
  const cpuElement =
    cpuNode === undefined
      ? element('cpu', {}, topology)
      : element(
          'cpu',
          { ...cpuNode.attributes },
          cpuNode.children
            .filter((child) => !(child.name === 'topology' && child.uri === ''))
            .map((child) => toWriterNode(child, '', prefixes)),
          topology,
        );
  const children: XmlElementNode[] = [];
  for (const child of config.children) {
    if (child.uri === '' && child.name === 'vcpus') continue;
    if (child.uri === '' && child.name === 'cpu') continue;
    if (child.uri === '' && child.name === 'vcpu') {
      children.push(vcpu, cpuElement);
      continue;
    }
    if (child.uri === '' && child.name === 'name' && name !== undefined) {
      children.push(element('name', {}, field(name, 'name')));
      continue;
    }
    children.push(toWriterNode(child, '', prefixes));
  }
  if (vcpuNode === undefined) children.push(vcpu, cpuElement);
  return renderXml(element(config.name, { ...config.attributes }, children), {
    subject: 'domain definition',
  });
}

// ---- 2b. plan ---------------------------------------------------------------------------------

type Libbus = 'virtio' | 'scsi' | 'sata' | 'ide';
const DEV_PREFIX: Readonly<Record<Libbus, string>> = {
  virtio: 'vd',
  scsi: 'sd',
  sata: 'sd',
  ide: 'hd',
};

/** The lowest free target dev of a prefix, over both definitions (cdroms included). */
function takeDev(prefix: string, taken: Set<string>): string {
  for (let index = 0; ; index++) {
    const dev = `${prefix}${diskLetters(index)}`;
    if (!taken.has(dev)) {
      taken.add(dev);
      return dev;
    }
  }
}

/** Volume names: the domain name's file-safe characters and the UUID's first 8 hex digits. */
export function volumeStem(name: string, uuid: string): string {
  const stem = name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+/, '')
    .slice(0, 40);
  return `${stem === '' ? 'vm' : stem}-${uuid.slice(0, 8)}`;
}

function preallocation(provisioning: string | undefined, format: 'qcow2' | 'raw'): Preallocation {
  if (provisioning === 'eagerZeroedThick') return 'full';
  if (provisioning === 'thick') return format === 'raw' ? 'full' : 'metadata';
  return 'thin';
}

/** `<disk>` for `attach-device` (same shape as `buildDomainXml`'s disks). */
export function diskDeviceXml(
  path: string,
  format: 'qcow2' | 'raw',
  dev: string,
  bus: string,
  at: string,
): string {
  return renderXml(
    element(
      'disk',
      { type: 'file', device: 'disk' },
      element('driver', { name: 'qemu', type: format, discard: 'unmap' }),
      element('source', { file: field(path, `${at}.storage`) }),
      element('target', { dev, bus }),
    ),
    { subject: 'change' },
  );
}

/** `<interface>` for `attach-device`. */
export function nicDeviceXml(
  nic: { network: string; model?: string | undefined; vlan?: number | undefined },
  kind: 'network' | 'bridge',
  mac: string,
  at: string,
  openvswitch = false,
): string {
  return renderXml(
    element(
      'interface',
      { type: kind },
      element('mac', { address: field(mac, `${at}.mac`) }),
      kind === 'network'
        ? element('source', { network: field(nic.network, `${at}.network`) })
        : element('source', { bridge: field(nic.network, `${at}.network`) }),
      kind === 'bridge' && openvswitch && element('virtualport', { type: 'openvswitch' }),
      nic.vlan !== undefined && element('vlan', {}, element('tag', { id: nic.vlan })),
      element('model', { type: nic.model ?? 'virtio' }),
    ),
    { subject: 'change' },
  );
}

function randomMac(taken: ReadonlySet<string>): string {
  for (;;) {
    const bytes = [...randomBytes(3)].map((byte) => byte.toString(16).padStart(2, '0'));
    const mac = ['52', '54', '00', ...bytes].join(':');
    if (!taken.has(mac)) return mac;
  }
}

/** Live + persistent flags of a command on a domain that is (or is not) active. */
function scope(active: boolean, live = active): string[] {
  return live ? ['--live', '--config'] : ['--config'];
}

class Planner {
  readonly steps: ReconfigureStep[] = [];
  readonly fields = new Map<string, FieldOutcome>();
  readonly warnings: Warning[] = [];
  readonly issues: SpecIssue[] = [];
  balloonTargetKiB: number | undefined;
  readonly #state: DomainForChange;
  readonly #context: ReconfigureContext;
  /** The name after the rename step: a later redefinition must carry it. */
  #newName: string | undefined;

  constructor(state: DomainForChange, context: ReconfigureContext) {
    this.#state = state;
    this.#context = context;
  }

  get #uuid(): string {
    return this.#state.uuid;
  }

  #mark(fieldName: string, live: boolean): void {
    this.fields.set(fieldName, !this.#state.active || live ? 'applied' : 'pending');
  }

  conflict(
    reason: 'invalid-power-state' | 'invalid-state' | 'already-exists',
    message: string,
  ): ConflictError {
    return new ConflictError(reason, message, { provider: this.#context.provider });
  }

  name(name: string | undefined): void {
    if (name === undefined) return;
    const state = this.#state;
    if (name !== state.name) {
      if (state.nameTakenBy !== undefined && state.nameTakenBy !== state.uuid)
        throw this.conflict(
          'already-exists',
          `name: a domain named ${JSON.stringify(name)} exists (${state.nameTakenBy})`,
        );
      if (state.active)
        throw this.conflict(
          'invalid-power-state',
          `name: libvirt cannot rename a running domain (${state.name}); power it off first`,
        );
      // Measured (libvirt 9.0): `Requested operation is not valid: domain with a managed saved
      // state can't be renamed`.
      if (state.managedSave)
        throw this.conflict(
          'invalid-power-state',
          `name: libvirt cannot rename a domain suspended to disk (${state.name}); resume it or discard the saved state first`,
        );
      this.steps.push({
        kind: 'virsh',
        field: 'name',
        args: ['domrename', '--domain', this.#uuid, '--new-name', name],
      });
      this.#newName = name;
    }
    this.fields.set('name', 'applied');
  }

  description(description: string | undefined): void {
    if (description === undefined) return;
    this.steps.push({
      kind: 'virsh',
      field: 'description',
      args: [
        'desc',
        '--domain',
        this.#uuid,
        ...scope(this.#state.active),
        '--new-desc',
        description,
      ],
    });
    this.fields.set('description', 'applied');
  }

  tags(tags: Record<string, string> | undefined): void {
    if (tags === undefined) return;
    const base = [
      'metadata',
      '--domain',
      this.#uuid,
      '--uri',
      HVKIT_TAGS_NS,
      ...scope(this.#state.active),
    ];
    this.steps.push({
      kind: 'virsh',
      field: 'tags',
      args:
        Object.keys(tags).length === 0
          ? [...base, '--remove']
          : [
              ...base,
              '--key',
              'hvkit',
              '--set',
              metadataXml(
                'tags',
                Object.entries(tags).map(([key, value]) =>
                  element('tag', { key: field(key, `tags.${key}`) }, field(value, `tags.${key}`)),
                ),
              ),
            ],
    });
    this.fields.set('tags', 'applied');
  }

  cpu(cpu: VmChange['cpu']): void {
    if (
      cpu === undefined ||
      (cpu.count === undefined && cpu.coresPerSocket === undefined && cpu.hotAdd === undefined)
    )
      return;
    const state = this.#state;
    const config = cpuOf(state.config);
    const cores = cpu.coresPerSocket ?? config.cores;
    const count = cpu.count ?? config.count;
    if (count % cores !== 0) {
      this.issues.push(
        issue(
          cpu.coresPerSocket !== undefined ? 'cpu.coresPerSocket' : 'cpu.count',
          `${count} vCPUs do not divide into sockets of ${cores} cores`,
          'invalid',
        ),
      );
      return;
    }
    // Hot-add is headroom (maximum above the count), kept as long as it is on: a count that
    // reaches the maximum doubles the maximum of the next boot.
    const hotAdd = cpu.hotAdd ?? config.max > config.count;
    let max = count;
    if (hotAdd) {
      if (config.max > count && config.max % cores === 0) max = config.max;
      else {
        const doubled = Math.min(count * 2, MAX_VCPUS);
        max = Math.max(count, doubled - (doubled % cores));
      }
    }
    // Persistent definition: a new maximum or topology needs a redefinition.
    if (max !== config.max || cores !== config.cores) {
      this.steps.push({
        kind: 'define',
        field: 'cpu',
        xml: definitionWithCpu(state.config, { max, count, cores }, this.#newName),
      });
    } else if (count !== config.count) {
      this.steps.push({
        kind: 'virsh',
        field: 'cpu.count',
        args: ['setvcpus', '--domain', this.#uuid, '--count', String(count), '--config'],
      });
    }
    // Running domain: more vCPUs within the booted maximum and topology plug now; the rest waits.
    const live = state.live === undefined ? undefined : cpuOf(state.live);
    let countNow = true;
    if (cpu.count !== undefined) {
      let now = live === undefined;
      if (live !== undefined) {
        const sameTopology = cores === live.cores;
        now = count === live.count || (sameTopology && count > live.count && count <= live.max);
        if (now && count > live.count) {
          this.steps.push({
            kind: 'virsh',
            field: 'cpu.count',
            args: ['setvcpus', '--domain', this.#uuid, '--count', String(count), '--live'],
          });
          // Measured on the bed: a plugged vCPU reaches the guest OFFLINE (its kernel onlines it
          // only through userspace: udev rules the bed's initramfs lacks). With the agent up,
          // `setvcpus --guest` (qemu-ga guest-set-vcpus) onlines it.
          if (agentConnected(state.live))
            this.steps.push({ kind: 'guest-vcpus', field: 'cpu.count', count });
        }
      }
      this.#mark('cpu.count', now);
      countNow = now;
    }
    if (cpu.coresPerSocket !== undefined)
      this.#mark('cpu.coresPerSocket', live === undefined || live.cores === cores);
    // The booted maximum cannot change: a hot-add switch is live only when it already holds.
    if (cpu.hotAdd !== undefined)
      this.#mark('cpu.hotAdd', live === undefined || (countNow && live.max > count === cpu.hotAdd));
  }

  memory(memory: VmChange['memory']): void {
    if (memory === undefined || (memory.sizeMiB === undefined && memory.hotAdd === undefined))
      return;
    const state = this.#state;
    const config = memoryOf(state.config);
    const size = memory.sizeMiB ?? config.sizeMiB;
    const configHotAdd = config.maxMiB > config.sizeMiB;
    const hotAdd = memory.hotAdd ?? configHotAdd;
    let max = size;
    if (hotAdd) {
      // As for vCPUs: headroom stays while hot-add is on.
      max = config.maxMiB > size ? config.maxMiB : Math.min(size * 2, MAX_MEMORY_MIB);
    }
    const configSet = (args: string[]) => this.steps.push({ kind: 'virsh', field: 'memory', args });
    if (max !== config.maxMiB)
      configSet(['setmaxmem', '--domain', this.#uuid, '--size', String(max * 1024), '--config']);
    if (size !== config.sizeMiB || max !== config.maxMiB)
      configSet(['setmem', '--domain', this.#uuid, '--size', String(size * 1024), '--config']);
    const live = state.live === undefined ? undefined : memoryOf(state.live);
    let sizeNow = true;
    if (memory.sizeMiB !== undefined) {
      // The balloon moves only on a domain set up with headroom (hot-add): without it, hvkit's
      // contract is that memory does not change while running (conformance: pending).
      const now = live === undefined || (configHotAdd && size <= live.maxMiB);
      if (live !== undefined && now) {
        this.steps.push({
          kind: 'virsh',
          field: 'memory.sizeMiB',
          args: ['setmem', '--domain', this.#uuid, '--size', String(size * 1024), '--live'],
        });
        if (agentConnected(state.live)) this.balloonTargetKiB = size * 1024;
      }
      this.#mark('memory.sizeMiB', now);
      sizeNow = now;
    }
    if (memory.hotAdd !== undefined)
      this.#mark(
        'memory.hotAdd',
        live === undefined || (sizeNow && live.maxMiB > size === memory.hotAdd),
      );
  }

  disks(change: VmChange): void {
    const state = this.#state;
    const hardware =
      (change.addDisks?.length ?? 0) +
      (change.removeDisks?.length ?? 0) +
      (change.resizeDisks?.length ?? 0);
    if (hardware === 0) return;
    const labels = diskLabelsOf(state.config);
    let labelsChanged = false;
    (change.resizeDisks ?? []).forEach((resize, index) => {
      this.#resize(resize, index);
    });
    (change.removeDisks ?? []).forEach((dev, index) => {
      const fieldName = `removeDisks[${index}]`;
      const inConfig = diskNode(state.config, dev);
      const inLive = diskNode(state.live, dev);
      const node = inConfig ?? inLive;
      if (node === undefined || !isDisk(node))
        throw new NotFoundError('disk', dev, `${fieldName}: no disk ${JSON.stringify(dev)}`, {
          provider: this.#context.provider,
        });
      this.steps.push({
        kind: 'remove-disk',
        field: fieldName,
        dev,
        config: inConfig !== undefined,
        live: inLive !== undefined,
        path: sourceFile(node),
      });
      this.fields.set(fieldName, 'applied');
      if (labels.delete(dev)) labelsChanged = true;
    });
    this.#addDisks(change, labels, () => {
      labelsChanged = true;
    });
    if (labelsChanged) {
      const base = [
        'metadata',
        '--domain',
        this.#uuid,
        '--uri',
        HVKIT_DISKS_NS,
        ...scope(state.active),
      ];
      this.steps.push({
        kind: 'virsh',
        args:
          labels.size === 0
            ? [...base, '--remove']
            : [
                ...base,
                '--key',
                'hvkit-disks',
                '--set',
                metadataXml(
                  'disks',
                  [...labels].map(([dev, name]) =>
                    element('disk', { target: dev }, field(name, 'addDisks.name')),
                  ),
                ),
              ],
      });
    }
  }

  #resize(resize: { diskId: string; sizeGiB: number }, index: number): void {
    const state = this.#state;
    const fieldName = `resizeDisks[${index}]`;
    const inConfig = diskNode(state.config, resize.diskId);
    const inLive = diskNode(state.live, resize.diskId);
    const node = inConfig ?? inLive;
    if (node === undefined || !isDisk(node))
      throw new NotFoundError(
        'disk',
        resize.diskId,
        `${fieldName}.diskId: no disk ${JSON.stringify(resize.diskId)}`,
        {
          provider: this.#context.provider,
        },
      );
    const bytes = Math.round(resize.sizeGiB * 1024) * MIB;
    const capacity = state.capacities?.get(resize.diskId);
    if (capacity === undefined)
      throw new ProviderApiError(`${fieldName}: the size of ${resize.diskId} could not be read`, {
        fault: 'disk-capacity',
        provider: this.#context.provider,
      });
    if (bytes < capacity) {
      this.issues.push(
        issue(
          `${fieldName}.sizeGiB`,
          `must not shrink disk ${resize.diskId} (now ${capacity / GIB} GiB); disks only grow`,
          'too_small',
        ),
      );
      return;
    }
    this.fields.set(fieldName, 'applied');
    if (bytes === capacity) return;
    // blockresize (QEMU block_resize) grows the image under a running guest and tells it;
    // a disk QEMU does not have open (domain off, or added for the next boot) grows as a volume.
    if (inLive !== undefined) {
      this.steps.push({
        kind: 'virsh',
        field: fieldName,
        args: [
          'blockresize',
          '--domain',
          this.#uuid,
          '--path',
          resize.diskId,
          '--size',
          `${bytes}B`,
        ],
      });
      return;
    }
    const path = sourceFile(node);
    if (path === undefined)
      throw new ProviderApiError(`${fieldName}: ${resize.diskId} is not a file volume`, {
        fault: 'disk-source',
        provider: this.#context.provider,
      });
    this.steps.push({
      kind: 'virsh',
      field: fieldName,
      args: ['vol-resize', '--vol', path, '--capacity', String(bytes)],
    });
  }

  #addDisks(change: VmChange, labels: Map<string, string>, labelsChanged: () => void): void {
    const state = this.#state;
    const adds = change.addDisks ?? [];
    if (adds.length === 0) return;
    const machine = attributeOf(pathOf(state.config, 'os', 'type'), 'machine') ?? '';
    const q35 = machine.includes('q35');
    const taken = new Set<string>();
    for (const root of [state.config, state.live])
      for (const node of childrenOf(devicesOf(root), 'disk')) {
        const dev = attributeOf(childOf(node, 'target'), 'dev');
        if (dev !== undefined) taken.add(dev);
      }
    const names = new Set(labels.values());
    const hasScsi = (root: XmlElement | undefined) =>
      childrenOf(devicesOf(root), 'controller').some(
        (node) => attributeOf(node, 'type') === 'scsi',
      );
    let scsiController = hasScsi(state.config);
    adds.forEach((disk, index) => {
      const at = `addDisks[${index}]`;
      const bus: Libbus = disk.bus === 'nvme' || disk.bus === undefined ? 'virtio' : disk.bus;
      if (bus === 'ide' && q35) {
        this.issues.push(issue(`${at}.bus`, 'q35 machines have no IDE: use sata'));
        return;
      }
      const pool = disk.storage ?? this.#context.defaultPool ?? 'default';
      if (state.pools !== undefined && !state.pools.has(pool))
        throw new NotFoundError(
          'storage',
          pool,
          `${at}.storage: no storage pool ${JSON.stringify(pool)}`,
          {
            provider: this.#context.provider,
          },
        );
      if (disk.name !== undefined) {
        if (names.has(disk.name))
          this.issues.push(
            issue(
              `${at}.name`,
              `the VM has a disk named ${JSON.stringify(disk.name)}`,
              'duplicate',
            ),
          );
        names.add(disk.name);
      }
      const dev = takeDev(DEV_PREFIX[bus], taken);
      if (bus === 'ide' && dev > 'hdd') {
        this.issues.push(issue(`${at}.bus`, 'a pc machine has 4 IDE slots', 'libvirt-ide'));
        return;
      }
      // SATA and IDE do not hot-plug (measured); a SCSI disk needs its controller live first.
      let live = state.active && (bus === 'virtio' || (bus === 'scsi' && hasScsi(state.live)));
      if (bus === 'scsi' && !scsiController) {
        scsiController = true;
        live = false;
        this.steps.push({
          kind: 'add-device',
          field: at,
          xml: renderXml(element('controller', { type: 'scsi', model: 'virtio-scsi' }), {
            subject: 'change',
          }),
          live: false,
        });
      }
      const format = disk.format === 'raw' ? 'raw' : 'qcow2';
      this.steps.push({
        kind: 'add-disk',
        field: at,
        dev,
        bus,
        live,
        volume: {
          pool,
          name: `${volumeStem(state.name, state.uuid)}-${dev}-${randomBytes(2).toString('hex')}.${format}`,
          sizeBytes: Math.round(disk.sizeGiB * 1024) * MIB,
          format,
          preallocation: preallocation(disk.provisioning, format),
        },
      });
      this.#mark(at, live);
      if (disk.name !== undefined) {
        labels.set(dev, disk.name);
        labelsChanged();
      }
    });
  }

  nics(change: VmChange): void {
    const state = this.#state;
    const existing = new Set<string>();
    for (const root of [state.config, state.live])
      for (const node of childrenOf(devicesOf(root), 'interface')) {
        const mac = attributeOf(childOf(node, 'mac'), 'address')?.toLowerCase();
        if (mac !== undefined) existing.add(mac);
      }
    (change.removeNics ?? []).forEach((id, index) => {
      const fieldName = `removeNics[${index}]`;
      const mac = id.toLowerCase();
      const inConfig = nicNode(state.config, mac);
      const inLive = nicNode(state.live, mac);
      const node = inConfig ?? inLive;
      if (node === undefined)
        throw new NotFoundError('nic', id, `${fieldName}: no NIC ${JSON.stringify(id)}`, {
          provider: this.#context.provider,
        });
      this.steps.push({
        kind: 'remove-nic',
        field: fieldName,
        mac,
        type: attributeOf(node, 'type') ?? 'network',
        config: inConfig !== undefined,
        live: inLive !== undefined,
      });
      this.fields.set(fieldName, 'applied');
    });
    (change.addNics ?? []).forEach((nic, index) => {
      const at = `addNics[${index}]`;
      const resolved = this.#context.networks?.get(nic.network);
      let kind: 'network' | 'bridge' = nic.connection === 'bridge' ? 'bridge' : 'network';
      if (resolved !== undefined) {
        if (nic.connection !== undefined && nic.connection !== resolved.kind) {
          this.issues.push(
            issue(
              `${at}.connection`,
              `${JSON.stringify(nic.network)} is a ${resolved.kind} on this host`,
              'libvirt-network',
            ),
          );
          return;
        }
        kind = resolved.kind;
      } else if (
        kind === 'network' &&
        (this.#context.networks !== undefined || !(state.networks?.has(nic.network) ?? false))
      ) {
        throw new NotFoundError(
          'network',
          nic.network,
          `${at}.network: no libvirt network ${JSON.stringify(nic.network)}`,
          {
            provider: this.#context.provider,
          },
        );
      }
      const mac = nic.mac?.toLowerCase() ?? randomMac(existing);
      if (nic.mac !== undefined && existing.has(mac)) {
        this.issues.push(issue(`${at}.mac`, `the VM has a NIC with MAC ${mac}`, 'duplicate'));
        return;
      }
      existing.add(mac);
      this.steps.push({
        kind: 'add-device',
        field: at,
        xml: nicDeviceXml(nic, kind, mac, at, resolved?.openvswitch === true),
        live: state.active,
      });
      this.fields.set(at, 'applied');
    });
  }
}

/**
 * Plans a change against what {@link readDomainForChange} read. Pure.
 *
 * @throws InvalidSpecError (every issue by field: CPU counts that do not divide into sockets,
 *   shrinking a disk, IDE on q35, duplicate disk names or MACs…), NotFoundError (`disk`, `nic`,
 *   `network`, `storage`), ConflictError (`invalid-power-state`: a rename of a running domain, or
 *   hardware of a domain with a managed-save image; `already-exists`: the new name is taken;
 *   `invalid-state`: a transient domain).
 */
export function planReconfigure(
  state: DomainForChange,
  change: VmChange,
  context: ReconfigureContext,
): ReconfigurePlan {
  const planner = new Planner(state, context);
  const hardware =
    change.cpu !== undefined ||
    change.memory !== undefined ||
    Boolean(change.addDisks?.length || change.removeDisks?.length || change.resizeDisks?.length) ||
    Boolean(change.addNics?.length || change.removeNics?.length);
  if (!state.persistent)
    throw planner.conflict(
      'invalid-state',
      `${state.name} is a transient domain: it has no definition to change`,
    );
  if (hardware && state.managedSave && !state.active)
    throw planner.conflict(
      'invalid-power-state',
      `${state.name} is suspended to disk (managed save): its hardware cannot change until it is resumed or the saved state is discarded`,
    );
  planner.name(change.name);
  planner.cpu(change.cpu);
  planner.memory(change.memory);
  planner.disks(change);
  planner.nics(change);
  planner.description(change.description);
  planner.tags(change.tags);
  if (planner.issues.length > 0) throw invalid(planner.issues, context.provider);
  return {
    uuid: state.uuid,
    steps: planner.steps,
    fields: planner.fields,
    warnings: planner.warnings,
    balloonTargetKiB: planner.balloonTargetKiB,
  };
}

// ---- 3. execute -------------------------------------------------------------------------------

/** What execution did, field by field. */
export interface ReconfigureOutcome {
  applied: string[];
  pendingRestart: string[];
  warnings: Warning[];
}

/** `applied`/`pendingRestart` lists: `addDisks[0]`, `addDisks[1]` collapse to `addDisks` when they agree. */
export function outcomeLists(fields: ReadonlyMap<string, FieldOutcome>): {
  applied: string[];
  pendingRestart: string[];
} {
  const groups = new Map<string, FieldOutcome[]>();
  for (const [name, outcome] of fields) {
    const array = /^([A-Za-z]+)\[\d+\]$/.exec(name)?.[1];
    if (array === undefined) continue;
    groups.set(array, [...(groups.get(array) ?? []), outcome]);
  }
  const applied: string[] = [];
  const pendingRestart: string[] = [];
  const seen = new Set<string>();
  for (const [name, outcome] of fields) {
    const array = /^([A-Za-z]+)\[\d+\]$/.exec(name)?.[1];
    const group = array === undefined ? undefined : groups.get(array);
    if (array && group?.every((item) => item === group[0])) {
      if (seen.has(array)) continue;
      seen.add(array);
      (outcome === 'applied' ? applied : pendingRestart).push(array);
      continue;
    }
    (outcome === 'applied' ? applied : pendingRestart).push(name);
  }
  return { applied, pendingRestart };
}

class Executor {
  readonly fields: Map<string, FieldOutcome>;
  readonly warnings: Warning[];
  readonly #virsh: Virsh;
  readonly #uuid: string;
  readonly #context: ReconfigureContext;
  readonly #created: VolumeDetails[] = [];
  readonly #attached = new Set<string>();
  done = 0;

  constructor(virsh: Virsh, plan: ReconfigurePlan, context: ReconfigureContext) {
    this.#virsh = virsh;
    this.#uuid = plan.uuid;
    this.#context = context;
    this.fields = new Map(plan.fields);
    this.warnings = [...plan.warnings];
  }

  #run(args: readonly string[], stdin?: string): Promise<string> {
    return this.#virsh.run(args, { signal: this.#context.signal, stdin });
  }

  #pending(fieldName: string | undefined): void {
    if (fieldName !== undefined) this.fields.set(fieldName, 'pending');
  }

  async createVolumes(
    steps: readonly ReconfigureStep[],
  ): Promise<Map<ReconfigureStep, VolumeDetails>> {
    const volumes = new Map<ReconfigureStep, VolumeDetails>();
    for (const step of steps) {
      if (step.kind !== 'add-disk') continue;
      const volume = await createVolume(this.#virsh, step.volume);
      this.#created.push(volume);
      volumes.set(step, volume);
    }
    return volumes;
  }

  /** Deletes volumes this run created and did not attach. Never throws. */
  async cleanUp(): Promise<void> {
    for (const volume of this.#created)
      if (!this.#attached.has(volume.path))
        await deleteVolume(this.#virsh, volume.pool, volume.name).catch(() => undefined);
  }

  /** `attach-device` live and persistent; a device that cannot hot-plug now is added for the next boot. */
  async #attach(fieldName: string, xml: string, live: boolean): Promise<void> {
    const base = ['attach-device', '--domain', this.#uuid, '--file', '/dev/stdin'];
    if (live) {
      try {
        await this.#run([...base, '--live', '--config'], xml);
        return;
      } catch (error) {
        if (!(HvkitError.isInstance(error) && NOT_HOTPLUGGABLE.test(error.message))) throw error;
        this.warnings.push({
          type: 'other',
          feature: fieldName,
          details: `not hot-pluggable now (${error.message}); added for the next boot`,
        });
      }
    }
    await this.#run([...base, '--config'], xml);
    // Reached after a refused live attach: the device waits for the next boot.
    if (live) this.#pending(fieldName);
  }

  /** Waits until the live XML no longer holds the device (`match`). */
  async #goneLive(match: (root: XmlElement) => boolean): Promise<boolean> {
    const until = Date.now() + (this.#context.detachWaitMs ?? DEFAULT_DETACH_WAIT_MS);
    for (;;) {
      const root = parseXml(
        await this.#virsh.run(['dumpxml', '--domain', this.#uuid], {
          signal: this.#context.signal,
          idempotent: true,
        }),
        {
          what: 'live domain XML',
        },
      );
      if (!match(root)) return true;
      if (Date.now() >= until) return false;
      await sleep(DETACH_POLL_MS, this.#context.signal);
    }
  }

  async step(
    step: ReconfigureStep,
    volumes: ReadonlyMap<ReconfigureStep, VolumeDetails>,
  ): Promise<void> {
    switch (step.kind) {
      case 'virsh':
        await this.#run(step.args);
        break;
      case 'guest-vcpus':
        await this.#guestVcpus(step);
        break;
      case 'define':
        await this.#run(['define', '--file', '/dev/stdin'], step.xml);
        break;
      case 'add-device':
        await this.#attach(step.field, step.xml, step.live);
        break;
      case 'add-disk': {
        const volume = volumes.get(step);
        if (volume === undefined) throw new TypeError('volume not created');
        const format = step.volume.format;
        await this.#attach(
          step.field,
          diskDeviceXml(volume.path, format, step.dev, step.bus, step.field),
          step.live,
        );
        this.#attached.add(volume.path);
        break;
      }
      case 'remove-disk':
        await this.#removeDisk(step);
        break;
      case 'remove-nic':
        await this.#removeNic(step);
        break;
    }
    this.done++;
  }

  async #removeDisk(step: Extract<ReconfigureStep, { kind: 'remove-disk' }>): Promise<void> {
    const flags = [...(step.live ? ['--live'] : []), ...(step.config ? ['--config'] : [])];
    await this.#run(['detach-disk', '--domain', this.#uuid, '--target', step.dev, ...flags]);
    if (step.live && !(await this.#goneLive((root) => diskNode(root, step.dev) !== undefined))) {
      this.#pending(step.field);
      this.warnings.push({
        type: 'other',
        feature: step.field,
        details: `the guest has not released ${step.dev} yet: it is gone from the definition and leaves the running VM when the guest allows or at the next power-off; its volume ${step.path ?? ''} is kept`,
      });
      return;
    }
    if (step.path === undefined) return;
    try {
      await this.#run(['vol-delete', '--vol', step.path]);
    } catch (error) {
      if (!NotFoundError.isInstance(error)) throw error;
      this.warnings.push({
        type: 'other',
        feature: step.field,
        details: `${step.path} is not a storage pool volume: left in place`,
      });
    }
  }

  /** Waits (bounded) for `balloon.current` to reach the target; a warning when it does not. */
  async waitForBalloon(targetKiB: number): Promise<void> {
    const until = Date.now() + (this.#context.balloonWaitMs ?? DEFAULT_BALLOON_WAIT_MS);
    let current: number | undefined;
    for (;;) {
      const stats = parseDomStats(
        await this.#virsh.run(['domstats', '--balloon', '--domain', this.#uuid], {
          signal: this.#context.signal,
          idempotent: true,
        }),
      )[0];
      current = Number(stats?.fields['balloon.current']);
      if (current === targetKiB || Date.now() >= until) break;
      await sleep(DETACH_POLL_MS, this.#context.signal);
    }
    if (current !== targetKiB)
      this.warnings.push({
        type: 'other',
        feature: 'memory.sizeMiB',
        details: `the guest's balloon is at ${Math.floor(current / 1024)} MiB, still moving to ${targetKiB / 1024} MiB`,
      });
  }

  /** The guest's vCPUs as qemu-ga sees them (`guest-get-vcpus`): how many, how many online. */
  async #guestVcpuState(): Promise<{ present: number; online: number }> {
    const reply = JSON.parse(
      await this.#run([
        'qemu-agent-command',
        '--domain',
        this.#uuid,
        '--cmd',
        JSON.stringify({ execute: 'guest-get-vcpus' }),
      ]),
    ) as { return?: { online?: unknown }[] };
    const cpus = Array.isArray(reply.return) ? reply.return : [];
    return { present: cpus.length, online: cpus.filter((cpu) => cpu.online === true).length };
  }

  /**
   * Brings the plugged vCPUs online through qemu-ga. The guest kernel learns of a plugged vCPU a
   * moment after `setvcpus --live` returns (measured: asked at once, `setvcpus --guest` succeeds
   * and onlines nothing), so this waits until the agent lists them, onlines them, and checks.
   */
  async #guestVcpus(step: Extract<ReconfigureStep, { kind: 'guest-vcpus' }>): Promise<void> {
    const deadline = Date.now() + GUEST_VCPU_WAIT_MS;
    try {
      for (;;) {
        const state = await this.#guestVcpuState();
        if (state.online >= step.count) return;
        if (state.present >= step.count) {
          await this.#run([
            'setvcpus',
            '--domain',
            this.#uuid,
            '--count',
            String(step.count),
            '--guest',
          ]);
          const after = await this.#guestVcpuState();
          if (after.online >= step.count) return;
        }
        if (Date.now() >= deadline) {
          throw new ProviderApiError(
            `the guest lists ${state.present} vCPUs, ${state.online} online, after ${GUEST_VCPU_WAIT_MS} ms`,
            { provider: this.#context.provider },
          );
        }
        await sleep(GUEST_VCPU_POLL_MS, this.#context.signal);
      }
    } catch (error) {
      if (!HvkitError.isInstance(error)) throw error;
      this.warnings.push({
        type: 'other',
        feature: step.field,
        details: `the vCPUs are plugged but the guest agent did not bring them online (${error.message}); the guest must online them`,
      });
    }
  }

  async #removeNic(step: Extract<ReconfigureStep, { kind: 'remove-nic' }>): Promise<void> {
    const flags = [...(step.live ? ['--live'] : []), ...(step.config ? ['--config'] : [])];
    await this.#run([
      'detach-interface',
      '--domain',
      this.#uuid,
      '--type',
      step.type,
      '--mac',
      step.mac,
      ...flags,
    ]);
    if (step.live && !(await this.#goneLive((root) => nicNode(root, step.mac) !== undefined))) {
      this.#pending(step.field);
      this.warnings.push({
        type: 'other',
        feature: step.field,
        details: `the guest has not released NIC ${step.mac} yet: it leaves the running VM when the guest allows or at the next power-off`,
      });
    }
  }
}

/**
 * Runs a plan, one virsh command at a time: new volumes first (all of them deleted again if one
 * fails), then every step in order. A failure stops the rest and deletes the new volumes not yet
 * attached; when earlier steps had already changed the domain, the error is a ProviderApiError
 * whose `details.completed` lists them (the original error is its `cause`), else the original.
 */
export async function executeReconfigurePlan(
  virsh: Virsh,
  plan: ReconfigurePlan,
  context: ReconfigureContext,
): Promise<ReconfigureOutcome> {
  const executor = new Executor(virsh, plan, context);
  const completed: string[] = [];
  try {
    const volumes = await executor.createVolumes(plan.steps);
    for (const step of plan.steps) {
      await executor.step(step, volumes);
      completed.push(step.field ?? step.kind);
    }
  } catch (error) {
    await executor.cleanUp();
    if (completed.length === 0) throw error;
    throw new ProviderApiError(
      `reconfigure stopped after ${[...new Set(completed)].join(', ')}: ${error instanceof Error ? error.message : String(error)}`,
      {
        provider: context.provider,
        cause: error,
        fault: 'partial-reconfigure',
        details: { completed },
      },
    );
  }
  if (plan.balloonTargetKiB !== undefined) await executor.waitForBalloon(plan.balloonTargetKiB);
  return { ...outcomeLists(executor.fields), warnings: executor.warnings };
}

/**
 * Reconfigures a domain (`target`: UUID or name): checks, reads, plans, runs, and returns core's
 * `ReconfigureResult` (`vm` from `context.describe`, default {@link describeDomain}).
 *
 * Per field: on a shut-off domain everything applies. On a running one: name → ConflictError
 * `invalid-power-state`; description, tags, disk growth apply live; `cpu.count` applies live when
 * it grows within the booted maximum and topology (hot-add), else at next boot; `memory.sizeMiB`
 * applies live (balloon) within the booted maximum when the domain has memory hot-add, else at
 * next boot; `coresPerSocket` and hot-add switches at next boot; added disks/NICs live where they
 * hot-plug, else at next boot; removals live once the guest released the device, else pending.
 * Every persistent change is made too, so the next boot has all of it.
 */
export async function reconfigureDomain(
  virsh: Virsh,
  target: string,
  change: VmChange,
  context: ReconfigureContext,
): Promise<ReconfigureResult> {
  checkChange(change, context);
  const state = await readDomainForChange(virsh, target, change, context);
  const plan = planReconfigure(state, change, context);
  const outcome = await executeReconfigurePlan(virsh, plan, context);
  const describe =
    context.describe ??
    ((uuid: string) =>
      describeDomain(
        virsh,
        uuid,
        { provider: context.provider, host: context.host },
        { signal: context.signal },
      ));
  return { ...outcome, vm: await describe(state.uuid) };
}

/**
 * `can()` answers for CPU and memory changes of a VM (from `get`): off → any change applies;
 * running with hot-add → grows live within the maximum (vCPUs never shrink live; memory does,
 * by balloon); running without → the change waits for the next boot (`ok` true, reason says so).
 * Undefined for other capabilities.
 */
export function reconfigureCan(
  vm: Vm,
  capability: CapabilityId,
): Omit<CanResult, 'capability'> | undefined {
  if (capability !== 'resources.cpu' && capability !== 'resources.memory') return undefined;
  const cpu = capability === 'resources.cpu';
  const what = cpu ? 'vCPU count' : 'memory size';
  if (vm.powerState === 'off') return { ok: true, reason: `VM is off: a new ${what} applies` };
  if (vm.powerState === 'suspended')
    return {
      ok: false,
      reason: `a suspended VM cannot change its ${what}; resume or power it off first`,
    };
  const hotAdd = cpu ? vm.cpu.hotAdd : vm.memory.hotAdd;
  if (!hotAdd)
    return {
      ok: true,
      reason: `VM runs without hot-add: a new ${what} is stored and applies at the next boot`,
    };
  return {
    ok: true,
    reason: cpu
      ? 'VM runs with CPU hot-add: more vCPUs up to the maximum apply now; fewer, or more than the maximum, at the next boot'
      : 'VM runs with memory hot-add: the balloon moves now within the maximum; more than the maximum applies at the next boot',
  };
}
