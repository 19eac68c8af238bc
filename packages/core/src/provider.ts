import type { CanResult, CapabilityId, CapabilityMap } from './capabilities.js';
import type { VmRef } from './model/common.js';
import type {
  Alert,
  AlertRuleSpec,
  CloneOptions,
  ConsoleAccess,
  DiskExport,
  DiskImportSpec,
  EventQuery,
  FaultToleranceSettings,
  HealthReport,
  HighAvailabilitySettings,
  Image,
  ImageImportSource,
  ImportImageOptions,
  ListQuery,
  LoadBalancingSettings,
  MetricSeries,
  MetricsQuery,
  MigrateTarget,
  Network,
  Page,
  PlacementRule,
  PlacementRuleSpec,
  ReconfigureResult,
  ResourcePool,
  ResourcePoolSpec,
  SnapshotOptions,
  StoragePool,
  ValidationReport,
  VmChange,
  VmEvent,
} from './model/operations.js';
import type { GuestInfo, Snapshot, SnapshotTree, Vm } from './model/vm.js';
import type { VmSpecInput } from './model/vm-spec.js';
import type { Task, TaskSnapshot } from './task.js';

/** Options every operation takes. */
export interface OperationOptions {
  /** Aborts the call (and, for tasks, the submission and the default wait of `await task`). */
  signal?: AbortSignal | undefined;
}

/** Options of operations that change something. */
export interface MutationOptions extends OperationOptions {
  /**
   * Creates and clones with the same key return the same task and VM instead of making a second
   * one; the same key with different input is a `ConflictError` (`idempotency-mismatch`). Mint the
   * key once, outside any retry loop. 1–200 printable characters.
   */
  idempotencyKey?: string | undefined;
  /** Timeout of the default wait used by `await task`. Default: none. */
  timeoutMs?: number | undefined;
}

/** Power operations. */
export type PowerAction = 'on' | 'off' | 'shutdown' | 'reboot' | 'reset' | 'suspend' | 'resume';

/** Something that names a VM: a ref, or a VM as returned by `get`/`list`. */
export type VmTarget = VmRef | Pick<Vm, 'ref'>;

/**
 * One hypervisor endpoint behind the hvkit contract. Every method takes an `AbortSignal`; inputs
 * are validated (`InvalidSpecError`, naming the field) and capability-gated
 * (`UnsupportedCapabilityError`) before any I/O. Long operations return a {@link Task}.
 */
export interface Provider {
  /** Instance name; appears in every `VmRef` this provider returns. */
  readonly name: string;
  /** Backend type: `mock`, `vsphere`, `libvirt`, `proxmox`, or a third party's. */
  readonly type: string;
  /** The provider's declarations, normalised. */
  readonly capabilities: CapabilityMap;

  /** Connects and reports the backend version. Throws `AuthenticationError` / `TransportError`. */
  validate(options?: OperationOptions): Promise<ValidationReport>;
  /** Every VM matching the query, paging transparently. `core.describe`. */
  list(query?: ListQuery, options?: OperationOptions): AsyncIterable<Vm>;
  /** One page of VMs. `core.describe`. */
  listPage(query?: ListQuery, options?: OperationOptions): Promise<Page<Vm>>;
  /** One VM. `core.describe`; `NotFoundError` if absent. */
  get(target: VmTarget, options?: OperationOptions): Promise<Vm>;

  /** Creates a VM. `core.create` plus whatever the spec uses (see `requirementsOfSpec`). */
  create(spec: VmSpecInput, options?: MutationOptions): Task<Vm>;
  /** Deletes a VM with its disks and snapshots, powering it off first. `core.delete`. */
  delete(target: VmTarget, options?: MutationOptions): Task<void>;
  /** `core.powerOn`; a VM that is on is a `ConflictError` (`invalid-power-state`). */
  powerOn(target: VmTarget, options?: MutationOptions): Task<void>;
  /** Hard power-off. `core.powerOff`. */
  powerOff(target: VmTarget, options?: MutationOptions): Task<void>;
  /** Graceful guest shutdown (needs running tools/agent or ACPI). `core.powerOff`. */
  shutdown(target: VmTarget, options?: MutationOptions): Task<void>;
  /** Graceful guest reboot. `core.reboot`. */
  reboot(target: VmTarget, options?: MutationOptions): Task<void>;
  /** Hard reset. `core.reboot`. */
  reset(target: VmTarget, options?: MutationOptions): Task<void>;
  /**
   * `core.suspend`. `toDisk: true` saves the memory to disk and ends the VM process (hibernation:
   * Proxmox `todisk`, libvirt managedsave); the default is the backend's own suspend, in memory
   * where it has one (vSphere only suspends to disk). Either way the VM reports `suspended` and
   * `resume` (or `powerOn`) brings it back.
   */
  suspend(target: VmTarget, options?: MutationOptions & { toDisk?: boolean }): Task<void>;
  /** Resumes a suspended or paused VM. `core.suspend`. */
  resume(target: VmTarget, options?: MutationOptions): Task<void>;
  /** Changes hardware; the result says what applied live and what waits for a restart. `core.reconfigure`. */
  reconfigure(
    target: VmTarget,
    change: VmChange,
    options?: MutationOptions,
  ): Task<ReconfigureResult>;
  /** Full or linked clone. `lifecycle.fullClone` / `lifecycle.linkedClone`. */
  clone(source: VmTarget, options: CloneOptions, mutation?: MutationOptions): Task<Vm>;
  /** Turns a stopped VM into a template. `lifecycle.templateDeploy`. */
  markAsTemplate(target: VmTarget, options?: MutationOptions): Task<Vm>;

