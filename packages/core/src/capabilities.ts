/**
 * The capability catalog: every feature hvkit can ask of a hypervisor, as data. Providers declare
 * each id once; the docs' matrix is generated from those declarations and the conformance suite
 * proves each declared capability against a real test bed.
 */

/** Categories of the capability matrix, in display order. */
export const CAPABILITY_CATEGORIES = {
  core: 'Core operations',
  resources: 'Resource management',
  storage: 'Storage',
  network: 'Network',
  lifecycle: 'Lifecycle',
  snapshots: 'Snapshots',
  images: 'Images',
  guest: 'Guest OS',
  advanced: 'Advanced',
  monitoring: 'Monitoring',
  migration: 'Disk export and import (migration)',
} as const;

/** A key of {@link CAPABILITY_CATEGORIES}. */
export type CapabilityCategory = keyof typeof CAPABILITY_CATEGORIES;

/** What the catalog says about one capability. */
export interface CapabilityInfo {
  readonly category: CapabilityCategory;
  /** Short label for tables. */
  readonly title: string;
  /** What a provider that declares it `supported` promises, and which operation it gates. */
  readonly description: string;
}

const entry = (
  category: CapabilityCategory,
  title: string,
  description: string,
): CapabilityInfo => ({
  category,
  title,
  description,
});

