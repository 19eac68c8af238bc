/**
 * The vSphere driver: core operations on the vim25 SOAP API. Inventory reads go through one
 * container view and `RetrievePropertiesEx`; tasks are vSphere `Task` objects observed with
 * `WaitForUpdatesEx`; specs are built by `vm/config-spec.ts` from validated core input.
 */
import {
  type CanResult,
  type CapabilityId,
  type CapabilityMap,
  type Clock,
  ConflictError,
  canonicalJson,
  type DriverOptions,
  type ImageImportSource,
  InvalidSpecError,
  type Logger,
  NotFoundError,
  type Page,
  type ParsedInput,
  type PowerAction,
  type ProviderDriver,
  type RedactOptions,
  type Snapshot,
  type SnapshotTree,
  shortHash,
  type TaskSnapshot,
  type TaskStart,
  type ValidationReport,
  type Vm,
  type VmSpec,
} from '@hvkit/core';
import { readAll, readOne, watchProperties } from './client/property-reader.js';
import type { CallOptions, VimClient } from './client/vim-client.js';
import { taskRefOf, waitForTask } from './client/wait-for-task.js';
import { DEFAULT_IMAGE_LIBRARY, ImageCatalog, imageKindOf } from './images/image-catalog.js';
import { Inventory, type InventoryNames, type NamedObject } from './inventory/inventory.js';
import { extraConfigValue, toSnapshotTree, toVm } from './inventory/vm-mapper.js';
import {
  VM_DETAIL_PROPERTIES,
  VM_SUMMARY_PROPERTIES,
  VM_TAGS_PROPERTY,
} from './inventory/vm-properties.js';
import { getConsole } from './ops/console.js';
import { listEvents } from './ops/events.js';
import { getGuestInfo } from './ops/guest.js';
import { checkHealth } from './ops/health.js';
import { getMetrics } from './ops/metrics.js';
import {
  createPlacementRule,
  deletePlacementRule,
  listPlacementRules,
  readVmPolicies,
  setHighAvailability,
  setLoadBalancing,
} from './ops/placement-rules.js';
import { createResourcePool, deleteResourcePool, listResourcePools } from './ops/resource-pools.js';
import { listNetworks, listStoragePools } from './ops/storage-networks.js';
import type { DataObject, ManagedObjectReference } from './soap/soap-envelope.js';
import { assertXmlSafe } from './soap/soap-escape.js';
import type { ObjectContent } from './soap/soap-parser.js';
import {
  buildCloneSpec,
  buildCreateSpec,
  buildCustomizationSpec,
  buildReconfigureSpec,
  buildRelocateSpec,
  type CreateTarget,
  type CurrentHardware,
  needsCustomization,
  regenerateMacChanges,
  type VspherePowerState,
} from './vm/config-spec.js';
import { VSPHERE_CAPABILITIES } from './vsphere-capabilities.js';
import type { VsphereContext } from './vsphere-context.js';
import { vsphereLiveCheck } from './vsphere-live-checks.js';
import { decodeTaskId, encodeTaskId, type TaskRef } from './vsphere-task-id.js';
import { type TaskInfoLike, taskInfoSnapshot } from './vsphere-tasks.js';

/** Where new VMs go when a spec does not say. Names or moref values. */
export interface VsphereDefaults {
  datacenter?: string | undefined;
  folder?: string | undefined;
  cluster?: string | undefined;
  host?: string | undefined;
  resourcePool?: string | undefined;
  datastore?: string | undefined;
}

/** Settings of {@link VsphereDriver}. */
export interface VsphereDriverOptions {
  name: string;
  client: VimClient;
  clock: Clock;
  logger: Logger;
  redact: RedactOptions;
  /** For the vAPI (content library) session, which does not accept the vim25 session. */
  credentials: { username: string; password: string };
  /** The array behind `redact.secrets`, to add secrets learnt later (console tickets). */
  secrets?: string[] | undefined;
  defaults?: VsphereDefaults | undefined;
  capabilities?: CapabilityMap | undefined;
}

/**
 * extraConfig key holding `<key hash>.<request hash>` of the idempotency key a VM was created or
 * cloned with: the key itself is never stored, and the request hash tells a replay from a
 * different request under the same key.
 */
const IDEMPOTENCY_KEY = 'guestinfo.hvkit.idempotency';

/** The stored form of an idempotency key and its request. */
function idempotencyStamp(key: string, kind: string, request: unknown): Stamp {
  const hex = shortHash(`hvkit.idempotency:${key}`, 32);
  // An RFC 9562 version-8 UUID derived from the key: set as the VM's instanceUuid, it lets
  // FindByUuid find an earlier attempt in one call, whatever it was named.
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  return {
    keyHash: shortHash(key, 20),
    requestHash: shortHash(canonicalJson([kind, request]), 12),
    uuid,
  };
}

interface Stamp {
  keyHash: string;
  requestHash: string;
  /** instanceUuid of the VM made under this key. */
  uuid: string;
}

const VM = (id: string): ManagedObjectReference => ({ type: 'VirtualMachine', value: id });
const TASK = (id: string): ManagedObjectReference => ({ type: 'Task', value: id });

function moRefOf(value: unknown): ManagedObjectReference | undefined {
  const record = value as { type?: unknown; value?: unknown } | undefined;
  return typeof record?.type === 'string' && typeof record.value === 'string'
    ? { type: record.type, value: record.value }
    : undefined;
}

function numberOf(value: unknown, fallback = 0): number {
  const parsed = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(parsed) ? parsed : fallback;
}

function flatSnapshots(roots: readonly Snapshot[]): Snapshot[] {
  return roots.flatMap((snapshot) => [snapshot, ...flatSnapshots(snapshot.children)]);
}

/** The vSphere implementation of core's {@link ProviderDriver}. */
export class VsphereDriver implements ProviderDriver {
  readonly type = 'vsphere';
  readonly name: string;
  readonly capabilities: CapabilityMap;
  readonly redact: RedactOptions;
  readonly logger: Logger;
  readonly taskSettings;
  readonly #client: VimClient;
  readonly #clock: Clock;
  readonly #defaults: VsphereDefaults;
  readonly #inventory: Inventory;
  readonly #secrets: string[] | undefined;
  readonly #images: ImageCatalog;
  readonly context: VsphereContext;

