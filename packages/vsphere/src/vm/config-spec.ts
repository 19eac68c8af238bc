/**
 * Core's validated inputs → vim25 data objects for the envelope writer: the `config` of
 * `CreateVM_Task`, the `spec` of `ReconfigVM_Task`, `CloneVM_Task`, `RelocateVM_Task` and
 * `CustomizeVM_Task`. Pure: no I/O. The driver resolves names (datastores, networks, pools,
 * snapshots) against the inventory first and passes what it found.
 *
 * Decisions a reader needs:
 * - **Disks** are `VirtualDisk` + `VirtualDiskFlatVer2BackingInfo` with `fileOperation: create`,
 *   `fileName: "[datastore]"` (vSphere picks the file name in the VM folder) and an explicit
 *   `unitNumber` (vcsim refuses a new disk without one: `InvalidDeviceSpec`). Provisioning:
 *   `thin` → `thinProvisioned`, `thick` → neither flag (lazy zeroed), `eagerZeroedThick` →
 *   `eagerlyScrub`. Buses: `scsi` (ParaVirtual by default, 15 disks per controller, unit 7 is the
 *   controller's), `sata` (AHCI, 30), `nvme` (15), `ide` (2 per controller); up to 4 controllers
 *   of each (2 for IDE). `virtio` does not exist on vSphere.
 * - **Temporary keys** are negative: controllers `-100 - n` (SCSI), `-110 - n` (SATA), `-120 - n`
 *   (NVMe), `-130 - n` (IDE); other devices `-1, -2, …`. vSphere maps them to real keys.
 * - **Disk edits** (grow) send the whole device as read back (`config.hardware.device`), with
 *   only the capacity changed, and always with `deviceInfo`: vcsim panics on an edit without it.
 *   Fields and types the vim25 table does not know (a newer server) are left out, which in an
 *   edit means "unchanged".
 * - **NICs**: `vmxnet3` (default), `e1000`, `e1000e`. Standard port groups use
 *   `VirtualEthernetCardNetworkBackingInfo` (name + moref), distributed ones
 *   `VirtualEthernetCardDistributedVirtualPortBackingInfo`. A VLAN is a property of the port
 *   group on vSphere, so `nics[i].vlan` is accepted only when it is the port group's VLAN.
 * - **cloud-init** uses the VMware datasource's guestinfo keys (cloud-init
 *   `DataSourceVMware`): `guestinfo.metadata`, `guestinfo.userdata`, each with `.encoding` =
 *   `base64`. There is no network key of its own: the network config goes into the metadata as
 *   `network` (base64) + `network.encoding`. Static addressing from `nics[]` becomes a netplan v2
 *   config matched by MAC (or by name `e*` for a VM with one NIC). Every value is sent with
 *   `xsi:type="xsd:string"`: vcsim stores an untyped `OptionValue.value` as nothing.
 * - **Tags** go to `guestinfo.hvkit.tags` as JSON (readable by the guest: not for secrets).
 * - Without cloud-init, static addressing and `customization` are applied by `CustomizeVM_Task`
 *   with {@link buildCustomizationSpec} (Linux only).
 */
import {
  type CloudInit,
  ConflictError,
  type DiskSpec,
  InvalidSpecError,
  MAX_DISK_GIB,
  type NicSpec,
  NotFoundError,
  netplanEthernet,
  type ParsedInput,
  type SpecIssue,
  UnsupportedCapabilityError,
  type VmSpec,
  type Warning,
} from '@hvkit/core';
import { z } from 'zod';
import type {
  DataObject,
  ManagedObjectReference,
  SoapValue,
  TypedScalar,
} from '../soap/soap-envelope.js';
import { escapeXml } from '../soap/soap-escape.js';
import { fieldsOf } from '../soap/vim-types.js';

// ---- provider options -------------------------------------------------------------------------

/** `providerOptions.vsphere` of a VmSpec. */
export const VsphereVmOptionsSchema = z
  .object({
    /**
     * vSphere guest id (`ubuntu64Guest`, `rhel9_64Guest`, `windows2019srv_64Guest`…); overrides
     * the mapping of `guestOs`.
     */
    guestId: z
      .string()
      .regex(
        /^(?=.{1,64}$)[A-Za-z][A-Za-z0-9_]*Guest[A-Za-z0-9_]*$/,
        'must be a vSphere guest id like ubuntu64Guest',
      )
      .optional(),
    /** SCSI controller model for `scsi` disks. Default `pvscsi` (ParaVirtual). */
    scsiController: z.enum(['pvscsi', 'lsilogic', 'lsilogicSas', 'buslogic']).optional(),
  })
  .strict();
/** See {@link VsphereVmOptionsSchema}. */
export type VsphereVmOptions = z.infer<typeof VsphereVmOptionsSchema>;

/**
 * Parses `providerOptions.vsphere` of a spec (absent: `{}`).
 *
 * @throws InvalidSpecError with paths under `providerOptions.vsphere`.
 */
export function parseVsphereOptions(spec: {
  providerOptions?: Record<string, Record<string, unknown>> | undefined;
}): VsphereVmOptions {
  const raw = spec.providerOptions?.vsphere;
  if (raw === undefined) return {};
  const parsed = VsphereVmOptionsSchema.safeParse(raw);
  if (!parsed.success)
    throw InvalidSpecError.fromZod(parsed.error, {
      subject: 'spec',
      pathPrefix: ['providerOptions', 'vsphere'],
    });
  return parsed.data;
}

// ---- what the driver resolves -----------------------------------------------------------------

/** A network name as found in the inventory. `vlan` is the port group's VLAN id, when known. */
export type ResolvedNetwork =
  | { kind: 'network'; moref: ManagedObjectReference; vlan?: number | undefined }
  | { kind: 'distributed'; switchUuid: string; portgroupKey: string; vlan?: number | undefined };

/**
 * What the driver looked up in the inventory before building a create or reconfigure spec.
 * Names the spec uses but this does not hold raise `NotFoundError`.
 */
export interface CreateTarget {
  /** Datastore for the VM's files and for disks that name none, unless `placement.storage` does. */
  defaultDatastore: string;
  /** Names of the datastores that exist (and may be used). */
  datastores: readonly string[];
  /** Network, port group or distributed port group name → its backing. */
  networks: ReadonlyMap<string, ResolvedNetwork>;
  /**
   * Guest id when `guestOs` is omitted and `providerOptions.vsphere.guestId` is not given.
   * Default `otherLinux64Guest` (`guestOs` defaults to `linux`).
   */
  defaultGuestId?: string | undefined;
  /**
   * For disks with `sourceImageId`: the datastore path of the copy the driver made beforehand
   * (`[ds] folder/disk.vmdk`), keyed by the disk's index in `disks` (or `addDisks`). That file is
   * attached instead of creating a blank disk.
   */
  diskFiles?: ReadonlyMap<number, string> | undefined;
}

// ---- small helpers ----------------------------------------------------------------------------

function string(value: string): TypedScalar {
  return { $xsd: 'string', value };
}