/** Every capability id with its category, title and description. Order is display order. */
export const CAPABILITY_CATALOG = {
  // core operations
  'core.create': entry('core', 'Create', 'Create a VM from a VmSpec (`create`).'),
  'core.delete': entry(
    'core',
    'Delete',
    'Delete a VM with its disks and snapshots, powering it off first (`delete`).',
  ),
  'core.powerOn': entry(
    'core',
    'Power on',
    'Power on a stopped VM (`powerOn`); powering on a running VM is a conflict.',
  ),
  'core.powerOff': entry(
    'core',
    'Power off',
    'Hard power-off (`powerOff`) and graceful guest shutdown (`shutdown`).',
  ),
  'core.reboot': entry(
    'core',
    'Reboot',
    'Graceful guest reboot (`reboot`) and hard reset (`reset`) of a running VM.',
  ),
  'core.suspend': entry(
    'core',
    'Suspend',
    'Suspend a running VM and resume it (`suspend`, `resume`).',
  ),
  'core.describe': entry(
    'core',
    'Describe',
    'List VMs with filters and paging, and get one VM by ref (`list`, `get`).',
  ),
  'core.reconfigure': entry(
    'core',
    'Reconfigure',
    'Change hardware of an existing VM, reporting what applied live and what waits for a restart (`reconfigure`).',
  ),
  'core.taskStatus': entry(
    'core',
    'Task status',
    'Long operations return a Task that reports state and progress and can be resumed from JSON in another process (`getTask`, `resumeTask`).',
  ),
  'core.taskCancel': entry(
    'core',
    'Task cancel',
    'A running task can be cancelled on the backend (`task.cancel()`).',
  ),
  'core.consoleUrl': entry(
    'core',
    'Console URL',
    'A URL or ticket that opens the VM console (`getConsole`).',
  ),
  // resource management
  'resources.cpu': entry(
    'resources',
    'CPU',
    'Set vCPU count and cores per socket at create and reconfigure.',
  ),
  'resources.memory': entry(
    'resources',
    'Memory',
    'Set memory size in MiB at create and reconfigure.',
  ),
  'resources.cpuHotAdd': entry(
    'resources',
    'Hot CPU add',
    'Add vCPUs to a running VM whose CPU hot-add is enabled.',
  ),
  'resources.memoryHotAdd': entry(
    'resources',
    'Hot memory add',
    'Add memory to a running VM whose memory hot-add is enabled.',
  ),
  'resources.reservations': entry(
    'resources',
    'Reservations',
    'Guarantee CPU (MHz) and memory (MiB) to a VM.',
  ),
  'resources.limits': entry(
    'resources',
    'Limits',
    'Cap the CPU (MHz) and memory (MiB) a VM may use.',
  ),
  // storage
  'storage.diskCreate': entry(
    'storage',
    'Disk create',
    'Create disks with a VM and add disks to an existing VM.',
  ),
  'storage.diskExpand': entry('storage', 'Disk expand', 'Grow an existing disk (never shrink).'),
  'storage.multipleDisks': entry('storage', 'Multiple disks', 'A VM with more than one disk.'),
  'storage.thin': entry('storage', 'Thin provisioning', 'Disks that allocate space on write.'),
  'storage.thick': entry(
    'storage',
    'Thick provisioning',
    'Disks whose space is allocated up front (`thick`, `eagerZeroedThick`).',
  ),
  'storage.storagePolicies': entry(
    'storage',
    'Storage policies',
    'Place disks by a named storage policy.',
  ),
  'storage.storagePools': entry(
    'storage',
    'Storage pools',
    'List datastores/pools with capacity and place each disk on a chosen one (`listStoragePools`).',
  ),
  // network
  'network.basic': entry(
    'network',
    'Basic networking',
    'One NIC on a named network; list networks (`listNetworks`).',
  ),
  'network.multipleNics': entry('network', 'Multiple NICs', 'A VM with more than one NIC.'),
  'network.vlan': entry('network', 'VLAN', 'Tag a NIC with a VLAN id.'),
  'network.staticIp': entry(
    'network',
    'Static IP',
    'Give a NIC a static IPv4/IPv6 address, applied in the guest.',
  ),
  'network.dhcp': entry('network', 'DHCP', 'Address a NIC by DHCP.'),
  'network.bridge': entry('network', 'Bridge', 'Attach a NIC directly to a host bridge.'),
  'network.distributedSwitch': entry(
    'network',
    'Distributed switch',
    'Attach a NIC to a distributed switch port group.',
  ),
  // lifecycle
  'lifecycle.templateDeploy': entry(
    'lifecycle',
    'Template deploy',
    'Mark a VM as template (`markAsTemplate`) and create VMs from it (`image: { kind: "template" }`).',
  ),
  'lifecycle.fullClone': entry(
    'lifecycle',
    'Full clone',
    'Independent copy of a VM (`clone` with `mode: "full"`).',
  ),
  'lifecycle.linkedClone': entry(
    'lifecycle',
    'Linked clone',
    'Copy-on-write clone from a snapshot or template (`clone` with `mode: "linked"`).',
  ),
  // snapshots
  'snapshots.create': entry('snapshots', 'Create', 'Take a snapshot (`createSnapshot`).'),
  'snapshots.delete': entry(
    'snapshots',
    'Delete',
    'Delete a snapshot, optionally with its children (`deleteSnapshot`).',
  ),
  'snapshots.revert': entry('snapshots', 'Revert', 'Revert a VM to a snapshot (`revertSnapshot`).'),
  'snapshots.memory': entry(
    'snapshots',
    'Memory',
    'Snapshots that include the running memory state (`memory: true`).',
  ),
  'snapshots.quiesce': entry(
    'snapshots',
    'Quiesce',
    'Quiesce the guest file systems before a snapshot (`quiesce: true`).',
  ),
  'snapshots.tree': entry(
    'snapshots',
    'Tree',
    'Snapshots form a tree with a current snapshot (`listSnapshots`).',
  ),
  // images
  'images.ovaImport': entry(
    'images',
    'OVA/OVF import',
    'Import an OVA or OVF package (`importImage` with `kind: "ova"`).',
  ),
  'images.cloudImageDownload': entry(
    'images',
    'Cloud image download',
    'Download a cloud image from a URL into storage (`importImage` with `kind: "url"`).',
  ),
  'images.contentLibrary': entry(
    'images',
    'Content library',
    'Use items of a content library as images (`kind: "content-library"`).',
  ),
  'images.conversion': entry(
    'images',
    'Conversion',
    'Convert an image between disk formats on import (`convertTo`).',
  ),
  'images.caching': entry(
    'images',
    'Caching',
    'Importing the same source again reuses the stored image (`cached: true`).',
  ),
  // guest OS
  'guest.cloudInit': entry(
    'guest',
    'cloud-init',
    'Pass user-data, meta-data and network-config to the guest.',
  ),
  'guest.tools': entry(
    'guest',
    'Guest tools',
    'Report the state of the in-guest tools or agent (`guest.toolsState`).',
  ),
  'guest.agent': entry(
    'guest',
    'Guest agent',
    'Ask the in-guest agent for hostname, OS and IP addresses (`getGuestInfo`).',
  ),
  'guest.customization': entry(
    'guest',
    'Customization',
    "Set hostname and domain through the hypervisor's guest customization (`customization`).",
  ),
  'guest.monitoring': entry(
    'guest',
    'Guest monitoring',
    'Guest-level figures from the agent: uptime and file-system usage (`getGuestInfo`).',
  ),
  // advanced
  'advanced.ha': entry(
    'advanced',
    'High availability',
    'Restart a VM elsewhere when its host fails (`setHighAvailability`).',
  ),
  'advanced.drs': entry(
    'advanced',
    'DRS / load balancing',
    'Per-VM automatic placement and load balancing (`setLoadBalancing`).',
  ),
  'advanced.faultTolerance': entry(
    'advanced',
    'Fault tolerance',
    'A lock-step secondary VM (`setFaultTolerance`).',
  ),
  'advanced.liveMigration': entry(
    'advanced',
    'Live migration',
    'Move a running VM to another host or storage (`migrate`).',
  ),
  'advanced.resourcePools': entry(
    'advanced',
    'Resource pools',
    'List, create and delete resource pools and place VMs in them.',
  ),
  'advanced.affinityRules': entry(
    'advanced',
    'Affinity rules',
    'Keep VMs together or apart (`createPlacementRule`).',
  ),
  // monitoring
  'monitoring.metrics': entry(
    'monitoring',
    'Metrics',
    'CPU, memory, disk and network samples for a VM (`getMetrics`).',
  ),
  'monitoring.events': entry(
    'monitoring',
    'Events',
    'The event stream of VMs: created, powered on, reconfigured… (`listEvents`).',
  ),
  'monitoring.healthChecks': entry(
    'monitoring',
    'Health checks',
    'A health verdict with the checks behind it (`checkHealth`).',
  ),
  'monitoring.alerting': entry(
    'monitoring',
    'Alerting',
    'Threshold alerts on metrics that fire and clear (`createAlert`, `listAlerts`).',
  ),
  'monitoring.history': entry(
    'monitoring',
    'History',
    'Metrics older than the real-time window, at a coarser interval (`getMetrics` with `since`).',
  ),
  // migration
  'migration.diskExport': entry(
    'migration',
    'Disk export',
    'Read a VM disk as a byte stream, resumable from an offset (`exportDisk`).',
  ),
  'migration.diskImport': entry(
    'migration',
    'Disk import',
    'Write a byte stream into storage as a disk image (`importDisk`) and create VMs from it.',
  ),
} as const satisfies Record<string, CapabilityInfo>;

