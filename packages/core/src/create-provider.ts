import { z } from 'zod';
import {
  CAPABILITY_IDS,
  type CanResult,
  type CapabilityId,
  isCapabilityId,
  isUsable,
} from './capabilities.js';
import { DRIVER_METHOD_CAPABILITIES, type DriverOptions, type ProviderDriver } from './driver.js';
import {
  InvalidSpecError,
  ProviderApiError,
  redactError,
  UnsupportedCapabilityError,
} from './errors.js';
import { VmRefSchema } from './model/common.js';
import {
  AlertRuleSpecSchema,
  CloneOptionsSchema,
  DiskImportSpecSchema,
  EventQuerySchema,
  ExportDiskOptionsSchema,
  FaultToleranceSettingsSchema,
  HighAvailabilitySettingsSchema,
  ImageImportSourceSchema,
  ImageSchema,
  ImportImageOptionsSchema,
  ListQuerySchema,
  LoadBalancingSettingsSchema,
  MetricsQuerySchema,
  MigrateTargetSchema,
  PlacementRuleSpecSchema,
  ReconfigureResultSchema,
  ResourcePoolSpecSchema,
  SnapshotOptionsSchema,
  VmChangeSchema,
} from './model/operations.js';
import { SnapshotSchema, type Vm, VmSchema } from './model/vm.js';
import { VmSpecSchema } from './model/vm-spec.js';
import type {
  MutationOptions,
  OperationOptions,
  PowerAction,
  Provider,
  VmTarget,
} from './provider.js';
import { redact } from './redact.js';
import {
  type Requirement,
  requirementsOfChange,
  requirementsOfClone,
  requirementsOfImageImport,
  requirementsOfSnapshot,
  requirementsOfSpec,
} from './requirements.js';
import { Task, type TaskSnapshot, type TaskSource, type TaskStart } from './task.js';

/** Task kinds and how each decodes its result. `resumeTask` uses this to type a resumed task. */
export const TASK_RESULT_DECODERS: Record<string, (raw: unknown) => unknown> = {
  'vm.create': (raw) => VmSchema.parse(raw),
  'vm.clone': (raw) => VmSchema.parse(raw),
  'vm.mark-as-template': (raw) => VmSchema.parse(raw),
  'vm.migrate': (raw) => VmSchema.parse(raw),
  'vm.reconfigure': (raw) => ReconfigureResultSchema.parse(raw),
  'snapshot.create': (raw) => SnapshotSchema.parse(raw),
  'image.import': (raw) => ImageSchema.parse(raw),
  'disk.import': (raw) => ImageSchema.parse(raw),
};

const voidResult = (): undefined => undefined;

function decoderFor(kind: string): (raw: unknown) => unknown {
  return TASK_RESULT_DECODERS[kind] ?? voidResult;
}

const POWER_CAPABILITY: Record<PowerAction, CapabilityId> = {
  on: 'core.powerOn',
  off: 'core.powerOff',
  shutdown: 'core.powerOff',
  reboot: 'core.reboot',
  reset: 'core.reboot',
  suspend: 'core.suspend',
  resume: 'core.suspend',
};

/** The task kind of each power action (`vm.power-on`, `vm.shutdown`, …). */
export const POWER_TASK_KINDS: Readonly<Record<PowerAction, string>> = {
  on: 'vm.power-on',
  off: 'vm.power-off',
  shutdown: 'vm.shutdown',
  reboot: 'vm.reboot',
  reset: 'vm.reset',
  suspend: 'vm.suspend',
  resume: 'vm.resume',
};

const IdempotencyKeySchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

const TargetIdSchema = z.string().min(1, 'must not be empty').max(1024);

/**
 * Wraps a driver into a {@link Provider}. Throws `TypeError` when the driver declares a capability
 * usable without implementing the method it needs, so a provider cannot claim what it lacks.
 */
