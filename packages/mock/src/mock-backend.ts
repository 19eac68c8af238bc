/**
 * The in-memory "hypervisor" behind the Mock: VMs, snapshots, tasks, images, disk bytes, events,
 * metrics, pools, rules, alerts and idempotency keys, with the rules a real backend (vSphere)
 * enforces. The driver is a thin layer over it; the synchronous methods marked "direct" apply an
 * operation at once, without a task, for benchmarks that measure what the contract costs.
 */
import {
  type Alert,
  type CanResult,
  type CapabilityId,
  type Clock,
  ConflictError,
  type ConflictReason,
  type ConsoleAccess,
  type DiskExport,
  type DiskFormat,
  type GuestInfo,
  type HealthReport,
  type HealthStatus,
  HvkitError,
  type Image,
  type ImageImportSource,
  InvalidSpecError,
  type Logger,
  MAX_DISK_GIB,
  type MetricSeries,
  type Network,
  NotFoundError,
  type ParsedInput,
  type PlacementRule,
  type PowerAction,
  ProviderApiError,
  type ResourceKind,
  type ResourcePool,
  type SerializedError,
  type SnapshotTree,
  type StoragePool,
  silentLogger,
  systemClock,
  type TaskProgress,
  type TaskSnapshot,
  TransportError,
  type Vm,
  type VmEvent,
  type VmSpec,
} from '@hvkit/core';
import {
  allocatedBytes,
  blankDiskHeader,
  ChunkWriter,
  chainOf,
  flatten,
  readBytes,
  sha256Of,
} from './mock-disk-bytes.js';
import { guestInfoOf, toolsStateOf } from './mock-guest.js';
import {
  describeSource,
  formatOfSource,
  imageNameOf,
  syntheticImageChunks,
  syntheticImageSize,
} from './mock-images.js';
import {
  type MockInventory,
  type MockInventoryOptions,
  type MockNetwork,
  normaliseInventory,
} from './mock-inventory.js';
import { liveCheckOf, MAX_FAULT_TOLERANCE_VCPUS } from './mock-live-checks.js';
import { latestValue, type MetricWindow, metricSeries } from './mock-metrics.js';
import {
  type FileStamp,
  readStateFile,
  sameStamp,
  stampOf,
  writeStateFile,
} from './mock-persistence.js';
import { SeededRandom } from './mock-random.js';
import {
  type MockDiskRecord,
  type MockHardware,
  type MockImageRecord,
  type MockNicRecord,
  type MockOperation,
  type MockSnapshotRecord,
  type MockState,
  type MockTaskRecord,
  type MockVmRecord,
  parseState,
  serialiseState,
} from './mock-state.js';
import { freezeDeep, imageView, iso, snapshotTreeOf, snapshotView, vmView } from './mock-views.js';

const MIB = 2 ** 20;
const GIB = 2 ** 30;
/** Progress of a timed task advances in this many steps. */
const PROGRESS_STEPS = 10;
/** Oldest events are dropped beyond this many. */
const MAX_EVENTS = 100_000;
/** Finished tasks are forgotten this long after they finished (vCenter keeps recent tasks too). */
const TASK_RETENTION_MS = 24 * 3_600_000;
/** Id of the root resource pool (named `Resources`, as on vSphere). */
export const ROOT_RESOURCE_POOL_ID = 'resgroup-root';
const DEFAULT_FOLDER = 'vm';
/** How long a console ticket stays valid, in milliseconds. */
const CONSOLE_TICKET_MS = 5 * 60_000;

let instanceCounter = 0;
/** Backends alive in this process, so a restarted state file can tell orphaned disk streams. */
const liveInstances = new Set<string>();

/** How a running task holds a VM: exclusively (changes it) or shared (reads it, like a clone). */
export type LockMode = 'exclusive' | 'shared';

/** What the driver asks of {@link MockBackend.submitTask}. */
export interface MockTaskRequest {
  kind: string;
  /** Provider instance name; refs in the result name it. */
  provider: string;
  /** For `create` and `clone`, an empty `vmId` / `newVmId` is filled in by the backend. */
  operation: MockOperation;
  /** 0 completes the task synchronously at submission. Ignored by `disk-import`. */
  durationMs: number;
  /** A scripted fault for this task. */
  fault?: { mode: 'task-fail' | 'hang'; error: SerializedError } | undefined;
  idempotency?: { key: string; fingerprint: string } | undefined;
  /** The bytes of a `disk-import`. */
  source?: AsyncIterable<Uint8Array> | undefined;
}

/** Options of {@link createMockBackend}. */
export interface MockBackendOptions {
  /** Seed of every id, MAC, address, metric and disk header. Default 1. Ignored when a state file is loaded. */
  seed?: number | undefined;
  /** Time of timestamps and task timers. Default `systemClock`. */
  clock?: Clock | undefined;
  /**
   * JSON state file: loaded at start (its seed and inventory win over the options), written
   * atomically after every change, reloaded before an operation when another process changed it.
   */
  persistPath?: string | undefined;
  /** Hosts, networks, datastores… See {@link MockInventoryOptions} for the defaults. */
  inventory?: MockInventoryOptions | undefined;
  logger?: Logger | undefined;
}

interface RunContext {
  /** false: check only (at submission); true: check again, then change the state. */
  commit: boolean;
  /** The task doing the work: its own locks and name reservations do not count against it. */
  selfTaskId: string | undefined;
}

interface Claims {
  locks: [string, LockMode][];
  names: string[];
  vmIds: string[];
}

type Operation<T extends MockOperation['type']> = Extract<MockOperation, { type: T }>;

/** Makes a backend. Throws `TypeError` for an invalid inventory or an unreadable state file. */
export function createMockBackend(options: MockBackendOptions = {}): MockBackend {
  return new MockBackend(options);
}

function nameKey(folder: string, name: string): string {
  return `${folder}\u0000${name}`;
}

/** JSON with object keys sorted, so equal inputs give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(item).sort())
      sorted[key] = (item as Record<string, unknown>)[key];
    return sorted;
  });
}

function ownerAlive(owner: string | undefined): boolean {
  if (owner === undefined) return false;
  const pid = Number(owner.split(':')[0]);
  if (pid === process.pid) return liveInstances.has(owner);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isThick(provisioning: string | undefined): boolean {
  return provisioning === 'thick' || provisioning === 'eagerZeroedThick';
}

function copyNic(nic: MockNicRecord): MockNicRecord {
  return {
    ...nic,
    ...(typeof nic.ipv4 === 'object' ? { ipv4: { ...nic.ipv4 } } : {}),
    ...(typeof nic.ipv6 === 'object' ? { ipv6: { ...nic.ipv6 } } : {}),
  };
}

/** A copy a snapshot can keep while the VM changes (disk and NIC records are flat). */
function copyHardware(source: MockHardware): MockHardware {
  return {
    cpu: { ...source.cpu },
    memory: { ...source.memory },
    disks: source.disks.map((disk) => ({ ...disk })),
    nics: source.nics.map(copyNic),
  };
}

/** The Mock's hypervisor. See the module comment; make one with {@link createMockBackend}. */
export class MockBackend {
  /** Time of every timestamp and task timer. */
  readonly clock: Clock;
  /** The state file, when persistence is on. */
  readonly persistPath: string | undefined;
  /** Calls from drivers into this backend. A call the contract refused before any I/O adds none. */
  ioCount = 0;

  readonly #instance: string;
  readonly #logger: Logger;
  readonly #random: SeededRandom;
  #state: MockState;
  #stamp: FileStamp | undefined;
  #provider: string | undefined;
  #depth = 0;
  #dirty = false;

  #order: { seq: number; id: string }[] = [];
  #orderHoles = 0;
  #names = new Map<string, Set<string>>();
  #macs = new Set<string>();
  #addresses = new Set<string>();
  #locks = new Map<string, Map<string, LockMode>>();
  #reservedNames = new Map<string, string>();
  #pendingVmIds = new Set<string>();
  #claims = new Map<string, Claims>();

  #timers = new Map<string, AbortController>();
  #versions = new Map<string, number>();
  #waiters = new Map<string, Set<() => void>>();
  #streams = new Set<string>();
  #released = 0;
  #submissions = 0;

  constructor(options: MockBackendOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.persistPath = options.persistPath;
    this.#logger = options.logger ?? silentLogger;
    instanceCounter += 1;
    this.#instance = `${process.pid}:${instanceCounter}`;
    liveInstances.add(this.#instance);
    const text = this.persistPath === undefined ? undefined : readStateFile(this.persistPath);
    if (text !== undefined) {
      this.#state = this.#parse(text);
      this.#random = new SeededRandom(0);
      this.#random.state = this.#state.randomState;
      this.#stamp = stampOf(this.persistPath as string);
      this.#rebuildIndexes();
      this.#mutation(() => this.#resumeTasks());
      return;
    }
    const seed = options.seed ?? 1;
    this.#random = new SeededRandom(seed);
    this.#state = {
      seed,
      randomState: this.#random.state,
      vmSequence: 0,
      eventSequence: 0,
      inventory: normaliseInventory(options.inventory),
      vms: new Map(),
      tasks: new Map(),
      images: new Map(),
      blobs: new Map(),
      events: [],
      resourcePools: new Map([
        [
          ROOT_RESOURCE_POOL_ID,
          { id: ROOT_RESOURCE_POOL_ID, name: 'Resources', cpu: {}, memory: {} },
        ],
      ]),
      placementRules: new Map(),
      alerts: new Map(),
      idempotency: new Map(),
    };
    this.#rebuildIndexes();
    this.#mutation(() => this.#seedVms(options.inventory?.vms ?? 0));
  }

  // ---- introspection ---------------------------------------------------------------------------

  /** The seed of this backend's state. */
  get seed(): number {
    return this.#state.seed;
  }

  /** The inventory (hosts, networks, datastores…), as stored. */
  get inventory(): MockInventory {
    return structuredClone(this.#state.inventory);
  }

  /** Number of VMs and templates. */
  get vmCount(): number {
    return this.#state.vms.size;
  }

  /** Number of tasks remembered (running, and finished within the last 24 h of clock time). */
  get taskCount(): number {
    return this.#state.tasks.size;
  }

  /** Number of stored disk blobs (for sparse-storage tests). */
  get blobCount(): number {
    return this.#state.blobs.size;
  }

  /** Bytes actually stored for disks and images, all blobs together. */
  get storedBytes(): number {
    let total = 0;
    for (const blob of this.#state.blobs.values()) total += allocatedBytes(blob);
    return total;
  }

  /** The whole state as the JSON text the state file holds. */
  toJSON(): unknown {
    this.#state.randomState = this.#random.state;
    return JSON.parse(serialiseState(this.#state));
  }

  /** Stops every timer this backend runs (tasks stay as they are). Safe to call twice. */
  dispose(): void {
    for (const controller of this.#timers.values()) controller.abort();
    this.#timers.clear();
    liveInstances.delete(this.#instance);
  }

  // ---- persistence -----------------------------------------------------------------------------

  /**
   * Reloads the state file when another process (or backend) changed it since this backend last
   * read or wrote it. No-op without persistence. Running timers are rebuilt from the loaded state.
   */
  sync(): void {
    if (this.persistPath === undefined) return;
    const stamp = stampOf(this.persistPath);
    if (stamp === undefined || sameStamp(stamp, this.#stamp)) return;
    const text = readStateFile(this.persistPath);
    if (text === undefined) return;
    this.#state = this.#parse(text);
    this.#random.state = this.#state.randomState;
    this.#stamp = stamp;
    this.#rebuildIndexes();
    this.#mutation(() => this.#resumeTasks());
    for (const id of [...this.#waiters.keys()]) this.#touch(id);
  }

  #parse(text: string): MockState {
    try {
      return parseState(text);
    } catch (cause) {
      throw new TypeError(`${this.persistPath} does not hold a Mock state: ${String(cause)}`, {
        cause,
      });
    }
  }

  /**
   * Runs `change` and writes the state file once, after the outermost change. The outermost
   * change first picks up what another process wrote, so it never works on a stale state: callers
   * look records up inside `change`, not before.
   */
  #mutation<T>(change: () => T): T {
    if (this.#depth === 0) this.sync();
    this.#depth += 1;
    try {
      return change();
    } finally {
      this.#depth -= 1;
      if (this.#depth === 0 && this.#dirty) this.#write();
    }
  }

  #commit(): void {
    if (this.persistPath === undefined) return;
    this.#dirty = true;
    if (this.#depth === 0) this.#write();
  }

  #write(): void {
    this.#dirty = false;
    if (this.persistPath === undefined) return;
    this.#collect();
    this.#state.randomState = this.#random.state;
    this.#stamp = writeStateFile(this.persistPath, serialiseState(this.#state));
  }

  // ---- errors ----------------------------------------------------------------------------------

  #as<T>(provider: string | undefined, run: () => T): T {
    const previous = this.#provider;
    this.#provider = provider;
    try {
      return run();
    } finally {
      this.#provider = previous;
    }
  }

  #notFound(resource: ResourceKind, id: string, message?: string): NotFoundError {
    return new NotFoundError(resource, id, message, { provider: this.#provider });
  }

  #conflict(
    reason: ConflictReason,
    message: string,
    details?: Record<string, unknown>,
  ): ConflictError {
    return new ConflictError(reason, message, { provider: this.#provider, details });
  }

  #invalid(path: string, message: string, subject = 'request'): InvalidSpecError {
    return new InvalidSpecError([{ path, message, code: 'custom' }], {
      provider: this.#provider,
      subject,
    });
  }

  #serialise(error: unknown): SerializedError {
    if (HvkitError.isInstance(error)) return error.toJSON();
    const message = error instanceof Error ? error.message : String(error);
    return new ProviderApiError(`mock backend error: ${message}`, {
      provider: this.#provider,
    }).toJSON();
  }

  // ---- ids and indexes -------------------------------------------------------------------------

  #newId(prefix: string, taken: (id: string) => boolean, digits = 8): string {
    for (;;) {
      const id = `${prefix}-${this.#random.hex(digits)}`;
      if (!taken(id)) return id;
    }
  }

  #newVmId(): string {
    return this.#newId('vm', (id) => this.#state.vms.has(id) || this.#pendingVmIds.has(id));
  }

  #newMac(): string {
    for (;;) {
      const byte = (value: number) => value.toString(16).padStart(2, '0');
      // 00:50:56:80–BF is the range vCenter assigns automatically.
      const mac = `00:50:56:${byte(0x80 | this.#random.int(64))}:${byte(this.#random.int(256))}:${byte(this.#random.int(256))}`;
      if (!this.#macs.has(mac)) {
        this.#macs.add(mac);
        return mac;
      }
    }
  }

  #newAddress(): string {
    for (;;) {
      const address = `10.${this.#random.int(256)}.${this.#random.int(256)}.${2 + this.#random.int(252)}`;
      if (!this.#addresses.has(address)) {
        this.#addresses.add(address);
        return address;
      }
    }
  }

  #rebuildIndexes(): void {
    this.#order = [...this.#state.vms.values()]
      .map((vm) => ({ seq: vm.seq, id: vm.id }))
      .sort((left, right) => left.seq - right.seq);
    this.#orderHoles = 0;
    this.#names.clear();
    this.#macs.clear();
    this.#addresses.clear();
    for (const vm of this.#state.vms.values()) {
      this.#indexName(vm);
      const nics = [vm.nics, ...vm.snapshots.map((snapshot) => snapshot.hardware.nics)].flat();
      for (const nic of nics) {
        this.#macs.add(nic.mac);
        this.#addresses.add(nic.dhcpAddress);
      }
    }
    this.#locks.clear();
    this.#reservedNames.clear();
    this.#pendingVmIds.clear();
    this.#claims.clear();
    for (const task of this.#state.tasks.values()) {
      if (task.state === 'running') this.#hold(task.id, this.#claimsOf(task.operation));
    }
  }

  #indexName(vm: MockVmRecord): void {
    let ids = this.#names.get(vm.name);
    if (!ids) {
      ids = new Set();
      this.#names.set(vm.name, ids);
    }
    ids.add(vm.id);
  }

  #unindexName(vm: MockVmRecord): void {
    const ids = this.#names.get(vm.name);
    ids?.delete(vm.id);
    if (ids?.size === 0) this.#names.delete(vm.name);
  }

  #insertVm(vm: MockVmRecord): void {
    this.#state.vms.set(vm.id, vm);
    this.#order.push({ seq: vm.seq, id: vm.id });
    this.#indexName(vm);
  }