/** One capability id, e.g. `'snapshots.memory'`. */
export type CapabilityId = keyof typeof CAPABILITY_CATALOG;

/** Every capability id, in catalog order. */
export const CAPABILITY_IDS = Object.keys(CAPABILITY_CATALOG) as CapabilityId[];

/** True when `value` is a capability id of this catalog. */
export function isCapabilityId(value: unknown): value is CapabilityId {
  return typeof value === 'string' && Object.hasOwn(CAPABILITY_CATALOG, value);
}

/** How well a provider implements a capability. */
export type SupportLevel = 'supported' | 'partial' | 'unsupported' | 'not-applicable';

/**
 * One declaration. `partial` needs a note saying what is missing; the others may carry one.
 * A bare level string is shorthand for `{ level }`.
 */
export type CapabilityDeclaration =
  | 'supported'
  | 'unsupported'
  | 'not-applicable'
  | { readonly level: 'supported' | 'unsupported' | 'not-applicable'; readonly note?: string }
  | { readonly level: 'partial'; readonly note: string };

/**
 * A provider's complete declaration: every id of the catalog must be present, so a new id is a
 * compile error in every in-tree provider until someone decides about it. Third-party providers
 * that prefer a default for ids added later use {@link declareCapabilities} with `defaults`.
 */
export type CapabilityDeclarations = { readonly [K in CapabilityId]: CapabilityDeclaration };

/** A declaration in its normalised form. */
export interface CapabilityStatus {
  readonly level: SupportLevel;
  readonly note?: string | undefined;
}

/** Normalised declarations, as `provider.capabilities` exposes them. */
export type CapabilityMap = { readonly [K in CapabilityId]: CapabilityStatus };

const LEVELS: readonly SupportLevel[] = ['supported', 'partial', 'unsupported', 'not-applicable'];

function normalise(declaration: CapabilityDeclaration): CapabilityStatus {
  // The types forbid a bare `'partial'` or an unknown level; plain JavaScript can still pass them.
  const { level, note }: { level: SupportLevel; note?: string | undefined } =
    typeof declaration === 'string' ? { level: declaration } : declaration;
  if (!LEVELS.includes(level))
    throw new TypeError(`unknown support level ${JSON.stringify(level)}`);
  if (level === 'partial' && !note) {
    throw new TypeError('a partial capability needs a note saying what is missing');
  }
  return note ? { level, note } : { level };
}

/**
 * Normalises a complete declaration. With `defaults`, ids missing from `declarations` take that
 * level (documented default: `unsupported`) — for providers maintained outside this repository.
 */
export function declareCapabilities(declarations: CapabilityDeclarations): CapabilityMap;
export function declareCapabilities(
  declarations: Partial<CapabilityDeclarations>,
  options: { defaults: 'unsupported' | 'not-applicable' },
): CapabilityMap;
export function declareCapabilities(
  declarations: Partial<CapabilityDeclarations>,
  options?: { defaults: 'unsupported' | 'not-applicable' },
): CapabilityMap {
  const output: Partial<Record<CapabilityId, CapabilityStatus>> = {};
  for (const id of Object.keys(declarations)) {
    if (!isCapabilityId(id)) throw new TypeError(`unknown capability id ${JSON.stringify(id)}`);
  }
  for (const id of CAPABILITY_IDS) {
    const declaration = declarations[id];
    if (declaration === undefined) {
      if (!options) throw new TypeError(`capability ${id} is not declared`);
      output[id] = { level: options.defaults };
    } else {
      output[id] = normalise(declaration);
    }
  }
  return Object.freeze(output) as CapabilityMap;
}

/** True when the level lets the operation run (`supported` or `partial`). */
export function isUsable(status: CapabilityStatus): boolean {
  return status.level === 'supported' || status.level === 'partial';
}

/** The answer of a live check: may this capability be used on this VM right now, and why not. */
export interface CanResult {
  readonly ok: boolean;
  readonly capability: CapabilityId;
  /** Why not (or, when `ok`, any condition attached: "applies at next boot"). */
  readonly reason: string;
}