export function createProvider(driver: ProviderDriver): Provider {
  for (const id of CAPABILITY_IDS) {
    if (!driver.capabilities[id])
      throw new TypeError(`provider ${driver.name} does not declare ${id}`);
  }
  for (const [method, capabilities] of Object.entries(DRIVER_METHOD_CAPABILITIES)) {
    const needed = (capabilities as readonly CapabilityId[]).filter((capability) =>
      isUsable(driver.capabilities[capability]),
    );
    if (
      needed.length > 0 &&
      typeof (driver as unknown as Record<string, unknown>)[method] !== 'function'
    ) {
      throw new TypeError(
        `provider ${driver.name} declares ${needed.join(', ')} but does not implement ${method}()`,
      );
    }
  }
  return new ContractProvider(driver);
}

class ContractProvider implements Provider {
  readonly name: string;
  readonly type: string;
  readonly capabilities: ProviderDriver['capabilities'];
  readonly #driver: ProviderDriver;
  readonly #source: TaskSource;

  constructor(driver: ProviderDriver) {
    this.#driver = driver;
    this.name = driver.name;
    this.type = driver.type;
    this.capabilities = driver.capabilities;
    const scrub = this.#scrub.bind(this);
    const scrubSnapshot = (snapshot: TaskSnapshot): TaskSnapshot =>
      snapshot.error === undefined || !driver.redact?.secrets?.length
        ? snapshot
        : { ...snapshot, error: redact(snapshot.error, driver.redact) };
    const source: TaskSource = {
      name: driver.name,
      getTask: (id, options) =>
        driver.getTask(id, { signal: options?.signal }).then(scrubSnapshot, scrub),
    };
    if (driver.watchTask) {
      const watch = driver.watchTask.bind(driver);
      source.watchTask = (id, options) => ({
        async *[Symbol.asyncIterator]() {
          try {
            for await (const snapshot of watch(id, { signal: options?.signal })) {
              yield scrubSnapshot(snapshot);
            }
          } catch (error) {
            scrub(error);
          }
        },
      });
    }
    if (driver.cancelTask && isUsable(driver.capabilities['core.taskCancel'])) {
      const cancel = driver.cancelTask.bind(driver);
      source.cancelTask = (id, options) => cancel(id, { signal: options?.signal }).catch(scrub);
    }
    this.#source = source;
  }

  // ---- guards -------------------------------------------------------------------------------