  #removeVm(vm: MockVmRecord): void {
    this.#state.vms.delete(vm.id);
    this.#unindexName(vm);
    this.#orderHoles += 1;
    this.#released += vm.disks.length + 1;
    if (this.#orderHoles > 1000 && this.#orderHoles * 2 > this.#order.length) {
      this.#order = this.#order.filter((entry) => this.#state.vms.get(entry.id)?.seq === entry.seq);
      this.#orderHoles = 0;
    }
    this.#maybeCollect();
  }

  // ---- blobs -----------------------------------------------------------------------------------

  #registerBlob(chunks: Map<number, Uint8Array>, baseId?: string): string {
    const id = this.#newId('blob', (candidate) => this.#state.blobs.has(candidate), 12);
    this.#state.blobs.set(id, { id, chunks, ...(baseId === undefined ? {} : { baseId }) });
    return id;
  }

  #blankBlob(diskId: string): string {
    return this.#registerBlob(new Map([[0, blankDiskHeader(this.#state.seed, diskId)]]));
  }

  #copyBlob(sourceId: string): string {
    return this.#registerBlob(flatten(chainOf(this.#state.blobs, sourceId)));
  }

  #childBlob(baseId: string): string {
    return this.#registerBlob(new Map(), baseId);
  }

  #maybeCollect(): void {
    if (this.#released > 256 && this.#released * 4 > this.#state.blobs.size) this.#collect();
  }

  /** Drops blobs no disk, snapshot or image reaches. */
  #collect(): void {
    const live = new Set<string>();
    const mark = (blobId: string) => {
      let current: string | undefined = blobId;
      while (current !== undefined && !live.has(current)) {
        live.add(current);
        current = this.#state.blobs.get(current)?.baseId;
      }
    };
    for (const vm of this.#state.vms.values()) {
      for (const disk of vm.disks) mark(disk.blobId);
      for (const snapshot of vm.snapshots)
        for (const disk of snapshot.hardware.disks) mark(disk.blobId);
    }
    for (const image of this.#state.images.values()) mark(image.blobId);
    for (const id of [...this.#state.blobs.keys()]) if (!live.has(id)) this.#state.blobs.delete(id);
    this.#released = 0;
  }

  // ---- events ----------------------------------------------------------------------------------

  #event(type: string, message: string, vmId?: string): void {
    const events = this.#state.events;
    this.#state.eventSequence += 1;
    events.push({
      id: this.#state.eventSequence,
      timeMs: this.clock.now(),
      type,
      ...(vmId === undefined ? {} : { vmId }),
      message,
    });
    if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS + MAX_EVENTS / 10);
  }

  // ---- lookups ---------------------------------------------------------------------------------

  #vm(id: string): MockVmRecord {
    const vm = this.#state.vms.get(id);
    if (!vm) throw this.#notFound('vm', id);
    return vm;
  }

  #image(id: string): MockImageRecord {
    const image = this.#state.images.get(id);
    if (!image) throw this.#notFound('image', id);
    return image;
  }

  #findVm(idOrName: string): MockVmRecord | undefined {
    const byId = this.#state.vms.get(idOrName);
    if (byId) return byId;
    const ids = [...(this.#names.get(idOrName) ?? [])];
    const records = ids.map((id) => this.#state.vms.get(id) as MockVmRecord);
    return records.find((vm) => vm.template) ?? records[0];
  }

  #resolveTemplate(idOrName: string): MockVmRecord {
    const vm = this.#findVm(idOrName);
    if (!vm) throw this.#notFound('vm', idOrName, `template ${JSON.stringify(idOrName)} not found`);
    if (!vm.template) {
      throw this.#conflict('not-a-template', `VM ${JSON.stringify(vm.name)} is not a template`);
    }
    return vm;
  }

  #resolveHost(name: string): string {
    if (!this.#state.inventory.hosts.includes(name)) throw this.#notFound('host', name);
    return name;
  }

  #resolveCluster(name: string): void {
    if (name !== this.#state.inventory.cluster) {
      throw this.#notFound('host', name, `cluster ${JSON.stringify(name)} not found`);
    }
  }

  #resolveStorage(idOrName: string): string {
    const pool = this.#state.inventory.storagePools.find(
      (item) => item.name === idOrName || item.id === idOrName,
    );
    if (!pool) throw this.#notFound('storage', idOrName);
    return pool.name;
  }

  #defaultStorage(): string {
    return (this.#state.inventory.storagePools[0] as { name: string }).name;
  }

  #resolveStoragePolicy(name: string): void {
    if (!this.#state.inventory.storagePolicies.includes(name)) {
      throw this.#notFound('storage', name, `storage policy ${JSON.stringify(name)} not found`);
    }
  }

  #resolveResourcePool(idOrName: string): string {
    const byId = this.#state.resourcePools.get(idOrName);
    if (byId) return byId.id;
    for (const pool of this.#state.resourcePools.values())
      if (pool.name === idOrName) return pool.id;
    throw this.#notFound('resource-pool', idOrName);
  }

  #resolveNetwork(
    nic: { network: string; connection?: string | undefined; vlan?: number | undefined },
    at: string,
  ): MockNetwork {
    const network = this.#state.inventory.networks.find(
      (item) => item.name === nic.network || item.id === nic.network,
    );
    if (!network) throw this.#notFound('network', nic.network);
    if (nic.connection !== undefined && nic.connection !== network.kind) {
      throw this.#notFound(
        'network',
        nic.network,
        `no ${nic.connection} named ${JSON.stringify(nic.network)} (it is a ${network.kind})`,
      );
    }
    if (nic.vlan !== undefined && !network.vlanCapable) {
      throw this.#invalid(
        `${at}.vlan`,
        `network ${JSON.stringify(network.name)} is a standard port group whose VLAN is fixed; tag NICs on a distributed port group or a bridge`,
      );
    }
    return network;
  }

  #assertLibraryItem(library: string, item: string): void {
    if (!this.#state.inventory.contentLibraries[library]?.includes(item)) {
      throw this.#notFound(
        'image',
        `${library}/${item}`,
        `content library item ${library}/${item} not found`,
      );
    }
  }

  #assertNameFree(
    folder: string,
    name: string,
    selfTaskId: string | undefined,
    exceptVmId?: string,
  ): void {
    for (const id of this.#names.get(name) ?? []) {
      const vm = this.#state.vms.get(id);
      if (vm && id !== exceptVmId && vm.placement.folder === folder) {
        throw this.#conflict(
          'already-exists',
          `a VM named ${JSON.stringify(name)} already exists in folder ${JSON.stringify(folder)}`,
          { existingId: id },
        );
      }
    }
    const holder = this.#reservedNames.get(nameKey(folder, name));
    if (holder !== undefined && holder !== selfTaskId) {
      throw this.#conflict(
        'already-exists',
        `a VM named ${JSON.stringify(name)} is being created in folder ${JSON.stringify(folder)} by task ${holder}`,
        { taskId: holder },
      );
    }
  }

  #assertUnlocked(vmId: string, mode: LockMode, selfTaskId: string | undefined): void {
    const locks = this.#locks.get(vmId);
    if (!locks) return;
    for (const [taskId, held] of locks) {
      if (taskId === selfTaskId) continue;
      if (mode === 'exclusive' || held === 'exclusive') {
        const kind = this.#state.tasks.get(taskId)?.kind ?? 'a task';
        throw this.#conflict(
          'locked',
          `VM ${vmId} is locked by task ${taskId} (${kind}); retry when it has finished`,
          { taskId },
        );
      }
    }
  }

  #usedBytes(): Map<string, number> {
    const used = new Map<string, number>();
    const add = (pool: string, bytes: number) => used.set(pool, (used.get(pool) ?? 0) + bytes);
    const allocated = (blobId: string) => {
      const blob = this.#state.blobs.get(blobId);
      return blob ? allocatedBytes(blob) : 0;
    };
    for (const vm of this.#state.vms.values()) {
      for (const disk of vm.disks) {
        add(disk.storage, isThick(disk.provisioning) ? disk.sizeBytes : allocated(disk.blobId));
      }
    }
    for (const image of this.#state.images.values()) add(image.storage, allocated(image.blobId));
    return used;
  }

  /** Thick disks reserve their whole size; refuse what a datastore cannot hold. */
  #assertCapacity(requested: Map<string, number>): void {
    if (requested.size === 0) return;
    const used = this.#usedBytes();
    for (const [name, bytes] of requested) {
      const pool = this.#state.inventory.storagePools.find((item) => item.name === name);
      if (!pool) continue;
      const free = Math.max(0, pool.capacityBytes - (used.get(name) ?? 0));
      if (bytes > free) {
        throw new ProviderApiError(
          `not enough free space on datastore ${JSON.stringify(name)}: ${bytes} bytes needed, ${free} free`,
          { provider: this.#provider, fault: 'InsufficientDiskSpace' },
        );
      }
    }
  }

  // ---- building blocks -------------------------------------------------------------------------

  #makeNic(nic: NonNullable<VmSpec['nics']>[number], network: MockNetwork): MockNicRecord {
    const mac = nic.mac ?? this.#newMac();
    this.#macs.add(mac);
    return {
      id: `nic-${this.#random.hex(12)}`,
      network: network.name,
      connection: network.kind,
      model: nic.model ?? 'vmxnet3',
      ...(nic.vlan === undefined ? {} : { vlan: nic.vlan }),
      mac,
      ...(nic.ipv4 === undefined ? {} : { ipv4: structuredClone(nic.ipv4) }),
      ...(nic.ipv6 === undefined ? {} : { ipv6: structuredClone(nic.ipv6) }),
      dhcpAddress: this.#newAddress(),
    };
  }

  #copyNic(nic: MockNicRecord): MockNicRecord {
    return {
      ...copyNic(nic),
      id: `nic-${this.#random.hex(12)}`,
      mac: this.#newMac(),
      dhcpAddress: this.#newAddress(),
    };
  }

  #makeDisk(
    disk: NonNullable<VmSpec['disks']>[number],
    storage: string,
    content: { blobId: string; format: DiskFormat; bus?: MockDiskRecord['bus'] } | undefined,
  ): MockDiskRecord {
    const id = `disk-${this.#random.hex(12)}`;
    return {
      id,
      ...(disk.name === undefined ? {} : { name: disk.name }),
      sizeBytes: Math.round(disk.sizeGiB * GIB),
      provisioning: disk.provisioning ?? 'thin',
      bus: disk.bus ?? content?.bus ?? 'scsi',
      storage,
      ...(disk.storagePolicy === undefined ? {} : { storagePolicy: disk.storagePolicy }),
      format: disk.format ?? content?.format ?? 'vmdk',
      blobId: content ? this.#copyBlob(content.blobId) : this.#blankBlob(id),
    };
  }

  /** Checks the disks of a create or reconfigure; returns each disk's storage and image. */
  #planDisks(
    disks: NonNullable<VmSpec['disks']>,
    defaultStorage: string,
    at: string,
    contentSize: (index: number) => number | undefined,
    thick: Map<string, number>,
  ): { storage: string; image: MockImageRecord | undefined }[] {
    return disks.map((disk, index) => {
      const storage =
        disk.storage !== undefined ? this.#resolveStorage(disk.storage) : defaultStorage;
      if (disk.storagePolicy !== undefined) this.#resolveStoragePolicy(disk.storagePolicy);
      const image = disk.sourceImageId === undefined ? undefined : this.#image(disk.sourceImageId);
      const needed = image?.sizeBytes ?? contentSize(index);
      const sizeBytes = Math.round(disk.sizeGiB * GIB);
      if (needed !== undefined && needed > sizeBytes) {
        throw this.#invalid(
          `${at}[${index}].sizeGiB`,
          `must be large enough for its source (${needed} bytes)`,
          at === 'disks' ? 'VM spec' : 'VM change',
        );
      }
      if (isThick(disk.provisioning)) thick.set(storage, (thick.get(storage) ?? 0) + sizeBytes);
      return { storage, image };
    });
  }

  #applyPower(vm: MockVmRecord, action: PowerAction): void {
    const now = this.clock.now();
    const name = JSON.stringify(vm.name);
    const was = vm.powerState;
    switch (action) {
      case 'on':
      case 'resume':
        if (was === 'off' || vm.poweredOnAtMs === undefined) vm.poweredOnAtMs = now;
        vm.powerState = 'on';
        if (was === 'off') this.#event('vm-powered-on', `VM ${name} powered on`, vm.id);
        else this.#event('vm-resumed', `VM ${name} resumed`, vm.id);
        return;
      case 'off':
      case 'shutdown':
        vm.powerState = 'off';
        vm.poweredOnAtMs = undefined;
        if (action === 'off') this.#event('vm-powered-off', `VM ${name} powered off`, vm.id);
        else this.#event('vm-shut-down', `guest of VM ${name} shut down`, vm.id);
        return;
      case 'reboot':
      case 'reset':
        vm.poweredOnAtMs = now;
        if (action === 'reboot') this.#event('vm-rebooted', `guest of VM ${name} rebooted`, vm.id);
        else this.#event('vm-reset', `VM ${name} reset`, vm.id);
        return;
      case 'suspend':
        vm.powerState = 'suspended';
        this.#event('vm-suspended', `VM ${name} suspended`, vm.id);
        return;
    }
  }

  #checkPower(vm: MockVmRecord, action: PowerAction): void {
    const name = JSON.stringify(vm.name);
    const state = vm.powerState;
    if ((action === 'on' || action === 'resume') && vm.template) {
      throw this.#conflict(
        'invalid-state',
        `${name} is a template; templates cannot be powered on`,
      );
    }
    switch (action) {
      case 'on':
        if (state === 'on')
          throw this.#conflict('invalid-power-state', `VM ${name} is already powered on`);
        return;
      case 'resume':
        if (state !== 'suspended' && state !== 'paused') {
          throw this.#conflict(
            'invalid-power-state',
            `VM ${name} is ${state}; resume needs a suspended VM`,
          );
        }
        return;
      case 'shutdown':
      case 'reboot': {
        if (state !== 'on') {
          throw this.#conflict(
            'invalid-power-state',
            `VM ${name} is ${state}; ${action} needs a running VM`,
          );
        }
        const tools = toolsStateOf(vm);
        if (tools !== 'running') {
          throw this.#conflict(
            'invalid-state',
            `${action} of VM ${name} needs running guest tools (tools are ${tools}); use ${action === 'shutdown' ? 'powerOff' : 'reset'}`,
          );
        }
        return;
      }
      default:
        if (state !== 'on') {
          throw this.#conflict(
            'invalid-power-state',
            `VM ${name} is ${state}; ${action} needs a running VM`,
          );
        }
    }
  }

  // ---- operations (check, then change when ctx.commit) ----------------------------------------

  #execute(operation: MockOperation, ctx: RunContext): unknown {
    switch (operation.type) {
      case 'create':
        return this.#runCreate(operation, ctx);
      case 'delete':
        return this.#runDelete(operation, ctx);
      case 'power':
        return this.#runPower(operation, ctx);
      case 'reconfigure':
        return this.#runReconfigure(operation, ctx);
      case 'clone':
        return this.#runClone(operation, ctx);
      case 'mark-as-template':
        return this.#runMarkAsTemplate(operation, ctx);
      case 'snapshot-create':
        return this.#runSnapshotCreate(operation, ctx);
      case 'snapshot-revert':
        return this.#runSnapshotRevert(operation, ctx);
      case 'snapshot-delete':
        return this.#runSnapshotDelete(operation, ctx);
      case 'image-import':
        return this.#runImageImport(operation, ctx);
      case 'disk-import':
        if (operation.spec.storage !== undefined) this.#resolveStorage(operation.spec.storage);
        return undefined;
      case 'policy':
        return this.#runPolicy(operation, ctx);
      case 'migrate':
        return this.#runMigrate(operation, ctx);
    }
  }

  #resultJson(operation: MockOperation, value: unknown, provider: string): unknown {
    const now = this.clock.now();
    const seed = this.#state.seed;
    switch (operation.type) {
      case 'create':
      case 'clone':
      case 'mark-as-template':
      case 'migrate':
        return vmView(value as MockVmRecord, provider, seed, now);
      case 'reconfigure': {
        const { applied, vm } = value as { applied: string[]; vm: MockVmRecord };
        return { applied, pendingRestart: [], warnings: [], vm: vmView(vm, provider, seed, now) };
      }
      case 'snapshot-create':
        return snapshotView(value as MockSnapshotRecord);
      case 'image-import': {
        const { image, cached } = value as { image: MockImageRecord; cached: boolean };
        return imageView(image, cached);
      }
      default:
        return undefined;
    }
  }

  #runCreate(operation: Operation<'create'>, ctx: RunContext): MockVmRecord | undefined {
    const { spec } = operation;
    const placement = spec.placement ?? {};
    const folder = placement.folder ?? DEFAULT_FOLDER;
    this.#assertNameFree(folder, spec.name, ctx.selfTaskId);
    const host = placement.host === undefined ? undefined : this.#resolveHost(placement.host);
    if (placement.cluster !== undefined) this.#resolveCluster(placement.cluster);
    const resourcePool =
      placement.resourcePool === undefined
        ? ROOT_RESOURCE_POOL_ID
        : this.#resolveResourcePool(placement.resourcePool);
    const storage =
      placement.storage === undefined
        ? this.#defaultStorage()
        : this.#resolveStorage(placement.storage);
    const source = spec.image;
    let template: MockVmRecord | undefined;
    let bootImage: MockImageRecord | undefined;
    let bootSize: number | undefined;
    if (source?.kind === 'template') {
      template = this.#resolveTemplate(source.template);
      this.#assertUnlocked(template.id, 'shared', ctx.selfTaskId);
    } else if (source?.kind === 'image') {
      bootImage = this.#image(source.imageId);
      bootSize = bootImage.sizeBytes;
    } else if (source?.kind === 'content-library') {
      this.#assertLibraryItem(source.library, source.item);
      bootSize = syntheticImageSize(canonicalJson(source));
    } else if (source?.kind === 'url') {
      bootSize = syntheticImageSize(canonicalJson(source));
    }
    const thick = new Map<string, number>();
    const specDisks = spec.disks ?? [];
    const diskPlans = this.#planDisks(
      specDisks,
      storage,
      'disks',
      (index) => template?.disks[index]?.sizeBytes ?? (index === 0 ? bootSize : undefined),
      thick,
    );
    if (specDisks.length === 0 && template) {
      for (const disk of template.disks) {
        if (isThick(disk.provisioning)) {
          const target = placement.storage === undefined ? disk.storage : storage;
          thick.set(target, (thick.get(target) ?? 0) + disk.sizeBytes);
        }
      }
    }
    const networks = (spec.nics ?? []).map((nic, index) =>
      this.#resolveNetwork(nic, `nics[${index}]`),
    );
    this.#assertCapacity(thick);
    if (!ctx.commit) return undefined;

    if (source?.kind === 'url' || source?.kind === 'content-library') {
      bootImage = this.#importImageNow(source, imageNameOf(source), undefined, storage, true).image;
    }
    const seq = this.#state.vmSequence + 1;
    this.#state.vmSequence = seq;
    const disks = specDisks.map((disk, index) => {
      const plan = diskPlans[index] as { storage: string; image: MockImageRecord | undefined };
      const templateDisk = template?.disks[index];
      const content = plan.image ?? templateDisk ?? (index === 0 ? bootImage : undefined);
      return this.#makeDisk(
        disk,
        plan.storage,
        content && {
          blobId: content.blobId,
          format: content.format,
          ...(templateDisk ? { bus: templateDisk.bus } : {}),
        },
      );
    });
    if (specDisks.length === 0 && template) {
      for (const disk of template.disks) {
        disks.push({
          ...disk,
          id: `disk-${this.#random.hex(12)}`,
          storage: placement.storage === undefined ? disk.storage : storage,
          parentId: undefined,
          blobId: this.#copyBlob(disk.blobId),
        });
      }
    } else if (specDisks.length === 0 && bootImage) {
      disks.push(
        this.#makeDisk({ sizeGiB: Math.ceil(bootImage.sizeBytes / MIB) / 1024 }, storage, {
          blobId: bootImage.blobId,
          format: bootImage.format,
        }),
      );
    }
    const nics = spec.nics
      ? spec.nics.map((nic, index) => this.#makeNic(nic, networks[index] as MockNetwork))
      : (template?.nics.map((nic) => this.#copyNic(nic)) ?? []);
    const hosts = this.#state.inventory.hosts;
    const vm: MockVmRecord = {
      id: operation.vmId,
      seq,
      name: spec.name,
      ...(spec.description === undefined ? {} : { description: spec.description }),
      guestOs: spec.guestOs ?? template?.guestOs ?? 'linux',
      powerState: 'off',
      template: false,
      firmware: spec.firmware ?? template?.firmware ?? 'bios',
      secureBoot: spec.secureBoot ?? false,
      ...(spec.customization === undefined ? {} : { customization: { ...spec.customization } }),
      ...(spec.cloudInit === undefined ? {} : { cloudInit: structuredClone(spec.cloudInit) }),
      cpu: {
        count: spec.cpu.count,
        coresPerSocket: spec.cpu.coresPerSocket ?? 1,
        hotAdd: spec.cpu.hotAdd ?? false,
        ...(spec.cpu.reservationMHz === undefined
          ? {}
          : { reservationMHz: spec.cpu.reservationMHz }),
        ...(spec.cpu.limitMHz === undefined ? {} : { limitMHz: spec.cpu.limitMHz }),
      },
      memory: {
        sizeMiB: spec.memory.sizeMiB,
        hotAdd: spec.memory.hotAdd ?? false,
        ...(spec.memory.reservationMiB === undefined
          ? {}
          : { reservationMiB: spec.memory.reservationMiB }),
        ...(spec.memory.limitMiB === undefined ? {} : { limitMiB: spec.memory.limitMiB }),
      },
      disks,
      nics,
      placement: {
        host: host ?? (hosts[(seq - 1) % hosts.length] as string),
        cluster: this.#state.inventory.cluster,
        resourcePool,
        folder,
        storage,
      },
      policies: {},
      tags: { ...spec.tags },
      snapshots: [],
      currentSnapshotId: null,
      createdAtMs: this.clock.now(),
    };
    this.#insertVm(vm);
    this.#event('vm-created', `VM ${JSON.stringify(vm.name)} created`, vm.id);
    if (spec.powerState === 'on') this.#applyPower(vm, 'on');
    return vm;
  }

  #runDelete(operation: Operation<'delete'>, ctx: RunContext): undefined {
    const vm = this.#vm(operation.vmId);
    this.#assertUnlocked(vm.id, 'exclusive', ctx.selfTaskId);
    if (!ctx.commit) return undefined;
    if (vm.powerState !== 'off') {
      vm.powerState = 'off';
      this.#event(
        'vm-powered-off',
        `VM ${JSON.stringify(vm.name)} powered off for deletion`,
        vm.id,
      );
    }
    for (const rule of this.#state.placementRules.values()) {
      rule.vmIds = rule.vmIds.filter((id) => id !== vm.id);
    }
    for (const alert of [...this.#state.alerts.values()]) {
      if (alert.vmId === vm.id) this.#state.alerts.delete(alert.id);
    }
    this.#removeVm(vm);
    this.#event('vm-deleted', `VM ${JSON.stringify(vm.name)} deleted`, vm.id);
    return undefined;
  }

  #runPower(operation: Operation<'power'>, ctx: RunContext): undefined {
    const vm = this.#vm(operation.vmId);
    this.#assertUnlocked(vm.id, 'exclusive', ctx.selfTaskId);
    this.#checkPower(vm, operation.action);
    if (ctx.commit) this.#applyPower(vm, operation.action);
    return undefined;
  }

  #runReconfigure(
    operation: Operation<'reconfigure'>,
    ctx: RunContext,
  ): { applied: string[]; vm: MockVmRecord } | undefined {
    const vm = this.#vm(operation.vmId);
    this.#assertUnlocked(vm.id, 'exclusive', ctx.selfTaskId);
    const { change } = operation;
    const name = JSON.stringify(vm.name);
    if (vm.template) {
      throw this.#conflict(
        'invalid-state',
        `${name} is a template; deploy or clone a VM to change hardware`,
      );
    }
    const stopped = vm.powerState === 'off';
    const refuse = (field: string, why: string): never => {
      throw this.#conflict(
        'invalid-power-state',
        `${field}: ${why} while VM ${name} is ${vm.powerState}; power it off first`,
        { field },
      );
    };
    if (change.name !== undefined && change.name !== vm.name) {
      this.#assertNameFree(vm.placement.folder, change.name, ctx.selfTaskId, vm.id);
    }
    const cpu = change.cpu ?? {};
    const count = cpu.count ?? vm.cpu.count;
    const cores = cpu.coresPerSocket ?? vm.cpu.coresPerSocket;
    if (count % cores !== 0) {
      throw this.#invalid(
        cpu.coresPerSocket !== undefined ? 'cpu.coresPerSocket' : 'cpu.count',
        `${count} vCPUs do not divide into sockets of ${cores} cores`,
        'VM change',
      );
    }
    const cpuReservation = cpu.reservationMHz ?? vm.cpu.reservationMHz;
    const cpuLimit = cpu.limitMHz ?? vm.cpu.limitMHz;
    if (cpuReservation !== undefined && cpuLimit !== undefined && cpuReservation > cpuLimit) {
      throw this.#invalid('cpu.reservationMHz', 'must not exceed limitMHz', 'VM change');
    }
    const memory = change.memory ?? {};
    const sizeMiB = memory.sizeMiB ?? vm.memory.sizeMiB;
    const memoryReservation = memory.reservationMiB ?? vm.memory.reservationMiB;
    const memoryLimit = memory.limitMiB ?? vm.memory.limitMiB;
    if (memoryReservation !== undefined && memoryReservation > sizeMiB) {
      throw this.#invalid('memory.reservationMiB', 'must not exceed sizeMiB', 'VM change');
    }
    if (
      memoryReservation !== undefined &&
      memoryLimit !== undefined &&
      memoryReservation > memoryLimit
    ) {
      throw this.#invalid('memory.reservationMiB', 'must not exceed limitMiB', 'VM change');
    }
    if (!stopped) {
      if (cpu.hotAdd !== undefined && cpu.hotAdd !== vm.cpu.hotAdd) {
        refuse('cpu.hotAdd', 'CPU hot-add can only be switched');
      }
      if (cpu.coresPerSocket !== undefined && cpu.coresPerSocket !== vm.cpu.coresPerSocket) {
        refuse('cpu.coresPerSocket', 'the CPU topology cannot change');
      }
      if (cpu.count !== undefined && cpu.count !== vm.cpu.count) {
        if (cpu.count < vm.cpu.count) refuse('cpu.count', 'vCPUs cannot be removed');
        if (!vm.cpu.hotAdd)
          refuse('cpu.count', 'CPU hot-add is disabled, so vCPUs cannot be added');
        if (vm.powerState !== 'on') refuse('cpu.count', 'vCPUs cannot be added');
      }
      if (memory.hotAdd !== undefined && memory.hotAdd !== vm.memory.hotAdd) {
        refuse('memory.hotAdd', 'memory hot-add can only be switched');
      }
      if (memory.sizeMiB !== undefined && memory.sizeMiB !== vm.memory.sizeMiB) {
        if (memory.sizeMiB < vm.memory.sizeMiB)
          refuse('memory.sizeMiB', 'memory cannot be removed');
        if (!vm.memory.hotAdd)
          refuse('memory.sizeMiB', 'memory hot-add is disabled, so memory cannot be added');
        if (vm.powerState !== 'on') refuse('memory.sizeMiB', 'memory cannot be added');
      }
    }
    const resizes = (change.resizeDisks ?? []).map((resize, index) => {
      const at = `resizeDisks[${index}].sizeGiB`;
      const disk = vm.disks.find((item) => item.id === resize.diskId);
      if (!disk) throw this.#notFound('disk', resize.diskId);
      if (!Number.isInteger(resize.sizeGiB * 1024)) {
        throw this.#invalid(at, 'must be a whole number of MiB', 'VM change');
      }
      if (resize.sizeGiB > MAX_DISK_GIB) {
        throw this.#invalid(at, `must be at most ${MAX_DISK_GIB} GiB`, 'VM change');
      }
      const sizeBytes = Math.round(resize.sizeGiB * GIB);
      if (sizeBytes < disk.sizeBytes) {
        throw this.#invalid(
          at,
          `must not shrink disk ${disk.id} (now ${disk.sizeBytes / GIB} GiB); disks only grow`,
          'VM change',
        );
      }
      if (sizeBytes > disk.sizeBytes) {
        if (vm.snapshots.length > 0) {
          throw this.#conflict(
            'invalid-state',
            `disk ${disk.id} of VM ${name} cannot grow while the VM has snapshots; delete them first`,
          );
        }
        if (!stopped && disk.bus === 'ide') refuse(at, 'an IDE disk cannot grow');
      }
      return { disk, sizeBytes };
    });
    for (const diskId of change.removeDisks ?? []) {
      if (!vm.disks.some((disk) => disk.id === diskId)) throw this.#notFound('disk', diskId);
    }
    for (const nicId of change.removeNics ?? []) {
      if (!vm.nics.some((nic) => nic.id === nicId)) throw this.#notFound('nic', nicId);
    }
    const addDisks = change.addDisks ?? [];
    if (!stopped) {
      addDisks.forEach((disk, index) => {
        if (disk.bus === 'ide') refuse(`addDisks[${index}].bus`, 'an IDE disk cannot be added');
      });
    }
    const thick = new Map<string, number>();
    const diskPlans = this.#planDisks(
      addDisks,
      vm.placement.storage,
      'addDisks',
      () => undefined,
      thick,
    );
    const networks = (change.addNics ?? []).map((nic, index) =>
      this.#resolveNetwork(nic, `addNics[${index}]`),
    );
    this.#assertCapacity(thick);
    if (!ctx.commit) return undefined;

    const applied: string[] = [];
    if (change.name !== undefined) {
      this.#unindexName(vm);
      vm.name = change.name;
      this.#indexName(vm);
      applied.push('name');
    }
    if (change.description !== undefined) {
      vm.description = change.description;
      applied.push('description');
    }
    for (const [key, value] of Object.entries(cpu)) {
      if (value === undefined) continue;
      (vm.cpu as Record<string, unknown>)[key] = value;
      applied.push(`cpu.${key}`);
    }
    for (const [key, value] of Object.entries(memory)) {
      if (value === undefined) continue;
      (vm.memory as Record<string, unknown>)[key] = value;
      applied.push(`memory.${key}`);
    }
    if (resizes.length > 0) {
      for (const { disk, sizeBytes } of resizes) disk.sizeBytes = sizeBytes;
      applied.push('resizeDisks');
    }
    if (change.removeDisks?.length) {
      const removed = new Set(change.removeDisks);
      vm.disks = vm.disks.filter((disk) => !removed.has(disk.id));
      this.#released += removed.size;
      applied.push('removeDisks');
    }
    if (addDisks.length > 0) {
      addDisks.forEach((disk, index) => {
        const plan = diskPlans[index] as { storage: string; image: MockImageRecord | undefined };
        vm.disks.push(this.#makeDisk(disk, plan.storage, plan.image));
      });
      applied.push('addDisks');
    }
    if (change.removeNics?.length) {
      const removed = new Set(change.removeNics);
      vm.nics = vm.nics.filter((nic) => !removed.has(nic.id));
      applied.push('removeNics');
    }
    if (change.addNics?.length) {
      change.addNics.forEach((nic, index) => {
        vm.nics.push(this.#makeNic(nic, networks[index] as MockNetwork));
      });
      applied.push('addNics');
    }
    if (change.tags !== undefined) {
      vm.tags = { ...change.tags };
      applied.push('tags');
    }
    this.#event(
      'vm-reconfigured',
      `VM ${JSON.stringify(vm.name)} reconfigured: ${applied.join(', ')}`,
      vm.id,
    );
    this.#maybeCollect();
    return { applied, vm };
  }

  #runClone(operation: Operation<'clone'>, ctx: RunContext): MockVmRecord | undefined {
    const source = this.#vm(operation.vmId);
    this.#assertUnlocked(source.id, 'shared', ctx.selfTaskId);
    const { options } = operation;
    let snapshot: MockSnapshotRecord | undefined;
    if (options.snapshotId !== undefined) {
      snapshot = source.snapshots.find((item) => item.id === options.snapshotId);
      if (!snapshot) throw this.#notFound('snapshot', options.snapshotId);
    } else if (options.mode === 'linked' && !source.template) {
      snapshot = source.snapshots.find((item) => item.id === source.currentSnapshotId);
      if (!snapshot) {
        throw this.#conflict(
          'invalid-state',
          `a linked clone of VM ${JSON.stringify(source.name)} needs a snapshot (snapshotId or a current one) or a template source`,
        );
      }
    }
    const hardware: MockHardware = snapshot ? snapshot.hardware : source;
    const placement = options.placement ?? {};
    const folder = placement.folder ?? source.placement.folder;
    this.#assertNameFree(folder, options.name, ctx.selfTaskId);
    const host =
      placement.host === undefined ? source.placement.host : this.#resolveHost(placement.host);
    if (placement.cluster !== undefined) this.#resolveCluster(placement.cluster);
    const resourcePool =
      placement.resourcePool === undefined
        ? source.placement.resourcePool
        : this.#resolveResourcePool(placement.resourcePool);
    const storage =
      placement.storage === undefined ? undefined : this.#resolveStorage(placement.storage);
    const linked = options.mode === 'linked';
    if (!linked) {
      const thick = new Map<string, number>();
      for (const disk of hardware.disks) {
        const target = storage ?? disk.storage;
        if (isThick(disk.provisioning))
          thick.set(target, (thick.get(target) ?? 0) + disk.sizeBytes);
      }
      this.#assertCapacity(thick);
    }
    if (!ctx.commit) return undefined;

    const seq = this.#state.vmSequence + 1;
    this.#state.vmSequence = seq;
    const copy = copyHardware(hardware);
    const vm: MockVmRecord = {
      id: operation.newVmId,
      seq,
      name: options.name,
      ...((options.description ?? source.description) === undefined
        ? {}
        : { description: options.description ?? source.description }),
      guestOs: source.guestOs,
      powerState: 'off',
      template: false,
      firmware: source.firmware,
      secureBoot: source.secureBoot,
      ...(source.cloudInit === undefined ? {} : { cloudInit: structuredClone(source.cloudInit) }),
      cpu: copy.cpu,
      memory: copy.memory,
      disks: copy.disks.map((disk, index) => {
        const original = hardware.disks[index] as MockDiskRecord;
        return {
          ...disk,
          id: `disk-${this.#random.hex(12)}`,
          storage: storage ?? disk.storage,
          ...(linked
            ? { provisioning: 'thin' as const, parentId: original.id }
            : { parentId: undefined }),
          blobId: linked ? this.#childBlob(original.blobId) : this.#copyBlob(original.blobId),
        };
      }),
      nics: hardware.nics.map((nic) => this.#copyNic(nic)),
      placement: {
        host,
        cluster: this.#state.inventory.cluster,
        resourcePool,
        folder,
        storage: storage ?? source.placement.storage,
      },
      policies: {},
      tags: { ...(options.tags ?? source.tags) },
      snapshots: [],
      currentSnapshotId: null,
      createdAtMs: this.clock.now(),
    };
    this.#insertVm(vm);
    this.#event(
      'vm-cloned',
      `VM ${JSON.stringify(vm.name)} cloned (${options.mode}) from ${JSON.stringify(source.name)}${snapshot ? ` at snapshot ${JSON.stringify(snapshot.name)}` : ''}`,
      vm.id,
    );
    if (options.powerOn) this.#applyPower(vm, 'on');
    return vm;
  }

  #runMarkAsTemplate(
    operation: Operation<'mark-as-template'>,
    ctx: RunContext,
  ): MockVmRecord | undefined {
    const vm = this.#vm(operation.vmId);
    this.#assertUnlocked(vm.id, 'exclusive', ctx.selfTaskId);
    if (vm.template)
      throw this.#conflict('invalid-state', `VM ${JSON.stringify(vm.name)} is already a template`);
    if (vm.powerState !== 'off') {
      throw this.#conflict(
        'invalid-power-state',
        `VM ${JSON.stringify(vm.name)} is ${vm.powerState}; markAsTemplate needs a VM that is off`,
      );
    }
    if (!ctx.commit) return undefined;
    vm.template = true;
    this.#event('vm-marked-as-template', `VM ${JSON.stringify(vm.name)} marked as template`, vm.id);
    return vm;
  }

  #runSnapshotCreate(
    operation: Operation<'snapshot-create'>,
    ctx: RunContext,
  ): MockSnapshotRecord | undefined {
    const vm = this.#vm(operation.vmId);
    this.#assertUnlocked(vm.id, 'exclusive', ctx.selfTaskId);
    const { options } = operation;
    const name = JSON.stringify(vm.name);
    if (vm.template)
      throw this.#conflict(
        'invalid-state',
        `${name} is a template; templates cannot take snapshots`,
      );
    if (vm.policies.faultTolerance?.enabled) {
      throw this.#conflict(
        'invalid-state',
        `VM ${name} is fault tolerant; fault-tolerant VMs cannot take snapshots`,
      );
    }
    if (options.memory && vm.powerState !== 'on') {
      throw this.#conflict(
        'invalid-power-state',
        `VM ${name} is ${vm.powerState}; a memory snapshot needs a running VM`,
      );
    }
    if (options.quiesce && toolsStateOf(vm) !== 'running') {
      throw this.#conflict('invalid-state', `quiescing VM ${name} needs running guest tools`);
    }
    if (!ctx.commit) return undefined;
    const snapshot: MockSnapshotRecord = {
      id: `snapshot-${this.#random.hex(12)}`,
      name: options.name,
      ...(options.description === undefined ? {} : { description: options.description }),
      createdAtMs: this.clock.now(),
      memory: options.memory ?? false,
      quiesced: options.quiesce ?? false,
      powerState: vm.powerState,
      ...(vm.currentSnapshotId === null ? {} : { parentId: vm.currentSnapshotId }),
      hardware: copyHardware(vm),
    };
    vm.snapshots.push(snapshot);
    vm.currentSnapshotId = snapshot.id;
    this.#event(
      'vm-snapshot-created',
      `snapshot ${JSON.stringify(snapshot.name)} of VM ${name} created`,
      vm.id,
    );
    return snapshot;
  }

  #snapshotOf(vm: MockVmRecord, snapshotId: string): MockSnapshotRecord {
    const snapshot = vm.snapshots.find((item) => item.id === snapshotId);
    if (!snapshot) throw this.#notFound('snapshot', snapshotId);
    return snapshot;
  }

  #runSnapshotRevert(operation: Operation<'snapshot-revert'>, ctx: RunContext): undefined {
    const vm = this.#vm(operation.vmId);
    this.#assertUnlocked(vm.id, 'exclusive', ctx.selfTaskId);
    const snapshot = this.#snapshotOf(vm, operation.snapshotId);
    if (vm.template)
      throw this.#conflict('invalid-state', `${JSON.stringify(vm.name)} is a template`);
    if (!ctx.commit) return undefined;
    const restored = copyHardware(snapshot.hardware);
    vm.cpu = restored.cpu;
    vm.memory = restored.memory;
    vm.disks = restored.disks;
    vm.nics = restored.nics;
    for (const nic of vm.nics) this.#macs.add(nic.mac);
    const powerState = snapshot.memory ? snapshot.powerState : 'off';
    vm.powerState = powerState;
    vm.poweredOnAtMs = powerState === 'on' ? this.clock.now() : undefined;
    vm.currentSnapshotId = snapshot.id;
    this.#released += 1;
    this.#event(
      'vm-snapshot-reverted',
      `VM ${JSON.stringify(vm.name)} reverted to snapshot ${JSON.stringify(snapshot.name)}`,
      vm.id,
    );
    this.#maybeCollect();
    return undefined;
  }

  #runSnapshotDelete(operation: Operation<'snapshot-delete'>, ctx: RunContext): undefined {
    const vm = this.#vm(operation.vmId);
    this.#assertUnlocked(vm.id, 'exclusive', ctx.selfTaskId);
    const snapshot = this.#snapshotOf(vm, operation.snapshotId);
    if (!ctx.commit) return undefined;
    const removed = new Set([snapshot.id]);
    if (operation.removeChildren) {
      let grew = true;
      while (grew) {
        grew = false;
        for (const item of vm.snapshots) {
          if (item.parentId !== undefined && removed.has(item.parentId) && !removed.has(item.id)) {
            removed.add(item.id);
            grew = true;
          }
        }
      }
    } else {
      for (const item of vm.snapshots) {
        if (item.parentId === snapshot.id) {
          if (snapshot.parentId === undefined) delete item.parentId;
          else item.parentId = snapshot.parentId;
        }
      }
    }
    vm.snapshots = vm.snapshots.filter((item) => !removed.has(item.id));
    if (vm.currentSnapshotId !== null && removed.has(vm.currentSnapshotId)) {
      vm.currentSnapshotId = snapshot.parentId ?? null;
    }
    this.#released += removed.size;
    this.#event(
      'vm-snapshot-deleted',
      `snapshot ${JSON.stringify(snapshot.name)} of VM ${JSON.stringify(vm.name)} deleted${removed.size > 1 ? ` with ${removed.size - 1} children` : ''}`,
      vm.id,
    );
    this.#maybeCollect();
    return undefined;
  }

  #runImageImport(
    operation: Operation<'image-import'>,
    ctx: RunContext,
  ): { image: MockImageRecord; cached: boolean } | undefined {
    const { source, options } = operation;
    const storage =
      options.storage === undefined
        ? this.#defaultStorage()
        : this.#resolveStorage(options.storage);
    if (source.kind === 'content-library') this.#assertLibraryItem(source.library, source.item);
    if (!ctx.commit) return undefined;
    return this.#importImageNow(
      source,
      options.name,
      options.convertTo,
      storage,
      operation.caching,
    );
  }

  /**
   * Stores the synthetic image behind `source` (no network I/O): 8–40 MiB whose first 4 KiB are
   * derived from a hash of the source and the rest zeros, so the same source always has the
   * same bytes. Reuses a stored image for the same source, conversion and storage when caching.
   */
  #importImageNow(
    source: ImageImportSource,
    name: string,
    convertTo: DiskFormat | undefined,
    storage: string,
    caching: boolean,
  ): { image: MockImageRecord; cached: boolean } {
    const sourceKey = canonicalJson(source);
    const cacheKey = canonicalJson([sourceKey, convertTo ?? null, storage]);
    if (caching) {
      for (const image of this.#state.images.values()) {
        if (image.cacheKey === cacheKey) return { image, cached: true };
      }
    }
    const sizeBytes = syntheticImageSize(sourceKey);
    const chunks = syntheticImageChunks(sourceKey);
    const image: MockImageRecord = {
      id: this.#newId('image', (id) => this.#state.images.has(id)),
      name,
      format: convertTo ?? formatOfSource(source),
      sizeBytes,
      storage,
      source: structuredClone(source),
      sha256: sha256Of([chunks], sizeBytes),
      createdAtMs: this.clock.now(),
      blobId: this.#registerBlob(chunks),
      cacheKey,
    };
    this.#state.images.set(image.id, image);
    this.#event(
      'image-imported',
      `image ${JSON.stringify(name)} imported from ${describeSource(source)}`,
    );
    return { image, cached: false };
  }

  #runPolicy(operation: Operation<'policy'>, ctx: RunContext): undefined {
    const vm = this.#vm(operation.vmId);
    this.#assertUnlocked(vm.id, 'exclusive', ctx.selfTaskId);
    const name = JSON.stringify(vm.name);
    if (vm.template)
      throw this.#conflict('invalid-state', `${name} is a template; policies apply to VMs`);
    if (operation.policy === 'faultTolerance' && operation.settings.enabled === true) {
      if (vm.cpu.count > MAX_FAULT_TOLERANCE_VCPUS) {
        throw this.#conflict(
          'invalid-state',
          `fault tolerance supports at most ${MAX_FAULT_TOLERANCE_VCPUS} vCPUs; VM ${name} has ${vm.cpu.count}`,
        );
      }
      if (vm.snapshots.length > 0) {
        throw this.#conflict(
          'invalid-state',
          `VM ${name} has snapshots; delete them before turning on fault tolerance`,
        );
      }
    }
    if (!ctx.commit) return undefined;
    (vm.policies as Record<string, unknown>)[operation.policy] = structuredClone(
      operation.settings,
    );
    this.#event('vm-reconfigured', `VM ${name} policy ${operation.policy} set`, vm.id);
    return undefined;
  }

  #runMigrate(operation: Operation<'migrate'>, ctx: RunContext): MockVmRecord | undefined {
    const vm = this.#vm(operation.vmId);
    this.#assertUnlocked(vm.id, 'exclusive', ctx.selfTaskId);
    const { destination } = operation;
    const host = destination.host === undefined ? undefined : this.#resolveHost(destination.host);
    const storage =
      destination.storage === undefined ? undefined : this.#resolveStorage(destination.storage);
    const pool =
      destination.resourcePool === undefined
        ? undefined
        : this.#resolveResourcePool(destination.resourcePool);
    if (host !== undefined) this.#assertRulesAllow(vm, host);
    if (!ctx.commit) return undefined;
    if (host !== undefined) vm.placement.host = host;
    if (pool !== undefined) vm.placement.resourcePool = pool;
    if (storage !== undefined) {
      vm.placement.storage = storage;
      for (const disk of vm.disks) disk.storage = storage;
    }
    this.#event(
      'vm-migrated',
      `VM ${JSON.stringify(vm.name)} ${vm.powerState === 'on' ? 'live-' : ''}migrated to ${[host, storage, pool].filter(Boolean).join(', ')}`,
      vm.id,
    );
    return vm;
  }

  #assertRulesAllow(vm: MockVmRecord, host: string): void {
    for (const rule of this.#state.placementRules.values()) {
      if (!rule.mandatory || !rule.vmIds.includes(vm.id)) continue;
      const others = rule.vmIds
        .filter((id) => id !== vm.id)
        .map((id) => this.#state.vms.get(id))
        .filter((item): item is MockVmRecord => item !== undefined);
      const clash =
        rule.kind === 'anti-affinity'
          ? others.some((other) => other.placement.host === host)
          : others.some((other) => other.placement.host !== host);
      if (clash) {
        throw this.#conflict(
          'invalid-state',
          `moving VM ${JSON.stringify(vm.name)} to ${host} breaks mandatory ${rule.kind} rule ${JSON.stringify(rule.name)}`,
          { ruleId: rule.id },
        );
      }
    }
  }

  // ---- seeding ---------------------------------------------------------------------------------

  #seedVms(count: number): void {
    const network = this.#state.inventory.networks[0]?.name;
    for (let index = 1; index <= count; index++) {
      const random = this.#random;
      const spec: VmSpec = {
        name: `seed-vm-${String(index).padStart(5, '0')}`,
        cpu: { count: [1, 2, 4][random.int(3)] as number },
        memory: { sizeMiB: [1024, 2048, 4096, 8192][random.int(4)] as number },
        disks: [{ sizeGiB: 20 }],
        ...(network === undefined ? {} : { nics: [{ network }] }),
        tags: {
          env: ['prod', 'staging', 'dev'][random.int(3)] as string,
          tier: ['web', 'app', 'db'][random.int(3)] as string,
        },
        powerState: random.next() < 0.5 ? 'on' : 'off',
      };
      this.#runCreate(
        { type: 'create', vmId: this.#newVmId(), spec },
        { commit: true, selfTaskId: undefined },
      );
    }
    if (count > 0) this.#commit();
  }

  // ---- tasks -----------------------------------------------------------------------------------

  #claimsOf(operation: MockOperation): Claims {
    switch (operation.type) {
      case 'create': {
        const locks: [string, LockMode][] = [];
        if (operation.spec.image?.kind === 'template') {
          const template = this.#findVm(operation.spec.image.template);
          if (template) locks.push([template.id, 'shared']);
        }
        const folder = operation.spec.placement?.folder ?? DEFAULT_FOLDER;
        return { locks, names: [nameKey(folder, operation.spec.name)], vmIds: [operation.vmId] };
      }
      case 'clone': {
        const source = this.#state.vms.get(operation.vmId);
        const folder =
          operation.options.placement?.folder ?? source?.placement.folder ?? DEFAULT_FOLDER;
        return {
          locks: [[operation.vmId, 'shared']],
          names: [nameKey(folder, operation.options.name)],
          vmIds: [operation.newVmId],
        };
      }
      case 'reconfigure': {
        const vm = this.#state.vms.get(operation.vmId);
        const rename = operation.change.name;
        return {
          locks: [[operation.vmId, 'exclusive']],
          names:
            vm && rename !== undefined && rename !== vm.name
              ? [nameKey(vm.placement.folder, rename)]
              : [],
          vmIds: [],
        };
      }
      case 'image-import':
      case 'disk-import':
        return { locks: [], names: [], vmIds: [] };
      default:
        return { locks: [[operation.vmId, 'exclusive']], names: [], vmIds: [] };
    }
  }

  #hold(taskId: string, claims: Claims): void {
    this.#claims.set(taskId, claims);
    for (const [vmId, mode] of claims.locks) {
      let locks = this.#locks.get(vmId);
      if (!locks) {
        locks = new Map();
        this.#locks.set(vmId, locks);
      }
      locks.set(taskId, mode);
    }
    for (const key of claims.names) this.#reservedNames.set(key, taskId);
    for (const id of claims.vmIds) this.#pendingVmIds.add(id);
  }

  #release(taskId: string): void {
    const claims = this.#claims.get(taskId);
    if (!claims) return;
    for (const [vmId] of claims.locks) {
      const locks = this.#locks.get(vmId);
      locks?.delete(taskId);
      if (locks?.size === 0) this.#locks.delete(vmId);
    }
    for (const key of claims.names) {
      if (this.#reservedNames.get(key) === taskId) this.#reservedNames.delete(key);
    }
    for (const id of claims.vmIds) this.#pendingVmIds.delete(id);
    this.#claims.delete(taskId);
  }

  /**
   * Accepts an operation as a task and returns its id. Checks everything first (errors are
   * thrown here, before any task exists), then holds the task's locks and name reservations.
   * An idempotency key already used with the same fingerprint returns the first task; with
   * another fingerprint it throws `ConflictError('idempotency-mismatch')`.
   */
  submitTask(request: MockTaskRequest): string {
    return this.#as(request.provider, () =>
      this.#mutation(() => {
        const { idempotency, provider } = request;
        const scope = idempotency ? `${provider}\u0000${idempotency.key}` : undefined;
        if (scope !== undefined && idempotency) {
          const known = this.#state.idempotency.get(scope);
          if (known && known.fingerprint !== idempotency.fingerprint) {
            throw this.#conflict(
              'idempotency-mismatch',
              `idempotency key ${JSON.stringify(idempotency.key)} was already used for a different request (task ${known.taskId})`,
              { taskId: known.taskId },
            );
          }
          if (known && this.#state.tasks.has(known.taskId)) return known.taskId;
        }
        // The backend keeps the operation (the driver hands over freshly parsed input).
        const operation = request.operation;
        if (operation.type === 'create' && !operation.vmId) operation.vmId = this.#newVmId();
        if (operation.type === 'clone' && !operation.newVmId) operation.newVmId = this.#newVmId();
        if (operation.type === 'disk-import' && !request.source) {
          throw new TypeError('a disk import needs its byte stream');
        }
        const mode =
          request.fault?.mode === 'hang'
            ? 'hang'
            : operation.type === 'disk-import'
              ? 'stream'
              : 'timed';
        const immediate =
          mode === 'timed' && request.durationMs <= 0 && request.fault === undefined;
        let result: unknown;
        if (immediate) {
          // A task of 0 ms checks and applies in one pass; its errors are still thrown here,
          // before any task exists.
          const value = this.#execute(operation, { commit: true, selfTaskId: undefined });
          result = freezeDeep(this.#resultJson(operation, value, provider));
        } else {
          this.#execute(operation, { commit: false, selfTaskId: undefined });
        }
        const id = this.#newId('task', (candidate) => this.#state.tasks.has(candidate), 12);
        const now = this.clock.now();
        const task: MockTaskRecord = {
          id,
          kind: request.kind,
          provider,
          state: immediate ? 'succeeded' : 'running',
          createdAtMs: now,
          startedAtMs: now,
          ...(immediate ? { finishedAtMs: now, progress: { percent: 100 } } : {}),
          durationMs: Math.max(0, request.durationMs),
          mode,
          operation,
          ...(request.fault?.mode === 'task-fail' ? { failWith: request.fault.error } : {}),
          ...(operation.type === 'disk-import'
            ? { bytesDone: 0, bytesTotal: operation.spec.sizeBytes }
            : {}),
          ...(mode === 'stream' ? { owner: this.#instance } : {}),
          ...(result === undefined ? {} : { result }),
        };
        this.#state.tasks.set(id, task);
        if (!immediate) this.#hold(id, this.#claimsOf(operation));
        if (scope !== undefined && idempotency) {
          this.#state.idempotency.set(scope, { fingerprint: idempotency.fingerprint, taskId: id });
        }
        this.#prune();
        this.#logger.debug('mock task accepted', { taskId: id, kind: request.kind });
        if (mode === 'timed' && !immediate) {
          if (task.durationMs === 0) this.#complete(id);
          else this.#schedule(task);
        }
        this.#commit();
        this.#touch(id);
        if (mode === 'stream') void this.#consume(id, request.source as AsyncIterable<Uint8Array>);
        return id;
      }),
    );
  }

  #prune(): void {
    this.#submissions += 1;
    if (this.#submissions % 1000 !== 0) return;
    const horizon = this.clock.now() - TASK_RETENTION_MS;
    for (const task of [...this.#state.tasks.values()]) {
      if (task.state !== 'running' && (task.finishedAtMs ?? 0) < horizon) {
        this.#state.tasks.delete(task.id);
        this.#versions.delete(task.id);
      }
    }
    for (const [key, record] of [...this.#state.idempotency]) {
      if (!this.#state.tasks.has(record.taskId)) this.#state.idempotency.delete(key);
    }
  }

  #schedule(task: MockTaskRecord): void {
    this.#timers.get(task.id)?.abort();
    const controller = new AbortController();
    this.#timers.set(task.id, controller);
    void this.#tick(
      task.id,
      task.startedAtMs ?? task.createdAtMs,
      task.durationMs,
      controller.signal,
    );
  }

  /** Wakes at each progress step (watchers see it) and completes the task at its deadline. */
  async #tick(id: string, startMs: number, durationMs: number, signal: AbortSignal): Promise<void> {
    try {
      for (let step = 1; step <= PROGRESS_STEPS; step++) {
        const due = startMs + (durationMs * step) / PROGRESS_STEPS;
        const wait = due - this.clock.now();
        if (wait > 0) await this.clock.sleep(wait, signal);
        if (signal.aborted) return;
        this.sync();
        if (signal.aborted) return;
        const task = this.#state.tasks.get(id);
        if (task?.state !== 'running') return;
        if (step < PROGRESS_STEPS) this.#touch(id);
        else this.#mutation(() => this.#complete(id));
      }
    } catch (error) {
      if (signal.aborted) return;
      this.#logger.error('mock task timer failed', { taskId: id, error: String(error) });
    }
  }

  #complete(id: string): void {
    const task = this.#state.tasks.get(id);
    if (task?.state !== 'running') return;
    this.#as(task.provider, () => {
      if (task.failWith) {
        this.#finish(task, 'failed', { error: task.failWith });
        return;
      }
      let result: unknown;
      try {
        const value = this.#execute(task.operation, { commit: true, selfTaskId: task.id });
        result = this.#resultJson(task.operation, value, task.provider);
      } catch (error) {
        this.#finish(task, 'failed', { error: this.#serialise(error) });
        return;
      }
      this.#finish(task, 'succeeded', { result });
    });
  }

  #finish(
    task: MockTaskRecord,
    state: 'succeeded' | 'failed' | 'canceled',
    outcome: { result?: unknown; error?: SerializedError },
  ): void {
    task.progress =
      state === 'succeeded'
        ? {
            percent: 100,
            ...(task.bytesTotal === undefined
              ? {}
              : { bytesDone: task.bytesTotal, bytesTotal: task.bytesTotal }),
          }
        : this.#progressOf(task);
    task.state = state;
    task.finishedAtMs = this.clock.now();
    if (outcome.result !== undefined) task.result = freezeDeep(outcome.result);
    if (outcome.error !== undefined) task.error = freezeDeep(outcome.error);
    this.#release(task.id);
    this.#timers.get(task.id)?.abort();
    this.#timers.delete(task.id);
    this.#logger.debug('mock task finished', { taskId: task.id, kind: task.kind, state });
    this.#commit();
    this.#touch(task.id);
  }

  #progressOf(task: MockTaskRecord): TaskProgress {
    if (task.state !== 'running' && task.progress) return { ...task.progress };
    if (task.bytesTotal !== undefined) {
      const done = task.bytesDone ?? 0;
      return {
        percent: Math.min(99, Math.floor((done / task.bytesTotal) * 100)),
        bytesDone: done,
        bytesTotal: task.bytesTotal,
      };
    }
    if (task.mode !== 'timed' || task.durationMs === 0) return { percent: 0 };
    const elapsed = this.clock.now() - (task.startedAtMs ?? task.createdAtMs);
    const step = Math.min(
      PROGRESS_STEPS - 1,
      Math.max(0, Math.floor((elapsed * PROGRESS_STEPS) / task.durationMs)),
    );
    return { percent: (step * 100) / PROGRESS_STEPS };
  }

  /** Completes a timed task whose deadline has passed (a timer may not have fired yet). */
  #settle(task: MockTaskRecord): void {
    if (
      task.state === 'running' &&
      task.mode === 'timed' &&
      this.clock.now() >= (task.startedAtMs ?? task.createdAtMs) + task.durationMs
    ) {
      this.#mutation(() => this.#complete(task.id));
    }
  }

  #resumeTasks(): void {
    for (const controller of this.#timers.values()) controller.abort();
    this.#timers.clear();
    for (const task of [...this.#state.tasks.values()]) {
      if (task.state !== 'running') continue;
      if (task.mode === 'timed') {
        if (this.clock.now() >= (task.startedAtMs ?? task.createdAtMs) + task.durationMs) {
          this.#complete(task.id);
        } else {
          this.#schedule(task);
        }
      } else if (task.mode === 'stream' && !this.#streams.has(task.id) && !ownerAlive(task.owner)) {
        this.#as(task.provider, () =>
          this.#finish(task, 'failed', {
            error: new TransportError(
              'the disk stream of this import was lost: the process reading it ended',
              { provider: task.provider },
            ).toJSON(),
          }),
        );
      }
    }
  }

  #touch(id: string): void {
    this.#versions.set(id, (this.#versions.get(id) ?? 0) + 1);
    const waiters = this.#waiters.get(id);
    if (!waiters) return;
    this.#waiters.delete(id);
    for (const wake of waiters) wake();
  }

  /** A counter that changes whenever the task changes (for watchers). */
  taskVersion(id: string): number {
    return this.#versions.get(id) ?? 0;
  }

  /**
   * Resolves when the task's version differs from `version`, or after `pollMs` on the clock
   * (given with persistence, to notice changes made by another process); rejects with the
   * signal's reason when aborted.
   */
  waitForTaskChange(
    id: string,
    version: number,
    signal?: AbortSignal | undefined,
    pollMs?: number | undefined,
  ): Promise<void> {
    if (this.taskVersion(id) !== version) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let waiters = this.#waiters.get(id);
      if (!waiters) {
        waiters = new Set();
        this.#waiters.set(id, waiters);
      }
      const poll = pollMs === undefined ? undefined : new AbortController();
      const cleanup = () => {
        this.#waiters.get(id)?.delete(wake);
        signal?.removeEventListener('abort', onAbort);
        poll?.abort();
      };
      const wake = () => {
        cleanup();
        resolve();
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason);
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (poll && pollMs !== undefined) this.clock.sleep(pollMs, poll.signal).then(wake, () => {});
    });
  }

  /** The task as the contract reports it. `NotFoundError('task')` when unknown. */
  taskSnapshot(id: string, provider?: string): TaskSnapshot {
    const found = this.#state.tasks.get(id);
    if (!found) throw new NotFoundError('task', id, undefined, { provider });
    this.#settle(found);
    // Settling may have reloaded the state file: read the task afresh.
    const task = this.#state.tasks.get(id) ?? found;
    return {
      id: task.id,
      provider: task.provider,
      kind: task.kind,
      state: task.state,
      progress: this.#progressOf(task),
      cancelable: task.state === 'running',
      createdAt: iso(task.createdAtMs),
      ...(task.startedAtMs === undefined ? {} : { startedAt: iso(task.startedAtMs) }),
      ...(task.finishedAtMs === undefined ? {} : { finishedAt: iso(task.finishedAtMs) }),
      // Results and errors are frozen when stored, so handing them out needs no copy.
      ...(task.error === undefined ? {} : { error: task.error }),
      ...(task.result === undefined ? {} : { result: task.result }),
    };
  }

  /**
   * Cancels a running task: it ends `canceled`, its effect is never applied and its locks are
   * released. `NotFoundError('task')` when unknown; `ConflictError('invalid-state')` when finished.
   */
  cancelTask(id: string, provider?: string): void {
    this.#as(provider, () =>
      this.#mutation(() => {
        const task = this.#state.tasks.get(id);
        if (!task) throw this.#notFound('task', id);
        this.#settle(task);
        if (task.state !== 'running') {
          throw this.#conflict(
            'invalid-state',
            `task ${id} has already ${task.state}; only a running task can be cancelled`,
          );
        }
        this.#finish(task, 'canceled', {});
      }),
    );
  }

  /** Reads the import stream into sparse chunks, then stores the image (or stores nothing). */
  async #consume(taskId: string, source: AsyncIterable<Uint8Array>): Promise<void> {
    this.#streams.add(taskId);
    const writer = new ChunkWriter();
    let iterator: AsyncIterator<Uint8Array> | undefined;
    const running = () => {
      const task = this.#state.tasks.get(taskId);
      return task?.state === 'running' ? task : undefined;
    };
    const stop = async () => {
      try {
        await iterator?.return?.();
      } catch {
        // The source's own clean-up failed; the task outcome is already decided.
      }
    };
    const fail = (error: HvkitError) =>
      this.#mutation(() => {
        // Looked up inside the mutation, which may have reloaded the state file.
        const task = running();
        if (task) this.#finish(task, 'failed', { error: error.toJSON() });
      });
    try {
      iterator = source[Symbol.asyncIterator]();
      let touchedMiB = 0;
      for (;;) {
        const next = await iterator.next();
        this.sync();
        const task = running();
        if (!task) {
          await stop();
          return;
        }
        if (next.done) break;
        const total = task.bytesTotal ?? 0;
        if (!(next.value instanceof Uint8Array)) {
          fail(
            this.#as(task.provider, () =>
              this.#invalid('source', 'must yield Uint8Array chunks', 'disk import'),
            ),
          );
          await stop();
          return;
        }
        writer.write(next.value);
        if (writer.bytes > total) {
          fail(
            this.#as(task.provider, () =>
              this.#invalid(
                'sizeBytes',
                `the stream delivered more than sizeBytes (${total})`,
                'disk import',
              ),
            ),
          );
          await stop();
          return;
        }
        task.bytesDone = writer.bytes;
        const mib = Math.floor(writer.bytes / MIB);
        if (mib !== touchedMiB || writer.bytes === total) {
          touchedMiB = mib;
          this.#touch(taskId);
        }
      }
      const sha256 = writer.finish();
      const provider = running()?.provider;
      this.#as(provider, () =>
        this.#mutation(() => {
          const task = running();
          if (!task) return;
          const spec = (task.operation as Operation<'disk-import'>).spec;
          if (writer.bytes !== spec.sizeBytes) {
            const error = this.#invalid(
              'sizeBytes',
              `the stream delivered ${writer.bytes} bytes, not ${spec.sizeBytes}`,
              'disk import',
            );
            this.#finish(task, 'failed', { error: error.toJSON() });
          } else if (spec.sha256 !== undefined && spec.sha256 !== sha256) {
            const error = this.#invalid(
              'sha256',
              `the stream hashed to ${sha256}, not ${spec.sha256}`,
              'disk import',
            );
            this.#finish(task, 'failed', { error: error.toJSON() });
          } else if (task.failWith) {
            this.#finish(task, 'failed', { error: task.failWith });
          } else {
            try {
              const image = this.#storeImportedDisk(spec, writer.chunks, sha256);
              this.#finish(task, 'succeeded', { result: imageView(image, false) });
            } catch (error) {
              this.#finish(task, 'failed', { error: this.#serialise(error) });
            }
          }
        }),
      );
    } catch (error) {
      const task = running();
      const message = error instanceof Error ? error.message : String(error);
      fail(
        new TransportError(`reading the disk stream failed: ${message}`, {
          provider: task?.provider,
          cause: error,
        }),
      );
      await stop();
    } finally {
      this.#streams.delete(taskId);
    }
  }

  #storeImportedDisk(
    spec: ParsedInput['diskImportSpec'],
    chunks: Map<number, Uint8Array>,
    sha256: string,
  ): MockImageRecord {
    const storage =
      spec.storage === undefined ? this.#defaultStorage() : this.#resolveStorage(spec.storage);
    const image: MockImageRecord = {
      id: this.#newId('image', (id) => this.#state.images.has(id)),
      name: spec.name,
      format: spec.format,
      sizeBytes: spec.sizeBytes,
      storage,
      source: { kind: 'disk' },
      sha256,
      createdAtMs: this.clock.now(),
      blobId: this.#registerBlob(chunks),
    };
    this.#state.images.set(image.id, image);
    this.#event(
      'disk-imported',
      `disk image ${JSON.stringify(spec.name)} imported (${spec.sizeBytes} bytes)`,
    );
    return image;
  }

  // ---- direct operations (internal API: no task, applied at once) ------------------------------

  #direct<T>(provider: string, operation: MockOperation): T {
    return this.#as(provider, () =>
      this.#mutation(() => {
        if (operation.type === 'create' && !operation.vmId) operation.vmId = this.#newVmId();
        if (operation.type === 'clone' && !operation.newVmId) operation.newVmId = this.#newVmId();
        const value = this.#execute(operation, { commit: true, selfTaskId: undefined });
        this.#commit();
        return value as T;
      }),
    );
  }

  /** Direct: creates a VM from a validated spec at once. Throws what `create` would. */
  createVm(spec: VmSpec, provider = 'mock'): MockVmRecord {
    return this.#direct(provider, { type: 'create', vmId: '', spec });
  }

  /** Direct: deletes a VM (powering it off first). */
  deleteVm(id: string, provider = 'mock'): void {
    this.#direct(provider, { type: 'delete', vmId: id });
  }

  /** Direct: a power action. */
  power(id: string, action: PowerAction, provider = 'mock'): void {
    this.#direct(provider, { type: 'power', vmId: id, action });
  }

  /** Direct: powers a VM on. */
  powerOn(id: string, provider = 'mock'): void {
    this.power(id, 'on', provider);
  }

  /** Direct: powers a VM off. */
  powerOff(id: string, provider = 'mock'): void {
    this.power(id, 'off', provider);
  }

  /** Direct: reconfigures a VM; returns the fields applied. */
  reconfigureVm(
    id: string,
    change: ParsedInput['vmChange'],
    provider = 'mock',
  ): { applied: string[]; vm: MockVmRecord } {
    return this.#direct(provider, { type: 'reconfigure', vmId: id, change });
  }

  /** Direct: clones a VM. */
  cloneVm(id: string, options: ParsedInput['cloneOptions'], provider = 'mock'): MockVmRecord {
    return this.#direct(provider, { type: 'clone', vmId: id, newVmId: '', options });
  }

  /** Direct: marks a stopped VM as template. */
  markAsTemplate(id: string, provider = 'mock'): MockVmRecord {
    return this.#direct(provider, { type: 'mark-as-template', vmId: id });
  }

  /** Direct: takes a snapshot. */
  createSnapshot(
    id: string,
    options: ParsedInput['snapshotOptions'],
    provider = 'mock',
  ): MockSnapshotRecord {
    return this.#direct(provider, { type: 'snapshot-create', vmId: id, options });
  }

  /** Direct: reverts to a snapshot. */
  revertSnapshot(id: string, snapshotId: string, provider = 'mock'): void {
    this.#direct(provider, { type: 'snapshot-revert', vmId: id, snapshotId });
  }

  /** Direct: deletes a snapshot (children re-parented unless `removeChildren`). */
  deleteSnapshot(id: string, snapshotId: string, removeChildren = false, provider = 'mock'): void {
    this.#direct(provider, { type: 'snapshot-delete', vmId: id, snapshotId, removeChildren });
  }

  /** Direct: moves a VM to another host, datastore or pool. */
  migrateVm(
    id: string,
    destination: ParsedInput['migrateTarget'],
    provider = 'mock',
  ): MockVmRecord {
    return this.#direct(provider, { type: 'migrate', vmId: id, destination });
  }

  /** Direct: sets an availability policy. */
  setPolicy(
    id: string,
    policy: 'highAvailability' | 'loadBalancing' | 'faultTolerance',
    settings: Record<string, unknown>,
    provider = 'mock',
  ): void {
    this.#direct(provider, { type: 'policy', vmId: id, policy, settings });
  }

  /** Direct: imports an image (synthetic bytes, see `importImage`). */
  importImage(
    source: ImageImportSource,
    options: ParsedInput['importImageOptions'],
    caching = true,
    provider = 'mock',
  ): { image: MockImageRecord; cached: boolean } {
    return this.#direct(provider, { type: 'image-import', source, options, caching });
  }

  // ---- reads -----------------------------------------------------------------------------------

  /** The VM record. `NotFoundError('vm')` when absent. Internal: do not modify it. */
  getVm(id: string, provider?: string): MockVmRecord {
    return this.#as(provider, () => this.#vm(id));
  }

  /** The contract's view of a VM. */
  vmView(vm: MockVmRecord, provider: string): Vm {
    return vmView(vm, provider, this.#state.seed, this.clock.now());
  }

  /**
   * One page of VMs in creation order, filtered. The cursor is opaque (base64url JSON of the
   * last sequence number); a bad one is `InvalidSpecError` (path `cursor`). Default limit 100.
   */
  listVms(
    query: ParsedInput['listQuery'],
    provider?: string,
  ): { items: MockVmRecord[]; nextCursor?: string } {
    return this.#as(provider, () => {
      const limit = query.limit ?? 100;
      const after = query.cursor === undefined ? 0 : this.#decodeCursor(query.cursor);
      const matches = (vm: MockVmRecord): boolean => {
        if (query.name !== undefined && vm.name !== query.name) return false;
        if (query.namePrefix !== undefined && !vm.name.startsWith(query.namePrefix)) return false;
        if (query.powerState !== undefined && vm.powerState !== query.powerState) return false;
        if (query.template !== undefined && vm.template !== query.template) return false;
        if (query.tags) {
          for (const [key, value] of Object.entries(query.tags))
            if (vm.tags[key] !== value) return false;
        }
        return true;
      };
      const items: MockVmRecord[] = [];
      let more = false;
      for (const vm of this.#candidates(query.name, after)) {
        if (!matches(vm)) continue;
        if (items.length === limit) {
          more = true;
          break;
        }
        items.push(vm);
      }
      const last = items[items.length - 1];
      return more && last ? { items, nextCursor: this.#encodeCursor(last.seq) } : { items };
    });
  }

  *#candidates(name: string | undefined, after: number): Generator<MockVmRecord> {
    if (name !== undefined) {
      const records = [...(this.#names.get(name) ?? [])]
        .map((id) => this.#state.vms.get(id) as MockVmRecord)
        .filter((vm) => vm.seq > after)
        .sort((left, right) => left.seq - right.seq);
      yield* records;
      return;
    }
    let low = 0;
    let high = this.#order.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#order[middle] as { seq: number }).seq <= after) low = middle + 1;
      else high = middle;
    }
    for (let index = low; index < this.#order.length; index++) {
      const entry = this.#order[index] as { seq: number; id: string };
      const vm = this.#state.vms.get(entry.id);
      if (vm && vm.seq === entry.seq) yield vm;
    }
  }

  #encodeCursor(seq: number): string {
    return Buffer.from(JSON.stringify({ v: 1, after: seq })).toString('base64url');
  }

  #decodeCursor(cursor: string): number {
    try {
      const data = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
        v?: unknown;
        after?: unknown;
      };
      if (data.v === 1 && Number.isInteger(data.after) && (data.after as number) >= 0) {
        return data.after as number;
      }
    } catch {
      // Reported below.
    }
    throw this.#invalid('cursor', 'is not a cursor this provider returned', 'list query');
  }

  /** The VM's snapshots as a tree. */
  snapshotTree(id: string, provider?: string): SnapshotTree {
    return snapshotTreeOf(this.getVm(id, provider));
  }

  /** Guest info now. */
  guestInfo(id: string, provider?: string): GuestInfo {
    return guestInfoOf(this.getVm(id, provider), this.#state.seed, this.clock.now());
  }

  /** A VNC console ticket for a running VM; `ConflictError('invalid-power-state')` otherwise. */
  console(id: string, provider: string): ConsoleAccess {
    return this.#as(provider, () =>
      this.#mutation(() => {
        const vm = this.#vm(id);
        if (vm.powerState !== 'on') {
          throw this.#conflict(
            'invalid-power-state',
            `VM ${JSON.stringify(vm.name)} is ${vm.powerState}; the console needs a running VM`,
          );
        }
        const ticket = this.#random.hex(32);
        this.#commit();
        return {
          protocol: 'vnc' as const,
          url: `mock://${vm.placement.host}/console/${vm.id}`,
          ticket,
          expiresAt: iso(this.clock.now() + CONSOLE_TICKET_MS),
        };
      }),
    );
  }

  /** Metric series of a VM (see `metricSeries`). */
  metrics(id: string, query: MetricWindow, provider?: string): MetricSeries[] {
    const vm = this.getVm(id, provider);
    return metricSeries(
      this.#state.seed,
      { id: vm.id, powerState: vm.powerState, memorySizeMiB: vm.memory.sizeMiB },
      query,
      this.clock.now(),
    );
  }

  /** Events, newest first, optionally of one VM and since a time. Default limit 100. */
  listEvents(query: ParsedInput['eventQuery'], provider: string): VmEvent[] {
    const limit = query.limit ?? 100;
    const since = query.since === undefined ? undefined : Date.parse(query.since);
    const vmId = query.vm?.id;
    const output: VmEvent[] = [];
    const events = this.#state.events;
    for (let index = events.length - 1; index >= 0 && output.length < limit; index--) {
      const event = events[index] as (typeof events)[number];
      if (since !== undefined && event.timeMs < since) break;
      if (vmId !== undefined && event.vmId !== vmId) continue;
      output.push({
        id: `event-${event.id}`,
        time: iso(event.timeMs),
        type: event.type,
        ...(event.vmId === undefined ? {} : { vm: { provider, id: event.vmId } }),
        message: event.message,
      });
    }
    return output;
  }

  /** Health: `unknown` when not on; `warning` when tools do not run or an alert fires; else `ok`. */
  health(id: string, provider: string): HealthReport {
    const vm = this.getVm(id, provider);
    const now = this.clock.now();
    const on = vm.powerState === 'on';
    const tools = toolsStateOf(vm);
    const checks: HealthReport['checks'] = [
      {
        name: 'power',
        status: on ? 'ok' : 'unknown',
        message: `VM is ${vm.powerState}`,
      },
      {
        name: 'guest-tools',
        status: !on ? 'unknown' : tools === 'running' ? 'ok' : 'warning',
        message: `guest tools are ${tools}`,
      },
    ];
    const firing = this.listAlerts(provider).filter((alert) =>
      alert.firing.some((item) => item.id === vm.id),
    );
    checks.push({
      name: 'alerts',
      status: !on ? 'unknown' : firing.length > 0 ? 'warning' : 'ok',
      message:
        firing.length > 0
          ? `firing: ${firing.map((alert) => alert.name).join(', ')}`
          : 'no alert fires',
    });
    const rank: Record<HealthStatus, number> = { ok: 0, unknown: 1, warning: 2, critical: 3 };
    const status: HealthStatus = !on
      ? 'unknown'
      : checks.reduce<HealthStatus>(
          (worst, check) => (rank[check.status] > rank[worst] ? check.status : worst),
          'ok',
        );
    return { status, checkedAt: iso(now), checks };
  }

  /** Stores an alert rule and returns it evaluated. Names are unique (`already-exists`). */
  createAlert(rule: ParsedInput['alertRule'], provider: string): Alert {
    const id = this.#as(provider, () =>
      this.#mutation(() => {
        if (rule.vm) this.#vm(rule.vm.id);
        for (const alert of this.#state.alerts.values()) {
          if (alert.name === rule.name) {
            throw this.#conflict(
              'already-exists',
              `an alert named ${JSON.stringify(rule.name)} exists`,
            );
          }
        }
        const alertId = this.#newId('alert', (candidate) => this.#state.alerts.has(candidate));
        this.#state.alerts.set(alertId, {
          id: alertId,
          name: rule.name,
          ...(rule.vm ? { vmId: rule.vm.id } : {}),
          metric: rule.metric,
          comparison: rule.comparison,
          threshold: rule.threshold,
        });
        this.#event('alert-created', `alert ${JSON.stringify(rule.name)} created`, rule.vm?.id);
        this.#commit();
        return alertId;
      }),
    );
    return this.listAlerts(provider).find((alert) => alert.id === id) as Alert;
  }

  /** Every alert rule, evaluated now against the latest real-time sample of each VM it covers. */
  listAlerts(provider: string): Alert[] {
    const now = this.clock.now();
    const seed = this.#state.seed;
    return [...this.#state.alerts.values()].map((alert) => {
      const subjects =
        alert.vmId === undefined
          ? [...this.#state.vms.values()].filter((vm) => !vm.template)
          : [this.#state.vms.get(alert.vmId)].filter((vm): vm is MockVmRecord => vm !== undefined);
      const firing: Alert['firing'] = [];
      for (const vm of subjects) {
        const value = latestValue(
          seed,
          { id: vm.id, powerState: vm.powerState, memorySizeMiB: vm.memory.sizeMiB },
          alert.metric,
          now,
        );
        const fires =
          alert.comparison === 'above' ? value > alert.threshold : value < alert.threshold;
        if (fires) firing.push({ provider, id: vm.id, value });
      }
      return {
        id: alert.id,
        name: alert.name,
        ...(alert.vmId === undefined ? {} : { vm: { provider, id: alert.vmId } }),
        metric: alert.metric,
        comparison: alert.comparison,
        threshold: alert.threshold,
        state: firing.length > 0 ? ('firing' as const) : ('ok' as const),
        firing,
      };
    });
  }

  /** Deletes an alert rule; `NotFoundError('alert')` when unknown. */
  deleteAlert(id: string, provider: string): void {
    this.#as(provider, () =>
      this.#mutation(() => {
        const alert = this.#state.alerts.get(id);
        if (!alert) throw this.#notFound('alert', id);
        this.#state.alerts.delete(id);
        this.#event('alert-deleted', `alert ${JSON.stringify(alert.name)} deleted`, alert.vmId);
        this.#commit();
      }),
    );
  }

  /** Stored images. */
  listImages(): Image[] {
    return [...this.#state.images.values()].map((image) => imageView(image, false));
  }

  /**
   * Deletes an image. VMs made from it copied its bytes, so it is never in use:
   * `NotFoundError('image')` is the only refusal.
   */
  deleteImage(id: string, provider: string): void {
    this.#as(provider, () =>
      this.#mutation(() => {
        const image = this.#image(id);
        this.#state.images.delete(id);
        this.#released += 1;
        this.#event('image-deleted', `image ${JSON.stringify(image.name)} deleted`);
        this.#maybeCollect();
        this.#commit();
      }),
    );
  }

  /** Datastores with free space: thick disks count whole, thin disks and images what they store. */
  listStoragePools(): StoragePool[] {
    const used = this.#usedBytes();
    return this.#state.inventory.storagePools.map((pool) => ({
      ...structuredClone(pool),
      freeBytes: Math.max(0, pool.capacityBytes - (used.get(pool.name) ?? 0)),
    }));
  }

  /** Networks. */
  listNetworks(): Network[] {
    return this.#state.inventory.networks.map((network) => ({
      id: network.id,
      name: network.name,
      kind: network.kind,
      ...(network.vlan === undefined ? {} : { vlan: network.vlan }),
    }));
  }

  /** Resource pools, the root pool `Resources` first. */
  listResourcePools(): ResourcePool[] {
    return [...this.#state.resourcePools.values()].map((pool) => structuredClone(pool));
  }

  /**
   * Creates a resource pool under `parentId` (default the root). A sibling with the same name is
   * `ConflictError('already-exists')`; an unknown parent `NotFoundError('resource-pool')`.
   */
  createResourcePool(spec: ParsedInput['resourcePoolSpec'], provider: string): ResourcePool {
    return this.#as(provider, () =>
      this.#mutation(() => {
        const parentId =
          spec.parentId === undefined
            ? ROOT_RESOURCE_POOL_ID
            : this.#resolveResourcePool(spec.parentId);
        for (const pool of this.#state.resourcePools.values()) {
          if (pool.parentId === parentId && pool.name === spec.name) {
            throw this.#conflict(
              'already-exists',
              `resource pool ${JSON.stringify(spec.name)} already exists`,
            );
          }
        }
        const pool: ResourcePool = {
          id: this.#newId('resgroup', (id) => this.#state.resourcePools.has(id)),
          name: spec.name,
          parentId,
          cpu: { ...spec.cpu },
          memory: { ...spec.memory },
        };
        this.#state.resourcePools.set(pool.id, pool);
        this.#event('resource-pool-created', `resource pool ${JSON.stringify(pool.name)} created`);
        this.#commit();
        return structuredClone(pool);
      }),
    );
  }

  /**
   * Deletes a resource pool. The root pool is `ConflictError('invalid-state')`; a pool that holds
   * VMs or child pools is `ConflictError('in-use')`.
   */
  deleteResourcePool(id: string, provider: string): void {
    this.#as(provider, () =>
      this.#mutation(() => {
        const pool = this.#state.resourcePools.get(id);
        if (!pool) throw this.#notFound('resource-pool', id);
        if (id === ROOT_RESOURCE_POOL_ID) {
          throw this.#conflict('invalid-state', 'the root resource pool cannot be deleted');
        }
        for (const child of this.#state.resourcePools.values()) {
          if (child.parentId === id) {
            throw this.#conflict(
              'in-use',
              `resource pool ${JSON.stringify(pool.name)} has child pools`,
            );
          }
        }
        for (const vm of this.#state.vms.values()) {
          if (vm.placement.resourcePool === id) {
            throw this.#conflict('in-use', `resource pool ${JSON.stringify(pool.name)} holds VMs`, {
              vmId: vm.id,
            });
          }
        }
        this.#state.resourcePools.delete(id);
        this.#event('resource-pool-deleted', `resource pool ${JSON.stringify(pool.name)} deleted`);
        this.#commit();
      }),
    );
  }

  /** Placement rules with refs naming `provider`. */
  listPlacementRules(provider: string): PlacementRule[] {
    return [...this.#state.placementRules.values()].map((rule) => ({
      id: rule.id,
      name: rule.name,
      kind: rule.kind,
      vms: rule.vmIds.map((id) => ({ provider, id })),
      mandatory: rule.mandatory,
    }));
  }

  /**
   * Stores a placement rule and, like DRS in fully automated mode, moves its VMs to obey a
   * mandatory one at once. A mandatory anti-affinity rule with more VMs than hosts is
   * `ConflictError('invalid-state')`; a name in use `already-exists`; an unknown VM `NOT_FOUND`.
   */
  createPlacementRule(spec: ParsedInput['placementRuleSpec'], provider: string): PlacementRule {
    return this.#as(provider, () =>
      this.#mutation(() => {
        const vms = spec.vms.map((ref) => this.#vm(ref.id));
        for (const rule of this.#state.placementRules.values()) {
          if (rule.name === spec.name) {
            throw this.#conflict(
              'already-exists',
              `a placement rule named ${JSON.stringify(spec.name)} exists`,
            );
          }
        }
        const mandatory = spec.mandatory ?? true;
        const hosts = this.#state.inventory.hosts;
        const unique = [...new Map(vms.map((vm) => [vm.id, vm])).values()];
        if (mandatory && spec.kind === 'anti-affinity' && unique.length > hosts.length) {
          throw this.#conflict(
            'invalid-state',
            `${unique.length} VMs cannot be kept apart on ${hosts.length} hosts`,
          );
        }
        for (const vm of unique) this.#assertUnlocked(vm.id, 'exclusive', undefined);
        const rule = {
          id: this.#newId('rule', (id) => this.#state.placementRules.has(id)),
          name: spec.name,
          kind: spec.kind,
          vmIds: unique.map((vm) => vm.id),
          mandatory,
        };
        if (mandatory) {
          const move = (vm: MockVmRecord, host: string) => {
            if (vm.placement.host === host) return;
            vm.placement.host = host;
            this.#event(
              'vm-migrated',
              `VM ${JSON.stringify(vm.name)} moved to ${host} by rule ${JSON.stringify(rule.name)}`,
              vm.id,
            );
          };
          if (spec.kind === 'affinity') {
            const host = (unique[0] as MockVmRecord).placement.host;
            for (const vm of unique) move(vm, host);
          } else {
            const taken = new Set<string>();
            const clashing: MockVmRecord[] = [];
            for (const vm of unique) {
              if (taken.has(vm.placement.host)) clashing.push(vm);
              else taken.add(vm.placement.host);
            }
            for (const vm of clashing) {
              const free = hosts.find((host) => !taken.has(host)) as string;
              taken.add(free);
              move(vm, free);
            }
          }
        }
        this.#state.placementRules.set(rule.id, rule);
        this.#event(
          'placement-rule-created',
          `placement rule ${JSON.stringify(rule.name)} created`,
        );
        this.#commit();
        return {
          id: rule.id,
          name: rule.name,
          kind: rule.kind,
          vms: rule.vmIds.map((id) => ({ provider, id })),
          mandatory,
        };
      }),
    );
  }

  /** Deletes a placement rule; `NotFoundError('placement-rule')` when unknown. */
  deletePlacementRule(id: string, provider: string): void {
    this.#as(provider, () =>
      this.#mutation(() => {
        const rule = this.#state.placementRules.get(id);
        if (!rule) throw this.#notFound('placement-rule', id);
        this.#state.placementRules.delete(id);
        this.#event(
          'placement-rule-deleted',
          `placement rule ${JSON.stringify(rule.name)} deleted`,
        );
        this.#commit();
      }),
    );
  }

  /**
   * Opens a disk for reading from `offsetBytes`. The stream yields exactly
   * `sizeBytes − offsetBytes` bytes. As on vSphere, the disk of a VM that is not off is locked by
   * the running VM unless a snapshot froze it: `ConflictError('invalid-power-state')`. An offset
   * past the end is `InvalidSpecError` (path `offsetBytes`).
   */
  exportDisk(
    id: string,
    diskId: string,
    offsetBytes: number,
    signal: AbortSignal | undefined,
    provider: string,
  ): DiskExport {
    return this.#as(provider, () => {
      const vm = this.#vm(id);
      const disk = vm.disks.find((item) => item.id === diskId);
      if (!disk) throw this.#notFound('disk', diskId);
      if (vm.powerState !== 'off' && vm.currentSnapshotId === null) {
        throw this.#conflict(
          'invalid-power-state',
          `disk ${diskId} of VM ${JSON.stringify(vm.name)} is in use while the VM is ${vm.powerState}; power it off or take a snapshot first`,
        );
      }
      this.#assertUnlocked(vm.id, 'shared', undefined);
      if (offsetBytes > disk.sizeBytes) {
        throw this.#invalid(
          'offsetBytes',
          `must not exceed the disk size (${disk.sizeBytes})`,
          'export options',
        );
      }
      // Blobs are immutable, so capturing the chain now gives a consistent read even if the VM
      // changes or disappears while the caller streams.
      const chain = chainOf(this.#state.blobs, disk.blobId);
      return {
        diskId,
        format: disk.format,
        sizeBytes: disk.sizeBytes,
        offsetBytes,
        stream: readBytes(chain, disk.sizeBytes, offsetBytes, signal),
      };
    });
  }

  /** The backend's self-description for `validate`. */
  describe(): { version: string; vms: number; hosts: string[]; seed: number; persisted: boolean } {
    return {
      version: '8.0.3-mock',
      vms: this.#state.vms.size,
      hosts: [...this.#state.inventory.hosts],
      seed: this.#state.seed,
      persisted: this.persistPath !== undefined,
    };
  }

  /**
   * The live check behind `provider.can()`: whether the capability may be used on this VM now,
   * with the reason a real backend would give. Undefined when the declaration says it all.
   */
  liveCheck(id: string, capability: CapabilityId): Omit<CanResult, 'capability'> | undefined {
    const vm = this.#state.vms.get(id);
    if (!vm) return { ok: false, reason: `VM ${id} does not exist` };
    const holder = [...(this.#locks.get(vm.id) ?? [])].find(([, mode]) => mode === 'exclusive');
    return liveCheckOf(vm, capability, holder?.[0]);
  }
}