function optionValue(key: string, value: string): DataObject {
  return { $type: 'OptionValue', key, value: string(value) };
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** Records an issue when `value` holds a character an XML document cannot carry. */
function checkXml(value: string, path: string, issues: SpecIssue[]): void {
  try {
    escapeXml(value, path);
  } catch (error) {
    if (InvalidSpecError.isInstance(error)) issues.push(...error.issues);
    else throw error;
  }
}

/** `sizeGiB` in KiB; an issue when it is not a whole number of MiB. */
function capacityKiB(sizeGiB: number, path: string, issues: SpecIssue[]): number | undefined {
  const mebibytes = sizeGiB * 1024;
  if (!Number.isInteger(mebibytes) || sizeGiB <= 0) {
    issues.push({ path, code: 'vsphere-disk-size', message: 'must be a whole number of MiB' });
    return undefined;
  }
  return mebibytes * 1024;
}

function datastorePath(name: string): string {
  return `[${name}]`;
}

function checkDatastore(
  name: string,
  path: string,
  target: CreateTarget,
  issues: SpecIssue[],
  notFound: NotFoundError[],
): boolean {
  if (/[[\]]/.test(name)) {
    issues.push({
      path,
      code: 'vsphere-datastore',
      message: 'vSphere datastore paths cannot name a datastore containing [ or ]',
    });
    return false;
  }
  if (!target.datastores.includes(name)) {
    notFound.push(
      new NotFoundError('storage', name, `${path}: datastore ${JSON.stringify(name)} not found`),
    );
    return false;
  }
  return true;
}

function fail(issues: SpecIssue[], notFound: NotFoundError[], subject: string): void {
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject });
  const [first] = notFound;
  if (first !== undefined) throw first;
}

// ---- guest ids --------------------------------------------------------------------------------

const GUEST_IDS: Readonly<Record<NonNullable<VmSpec['guestOs']>, string>> = {
  linux: 'otherLinux64Guest',
  windows: 'windows9_64Guest',
  other: 'otherGuest64',
};

/**
 * The guest id for a spec: `providerOptions.vsphere.guestId`, else the mapping of `guestOs`
 * (linux → `otherLinux64Guest`, windows → `windows9_64Guest`, other → `otherGuest64`), else
 * `defaultGuestId`, else `otherLinux64Guest`.
 */
export function guestIdOf(
  spec: Pick<VmSpec, 'guestOs'>,
  options: VsphereVmOptions,
  defaultGuestId?: string,
): string {
  if (options.guestId !== undefined) return options.guestId;
  if (spec.guestOs !== undefined) return GUEST_IDS[spec.guestOs];
  return defaultGuestId ?? GUEST_IDS.linux;
}

// ---- controllers and units --------------------------------------------------------------------

/** Disk buses vSphere has. */
type VsphereBus = 'scsi' | 'sata' | 'nvme' | 'ide';

interface BusRules {
  /** Controllers a VM can have. */
  controllers: number;
  /** Unit numbers a disk can take on one controller, in the order they are used. */
  units: readonly number[];
  /** First temporary key of a new controller (then -1 per controller). */
  keyBase: number;
}

function range(count: number, skip?: number): number[] {
  return Array.from({ length: count }, (_, index) => index).filter((unit) => unit !== skip);
}

const BUS_RULES: Readonly<Record<VsphereBus, BusRules>> = {
  // Unit 7 is the SCSI controller's own.
  scsi: { controllers: 4, units: range(16, 7), keyBase: -100 },
  sata: { controllers: 4, units: range(30), keyBase: -110 },
  nvme: { controllers: 4, units: range(15), keyBase: -120 },
  ide: { controllers: 2, units: range(2), keyBase: -130 },
};

const SCSI_TYPES: Readonly<Record<NonNullable<VsphereVmOptions['scsiController']>, string>> = {
  pvscsi: 'ParaVirtualSCSIController',
  lsilogic: 'VirtualLsiLogicController',
  lsilogicSas: 'VirtualLsiLogicSASController',
  buslogic: 'VirtualBusLogicController',
};

const CONTROLLER_BUS: Readonly<Record<string, VsphereBus>> = {
  ParaVirtualSCSIController: 'scsi',
  VirtualLsiLogicController: 'scsi',
  VirtualLsiLogicSASController: 'scsi',
  VirtualBusLogicController: 'scsi',
  VirtualAHCIController: 'sata',
  VirtualSATAController: 'sata',
  VirtualNVMEController: 'nvme',
  VirtualIDEController: 'ide',
};

const ETHERNET_TYPES = new Set([
  'VirtualEthernetCard',
  'VirtualVmxnet',
  'VirtualVmxnet2',
  'VirtualVmxnet3',
  'VirtualVmxnet3Vrdma',
  'VirtualE1000',
  'VirtualE1000e',
  'VirtualPCNet32',
  'VirtualSriovEthernetCard',
]);

const NIC_TYPES: Readonly<Partial<Record<NonNullable<NicSpec['model']>, string>>> = {
  vmxnet3: 'VirtualVmxnet3',
  e1000: 'VirtualE1000',
  e1000e: 'VirtualE1000e',
};

function newController(bus: VsphereBus, key: number, busNumber: number, scsiType: string) {
  switch (bus) {
    case 'scsi':
      return {
        $type: scsiType,
        key,
        busNumber,
        sharedBus: 'noSharing',
        scsiCtlrUnitNumber: 7,
      } satisfies DataObject;
    case 'sata':
      return { $type: 'VirtualAHCIController', key, busNumber } satisfies DataObject;
    case 'nvme':
      return { $type: 'VirtualNVMEController', key, busNumber } satisfies DataObject;
    case 'ide':
      return { $type: 'VirtualIDEController', key, busNumber } satisfies DataObject;
  }
}

/** One controller a new disk can go on: its key, and the units still free. */
interface ControllerSlot {
  bus: VsphereBus;
  key: number;
  busNumber: number;
  free: number[];
}

/**
 * Hands out controller + unit for new disks: existing controllers first (reconfigure), then new
 * controllers added to `deviceChange` with temporary keys.
 */
class DiskPlacer {
  private readonly slots: ControllerSlot[] = [];
  readonly newControllers: DataObject[] = [];
  private readonly usedBusNumbers: Record<VsphereBus, Set<number>> = {
    scsi: new Set(),
    sata: new Set(),
    nvme: new Set(),
    ide: new Set(),
  };

  constructor(
    private readonly scsiType: string,
    existing: readonly ControllerSlot[] = [],
  ) {
    for (const slot of existing) {
      this.slots.push(slot);
      this.usedBusNumbers[slot.bus].add(slot.busNumber);
    }
  }

  place(bus: VsphereBus): { controllerKey: number; unitNumber: number } | undefined {
    let slot = this.slots.find((item) => item.bus === bus && item.free.length > 0);
    if (slot === undefined) {
      const rules = BUS_RULES[bus];
      const busNumber = range(rules.controllers).find(
        (number) => !this.usedBusNumbers[bus].has(number),
      );
      if (busNumber === undefined) return undefined;
      const created = this.newControllers.filter(
        (controller) => CONTROLLER_BUS[controller.$type] === bus,
      ).length;
      const key = rules.keyBase - created;
      this.usedBusNumbers[bus].add(busNumber);
      this.newControllers.push(newController(bus, key, busNumber, this.scsiType));
      slot = { bus, key, busNumber, free: [...rules.units] };
      this.slots.push(slot);
    }
    const unitNumber = slot.free.shift() as number;
    return { controllerKey: slot.key, unitNumber };
  }
}

function vsphereBus(
  bus: DiskSpec['bus'],
  path: string,
  issues: SpecIssue[],
): VsphereBus | undefined {
  const value = bus ?? 'scsi';
  if (value === 'virtio') {
    issues.push({
      path,
      code: 'vsphere-bus',
      message: 'vSphere has no virtio disk bus: use scsi, sata, nvme or ide',
    });
    return undefined;
  }
  return value;
}

// ---- disks and NICs ---------------------------------------------------------------------------

interface DeviceContext {
  target: CreateTarget;
  placer: DiskPlacer;
  nextKey: () => number;
  issues: SpecIssue[];
  notFound: NotFoundError[];
  warnings: Warning[];
  /** Datastore of disks that name none. */
  datastore: string;
}