  #require(capability: CapabilityId, path?: string): void {
    const status = this.capabilities[capability];
    if (isUsable(status)) return;
    const where = path && path !== '(root)' ? ` (needed by ${path})` : '';
    const note = status.note ? `: ${status.note}` : '';
    throw new UnsupportedCapabilityError(
      capability,
      `${this.name} (${this.type}) declares ${capability} ${status.level}${where}${note}`,
      {
        provider: this.name,
        details: { level: status.level, path },
      },
    );
  }

  #requireAny(capabilities: readonly CapabilityId[], what: string): void {
    if (capabilities.some((capability) => isUsable(this.capabilities[capability]))) return;
    throw new UnsupportedCapabilityError(
      capabilities[0] as CapabilityId,
      `${this.name} (${this.type}) supports none of ${capabilities.join(', ')} needed by ${what}`,
      {
        provider: this.name,
      },
    );
  }

  #requireAll(requirements: readonly Requirement[]): void {
    for (const requirement of requirements) this.#require(requirement.capability, requirement.path);
  }

  /** Validates caller input; `path` prefixes issue paths of a named parameter (`idempotencyKey`). */
  #parse<S extends z.ZodType>(
    schema: S,
    value: unknown,
    subject: string,
    path: readonly PropertyKey[] = [],
  ): z.output<S> {
    const result = schema.safeParse(value);
    if (!result.success)
      throw InvalidSpecError.fromZod(result.error, {
        subject,
        provider: this.name,
        pathPrefix: path,
      });
    return result.data;
  }

  /** Validates a VM the driver returned: a malformed one is the backend's fault, not a ZodError. */
  #vm(raw: unknown): Vm {
    const result = VmSchema.safeParse(raw);
    if (result.success) return result.data;
    throw new ProviderApiError(`${this.name} returned an invalid VM`, {
      provider: this.name,
      cause: result.error,
      details: { issues: InvalidSpecError.fromZod(result.error).issues },
    });
  }

  #id(target: VmTarget | Vm, subject = 'target'): string {
    const ref =
      target !== null && typeof target === 'object' && 'ref' in target ? target.ref : target;
    const parsed = this.#parse(VmRefSchema, ref, subject);
    if (parsed.provider !== this.name) {
      throw new InvalidSpecError(
        [
          {
            path: 'provider',
            message: `ref belongs to provider ${JSON.stringify(parsed.provider)}, not ${JSON.stringify(this.name)}`,
            code: 'custom',
          },
        ],
        {
          subject,
          provider: this.name,
        },
      );
    }
    return parsed.id;
  }

  #options(options: MutationOptions | OperationOptions | undefined): DriverOptions {
    options?.signal?.throwIfAborted();
    const key = (options as MutationOptions | undefined)?.idempotencyKey;
    if (key !== undefined)
      this.#parse(IdempotencyKeySchema, key, 'idempotencyKey', ['idempotencyKey']);
    return { signal: options?.signal, idempotencyKey: key };
  }

  /** Runs guards synchronously inside the task's submission, so their errors reject the task. */
  #task<T>(
    kind: string,
    options: MutationOptions | undefined,
    submit: (driverOptions: DriverOptions) => Promise<TaskStart>,
  ): Task<T> {
    const scrub = this.#scrub.bind(this);
    return Task.start<T>(this.#source, kind, () => submit(this.#options(options)).catch(scrub), {
      decode: decoderFor(kind) as (raw: unknown) => T,
      settings: this.#driver.taskSettings,
      defaultWait: { signal: options?.signal, timeoutMs: options?.timeoutMs },
    });
  }

  #call<T>(
    options: OperationOptions | undefined,
    run: (driverOptions: DriverOptions) => Promise<T>,
  ): Promise<T> {
    try {
      return run(this.#options(options)).catch((error: unknown) => this.#scrub(error));
    } catch (error) {
      return Promise.reject(this.#redacted(error));
    }
  }

  /** A driver's secrets can be learnt after its errors were built (console tickets): scrub again. */
  #redacted(error: unknown): unknown {
    return redactError(error, this.#driver.redact);
  }

  #scrub(error: unknown): never {
    throw this.#redacted(error);
  }

  // ---- inventory ----------------------------------------------------------------------------

  validate(options?: OperationOptions) {
    return this.#call(options, (driverOptions) => this.#driver.validate(driverOptions));
  }

  listPage(query: unknown = {}, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      this.#require('core.describe');
      const parsed = this.#parse(ListQuerySchema, query, 'list query');
      const page = await this.#driver.listPage(parsed, driverOptions);
      return { items: page.items.map((vm) => this.#vm(vm)), nextCursor: page.nextCursor };
    });
  }

  list(query: unknown = {}, options?: OperationOptions): AsyncIterable<Vm> {
    const self = this;
    const driver = this.#driver;
    return {
      async *[Symbol.asyncIterator]() {
        let cursor: string | undefined = (query as { cursor?: string } | undefined)?.cursor;
        if (driver.listStream && cursor === undefined) {
          // One backend listing streamed through, instead of a page round trip per `limit` VMs.
          self.#require('core.describe');
          const parsed = self.#parse(ListQuerySchema, query, 'list query');
          try {
            for await (const vm of driver.listStream(parsed, self.#options(options))) {
              yield self.#vm(vm);
            }
          } catch (error) {
            self.#scrub(error);
          }
          return;
        }
        do {
          const page = await self.listPage({ ...(query as object), cursor }, options);
          yield* page.items;
          cursor = page.nextCursor;
        } while (cursor !== undefined);
      },
    };
  }

  get(target: VmTarget, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      this.#require('core.describe');
      return this.#vm(await this.#driver.get(this.#id(target), driverOptions));
    });
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  create(spec: unknown, options?: MutationOptions): Task<Vm> {
    return this.#task('vm.create', options, async (driverOptions) => {
      const parsed = this.#parse(VmSpecSchema, spec, 'VM spec');
      this.#requireAll(requirementsOfSpec(parsed));
      return this.#need('create')(parsed, driverOptions);
    });
  }

  delete(target: VmTarget, options?: MutationOptions): Task<void> {
    return this.#task('vm.delete', options, async (driverOptions) => {
      const id = this.#id(target);
      this.#require('core.delete');
      return this.#need('delete')(id, driverOptions);
    });
  }

  #power(
    action: PowerAction,
    target: VmTarget,
    options?: MutationOptions & { toDisk?: boolean },
  ): Task<void> {
    return this.#task(POWER_TASK_KINDS[action], options, async (driverOptions) => {
      const id = this.#id(target);
      const toDisk = this.#parse(z.boolean().optional(), options?.toDisk, 'toDisk', ['toDisk']);
      this.#require(POWER_CAPABILITY[action]);
      return this.#need('power')(id, action, toDisk ? { ...driverOptions, toDisk } : driverOptions);
    });
  }

  powerOn(target: VmTarget, options?: MutationOptions) {
    return this.#power('on', target, options);
  }
  powerOff(target: VmTarget, options?: MutationOptions) {
    return this.#power('off', target, options);
  }
  shutdown(target: VmTarget, options?: MutationOptions) {
    return this.#power('shutdown', target, options);
  }
  reboot(target: VmTarget, options?: MutationOptions) {
    return this.#power('reboot', target, options);
  }
  reset(target: VmTarget, options?: MutationOptions) {
    return this.#power('reset', target, options);
  }
  suspend(target: VmTarget, options?: MutationOptions & { toDisk?: boolean }) {
    return this.#power('suspend', target, options);
  }
  resume(target: VmTarget, options?: MutationOptions) {
    return this.#power('resume', target, options);
  }

  reconfigure(target: VmTarget, change: unknown, options?: MutationOptions) {
    return this.#task<z.output<typeof ReconfigureResultSchema>>(
      'vm.reconfigure',
      options,
      async (driverOptions) => {
        const id = this.#id(target);
        const parsed = this.#parse(VmChangeSchema, change, 'VM change');
        this.#requireAll(requirementsOfChange(parsed));
        return this.#need('reconfigure')(id, parsed, driverOptions);
      },
    );
  }

  clone(source: VmTarget, cloneOptions: unknown, options?: MutationOptions): Task<Vm> {
    return this.#task('vm.clone', options, async (driverOptions) => {
      const id = this.#id(source, 'source');
      const parsed = this.#parse(CloneOptionsSchema, cloneOptions, 'clone options');
      this.#requireAll(requirementsOfClone(parsed));
      return this.#need('clone')(id, parsed, driverOptions);
    });
  }

  markAsTemplate(target: VmTarget, options?: MutationOptions): Task<Vm> {
    return this.#task('vm.mark-as-template', options, async (driverOptions) => {
      const id = this.#id(target);
      this.#require('lifecycle.templateDeploy');
      return this.#need('markAsTemplate')(id, driverOptions);
    });
  }

  // ---- snapshots ----------------------------------------------------------------------------

  listSnapshots(target: VmTarget, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const id = this.#id(target);
      this.#require('snapshots.tree');
      return this.#need('listSnapshots')(id, driverOptions);
    });
  }

  createSnapshot(target: VmTarget, snapshot: unknown, options?: MutationOptions) {
    return this.#task<z.output<typeof SnapshotSchema>>(
      'snapshot.create',
      options,
      async (driverOptions) => {
        const id = this.#id(target);
        const parsed = this.#parse(SnapshotOptionsSchema, snapshot, 'snapshot options');
        this.#requireAll(requirementsOfSnapshot(parsed));
        return this.#need('createSnapshot')(id, parsed, driverOptions);
      },
    );
  }

  revertSnapshot(target: VmTarget, snapshotId: string, options?: MutationOptions): Task<void> {
    return this.#task('snapshot.revert', options, async (driverOptions) => {
      const id = this.#id(target);
      const snapshot = this.#parse(TargetIdSchema, snapshotId, 'snapshotId', ['snapshotId']);
      this.#require('snapshots.revert');
      return this.#need('revertSnapshot')(id, snapshot, driverOptions);
    });
  }

  deleteSnapshot(
    target: VmTarget,
    snapshotId: string,
    options?: MutationOptions & { removeChildren?: boolean },
  ): Task<void> {
    return this.#task('snapshot.delete', options, async (driverOptions) => {
      const id = this.#id(target);
      const snapshot = this.#parse(TargetIdSchema, snapshotId, 'snapshotId', ['snapshotId']);
      const removeChildren =
        this.#parse(z.boolean().optional(), options?.removeChildren, 'removeChildren', [
          'removeChildren',
        ]) ?? false;
      this.#require('snapshots.delete');
      return this.#need('deleteSnapshot')(id, snapshot, removeChildren, driverOptions);
    });
  }

  // ---- guest, console, monitoring -----------------------------------------------------------

  getConsole(target: VmTarget, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const id = this.#id(target);
      this.#require('core.consoleUrl');
      return this.#need('getConsole')(id, driverOptions);
    });
  }

  getGuestInfo(target: VmTarget, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const id = this.#id(target);
      this.#require('guest.agent');
      return this.#need('getGuestInfo')(id, driverOptions);
    });
  }

  getMetrics(target: VmTarget, query: unknown = {}, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const id = this.#id(target);
      const parsed = this.#parse(MetricsQuerySchema, query, 'metrics query');
      this.#require('monitoring.metrics');
      if (parsed.since !== undefined) this.#require('monitoring.history', 'since');
      return this.#need('getMetrics')(id, parsed, driverOptions);
    });
  }

  listEvents(query: unknown = {}, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const parsed = this.#parse(EventQuerySchema, query, 'event query');
      if (parsed.vm) this.#id(parsed.vm, 'vm');
      this.#require('monitoring.events');
      return this.#need('listEvents')(parsed, driverOptions);
    });
  }

  checkHealth(target: VmTarget, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const id = this.#id(target);
      this.#require('monitoring.healthChecks');
      return this.#need('checkHealth')(id, driverOptions);
    });
  }

  createAlert(rule: unknown, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const parsed = this.#parse(AlertRuleSpecSchema, rule, 'alert rule');
      if (parsed.vm) this.#id(parsed.vm, 'vm');
      this.#require('monitoring.alerting');
      return this.#need('createAlert')(parsed, driverOptions);
    });
  }

  listAlerts(options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      this.#require('monitoring.alerting');
      return this.#need('listAlerts')(driverOptions);
    });
  }

  deleteAlert(id: string, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const alertId = this.#parse(TargetIdSchema, id, 'alert id');
      this.#require('monitoring.alerting');
      return this.#need('deleteAlert')(alertId, driverOptions);
    });
  }

  // ---- images, storage, network -------------------------------------------------------------

  listImages(options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      this.#requireAny(DRIVER_METHOD_CAPABILITIES.listImages, 'listImages');
      return this.#need('listImages')(driverOptions);
    });
  }

  importImage(source: unknown, imageOptions: unknown, options?: MutationOptions) {
    return this.#task<z.output<typeof ImageSchema>>(
      'image.import',
      options,
      async (driverOptions) => {
        const parsedSource = this.#parse(ImageImportSourceSchema, source, 'image source');
        const parsedOptions = this.#parse(ImportImageOptionsSchema, imageOptions, 'image options');
        this.#requireAll(requirementsOfImageImport(parsedSource, parsedOptions));
        return this.#need('importImage')(parsedSource, parsedOptions, driverOptions);
      },
    );
  }

  deleteImage(id: string, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const imageId = this.#parse(TargetIdSchema, id, 'image id');
      this.#requireAny(DRIVER_METHOD_CAPABILITIES.deleteImage, 'deleteImage');
      return this.#need('deleteImage')(imageId, driverOptions);
    });
  }

  listStoragePools(options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      this.#require('storage.storagePools');
      return this.#need('listStoragePools')(driverOptions);
    });
  }

  listNetworks(options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      this.#require('network.basic');
      return this.#need('listNetworks')(driverOptions);
    });
  }

  // ---- advanced -----------------------------------------------------------------------------

  listResourcePools(options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      this.#require('advanced.resourcePools');
      return this.#need('listResourcePools')(driverOptions);
    });
  }

  createResourcePool(spec: unknown, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const parsed = this.#parse(ResourcePoolSpecSchema, spec, 'resource pool');
      this.#require('advanced.resourcePools');
      return this.#need('createResourcePool')(parsed, driverOptions);
    });
  }

  deleteResourcePool(id: string, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const poolId = this.#parse(TargetIdSchema, id, 'resource pool id');
      this.#require('advanced.resourcePools');
      return this.#need('deleteResourcePool')(poolId, driverOptions);
    });
  }

  listPlacementRules(options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      this.#require('advanced.affinityRules');
      return this.#need('listPlacementRules')(driverOptions);
    });
  }

  createPlacementRule(spec: unknown, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const parsed = this.#parse(PlacementRuleSpecSchema, spec, 'placement rule');
      for (const [index, vm] of parsed.vms.entries()) this.#id(vm, `vms[${index}]`);
      this.#require('advanced.affinityRules');
      return this.#need('createPlacementRule')(parsed, driverOptions);
    });
  }

  deletePlacementRule(id: string, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const ruleId = this.#parse(TargetIdSchema, id, 'placement rule id');
      this.#require('advanced.affinityRules');
      return this.#need('deletePlacementRule')(ruleId, driverOptions);
    });
  }

  setHighAvailability(target: VmTarget, settings: unknown, options?: MutationOptions): Task<void> {
    return this.#task('vm.set-high-availability', options, async (driverOptions) => {
      const id = this.#id(target);
      const parsed = this.#parse(
        HighAvailabilitySettingsSchema,
        settings,
        'high availability settings',
      );
      this.#require('advanced.ha');
      return this.#need('setHighAvailability')(id, parsed, driverOptions);
    });
  }

  setLoadBalancing(target: VmTarget, settings: unknown, options?: MutationOptions): Task<void> {
    return this.#task('vm.set-load-balancing', options, async (driverOptions) => {
      const id = this.#id(target);
      const parsed = this.#parse(LoadBalancingSettingsSchema, settings, 'load balancing settings');
      this.#require('advanced.drs');
      return this.#need('setLoadBalancing')(id, parsed, driverOptions);
    });
  }

  setFaultTolerance(target: VmTarget, settings: unknown, options?: MutationOptions): Task<void> {
    return this.#task('vm.set-fault-tolerance', options, async (driverOptions) => {
      const id = this.#id(target);
      const parsed = this.#parse(
        FaultToleranceSettingsSchema,
        settings,
        'fault tolerance settings',
      );
      this.#require('advanced.faultTolerance');
      return this.#need('setFaultTolerance')(id, parsed, driverOptions);
    });
  }

  migrate(target: VmTarget, destination: unknown, options?: MutationOptions): Task<Vm> {
    return this.#task('vm.migrate', options, async (driverOptions) => {
      const id = this.#id(target);
      const parsed = this.#parse(MigrateTargetSchema, destination, 'migration target');
      this.#require('advanced.liveMigration');
      if (parsed.resourcePool !== undefined)
        this.#require('advanced.resourcePools', 'resourcePool');
      if (parsed.storage !== undefined) this.#require('storage.storagePools', 'storage');
      return this.#need('migrate')(id, parsed, driverOptions);
    });
  }

  // ---- disks --------------------------------------------------------------------------------

  exportDisk(
    target: VmTarget,
    diskId: string,
    options?: OperationOptions & { offsetBytes?: number },
  ) {
    return this.#call(options, async (driverOptions) => {
      const id = this.#id(target);
      const disk = this.#parse(TargetIdSchema, diskId, 'diskId', ['diskId']);
      const { offsetBytes } = this.#parse(
        ExportDiskOptionsSchema,
        { offsetBytes: options?.offsetBytes },
        'export options',
      );
      this.#require('migration.diskExport');
      return this.#need('exportDisk')(id, disk, offsetBytes ?? 0, driverOptions);
    });
  }

  importDisk(spec: unknown, source: AsyncIterable<Uint8Array>, options?: MutationOptions) {
    return this.#task<z.output<typeof ImageSchema>>(
      'disk.import',
      options,
      async (driverOptions) => {
        const parsed = this.#parse(DiskImportSpecSchema, spec, 'disk import spec');
        if (source === null || typeof source !== 'object' || !(Symbol.asyncIterator in source)) {
          throw new InvalidSpecError(
            [
              {
                path: 'source',
                message: 'must be an async iterable of Uint8Array',
                code: 'invalid_type',
              },
            ],
            {
              subject: 'disk import',
              provider: this.name,
            },
          );
        }
        this.#require('migration.diskImport');
        if (parsed.storage !== undefined) this.#require('storage.storagePools', 'storage');
        return this.#need('importDisk')(parsed, source, driverOptions);
      },
    );
  }

  // ---- tasks and checks ---------------------------------------------------------------------

  getTask(id: string, options?: OperationOptions) {
    return this.#call(options, async (driverOptions) => {
      const taskId = this.#parse(TargetIdSchema, id, 'task id');
      this.#require('core.taskStatus');
      return this.#driver.getTask(taskId, driverOptions);
    });
  }

  resumeTask<T = unknown>(json: unknown): Task<T> {
    this.#require('core.taskStatus');
    const kind =
      (typeof json === 'string' ? safeKind(json) : (json as { kind?: unknown } | null)?.kind) ?? '';
    return Task.resume<T>(this.#source, json, {
      decode: decoderFor(String(kind)) as (raw: unknown) => T,
      settings: this.#driver.taskSettings,
    });
  }

  async can(
    target: VmTarget | Vm,
    capability: CapabilityId,
    options?: OperationOptions,
  ): Promise<CanResult> {
    const driverOptions = this.#options(options);
    if (!isCapabilityId(capability)) {
      throw new InvalidSpecError(
        [
          {
            path: 'capability',
            message: `unknown capability ${JSON.stringify(capability)}`,
            code: 'custom',
          },
        ],
        {
          subject: 'capability',
          provider: this.name,
        },
      );
    }
    const id = this.#id(target);
    const status = this.capabilities[capability];
    if (!isUsable(status)) {
      return {
        ok: false,
        capability,
        reason: `declared ${status.level}${status.note ? `: ${status.note}` : ''}`,
      };
    }
    const declared = status.level === 'partial' ? `partial: ${status.note}` : 'supported';
    if (!this.#driver.can) return { ok: true, capability, reason: declared };
    const vm =
      'powerState' in target
        ? this.#parse(VmSchema, target, 'target')
        : this.#vm(await this.#driver.get(id, driverOptions));
    const live = await this.#driver.can(vm, capability, driverOptions);
    return live ? { ...live, capability } : { ok: true, capability, reason: declared };
  }

  close(): Promise<void> {
    return this.#driver.close?.() ?? Promise.resolve();
  }

  /** The driver method, present by construction whenever its capability passed the guard. */
  #need<K extends keyof ProviderDriver>(method: K): NonNullable<ProviderDriver[K]> {
    const fn = this.#driver[method];
    if (typeof fn !== 'function') {
      throw new UnsupportedCapabilityError(
        String(method),
        `${this.name} does not implement ${String(method)}()`,
        { provider: this.name },
      );
    }
    return (fn as (...args: unknown[]) => unknown).bind(this.#driver) as NonNullable<
      ProviderDriver[K]
    >;
  }
}

function safeKind(text: string): unknown {
  try {
    return (JSON.parse(text) as { kind?: unknown } | null)?.kind;
  } catch {
    return undefined;
  }
}
