/**
 * Core's validated VmSpec → libvirt domain XML (`virsh define`). Pure: no I/O. The driver creates
 * the volumes, resolves network names and uploads the seed ISO first, and passes what it made in a
 * {@link DomainTarget}. The reverse mapping is in `domain-parse.ts`.
 *
 * Decisions a reader needs (checked against libvirt 9.0 / QEMU 7.2 on the test bed):
 * - **Escaping.** The XML is built with the typed writer of `../xml/xml-writer.ts`, which escapes
 *   every value through `escapeXml`; a value XML cannot carry is an `InvalidSpecError` naming the
 *   spec path. libvirt also refuses a `/` in a domain name (`XML error: name a/b cannot contain
 *   '/'`): refused here first, on `name`.
 * - **Unsupported → InvalidSpecError by path, never a silent drop**: CPU/memory reservations and
 *   limits (libvirt's cputune/memtune are not MHz/guarantees, and need cgroups), `nvme` disks
 *   (libvirt 9.0: `Invalid value for attribute 'bus' in element 'target': 'nvme'`), `ide` on q35
 *   (`IDE controllers are unsupported for this QEMU binary or machine type`), vmdk/vhdx volumes,
 *   storage policies, `distributed` NICs, placement cluster/folder/resource pool, and a VLAN on a
 *   connection that is not Open vSwitch (libvirt defines it, then refuses to start:
 *   `unsupported configuration: interface … - vlan tag not supported for this connection type`).
 * - **CPU hot-add**: `<vcpu current=count>max</vcpu>` with the topology sized for the maximum
 *   (`providerOptions.libvirt.maxCpuCount`, default twice the count in whole sockets). QEMU can
 *   plug vCPUs up to the maximum; it cannot unplug them (`setvcpus 1 --live` fails on the bed).
 * - **Memory** is `<memory>` (maximum) and `<currentMemory>` (size), with a virtio balloon
 *   (stats every 10 s). `memory.hotAdd` is balloon headroom: the maximum is
 *   `providerOptions.libvirt.maxMemoryMiB` (default twice the size) and the guest's balloon
 *   driver gives back the difference at boot. Not DIMM hot-plug: a guest without a balloon
 *   driver sees the maximum.
 * - **Disks** are `type='file'` on the volume path the driver created (`driver type` qcow2/raw,
 *   `discard='unmap'` so thin volumes stay thin, the default cache). Target devs are assigned in
 *   order per bus family (`vda…` virtio, `sda…` scsi+sata, `hda…` ide) and are the disk ids:
 *   libvirt keeps them for the domain's life. Disk labels (`disks[].name`) live in hvkit metadata.
 * - **Seed ISO** is a read-only cdrom after the disks: sata on q35, ide on pc.
 * - **Tags** are `<metadata><hvkit:tags xmlns:hvkit="https://hvkit.dev/libvirt/1"><hvkit:tag
 *   key="k">v</hvkit:tag>…`; disk labels `<hvkit-disks:disks xmlns:hvkit-disks=
 *   "https://hvkit.dev/libvirt/1/disks">`: one top-level element per namespace, which is what
 *   `virsh metadata --uri … --set` replaces, so tags can be rewritten without touching labels.
 * - **Devices every domain gets**: the qemu-ga channel `org.qemu.guest_agent.0`, a serial console
 *   (logged to `serialLogPath` when given), VNC on 127.0.0.1 with autoport (reached through an SSH
 *   forward), ACPI (needed for ACPI shutdown and by UEFI: `UEFI requires ACPI on this
 *   architecture`), and on q35 {@link SPARE_ROOT_PORTS} empty PCIe root ports for live attach.
 * - **Firmware** `efi` is `<os firmware='efi'>` (libvirt picks OVMF at start), secure boot adds the
 *   `secure-boot` + `enrolled-keys` firmware features and SMM. The test bed has no OVMF: such a
 *   domain defines, and start fails with `Unable to find any firmware to satisfy 'efi'`.
 * - **Not the builder's**: `image` (the driver copies it into the first volume), `cloudInit` and
 *   `customization` (the driver builds the seed ISO), `powerState` (the driver starts it),
 *   `placement.host`/`storage` (the driver's connection and volumes).
 */
