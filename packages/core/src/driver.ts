import type { CanResult, CapabilityId, CapabilityMap } from './capabilities.js';
import type { Logger } from './logger.js';
import type {
  Alert,
  ConsoleAccess,
  DiskExport,
  HealthReport,
  Image,
  ImageImportSource,
  MetricSeries,
  Network,
  Page,
  PlacementRule,
  ResourcePool,
  StoragePool,
  ValidationReport,
  VmEvent,
} from './model/operations.js';
import type { GuestInfo, SnapshotTree, Vm } from './model/vm.js';
import type { VmSpec } from './model/vm-spec.js';
import type { ParsedInput } from './parsed-input.js';
import type { PowerAction } from './provider.js';
import type { RedactOptions } from './redact.js';
import type { TaskSettings, TaskSnapshot, TaskStart } from './task.js';

/** Options a driver receives: the caller's signal, and the idempotency key of creates and clones. */
export interface DriverOptions {
  signal?: AbortSignal | undefined;
  idempotencyKey?: string | undefined;
  /** `power(id, 'suspend')` only: save the memory to disk and end the VM process. */
  toDisk?: boolean | undefined;
}

/**
 * What a backend implements. `createProvider(driver)` wraps it into a {@link Provider}: the wrapper
 * validates every input with the core schemas, checks capabilities, rejects refs of other
 * providers and turns task ids into `Task` handles — so a driver only ever sees valid input for
 * capabilities it declared usable. Methods that start backend work resolve with the backend task
 * id as soon as the backend accepted it — or with `{ taskId, snapshot }` when the driver already
 * knows the task's state (a synchronous backend), which spares the core an observation round trip.
 *
 * Optional methods are required exactly when the capability that gates them is declared
 * `supported` or `partial`; `createProvider` refuses a driver that declares one without it.
 */
export interface ProviderDriver {
  /** Backend type, e.g. `vsphere`. */
  readonly type: string;
  /** Instance name, e.g. `vcenter-lab`. */
  readonly name: string;
  readonly capabilities: CapabilityMap;
  /** Clock and poll backoff for this provider's tasks. */
  readonly taskSettings?: TaskSettings | undefined;
  /** Secrets the driver holds (password, token), scrubbed from errors and logs. */
  readonly redact?: RedactOptions | undefined;
  readonly logger?: Logger | undefined;

  validate(options: DriverOptions): Promise<ValidationReport>;
  listPage(query: ParsedInput['listQuery'], options: DriverOptions): Promise<Page<Vm>>;
  /**
   * Optional: every VM matching `query` as one stream (its `limit` and `cursor` are ignored).
   * When present, `provider.list()` without a cursor uses it instead of paging `listPage`, so a
   * backend that lists in one call (vSphere's property collector) is read once, not once per page.
   */
  listStream?(query: ParsedInput['listQuery'], options: DriverOptions): AsyncIterable<Vm>;
  get(id: string, options: DriverOptions): Promise<Vm>;
  getTask(taskId: string, options: DriverOptions): Promise<TaskSnapshot>;
  watchTask?(taskId: string, options: DriverOptions): AsyncIterable<TaskSnapshot>;
  cancelTask?(taskId: string, options: DriverOptions): Promise<void>;
  /** Live check for `can()`; return undefined when there is nothing beyond the declaration. */
  can?(
    vm: Vm,
    capability: CapabilityId,
    options: DriverOptions,
  ): Promise<Omit<CanResult, 'capability'> | undefined>;
  close?(): Promise<void>;