function diskChange(
  disk: DiskSpec,
  index: number,
  path: string,
  context: DeviceContext,
): DataObject | undefined {
  const { issues } = context;
  const bus = vsphereBus(disk.bus, `${path}.bus`, issues);
  const kib = capacityKiB(disk.sizeGiB, `${path}.sizeGiB`, issues);
  // A raw image copied for the VM is attached as the data extent of a flat VMDK.
  const attachedRaw = disk.format === 'raw' && disk.sourceImageId !== undefined;
  if (disk.format !== undefined && disk.format !== 'vmdk' && !attachedRaw) {
    issues.push({
      path: `${path}.format`,
      code: 'vsphere-format',
      message: `vSphere stores disks as vmdk; convert ${disk.format} images on import`,
    });
  }
  if (disk.name !== undefined) {
    context.warnings.push({
      type: 'unsupported',
      feature: `${path}.name`,
      details: 'vSphere disks have no user label; the disk is known by its device key',
    });
  }
  if (disk.storagePolicy !== undefined) {
    context.warnings.push({
      type: 'unsupported',
      feature: `${path}.storagePolicy`,
      details: 'storage policies are not applied by this provider; the datastore default applies',
    });
  }
  const datastore = disk.storage ?? context.datastore;
  const datastoreOk =
    disk.storage === undefined ||
    checkDatastore(disk.storage, `${path}.storage`, context.target, issues, context.notFound);
  let existingFile: string | undefined;
  if (disk.sourceImageId !== undefined) {
    existingFile = context.target.diskFiles?.get(index);
    if (existingFile === undefined) {
      // A caller bug, not user input: the driver copies the image before building the spec.
      throw new TypeError(
        `${path}.sourceImageId: the driver must copy the image and pass its path in target.diskFiles`,
      );
    }
  }
  if (bus === undefined || kib === undefined || !datastoreOk) return undefined;
  const slot = context.placer.place(bus);
  if (slot === undefined) {
    issues.push({
      path: `${path}.bus`,
      code: 'vsphere-bus',
      message: `every ${bus} controller slot is taken (vSphere allows ${BUS_RULES[bus].controllers} controllers with ${BUS_RULES[bus].units.length} disks each)`,
    });
    return undefined;
  }
  const provisioning = disk.provisioning ?? 'thin';
  const backing: DataObject = {
    $type: 'VirtualDiskFlatVer2BackingInfo',
    fileName: existingFile ?? datastorePath(datastore),
    diskMode: 'persistent',
    thinProvisioned: provisioning === 'thin',
  };
  if (provisioning === 'eagerZeroedThick') backing.eagerlyScrub = true;
  const change: DataObject = {
    $type: 'VirtualDeviceConfigSpec',
    operation: 'add',
    device: {
      $type: 'VirtualDisk',
      key: context.nextKey(),
      backing,
      controllerKey: slot.controllerKey,
      unitNumber: slot.unitNumber,
      capacityInKB: kib,
      capacityInBytes: kib * 1024,
    },
  };
  // An attached copy exists already; only a blank disk is created.
  if (existingFile === undefined) change.fileOperation = 'create';
  return change;
}

function nicChange(nic: NicSpec, path: string, context: DeviceContext): DataObject | undefined {
  const { issues } = context;
  const type = NIC_TYPES[nic.model ?? 'vmxnet3'];
  if (type === undefined) {
    issues.push({
      path: `${path}.model`,
      code: 'vsphere-nic-model',
      message: `vSphere has no ${nic.model} NIC: use vmxnet3, e1000 or e1000e`,
    });
  }
  if (nic.connection === 'bridge') {
    issues.push({
      path: `${path}.connection`,
      code: 'vsphere-network',
      message: 'vSphere has no host bridges: attach the NIC to a port group',
    });
    return undefined;
  }
  const resolved = context.target.networks.get(nic.network);
  if (resolved === undefined) {
    context.notFound.push(
      new NotFoundError(
        'network',
        nic.network,
        `${path}.network: network ${JSON.stringify(nic.network)} not found`,
      ),
    );
    return undefined;
  }
  if (nic.connection !== undefined && nic.connection !== resolved.kind) {
    issues.push({
      path: `${path}.connection`,
      code: 'vsphere-network',
      message:
        resolved.kind === 'distributed'
          ? `${JSON.stringify(nic.network)} is a distributed port group: use connection 'distributed'`
          : `${JSON.stringify(nic.network)} is a standard port group, not a distributed one`,
    });
  }
  if (nic.vlan !== undefined && nic.vlan !== resolved.vlan) {
    issues.push({
      path: `${path}.vlan`,
      code: 'vsphere-vlan',
      message: `vSphere sets the VLAN on the port group, not the NIC: ${JSON.stringify(nic.network)} ${resolved.vlan === undefined ? 'has no known VLAN' : `is on VLAN ${resolved.vlan}`}; choose a port group on VLAN ${nic.vlan}`,
    });
  }
  if (type === undefined) return undefined;
  const backing: DataObject =
    resolved.kind === 'network'
      ? {
          $type: 'VirtualEthernetCardNetworkBackingInfo',
          deviceName: nic.network,
          network: resolved.moref,
        }
      : {
          $type: 'VirtualEthernetCardDistributedVirtualPortBackingInfo',
          port: {
            $type: 'DistributedVirtualSwitchPortConnection',
            switchUuid: resolved.switchUuid,
            portgroupKey: resolved.portgroupKey,
          },
        };
  const device: DataObject = {
    $type: type,
    key: context.nextKey(),
    backing,
    connectable: {
      $type: 'VirtualDeviceConnectInfo',
      startConnected: true,
      allowGuestControl: true,
      connected: true,
    },
    addressType: nic.mac === undefined ? 'generated' : 'manual',
  };
  if (nic.mac !== undefined) device.macAddress = nic.mac;
  return { $type: 'VirtualDeviceConfigSpec', operation: 'add', device };
}

function allocation(reservation: number | undefined, limit: number | undefined) {
  if (reservation === undefined && limit === undefined) return undefined;
  const info: DataObject = { $type: 'ResourceAllocationInfo' };
  if (reservation !== undefined) info.reservation = reservation;
  // vSphere's "unlimited" is -1, its default: a limit is only written when one is asked for.
  if (limit !== undefined) info.limit = limit;
  return info;
}

function tagsOption(tags: Record<string, string>): DataObject {
  return optionValue('guestinfo.hvkit.tags', JSON.stringify(tags));
}

// ---- cloud-init -------------------------------------------------------------------------------

/** Options of {@link cloudInitExtraConfig}. */
export interface CloudInitOptions {
  /**
   * MACs of the NICs by index, where known (read back after creation); `nics[i].mac` wins. A NIC
   * with addressing needs one unless it is the VM's only NIC.
   */
  macs?: readonly (string | undefined)[] | undefined;
  /** Written as `local-hostname` unless the metadata has one. */
  hostname?: string | undefined;
  /** Field path of the NIC list in errors. Default `nics`. */
  nicsPath?: string | undefined;
}

/** What {@link cloudInitExtraConfig} returns. */
export interface CloudInitExtraConfig {
  /** `OptionValue`s for `extraConfig`, every value typed `xsd:string`. */
  extraConfig: DataObject[];
  warnings: Warning[];
}

function addressed(nic: NicSpec): boolean {
  return nic.ipv4 !== undefined || nic.ipv6 !== undefined || nic.dns !== undefined;
}

/**
 * The netplan v2 network config for the NICs that ask for addressing, or undefined when none
 * does. NICs without addressing are left out (the guest decides).
 */