  /** `snapshots.tree`. */
  listSnapshots(target: VmTarget, options?: OperationOptions): Promise<SnapshotTree>;
  /** `snapshots.create` (+ `snapshots.memory`, `snapshots.quiesce`). */
  createSnapshot(
    target: VmTarget,
    snapshot: SnapshotOptions,
    options?: MutationOptions,
  ): Task<Snapshot>;
  /** `snapshots.revert`. */
  revertSnapshot(target: VmTarget, snapshotId: string, options?: MutationOptions): Task<void>;
  /** `snapshots.delete`. Children are kept (re-parented) unless `removeChildren`. */
  deleteSnapshot(
    target: VmTarget,
    snapshotId: string,
    options?: MutationOptions & { removeChildren?: boolean },
  ): Task<void>;

  /** `core.consoleUrl`. The ticket is a secret. */
  getConsole(target: VmTarget, options?: OperationOptions): Promise<ConsoleAccess>;
  /** `guest.agent`. */
  getGuestInfo(target: VmTarget, options?: OperationOptions): Promise<GuestInfo>;
  /** `monitoring.metrics` (+ `monitoring.history` with `since`). */
  getMetrics(
    target: VmTarget,
    query?: MetricsQuery,
    options?: OperationOptions,
  ): Promise<MetricSeries[]>;
  /** `monitoring.events`. Newest first. */
  listEvents(query?: EventQuery, options?: OperationOptions): Promise<VmEvent[]>;
  /** `monitoring.healthChecks`. */
  checkHealth(target: VmTarget, options?: OperationOptions): Promise<HealthReport>;
  /** `monitoring.alerting`. */
  createAlert(rule: AlertRuleSpec, options?: OperationOptions): Promise<Alert>;
  /** `monitoring.alerting`. Evaluates every rule now. */
  listAlerts(options?: OperationOptions): Promise<Alert[]>;
  /** `monitoring.alerting`. */
  deleteAlert(id: string, options?: OperationOptions): Promise<void>;

  /** Images available to `create`. Needs one of the image capabilities or `migration.diskImport`. */
  listImages(options?: OperationOptions): Promise<Image[]>;
  /** `images.*` by source kind (+ `images.conversion` with `convertTo`). */
  importImage(
    source: ImageImportSource,
    options: ImportImageOptions,
    mutation?: MutationOptions,
  ): Task<Image>;
  /** Deletes an image no VM uses. */
  deleteImage(id: string, options?: OperationOptions): Promise<void>;
  /** `storage.storagePools`. */
  listStoragePools(options?: OperationOptions): Promise<StoragePool[]>;
  /** `network.basic`. */
  listNetworks(options?: OperationOptions): Promise<Network[]>;

  /** `advanced.resourcePools`. */
  listResourcePools(options?: OperationOptions): Promise<ResourcePool[]>;
  /** `advanced.resourcePools`. */
  createResourcePool(spec: ResourcePoolSpec, options?: OperationOptions): Promise<ResourcePool>;
  /** `advanced.resourcePools`. A pool that holds VMs is a `ConflictError` (`in-use`). */
  deleteResourcePool(id: string, options?: OperationOptions): Promise<void>;
  /** `advanced.affinityRules`. */
  listPlacementRules(options?: OperationOptions): Promise<PlacementRule[]>;
  /** `advanced.affinityRules`. */
  createPlacementRule(spec: PlacementRuleSpec, options?: OperationOptions): Promise<PlacementRule>;
  /** `advanced.affinityRules`. */
  deletePlacementRule(id: string, options?: OperationOptions): Promise<void>;
  /** `advanced.ha`. */
  setHighAvailability(
    target: VmTarget,
    settings: HighAvailabilitySettings,
    options?: MutationOptions,
  ): Task<void>;
  /** `advanced.drs`. */
  setLoadBalancing(
    target: VmTarget,
    settings: LoadBalancingSettings,
    options?: MutationOptions,
  ): Task<void>;
  /** `advanced.faultTolerance`. Needs a running VM with one vCPU per the backend's rules. */
  setFaultTolerance(
    target: VmTarget,
    settings: FaultToleranceSettings,
    options?: MutationOptions,
  ): Task<void>;
  /** Moves a VM (running: live) to another host, storage or pool. `advanced.liveMigration`. */
  migrate(target: VmTarget, destination: MigrateTarget, options?: MutationOptions): Task<Vm>;

  /** Reads a disk as a byte stream. `migration.diskExport`. */
  exportDisk(
    target: VmTarget,
    diskId: string,
    options?: OperationOptions & { offsetBytes?: number },
  ): Promise<DiskExport>;
  /** Writes a byte stream as a stored disk image usable by `create`. `migration.diskImport`. */
  importDisk(
    spec: DiskImportSpec,
    source: AsyncIterable<Uint8Array>,
    options?: MutationOptions,
  ): Task<Image>;

  /** The snapshot of one of this provider's tasks. `core.taskStatus`. */
  getTask(id: string, options?: OperationOptions): Promise<TaskSnapshot>;
  /** Rebuilds a task from `task.toJSON()` output. `core.taskStatus`. */
  resumeTask<T = unknown>(json: unknown): Task<T>;
  /** May `capability` be used on this VM now? Declared level first, then the provider's live check. */
  can(
    target: VmTarget | Vm,
    capability: CapabilityId,
    options?: OperationOptions,
  ): Promise<CanResult>;
  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}