  constructor(options: VsphereDriverOptions) {
    this.name = options.name;
    this.capabilities = options.capabilities ?? VSPHERE_CAPABILITIES;
    this.redact = options.redact;
    this.logger = options.logger;
    this.#client = options.client;
    this.#clock = options.clock;
    this.#defaults = options.defaults ?? {};
    this.#secrets = options.secrets;
    this.taskSettings = { clock: options.clock };
    this.#inventory = new Inventory(options.client, options.name);
    this.context = {
      client: options.client,
      name: options.name,
      clock: options.clock,
      logger: options.logger,
    };
    this.#images = new ImageCatalog(this.context, options.credentials, {
      ...(this.#defaults.datastore === undefined ? {} : { datastore: this.#defaults.datastore }),
    });
  }

  get inventory(): Inventory {
    return this.#inventory;
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  // ---- session and inventory ------------------------------------------------------------------

  async validate(options: DriverOptions): Promise<ValidationReport> {
    const content = await this.#client.serviceContent(options);
    await this.#client.session(options);
    const names = await this.#inventory.names({ ...options, fresh: true });
    const warnings: string[] = [];
    if (content.about.apiType !== 'VirtualCenter') {
      warnings.push(
        `${content.about.fullName} is a standalone host (${content.about.apiType}); clusters, DRS, HA, rules and clones need vCenter`,
      );
    }
    if (!/^(6\.[5-7]|7\.|8\.)/.test(content.about.apiVersion)) {
      warnings.push(
        `API ${content.about.apiVersion} is outside the versions hvkit knows (6.5–8.x)`,
      );
    }
    return {
      provider: this.name,
      type: this.type,
      version: content.about.fullName,
      apiVersion: content.about.apiVersion,
      details: {
        apiType: content.about.apiType,
        build: content.about.build,
        instanceUuid: content.about.instanceUuid,
        datacenters: names.datacenters.map((item) => item.name),
        clusters: names.computeResources.filter((item) => item.cluster).map((item) => item.name),
        hosts: names.hosts.length,
        datastores: names.datastores.map((item) => item.name),
      },
      warnings,
    };
  }

  async listPage(query: ParsedInput['listQuery'], options: DriverOptions): Promise<Page<Vm>> {
    // vSphere has no stable server-side cursor across sessions: the cursor is an offset into the
    // name-ordered listing, read in one call. `provider.list()` streams instead (listStream).
    const all: Vm[] = [];
    for await (const vm of this.listStream(query, options)) all.push(vm);
    all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.ref.id < b.ref.id ? -1 : 1));
    const offset = query.cursor === undefined ? 0 : Number.parseInt(query.cursor, 10);
    if (!Number.isInteger(offset) || offset < 0) {
      throw new NotFoundError('other', query.cursor ?? '', 'unknown list cursor', {
        provider: this.name,
      });
    }
    const limit = query.limit ?? 100;
    const items = all.slice(offset, offset + limit);
    const next = offset + limit;
    return { items, ...(next < all.length ? { nextCursor: String(next) } : {}) };
  }

  async *listStream(query: ParsedInput['listQuery'], options: DriverOptions): AsyncIterable<Vm> {
    const paths: string[] = [...VM_SUMMARY_PROPERTIES];
    if (query.tags !== undefined) paths.push(VM_TAGS_PROPERTY);
    const context = { provider: this.name };
    for await (const content of readAll(this.#client, 'VirtualMachine', paths, options)) {
      const name = content.properties.name;
      if (typeof name !== 'string') continue; // a VM being created or destroyed
      if (query.name !== undefined && name !== query.name) continue;
      if (query.namePrefix !== undefined && !name.startsWith(query.namePrefix)) continue;
      const vm = toVm(content, context);
      if (query.powerState !== undefined && vm.powerState !== query.powerState) continue;
      if (query.template !== undefined && vm.template !== query.template) continue;
      if (
        query.tags !== undefined &&
        !Object.entries(query.tags).every(([key, value]) => vm.tags[key] === value)
      )
        continue;
      // toVm returns a fresh object: mark it instead of copying 5,000 of them.
      vm.detail = 'summary';
      yield vm;
    }
  }

  async #vmContent(id: string, paths: readonly string[], options: CallOptions) {
    const wanted = paths.includes('name') ? paths : ['name', ...paths];
    const content = await readOne(this.#client, VM(id), wanted, options);
    if (typeof content.properties.name !== 'string') {
      throw new NotFoundError('vm', id, undefined, { provider: this.name });
    }
    return content;
  }

  async get(id: string, options: DriverOptions): Promise<Vm> {
    const [content, names] = await Promise.all([
      this.#vmContent(id, VM_DETAIL_PROPERTIES, options),
      this.#inventory.names(options),
    ]);
    const vm = toVm(content, names.mapContext);
    // HA and DRS overrides live on the VM's cluster, not the VM: one more read when it has one.
    const policies = await readVmPolicies(this.context, id, options);
    return { ...vm, policies, detail: 'full' };
  }

  async can(
    vm: Vm,
    capability: CapabilityId,
    _options: DriverOptions,
  ): Promise<Omit<CanResult, 'capability'> | undefined> {
    return vsphereLiveCheck(vm, capability);
  }

  // ---- tasks --------------------------------------------------------------------------------

  async getTask(taskId: string, options: DriverOptions): Promise<TaskSnapshot> {
    const ref = decodeTaskId(taskId, this.name);
    if (ref.t !== undefined) {
      const content = await readOne(this.#client, TASK(ref.t), ['info'], options).catch(
        (error: unknown) => {
          if (NotFoundError.isInstance(error)) {
            throw new NotFoundError('task', taskId, `vSphere task ${ref.t} no longer exists`, {
              provider: this.name,
            });
          }
          throw error;
        },
      );
      return this.#taskSnapshot(taskId, ref, content.properties.info as TaskInfoLike, options);
    }
    return this.#guestOperationSnapshot(taskId, ref, undefined, options);
  }

  async *watchTask(taskId: string, options: DriverOptions): AsyncIterable<TaskSnapshot> {
    const ref = decodeTaskId(taskId, this.name);
    if (ref.t !== undefined) {
      // One read first: a task that already ended (most short ones, every task on vcsim) needs
      // no property collector at all; a running one is then followed by WaitForUpdatesEx pushes.
      const first = await this.getTask(taskId, options);
      yield first;
      if (first.state !== 'queued' && first.state !== 'running') return;
      for await (const state of watchProperties(this.#client, TASK(ref.t), ['info'], options)) {
        if (state.$gone) {
          throw new NotFoundError('task', taskId, `vSphere task ${ref.t} no longer exists`, {
            provider: this.name,
          });
        }
        const snapshot = await this.#taskSnapshot(taskId, ref, state.info as TaskInfoLike, options);
        yield snapshot;
        if (snapshot.state !== 'queued' && snapshot.state !== 'running') return;
      }
      return;
    }
    if (ref.ps === undefined || ref.v === undefined) {
      yield await this.#guestOperationSnapshot(taskId, ref, undefined, options);
      return;
    }
    for await (const state of watchProperties(
      this.#client,
      VM(ref.v),
      ['runtime.powerState'],
      options,
    )) {
      const snapshot = await this.#guestOperationSnapshot(
        taskId,
        ref,
        state.$gone ? 'gone' : String(state['runtime.powerState']),
        options,
      );
      yield snapshot;
      if (snapshot.state !== 'running') return;
    }
  }

  async cancelTask(taskId: string, options: DriverOptions): Promise<void> {
    const ref = decodeTaskId(taskId, this.name);
    if (ref.t === undefined) {
      throw new ConflictError(
        'invalid-state',
        `${ref.k} is a guest operation, not a vSphere task: it cannot be canceled`,
        { provider: this.name },
      );
    }
    await this.#client.call('CancelTask', TASK(ref.t), [], options);
  }

  async #taskSnapshot(
    taskId: string,
    ref: TaskRef,
    info: TaskInfoLike | undefined,
    options: CallOptions,
  ): Promise<TaskSnapshot> {
    const { snapshot, resultRef } = taskInfoSnapshot(
      info ?? {},
      { id: taskId, provider: this.name, kind: ref.k, fallbackTime: this.#now() },
      this.#client.faultContext,
    );
    if (snapshot.state !== 'succeeded') return snapshot;
    const result = await this.#result(ref, resultRef, options);
    return result === undefined ? snapshot : { ...snapshot, result };
  }

  /** ShutdownGuest/RebootGuest/synchronous work: done when the VM reached `ps` (or at once). */
  async #guestOperationSnapshot(
    taskId: string,
    ref: TaskRef,
    knownPowerState: string | undefined,
    options: CallOptions,
  ): Promise<TaskSnapshot> {
    const at = new Date(ref.at ?? this.#clock.now()).toISOString();
    const base = {
      id: taskId,
      provider: this.name,
      kind: ref.k,
      progress: {},
      cancelable: false,
      createdAt: at,
      startedAt: at,
    };
    if (ref.ps !== undefined && ref.v !== undefined) {
      let state = knownPowerState;
      if (state === undefined) {
        try {
          const content = await this.#vmContent(ref.v, ['runtime.powerState'], options);
          state = String(content.properties['runtime.powerState']);
        } catch (error) {
          if (!NotFoundError.isInstance(error)) throw error;
          state = 'gone';
        }
      }
      if (state === 'gone') {
        const error = new NotFoundError('vm', ref.v, undefined, { provider: this.name });
        return { ...base, state: 'failed', finishedAt: this.#now(), error: error.toJSON() };
      }
      if (state !== ref.ps) return { ...base, state: 'running' };
    }
    const result = await this.#result(ref, undefined, options);
    return {
      ...base,
      state: 'succeeded',
      progress: { percent: 100 },
      finishedAt: this.#now(),
      ...(result === undefined ? {} : { result }),
    };
  }

  async #result(
    ref: TaskRef,
    resultRef: ManagedObjectReference | undefined,
    options: CallOptions,
  ): Promise<unknown> {
    switch (ref.k) {
      case 'vm.create':
      case 'vm.clone': {
        const id = ref.v ?? resultRef?.value;
        return id === undefined ? undefined : this.get(id, options);
      }
      case 'vm.mark-as-template':
      case 'vm.migrate':
        return ref.v === undefined ? undefined : this.get(ref.v, options);
      case 'vm.reconfigure':
        return ref.v === undefined
          ? undefined
          : {
              applied: ref.a ?? [],
              pendingRestart: ref.p ?? [],
              warnings: ref.w ?? [],
              vm: await this.get(ref.v, options),
            };
      case 'snapshot.create': {
        if (ref.v === undefined || resultRef === undefined) return undefined;
        const tree = await this.listSnapshots(ref.v, options);
        return flatSnapshots(tree.roots).find((snapshot) => snapshot.id === resultRef.value);
      }
      case 'image.import':
      case 'disk.import': {
        const id = ref.x?.id;
        if (id === undefined) return undefined;
        const images = await this.#images.listImages(options.signal);
        const found = images.find((image) => image.id === id);
        if (!found) throw new NotFoundError('image', id, undefined, { provider: this.name });
        return found;
      }
      default:
        return undefined;
    }
  }

  #taskStart(ref: TaskRef): TaskStart {
    return encodeTaskId(ref);
  }

  async #startTask(
    method: string,
    target: ManagedObjectReference,
    args: Parameters<VimClient['call']>[2],
    ref: Omit<TaskRef, 't'>,
    options: CallOptions,
  ): Promise<TaskStart> {
    const task = moRefOf(await this.#client.callOne(method, target, args, options));
    if (task === undefined) {
      throw new NotFoundError('task', method, `vSphere ${method} returned no task`, {
        provider: this.name,
      });
    }
    return this.#taskStart({ ...ref, t: task.value });
  }

  // ---- placement ----------------------------------------------------------------------------

  async #datacenter(names: InventoryNames) {
    const wanted = this.#defaults.datacenter;
    const datacenter =
      wanted === undefined
        ? names.datacenters[0]
        : names.datacenters.find((item) => item.name === wanted || item.moref.value === wanted);
    if (!datacenter) {
      throw new NotFoundError('other', wanted ?? 'datacenter', 'no datacenter', {
        provider: this.name,
      });
    }
    return datacenter;
  }

  async #placement(placement: VmSpec['placement'], options: CallOptions) {
    const names = await this.#inventory.names(options);
    const datacenter = await this.#datacenter(names);
    const folderId = placement?.folder ?? this.#defaults.folder;
    const folder =
      folderId === undefined
        ? datacenter.vmFolder
        : (
            await this.#inventory.find('other', folderId, (all) =>
              all.folders.filter((item) => item.childType.includes('VirtualMachine')),
            )
          ).moref;
    if (!folder)
      throw new NotFoundError('other', 'vmFolder', 'no VM folder', { provider: this.name });
    const hostId = placement?.host ?? this.#defaults.host;
    const host =
      hostId === undefined
        ? undefined
        : await this.#inventory.find('host', hostId, (all) => all.hosts, options);
    const poolId = placement?.resourcePool ?? this.#defaults.resourcePool;
    let pool: ManagedObjectReference | undefined;
    if (poolId !== undefined) {
      pool = (await this.#inventory.find('resource-pool', poolId, (all) => all.pools, options))
        .moref;
    } else {
      const clusterId = placement?.cluster ?? this.#defaults.cluster;
      const compute =
        clusterId !== undefined
          ? await this.#inventory.find(
              'other',
              clusterId,
              (all) => all.computeResources.filter((item) => item.cluster),
              options,
            )
          : host !== undefined
            ? names.computeResources.find((item) => item.moref.value === host.parent?.value)
            : (names.computeResources.find((item) => item.cluster) ?? names.computeResources[0]);
      pool = compute?.resourcePool;
    }
    if (!pool) {
      throw new NotFoundError(
        'resource-pool',
        poolId ?? 'default',
        'no resource pool to place the VM in',
        {
          provider: this.name,
        },
      );
    }
    return { names, datacenter, folder, host: host?.moref, pool };
  }

  #createTarget(names: InventoryNames): CreateTarget {
    const accessible = names.datastores.filter((item) => item.accessible);
    const wanted = this.#defaults.datastore;
    const defaultDatastore =
      (wanted === undefined
        ? accessible[0]?.name
        : accessible.find((item) => item.name === wanted || item.moref.value === wanted)?.name) ??
      wanted ??
      '';
    return {
      defaultDatastore,
      datastores: accessible.map((item) => item.name),
      networks: names.networks,
    };
  }

  async #findChild(folder: ManagedObjectReference, name: string, options: CallOptions) {
    const content = await this.#client.serviceContent(options);
    if (!content.searchIndex) return undefined;
    return moRefOf(
      await this.#client.callOne(
        'FindChild',
        content.searchIndex,
        [
          ['entity', folder, 'ManagedObjectReference'],
          ['name', name, 'string'],
        ],
        options,
      ),
    );
  }

  /**
   * Before a create or clone: a VM of that name in the folder is either the earlier attempt of
   * the same idempotency key (returned) or a conflict — vCenter refuses duplicate names in a
   * folder, and vcsim does not, so the driver checks for both. The same key with a different
   * request is `idempotency-mismatch`. An earlier attempt is found by the instanceUuid derived
   * from the key (`FindByUuid`), whatever it was named; a name clash by `FindChild`.
   */
  async #existing(
    folder: ManagedObjectReference,
    name: string,
    stamp: Stamp | undefined,
    options: CallOptions,
  ): Promise<string | undefined> {
    const content = await this.#client.serviceContent(options);
    if (stamp !== undefined && content.searchIndex) {
      const earlier = moRefOf(
        await this.#client.callOne(
          'FindByUuid',
          content.searchIndex,
          [
            ['uuid', stamp.uuid, 'string'],
            ['vmSearch', true, 'boolean'],
            ['instanceUuid', true, 'boolean'],
          ],
          options,
        ),
      );
      if (earlier !== undefined) return this.#replayOf(earlier, stamp, options);
    }
    const found = await this.#findChild(folder, name, options);
    if (found === undefined || found.type !== 'VirtualMachine') return undefined;
    if (stamp !== undefined) {
      const replay = await this.#replayOf(found, stamp, options).catch((error: unknown) => {
        if (ConflictError.isInstance(error) && error.reason === 'already-exists') return undefined;
        throw error;
      });
      if (replay !== undefined) return replay;
    }
    throw new ConflictError(
      'already-exists',
      `a VM named ${JSON.stringify(name)} already exists in that folder`,
      { provider: this.name, details: { vm: found.value } },
    );
  }

  /** The VM an earlier attempt made under this key, or the reason it cannot be a replay. */
  async #replayOf(vm: ManagedObjectReference, stamp: Stamp, options: CallOptions): Promise<string> {
    const content = await readOne(this.#client, vm, ['config.extraConfig'], options);
    const stored = extraConfigValue(content.properties['config.extraConfig'], IDEMPOTENCY_KEY);
    const [keyHash, requestHash] = (stored ?? '').split('.');
    if (keyHash !== stamp.keyHash) {
      throw new ConflictError('already-exists', `VM ${vm.value} was not made under this key`, {
        provider: this.name,
        details: { vm: vm.value },
      });
    }
    if (requestHash !== stamp.requestHash) {
      throw new ConflictError(
        'idempotency-mismatch',
        `idempotency key already used by a different request (VM ${vm.value})`,
        { provider: this.name, details: { vm: vm.value } },
      );
    }
    return vm.value;
  }

  #withStamp(spec: DataObject, stamp: Stamp | undefined): DataObject {
    if (stamp === undefined) return spec;
    const extraConfig = Array.isArray(spec.extraConfig) ? [...spec.extraConfig] : [];
    extraConfig.push({
      $type: 'OptionValue',
      key: IDEMPOTENCY_KEY,
      value: { $xsd: 'string', value: `${stamp.keyHash}.${stamp.requestHash}` },
    });
    return { ...spec, instanceUuid: stamp.uuid, extraConfig };
  }

  /**
   * Starts a vSphere task and waits for it: the steps of one multi-step hvkit task. Resolves with
   * the task's result (the moref of what it made); throws the task's fault as a core error.
   */
  async #run(
    method: string,
    target: ManagedObjectReference,
    args: Parameters<VimClient['call']>[2],
    options: CallOptions,
  ): Promise<unknown> {
    const task = taskRefOf(
      await this.#client.callOne(method, target, args, options),
      method,
      this.name,
    );
    return waitForTask(this.context, task, options);
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  async create(spec: VmSpec, options: DriverOptions): Promise<TaskStart> {
    assertXmlSafe(spec, 'VM spec');
    if (spec.image?.kind === 'template') {
      return this.#createFromTemplate(spec, spec.image.template, options);
    }
    if (spec.image?.kind === 'image') {
      const kind = imageKindOf(spec.image.imageId);
      if (kind === 'template') return this.#createFromTemplate(spec, spec.image.imageId, options);
      if (kind === 'library-item') {
        return this.#deployLibrary(
          spec,
          { library: DEFAULT_IMAGE_LIBRARY, item: spec.image.imageId },
          options,
        );
      }
      throw new InvalidSpecError(
        [
          {
            path: 'image.imageId',
            code: 'vsphere-disk-image',
            message:
              'a disk image is attached as a disk: give it as disks[i].sourceImageId (format raw)',
          },
        ],
        { subject: 'VM spec' },
      );
    }
    if (spec.image?.kind === 'content-library') {
      return this.#deployLibrary(spec, spec.image, options);
    }
    // Image sources resolve their own placement (clone, library deploy); only a blank create
    // needs it here, and a disk image id is refused before any request.
    const { names, folder, host, pool } = await this.#placement(spec.placement, options);
    const target = this.#createTarget(names);
    const diskFiles = await this.#imageDiskFiles(spec, target.defaultDatastore, options);
    const built = buildCreateSpec(spec, diskFiles ? { ...target, diskFiles } : target);
    const config = diskFiles
      ? this.#withVmxPath(built.spec, spec.placement?.storage ?? target.defaultDatastore, spec.name)
      : built.spec;
    const customization = needsCustomization(spec) ? buildCustomizationSpec(spec) : undefined;
    const stamp =
      options.idempotencyKey === undefined
        ? undefined
        : idempotencyStamp(options.idempotencyKey, 'vm.create', spec);
    const existing = await this.#existing(folder, spec.name, stamp, options);
    if (existing !== undefined) {
      return this.#taskStart({ k: 'vm.create', v: existing, ik: stamp?.keyHash });
    }
    const args: Parameters<VimClient['call']>[2] = [
      ['config', this.#withStamp(config, stamp), 'VirtualMachineConfigSpec'],
      ['pool', pool, 'ManagedObjectReference'],
      ...(host ? ([['host', host, 'ManagedObjectReference']] as const) : []),
    ];
    if (customization === undefined && spec.powerState !== 'on' && stamp === undefined) {
      return this.#startTask('CreateVM_Task', folder, args, { k: 'vm.create' }, options);
    }
    // Several vSphere tasks make one hvkit task (create, customize, power on), each awaited; a
    // keyed create is awaited too, so its id can name the VM and a replay gets the same id.
    const vm = moRefOf(await this.#run('CreateVM_Task', folder, args, options));
    if (!vm) {
      throw new NotFoundError('vm', '', 'CreateVM_Task returned no VM', { provider: this.name });
    }
    if (customization !== undefined) {
      await this.#run(
        'CustomizeVM_Task',
        vm,
        [['spec', customization, 'CustomizationSpec']],
        options,
      );
    }
    if (spec.powerState === 'on') await this.#run('PowerOnVM_Task', vm, [], options);
    return this.#taskStart({
      k: 'vm.create',
      v: vm.value,
      ...(stamp ? { ik: stamp.keyHash } : { at: this.#clock.now() }),
    });
  }

  /** Copies each `disks[i].sourceImageId` image for the new VM: the files the spec attaches. */
  async #imageDiskFiles(
    spec: VmSpec,
    defaultDatastore: string,
    options: DriverOptions,
  ): Promise<Map<number, string> | undefined> {
    const disks = spec.disks ?? [];
    if (!disks.some((disk) => disk.sourceImageId !== undefined)) return undefined;
    const files = new Map<number, string>();
    for (const [index, disk] of disks.entries()) {
      if (disk.sourceImageId === undefined) continue;
      const datastore = disk.storage ?? spec.placement?.storage ?? defaultDatastore;
      files.set(
        index,
        await this.#images.diskFileFor(
          disk.sourceImageId,
          { datastore, vmName: spec.name, diskIndex: index },
          options.signal,
        ),
      );
    }
    return files;
  }

  /**
   * With image copies in `[ds] <name>/`, the VM's files must go to that folder too: vCenter (and
   * vcsim) would otherwise pick `<name> (1)/` and leave the copies behind on delete.
   */
  #withVmxPath(spec: DataObject, datastore: string, name: string): DataObject {
    return {
      ...spec,
      files: { $type: 'VirtualMachineFileInfo', vmPathName: `[${datastore}] ${name}/${name}.vmx` },
    };
  }

  async #deployLibrary(
    spec: VmSpec,
    source: { library: string; item: string },
    options: DriverOptions,
  ): Promise<TaskStart> {
    const { folder, host, pool } = await this.#placement(spec.placement, options);
    const storage = spec.placement?.storage ?? this.#defaults.datastore;
    const datastore =
      storage === undefined
        ? undefined
        : (await this.#inventory.find('storage', storage, (all) => all.datastores, options)).moref;
    const vm = await this.#images.deployLibraryImage(
      source,
      {
        name: spec.name,
        pool: pool.value,
        folder: folder.value,
        ...(datastore ? { datastore: datastore.value } : {}),
        ...(host ? { host: host.value } : {}),
      },
      options.signal,
    );
    if (spec.powerState === 'on') await this.#run('PowerOnVM_Task', vm, [], options);
    return this.#taskStart({ k: 'vm.create', v: vm.value, at: this.#clock.now() });
  }

  async #createFromTemplate(
    spec: VmSpec,
    templateId: string,
    options: DriverOptions,
  ): Promise<TaskStart> {
    const source = await this.#vmContent(templateId, ['config.template'], options);
    if (source.properties['config.template'] !== true) {
      throw new ConflictError('not-a-template', `VM ${templateId} is not a template`, {
        provider: this.name,
        details: { vm: templateId },
      });
    }
    return this.clone(
      templateId,
      {
        name: spec.name,
        mode: 'full',
        ...(spec.description === undefined ? {} : { description: spec.description }),
        ...(spec.placement === undefined ? {} : { placement: spec.placement }),
        ...(spec.tags === undefined ? {} : { tags: spec.tags }),
        powerOn: spec.powerState === 'on',
      },
      options,
    );
  }

  async delete(id: string, options: DriverOptions): Promise<TaskStart> {
    const content = await this.#vmContent(id, ['runtime.powerState'], options);
    if (content.properties['runtime.powerState'] !== 'poweredOff') {
      await this.#run('PowerOffVM_Task', VM(id), [], options);
    }
    return this.#startTask('Destroy_Task', VM(id), [], { k: 'vm.delete', v: id }, options);
  }

  async power(id: string, action: PowerAction, options: DriverOptions): Promise<TaskStart> {
    const kind = `vm.${{ on: 'power-on', off: 'power-off', shutdown: 'shutdown', reboot: 'reboot', reset: 'reset', suspend: 'suspend', resume: 'resume' }[action]}`;
    switch (action) {
      case 'on': {
        if (options.idempotencyKey === undefined) {
          return this.#startTask('PowerOnVM_Task', VM(id), [], { k: kind, v: id }, options);
        }
        // A keyed power-on names the key, not the vSphere task, so a replay finds the same id:
        // a VM already on under this key is the earlier attempt's outcome.
        const keyHash = shortHash(options.idempotencyKey, 20);
        const content = await this.#vmContent(id, ['runtime.powerState'], options);
        if (content.properties['runtime.powerState'] !== 'poweredOn') {
          await this.#run('PowerOnVM_Task', VM(id), [], options);
        }
        return this.#taskStart({ k: kind, v: id, ik: keyHash });
      }
      case 'off':
        return this.#startTask('PowerOffVM_Task', VM(id), [], { k: kind, v: id }, options);
      case 'reset':
      case 'suspend': {
        // vCenter refuses both unless the VM runs; vcsim does not check, so the driver does.
        const content = await this.#vmContent(id, ['runtime.powerState'], options);
        const state = content.properties['runtime.powerState'];
        if (state !== 'poweredOn') {
          throw new ConflictError(
            'invalid-power-state',
            `${action} needs a running VM; ${id} is ${String(state)}`,
            { provider: this.name, details: { powerState: state } },
          );
        }
        // vSphere always writes a suspended VM's memory to disk (.vmss): toDisk is what it does.
        const method = action === 'reset' ? 'ResetVM_Task' : 'SuspendVM_Task';
        return this.#startTask(method, VM(id), [], { k: kind, v: id }, options);
      }
      case 'resume': {
        const content = await this.#vmContent(id, ['runtime.powerState'], options);
        const state = content.properties['runtime.powerState'];
        if (state !== 'suspended') {
          throw new ConflictError(
            'invalid-power-state',
            `resume needs a suspended VM; ${id} is ${String(state)}`,
            {
              provider: this.name,
              details: { powerState: state },
            },
          );
        }
        return this.#startTask('PowerOnVM_Task', VM(id), [], { k: kind, v: id }, options);
      }
      case 'shutdown':
      case 'reboot': {
        const content = await this.#vmContent(
          id,
          ['runtime.powerState', 'guest.toolsRunningStatus'],
          options,
        );
        const state = content.properties['runtime.powerState'];
        if (state !== 'poweredOn') {
          throw new ConflictError(
            'invalid-power-state',
            `${action} needs a running VM; ${id} is ${String(state)}`,
            {
              provider: this.name,
              details: { powerState: state },
            },
          );
        }
        // vCenter refuses guest operations without running VMware Tools (ToolsUnavailable);
        // vcsim does not check, so the driver does, for the same answer on both.
        if (content.properties['guest.toolsRunningStatus'] !== 'guestToolsRunning') {
          throw new ConflictError(
            'invalid-state',
            `${action} needs running VMware Tools in ${id}`,
            {
              provider: this.name,
              details: { toolsRunningStatus: content.properties['guest.toolsRunningStatus'] },
            },
          );
        }
        const method = action === 'shutdown' ? 'ShutdownGuest' : 'RebootGuest';
        await this.#client.call(method, VM(id), [], options);
        return this.#taskStart({
          k: kind,
          v: id,
          at: this.#clock.now(),
          ...(action === 'shutdown' ? { ps: 'poweredOff' } : {}),
        });
      }
    }
  }

  async #hardware(
    id: string,
    options: CallOptions,
  ): Promise<{ current: CurrentHardware; content: ObjectContent }> {
    const content = await this.#vmContent(
      id,
      [
        'name',
        'runtime.powerState',
        'config.hardware.device',
        'config.hardware.numCPU',
        'config.hardware.numCoresPerSocket',
        'config.hardware.memoryMB',
        'config.cpuHotAddEnabled',
        'config.memoryHotAddEnabled',
        'snapshot',
      ],
      options,
    );
    const props = content.properties;
    const devices = Array.isArray(props['config.hardware.device'])
      ? (props['config.hardware.device'] as Record<string, unknown>[])
      : [];
    return {
      content,
      current: {
        name: String(props.name),
        devices,
        numCPU: numberOf(props['config.hardware.numCPU'], 1),
        numCoresPerSocket: numberOf(props['config.hardware.numCoresPerSocket'], 1),
        memoryMB: numberOf(props['config.hardware.memoryMB']),
        cpuHotAddEnabled: props['config.cpuHotAddEnabled'] === true,
        memoryHotAddEnabled: props['config.memoryHotAddEnabled'] === true,
        powerState: String(props['runtime.powerState']) as VspherePowerState,
        hasSnapshots: props.snapshot !== undefined,
      },
    };
  }

  async reconfigure(
    id: string,
    change: ParsedInput['vmChange'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    assertXmlSafe(change, 'VM change');
    const [{ current }, names] = await Promise.all([
      this.#hardware(id, options),
      this.#inventory.names(options),
    ]);
    const plan = buildReconfigureSpec(current, change, this.#createTarget(names));
    return this.#startTask(
      'ReconfigVM_Task',
      VM(id),
      [['spec', plan.spec, 'VirtualMachineConfigSpec']],
      { k: 'vm.reconfigure', v: id, a: plan.applied, p: plan.pendingRestart, w: plan.warnings },
      options,
    );
  }

  async clone(
    id: string,
    clone: ParsedInput['cloneOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    assertXmlSafe(clone, 'clone options');
    const source = await this.#vmContent(
      id,
      ['config.template', 'snapshot', 'config.hardware.device'],
      options,
    );
    const template = source.properties['config.template'] === true;
    const tree = toSnapshotTree(source.properties.snapshot);
    let snapshot: ManagedObjectReference | undefined;
    if (clone.snapshotId !== undefined) {
      if (!flatSnapshots(tree.roots).some((item) => item.id === clone.snapshotId)) {
        throw new NotFoundError('snapshot', clone.snapshotId, undefined, { provider: this.name });
      }
      snapshot = { type: 'VirtualMachineSnapshot', value: clone.snapshotId };
    } else if (clone.mode === 'linked' && tree.currentId !== null) {
      snapshot = { type: 'VirtualMachineSnapshot', value: tree.currentId };
    }
    const { folder, host, pool } = await this.#placement(clone.placement, options);
    const storage = clone.placement?.storage;
    const datastore =
      storage === undefined
        ? undefined
        : (await this.#inventory.find('storage', storage, (all) => all.datastores, options)).moref;
    const spec = buildCloneSpec(
      clone,
      { ...(snapshot ? { snapshot } : {}), template },
      {
        // A template has no pool of its own; a VM's clone stays in the source's pool unless told.
        pool:
          clone.placement?.resourcePool !== undefined ||
          clone.placement?.cluster !== undefined ||
          template
            ? pool
            : undefined,
        ...(datastore ? { datastore } : {}),
        ...(host ? { host } : {}),
      },
    );
    // New MACs for the clone's NICs (vCenter keeps manual ones, vcsim copies all of them).
    const devices = source.properties['config.hardware.device'];
    const macChanges = regenerateMacChanges(Array.isArray(devices) ? devices : []);
    if (macChanges.length > 0) {
      const config = (spec.config as DataObject | undefined) ?? {
        $type: 'VirtualMachineConfigSpec',
      };
      spec.config = { ...config, deviceChange: macChanges };
    }
    const stamp =
      options.idempotencyKey === undefined
        ? undefined
        : idempotencyStamp(options.idempotencyKey, 'vm.clone', { source: id, ...clone });
    const existing = await this.#existing(folder, clone.name, stamp, options);
    if (existing !== undefined) {
      return this.#taskStart({ k: 'vm.clone', v: existing, ik: stamp?.keyHash });
    }
    const withKey =
      stamp === undefined
        ? spec
        : {
            ...spec,
            config: this.#withStamp(
              (spec.config as DataObject | undefined) ?? { $type: 'VirtualMachineConfigSpec' },
              stamp,
            ),
          };
    const args: Parameters<VimClient['call']>[2] = [
      ['folder', folder, 'ManagedObjectReference'],
      ['name', clone.name, 'string'],
      ['spec', withKey, 'VirtualMachineCloneSpec'],
    ];
    if (!clone.powerOn && stamp === undefined) {
      return this.#startTask('CloneVM_Task', VM(id), args, { k: 'vm.clone' }, options);
    }
    const made = moRefOf(await this.#run('CloneVM_Task', VM(id), args, options));
    if (!made) {
      throw new NotFoundError('vm', '', 'CloneVM_Task returned no VM', { provider: this.name });
    }
    if (clone.powerOn) {
      // vcsim ignores spec.powerOn; vCenter honours it. Power on when the clone is still off.
      const state = await this.#vmContent(made.value, ['runtime.powerState'], options);
      if (state.properties['runtime.powerState'] !== 'poweredOn') {
        await this.#run('PowerOnVM_Task', made, [], options);
      }
    }
    return this.#taskStart({
      k: 'vm.clone',
      v: made.value,
      ...(stamp ? { ik: stamp.keyHash } : { at: this.#clock.now() }),
    });
  }

  async markAsTemplate(id: string, options: DriverOptions): Promise<TaskStart> {
    await this.#client.call('MarkAsTemplate', VM(id), [], options);
    return this.#taskStart({ k: 'vm.mark-as-template', v: id, at: this.#clock.now() });
  }

  async migrate(
    id: string,
    destination: ParsedInput['migrateTarget'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    await this.#vmContent(id, ['name'], options);
    const find = async <K extends 'host' | 'storage' | 'resource-pool'>(
      kind: K,
      value: string | undefined,
    ) => {
      if (value === undefined) return undefined;
      const pick = (all: InventoryNames): readonly NamedObject[] =>
        kind === 'host' ? all.hosts : kind === 'storage' ? all.datastores : all.pools;
      return (await this.#inventory.find(kind, value, pick, options)).moref;
    };
    const spec = buildRelocateSpec(destination, {
      host: await find('host', destination.host),
      datastore: await find('storage', destination.storage),
      pool: await find('resource-pool', destination.resourcePool),
    });
    return this.#startTask(
      'RelocateVM_Task',
      VM(id),
      [['spec', spec, 'VirtualMachineRelocateSpec']],
      { k: 'vm.migrate', v: id },
      options,
    );
  }

  // ---- snapshots ----------------------------------------------------------------------------

  async listSnapshots(id: string, options: DriverOptions): Promise<SnapshotTree> {
    const content = await this.#vmContent(id, ['name', 'snapshot'], options);
    return toSnapshotTree(content.properties.snapshot);
  }

  async createSnapshot(
    id: string,
    snapshot: ParsedInput['snapshotOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    assertXmlSafe(snapshot, 'snapshot options');
    return this.#startTask(
      'CreateSnapshot_Task',
      VM(id),
      [
        ['name', snapshot.name, 'string'],
        ['description', snapshot.description ?? '', 'string'],
        ['memory', snapshot.memory ?? false, 'boolean'],
        ['quiesce', snapshot.quiesce ?? false, 'boolean'],
      ],
      { k: 'snapshot.create', v: id },
      options,
    );
  }

  async #snapshotOf(id: string, snapshotId: string, options: CallOptions) {
    const tree = await this.listSnapshots(id, options);
    const snapshot = flatSnapshots(tree.roots).find((item) => item.id === snapshotId);
    if (!snapshot) {
      throw new NotFoundError('snapshot', snapshotId, undefined, { provider: this.name });
    }
    const ref: ManagedObjectReference = { type: 'VirtualMachineSnapshot', value: snapshotId };
    return { ref, snapshot };
  }

  async revertSnapshot(id: string, snapshotId: string, options: DriverOptions): Promise<TaskStart> {
    const { ref, snapshot } = await this.#snapshotOf(id, snapshotId, options);
    await this.#run('RevertToSnapshot_Task', ref, [], options);
    // vCenter leaves the VM as the snapshot was: running from a memory snapshot, off otherwise.
    // vcsim only moves currentSnapshot; the driver settles the power state where it differs,
    // which on vCenter finds nothing to do.
    const content = await this.#vmContent(id, ['runtime.powerState'], options);
    const state = content.properties['runtime.powerState'];
    const wanted = snapshot.memory ? 'poweredOn' : 'poweredOff';
    if (state !== wanted) {
      const method = wanted === 'poweredOn' ? 'PowerOnVM_Task' : 'PowerOffVM_Task';
      await this.#run(method, VM(id), [], options);
    }
    return this.#taskStart({ k: 'snapshot.revert', v: id, at: this.#clock.now() });
  }

  async deleteSnapshot(
    id: string,
    snapshotId: string,
    removeChildren: boolean,
    options: DriverOptions,
  ): Promise<TaskStart> {
    const { ref } = await this.#snapshotOf(id, snapshotId, options);
    return this.#startTask(
      'RemoveSnapshot_Task',
      ref,
      [['removeChildren', removeChildren, 'boolean']],
      { k: 'snapshot.delete', v: id },
      options,
    );
  }

  // ---- console, guest, monitoring ---------------------------------------------------------

  async getConsole(id: string, options: DriverOptions) {
    const access = await getConsole(this.context, id, options);
    // The ticket is a credential: scrub it from whatever this provider logs or throws later.
    if (access.ticket !== undefined) this.#secrets?.push(access.ticket);
    return access;
  }

  getGuestInfo(id: string, options: DriverOptions) {
    return getGuestInfo(this.context, id, options);
  }

  getMetrics(id: string, query: ParsedInput['metricsQuery'], options: DriverOptions) {
    return getMetrics(this.context, id, query, options);
  }

  async checkHealth(id: string, options: DriverOptions) {
    await this.#vmContent(id, ['name'], options);
    return checkHealth(this.context, id, options);
  }

  listEvents(query: ParsedInput['eventQuery'], options: DriverOptions) {
    return listEvents(this.context, query, options);
  }

  // ---- inventory objects ----------------------------------------------------------------------

  listStoragePools(options: DriverOptions) {
    return listStoragePools(this.context, options);
  }

  listNetworks(options: DriverOptions) {
    return listNetworks(this.context, options);
  }

  listResourcePools(options: DriverOptions) {
    return listResourcePools(this.context, options);
  }

  async createResourcePool(spec: ParsedInput['resourcePoolSpec'], options: DriverOptions) {
    const pool = await createResourcePool(this.context, spec, options);
    this.#inventory.invalidate();
    return pool;
  }

  async deleteResourcePool(id: string, options: DriverOptions) {
    await deleteResourcePool(this.context, id, options);
    this.#inventory.invalidate();
  }

  listPlacementRules(options: DriverOptions) {
    return listPlacementRules(this.context, options);
  }

  createPlacementRule(spec: ParsedInput['placementRuleSpec'], options: DriverOptions) {
    return createPlacementRule(this.context, spec, options);
  }

  deletePlacementRule(id: string, options: DriverOptions) {
    return deletePlacementRule(this.context, id, options);
  }

  async setHighAvailability(
    id: string,
    settings: ParsedInput['highAvailability'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    const task = await setHighAvailability(this.context, id, settings, options);
    return this.#taskStart({ k: 'vm.set-high-availability', t: task.value, v: id });
  }

  async setLoadBalancing(
    id: string,
    settings: ParsedInput['loadBalancing'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    const task = await setLoadBalancing(this.context, id, settings, options);
    return this.#taskStart({ k: 'vm.set-load-balancing', t: task.value, v: id });
  }

  // ---- images and disks -------------------------------------------------------------------

  listImages(options: DriverOptions) {
    return this.#images.listImages(options.signal);
  }

  async importImage(
    source: ImageImportSource,
    image: ParsedInput['importImageOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    const imported = await this.#images.importImage(source, image, options.signal);
    return this.#finished('image.import', imported, { id: imported.id });
  }

  deleteImage(id: string, options: DriverOptions) {
    return this.#images.deleteImage(id, options.signal);
  }

  exportDisk(id: string, diskId: string, offsetBytes: number, options: DriverOptions) {
    return this.#images.exportDisk(id, diskId, offsetBytes, options.signal);
  }

  async importDisk(
    spec: ParsedInput['diskImportSpec'],
    source: AsyncIterable<Uint8Array>,
    options: DriverOptions,
  ): Promise<TaskStart> {
    const imported = await this.#images.importDisk(spec, source, options.signal);
    return this.#finished('disk.import', imported, { id: imported.id });
  }

  /** Work done before answering: a finished task whose id any process can read again. */
  #finished(kind: string, result: unknown, extra: Record<string, string>): TaskStart {
    const at = this.#clock.now();
    const taskId = encodeTaskId({ k: kind, at, x: extra });
    const time = new Date(at).toISOString();
    return {
      taskId,
      snapshot: {
        id: taskId,
        provider: this.name,
        kind,
        state: 'succeeded',
        progress: { percent: 100 },
        cancelable: false,
        createdAt: time,
        startedAt: time,
        finishedAt: time,
        result,
      },
    };
  }

  async close(): Promise<void> {
    await this.#images.close().catch(() => undefined);
    await this.#client.close();
  }
}