function netplanConfig(
  nics: readonly NicSpec[],
  macs: readonly (string | undefined)[],
  nicsPath: string,
  issues: SpecIssue[],
): Record<string, unknown> | undefined {
  if (!nics.some(addressed)) return undefined;
  const ethernets: Record<string, unknown> = {};
  nics.forEach((nic, index) => {
    if (!addressed(nic)) return;
    const mac = nic.mac ?? macs[index]?.toLowerCase();
    let match: Record<string, string>;
    if (mac !== undefined) match = { macaddress: mac };
    else if (nics.length === 1) match = { name: 'e*' };
    else {
      issues.push({
        path: `${nicsPath}[${index}].mac`,
        code: 'vsphere-cloud-init-mac',
        message:
          'vSphere generates MACs when the VM is created, so cloud-init cannot tell this NIC from the others: give it a MAC',
      });
      return;
    }
    ethernets[`nic${index}`] = netplanEthernet(nic, match);
  });
  return { version: 2, ethernets };
}

function documentText(document: string | Record<string, unknown>): string {
  return typeof document === 'string' ? document : JSON.stringify(document);
}

/**
 * The metadata as an object to merge into, or undefined when it is a YAML text that cannot be
 * merged without a YAML parser (JSON text is parsed).
 */
function metadataObject(
  metaData: CloudInit['metaData'],
): Record<string, unknown> | undefined | 'text' {
  if (metaData === undefined) return undefined;
  if (typeof metaData !== 'string') return { ...metaData };
  try {
    const parsed: unknown = JSON.parse(metaData);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // YAML: not merged.
  }
  return 'text';
}

/**
 * The guestinfo `extraConfig` entries for cloud-init's VMware datasource: `guestinfo.metadata`
 * and `guestinfo.userdata`, each base64 with its `.encoding` key. The network config
 * (`cloudInit.networkConfig`, else netplan v2 generated from the NICs' addressing) is put into the
 * metadata as `network` (base64) + `network.encoding`, where that datasource reads it.
 *
 * Throws `InvalidSpecError` when a network config must be merged into metadata given as YAML text
 * (`cloudInit.metaData`; give it as an object or JSON), and when a NIC with addressing has no MAC
 * in a VM with several NICs (`nics[i].mac`). Warns when NIC addressing is ignored because
 * `networkConfig` is given, and when a hostname cannot be merged into YAML metadata.
 */
export function cloudInitExtraConfig(
  cloudInit: CloudInit,
  nics: readonly NicSpec[],
  options: CloudInitOptions = {},
): CloudInitExtraConfig {
  const issues: SpecIssue[] = [];
  const warnings: Warning[] = [];
  const nicsPath = options.nicsPath ?? 'nics';
  let network: string | undefined;
  if (cloudInit.networkConfig !== undefined) {
    network = documentText(cloudInit.networkConfig);
    nics.forEach((nic, index) => {
      if (addressed(nic))
        warnings.push({
          type: 'other',
          feature: `${nicsPath}[${index}]`,
          details: 'addressing ignored: cloudInit.networkConfig is given and used as it is',
        });
    });
  } else {
    const generated = netplanConfig(nics, options.macs ?? [], nicsPath, issues);
    if (generated !== undefined) network = JSON.stringify(generated);
  }
  let metadata = metadataObject(cloudInit.metaData);
  let metadataText: string | undefined;
  if (metadata === 'text') {
    if (network !== undefined)
      issues.push({
        path: 'cloudInit.metaData',
        code: 'vsphere-cloud-init-metadata',
        message:
          'the network config goes into the metadata on vSphere, which hvkit cannot merge into YAML text: give metaData as an object or JSON',
      });
    if (options.hostname !== undefined)
      warnings.push({
        type: 'other',
        feature: 'customization.hostname',
        details: 'not merged into YAML metadata: set local-hostname in cloudInit.metaData',
      });
    metadataText = cloudInit.metaData as string;
    metadata = undefined;
  } else {
    if (network !== undefined || options.hostname !== undefined) metadata ??= {};
    if (metadata !== undefined) {
      if (options.hostname !== undefined && metadata['local-hostname'] === undefined)
        metadata['local-hostname'] = options.hostname;
      if (network !== undefined) {
        metadata.network = base64(network);
        metadata['network.encoding'] = 'base64';
      }
      metadataText = JSON.stringify(metadata);
    }
  }
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'spec' });
  const extraConfig: DataObject[] = [];
  if (metadataText !== undefined)
    extraConfig.push(
      optionValue('guestinfo.metadata', base64(metadataText)),
      optionValue('guestinfo.metadata.encoding', 'base64'),
    );
  if (cloudInit.userData !== undefined)
    extraConfig.push(
      optionValue('guestinfo.userdata', base64(cloudInit.userData)),
      optionValue('guestinfo.userdata.encoding', 'base64'),
    );
  return { extraConfig, warnings };
}

// ---- create -----------------------------------------------------------------------------------

/** A built spec and what could not be honoured exactly. */
export interface SpecPlan {
  /** The vim25 data object (`VirtualMachineConfigSpec` here). */
  spec: DataObject;
  warnings: Warning[];
}

/**
 * The `config` (`VirtualMachineConfigSpec`) of `CreateVM_Task` for a validated spec. `name`,
 * the datacenter folder, pool and host are arguments of the call the driver makes, not of this
 * spec; `image` (template, URL, library item) is the driver's (it clones or imports instead),
 * and so are `powerState` and `customization` without cloud-init (see
 * {@link buildCustomizationSpec}).
 *
 * Throws `InvalidSpecError` (every issue, by path) for what vSphere cannot do: a `virtio` bus or
 * NIC model, `rtl8139`, a bridge connection, a VLAN other than the port group's, a disk format
 * other than vmdk, more disks than a bus holds, characters XML cannot carry, invalid
 * `providerOptions.vsphere`, cloud-init network config that cannot be merged (see
 * {@link cloudInitExtraConfig}). Throws `NotFoundError` (`storage`, `network`) for names
 * `target` does not hold. Disk labels, storage policies and cloud-init-ignored customization
 * fields come back as warnings.
 */
export function buildCreateSpec(spec: VmSpec, target: CreateTarget): SpecPlan {
  const issues: SpecIssue[] = [];
  const notFound: NotFoundError[] = [];
  const warnings: Warning[] = [];
  const options = parseVsphereOptions(spec);
  checkXml(spec.name, 'name', issues);
  if (spec.description !== undefined) checkXml(spec.description, 'description', issues);

  const datastore = spec.placement?.storage ?? target.defaultDatastore;
  if (spec.placement?.storage !== undefined)
    checkDatastore(spec.placement.storage, 'placement.storage', target, issues, notFound);

  const config: DataObject = {
    $type: 'VirtualMachineConfigSpec',
    name: spec.name,
    guestId: guestIdOf(spec, options, target.defaultGuestId),
    files: { $type: 'VirtualMachineFileInfo', vmPathName: datastorePath(datastore) },
    numCPUs: spec.cpu.count,
    numCoresPerSocket: spec.cpu.coresPerSocket ?? 1,
    memoryMB: spec.memory.sizeMiB,
  };
  if (spec.description !== undefined) config.annotation = spec.description;
  if (spec.cpu.hotAdd !== undefined) config.cpuHotAddEnabled = spec.cpu.hotAdd;
  if (spec.memory.hotAdd !== undefined) config.memoryHotAddEnabled = spec.memory.hotAdd;
  const cpuAllocation = allocation(spec.cpu.reservationMHz, spec.cpu.limitMHz);
  if (cpuAllocation) config.cpuAllocation = cpuAllocation;
  const memoryAllocation = allocation(spec.memory.reservationMiB, spec.memory.limitMiB);
  if (memoryAllocation) config.memoryAllocation = memoryAllocation;
  if (spec.firmware !== undefined) config.firmware = spec.firmware;
  if (spec.secureBoot !== undefined)
    config.bootOptions = {
      $type: 'VirtualMachineBootOptions',
      efiSecureBootEnabled: spec.secureBoot,
    };

  let key = 0;
  const context: DeviceContext = {
    target,
    placer: new DiskPlacer(SCSI_TYPES[options.scsiController ?? 'pvscsi']),
    nextKey: () => --key,
    issues,
    notFound,
    warnings,
    datastore,
  };
  const disks = (spec.disks ?? []).map((disk, index) =>
    diskChange(disk, index, `disks[${index}]`, context),
  );
  const nics = (spec.nics ?? []).map((nic, index) => nicChange(nic, `nics[${index}]`, context));
  const deviceChange: DataObject[] = [
    ...context.placer.newControllers.map(
      (device): DataObject => ({ $type: 'VirtualDeviceConfigSpec', operation: 'add', device }),
    ),
    ...disks.filter((change) => change !== undefined),
    ...nics.filter((change) => change !== undefined),
  ];
  if (deviceChange.length > 0) config.deviceChange = deviceChange;

  const extraConfig: DataObject[] = [];
  if (spec.cloudInit !== undefined) {
    try {
      const cloud = cloudInitExtraConfig(spec.cloudInit, spec.nics ?? [], {
        hostname: spec.customization?.hostname,
      });
      extraConfig.push(...cloud.extraConfig);
      warnings.push(...cloud.warnings);
    } catch (error) {
      if (InvalidSpecError.isInstance(error)) issues.push(...error.issues);
      else throw error;
    }
    for (const field of ['domain', 'timeZone'] as const) {
      if (spec.customization?.[field] !== undefined)
        warnings.push({
          type: 'unsupported',
          feature: `customization.${field}`,
          details: 'with cloud-init, vSphere guest customization is not run: set it in user-data',
        });
    }
  }
  if (spec.tags !== undefined) extraConfig.push(tagsOption(spec.tags));
  if (extraConfig.length > 0) config.extraConfig = extraConfig;

  fail(issues, notFound, 'spec');
  return { spec: config, warnings };
}