import {
  type DiskSpec,
  InvalidSpecError,
  type NicSpec,
  NotFoundError,
  type SpecIssue,
  type VmSpec,
} from '@hvkit/core';
import {
  element,
  field,
  renderXml,
  type XmlChild,
  type XmlElementNode,
} from '../xml/xml-writer.js';
import { type LibvirtVmOptions, parseLibvirtOptions } from './libvirt-options.js';
import { type HvkitVmRecord, vmRecordElement } from './vm-metadata.js';

/** Namespace of hvkit's tags in `<metadata>`. */
export const HVKIT_TAGS_NS = 'https://hvkit.dev/libvirt/1';
/** Namespace of hvkit's disk labels in `<metadata>`. */
export const HVKIT_DISKS_NS = 'https://hvkit.dev/libvirt/1/disks';
/**
 * Empty PCIe root ports a q35 domain gets beyond its own devices: a PCIe device can be hot-plugged
 * only into an empty root port, and libvirt 9.0 leaves just one spare: measured on the bed, the
 * second live `attach-disk` then fails with `internal error: No more available PCI slots`.
 */
export const SPARE_ROOT_PORTS = 4;

/** Name of the qemu-ga virtio-serial channel. */
export const GUEST_AGENT_CHANNEL = 'org.qemu.guest_agent.0';

/** A volume the driver created (or cloned) for one disk of the spec. */
export interface DomainVolume {
  /** Path of the volume on the host (`virsh vol-path`). */
  path: string;
  /** Image format of the volume. */
  format: 'qcow2' | 'raw';
}

/** A network name as resolved on the host. */
export interface DomainNetwork {
  /** `network`: a libvirt network (`net-list`); `bridge`: a host bridge device. */
  kind: 'network' | 'bridge';
  /**
   * The connection is Open vSwitch (a bridge managed by OVS, or a libvirt network with an
   * openvswitch virtualport): the only kind here where libvirt applies a `<vlan>` tag.
   */
  openvswitch?: boolean | undefined;
}

/** What the driver made or resolved before building the XML. */
export interface DomainTarget {
  /** UUID to define the domain with; libvirt generates one when absent. */
  uuid?: string | undefined;
  /** One volume per `spec.disks` entry, in the same order. */
  volumes: readonly DomainVolume[];
  /** Network or bridge name (as in `nics[].network`) → what it is. */
  networks: ReadonlyMap<string, DomainNetwork>;
  /** Path of the NoCloud seed ISO volume, attached as a read-only cdrom. */
  seedIso?: string | undefined;
  /** File the serial console is logged to (on the host). */
  serialLogPath?: string | undefined;
  /** `type` of the domain when `providerOptions.libvirt.domainType` is not given. Default `kvm`. */
  defaultDomainType?: 'qemu' | 'kvm' | undefined;
  /** hvkit's own record (template flag, key and spec hashes, seed volume) put in `<metadata>`. */
  record?: HvkitVmRecord | undefined;
}

/** The built XML and the target dev given to each disk. */
export interface DomainXmlPlan {
  xml: string;
  /** Target dev (the disk id) of each `spec.disks` entry, in order (`vda`, `sda`…). */
  diskTargets: string[];
  /** Target dev of the seed ISO cdrom, when there is one. */
  seedTarget?: string | undefined;
}

// ---- helpers ----------------------------------------------------------------------------------

/** `0 → a`, `25 → z`, `26 → aa`: libvirt's disk name suffixes (virDiskNameToIndex). */
export function diskLetters(index: number): string {
  let name = '';
  let rest = index;
  do {
    name = String.fromCharCode(97 + (rest % 26)) + name;
    rest = Math.floor(rest / 26) - 1;
  } while (rest >= 0);
  return name;
}

type LibvirtBus = 'virtio' | 'scsi' | 'sata' | 'ide';

const DEV_PREFIX: Readonly<Record<LibvirtBus, 'vd' | 'sd' | 'hd'>> = {
  virtio: 'vd',
  scsi: 'sd',
  sata: 'sd',
  ide: 'hd',
};

/** Hands out target devs per prefix, in order. */
class TargetNames {
  private readonly next: Record<'vd' | 'sd' | 'hd', number> = { vd: 0, sd: 0, hd: 0 };
  take(bus: LibvirtBus): string {
    const prefix = DEV_PREFIX[bus];
    const index = this.next[prefix];
    this.next[prefix] = index + 1;
    return `${prefix}${diskLetters(index)}`;
  }
  count(prefix: 'vd' | 'sd' | 'hd'): number {
    return this.next[prefix];
  }
}