  create?(spec: VmSpec, options: DriverOptions): Promise<TaskStart>;
  delete?(id: string, options: DriverOptions): Promise<TaskStart>;
  power?(id: string, action: PowerAction, options: DriverOptions): Promise<TaskStart>;
  reconfigure?(
    id: string,
    change: ParsedInput['vmChange'],
    options: DriverOptions,
  ): Promise<TaskStart>;
  clone?(
    id: string,
    clone: ParsedInput['cloneOptions'],
    options: DriverOptions,
  ): Promise<TaskStart>;
  markAsTemplate?(id: string, options: DriverOptions): Promise<TaskStart>;
  listSnapshots?(id: string, options: DriverOptions): Promise<SnapshotTree>;
  createSnapshot?(
    id: string,
    snapshot: ParsedInput['snapshotOptions'],
    options: DriverOptions,
  ): Promise<TaskStart>;
  revertSnapshot?(id: string, snapshotId: string, options: DriverOptions): Promise<TaskStart>;
  deleteSnapshot?(
    id: string,
    snapshotId: string,
    removeChildren: boolean,
    options: DriverOptions,
  ): Promise<TaskStart>;
  getConsole?(id: string, options: DriverOptions): Promise<ConsoleAccess>;
  getGuestInfo?(id: string, options: DriverOptions): Promise<GuestInfo>;
  getMetrics?(
    id: string,
    query: ParsedInput['metricsQuery'],
    options: DriverOptions,
  ): Promise<MetricSeries[]>;
  listEvents?(query: ParsedInput['eventQuery'], options: DriverOptions): Promise<VmEvent[]>;
  checkHealth?(id: string, options: DriverOptions): Promise<HealthReport>;
  createAlert?(rule: ParsedInput['alertRule'], options: DriverOptions): Promise<Alert>;
  listAlerts?(options: DriverOptions): Promise<Alert[]>;
  deleteAlert?(id: string, options: DriverOptions): Promise<void>;
  listImages?(options: DriverOptions): Promise<Image[]>;
  importImage?(
    source: ImageImportSource,
    image: ParsedInput['importImageOptions'],
    options: DriverOptions,
  ): Promise<TaskStart>;
  deleteImage?(id: string, options: DriverOptions): Promise<void>;
  listStoragePools?(options: DriverOptions): Promise<StoragePool[]>;
  listNetworks?(options: DriverOptions): Promise<Network[]>;
  listResourcePools?(options: DriverOptions): Promise<ResourcePool[]>;
  createResourcePool?(
    spec: ParsedInput['resourcePoolSpec'],
    options: DriverOptions,
  ): Promise<ResourcePool>;
  deleteResourcePool?(id: string, options: DriverOptions): Promise<void>;
  listPlacementRules?(options: DriverOptions): Promise<PlacementRule[]>;
  createPlacementRule?(
    spec: ParsedInput['placementRuleSpec'],
    options: DriverOptions,
  ): Promise<PlacementRule>;
  deletePlacementRule?(id: string, options: DriverOptions): Promise<void>;
  setHighAvailability?(
    id: string,
    settings: ParsedInput['highAvailability'],
    options: DriverOptions,
  ): Promise<TaskStart>;
  setLoadBalancing?(
    id: string,
    settings: ParsedInput['loadBalancing'],
    options: DriverOptions,
  ): Promise<TaskStart>;
  setFaultTolerance?(
    id: string,
    settings: ParsedInput['faultTolerance'],
    options: DriverOptions,
  ): Promise<TaskStart>;
  migrate?(
    id: string,
    destination: ParsedInput['migrateTarget'],
    options: DriverOptions,
  ): Promise<TaskStart>;
  exportDisk?(
    id: string,
    diskId: string,
    offsetBytes: number,
    options: DriverOptions,
  ): Promise<DiskExport>;
  importDisk?(
    spec: ParsedInput['diskImportSpec'],
    source: AsyncIterable<Uint8Array>,
    options: DriverOptions,
  ): Promise<TaskStart>;
}

/** Which capabilities make each optional driver method mandatory. */
export const DRIVER_METHOD_CAPABILITIES = {
  create: ['core.create'],
  delete: ['core.delete'],
  power: ['core.powerOn', 'core.powerOff', 'core.reboot', 'core.suspend'],
  reconfigure: ['core.reconfigure'],
  clone: ['lifecycle.fullClone', 'lifecycle.linkedClone'],
  markAsTemplate: ['lifecycle.templateDeploy'],
  listSnapshots: ['snapshots.tree'],
  createSnapshot: ['snapshots.create'],
  revertSnapshot: ['snapshots.revert'],
  deleteSnapshot: ['snapshots.delete'],
  getConsole: ['core.consoleUrl'],
  getGuestInfo: ['guest.agent'],
  getMetrics: ['monitoring.metrics', 'monitoring.history'],
  listEvents: ['monitoring.events'],
  checkHealth: ['monitoring.healthChecks'],
  createAlert: ['monitoring.alerting'],
  listAlerts: ['monitoring.alerting'],
  deleteAlert: ['monitoring.alerting'],
  listImages: [
    'images.cloudImageDownload',
    'images.ovaImport',
    'images.contentLibrary',
    'migration.diskImport',
  ],
  importImage: ['images.cloudImageDownload', 'images.ovaImport', 'images.contentLibrary'],
  deleteImage: [
    'images.cloudImageDownload',
    'images.ovaImport',
    'images.contentLibrary',
    'migration.diskImport',
  ],
  listStoragePools: ['storage.storagePools'],
  listNetworks: ['network.basic'],
  listResourcePools: ['advanced.resourcePools'],
  createResourcePool: ['advanced.resourcePools'],
  deleteResourcePool: ['advanced.resourcePools'],
  listPlacementRules: ['advanced.affinityRules'],
  createPlacementRule: ['advanced.affinityRules'],
  deletePlacementRule: ['advanced.affinityRules'],
  setHighAvailability: ['advanced.ha'],
  setLoadBalancing: ['advanced.drs'],
  setFaultTolerance: ['advanced.faultTolerance'],
  migrate: ['advanced.liveMigration'],
  exportDisk: ['migration.diskExport'],
  importDisk: ['migration.diskImport'],
  cancelTask: ['core.taskCancel'],
} as const satisfies Partial<Record<keyof ProviderDriver, readonly CapabilityId[]>>;