// ---- reconfigure ------------------------------------------------------------------------------

/** vSphere's power states (`runtime.powerState`). */
export type VspherePowerState = 'poweredOn' | 'poweredOff' | 'suspended';

/** What the driver read from the VM before a reconfigure. */
export interface CurrentHardware {
  /** VM name, for messages. */
  name?: string | undefined;
  /** `config.hardware.device` as parsed: data objects with `$type`. */
  devices: readonly Readonly<Record<string, unknown>>[];
  /** `config.hardware.numCPU`. */
  numCPU: number;
  /** `config.hardware.numCoresPerSocket`. Default 1. */
  numCoresPerSocket?: number | undefined;
  /** `config.hardware.memoryMB`. */
  memoryMB: number;
  /** `config.cpuHotAddEnabled`. */
  cpuHotAddEnabled: boolean;
  /** `config.memoryHotAddEnabled`. */
  memoryHotAddEnabled: boolean;
  /** `runtime.powerState`. */
  powerState: VspherePowerState;
  /** True when the VM has snapshots: vSphere cannot grow a disk that has delta disks. */
  hasSnapshots?: boolean | undefined;
}

/** What {@link buildReconfigureSpec} returns. */
export interface ReconfigurePlan {
  /** The `spec` (`VirtualMachineConfigSpec`) of `ReconfigVM_Task`. */
  spec: DataObject;
  /** Dotted field names of the change that apply now. */
  applied: string[];
  /** Dotted field names waiting for a power cycle: always empty on vSphere, which refuses instead. */
  pendingRestart: string[];
  warnings: Warning[];
}

function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '') {
    const number = Number(value);
    if (Number.isFinite(number)) return number;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isMoRef(value: Record<string, unknown>): boolean {
  return !('$type' in value) && typeof value.type === 'string' && typeof value.value === 'string';
}

/**
 * A scalar read back (the parser types only some fields; the rest stay text) as the writer wants
 * it for a field declared `declared`, or undefined when it cannot be one.
 */
function scalarAs(
  value: string | number | boolean,
  declared: string,
): string | number | boolean | undefined {
  switch (declared) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      return undefined;
    case 'byte':
    case 'short':
    case 'int':
    case 'long':
      if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
      // Integer text is kept as text: a long may not fit a double.
      return typeof value === 'string' && /^-?[0-9]+$/.test(value) ? value : undefined;
    case 'float':
    case 'double': {
      const number = numberOf(value);
      return number;
    }
    case 'anyType':
      return value;
    case 'ManagedObjectReference':
      return undefined;
    default:
      // Strings, dates, base64 and enums (declared `string` in the table); a data object type
      // with a scalar value is something this table does not describe.
      return fieldsOf(declared) === undefined ? String(value) : undefined;
  }
}

/**
 * A value read back from vSphere, made writable: nested data objects get the `$type` their field
 * declares (the parser leaves it out when the server sent no `xsi:type`), and fields or types the
 * vim25 table does not know are left out (in an edit, absent means unchanged).
 */