/** `pc` family (i440fx, IDE) or `q35` (AHCI, no IDE). */
function machineFamily(machine: string): 'pc' | 'q35' {
  return machine.includes('q35') ? 'q35' : 'pc';
}

function issue(path: string, message: string, code = 'libvirt-unsupported'): SpecIssue {
  return { path, message, code };
}

// ---- sections ---------------------------------------------------------------------------------

function cpuSection(
  spec: VmSpec,
  options: LibvirtVmOptions,
  issues: SpecIssue[],
): { vcpu: XmlElementNode; cpu: XmlElementNode } {
  const coresPerSocket = spec.cpu.coresPerSocket ?? 1;
  let maximum = spec.cpu.count;
  if (spec.cpu.hotAdd) {
    if (options.maxCpuCount !== undefined) {
      maximum = options.maxCpuCount;
      if (maximum < spec.cpu.count)
        issues.push(
          issue(
            'providerOptions.libvirt.maxCpuCount',
            `must be at least cpu.count (${spec.cpu.count})`,
          ),
        );
      else if (maximum % coresPerSocket !== 0)
        issues.push(
          issue(
            'providerOptions.libvirt.maxCpuCount',
            `must be a multiple of cpu.coresPerSocket (${coresPerSocket}): the topology is whole sockets`,
          ),
        );
    } else {
      // Twice the count in whole sockets, within QEMU's 768: headroom without a huge topology.
      const doubled = Math.min(spec.cpu.count * 2, 768);
      maximum = Math.max(spec.cpu.count, doubled - (doubled % coresPerSocket));
    }
  } else if (options.maxCpuCount !== undefined && options.maxCpuCount !== spec.cpu.count) {
    issues.push(
      issue('providerOptions.libvirt.maxCpuCount', 'needs cpu.hotAdd: true', 'libvirt-cpu'),
    );
  }
  const vcpu = element(
    'vcpu',
    { placement: 'static', current: maximum > spec.cpu.count ? spec.cpu.count : undefined },
    String(maximum),
  );
  const cpu = element(
    'cpu',
    {},
    element('topology', {
      sockets: Math.max(1, Math.floor(maximum / coresPerSocket)),
      dies: 1,
      cores: coresPerSocket,
      threads: 1,
    }),
  );
  if (spec.cpu.reservationMHz !== undefined)
    issues.push(
      issue(
        'cpu.reservationMHz',
        'libvirt has no CPU reservation in MHz (cputune shares are relative weights)',
      ),
    );
  if (spec.cpu.limitMHz !== undefined)
    issues.push(
      issue(
        'cpu.limitMHz',
        'libvirt limits CPU as a quota per period, not in MHz; not supported by this provider',
      ),
    );
  return { vcpu, cpu };
}

function memorySection(
  spec: VmSpec,
  options: LibvirtVmOptions,
  issues: SpecIssue[],
): XmlElementNode[] {
  const size = spec.memory.sizeMiB;
  let maximum = size;
  if (spec.memory.hotAdd) {
    maximum = options.maxMemoryMiB ?? Math.min(size * 2, 24 * 1024 * 1024);
    if (maximum < size)
      issues.push(
        issue('providerOptions.libvirt.maxMemoryMiB', `must be at least memory.sizeMiB (${size})`),
      );
  } else if (options.maxMemoryMiB !== undefined && options.maxMemoryMiB !== size) {
    issues.push(
      issue('providerOptions.libvirt.maxMemoryMiB', 'needs memory.hotAdd: true', 'libvirt-memory'),
    );
  }
  if (spec.memory.reservationMiB !== undefined)
    issues.push(
      issue(
        'memory.reservationMiB',
        'QEMU domains have no memory guarantee (memtune min_guarantee is not supported by QEMU)',
      ),
    );
  if (spec.memory.limitMiB !== undefined)
    issues.push(
      issue(
        'memory.limitMiB',
        'memory limits (memtune hard_limit) are not supported by this provider',
      ),
    );
  return [
    element('memory', { unit: 'KiB' }, String(Math.max(maximum, size) * 1024)),
    element('currentMemory', { unit: 'KiB' }, String(size * 1024)),
  ];
}

