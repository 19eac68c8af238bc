/**
 * The libvirt driver: core operations mapped onto virsh over one SSH connection. Every call goes
 * through {@link Virsh} (argv quoted twice: virsh's grammar, then the remote shell's), reads use
 * `runMany` so one operation is one round trip where libvirt allows, and long work runs as an
 * in-process task ({@link LibvirtTasks}).
 *
 * Domains are addressed by UUID (the VM id). hvkit's own facts about a domain (template flag,
 * idempotency key and spec hashes, seed volume) live in its `<metadata>` (vm-metadata.ts), so any
 * process — and any other hvkit user of the host — sees the same state.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  type CanResult,
  type CapabilityId,
  type CapabilityMap,
  type Clock,
  ConflictError,
  type ConsoleAccess,
  canonicalJson,
  type Disk,
  type DiskExport,
  type DriverOptions,
  type GuestInfo,
  type Image,
  type ImageImportSource,
  InvalidSpecError,
  type Logger,
  type MetricSeries,
  type Network,
  NotFoundError,
  type Page,
  type ParsedInput,
  type PowerAction,
  type PowerState,
  type ProviderDriver,
  type RedactOptions,
  type SnapshotTree,
  type StoragePool,
  shortHash,
  type TaskSettings,
  type TaskSnapshot,
  type TaskStart,
  type ValidationReport,
  type Vm,
  type VmEvent,
  type VmSpec,
} from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import {
  buildNoCloudDocuments,
  type NoCloudDocuments,
  needsNoCloudSeed,
  randomMac,
} from './cloud-init/nocloud.js';
import { buildSeedVolume, deleteSeedVolume, seedVolumeName } from './cloud-init/seed-volume.js';
import { ConsoleForwards, getConsole } from './console/console.js';
import {
  checkCloneOptions,
  cloneConflict,
  cloneDomain,
  copyVolume,
  findOverlays,
  readCloneSource,
} from './domain/clone.js';
import { buildDomainXml, type DomainNetwork, type DomainVolume } from './domain/domain-xml.js';
import { managedSave } from './domain/managed-save.js';
import { reconfigureCan, reconfigureDomain } from './domain/reconfigure.js';
import {
  HVKIT_VM_KEY,
  HVKIT_VM_NS,
  type HvkitVmRecord,
  renderVmRecord,
  vmRecordOf,
} from './domain/vm-metadata.js';
import { getGuestInfo } from './guest/guest-info.js';
import { deleteImage, findImage, importImage, listImages } from './images/index.js';
import { describeDomainWith, listDomains, powerStateOf } from './inventory/inventory.js';
import { LIBVIRT_CAPABILITIES } from './libvirt-capabilities.js';
import { libvirtLiveCheck } from './libvirt-live-checks.js';
import {
  decodeTaskId,
  encodeTaskId,
  type LibvirtTaskRef,
  LibvirtTasks,
  type StartOptions,
  type TaskWork,
} from './libvirt-tasks.js';
import { EventLog } from './monitoring/events.js';
import { getMetrics, MetricsSampler } from './monitoring/metrics.js';
import { sleep } from './sleep.js';
import {
  createSnapshot,
  deleteSnapshot,
  revertSnapshot,
  snapshotCleanupPlan,
  snapshotListCommands,
  snapshotLiveCheck,
  snapshotTreeAfterList,
} from './snapshots/snapshots.js';
import {
  createVolume,
  deleteVolume,
  listStoragePools,
  type Preallocation,
  parseVolumeXml,
  resizeVolume,
  type VolumeDetails,
} from './storage/storage.js';
import { exportDisk, importDisk } from './transfer/index.js';
import type { Virsh, VirshCallOptions } from './virsh/virsh.js';
import { parseDomStats, parseNetList, parseNodeInfo, parseVersion } from './virsh/virsh-parse.js';
import { attributeOf, childOf, childrenOf, parseXml, textOf } from './xml/xml-reader.js';

/** Where new domains go when a spec does not say. */
export interface LibvirtDefaults {
  /** Storage pool of new volumes. Default `default`. */
  pool?: string | undefined;
  /** Domain type when `providerOptions.libvirt.domainType` is absent. Default `kvm`. */
  domainType?: 'kvm' | 'qemu' | undefined;
}

/** What the driver is built from (see `createLibvirtProvider`). */
export interface LibvirtDriverOptions {
  name: string;
  virsh: Virsh;
  /** Host name reported as `placement.host`. */
  host: string;
  /** `user@host:port/uri`: keys the in-process task registry. */
  endpoint: string;
  defaults: LibvirtDefaults;
  clock: Clock;
  logger?: Logger | undefined;
  redact?: RedactOptions | undefined;
  /** The SSH connection (console forwards, image staging over SFTP). */
  ssh: SshConnection;
  /** Closes the SSH connection. */
  close: () => Promise<void>;
}

const GIB = 1024 ** 3;
// A task id minted by another process whose domain has not appeared after this long is failed.
const FOREIGN_TASK_HORIZON_MS = 3_600_000;
// How often a graceful shutdown polls the domain state, and how long it waits for "shut off".
const SHUTDOWN_POLL_MS = 500;
const SHUTDOWN_LIMIT_MS = 600_000;