function writable(value: unknown, declared: string): SoapValue | undefined {
  if (Array.isArray(value)) {
    const items = value
      .map((item) => writable(item, declared))
      .filter((item) => item !== undefined);
    return items;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return scalarAs(value, declared);
  if (!isRecord(value)) return undefined;
  if ('$xsd' in value) return value as unknown as TypedScalar;
  if (declared === 'ManagedObjectReference' || isMoRef(value)) {
    return isMoRef(value) ? { type: String(value.type), value: String(value.value) } : undefined;
  }
  const type = typeof value.$type === 'string' ? value.$type : declared;
  const fields = fieldsOf(type);
  if (fields === undefined) return undefined;
  const result: DataObject = { $type: type };
  for (const [field, fieldType] of fields) {
    if (!(field in value)) continue;
    const child = writable(value[field], fieldType);
    if (child !== undefined) result[field] = child;
  }
  return result;
}

interface DeviceInfo {
  raw: Readonly<Record<string, unknown>>;
  type: string;
  key: number;
  controllerKey: number | undefined;
  unitNumber: number | undefined;
}

function describeDevice(raw: Readonly<Record<string, unknown>>): DeviceInfo | undefined {
  const key = numberOf(raw.key);
  if (typeof raw.$type !== 'string' || key === undefined) return undefined;
  return {
    raw,
    type: raw.$type,
    key,
    controllerKey: numberOf(raw.controllerKey),
    unitNumber: numberOf(raw.unitNumber),
  };
}

function existingSlots(devices: readonly DeviceInfo[]): ControllerSlot[] {
  const slots: ControllerSlot[] = [];
  for (const device of devices) {
    const bus = CONTROLLER_BUS[device.type];
    if (bus === undefined) continue;
    const taken = new Set(
      devices
        .filter((item) => item.controllerKey === device.key && item.unitNumber !== undefined)
        .map((item) => item.unitNumber),
    );
    const ownUnit = numberOf(device.raw.scsiCtlrUnitNumber) ?? 7;
    const units =
      bus === 'scsi' ? range(16).filter((unit) => unit !== ownUnit) : BUS_RULES[bus].units;
    slots.push({
      bus,
      key: device.key,
      busNumber: numberOf(device.raw.busNumber) ?? 0,
      free: units.filter((unit) => !taken.has(unit)),
    });
  }
  return slots;
}

/**
 * The `spec` of `ReconfigVM_Task` for a validated change against the VM as read back.
 *
 * Rules: CPU and memory changes on a VM that is not powered off need hot-add and can only grow;
 * the hot-add flags and the cores per socket change only while off (`ConflictError`
 * `invalid-power-state`, naming the field, before anything is sent). Disks grow with an `edit`
 * of the full device as read back (never shrink: `InvalidSpecError`; not while snapshots exist:
 * `ConflictError` `invalid-state`); new disks take the free units of existing controllers of their
 * bus (a controller is added when none is free); removed disks are destroyed with their files
 * (`fileOperation: destroy`); NICs are added and removed by device key. Disk and NIC ids are the
 * device keys as strings. Unknown ids raise `NotFoundError` (`disk`, `nic`).
 */
export function buildReconfigureSpec(
  current: CurrentHardware,
  change: ParsedInput['vmChange'],
  target: CreateTarget,
): ReconfigurePlan {
  const issues: SpecIssue[] = [];
  const notFound: NotFoundError[] = [];
  const warnings: Warning[] = [];
  const applied: string[] = [];
  const spec: DataObject = { $type: 'VirtualMachineConfigSpec' };
  const off = current.powerState === 'poweredOff';
  const state =
    current.powerState === 'poweredOn'
      ? 'on'
      : current.powerState === 'suspended'
        ? 'suspended'
        : 'off';
  const vmName = current.name === undefined ? 'the VM' : `VM ${JSON.stringify(current.name)}`;
  const refuse = (field: string, why: string): never => {
    throw new ConflictError(
      'invalid-power-state',
      `${field}: ${why} while ${vmName} is ${state}; power it off first`,
      { details: { field } },
    );
  };

  if (change.name !== undefined) {
    checkXml(change.name, 'name', issues);
    spec.name = change.name;
    applied.push('name');
  }
  if (change.description !== undefined) {
    checkXml(change.description, 'description', issues);
    spec.annotation = change.description;
    applied.push('description');
  }

  // CPU
  const cpu = change.cpu ?? {};
  const count = cpu.count ?? current.numCPU;
  const currentCores = current.numCoresPerSocket ?? 1;
  const cores = cpu.coresPerSocket ?? currentCores;
  if ((cpu.count !== undefined || cpu.coresPerSocket !== undefined) && count % cores !== 0)
    issues.push({
      path: cpu.coresPerSocket !== undefined ? 'cpu.coresPerSocket' : 'cpu.count',
      code: 'vsphere-cpu',
      message: `${count} vCPUs do not divide into sockets of ${cores} cores`,
    });
  if (
    cpu.reservationMHz !== undefined &&
    cpu.limitMHz !== undefined &&
    cpu.reservationMHz > cpu.limitMHz
  )
    issues.push({
      path: 'cpu.reservationMHz',
      code: 'vsphere-cpu',
      message: 'must not exceed limitMHz',
    });
  if (!off) {
    if (cpu.hotAdd !== undefined && cpu.hotAdd !== current.cpuHotAddEnabled)
      refuse('cpu.hotAdd', 'CPU hot-add can only be switched');
    if (cpu.coresPerSocket !== undefined && cpu.coresPerSocket !== currentCores)
      refuse('cpu.coresPerSocket', 'the CPU topology cannot change');
    if (cpu.count !== undefined && cpu.count !== current.numCPU) {
      if (cpu.count < current.numCPU) refuse('cpu.count', 'vCPUs cannot be removed');
      if (!current.cpuHotAddEnabled)
        refuse('cpu.count', 'CPU hot-add is disabled, so vCPUs cannot be added');
      if (current.powerState !== 'poweredOn') refuse('cpu.count', 'vCPUs cannot be added');
    }
  }
  if (cpu.count !== undefined) {
    spec.numCPUs = cpu.count;
    applied.push('cpu.count');
  }
  if (cpu.coresPerSocket !== undefined) {
    spec.numCoresPerSocket = cpu.coresPerSocket;
    applied.push('cpu.coresPerSocket');
  }
  if (cpu.hotAdd !== undefined) {
    spec.cpuHotAddEnabled = cpu.hotAdd;
    applied.push('cpu.hotAdd');
  }
  const cpuAllocation = allocation(cpu.reservationMHz, cpu.limitMHz);
  if (cpuAllocation) {
    spec.cpuAllocation = cpuAllocation;
    if (cpu.reservationMHz !== undefined) applied.push('cpu.reservationMHz');
    if (cpu.limitMHz !== undefined) applied.push('cpu.limitMHz');
  }

  // Memory
  const memory = change.memory ?? {};
  const sizeMiB = memory.sizeMiB ?? current.memoryMB;
  if (memory.reservationMiB !== undefined && memory.reservationMiB > sizeMiB)
    issues.push({
      path: 'memory.reservationMiB',
      code: 'vsphere-memory',
      message: `must not exceed sizeMiB (${sizeMiB})`,
    });
  if (
    memory.reservationMiB !== undefined &&
    memory.limitMiB !== undefined &&
    memory.reservationMiB > memory.limitMiB
  )
    issues.push({
      path: 'memory.reservationMiB',
      code: 'vsphere-memory',
      message: 'must not exceed limitMiB',
    });
  if (!off) {
    if (memory.hotAdd !== undefined && memory.hotAdd !== current.memoryHotAddEnabled)
      refuse('memory.hotAdd', 'memory hot-add can only be switched');
    if (memory.sizeMiB !== undefined && memory.sizeMiB !== current.memoryMB) {
      if (memory.sizeMiB < current.memoryMB) refuse('memory.sizeMiB', 'memory cannot be removed');
      if (!current.memoryHotAddEnabled)
        refuse('memory.sizeMiB', 'memory hot-add is disabled, so memory cannot be added');
      if (current.powerState !== 'poweredOn') refuse('memory.sizeMiB', 'memory cannot be added');
    }
  }
  if (memory.sizeMiB !== undefined) {
    spec.memoryMB = memory.sizeMiB;
    applied.push('memory.sizeMiB');
  }
  if (memory.hotAdd !== undefined) {
    spec.memoryHotAddEnabled = memory.hotAdd;
    applied.push('memory.hotAdd');
  }
  const memoryAllocation = allocation(memory.reservationMiB, memory.limitMiB);
  if (memoryAllocation) {
    spec.memoryAllocation = memoryAllocation;
    if (memory.reservationMiB !== undefined) applied.push('memory.reservationMiB');
    if (memory.limitMiB !== undefined) applied.push('memory.limitMiB');
  }

  // Devices
  const devices = current.devices
    .map(describeDevice)
    .filter((device): device is DeviceInfo => device !== undefined);
  const byId = new Map(devices.map((device) => [String(device.key), device]));
  const deviceChange: DataObject[] = [];
  const removedDisks = new Set<string>();

  (change.removeDisks ?? []).forEach((id, index) => {
    const path = `removeDisks[${index}]`;
    const device = byId.get(id);
    if (device === undefined || device.type !== 'VirtualDisk') {
      notFound.push(new NotFoundError('disk', id, `${path}: disk ${JSON.stringify(id)} not found`));
      return;
    }
    if (removedDisks.has(id)) {
      issues.push({ path, code: 'vsphere-duplicate', message: `disk ${id} is removed twice` });
      return;
    }
    if (!off && isIde(byId, device)) refuse(path, 'an IDE disk cannot be removed');
    removedDisks.add(id);
    deviceChange.push({
      $type: 'VirtualDeviceConfigSpec',
      operation: 'remove',
      fileOperation: 'destroy',
      device: echoDevice(device),
    });
  });
  if (change.removeDisks?.length) applied.push('removeDisks');

  (change.resizeDisks ?? []).forEach((resize, index) => {
    const path = `resizeDisks[${index}]`;
    const device = byId.get(resize.diskId);
    if (device === undefined || device.type !== 'VirtualDisk') {
      notFound.push(
        new NotFoundError(
          'disk',
          resize.diskId,
          `${path}.diskId: disk ${JSON.stringify(resize.diskId)} not found`,
        ),
      );
      return;
    }
    if (removedDisks.has(resize.diskId)) {
      issues.push({
        path: `${path}.diskId`,
        code: 'vsphere-duplicate',
        message: `disk ${resize.diskId} is also removed`,
      });
      return;
    }
    const kib = capacityKiB(resize.sizeGiB, `${path}.sizeGiB`, issues);
    if (kib === undefined) return;
    if (resize.sizeGiB > MAX_DISK_GIB) {
      issues.push({
        path: `${path}.sizeGiB`,
        code: 'vsphere-disk-size',
        message: `must be at most ${MAX_DISK_GIB} GiB`,
      });
      return;
    }
    const currentBytes =
      numberOf(device.raw.capacityInBytes) ?? (numberOf(device.raw.capacityInKB) ?? 0) * 1024;
    const bytes = kib * 1024;
    if (bytes < currentBytes) {
      issues.push({
        path: `${path}.sizeGiB`,
        code: 'vsphere-disk-shrink',
        message: `vSphere cannot shrink disks: disk ${resize.diskId} is ${currentBytes / 2 ** 30} GiB`,
      });
      return;
    }
    if (bytes === currentBytes) return;
    if (current.hasSnapshots)
      throw new ConflictError(
        'invalid-state',
        `${path}: disk ${resize.diskId} of ${vmName} cannot grow while the VM has snapshots; delete them first`,
        { details: { field: `${path}.sizeGiB` } },
      );
    if (!off && isIde(byId, device)) refuse(`${path}.sizeGiB`, 'an IDE disk cannot grow');
    const edited = echoDevice(device);
    edited.capacityInKB = kib;
    edited.capacityInBytes = bytes;
    // vcsim dereferences deviceInfo on every edit and panics without it.
    if (edited.deviceInfo === undefined)
      edited.deviceInfo = { $type: 'Description', label: '', summary: '' };
    deviceChange.push({ $type: 'VirtualDeviceConfigSpec', operation: 'edit', device: edited });
  });
  if (change.resizeDisks?.length) applied.push('resizeDisks');

  const removedNics = new Set<string>();
  (change.removeNics ?? []).forEach((id, index) => {
    const path = `removeNics[${index}]`;
    const device = byId.get(id);
    if (device === undefined || !ETHERNET_TYPES.has(device.type)) {
      notFound.push(new NotFoundError('nic', id, `${path}: NIC ${JSON.stringify(id)} not found`));
      return;
    }
    if (removedNics.has(id)) {
      issues.push({ path, code: 'vsphere-duplicate', message: `NIC ${id} is removed twice` });
      return;
    }
    removedNics.add(id);
    deviceChange.push({
      $type: 'VirtualDeviceConfigSpec',
      operation: 'remove',
      device: echoDevice(device),
    });
  });
  if (change.removeNics?.length) applied.push('removeNics');

  // Units of removed disks stay taken: vSphere frees them only once the change has applied.
  let key = 0;
  const context: DeviceContext = {
    target,
    placer: new DiskPlacer(SCSI_TYPES.pvscsi, existingSlots(devices)),
    nextKey: () => --key,
    issues,
    notFound,
    warnings,
    datastore: target.defaultDatastore,
  };
  const added = (change.addDisks ?? []).map((disk, index) => {
    if (!off && (disk.bus ?? 'scsi') === 'ide')
      refuse(`addDisks[${index}].bus`, 'an IDE disk cannot be added');
    return diskChange(disk, index, `addDisks[${index}]`, context);
  });
  const nics = (change.addNics ?? []).map((nic, index) =>
    nicChange(nic, `addNics[${index}]`, context),
  );
  deviceChange.push(
    ...context.placer.newControllers.map(
      (device): DataObject => ({ $type: 'VirtualDeviceConfigSpec', operation: 'add', device }),
    ),
    ...added.filter((item) => item !== undefined),
    ...nics.filter((item) => item !== undefined),
  );
  if (change.addDisks?.length) applied.push('addDisks');
  if (change.addNics?.length) applied.push('addNics');
  if (deviceChange.length > 0) spec.deviceChange = deviceChange;

  if (change.tags !== undefined) {
    spec.extraConfig = [tagsOption(change.tags)];
    applied.push('tags');
  }

  fail(issues, notFound, 'change');
  return { spec, applied, pendingRestart: [], warnings };
}

/** The device as read back, writable (see {@link writable}); at least its type and key. */
function echoDevice(device: DeviceInfo): DataObject {
  const echoed = writable(device.raw, 'VirtualDevice');
  if (isRecord(echoed) && typeof echoed.$type === 'string') return echoed as DataObject;
  return { $type: device.type, key: device.key };
}

function isIde(byId: ReadonlyMap<string, DeviceInfo>, device: DeviceInfo): boolean {
  const controller =
    device.controllerKey === undefined ? undefined : byId.get(String(device.controllerKey));
  return controller !== undefined && CONTROLLER_BUS[controller.type] === 'ide';
}

/**
 * Device edits that give every NIC of a clone a new MAC: `addressType: 'generated'` without a
 * `macAddress`, as vCenter documents for cloning. Without them a clone keeps the source's
 * manual MACs (vCenter) or all of them (vcsim, which copies the source's devices).
 */
export function regenerateMacChanges(
  devices: readonly Readonly<Record<string, unknown>>[],
): DataObject[] {
  return devices
    .map(describeDevice)
    .filter(
      (device): device is DeviceInfo => device !== undefined && ETHERNET_TYPES.has(device.type),
    )
    .map((device) => {
      const { macAddress: _mac, ...rest } = echoDevice(device);
      return {
        $type: 'VirtualDeviceConfigSpec',
        operation: 'edit',
        device: { ...rest, addressType: 'generated' } as DataObject,
      };
    });
}

// ---- clone and relocate -----------------------------------------------------------------------

/** Morefs the driver resolved for a clone's placement. */
export interface CloneTarget {
  /** Resource pool. Required when the source is a template (vSphere refuses otherwise). */
  pool?: ManagedObjectReference | undefined;
  datastore?: ManagedObjectReference | undefined;
  host?: ManagedObjectReference | undefined;
  folder?: ManagedObjectReference | undefined;
}

/**
 * The `spec` (`VirtualMachineCloneSpec`) of `CloneVM_Task`. The clone's name and folder are
 * arguments of that call (the folder is also written in `location.folder` when given). A linked
 * clone gets `diskMoveType: createNewChildDiskBacking` on `source.snapshot`.
 *
 * Throws `ConflictError` (`invalid-state`) for a linked clone without a snapshot (vSphere builds
 * the child disks on one; templates too), `InvalidSpecError` on `placement.resourcePool` for a
 * template source without a pool, and on `description` / `tags` values XML cannot carry.
 *
 * vcsim 0.24 ignores `powerOn`, `snapshot` and `diskMoveType` (a linked clone becomes a full
 * copy) and honours only `extraConfig` of `config`.
 */
export function buildCloneSpec(
  options: ParsedInput['cloneOptions'],
  source: { snapshot?: ManagedObjectReference | undefined; template: boolean },
  target: CloneTarget,
): DataObject {
  const issues: SpecIssue[] = [];
  checkXml(options.name, 'name', issues);
  if (options.description !== undefined) checkXml(options.description, 'description', issues);
  if (options.mode === 'linked' && source.snapshot === undefined)
    throw new ConflictError(
      'invalid-state',
      'a linked clone on vSphere needs a snapshot of the source: take one (or use the current snapshot) or clone in full mode',
      { details: { field: 'mode' } },
    );
  if (source.template && target.pool === undefined)
    issues.push({
      path: 'placement.resourcePool',
      code: 'vsphere-clone-pool',
      message: 'cloning a template needs a resource pool (vSphere requires location.pool)',
    });
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'clone options' });
  const location: DataObject = { $type: 'VirtualMachineRelocateSpec' };
  if (target.folder !== undefined) location.folder = target.folder;
  if (target.datastore !== undefined) location.datastore = target.datastore;
  if (options.mode === 'linked') location.diskMoveType = 'createNewChildDiskBacking';
  if (target.pool !== undefined) location.pool = target.pool;
  if (target.host !== undefined) location.host = target.host;
  const spec: DataObject = {
    $type: 'VirtualMachineCloneSpec',
    location,
    template: false,
    powerOn: options.powerOn ?? false,
  };
  const config: DataObject = { $type: 'VirtualMachineConfigSpec' };
  if (options.description !== undefined) config.annotation = options.description;
  if (options.tags !== undefined) config.extraConfig = [tagsOption(options.tags)];
  if (Object.keys(config).length > 1) spec.config = config;
  if (source.snapshot !== undefined) spec.snapshot = source.snapshot;
  return spec;
}