function osSection(
  spec: VmSpec,
  options: LibvirtVmOptions,
  machine: string,
): { os: XmlElementNode; features: XmlElementNode } {
  const efi = spec.firmware === 'efi';
  const kernelBoot = options.kernel !== undefined;
  const os = element(
    'os',
    { firmware: efi ? 'efi' : undefined },
    element('type', { arch: 'x86_64', machine }, 'hvm'),
    efi &&
      spec.secureBoot &&
      element(
        'firmware',
        {},
        element('feature', { enabled: 'yes', name: 'enrolled-keys' }),
        element('feature', { enabled: 'yes', name: 'secure-boot' }),
      ),
    kernelBoot &&
      element('kernel', {}, field(options.kernel ?? '', 'providerOptions.libvirt.kernel')),
    options.initrd !== undefined &&
      element('initrd', {}, field(options.initrd, 'providerOptions.libvirt.initrd')),
    options.cmdline !== undefined &&
      options.cmdline !== '' &&
      element('cmdline', {}, field(options.cmdline, 'providerOptions.libvirt.cmdline')),
    // With a kernel given, QEMU boots it and <boot> is not used.
    !kernelBoot && element('boot', { dev: 'hd' }),
  );
  const features = element(
    'features',
    {},
    element('acpi'),
    element('apic'),
    // Secure boot needs SMM so the guest cannot write the varstore behind the firmware's back.
    efi && spec.secureBoot && element('smm', { state: 'on' }),
  );
  return { os, features };
}

function diskBus(
  disk: DiskSpec,
  path: string,
  family: 'pc' | 'q35',
  issues: SpecIssue[],
): LibvirtBus | undefined {
  const bus = disk.bus ?? 'virtio';
  if (bus === 'nvme') {
    issues.push(
      issue(`${path}.bus`, 'libvirt 9.0 has no nvme disk bus: use virtio, scsi, sata or ide'),
    );
    return undefined;
  }
  if (bus === 'ide' && family === 'q35') {
    issues.push(
      issue(
        `${path}.bus`,
        "q35 machines have no IDE: use sata, or providerOptions.libvirt.machine: 'pc'",
      ),
    );
    return undefined;
  }
  return bus;
}

function diskElement(
  bus: LibvirtBus,
  dev: string,
  volume: DomainVolume,
  index: number,
): XmlElementNode {
  return element(
    'disk',
    { type: 'file', device: 'disk' },
    element('driver', { name: 'qemu', type: volume.format, discard: 'unmap' }),
    element('source', { file: field(volume.path, `target.volumes[${index}].path`) }),
    element('target', { dev, bus }),
  );
}

function nicElement(
  nic: NicSpec,
  path: string,
  target: DomainTarget,
  issues: SpecIssue[],
  notFound: NotFoundError[],
): XmlElementNode | undefined {
  if (nic.connection === 'distributed') {
    issues.push(
      issue(`${path}.connection`, 'libvirt has no distributed switches: use network or bridge'),
    );
    return undefined;
  }
  const resolved = target.networks.get(nic.network);
  if (resolved === undefined) {
    notFound.push(
      new NotFoundError(
        'network',
        nic.network,
        `${path}.network: ${nic.connection ?? 'network'} ${JSON.stringify(nic.network)} not found`,
      ),
    );
    return undefined;
  }
  const kind = nic.connection ?? resolved.kind;
  if (kind !== resolved.kind) {
    issues.push(
      issue(
        `${path}.connection`,
        `${JSON.stringify(nic.network)} is a ${resolved.kind} on this host, not a ${kind}`,
        'libvirt-network',
      ),
    );
    return undefined;
  }
  if (nic.vlan !== undefined && !resolved.openvswitch) {
    issues.push(
      issue(
        `${path}.vlan`,
        'libvirt applies a VLAN tag only on Open vSwitch connections (and SR-IOV); on a Linux bridge or NAT network it refuses to start the domain',
        'libvirt-vlan',
      ),
    );
  }
  const model = nic.model ?? 'virtio';
  const source =
    kind === 'network'
      ? element('source', { network: field(nic.network, `${path}.network`) })
      : element('source', { bridge: field(nic.network, `${path}.network`) });
  return element(
    'interface',
    { type: kind },
    nic.mac !== undefined && element('mac', { address: field(nic.mac, `${path}.mac`) }),
    source,
    // A libvirt network declares its own virtualport; a bare OVS bridge needs it on the NIC.
    kind === 'bridge' && resolved.openvswitch && element('virtualport', { type: 'openvswitch' }),
    nic.vlan !== undefined && element('vlan', {}, element('tag', { id: nic.vlan })),
    element('model', { type: model }),
  );
}