/** A UUID (RFC 4122 layout, version 5-like) derived from a hash: keyed creates land on the same domain. */
export function uuidFromHash(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex').slice(0, 32).split('');
  hex[12] = '5';
  hex[16] = ((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  const joined = hex.join('');
  return `${joined.slice(0, 8)}-${joined.slice(8, 12)}-${joined.slice(12, 16)}-${joined.slice(16, 20)}-${joined.slice(20)}`;
}

/** Characters kept from a domain name in its volume names (dir-pool volume names are file names). */
function volumeStem(name: string, uuid: string): string {
  const stem = name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+/, '')
    .slice(0, 40);
  return `${stem === '' ? 'vm' : stem}-${uuid.slice(0, 8)}`;
}

/**
 * The volume preallocation of a disk's provisioning. Measured on the bed (libvirt 9.0, QEMU 7.2):
 * libvirt ignores `<allocation>` for qcow2 (a 10 MiB volume asked fully allocated stays at 196 KiB),
 * while `--prealloc-metadata` makes qemu-img fallocate the whole file (allocation ≥ capacity); a
 * raw volume with allocation = capacity is fallocated too. So both thick kinds are `metadata` on
 * qcow2 and `full` on raw: every block is allocated up front and reads as zeros.
 */
function preallocationOf(disk: NonNullable<VmSpec['disks']>[number]): {
  preallocation: Preallocation;
} {
  if (disk.provisioning === undefined || disk.provisioning === 'thin')
    return { preallocation: 'thin' };
  return { preallocation: disk.format === 'raw' ? 'full' : 'metadata' };
}

/** What brings a domain back: `resume` when paused, `dompmwakeup` from guest S3/S4, else `start`. */
function wakeArgs(state: { libvirtState: string; uuid: string }): string[] {
  if (state.libvirtState === 'paused') return ['resume', '--', state.uuid];
  if (state.libvirtState === 'pmsuspended') return ['dompmwakeup', '--', state.uuid];
  // A managed-saved domain is shut off with a saved image: `start` restores it.
  return ['start', '--', state.uuid];
}

/** The spec with a generated MAC on every NIC that has none (the seed matches NICs by MAC). */
function withMacs(spec: VmSpec): VmSpec {
  if (spec.nics === undefined || spec.nics.every((nic) => nic.mac !== undefined)) return spec;
  const taken = new Set(spec.nics.map((nic) => nic.mac?.toLowerCase()).filter(Boolean));
  return {
    ...spec,
    nics: spec.nics.map((nic) => {
      if (nic.mac !== undefined) return nic;
      let mac = randomMac();
      while (taken.has(mac)) mac = randomMac();
      taken.add(mac);
      return { ...nic, mac };
    }),
  };
}

/** An image name from a URL's last path segment (`jammy.img` of `…/jammy.img?x`). */
function imageNameOfUrl(url: string): string {
  const last = new URL(url).pathname.split('/').filter(Boolean).pop() ?? 'image';
  const cleaned = decodeURIComponent(last)
    .replace(/[^A-Za-z0-9._+-]+/g, '_')
    .slice(0, 64);
  return cleaned === '' ? 'image' : cleaned;
}

/** Source file of each disk by target dev. */
function diskPathsByTarget(xml: string): Map<string, string> {
  const out = new Map<string, string>();
  const devices = childOf(parseXml(xml, { what: 'domain XML' }), 'devices');
  for (const disk of childrenOf(devices, 'disk')) {
    const dev = attributeOf(childOf(disk, 'target'), 'dev');
    const file = attributeOf(childOf(disk, 'source'), 'file');
    if (dev !== undefined && file !== undefined) out.set(dev, file);
  }
  return out;
}

/** Volume paths of a domain's disks and cdroms (file-backed sources). */
function sourcePaths(xml: string): { disks: string[]; cdroms: string[] } {
  const root = parseXml(xml, { what: 'domain XML' });
  const devices = childOf(root, 'devices');
  const disks: string[] = [];
  const cdroms: string[] = [];
  for (const disk of childrenOf(devices, 'disk')) {
    const file = attributeOf(childOf(disk, 'source'), 'file');
    if (file === undefined) continue;
    if ((attributeOf(disk, 'device') ?? 'disk') === 'cdrom') cdroms.push(file);
    else disks.push(file);
  }
  return { disks, cdroms };
}

function conflict(
  reason: ConstructorParameters<typeof ConflictError>[0],
  message: string,
  provider: string,
) {
  return new ConflictError(reason, message, { provider });
}

/** What one state read of a domain gives. */
interface DomainState {
  uuid: string;
  name: string;
  powerState: PowerState;
  /** libvirt's state name (`running`, `paused`, `shut off`…). */
  libvirtState: string;
  managedSave: boolean;
  agentConnected: boolean;
  record: HvkitVmRecord | undefined;
  xml: string;
}

/** The libvirt {@link ProviderDriver}. */
export class LibvirtDriver implements ProviderDriver {
  readonly type = 'libvirt';
  readonly name: string;
  readonly capabilities: CapabilityMap = LIBVIRT_CAPABILITIES;
  readonly taskSettings: TaskSettings;
  readonly redact: RedactOptions | undefined;
  readonly logger: Logger | undefined;
  readonly #virsh: Virsh;
  readonly #host: string;
  readonly #defaults: LibvirtDefaults;
  readonly #tasks: LibvirtTasks;
  readonly #clock: Clock;
  readonly #close: () => Promise<void>;
  readonly #ssh: SshConnection;
  readonly #consoles = new ConsoleForwards();
  readonly #metrics = new MetricsSampler();
  readonly #events: EventLog;
  #eventsStarted = false;
  readonly #secrets: string[] = [];
  readonly #records = new Map<string, HvkitVmRecord | null>();
  readonly #poolDirs = new Map<string, string>();
  #poolsLoaded = false;
  /** Spec hash of each keyed create task started here, by task id. */
  readonly #keyedSpecs = new Map<string, string>();

  constructor(options: LibvirtDriverOptions) {
    this.name = options.name;
    this.#virsh = options.virsh;
    this.#host = options.host;
    this.#defaults = options.defaults;
    this.#clock = options.clock;
    this.#close = options.close;
    this.#ssh = options.ssh;
    this.logger = options.logger;
    // Console tickets learnt later join the driver's secrets (the array is shared by reference).
    this.#secrets.push(...(options.redact?.secrets ?? []));
    this.redact = { ...options.redact, secrets: this.#secrets };
    // Synchronous work answers with its final snapshot; background work pushes through watchTask,
    // so polling is only the fallback of a resumed foreign id.
    this.taskSettings = {
      clock: options.clock,
      backoff: { initialDelayMs: 100, maxDelayMs: 2_000 },
    };
    this.#tasks = LibvirtTasks.for(options.endpoint, options.name, options.clock);
    this.#events = new EventLog(this.#virsh, {
      provider: options.name,
      onError: (error) => this.logger?.debug('libvirt event listener', { error: String(error) }),
    });
  }

  get #context() {
    return {
      provider: this.name,
      host: this.#host,
      poolOfPath: (path: string) => this.#poolOf(path),
    };
  }

  /** The pool whose target directory holds `path`, from the last pool read. */
  #poolOf(path: string): string | undefined {
    const dir = path.slice(0, path.lastIndexOf('/'));
    return this.#poolDirs.get(dir);
  }

  /** Reads the pools' target directories once (and again when a path matches none). */
  async #loadPools(options: DriverOptions): Promise<void> {
    const names = (
      await this.#virsh.run(['pool-list', '--all', '--name'], this.#call(options, true))
    )
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    const dumps = await this.#virsh.runMany(
      names.map((name) => ['pool-dumpxml', '--', name]),
      this.#call(options, true),
    );
    this.#poolDirs.clear();
    dumps.forEach((dump, index) => {
      if (!dump.ok) return;
      const target = textOf(childOf(parseXml(dump.stdout, { what: 'pool XML' }), 'target'), 'path');
      if (target !== undefined)
        this.#poolDirs.set(target.replace(/\/+$/, ''), names[index] as string);
    });
    this.#poolsLoaded = true;
  }

  #call(options: DriverOptions, idempotent = false): VirshCallOptions {
    this.#startEvents();
    return { signal: options.signal, idempotent };
  }

  /**
   * libvirt keeps no event history: the provider listens (`virsh event --all --loop`, one SSH
   * channel) from its first operation on, so `listEvents` has what happened since.
   */
  #startEvents(): void {
    if (this.#eventsStarted) return;
    this.#eventsStarted = true;
    // A failed start keeps retrying in the background and records a gap.
    this.#events.start().catch(() => undefined);
  }

  // ---- connection ---------------------------------------------------------------------------

  async validate(options: DriverOptions): Promise<ValidationReport> {
    const [version, nodeinfo, hostname, kvm] = await this.#virsh.runMany(
      [['version'], ['nodeinfo'], ['hostname'], ['domcapabilities', '--virttype', 'kvm']],
      this.#call(options, true),
    );
    for (const result of [version, nodeinfo, hostname])
      if (result && !result.ok) throw result.error;
    const versions = parseVersion(version?.stdout ?? '');
    const node = parseNodeInfo(nodeinfo?.stdout ?? '');
    const warnings: string[] = [];
    const kvmAvailable = kvm?.ok === true;
    if (!kvmAvailable)
      warnings.push(
        "KVM is not available on this host: domains need providerOptions.libvirt.domainType 'qemu' (TCG emulation, slow)",
      );
    if (!kvmAvailable && this.#defaults.domainType !== 'qemu')
      warnings.push(
        "defaults.domainType is not 'qemu', so specs without a domainType will fail to start",
      );
    return {
      provider: this.name,
      type: this.type,
      version: `libvirt ${versions.daemon ?? versions.library}, ${versions.hypervisor.name} ${versions.hypervisor.version}`,
      apiVersion: versions.library,
      details: {
        hostname: (hostname?.stdout ?? '').trim(),
        uri: this.#virsh.uri,
        kvm: kvmAvailable,
        node,
      },
      warnings,
    };
  }

  async close(): Promise<void> {
    await this.#events.close();
    await this.#consoles.closeAll();
    await this.#close();
  }

  // ---- describe -----------------------------------------------------------------------------

  async listPage(query: ParsedInput['listQuery'], options: DriverOptions): Promise<Page<Vm>> {
    const all = await this.#list(query, options);
    const offset = query.cursor === undefined ? 0 : Number(query.cursor);
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new InvalidSpecError(
        [{ path: 'cursor', code: 'invalid', message: 'not a cursor of this provider' }],
        {
          provider: this.name,
          subject: 'list query',
        },
      );
    const limit = query.limit ?? 100;
    const items = all.slice(offset, offset + limit);
    return offset + limit < all.length ? { items, nextCursor: String(offset + limit) } : { items };
  }

  async *listStream(query: ParsedInput['listQuery'], options: DriverOptions): AsyncIterable<Vm> {
    yield* await this.#list(query, options);
  }

  async #list(query: ParsedInput['listQuery'], options: DriverOptions): Promise<Vm[]> {
    const vms = await listDomains(this.#virsh, this.#context, {
      ...this.#call(options, true),
      records: this.#records,
    });
    const matching = vms
      .filter((vm) => query.name === undefined || vm.name === query.name)
      .filter((vm) => query.namePrefix === undefined || vm.name.startsWith(query.namePrefix))
      .filter((vm) => query.powerState === undefined || vm.powerState === query.powerState)
      .filter((vm) => query.template === undefined || vm.template === query.template)
      .sort((a, b) => compare(a.name, b.name) || compare(a.ref.id, b.ref.id));
    if (query.tags === undefined || Object.keys(query.tags).length === 0) return matching;
    // Tags live in each domain's XML: a tag filter reads the full records of the candidates.
    const full = await Promise.all(
      matching.map((vm) => this.get(vm.ref.id, options).catch(() => undefined)),
    );
    return full.filter(
      (vm): vm is Vm =>
        vm !== undefined &&
        Object.entries(query.tags ?? {}).every(([key, value]) => vm.tags[key] === value),
    );
  }

  async get(id: string, options: DriverOptions): Promise<Vm> {
    if (!this.#poolsLoaded) await this.#loadPools(options);
    // The snapshot listing rides in the describe's runMany: no extra exec without snapshots.
    const { vm, extra } = await describeDomainWith(this.#virsh, id, this.#context, {
      ...this.#call(options, true),
      extra: snapshotListCommands(id),
    });
    vm.snapshots = await snapshotTreeAfterList(this.#virsh, vm.ref.id, extra, {
      signal: options.signal,
    });
    await this.#fillParents(vm, options);
    return vm;
  }

  /**
   * `parentId` of qcow2 disks with a backing file (linked clones). Neither the inactive XML nor
   * `domstats --backing` of a shut-off domain shows the chain (measured on libvirt 9.0), so the
   * volumes are asked: one more runMany, only for a VM with qcow2 disks.
   */
  async #fillParents(vm: Vm, options: DriverOptions): Promise<void> {
    const xml = (vm.raw as { domainXml?: string } | undefined)?.domainXml;
    const qcow2 = vm.disks.filter((disk) => disk.format === 'qcow2' && disk.parentId === undefined);
    if (xml === undefined || qcow2.length === 0) return;
    const paths = diskPathsByTarget(xml);
    const wanted = qcow2
      .map((disk) => ({ disk, path: paths.get(disk.id) }))
      .filter((entry): entry is { disk: Disk; path: string } => entry.path !== undefined);
    if (wanted.length === 0) return;
    const results = await this.#virsh.runMany(
      wanted.map((entry) => ['vol-dumpxml', '--', entry.path]),
      this.#call(options, true),
    );
    wanted.forEach((entry, index) => {
      const result = results[index];
      if (!result?.ok) return;
      const backing = textOf(
        childOf(parseXml(result.stdout, { what: 'volume XML' }), 'backingStore'),
        'path',
      );
      if (backing !== undefined && backing !== '') entry.disk.parentId = backing;
    });
  }

  async can(
    vm: Vm,
    capability: CapabilityId,
    _options: DriverOptions,
  ): Promise<Omit<CanResult, 'capability'> | undefined> {
    return (
      reconfigureCan(vm, capability) ??
      snapshotLiveCheck(vm, capability) ??
      libvirtLiveCheck(vm, capability)
    );
  }

  // ---- tasks ----------------------------------------------------------------------------------

  async getTask(taskId: string, options: DriverOptions): Promise<TaskSnapshot> {
    const known = this.#tasks.get(taskId);
    if (known !== undefined) return known;
    const ref = decodeTaskId(taskId, this.name, this.redact);
    return this.#foreignTask(taskId, ref, options);
  }

  async cancelTask(taskId: string, options: DriverOptions): Promise<void> {
    if (this.#tasks.cancel(taskId)) {
      // The work sees its signal aborted and removes what it made; the task ends `canceled`.
      return;
    }
    const snapshot = await this.getTask(taskId, options);
    throw conflict(
      'invalid-state',
      this.#tasks.get(taskId) === undefined
        ? `task ${taskId} runs in another process (or ended there): only that process can cancel it`
        : `task ${taskId} is ${snapshot.state}${snapshot.cancelable ? '' : ' and cannot be canceled'}`,
      this.name,
    );
  }

  async *watchTask(taskId: string, options: DriverOptions): AsyncIterable<TaskSnapshot> {
    if (this.#tasks.get(taskId) === undefined) {
      yield await this.getTask(taskId, options);
      return;
    }
    yield* this.#tasks.watch(taskId, options.signal);
  }

  /**
   * A task this process does not hold: started by another process (or before a restart). Work
   * whose id was handed out only after it finished (`s`) succeeded; a create or clone succeeded
   * when its domain exists, and is still running (or died with its process) until then.
   */
  async #foreignTask(
    taskId: string,
    ref: LibvirtTaskRef,
    options: DriverOptions,
  ): Promise<TaskSnapshot> {
    const base = {
      id: taskId,
      provider: this.name,
      kind: ref.k,
      progress: {},
      cancelable: false,
      createdAt: new Date(ref.at === 0 ? this.#clock.now() : ref.at).toISOString(),
    };
    const now = new Date(this.#clock.now()).toISOString();
    const needsVm =
      ref.k === 'vm.create' || ref.k === 'vm.clone' || ref.k === 'vm.mark-as-template';
    if (ref.v !== undefined && (needsVm || ref.s === 1)) {
      try {
        const vm = await this.get(ref.v, options);
        return { ...base, state: 'succeeded', finishedAt: now, ...(needsVm ? { result: vm } : {}) };
      } catch (error) {
        if (!NotFoundError.isInstance(error)) throw error;
        if (ref.k === 'vm.delete') return { ...base, state: 'succeeded', finishedAt: now };
      }
    } else if (ref.s === 1) {
      return { ...base, state: 'succeeded', finishedAt: now };
    }
    // A keyed id carries no start time (it is the same on every retry): its work may still run
    // in the process that holds it.
    if (ref.at === 0 || this.#clock.now() - ref.at < FOREIGN_TASK_HORIZON_MS)
      return {
        ...base,
        state: 'running',
        progress: { message: 'running in another process (or ended there without a result)' },
      };
    return {
      ...base,
      state: 'failed',
      finishedAt: now,
      error: conflict(
        'invalid-state',
        'the process that ran this task did not finish it within an hour; its outcome is unknown',
        this.name,
      ).toJSON(),
    };
  }

  // ---- create -------------------------------------------------------------------------------

  async create(spec: VmSpec, options: DriverOptions): Promise<TaskStart> {
    // Everything the spec alone decides is checked before any I/O: a dry build of the XML.
    this.#dryBuild(spec);
    const key = options.idempotencyKey;
    const specHash = shortHash(canonicalJson(spec), 32);
    const uuid = key === undefined ? randomUUID() : uuidFromHash(`${this.name}\u0000${key}`);
    const record: HvkitVmRecord = {
      template: false,
      ...(key === undefined ? {} : { key: shortHash(key, 32), spec: specHash }),
    };
    // NICs the seed's network-config must match by MAC get one now; the documents are built (and
    // checked: InvalidSpecError naming the field) before any I/O.
    const seeded = needsNoCloudSeed(spec) ? withMacs(spec) : spec;
    const seed = buildNoCloudDocuments(seeded, { instanceId: uuid })?.documents;
    // A keyed create's id is the same on every retry (no nonce, no time): a retry while it runs
    // here finds the task, a retry after it finished finds the domain.
    const keyed = await this.#keyed('vm.create', uuid, key, specHash, 'spec', options);
    if ('done' in keyed) return keyed.done;
    const { ref } = keyed;
    if (key !== undefined) this.#keyedSpecs.set(encodeTaskId(ref), specHash);
    return this.#tasks.start(ref, (work) => this.#createDomain(seeded, uuid, record, seed, work), {
      background: true,
      cancelable: true,
      keyed: key !== undefined,
    });
  }

  /**
   * The task ref of a create or clone, or — for a keyed one — what an earlier call with the same
   * key made: its task while it runs here, its domain once it exists (the same `hash` of the
   * request, else ConflictError `idempotency-mismatch`). A keyed ref carries no nonce and no time,
   * so its id is the same on every retry.
   */
  async #keyed(
    kind: 'vm.create' | 'vm.clone',
    uuid: string,
    key: string | undefined,
    hash: string,
    what: string,
    options: DriverOptions,
  ): Promise<{ ref: LibvirtTaskRef } | { done: TaskStart }> {
    if (key === undefined) return { ref: this.#tasks.ref(kind, uuid) };
    const ref: LibvirtTaskRef = { k: kind, v: uuid, at: 0 };
    const id = encodeTaskId(ref);
    const mismatch = (domain?: string) =>
      conflict(
        'idempotency-mismatch',
        `the idempotency key was used for another ${what}${domain === undefined ? '' : ` (domain ${domain})`}`,
        this.name,
      );
    const running = this.#tasks.get(id);
    if (running !== undefined) {
      if (this.#keyedSpecs.get(id) !== hash) throw mismatch();
      return { done: { taskId: id, snapshot: running } };
    }
    const existing = await this.#findByUuid(uuid, options);
    if (existing === undefined) return { ref };
    if (existing.record?.spec !== hash) throw mismatch(existing.name);
    const vm = await this.get(uuid, options);
    this.#keyedSpecs.set(id, hash);
    return { done: await this.#tasks.start(ref, async () => vm, { keyed: true }) };
  }

  #dryBuild(spec: VmSpec): void {
    const networks = new Map<string, DomainNetwork>();
    for (const nic of spec.nics ?? [])
      networks.set(nic.network, {
        kind: nic.connection === 'bridge' ? 'bridge' : 'network',
        // VLAN support depends on the host's switch: checked in the real build.
        openvswitch: true,
      });
    const volumes: DomainVolume[] = (spec.disks ?? []).map((disk) => ({
      path: '/dry-run',
      format: disk.format === 'raw' ? 'raw' : 'qcow2',
    }));
    buildDomainXml(spec, {
      volumes,
      networks,
      seedIso: needsNoCloudSeed(spec) ? '/dry-run.iso' : undefined,
      defaultDomainType: this.#defaults.domainType,
    });
    if (spec.image !== undefined && !['template', 'image', 'url'].includes(spec.image.kind))
      throw new InvalidSpecError(
        [
          {
            path: 'image.kind',
            code: 'libvirt-unsupported',
            message: `libvirt creates from templates, stored images and image URLs, not ${spec.image.kind} sources`,
          },
        ],
        { provider: this.name, subject: 'spec' },
      );
  }

  async #findByUuid(uuid: string, options: DriverOptions): Promise<DomainState | undefined> {
    try {
      return await this.#state(uuid, options);
    } catch (error) {
      if (NotFoundError.isInstance(error)) return undefined;
      throw error;
    }
  }

  /** State, agent channel and hvkit record of one domain in one runMany. */
  async #state(id: string, options: DriverOptions): Promise<DomainState> {
    const [xml, stats, saved] = await this.#virsh.runMany(
      [
        ['dumpxml', '--', id],
        ['domstats', '--state', '--', id],
        ['list', '--all', '--with-managed-save', '--uuid'],
      ],
      this.#call(options, true),
    );
    if (!xml?.ok) throw xml?.error;
    if (!stats?.ok) throw stats?.error;
    const root = parseXml(xml.stdout, { what: 'domain XML' });
    const uuid = (textOf(root, 'uuid') ?? '').trim();
    const name = textOf(root, 'name') ?? '';
    const block = parseDomStats(stats.stdout)[0];
    const stateNumber = Number(block?.fields['state.state'] ?? Number.NaN);
    const reason = Number(block?.fields['state.reason'] ?? Number.NaN);
    const managedSave =
      saved?.ok === true && saved.stdout.split('\n').some((line) => line.trim() === uuid);
    const channel = childrenOf(childOf(root, 'devices'), 'channel')
      .map((node) => childOf(node, 'target'))
      .find((target) => attributeOf(target, 'name') === 'org.qemu.guest_agent.0');
    return {
      uuid,
      name,
      powerState: powerStateOf(stateNumber, managedSave, reason),
      libvirtState: LIBVIRT_STATE_NAMES[stateNumber] ?? 'unknown',
      managedSave,
      agentConnected: attributeOf(channel, 'state') === 'connected',
      record: vmRecordOf(childOf(root, 'metadata')),
      xml: xml.stdout,
    };
  }

  async #createDomain(
    spec: VmSpec,
    uuid: string,
    record: HvkitVmRecord,
    seed: NoCloudDocuments | undefined,
    work: TaskWork,
  ): Promise<Vm> {
    const call = { signal: work.signal };
    const made: VolumeDetails[] = [];
    let madeSeed: { pool: string; name: string } | undefined;
    let defined = false;
    try {
      // One read for what the build needs: name taken?, networks, pools.
      const [taken, networks, pools] = await this.#virsh.runMany(
        [
          ['domuuid', '--', spec.name],
          ['net-list', '--all'],
          ['pool-list', '--all', '--name'],
        ],
        { ...call, idempotent: true },
      );
      if (taken?.ok)
        throw conflict(
          'already-exists',
          `a domain named ${JSON.stringify(spec.name)} exists (${taken.stdout.trim()})`,
          this.name,
        );
      if (!networks?.ok) throw networks?.error;
      if (!pools?.ok) throw pools?.error;
      const networkNames = new Set(parseNetList(networks.stdout).map((entry) => entry.name));
      const poolNames = new Set(
        pools.stdout
          .split('\n')
          .map((line) => line.trim())
          .filter(Boolean),
      );
      const targetNetworks = new Map<string, DomainNetwork>();
      for (const [index, nic] of (spec.nics ?? []).entries()) {
        if (nic.connection === 'bridge') {
          targetNetworks.set(nic.network, { kind: 'bridge' });
          continue;
        }
        if (!networkNames.has(nic.network))
          throw new NotFoundError(
            'network',
            nic.network,
            `nics[${index}].network: no libvirt network ${JSON.stringify(nic.network)}`,
            { provider: this.name },
          );
        targetNetworks.set(nic.network, { kind: 'network' });
      }
      const defaultPool = spec.placement?.storage ?? this.#defaults.pool ?? 'default';
      const disks = spec.disks ?? [];
      for (const [index, disk] of disks.entries()) {
        const pool = disk.storage ?? defaultPool;
        if (!poolNames.has(pool))
          throw new NotFoundError(
            'storage',
            pool,
            `disks[${index}].storage: no storage pool ${JSON.stringify(pool)}`,
            { provider: this.name },
          );
      }
      if (spec.placement?.host !== undefined && spec.placement.host !== this.#host)
        throw new NotFoundError(
          'host',
          spec.placement.host,
          `placement.host: this provider manages ${this.#host}`,
          { provider: this.name },
        );

      // An image source: a template's volumes, or a stored (or downloaded) image, copied in front
      // of the spec's own disks.
      const sourceVolumes: VolumeDetails[] = [];
      if (spec.image?.kind === 'template')
        sourceVolumes.push(...(await this.#templateDisks(spec.image.template, work)));
      else if (spec.image?.kind === 'image')
        sourceVolumes.push((await findImage(this.#virsh, spec.image.imageId, call)).volume);
      else if (spec.image?.kind === 'url') {
        const image = await importImage(
          this.#virsh,
          this.#ssh,
          spec.image,
          { name: imageNameOfUrl(spec.image.url) },
          {
            defaultPool,
            signal: work.signal,
            onProgress: (bytesDone, bytesTotal) =>
              work.progress({ bytesDone, ...(bytesTotal === undefined ? {} : { bytesTotal }) }),
          },
        );
        sourceVolumes.push((await findImage(this.#virsh, image.id, call)).volume);
      }

      const stem = volumeStem(spec.name, uuid);
      const volumes: DomainVolume[] = [];
      const allDisks: NonNullable<VmSpec['disks']> = [];
      let index = 0;
      const copy = async (source: VolumeDetails, pool: string): Promise<VolumeDetails> => {
        work.signal.throwIfAborted();
        const format = source.format === 'raw' ? 'raw' : 'qcow2';
        const volume = await copyVolume(
          this.#virsh,
          source,
          { pool, name: `${stem}-disk${index}.${format}`, format },
          { signal: work.signal },
        );
        made.push(volume);
        return volume;
      };
      for (const source of sourceVolumes) {
        const volume = await copy(source, source.pool);
        const format = volume.format === 'raw' ? 'raw' : 'qcow2';
        allDisks.push({ sizeGiB: Math.max(volume.capacityBytes, 1024 ** 2) / GIB, format });
        volumes.push({ path: volume.path, format });
        index++;
      }
      for (const [position, disk] of disks.entries()) {
        const pool = disk.storage ?? defaultPool;
        const sizeBytes = Math.round(disk.sizeGiB * GIB);
        let volume: VolumeDetails;
        if (disk.sourceImageId !== undefined) {
          const stored = await findImage(this.#virsh, disk.sourceImageId, call);
          const imageFormat = stored.volume.format === 'raw' ? 'raw' : 'qcow2';
          if (disk.format !== undefined && disk.format !== imageFormat)
            throw new InvalidSpecError(
              [
                {
                  path: `disks[${position}].format`,
                  code: 'libvirt-format',
                  message: `image ${disk.sourceImageId} is ${imageFormat}; leave format out or import it converted`,
                },
              ],
              { provider: this.name, subject: 'spec' },
            );
          volume = await copy(stored.volume, pool);
          // The disk is at least the image; a larger size grows it.
          if (sizeBytes > volume.capacityBytes)
            volume = await resizeVolume(this.#virsh, {
              pool: volume.pool,
              name: volume.name,
              sizeBytes,
            });
        } else {
          work.signal.throwIfAborted();
          const format = disk.format === 'raw' ? 'raw' : 'qcow2';
          volume = await createVolume(this.#virsh, {
            pool,
            name: `${stem}-disk${index}.${format}`,
            sizeBytes,
            format,
            ...preallocationOf(disk),
          });
          made.push(volume);
        }
        const format = volume.format === 'raw' ? 'raw' : 'qcow2';
        allDisks.push({ ...disk, format, sourceImageId: undefined });
        volumes.push({ path: volume.path, format });
        index++;
      }
      // The NoCloud seed (cloud-init, customization, NIC addressing), owned by the domain.
      let seedIso: string | undefined;
      if (seed !== undefined) {
        work.signal.throwIfAborted();
        const made_ = await buildSeedVolume(this.#virsh, defaultPool, seedVolumeName(uuid), seed, {
          signal: work.signal,
        });
        seedIso = made_.path;
        madeSeed = { pool: made_.pool, name: made_.name };
        record.seed = made_.path;
      }
      work.signal.throwIfAborted();
      const plan = buildDomainXml(
        { ...spec, disks: allDisks, image: undefined },
        {
          uuid,
          volumes,
          networks: targetNetworks,
          seedIso,
          defaultDomainType: this.#defaults.domainType,
          record,
        },
      );
      await this.#virsh.run(['define', '--file', '/dev/stdin', '--validate'], {
        ...call,
        stdin: plan.xml,
      });
      defined = true;
      this.#records.set(uuid, record);
      this.#events.learn(spec.name, uuid);
      if (spec.powerState === 'on') await this.#virsh.run(['start', '--', uuid], call);
      return await this.get(uuid, {});
    } catch (error) {
      await this.#undo(uuid, defined, made);
      if (madeSeed !== undefined)
        await deleteSeedVolume(this.#virsh, madeSeed.pool, madeSeed.name).catch(() => undefined);
      throw error;
    }
  }

  /** Removes what a failed or canceled create made; never masks the original error. */
  async #undo(uuid: string, defined: boolean, volumes: readonly VolumeDetails[]): Promise<void> {
    if (defined) {
      await this.#virsh.run(['destroy', '--', uuid]).catch(() => undefined);
      await this.#virsh
        .run(['undefine', '--managed-save', '--snapshots-metadata', '--nvram', '--', uuid])
        .catch(() => undefined);
      this.#records.delete(uuid);
    }
    for (const volume of volumes)
      await deleteVolume(this.#virsh, volume.pool, volume.name).catch(() => undefined);
  }

  async #templateDisks(templateId: string, work: TaskWork): Promise<VolumeDetails[]> {
    const state = await this.#state(templateId, { signal: work.signal });
    if (state.record?.template !== true)
      throw conflict(
        'not-a-template',
        `${state.name} (${state.uuid}) is not a template`,
        this.name,
      );
    const volumes: VolumeDetails[] = [];
    for (const path of sourcePaths(state.xml).disks)
      volumes.push(await this.#volumeByPath(path, work.signal));
    return volumes;
  }

  /** A pool volume by its path, in one runMany. @throws NotFoundError (disk) for a file no pool holds. */
  async #volumeByPath(path: string, signal?: AbortSignal): Promise<VolumeDetails> {
    const [pool, xml] = await this.#virsh.runMany(
      [
        ['vol-pool', '--', path],
        ['vol-dumpxml', '--', path],
      ],
      { signal, idempotent: true },
    );
    if (!pool?.ok) throw pool?.error;
    if (!xml?.ok) throw xml?.error;
    return parseVolumeXml(xml.stdout, pool.stdout.trim());
  }

  // ---- delete -------------------------------------------------------------------------------

  async delete(id: string, options: DriverOptions): Promise<TaskStart> {
    const state = await this.#state(id, options);
    const ref = this.#tasks.ref('vm.delete', state.uuid);
    return this.#tasks.start(ref, async () => {
      await this.#deleteDomain(state, options);
      return undefined;
    });
  }

  async #deleteDomain(state: DomainState, options: DriverOptions): Promise<void> {
    const call = this.#call(options);
    const { disks, cdroms } = sourcePaths(state.xml);
    if (state.record?.template) {
      // A template's volumes may back linked clones, and libvirt deletes a backing file under its
      // overlays without complaint (measured on the bed): refuse while any overlay exists.
      const overlays = await findOverlays(this.#virsh, disks);
      if (overlays.length > 0)
        throw conflict(
          'in-use',
          `${state.name} backs ${overlays.length} linked clone volume(s) (${overlays
            .slice(0, 3)
            .map((volume) => volume.name)
            .join(', ')}): delete those VMs first`,
          this.name,
        );
    }
    // The seed ISO is a cdrom hvkit made; other cdroms (installer ISOs) belong to the user. Files
    // of external snapshots (overlays and the images under them) go too.
    const snapshots = await snapshotCleanupPlan(this.#virsh, state.uuid, {
      signal: options.signal,
    });
    const owned = [
      ...new Set([
        ...disks,
        ...cdroms.filter((path) => path === state.record?.seed),
        ...snapshots.files,
      ]),
    ];
    await this.#consoles.closeDomain(state.uuid);
    if (state.libvirtState !== 'shut off')
      await this.#virsh.run(['destroy', '--', state.uuid], call).catch((error: unknown) => {
        // Stopped meanwhile: `domain is not running`.
        if (!ConflictError.isInstance(error)) throw error;
      });
    await this.#virsh.run(
      [
        'undefine',
        '--managed-save',
        '--snapshots-metadata',
        '--checkpoints-metadata',
        '--nvram',
        '--',
        state.uuid,
      ],
      call,
    );
    this.#records.delete(state.uuid);
    if (owned.length === 0) return;
    // One virsh for all volumes. A disk that is not a pool volume (a host file the user attached)
    // is not found and stays.
    const results = await this.#virsh.runMany(
      owned.map((path) => ['vol-delete', '--', path]),
      call,
    );
    const failed = results.find((result) => !result.ok && !NotFoundError.isInstance(result.error));
    if (failed !== undefined && !failed.ok) throw failed.error;
  }

  // ---- power --------------------------------------------------------------------------------

  async power(id: string, action: PowerAction, options: DriverOptions): Promise<TaskStart> {
    const kind = POWER_KINDS[action];
    const key = options.idempotencyKey;
    // A keyed power action: the same key on the same domain is the same task, even after the
    // domain reached the state the first call asked for.
    const keyedRef =
      key === undefined
        ? undefined
        : {
            k: kind,
            v: id,
            at: 0,
            x: { ik: shortHash(key, 32) },
            // Every power action but a graceful shutdown has ended before its id is handed out.
            ...(action === 'shutdown' ? {} : { s: 1 as const }),
          };
    if (keyedRef !== undefined) {
      const earlier = this.#tasks.get(encodeTaskId(keyedRef));
      if (earlier !== undefined) return { taskId: earlier.id, snapshot: earlier };
    }
    const state = await this.#state(id, options);
    const call = this.#call(options);
    const notOn = () =>
      conflict('invalid-power-state', `${state.name} is ${state.powerState}, not on`, this.name);
    const ref = keyedRef ?? this.#tasks.ref(kind, state.uuid);
    const start = (work: (task: TaskWork) => Promise<unknown>, more: StartOptions = {}) =>
      this.#tasks.start(ref, work, { ...more, keyed: keyedRef !== undefined });
    switch (action) {
      case 'on': {
        if (state.record?.template)
          throw conflict(
            'invalid-state',
            `${state.name} is a template: templates are never started`,
            this.name,
          );
        if (state.powerState === 'on')
          throw conflict('invalid-power-state', `${state.name} is already on`, this.name);
        return start(async () => {
          await this.#virsh.run(wakeArgs(state), call);
        });
      }
      case 'off':
        if (state.powerState !== 'on') throw notOn();
        return start(async () => {
          await this.#virsh.run(['destroy', '--', state.uuid], call);
          // Its display is gone; a later start may give the port to another domain.
          await this.#consoles.closeDomain(state.uuid);
        });
      case 'reset':
        if (state.powerState !== 'on') throw notOn();
        return start(async () => {
          await this.#virsh.run(['reset', '--', state.uuid], call);
        });
      case 'shutdown':
      case 'reboot': {
        if (state.powerState !== 'on') throw notOn();
        if (!state.agentConnected)
          throw conflict(
            'invalid-state',
            `${state.name}: the QEMU guest agent is not connected, so a graceful ${action} cannot be asked`,
            this.name,
          );
        await this.#virsh.run([action, '--mode', 'agent', '--', state.uuid], call);
        if (action === 'reboot') return start(async () => undefined);
        return start((work) => this.#waitForShutOff(state.uuid, work), {
          background: true,
          cancelable: true,
        });
      }
      case 'suspend':
        if (state.powerState !== 'on') throw notOn();
        if (options.toDisk)
          return this.#tasks.start(
            ref,
            (work) =>
              managedSave(this.#virsh, state.uuid, {
                signal: work.signal,
                onProgress: (bytesDone, bytesTotal) => work.progress({ bytesDone, bytesTotal }),
              }),
            { background: true, cancelable: true },
          );
        return start(async () => {
          await this.#virsh.run(['suspend', '--', state.uuid], call);
        });
      case 'resume': {
        if (state.powerState !== 'suspended' && state.powerState !== 'paused')
          throw conflict(
            'invalid-power-state',
            `${state.name} is ${state.powerState}, not suspended`,
            this.name,
          );
        return start(async () => {
          await this.#virsh.run(wakeArgs(state), call);
        });
      }
    }
  }

  async #waitForShutOff(uuid: string, work: TaskWork): Promise<void> {
    const deadline = this.#clock.now() + SHUTDOWN_LIMIT_MS;
    for (;;) {
      const text = await this.#virsh.run(['domstate', '--', uuid], {
        signal: work.signal,
        idempotent: true,
      });
      if (text.trim() === 'shut off') return;
      if (this.#clock.now() > deadline)
        throw conflict(
          'invalid-state',
          `the guest did not shut down within ${SHUTDOWN_LIMIT_MS / 1000} s`,
          this.name,
        );
      await sleep(SHUTDOWN_POLL_MS, work.signal);
    }
  }

  // ---- reconfigure --------------------------------------------------------------------------

  async reconfigure(
    id: string,
    change: ParsedInput['vmChange'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    const ref = this.#tasks.ref('vm.reconfigure', id);
    return this.#tasks.start(ref, () =>
      reconfigureDomain(this.#virsh, id, change, {
        provider: this.name,
        host: this.#host,
        defaultPool: this.#defaults.pool,
        describe: (uuid) => this.get(uuid, options),
        signal: options.signal,
      }),
    );
  }

  // ---- clone --------------------------------------------------------------------------------

  async clone(
    id: string,
    clone: ParsedInput['cloneOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    const key = options.idempotencyKey;
    const optionsHash = shortHash(canonicalJson({ source: id, clone }), 32);
    const uuid =
      key === undefined ? randomUUID() : uuidFromHash(`${this.name}\u0000clone\u0000${key}`);
    checkCloneOptions(clone, {
      sourceIsTemplate: false,
      uuid,
      host: this.#host,
      provider: this.name,
    });
    const keyed = await this.#keyed('vm.clone', uuid, key, optionsHash, 'clone', options);
    if ('done' in keyed) return keyed.done;
    const { ref } = keyed;
    // The source is read and checked before the task starts: a refused clone makes no task.
    const source = await readCloneSource(this.#virsh, id, {
      signal: options.signal,
      provider: this.name,
    });
    const record = vmRecordOf(childOf(parseXml(source.xml, { what: 'domain XML' }), 'metadata'));
    const sourceIsTemplate = record?.template === true;
    const refused = cloneConflict(source, clone.mode, sourceIsTemplate, this.name);
    if (refused !== undefined) throw refused;
    if (key !== undefined) this.#keyedSpecs.set(encodeTaskId(ref), optionsHash);
    return this.#tasks.start(
      ref,
      async (work) => {
        const result = await cloneDomain(
          this.#virsh,
          source,
          clone,
          {
            sourceIsTemplate,
            uuid,
            record: {
              template: false,
              ...(key === undefined ? {} : { key: shortHash(key, 32), spec: optionsHash }),
            },
            host: this.#host,
            provider: this.name,
            logger: this.logger,
          },
          {
            signal: work.signal,
            onProgress: (bytesDone, bytesTotal) => work.progress({ bytesDone, bytesTotal }),
          },
        );
        this.#records.set(result.uuid, {
          template: false,
          ...(key === undefined ? {} : { key: shortHash(key, 32), spec: optionsHash }),
        });
        this.#events.learn(result.name, result.uuid);
        // libvirt reports only the clone's `define`: the clone itself is hvkit's to record.
        this.#events.record({
          type: 'vm-cloned',
          vmId: result.uuid,
          message: `${JSON.stringify(result.name)} cloned (${clone.mode}) from ${JSON.stringify(source.name)}`,
        });
        return this.get(result.uuid, {});
      },
      { background: true, cancelable: true, keyed: key !== undefined },
    );
  }

  // ---- templates ----------------------------------------------------------------------------

  async markAsTemplate(id: string, options: DriverOptions): Promise<TaskStart> {
    const state = await this.#state(id, options);
    if (state.libvirtState !== 'shut off' || state.managedSave)
      throw conflict(
        'invalid-power-state',
        `${state.name} is ${state.powerState}: only a shut-off domain becomes a template`,
        this.name,
      );
    const record: HvkitVmRecord = { ...(state.record ?? {}), template: true };
    const ref = this.#tasks.ref('vm.mark-as-template', state.uuid);
    return this.#tasks.start(ref, async () => {
      await this.#virsh.run(
        [
          'metadata',
          '--domain',
          state.uuid,
          '--uri',
          HVKIT_VM_NS,
          '--key',
          HVKIT_VM_KEY,
          '--set',
          renderVmRecord(record),
          '--config',
        ],
        this.#call(options),
      );
      this.#records.set(state.uuid, record);
      this.#events.record({
        type: 'vm-marked-as-template',
        vmId: state.uuid,
        message: `${JSON.stringify(state.name)} marked as template`,
      });
      return this.get(state.uuid, options);
    });
  }

  // ---- snapshots ----------------------------------------------------------------------------

  async listSnapshots(id: string, options: DriverOptions): Promise<SnapshotTree> {
    return (await this.get(id, options)).snapshots;
  }

  async createSnapshot(
    id: string,
    snapshot: ParsedInput['snapshotOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    const state = await this.#state(id, options);
    if (state.record?.template)
      throw conflict(
        'invalid-state',
        `${state.name} is a template: templates have no snapshots`,
        this.name,
      );
    // libvirt 9.0 has no internal disk-only snapshot of a running domain: unless the caller said
    // otherwise, a running domain's snapshot includes its memory.
    const running = state.libvirtState !== 'shut off';
    const asked = { ...snapshot, memory: snapshot.memory ?? running };
    const ref = this.#tasks.ref('snapshot.create', state.uuid);
    return this.#tasks.start(
      ref,
      async (work) => {
        const made = await createSnapshot(this.#virsh, state.uuid, asked, {
          signal: work.signal,
        });
        // libvirt prints no event of its own for a snapshot (only a memory snapshot's pause).
        this.#events.record({
          type: 'vm-snapshot-created',
          vmId: state.uuid,
          message: `snapshot ${JSON.stringify(snapshot.name)} of ${JSON.stringify(state.name)} created${asked.memory ? ' with memory' : ''}`,
        });
        return made;
      },
      { background: true },
    );
  }

  async revertSnapshot(id: string, snapshotId: string, options: DriverOptions): Promise<TaskStart> {
    const state = await this.#state(id, options);
    const ref = this.#tasks.ref('snapshot.revert', state.uuid);
    return this.#tasks.start(
      ref,
      async (work) => {
        await revertSnapshot(this.#virsh, state.uuid, snapshotId, { signal: work.signal });
      },
      { background: true },
    );
  }

  async deleteSnapshot(
    id: string,
    snapshotId: string,
    removeChildren: boolean,
    options: DriverOptions,
  ): Promise<TaskStart> {
    const state = await this.#state(id, options);
    const ref = this.#tasks.ref('snapshot.delete', state.uuid);
    return this.#tasks.start(ref, async (work) => {
      await deleteSnapshot(this.#virsh, state.uuid, snapshotId, removeChildren, {
        signal: work.signal,
      });
      this.#events.record({
        type: 'vm-snapshot-deleted',
        vmId: state.uuid,
        message: `snapshot ${JSON.stringify(snapshotId)} of ${JSON.stringify(state.name)} deleted${removeChildren ? ' with its children' : ''}`,
      });
    });
  }

  // ---- guest and monitoring -----------------------------------------------------------------

  getGuestInfo(id: string, options: DriverOptions): Promise<GuestInfo> {
    this.#startEvents();
    return getGuestInfo(this.#virsh, id, { signal: options.signal });
  }

  getMetrics(
    id: string,
    query: ParsedInput['metricsQuery'],
    options: DriverOptions,
  ): Promise<MetricSeries[]> {
    this.#startEvents();
    return getMetrics(this.#virsh, id, query, { sampler: this.#metrics, signal: options.signal });
  }

  async listEvents(query: ParsedInput['eventQuery'], _options: DriverOptions): Promise<VmEvent[]> {
    this.#startEvents();
    return this.#events.query({ vmId: query.vm?.id, since: query.since, limit: query.limit });
  }

  // ---- console ------------------------------------------------------------------------------

  async getConsole(id: string, options: DriverOptions): Promise<ConsoleAccess> {
    const access = await getConsole(this.#virsh, this.#ssh, id, {
      forwards: this.#consoles,
      signal: options.signal,
      logger: this.logger,
      provider: this.name,
    });
    // The display password is a secret from now on: scrubbed from every later error and log.
    if (access.ticket !== undefined && !this.#secrets.includes(access.ticket))
      this.#secrets.push(access.ticket);
    return access;
  }

  // ---- images and disks ---------------------------------------------------------------------

  listImages(options: DriverOptions): Promise<Image[]> {
    return listImages(this.#virsh, { signal: options.signal });
  }

  async importImage(
    source: ImageImportSource,
    image: ParsedInput['importImageOptions'],
    _options: DriverOptions,
  ): Promise<TaskStart> {
    const ref = this.#tasks.ref('image.import');
    return this.#tasks.start(
      ref,
      (work) =>
        importImage(this.#virsh, this.#ssh, source, image, {
          defaultPool: this.#defaults.pool ?? 'default',
          signal: work.signal,
          onProgress: (bytesDone, bytesTotal) =>
            work.progress({ bytesDone, ...(bytesTotal === undefined ? {} : { bytesTotal }) }),
        }),
      { background: true, cancelable: true },
    );
  }

  async deleteImage(id: string, options: DriverOptions): Promise<void> {
    await deleteImage(this.#virsh, id, { signal: options.signal });
  }

  exportDisk(
    id: string,
    diskId: string,
    offsetBytes: number,
    options: DriverOptions,
  ): Promise<DiskExport> {
    return exportDisk(this.#virsh, id, diskId, { offsetBytes, signal: options.signal });
  }

  async importDisk(
    spec: ParsedInput['diskImportSpec'],
    source: AsyncIterable<Uint8Array>,
    _options: DriverOptions,
  ): Promise<TaskStart> {
    const ref = this.#tasks.ref('disk.import');
    return this.#tasks.start(
      ref,
      (work) =>
        importDisk(this.#virsh, spec, source, {
          defaultPool: this.#defaults.pool ?? 'default',
          signal: work.signal,
          onProgress: (bytesDone: number) =>
            work.progress({ bytesDone, bytesTotal: spec.sizeBytes }),
        }),
      { background: true, cancelable: true },
    );
  }

  // ---- storage and networks -----------------------------------------------------------------

  listStoragePools(_options: DriverOptions): Promise<StoragePool[]> {
    return listStoragePools(this.#virsh);
  }

  async listNetworks(options: DriverOptions): Promise<Network[]> {
    const [networks, interfaces] = await this.#virsh.runMany(
      [
        ['net-list', '--all'],
        ['iface-list', '--all'],
      ],
      this.#call(options, true),
    );
    if (!networks?.ok) throw networks?.error;
    const out: Network[] = parseNetList(networks.stdout).map((entry) => ({
      id: entry.name,
      name: entry.name,
      kind: 'network' as const,
    }));
    // Host bridges: iface-list names every host interface; `iface-dumpxml` tells bridges apart.
    const names = interfaces?.ok ? parseIfaceNames(interfaces.stdout) : [];
    if (names.length > 0) {
      const dumps = await this.#virsh.runMany(
        names.map((name) => ['iface-dumpxml', '--', name]),
        this.#call(options, true),
      );
      dumps.forEach((dump, index) => {
        const name = names[index] as string;
        if (dump.ok && /<interface\s[^>]*type=['"]bridge['"]/.test(dump.stdout))
          out.push({ id: name, name, kind: 'bridge' });
      });
    }
    return out;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Interface names of `iface-list --all` (under `-q` there is no header). */
function parseIfaceNames(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => !/^\s*(Name\s|-{3,})/.test(line))
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '' && name !== 'lo');
}

const POWER_KINDS: Readonly<Record<PowerAction, string>> = {
  on: 'vm.power-on',
  off: 'vm.power-off',
  shutdown: 'vm.shutdown',
  reboot: 'vm.reboot',
  reset: 'vm.reset',
  suspend: 'vm.suspend',
  resume: 'vm.resume',
};

const LIBVIRT_STATE_NAMES: Readonly<Record<number, string>> = {
  0: 'no state',
  1: 'running',
  2: 'idle',
  3: 'paused',
  4: 'in shutdown',
  5: 'shut off',
  6: 'crashed',
  7: 'pmsuspended',
};