/** Morefs the driver resolved for a migration's destination. */
export interface RelocateTarget {
  host?: ManagedObjectReference | undefined;
  datastore?: ManagedObjectReference | undefined;
  pool?: ManagedObjectReference | undefined;
}

/**
 * The `spec` (`VirtualMachineRelocateSpec`) of `RelocateVM_Task`: `datastore` for
 * `destination.storage`, `pool` for `resourcePool`, `host` for `host`.
 *
 * @throws NotFoundError (`host`, `storage`, `resource-pool`) for a destination field the driver
 *   could not resolve.
 */
export function buildRelocateSpec(
  destination: ParsedInput['migrateTarget'],
  resolved: RelocateTarget,
): DataObject {
  const spec: DataObject = { $type: 'VirtualMachineRelocateSpec' };
  if (destination.storage !== undefined) {
    if (resolved.datastore === undefined)
      throw new NotFoundError('storage', destination.storage, undefined);
    spec.datastore = resolved.datastore;
  }
  if (destination.resourcePool !== undefined) {
    if (resolved.pool === undefined)
      throw new NotFoundError('resource-pool', destination.resourcePool);
    spec.pool = resolved.pool;
  }
  if (destination.host !== undefined) {
    if (resolved.host === undefined) throw new NotFoundError('host', destination.host);
    spec.host = resolved.host;
  }
  return spec;
}