/** `<hvkit:tags>` for the domain's `<metadata>` (also what `virsh metadata --set` takes). */
export function tagsMetadataElement(tags: Readonly<Record<string, string>>): XmlElementNode {
  return element(
    'hvkit:tags',
    { 'xmlns:hvkit': HVKIT_TAGS_NS },
    Object.entries(tags).map(([key, value]) =>
      element('hvkit:tag', { key: field(key, `tags.${key}`) }, field(value, `tags.${key}`)),
    ),
  );
}

/**
 * The `<hvkit:tags>` element alone, for `virsh metadata <domain> --uri HVKIT_TAGS_NS --key hvkit
 * --set <xml>` (a live tag change).
 *
 * @throws InvalidSpecError naming `tags.<key>` for characters XML cannot carry.
 */
export function buildTagsMetadata(tags: Readonly<Record<string, string>>): string {
  return renderXml(tagsMetadataElement(tags), { indent: false });
}

// ---- build ------------------------------------------------------------------------------------

/**
 * The domain XML for a validated spec and what the driver prepared.
 *
 * @throws InvalidSpecError listing every issue by spec path: what libvirt cannot do (see the module
 *   comment), invalid `providerOptions.libvirt`, characters XML cannot carry, a `/` in the name.
 * @throws NotFoundError (`network`) for a NIC whose network `target.networks` does not hold.
 * @throws TypeError when `target.volumes` does not match `spec.disks`, or `cloudInit` has no
 *   `target.seedIso` (caller bugs).
 */
