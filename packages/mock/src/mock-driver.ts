import {
  type Alert,
  type CanResult,
  type CapabilityId,
  type CapabilityMap,
  type Clock,
  type ConsoleAccess,
  type DiskExport,
  type DriverOptions,
  type GuestInfo,
  type HealthReport,
  type Image,
  type ImageImportSource,
  isFinalState,
  isUsable,
  type Logger,
  type MetricSeries,
  type Network,
  type Page,
  type ParsedInput,
  type PlacementRule,
  POWER_TASK_KINDS,
  type PowerAction,
  type ProviderDriver,
  type ResourcePool,
  redactingLogger,
  type SnapshotTree,
  type StoragePool,
  silentLogger,
  systemClock,
  type TaskSettings,
  type TaskSnapshot,
  type TaskStart,
  type ValidationReport,
  type Vm,
  type VmEvent,
  type VmSpec,
} from '@hvkit/core';
import { canonicalJson, createMockBackend, type MockBackend } from './mock-backend.js';
import { mockCapabilities } from './mock-capabilities.js';
import { faultError, MockFaultController, type MockFaultRule } from './mock-faults.js';
import {
  DEFAULT_TASK_DURATIONS_MS,
  FALLBACK_TASK_DURATION_MS,
  type MockProviderOptions,
} from './mock-options.js';
import { hash32, SeededRandom } from './mock-random.js';
import type { MockOperation } from './mock-state.js';

/** How often a watcher re-reads a shared state file for changes by another process. */
const PERSIST_POLL_MS = 250;

function hang(signal: AbortSignal | undefined): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/**
 * The Mock as a {@link ProviderDriver}: a thin layer that adds latency, scripted faults and
 * idempotency fingerprints, then calls the {@link MockBackend}. Wrap it with `createProvider`
 * (or use `createMockProvider`); exposed for tests that wrap or sabotage a driver.
 */
export class MockDriver implements ProviderDriver {
  readonly type = 'mock';
  readonly name: string;
  readonly capabilities: CapabilityMap;
  readonly taskSettings: TaskSettings;
  readonly logger: Logger;
  /** The hypervisor this driver talks to. */
  readonly backend: MockBackend;
  /** Scripted faults of this driver. */
  readonly faults: MockFaultController;
  readonly #clock: Clock;
  readonly #latency: MockProviderOptions['latencyMs'];
  readonly #durations: MockProviderOptions['taskDurationMs'];
  readonly #ownsBackend: boolean;

  /** Throws `TypeError` for an invalid capability override, fault rule or inventory. */
  constructor(options: MockProviderOptions = {}) {
    this.name = options.name ?? 'mock';
    this.#clock = options.clock ?? options.backend?.clock ?? systemClock;
    this.#ownsBackend = options.backend === undefined;
    this.backend =
      options.backend ??
      createMockBackend({
        seed: options.seed,
        clock: this.#clock,
        persistPath: options.persistPath,
        inventory: options.inventory,
        logger: options.logger,
      });
    const seed = this.backend.seed;
    this.capabilities = mockCapabilities(options.capabilities);
    this.faults = new MockFaultController(seed, options.faults);
    this.#latency = options.latencyMs;
    this.#durations = options.taskDurationMs;
    this.logger = redactingLogger(options.logger ?? silentLogger);
    const backoff = new SeededRandom(hash32('backoff', seed));
    this.taskSettings = {
      clock: this.#clock,
      backoff: { initialDelayMs: 10, maxDelayMs: 1_000, random: () => backoff.next() },
    };
  }