// ---- guest customization ----------------------------------------------------------------------

/** `prefix` (0–32) as a dotted IPv4 netmask. */
export function ipv4Netmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (bits >>> shift) & 0xff).join('.');
}

/**
 * True when the spec asks for something only `CustomizeVM_Task` can apply: no cloud-init, and
 * a customization or NIC addressing.
 */
export function needsCustomization(
  spec: Pick<VmSpec, 'cloudInit' | 'customization' | 'nics'>,
): boolean {
  if (spec.cloudInit !== undefined) return false;
  return spec.customization !== undefined || (spec.nics ?? []).some(addressed);
}

/**
 * The `spec` (`CustomizationSpec`) of `CustomizeVM_Task` for a Linux guest: `CustomizationLinuxPrep`
 * with the host name (`customization.hostname`, else the VM name), the domain (default
 * `localdomain`: vim25 requires one), the time zone; global DNS servers and suffixes from the
 * NICs; one adapter mapping per NIC in order (vSphere matches them to the VM's NICs by order, and
 * fails with `NicSettingMismatch` when the counts differ), DHCP unless a static address is given.
 *
 * Throws `UnsupportedCapabilityError` (`guest.customization`) for a Windows guest (sysprep is not
 * implemented), `InvalidSpecError` for `nics[i].ipv4: 'none'` (customization addresses every
 * NIC) and for a VM name that is not a host name when `customization.hostname` is omitted.
 */
export function buildCustomizationSpec(
  spec: Pick<VmSpec, 'name' | 'guestOs' | 'customization' | 'nics'>,
): DataObject {
  if (spec.guestOs === 'windows')
    throw new UnsupportedCapabilityError(
      'guest.customization',
      'vSphere customization of Windows guests (sysprep) is not implemented',
      { details: { reason: 'windows-sysprep' } },
    );
  const issues: SpecIssue[] = [];
  const customization = spec.customization ?? {};
  const hostname = customization.hostname ?? spec.name;
  if (customization.hostname === undefined && !/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/.test(spec.name))
    issues.push({
      path: 'customization.hostname',
      code: 'vsphere-hostname',
      message: `the VM name ${JSON.stringify(spec.name)} is not a host name: give customization.hostname`,
    });
  const nics = spec.nics ?? [];
  const servers = [...new Set(nics.flatMap((nic) => nic.dns?.servers ?? []))];
  const suffixes = [
    ...new Set([
      ...(customization.domain === undefined ? [] : [customization.domain]),
      ...nics.flatMap((nic) => nic.dns?.search ?? []),
    ]),
  ];
  const identity: DataObject = {
    $type: 'CustomizationLinuxPrep',
    hostName: { $type: 'CustomizationFixedName', name: hostname },
    domain: customization.domain ?? 'localdomain',
    hwClockUTC: true,
  };
  if (customization.timeZone !== undefined) identity.timeZone = customization.timeZone;
  const globalIPSettings: DataObject = { $type: 'CustomizationGlobalIPSettings' };
  if (suffixes.length > 0) globalIPSettings.dnsSuffixList = suffixes;
  if (servers.length > 0) globalIPSettings.dnsServerList = servers;
  const nicSettingMap = nics.map((nic, index): DataObject => {
    const adapter: DataObject = { $type: 'CustomizationIPSettings' };
    if (nic.ipv4 === 'none')
      issues.push({
        path: `nics[${index}].ipv4`,
        code: 'vsphere-customization',
        message:
          "vSphere customization addresses every NIC (fixed or DHCP); 'none' is not possible",
      });
    if (typeof nic.ipv4 === 'object') {
      const [address = '', prefix = '32'] = nic.ipv4.address.split('/');
      adapter.ip = { $type: 'CustomizationFixedIp', ipAddress: address };
      adapter.subnetMask = ipv4Netmask(Number(prefix));
      if (nic.ipv4.gateway !== undefined) adapter.gateway = [nic.ipv4.gateway];
    } else {
      adapter.ip = { $type: 'CustomizationDhcpIpGenerator' };
    }
    if (nic.ipv6 !== undefined && nic.ipv6 !== 'none') {
      const ipv6: DataObject = { $type: 'CustomizationIPSettingsIpV6AddressSpec' };
      if (typeof nic.ipv6 === 'object') {
        const [address = '', prefix = '128'] = nic.ipv6.address.split('/');
        ipv6.ip = [
          { $type: 'CustomizationFixedIpV6', ipAddress: address, subnetMask: Number(prefix) },
        ];
        if (nic.ipv6.gateway !== undefined) ipv6.gateway = [nic.ipv6.gateway];
      } else {
        ipv6.ip = [
          {
            $type:
              nic.ipv6 === 'dhcp'
                ? 'CustomizationDhcpIpV6Generator'
                : 'CustomizationAutoIpV6Generator',
          },
        ];
      }
      adapter.ipV6Spec = ipv6;
    }
    if (nic.dns !== undefined) {
      adapter.dnsServerList = nic.dns.servers;
      const domain = nic.dns.search?.[0] ?? customization.domain;
      if (domain !== undefined) adapter.dnsDomain = domain;
    }
    const mapping: DataObject = { $type: 'CustomizationAdapterMapping', adapter };
    if (nic.mac !== undefined) mapping.macAddress = nic.mac;
    return mapping;
  });
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'spec' });
  const result: DataObject = {
    $type: 'CustomizationSpec',
    options: { $type: 'CustomizationLinuxOptions' },
    identity,
    globalIPSettings,
  };
  if (nicSettingMap.length > 0) result.nicSettingMap = nicSettingMap;
  return result;
}