export function buildDomainXml(spec: VmSpec, target: DomainTarget): DomainXmlPlan {
  const issues: SpecIssue[] = [];
  const notFound: NotFoundError[] = [];
  const options = parseLibvirtOptions(spec);
  const disks = spec.disks ?? [];
  if (target.volumes.length !== disks.length)
    throw new TypeError(
      `target.volumes has ${target.volumes.length} entries for ${disks.length} disks`,
    );
  if (spec.cloudInit !== undefined && target.seedIso === undefined)
    throw new TypeError('spec.cloudInit needs target.seedIso (the driver builds the seed ISO)');

  if (spec.name.includes('/'))
    issues.push(issue('name', "libvirt domain names cannot contain '/'", 'libvirt-name'));
  for (const key of ['cluster', 'resourcePool', 'folder'] as const) {
    if (spec.placement?.[key] !== undefined)
      issues.push(issue(`placement.${key}`, `libvirt has no ${key}s`));
  }

  const machine = options.machine ?? 'q35';
  const family = machineFamily(machine);
  const domainType = options.domainType ?? target.defaultDomainType ?? 'kvm';
  const { vcpu, cpu } = cpuSection(spec, options, issues);
  const memory = memorySection(spec, options, issues);
  const { os, features } = osSection(spec, options, machine);

  const names = new TargetNames();
  const diskTargets: string[] = [];
  const diskElements: XmlElementNode[] = [];
  let scsi = false;
  disks.forEach((disk, index) => {
    const path = `disks[${index}]`;
    const volume = target.volumes[index] as DomainVolume;
    if (disk.format !== undefined && disk.format !== 'qcow2' && disk.format !== 'raw')
      issues.push(
        issue(
          `${path}.format`,
          `libvirt volumes are qcow2 or raw here; convert ${disk.format} images on import`,
        ),
      );
    else if (disk.format !== undefined && disk.format !== volume.format)
      throw new TypeError(`${path}: volume is ${volume.format}, the spec asks ${disk.format}`);
    if (disk.storagePolicy !== undefined)
      issues.push(issue(`${path}.storagePolicy`, 'libvirt has no storage policies'));
    const bus = diskBus(disk, path, family, issues);
    if (bus === undefined) return;
    if (bus === 'scsi') scsi = true;
    const dev = names.take(bus);
    diskTargets.push(dev);
    diskElements.push(diskElement(bus, dev, volume, index));
  });
  if (family === 'pc' && names.count('hd') > (target.seedIso === undefined ? 4 : 3))
    issues.push(
      issue(
        'disks',
        `a pc machine has 4 IDE slots${target.seedIso === undefined ? '' : ', one taken by the seed ISO'}`,
        'libvirt-ide',
      ),
    );

  let seedTarget: string | undefined;
  let seed: XmlChild;
  if (target.seedIso !== undefined) {
    const bus: LibvirtBus = family === 'q35' ? 'sata' : 'ide';
    seedTarget = names.take(bus);
    seed = element(
      'disk',
      { type: 'file', device: 'cdrom' },
      element('driver', { name: 'qemu', type: 'raw' }),
      element('source', { file: field(target.seedIso, 'target.seedIso') }),
      element('target', { dev: seedTarget, bus }),
      element('readonly'),
    );
  }

  const nics = (spec.nics ?? []).map((nic, index) =>
    nicElement(nic, `nics[${index}]`, target, issues, notFound),
  );
  // On q35 every virtio disk, NIC and controller (usb, virtio-serial, scsi) and the balloon sits
  // on a root port of its own; libvirt would add exactly those plus one. Explicit indexes: libvirt
  // refuses a pci controller without one (index 0 must be the pcie-root).
  const rootPorts: XmlChild[] = [];
  if (family === 'q35') {
    const used = names.count('vd') + nics.length + (scsi ? 1 : 0) + 3;
    rootPorts.push(element('controller', { type: 'pci', index: 0, model: 'pcie-root' }));
    for (let index = 1; index <= used + SPARE_ROOT_PORTS; index++)
      rootPorts.push(element('controller', { type: 'pci', index, model: 'pcie-root-port' }));
  }

  const diskLabels = disks
    .map((disk, index) => ({ name: disk.name, dev: diskTargets[index], index }))
    .filter((entry) => entry.name !== undefined && entry.dev !== undefined);
  const metadata: XmlChild[] = [];
  if (target.record !== undefined) metadata.push(vmRecordElement(target.record));
  if (spec.tags !== undefined && Object.keys(spec.tags).length > 0)
    metadata.push(tagsMetadataElement(spec.tags));
  if (diskLabels.length > 0)
    metadata.push(
      element(
        'hvkit-disks:disks',
        { 'xmlns:hvkit-disks': HVKIT_DISKS_NS },
        diskLabels.map((entry) =>
          element(
            'hvkit-disks:disk',
            { target: entry.dev },
            field(entry.name ?? '', `disks[${entry.index}].name`),
          ),
        ),
      ),
    );

  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'spec' });
  const [firstNotFound] = notFound;
  if (firstNotFound !== undefined) throw firstNotFound;

  const domain = element(
    'domain',
    { type: domainType },
    element('name', {}, field(spec.name, 'name')),
    target.uuid !== undefined && element('uuid', {}, field(target.uuid, 'target.uuid')),
    spec.description !== undefined &&
      spec.description !== '' &&
      element('description', {}, field(spec.description, 'description')),
    metadata.length > 0 && element('metadata', {}, metadata),
    memory,
    vcpu,
    os,
    features,
    cpu,
    // Windows keeps its RTC in local time; everything else in UTC.
    element('clock', { offset: spec.guestOs === 'windows' ? 'localtime' : 'utc' }),
    element('on_poweroff', {}, 'destroy'),
    element('on_reboot', {}, 'restart'),
    element('on_crash', {}, 'destroy'),
    element(
      'devices',
      {},
      rootPorts,
      scsi && element('controller', { type: 'scsi', index: 0, model: 'virtio-scsi' }),
      diskElements,
      seed,
      nics,
      element(
        'serial',
        { type: 'pty' },
        target.serialLogPath !== undefined &&
          element('log', {
            file: field(target.serialLogPath, 'target.serialLogPath'),
            append: 'off',
          }),
        element('target', { port: 0 }),
      ),
      element('console', { type: 'pty' }, element('target', { type: 'serial', port: 0 })),
      element(
        'channel',
        { type: 'unix' },
        element('target', { type: 'virtio', name: GUEST_AGENT_CHANNEL }),
      ),
      element(
        'graphics',
        { type: 'vnc', port: -1, autoport: 'yes', listen: '127.0.0.1' },
        element('listen', { type: 'address', address: '127.0.0.1' }),
      ),
      element('memballoon', { model: 'virtio' }, element('stats', { period: 10 })),
    ),
  );
  return { xml: renderXml(domain, { subject: 'spec' }), diskTargets, seedTarget };
}