  #latencyOf(operation: string): number {
    const latency = this.#latency;
    if (latency === undefined) return 0;
    return typeof latency === 'number' ? latency : (latency[operation] ?? 0);
  }

  #durationOf(kind: string): number {
    const durations = this.#durations;
    if (typeof durations === 'number') return durations;
    return durations?.[kind] ?? DEFAULT_TASK_DURATIONS_MS[kind] ?? FALLBACK_TASK_DURATION_MS;
  }

  /**
   * Every call starts here: count it as I/O, wait the latency, consult the faults, pick up
   * changes another process made to the state file. Returns the fault meant for the task.
   */
  async #enter(
    operation: string,
    options: DriverOptions,
    kind?: string,
  ): Promise<MockFaultRule | undefined> {
    this.backend.ioCount += 1;
    this.logger.debug('mock call', { operation, ...(kind ? { kind } : {}) });
    const latency = this.#latencyOf(operation);
    if (latency > 0) await this.#clock.sleep(latency, options.signal);
    const rule = this.faults.match(kind === undefined ? [operation] : [operation, kind]);
    if (rule) {
      this.logger.debug('mock fault fires', { operation, mode: rule.mode });
      if (rule.mode === 'throw' || (rule.mode === 'task-fail' && kind === undefined)) {
        throw faultError(rule, operation, this.name);
      }
      if (rule.mode === 'hang' && kind === undefined) await hang(options.signal);
    }
    this.backend.sync();
    return rule;
  }

  async #call<T>(operation: string, options: DriverOptions, run: () => T): Promise<T> {
    await this.#enter(operation, options);
    return run();
  }

  async #task(
    operation: string,
    kind: string,
    options: DriverOptions,
    task: MockOperation,
    fingerprint: unknown[],
    source?: AsyncIterable<Uint8Array>,
  ): Promise<TaskStart> {
    const rule = await this.#enter(operation, options, kind);
    const fault =
      rule && rule.mode !== 'throw'
        ? { mode: rule.mode, error: faultError(rule, operation, this.name).toJSON() }
        : undefined;
    const taskId = this.backend.submitTask({
      kind,
      provider: this.name,
      operation: task,
      durationMs: this.#durationOf(kind),
      fault,
      idempotency:
        options.idempotencyKey === undefined
          ? undefined
          : { key: options.idempotencyKey, fingerprint: canonicalJson([kind, ...fingerprint]) },
      source,
    });
    // A task that ended at submission (duration 0) goes back with its snapshot, as a synchronous
    // backend would answer: the core then has nothing to observe.
    const snapshot = this.backend.taskSnapshot(taskId, this.name);
    return isFinalState(snapshot.state) ? { taskId, snapshot } : taskId;
  }

  // ---- inventory and tasks ---------------------------------------------------------------------

  validate(options: DriverOptions): Promise<ValidationReport> {
    return this.#call('validate', options, () => {
      const info = this.backend.describe();
      return {
        provider: this.name,
        type: this.type,
        version: info.version,
        apiVersion: '1',
        details: { vms: info.vms, hosts: info.hosts, seed: info.seed, persisted: info.persisted },
        warnings: [],
      };
    });
  }

  listPage(query: ParsedInput['listQuery'], options: DriverOptions): Promise<Page<Vm>> {
    return this.#call('listPage', options, () => {
      const page = this.backend.listVms(query, this.name);
      return {
        items: page.items.map((vm) => this.backend.vmView(vm, this.name)),
        ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
      };
    });
  }

  get(id: string, options: DriverOptions): Promise<Vm> {
    return this.#call('get', options, () =>
      this.backend.vmView(this.backend.getVm(id, this.name), this.name),
    );
  }

  getTask(taskId: string, options: DriverOptions): Promise<TaskSnapshot> {
    return this.#call('getTask', options, () => this.backend.taskSnapshot(taskId, this.name));
  }

  /** Yields the task's snapshot now and whenever it changes; ends after a final one. */
  async *watchTask(taskId: string, options: DriverOptions): AsyncGenerator<TaskSnapshot> {
    await this.#enter('watchTask', options);
    const pollMs = this.backend.persistPath === undefined ? undefined : PERSIST_POLL_MS;
    let last = '';
    for (;;) {
      this.backend.sync();
      const version = this.backend.taskVersion(taskId);
      const snapshot = this.backend.taskSnapshot(taskId, this.name);
      // State and progress say whether anything changed; a result only comes with the final state.
      const key = `${snapshot.state} ${JSON.stringify(snapshot.progress)}`;
      if (key !== last) {
        last = key;
        yield snapshot;
      }
      if (isFinalState(snapshot.state)) return;
      await this.backend.waitForTaskChange(taskId, version, options.signal, pollMs);
    }
  }

  cancelTask(taskId: string, options: DriverOptions): Promise<void> {
    return this.#call('cancelTask', options, () => this.backend.cancelTask(taskId, this.name));
  }

  can(
    vm: Vm,
    capability: CapabilityId,
    options: DriverOptions,
  ): Promise<Omit<CanResult, 'capability'> | undefined> {
    return this.#call('can', options, () => this.backend.liveCheck(vm.ref.id, capability));
  }

  /** Stops the timers of a backend this driver made itself; a shared backend stays running. */
  async close(): Promise<void> {
    if (this.#ownsBackend) this.backend.dispose();
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  create(spec: VmSpec, options: DriverOptions): Promise<TaskStart> {
    return this.#task('create', 'vm.create', options, { type: 'create', vmId: '', spec }, [spec]);
  }

  delete(id: string, options: DriverOptions): Promise<TaskStart> {
    return this.#task('delete', 'vm.delete', options, { type: 'delete', vmId: id }, [id]);
  }

  power(id: string, action: PowerAction, options: DriverOptions): Promise<TaskStart> {
    return this.#task(
      'power',
      POWER_TASK_KINDS[action],
      options,
      { type: 'power', vmId: id, action },
      [id],
    );
  }

  reconfigure(
    id: string,
    change: ParsedInput['vmChange'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    return this.#task(
      'reconfigure',
      'vm.reconfigure',
      options,
      { type: 'reconfigure', vmId: id, change },
      [id, change],
    );
  }

  clone(
    id: string,
    clone: ParsedInput['cloneOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    return this.#task(
      'clone',
      'vm.clone',
      options,
      { type: 'clone', vmId: id, newVmId: '', options: clone },
      [id, clone],
    );
  }

  markAsTemplate(id: string, options: DriverOptions): Promise<TaskStart> {
    return this.#task(
      'markAsTemplate',
      'vm.mark-as-template',
      options,
      { type: 'mark-as-template', vmId: id },
      [id],
    );
  }

  // ---- snapshots -------------------------------------------------------------------------------

  listSnapshots(id: string, options: DriverOptions): Promise<SnapshotTree> {
    return this.#call('listSnapshots', options, () => this.backend.snapshotTree(id, this.name));
  }

  createSnapshot(
    id: string,
    snapshot: ParsedInput['snapshotOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    return this.#task(
      'createSnapshot',
      'snapshot.create',
      options,
      { type: 'snapshot-create', vmId: id, options: snapshot },
      [id, snapshot],
    );
  }

  revertSnapshot(id: string, snapshotId: string, options: DriverOptions): Promise<TaskStart> {
    return this.#task(
      'revertSnapshot',
      'snapshot.revert',
      options,
      { type: 'snapshot-revert', vmId: id, snapshotId },
      [id, snapshotId],
    );
  }

  deleteSnapshot(
    id: string,
    snapshotId: string,
    removeChildren: boolean,
    options: DriverOptions,
  ): Promise<TaskStart> {
    return this.#task(
      'deleteSnapshot',
      'snapshot.delete',
      options,
      { type: 'snapshot-delete', vmId: id, snapshotId, removeChildren },
      [id, snapshotId, removeChildren],
    );
  }

  // ---- guest, console, monitoring --------------------------------------------------------------

  getConsole(id: string, options: DriverOptions): Promise<ConsoleAccess> {
    return this.#call('getConsole', options, () => this.backend.console(id, this.name));
  }

  getGuestInfo(id: string, options: DriverOptions): Promise<GuestInfo> {
    return this.#call('getGuestInfo', options, () => this.backend.guestInfo(id, this.name));
  }

  getMetrics(
    id: string,
    query: ParsedInput['metricsQuery'],
    options: DriverOptions,
  ): Promise<MetricSeries[]> {
    return this.#call('getMetrics', options, () => this.backend.metrics(id, query, this.name));
  }

  listEvents(query: ParsedInput['eventQuery'], options: DriverOptions): Promise<VmEvent[]> {
    return this.#call('listEvents', options, () => this.backend.listEvents(query, this.name));
  }

  checkHealth(id: string, options: DriverOptions): Promise<HealthReport> {
    return this.#call('checkHealth', options, () => this.backend.health(id, this.name));
  }

  createAlert(rule: ParsedInput['alertRule'], options: DriverOptions): Promise<Alert> {
    return this.#call('createAlert', options, () => this.backend.createAlert(rule, this.name));
  }

  listAlerts(options: DriverOptions): Promise<Alert[]> {
    return this.#call('listAlerts', options, () => this.backend.listAlerts(this.name));
  }

  deleteAlert(id: string, options: DriverOptions): Promise<void> {
    return this.#call('deleteAlert', options, () => this.backend.deleteAlert(id, this.name));
  }

  // ---- images, storage, network ----------------------------------------------------------------

  listImages(options: DriverOptions): Promise<Image[]> {
    return this.#call('listImages', options, () => this.backend.listImages());
  }

  importImage(
    source: ImageImportSource,
    image: ParsedInput['importImageOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    return this.#task(
      'importImage',
      'image.import',
      options,
      {
        type: 'image-import',
        source,
        options: image,
        caching: isUsable(this.capabilities['images.caching']),
      },
      [source, image],
    );
  }

  deleteImage(id: string, options: DriverOptions): Promise<void> {
    return this.#call('deleteImage', options, () => this.backend.deleteImage(id, this.name));
  }

  listStoragePools(options: DriverOptions): Promise<StoragePool[]> {
    return this.#call('listStoragePools', options, () => this.backend.listStoragePools());
  }

  listNetworks(options: DriverOptions): Promise<Network[]> {
    return this.#call('listNetworks', options, () => this.backend.listNetworks());
  }

  // ---- advanced --------------------------------------------------------------------------------

  listResourcePools(options: DriverOptions): Promise<ResourcePool[]> {
    return this.#call('listResourcePools', options, () => this.backend.listResourcePools());
  }

  createResourcePool(
    spec: ParsedInput['resourcePoolSpec'],
    options: DriverOptions,
  ): Promise<ResourcePool> {
    return this.#call('createResourcePool', options, () =>
      this.backend.createResourcePool(spec, this.name),
    );
  }

  deleteResourcePool(id: string, options: DriverOptions): Promise<void> {
    return this.#call('deleteResourcePool', options, () =>
      this.backend.deleteResourcePool(id, this.name),
    );
  }

  listPlacementRules(options: DriverOptions): Promise<PlacementRule[]> {
    return this.#call('listPlacementRules', options, () =>
      this.backend.listPlacementRules(this.name),
    );
  }

  createPlacementRule(
    spec: ParsedInput['placementRuleSpec'],
    options: DriverOptions,
  ): Promise<PlacementRule> {
    return this.#call('createPlacementRule', options, () =>
      this.backend.createPlacementRule(spec, this.name),
    );
  }

  deletePlacementRule(id: string, options: DriverOptions): Promise<void> {
    return this.#call('deletePlacementRule', options, () =>
      this.backend.deletePlacementRule(id, this.name),
    );
  }

  setHighAvailability(
    id: string,
    settings: ParsedInput['highAvailability'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    return this.#task(
      'setHighAvailability',
      'vm.set-high-availability',
      options,
      { type: 'policy', vmId: id, policy: 'highAvailability', settings },
      [id, settings],
    );
  }

  setLoadBalancing(
    id: string,
    settings: ParsedInput['loadBalancing'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    return this.#task(
      'setLoadBalancing',
      'vm.set-load-balancing',
      options,
      { type: 'policy', vmId: id, policy: 'loadBalancing', settings },
      [id, settings],
    );
  }

  setFaultTolerance(
    id: string,
    settings: ParsedInput['faultTolerance'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    return this.#task(
      'setFaultTolerance',
      'vm.set-fault-tolerance',
      options,
      { type: 'policy', vmId: id, policy: 'faultTolerance', settings },
      [id, settings],
    );
  }

  migrate(
    id: string,
    destination: ParsedInput['migrateTarget'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    return this.#task(
      'migrate',
      'vm.migrate',
      options,
      { type: 'migrate', vmId: id, destination },
      [id, destination],
    );
  }

  // ---- disks -----------------------------------------------------------------------------------

  exportDisk(
    id: string,
    diskId: string,
    offsetBytes: number,
    options: DriverOptions,
  ): Promise<DiskExport> {
    return this.#call('exportDisk', options, () =>
      this.backend.exportDisk(id, diskId, offsetBytes, options.signal, this.name),
    );
  }

  importDisk(
    spec: ParsedInput['diskImportSpec'],
    source: AsyncIterable<Uint8Array>,
    options: DriverOptions,
  ): Promise<TaskStart> {
    return this.#task(
      'importDisk',
      'disk.import',
      options,
      { type: 'disk-import', spec },
      [spec],
      source,
    );
  }
}

/** Makes the Mock's driver. Throws `TypeError` for invalid options. */
export function createMockDriver(options: MockProviderOptions = {}): MockDriver {
  return new MockDriver(options);
}
