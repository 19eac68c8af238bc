/**
 * The Proxmox VE provider as a core {@link ProviderDriver}: every operation of the declared
 * capabilities on the REST API (`api/`), with the pure mapping modules doing the translation.
 *
 * Decisions a reader needs:
 * - **VM ids** are the cluster-wide VMID (`"100"`); the node is looked up in `/cluster/resources`
 *   on each call, so a ref stays valid when the VM migrates.
 * - **Tasks** are Proxmox workers observed through `GET /nodes/{node}/tasks/{upid}/status` (the last
 *   log lines on failure); see `proxmox-task-id.ts` for the id format. Where an operation needs
 *   several workers (stop then destroy, create then start), the driver waits for the earlier ones
 *   and the task observes the last. Synchronous work (config writes, HA resources) returns a final
 *   snapshot at once; its id still answers `getTask` in any process.
 * - **Idempotency keys**: Proxmox has none. A create or clone with a key writes the tag
 *   `hvkit-idem+<key hash>.<request hash>` on the VM (hidden from `vm.tags`); a retry — in this
 *   process or another — finds the VM by that tag and answers the same task id, which is then
 *   addressed by the VM (done when it exists unlocked) rather than by a UPID. A power-on with a key
 *   that finds the VM running answers the latest start worker of that VM.
 */
import { createHash } from 'node:crypto';
import {
  type CapabilityId,
  type CapabilityMap,
  type Clock,
  ConflictError,
  type ConsoleAccess,
  canonicalJson,
  type DriverOptions,
  type GuestInfo,
  type HealthReport,
  type HealthStatus,
  type HvkitError,
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
  type ProviderDriver,
  type RedactOptions,
  type SnapshotTree,
  type StoragePool,
  shortHash,
  type TaskSettings,
  type TaskSnapshot,
  type TaskStart,
  UnsupportedCapabilityError,
  type ValidationReport,
  type Vm,
  type VmEvent,
  type VmPolicies,
  type VmSpec,
} from '@hvkit/core';
import { fetch, FormData as UndiciFormData } from 'undici';
import {
  clusterResourceSchema,
  isUpid,
  type ProxmoxClient,
  parseUpid,
  taskLogLineSchema,
  taskStatusSchema,
  tryParseUpid,
} from './api/index.js';
import { errorFromResponse } from './api/response-errors.js';
import { PROXMOX_CAPABILITIES } from './proxmox-capabilities.js';
import {
  changeToConfig,
  configToVm,
  notFoundIssues,
  type ProxmoxConfig,
  type ProxmoxStatus,
  type ProxmoxVersion,
  parseTags,
  specToCreateParams,
} from './proxmox-config.js';
import { taskOutcome } from './proxmox-errors.js';
import { chooseTimeframe, type RrdRow, rrdToMetricSeries } from './proxmox-metrics.js';
import { type ProxmoxSnapshotEntry, snapshotListToTree } from './proxmox-snapshots.js';
import { decodeTaskId, encodeTaskId, type TaskRef } from './proxmox-task-id.js';

/** What the driver needs besides the client. */
export interface ProxmoxDriverOptions {
  name: string;
  client: ProxmoxClient;
  /** Node for new VMs and node-local listings. Default: the first online node. */
  node?: string | undefined;
  /** Storage for disks that name none. Default `local-lvm`. */
  storage?: string | undefined;
  /** Storage with `import` content for downloads and uploads. Default `local`. */
  importStorage?: string | undefined;
  clock: Clock;
  logger: Logger;
  redact: RedactOptions;
  capabilities?: CapabilityMap | undefined;
}

type Resource = ReturnType<typeof clusterResourceSchema.parse>;

const IDEM_TAG = 'hvkit-idem';
/** Privileges on `/` the operations of the declared capabilities use. */
const REQUIRED_PRIVILEGES = [
  'VM.Audit',
  'VM.Allocate',
  'VM.Config.CPU',
  'VM.Config.Memory',
  'VM.Config.Disk',
  'VM.Config.Network',
  'VM.PowerMgmt',
  'VM.Snapshot',
  'VM.Clone',
  'VM.Console',
  'VM.Migrate',
  'Datastore.AllocateSpace',
  'Datastore.Audit',
  'Sys.Audit',
];
/** Storage types whose volumes are thin (lvmthin, ZFS, Ceph RBD). */
const THIN_STORAGE_TYPES = new Set(['lvmthin', 'zfspool', 'rbd']);

/**
 * Proxmox snapshot names are configuration ids (`[A-Za-z][A-Za-z0-9_-]*`, at most 40 characters).
 * Other characters of an hvkit name are written `_` + two hex digits (`v1.2` → `v1_2e2`), and `_`
 * itself as `_5f`, so every name reads back exactly.
 */
export function encodeSnapshotName(name: string): string | undefined {
  const encoded = name.replace(/[^A-Za-z0-9-]/g, (char) =>
    [...Buffer.from(char, 'utf8')].map((byte) => `_${byte.toString(16).padStart(2, '0')}`).join(''),
  );
  return /^[A-Za-z][A-Za-z0-9_-]{0,39}$/.test(encoded) ? encoded : undefined;
}

/** The hvkit name of a Proxmox snapshot name (see {@link encodeSnapshotName}). */
export function decodeSnapshotName(name: string): string {
  if (!name.includes('_')) return name;
  const bytes: number[] = [];
  for (let index = 0; index < name.length; index++) {
    const hex = /^_([0-9a-f]{2})/.exec(name.slice(index));
    if (hex) {
      bytes.push(Number.parseInt(hex[1] as string, 16));
      index += 2;
    } else bytes.push(...Buffer.from(name[index] as string, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeTree(tree: SnapshotTree): SnapshotTree {
  const visit = (node: SnapshotTree['roots'][number]): SnapshotTree['roots'][number] => ({
    ...node,
    id: decodeSnapshotName(node.id),
    name: decodeSnapshotName(node.name),
    ...(node.parentId === undefined ? {} : { parentId: decodeSnapshotName(node.parentId) }),
    children: node.children.map(visit),
  });
  return {
    currentId: tree.currentId === null ? null : decodeSnapshotName(tree.currentId),
    roots: tree.roots.map(visit),
  };
}
const CONSOLE_TICKET_LIFETIME_MS = 10_000;

const EVENT_TYPES: Record<string, string> = {
  qmcreate: 'vm-created',
  qmclone: 'vm-cloned',
  qmdestroy: 'vm-deleted',
  qmstart: 'vm-powered-on',
  qmstop: 'vm-powered-off',
  qmshutdown: 'vm-shutdown',
  qmreboot: 'vm-rebooted',
  qmreset: 'vm-reset',
  qmsuspend: 'vm-suspended',
  qmpause: 'vm-suspended',
  qmresume: 'vm-resumed',
  qmconfig: 'vm-reconfigured',
  qmresize: 'vm-reconfigured',
  qmtemplate: 'vm-marked-as-template',
  qmsnapshot: 'vm-snapshot-created',
  qmrollback: 'vm-snapshot-reverted',
  qmdelsnapshot: 'vm-snapshot-deleted',
  qmigrate: 'vm-migrated',
  vncproxy: 'vm-console-opened',
};

/** HA restart priority ↔ `max_restart` (how hard the HA manager restarts the VM on its node). */
const PRIORITY_RESTARTS = { disabled: 0, low: 1, medium: 2, high: 3 } as const;
type RestartPriority = keyof typeof PRIORITY_RESTARTS;

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

function withoutIdemTag(tags: Record<string, string>): Record<string, string> {
  const { [IDEM_TAG]: _hidden, ...rest } = tags;
  return rest;
}

/** The Proxmox VE driver. Wrap it with `createProvider`, or use `createProxmoxProvider`. */
export class ProxmoxDriver implements ProviderDriver {
  readonly type = 'proxmox';
  readonly name: string;
  readonly capabilities: CapabilityMap;
  readonly taskSettings: TaskSettings;
  readonly redact: RedactOptions;
  readonly logger: Logger;
  readonly #client: ProxmoxClient;
  readonly #clock: Clock;
  readonly #storage: string;
  readonly #importStorage: string;
  #node: string | undefined;
  #version: ProxmoxVersion | undefined;
  /** URLs of images this instance downloaded, by volume id (Proxmox does not keep them). */
  readonly #imageUrls = new Map<string, string>();

  constructor(options: ProxmoxDriverOptions) {
    this.name = options.name;
    this.#client = options.client;
    this.#clock = options.clock;
    this.logger = options.logger;
    this.redact = options.redact;
    this.capabilities = options.capabilities ?? PROXMOX_CAPABILITIES;
    this.#node = options.node;
    this.#storage = options.storage ?? 'local-lvm';
    this.#importStorage = options.importStorage ?? 'local';
    // Proxmox workers take from a few hundred ms (start) to minutes (clone, download) and report
    // no progress, so the backoff grows on every poll: start fast and grow gently, so a short task
    // is seen soon after it ends (bench/proxmox measures this) and a long one costs a poll a second.
    this.taskSettings = {
      clock: this.#clock,
      backoff: { initialDelayMs: 25, factor: 1.5, maxDelayMs: 1_000 },
    };
  }

  /** Closes the client's connections. */
  async close(): Promise<void> {
    await this.#client.close();
  }

  // ---- plumbing --------------------------------------------------------------------------------

  #get<T = unknown>(path: string, params: Record<string, unknown>, options: DriverOptions) {
    return this.#client.request<T>('GET', path, params as never, { signal: options.signal });
  }

  #write<T = unknown>(
    method: 'POST' | 'PUT' | 'DELETE',
    path: string,
    params: Record<string, unknown>,
    options: DriverOptions,
  ) {
    return this.#client.request<T>(method, path, params as never, { signal: options.signal });
  }

  async #defaultNode(options: DriverOptions): Promise<string> {
    if (this.#node !== undefined) return this.#node;
    const nodes = await this.#get<{ node: string; status: string }[]>('/nodes', {}, options);
    const online = nodes.filter((node) => node.status === 'online').map((node) => node.node);
    const first = online.sort()[0] ?? nodes[0]?.node;
    if (first === undefined) throw new NotFoundError('host', '', 'the cluster lists no node');
    this.#node = first;
    return first;
  }

  async #versionOf(options: DriverOptions): Promise<ProxmoxVersion> {
    if (this.#version !== undefined) return this.#version;
    const answer = await this.#get<{ version: string }>('/version', {}, options);
    this.#version = answer.version.startsWith('8.') ? '8.4' : '9.1';
    return this.#version;
  }

  async #resources(options: DriverOptions, type: string | undefined = 'vm'): Promise<Resource[]> {
    const raw = await this.#get<unknown[]>(
      '/cluster/resources',
      type === undefined ? {} : { type },
      options,
    );
    return raw.map((item) => clusterResourceSchema.parse(item));
  }

  #vmid(id: string): number {
    if (!/^\d{3,9}$/.test(id))
      throw new NotFoundError('vm', id, `no Proxmox VM ${JSON.stringify(id)}`, {
        provider: this.name,
      });
    return Number(id);
  }

  /** The VM's cluster resource (its node); NotFoundError (vm) when it does not exist. */
  async #locate(id: string, options: DriverOptions): Promise<Resource & { node: string }> {
    const vmid = this.#vmid(id);
    const found = (await this.#resources(options)).find(
      (item) => item.type === 'qemu' && item.vmid === vmid,
    );
    if (!found?.node)
      throw new NotFoundError('vm', id, `no Proxmox VM ${vmid}`, { provider: this.name });
    return found as Resource & { node: string };
  }

  #vmPath(node: string, vmid: number, rest = ''): string {
    return `/nodes/${encodeURIComponent(node)}/qemu/${vmid}${rest}`;
  }

  async #status(node: string, vmid: number, options: DriverOptions): Promise<ProxmoxStatus> {
    return this.#get<ProxmoxStatus>(this.#vmPath(node, vmid, '/status/current'), {}, options);
  }

  async #config(node: string, vmid: number, options: DriverOptions): Promise<ProxmoxConfig> {
    return this.#get<ProxmoxConfig>(this.#vmPath(node, vmid, '/config'), {}, options);
  }

  /** Waits for a worker to stop; throws its error when it failed. */
  async #waitUpid(upid: string, options: DriverOptions): Promise<void> {
    let delay = 50;
    for (;;) {
      const snapshot = await this.#upidSnapshot(upid, 'step', options);
      if (snapshot.state === 'succeeded') return;
      if (snapshot.state === 'failed' || snapshot.state === 'canceled') {
        throw snapshot.errorObject ?? new Error(`Proxmox task ${upid} ${snapshot.state}`);
      }
      await this.#clock.sleep(delay, options.signal);
      delay = Math.min(delay * 2, 1_000);
    }
  }

  async #upidSnapshot(
    upid: string,
    kind: string,
    options: DriverOptions,
  ): Promise<TaskSnapshot & { errorObject?: HvkitError }> {
    const parsed = tryParseUpid(upid);
    if (!parsed) throw new NotFoundError('task', upid, 'not a UPID', { provider: this.name });
    const path = `/nodes/${encodeURIComponent(parsed.node)}/tasks/${encodeURIComponent(upid)}`;
    const status = await this.#client.request(
      'GET',
      `${path}/status`,
      {},
      {
        schema: taskStatusSchema,
        signal: options.signal,
      },
    );
    const base = {
      id: upid,
      provider: this.name,
      kind,
      progress: {},
      createdAt: iso(parsed.starttime),
      startedAt: iso(parsed.starttime),
    };
    if (status.status === 'running') return { ...base, state: 'running', cancelable: true };
    const exit = status.exitstatus ?? 'unexpected status';
    let log: { n: number; t: string }[] | undefined;
    if (!/^(OK|WARNINGS: \d+)$/.test(exit)) {
      const envelope = await this.#client.requestEnvelope(
        'GET',
        `${path}/log`,
        { start: 0, limit: 500 },
        { signal: options.signal },
      );
      log = (envelope.data as unknown[]).map((line) => taskLogLineSchema.parse(line));
    }
    const outcome = taskOutcome(exit, upid, log, { provider: this.name });
    const finishedAt = new Date(this.#clock.now()).toISOString();
    if (outcome.state === 'succeeded')
      return {
        ...base,
        state: 'succeeded',
        cancelable: false,
        finishedAt,
        progress: outcome.warnings > 0 ? { message: exit } : {},
      };
    if (outcome.state === 'canceled')
      return { ...base, state: 'canceled', cancelable: false, finishedAt };
    return {
      ...base,
      state: 'failed',
      cancelable: false,
      finishedAt,
      error: outcome.error.toJSON(),
      errorObject: outcome.error,
    };
  }

  /** A task start for a worker, or a final snapshot for work already done. */
  #started(ref: TaskRef): TaskStart {
    return encodeTaskId(ref);
  }

  async #done(ref: TaskRef, options: DriverOptions): Promise<TaskStart> {
    const stamped = { ...ref, t: this.#clock.now() };
    const taskId = encodeTaskId(stamped);
    return { taskId, snapshot: await this.getTask(taskId, options) };
  }

  /** Live checks for `can()`: what the VM's present state rules out. */
  async can(
    vm: Vm,
    capability: CapabilityId,
    _options: DriverOptions,
  ): Promise<{ ok: boolean; reason: string } | undefined> {
    const state = vm.powerState;
    switch (capability) {
      case 'core.powerOn':
        if (vm.template) return { ok: false, reason: 'a template cannot be started' };
        if (state === 'on') return { ok: false, reason: 'the VM is already running' };
        return undefined;
      case 'core.powerOff':
      case 'core.reboot':
      case 'core.consoleUrl':
        if (state === 'off') return { ok: false, reason: 'the VM is not running' };
        return undefined;
      case 'core.suspend':
        if (state === 'off') return { ok: false, reason: 'the VM is not running' };
        return undefined;
      case 'lifecycle.templateDeploy':
        if (state === 'on') return { ok: false, reason: 'a template is made from a stopped VM' };
        return undefined;
      case 'lifecycle.linkedClone':
        if (!vm.template)
          return {
            ok: false,
            reason: 'Proxmox links clones only to templates: markAsTemplate the VM first',
          };
        return undefined;
      case 'resources.cpu':
        if (state === 'on' && !vm.cpu.hotAdd)
          return {
            ok: true,
            reason: 'vCPU changes of a running VM without CPU hot-add apply at the next start',
          };
        return undefined;
      case 'resources.memory':
        if (state === 'on' && !vm.memory.hotAdd)
          return {
            ok: true,
            reason: 'memory changes of a running VM without memory hot-add apply at the next start',
          };
        return undefined;
      default:
        return undefined;
    }
  }

  // ---- validate, list, get ---------------------------------------------------------------------

  async validate(options: DriverOptions): Promise<ValidationReport> {
    const version = await this.#get<{ version: string; release?: string; repoid?: string }>(
      '/version',
      {},
      options,
    );
    this.#version = version.version.startsWith('8.') ? '8.4' : '9.1';
    const nodes = await this.#get<{ node: string; status: string }[]>('/nodes', {}, options);
    const warnings: string[] = [];
    if (!/^(8\.[4-9]|9\.)/.test(version.version))
      warnings.push(
        `PVE ${version.version} is outside the versions hvkit is tested with (8.4, 9.1)`,
      );
    const offline = nodes.filter((node) => node.status !== 'online').map((node) => node.node);
    if (offline.length > 0) warnings.push(`nodes offline: ${offline.join(', ')}`);
    if (this.#node !== undefined && !nodes.some((node) => node.node === this.#node))
      throw new NotFoundError('host', this.#node, `node '${this.#node}' is not in the cluster`, {
        provider: this.name,
      });
    // What the credentials may do on `/`: the privileges the declared operations use.
    const permissions = await this.#get<Record<string, Record<string, number | string>>>(
      '/access/permissions',
      { path: '/' },
      options,
    );
    const granted = new Set(
      Object.entries(permissions['/'] ?? {})
        .filter(([, value]) => String(value) === '1')
        .map(([privilege]) => privilege),
    );
    const missing = REQUIRED_PRIVILEGES.filter((privilege) => !granted.has(privilege));
    if (missing.length > 0)
      warnings.push(
        `the credentials lack ${missing.join(', ')} on /: operations needing them will be refused (permission-denied)`,
      );
    const vms = await this.#resources(options);
    return {
      provider: this.name,
      type: this.type,
      version: version.version,
      apiVersion: 'api2/json',
      details: {
        release: version.release,
        nodes: nodes.map((node) => ({ node: node.node, status: node.status })),
        vms: vms.length,
        privileges: [...granted].sort(),
      },
      warnings,
    };
  }

  /** A VM as `/cluster/resources` describes it (no disks, NICs or guest: `get` has those). */
  #summary(resource: Resource): Vm {
    const tags = parseTags(resource.tags);
    const maxcpu = Math.max(1, Math.round(resource.maxcpu ?? 1));
    return {
      ref: { provider: this.name, id: String(resource.vmid) },
      detail: 'summary',
      name: resource.name ?? `VM ${resource.vmid}`,
      powerState:
        resource.status === 'running' ? 'on' : resource.status === 'stopped' ? 'off' : 'unknown',
      template: resource.template === true,
      cpu: { count: maxcpu, coresPerSocket: maxcpu, hotAdd: false },
      memory: { sizeMiB: Math.round((resource.maxmem ?? 0) / 1024 / 1024), hotAdd: false },
      disks: [],
      nics: [],
      guest: { toolsState: 'unknown', ipAddresses: [] },
      snapshots: { currentId: null, roots: [] },
      placement: {
        ...(resource.node === undefined ? {} : { host: resource.node }),
        ...(resource.pool === undefined ? {} : { resourcePool: resource.pool }),
      },
      policies: {},
      tags: withoutIdemTag(tags),
      raw: resource,
    };
  }

  async listPage(query: ParsedInput['listQuery'], options: DriverOptions): Promise<Page<Vm>> {
    const all = (await this.#resources(options))
      .filter((item) => item.type === 'qemu' && item.vmid !== undefined)
      .sort((a, b) => (a.vmid ?? 0) - (b.vmid ?? 0))
      .map((item) => this.#summary(item))
      .filter((vm) => query.name === undefined || vm.name === query.name)
      .filter((vm) => query.namePrefix === undefined || vm.name.startsWith(query.namePrefix))
      .filter((vm) => query.powerState === undefined || vm.powerState === query.powerState)
      .filter((vm) => query.template === undefined || vm.template === query.template)
      .filter((vm) =>
        Object.entries(query.tags ?? {}).every(([key, value]) => vm.tags[key] === value),
      );
    const start = query.cursor === undefined ? 0 : Number(query.cursor);
    if (!Number.isInteger(start) || start < 0)
      throw new InvalidSpecError([{ path: 'cursor', message: 'unknown cursor', code: 'cursor' }], {
        subject: 'list query',
        provider: this.name,
      });
    const limit = query.limit ?? 100;
    const items = all.slice(start, start + limit);
    return start + limit < all.length ? { items, nextCursor: String(start + limit) } : { items };
  }

  async get(id: string, options: DriverOptions): Promise<Vm> {
    const resource = await this.#locate(id, options);
    return this.#describe(resource, options);
  }

  async #describe(resource: Resource & { node: string }, options: DriverOptions): Promise<Vm> {
    const vmid = resource.vmid as number;
    const node = resource.node;
    const [config, status, snapshots, bridges, storages] = await Promise.all([
      this.#config(node, vmid, options),
      this.#status(node, vmid, options),
      this.#get<ProxmoxSnapshotEntry[]>(this.#vmPath(node, vmid, '/snapshot'), {}, options),
      this.#bridges(node, options),
      this.#resources(options, 'storage'),
    ]);
    const guest = await this.#guest(node, vmid, config, status, options);
    const policies = await this.#policies(resource, options);
    const vm = configToVm(config, status, {
      provider: this.name,
      node,
      vmid,
      snapshots: decodeTree(snapshotListToTree(snapshots)),
      guest,
      policies,
      pool: resource.pool,
      connectionOf: (bridge) =>
        bridges.find((item) => item.name === bridge)?.kind === 'network' ? 'network' : 'bridge',
    });
    vm.ref = { provider: this.name, id: String(vmid) };
    vm.tags = withoutIdemTag(vm.tags);
    // Thin where the storage type is (the storage decides on Proxmox, not the disk).
    const types = new Map(
      storages
        .filter((item) => item.node === node && item.storage !== undefined)
        .map((item) => [
          item.storage as string,
          String((item as Record<string, unknown>).plugintype),
        ]),
    );
    for (const disk of vm.disks) {
      const type = disk.storage === undefined ? undefined : types.get(disk.storage);
      if (type === undefined) continue;
      if (THIN_STORAGE_TYPES.has(type) || disk.format === 'qcow2') disk.provisioning = 'thin';
      else if (type === 'lvm') disk.provisioning = 'thick';
    }
    return vm;
  }

  async #policies(resource: Resource, options: DriverOptions): Promise<VmPolicies> {
    if (resource.hastate === undefined)
      return { highAvailability: { enabled: false, restartPriority: 'disabled' } };
    const ha = await this.#get<{ state?: string; max_restart?: number | string }>(
      `/cluster/ha/resources/vm:${resource.vmid}`,
      {},
      options,
    );
    const restarts = Number(ha.max_restart ?? 1);
    const priority =
      (Object.entries(PRIORITY_RESTARTS).find(([, value]) => value === restarts)?.[0] as
        | RestartPriority
        | undefined) ?? 'high';
    const enabled = ha.state !== 'disabled';
    return {
      highAvailability: { enabled, restartPriority: enabled ? priority : 'disabled' },
    };
  }

  async #guest(
    node: string,
    vmid: number,
    config: ProxmoxConfig,
    status: ProxmoxStatus,
    options: DriverOptions,
  ): Promise<GuestInfo> {
    const agent = String(config.agent ?? '0');
    if (!/(?:^|enabled=)1/.test(agent)) return { toolsState: 'not-installed', ipAddresses: [] };
    if (status.status !== 'running') return { toolsState: 'not-running', ipAddresses: [] };
    try {
      const answer = await this.#get<{
        result: {
          name: string;
          'hardware-address'?: string;
          'ip-addresses'?: { 'ip-address': string }[];
        }[];
      }>(this.#vmPath(node, vmid, '/agent/network-get-interfaces'), {}, options);
      const interfaces = answer.result
        .filter((item) => item.name !== 'lo')
        .map((item) => ({
          mac: (item['hardware-address'] ?? '').toLowerCase(),
          name: item.name,
          ipAddresses: (item['ip-addresses'] ?? []).map((address) => address['ip-address']),
        }));
      const uptime = Number(status.uptime ?? 0);
      return {
        toolsState: 'running',
        ipAddresses: interfaces.flatMap((item) => item.ipAddresses),
        interfaces,
        ...(Number.isFinite(uptime) ? { uptimeSeconds: uptime } : {}),
      };
    } catch (error) {
      const code = (error as HvkitError).code;
      if (code === 'CONFLICT' || code === 'TIMEOUT')
        return { toolsState: 'not-running', ipAddresses: [] };
      throw error;
    }
  }

  async #bridges(node: string, options: DriverOptions): Promise<Network[]> {
    const list = await this.#get<{ iface: string; type: string; active?: number | string }[]>(
      `/nodes/${encodeURIComponent(node)}/network`,
      { type: 'any_bridge' },
      options,
    );
    return list
      .map(
        (item): Network => ({
          id: item.iface,
          name: item.iface,
          kind: item.type === 'vnet' ? 'network' : 'bridge',
        }),
      )
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async #checkNetworks(
    node: string,
    nics: readonly { network: string }[] | undefined,
    options: DriverOptions,
  ): Promise<void> {
    if (!nics?.length) return;
    const known = new Set((await this.#bridges(node, options)).map((item) => item.name));
    for (const nic of nics) {
      if (!known.has(nic.network))
        throw new NotFoundError(
          'network',
          nic.network,
          `bridge '${nic.network}' does not exist on node '${node}'`,
          { provider: this.name },
        );
    }
  }

  // ---- tasks -----------------------------------------------------------------------------------

  async getTask(taskId: string, options: DriverOptions): Promise<TaskSnapshot> {
    const ref = decodeTaskId(taskId, this.name);
    let snapshot: TaskSnapshot & { errorObject?: HvkitError };
    if (ref.u !== undefined) {
      if (!isUpid(ref.u)) throw new NotFoundError('task', taskId, 'not a UPID');
      snapshot = await this.#upidSnapshot(ref.u, ref.k, options);
    } else if (ref.t === undefined && ref.v !== undefined) {
      snapshot = await this.#vmAddressedSnapshot(ref, options);
    } else {
      const at = new Date(ref.t ?? 0).toISOString();
      snapshot = {
        id: taskId,
        provider: this.name,
        kind: ref.k,
        state: 'succeeded',
        progress: {},
        cancelable: false,
        createdAt: at,
        startedAt: at,
        finishedAt: at,
      };
    }
    const { errorObject: _error, ...plain } = snapshot;
    plain.id = taskId;
    plain.kind = ref.k;
    if (plain.state === 'running') plain.cancelable = ref.u !== undefined;
    if (plain.state === 'succeeded') {
      const result = await this.#result(ref, options);
      if (result !== undefined) plain.result = result;
    }
    return plain;
  }

  /** A key-addressed create or clone: running while the VM carries its create/clone lock. */
  async #vmAddressedSnapshot(ref: TaskRef, options: DriverOptions): Promise<TaskSnapshot> {
    const base = {
      id: '',
      provider: this.name,
      kind: ref.k,
      progress: {},
      cancelable: false,
      createdAt: new Date(this.#clock.now()).toISOString(),
    };
    const resource = (await this.#resources(options)).find(
      (item) => item.type === 'qemu' && item.vmid === ref.v,
    );
    if (!resource) {
      const error = new NotFoundError(
        'vm',
        String(ref.v),
        `the VM this task made (${ref.v}) no longer exists: its worker failed or it was deleted`,
        { provider: this.name },
      );
      return { ...base, state: 'failed', error: error.toJSON() };
    }
    const busy = resource.lock !== undefined || (ref.on === 1 && resource.status !== 'running');
    return busy ? { ...base, state: 'running' } : { ...base, state: 'succeeded' };
  }

  async #result(ref: TaskRef, options: DriverOptions): Promise<unknown> {
    switch (ref.k) {
      case 'vm.create':
      case 'vm.clone':
      case 'vm.mark-as-template':
      case 'vm.migrate':
        return this.get(String(ref.v), options);
      case 'vm.reconfigure':
        return {
          applied: ref.a ?? [],
          pendingRestart: ref.p ?? [],
          warnings: ref.w ?? [],
          vm: await this.get(String(ref.v), options),
        };
      case 'snapshot.create': {
        const tree = await this.listSnapshots(String(ref.v), options);
        const find = (nodes: SnapshotTree['roots']): SnapshotTree['roots'][number] | undefined => {
          for (const node of nodes) {
            if (node.id === ref.s) return node;
            const child = find(node.children);
            if (child) return child;
          }
          return undefined;
        };
        const snapshot = find(tree.roots);
        if (!snapshot)
          throw new NotFoundError('snapshot', ref.s ?? '', `snapshot '${ref.s}' does not exist`, {
            provider: this.name,
          });
        return snapshot;
      }
      case 'image.import':
      case 'disk.import': {
        const image = (await this.listImages(options)).find((item) => item.id === ref.i);
        if (!image)
          throw new NotFoundError('image', ref.i ?? '', `volume '${ref.i}' does not exist`, {
            provider: this.name,
          });
        return {
          ...image,
          ...(ref.nm === undefined ? {} : { name: ref.nm }),
          cached: ref.c === 1,
          source:
            ref.k === 'disk.import' || ref.url === undefined
              ? { kind: 'disk' }
              : { kind: 'url', url: ref.url },
        };
      }
      default:
        return undefined;
    }
  }

  async cancelTask(taskId: string, options: DriverOptions): Promise<void> {
    const ref = decodeTaskId(taskId, this.name);
    const snapshot = await this.getTask(taskId, options);
    if (snapshot.state !== 'running' && snapshot.state !== 'queued')
      throw new ConflictError('invalid-state', `task ${taskId} already ended (${snapshot.state})`, {
        provider: this.name,
      });
    if (ref.u === undefined)
      throw new ConflictError(
        'invalid-state',
        'this task is addressed by its VM, not by a Proxmox worker, and cannot be cancelled',
        { provider: this.name },
      );
    const upid = parseUpid(ref.u);
    await this.#write(
      'DELETE',
      `/nodes/${encodeURIComponent(upid.node)}/tasks/${encodeURIComponent(ref.u)}`,
      {},
      options,
    );
  }

  // ---- create, delete ------------------------------------------------------------------------

  async #findByIdem(
    keyHash: string,
    options: DriverOptions,
  ): Promise<{ resource: Resource; requestHash: string } | undefined> {
    for (const resource of await this.#resources(options)) {
      const value = parseTags(resource.tags)[IDEM_TAG];
      if (value === undefined) continue;
      const [key, request] = value.split('.');
      if (key === keyHash) return { resource, requestHash: request ?? '' };
    }
    return undefined;
  }

  async #idempotent(
    kind: string,
    request: unknown,
    options: DriverOptions,
  ): Promise<{ tag?: string; replay?: TaskStart }> {
    if (options.idempotencyKey === undefined) return {};
    const keyHash = shortHash(options.idempotencyKey, 20);
    const requestHash = shortHash(canonicalJson([kind, request]), 12);
    const found = await this.#findByIdem(keyHash, options);
    if (found) {
      if (found.requestHash !== requestHash)
        throw new ConflictError(
          'idempotency-mismatch',
          `idempotency key already used by a different ${kind} (VM ${found.resource.vmid})`,
          { provider: this.name },
        );
      const on = (request as { powerState?: string; powerOn?: boolean }) ?? {};
      return {
        replay: this.#started({
          k: kind,
          v: found.resource.vmid,
          ...(on.powerState === 'on' || on.powerOn === true ? { on: 1 as const } : {}),
        }),
      };
    }
    return { tag: `${IDEM_TAG}+${keyHash}.${requestHash}` };
  }

  async create(spec: VmSpec, options: DriverOptions): Promise<TaskStart> {
    const version = this.#version ?? '9.1';
    // Validate the whole spec before any request: the real call differs only in vmid and volume.
    const probeVolume =
      spec.image?.kind === 'url' || spec.image?.kind === 'template'
        ? `${this.#importStorage}:import/hvkit-probe.qcow2`
        : undefined;
    specToCreateParams(spec, {
      vmid: 100,
      node: spec.placement?.host ?? this.#node ?? 'node',
      storageDefault: this.#storage,
      version,
      imageVolume: probeVolume,
    });
    if (spec.image?.kind === 'content-library')
      throw new UnsupportedCapabilityError(
        'images.contentLibrary',
        'Proxmox has no content libraries',
        { provider: this.name },
      );

    const idem = await this.#idempotent('vm.create', spec, options);
    if (idem.replay) return idem.replay;
    const node = spec.placement?.host ?? (await this.#defaultNode(options));
    await this.#checkNetworks(node, spec.nics, options);
    const realVersion = await this.#versionOf(options);
    const tags = idem.tag ? { ...spec.tags } : spec.tags;

    if (spec.image?.kind === 'template') return this.#deploy(spec, node, idem.tag, options);

    let imageVolume: string | undefined;
    if (spec.image?.kind === 'url') {
      const image = await this.#download(spec.image.url, undefined, node, options);
      imageVolume = image.volid;
    } else if (spec.image?.kind === 'image') {
      await this.#requireImage(spec.image.imageId, node, options);
    }

    for (let attempt = 0; ; attempt++) {
      const vmid = Number(await this.#get('/cluster/nextid', {}, options));
      const plan = specToCreateParams(
        { ...spec, ...(tags === undefined ? {} : { tags }) },
        {
          vmid,
          node,
          storageDefault: this.#storage,
          version: realVersion,
          imageVolume,
        },
      );
      for (const warning of plan.warnings) this.logger.warn('proxmox create', { ...warning });
      if (idem.tag)
        plan.params.tags =
          plan.params.tags === undefined ? idem.tag : `${plan.params.tags};${idem.tag}`;
      let upid: string;
      try {
        upid = await this.#write<string>(
          'POST',
          `/nodes/${encodeURIComponent(node)}/qemu`,
          plan.params,
          options,
        );
      } catch (error) {
        // Another client took the id between nextid and create: ask again.
        if (ConflictError.isInstance(error) && error.reason === 'already-exists' && attempt < 4)
          continue;
        throw error;
      }
      // A keyed create is addressed by its VM, so that a retry anywhere answers the same id.
      const keyed =
        idem.tag === undefined
          ? undefined
          : this.#started({ k: 'vm.create', v: vmid, ...(plan.start ? { on: 1 as const } : {}) });
      if (plan.resizes.length === 0 && !plan.start && keyed === undefined)
        return this.#started({ k: 'vm.create', u: upid, v: vmid });
      // The worker writes the VM config (and so the key's tag): wait for it, so that a retry
      // finds the VM instead of making a second one.
      await this.#waitUpid(upid, options);
      for (const resize of plan.resizes)
        await this.#resize(node, vmid, resize.disk, resize.size, options);
      if (!plan.start) return keyed ?? this.#done({ k: 'vm.create', v: vmid }, options);
      const start = await this.#write<string>(
        'POST',
        this.#vmPath(node, vmid, '/status/start'),
        {},
        options,
      );
      return keyed ?? this.#started({ k: 'vm.create', u: start, v: vmid });
    }
  }

  async #resize(
    node: string,
    vmid: number,
    disk: string,
    size: string,
    options: DriverOptions,
  ): Promise<void> {
    const answer = await this.#write<unknown>(
      'PUT',
      this.#vmPath(node, vmid, '/resize'),
      { disk, size },
      options,
    );
    if (isUpid(answer)) await this.#waitUpid(answer, options);
  }

  async #requireImage(volid: string, node: string, options: DriverOptions): Promise<void> {
    const storage = volid.split(':')[0] ?? '';
    if (!volid.includes(':'))
      throw new NotFoundError('image', volid, `volume '${volid}' does not exist`, {
        provider: this.name,
      });
    const content = await this.#get<{ volid: string }[]>(
      `/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(storage)}/content`,
      {},
      options,
    );
    if (!content.some((item) => item.volid === volid))
      throw new NotFoundError('image', volid, `volume '${volid}' does not exist`, {
        provider: this.name,
      });
  }

  /** Creates from a template by cloning it, then applies the spec's hardware. */
  async #deploy(
    spec: VmSpec,
    node: string,
    idemTag: string | undefined,
    options: DriverOptions,
  ): Promise<TaskStart> {
    if (spec.image?.kind !== 'template') throw new TypeError('not a template spec');
    const source = await this.#locate(spec.image.template, options);
    if (source.template !== true)
      throw new ConflictError(
        'not-a-template',
        `VM ${source.vmid} is not a template: markAsTemplate it first`,
        { provider: this.name },
      );
    const vmid = Number(await this.#get('/cluster/nextid', {}, options));
    const upid = await this.#write<string>(
      'POST',
      this.#vmPath(source.node, source.vmid as number, '/clone'),
      {
        newid: vmid,
        name: spec.name,
        full: 1,
        ...(source.node === node ? {} : { target: node }),
        ...(spec.description === undefined ? {} : { description: spec.description }),
      },
      options,
    );
    await this.#waitUpid(upid, options);
    const params: Record<string, string | number> = {
      cores: spec.cpu.coresPerSocket ?? 1,
      sockets: spec.cpu.count / (spec.cpu.coresPerSocket ?? 1),
      memory: spec.memory.sizeMiB,
    };
    const tags = [
      ...(spec.tags === undefined || Object.keys(spec.tags).length === 0
        ? []
        : [
            specToCreateParams({ ...spec, image: undefined, disks: [], nics: [] } as VmSpec, {
              vmid,
              node,
              storageDefault: this.#storage,
              version: this.#version ?? '9.1',
            }).params.tags as string,
          ]),
      ...(idemTag ? [idemTag] : []),
    ];
    if (tags.length > 0) params.tags = tags.join(';');
    await this.#write('PUT', this.#vmPath(node, vmid, '/config'), params, options);
    const keyed =
      idemTag === undefined
        ? undefined
        : this.#started({
            k: 'vm.create',
            v: vmid,
            ...(spec.powerState === 'on' ? { on: 1 as const } : {}),
          });
    if (spec.powerState === 'on') {
      const start = await this.#write<string>(
        'POST',
        this.#vmPath(node, vmid, '/status/start'),
        {},
        options,
      );
      return keyed ?? this.#started({ k: 'vm.create', u: start, v: vmid });
    }
    return keyed ?? this.#done({ k: 'vm.create', v: vmid }, options);
  }

  async delete(id: string, options: DriverOptions): Promise<TaskStart> {
    const resource = await this.#locate(id, options);
    const vmid = resource.vmid as number;
    const node = resource.node;
    if (resource.status === 'running') {
      const stop = await this.#write<string>(
        'POST',
        this.#vmPath(node, vmid, '/status/stop'),
        {},
        options,
      );
      await this.#waitUpid(stop, options);
    }
    const upid = await this.#write<string>(
      'DELETE',
      this.#vmPath(node, vmid),
      { purge: 1, 'destroy-unreferenced-disks': 1 },
      options,
    );
    return this.#started({ k: 'vm.delete', u: upid, v: vmid });
  }

  // ---- power -----------------------------------------------------------------------------------

  async power(id: string, action: PowerAction, options: DriverOptions): Promise<TaskStart> {
    const resource = await this.#locate(id, options);
    const vmid = resource.vmid as number;
    const node = resource.node;
    const status = await this.#status(node, vmid, options);
    const running = status.status === 'running';
    const paused = running && status.qmpstatus !== 'running';
    // Suspended to disk: the process is gone, the memory is in `vmstate`, the config is locked.
    const hibernated = !running && status.lock === 'suspended';
    const kind = `vm.${{ on: 'power-on', off: 'power-off', shutdown: 'shutdown', reboot: 'reboot', reset: 'reset', suspend: 'suspend', resume: 'resume' }[action]}`;
    const refuse = (what: string): never => {
      throw new ConflictError('invalid-power-state', `VM ${vmid} is ${what}: cannot ${action}`, {
        provider: this.name,
        details: { powerState: what },
      });
    };
    if (action === 'on' && options.idempotencyKey !== undefined && running && !paused) {
      const previous = await this.#latestTask(node, vmid, 'qmstart', options);
      if (previous) return this.#started({ k: kind, u: previous, v: vmid });
    }
    if (action === 'on' && (resource.template === true || String(status.template ?? '0') === '1'))
      throw new ConflictError('invalid-state', `VM ${vmid} is a template and cannot start`, {
        provider: this.name,
      });
    let endpoint = '';
    switch (action) {
      case 'on':
        if (paused) endpoint = 'resume';
        else if (running) refuse('on');
        else endpoint = 'start';
        break;
      case 'off':
        if (!running) refuse('off');
        endpoint = 'stop';
        break;
      case 'shutdown':
        if (!running) refuse('off');
        endpoint = 'shutdown';
        break;
      case 'reboot':
        if (!running || paused) refuse(running ? 'suspended' : 'off');
        endpoint = 'reboot';
        break;
      case 'reset':
        if (!running) refuse('off');
        endpoint = 'reset';
        break;
      case 'suspend':
        if (!running || paused) refuse(running ? 'suspended' : 'off');
        endpoint = 'suspend';
        break;
      case 'resume':
        // qemu-server's vm_resume also starts a VM hibernated with `todisk`.
        if (!paused && !hibernated) refuse(running ? 'on' : 'off');
        endpoint = 'resume';
        break;
    }
    const params: Record<string, unknown> =
      endpoint === 'shutdown' || endpoint === 'reboot' ? { timeout: 60 } : {};
    if (action === 'suspend' && options.toDisk) params.todisk = 1;
    if (endpoint === 'shutdown' || endpoint === 'reboot') {
      // Without a running agent only ACPI is left, which a guest may ignore: refuse honestly.
      const config = await this.#config(node, vmid, options);
      const guest = await this.#guest(node, vmid, config, status, options);
      if (guest.toolsState !== 'running')
        throw new ConflictError(
          'invalid-state',
          `VM ${vmid}: ${endpoint} needs the QEMU guest agent running (use powerOff or reset)`,
          { provider: this.name, details: { fault: 'agent-not-running' } },
        );
    }
    const upid = await this.#write<string>(
      'POST',
      this.#vmPath(node, vmid, `/status/${endpoint}`),
      params,
      options,
    );
    return this.#started({ k: kind, u: upid, v: vmid });
  }

  async #latestTask(
    node: string,
    vmid: number,
    type: string,
    options: DriverOptions,
  ): Promise<string | undefined> {
    const list = await this.#get<{ upid: string; starttime: number }[]>(
      `/nodes/${encodeURIComponent(node)}/tasks`,
      { vmid, typefilter: type, source: 'all', limit: 1 },
      options,
    );
    return list[0]?.upid;
  }

  // ---- reconfigure -----------------------------------------------------------------------------

  async reconfigure(
    id: string,
    change: ParsedInput['vmChange'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    const resource = await this.#locate(id, options);
    const vmid = resource.vmid as number;
    const node = resource.node;
    const [config, status, version] = await Promise.all([
      this.#config(node, vmid, options),
      this.#status(node, vmid, options),
      this.#versionOf(options),
    ]);
    if (change.addNics?.length) await this.#checkNetworks(node, change.addNics, options);
    let plan: ReturnType<typeof changeToConfig>;
    try {
      plan = changeToConfig(change, config, {
        version,
        storageDefault: this.#storage,
        running: status.status === 'running',
      });
    } catch (error) {
      if (InvalidSpecError.isInstance(error)) {
        const missing = notFoundIssues(error)[0];
        if (missing) {
          const resourceKind = /nic/i.test(missing.path) ? 'nic' : 'disk';
          throw new NotFoundError(resourceKind, String(missing.message), missing.message, {
            provider: this.name,
          });
        }
      }
      throw error;
    }
    if (change.tags !== undefined) {
      const idem = parseTags(config.tags)[IDEM_TAG];
      if (idem !== undefined && typeof plan.params.tags === 'string')
        plan.params.tags = `${plan.params.tags};${IDEM_TAG}+${idem}`;
    }
    const params: Record<string, unknown> = { ...plan.params };
    if (plan.delete.length > 0) params.delete = plan.delete.join(',');
    if (plan.force && plan.delete.length > 0) params.force = 1;
    if (Object.keys(params).length > 0) {
      params.digest = config.digest;
      await this.#write('PUT', this.#vmPath(node, vmid, '/config'), params, options);
    }
    for (const resize of plan.resizes)
      await this.#resize(node, vmid, resize.disk, resize.size, options);
    return this.#done(
      {
        k: 'vm.reconfigure',
        v: vmid,
        a: plan.applied,
        p: plan.pendingRestart,
        w: plan.warnings.map((warning) => ({
          type: warning.type,
          ...(warning.feature === undefined ? {} : { feature: warning.feature }),
          details: warning.details,
        })),
      },
      options,
    );
  }

  // ---- templates and clones --------------------------------------------------------------------

  async markAsTemplate(id: string, options: DriverOptions): Promise<TaskStart> {
    const resource = await this.#locate(id, options);
    const vmid = resource.vmid as number;
    if (resource.status === 'running')
      throw new ConflictError(
        'invalid-power-state',
        `VM ${vmid} is running: a template is made from a stopped VM`,
        { provider: this.name },
      );
    const answer = await this.#write<unknown>(
      'POST',
      this.#vmPath(resource.node, vmid, '/template'),
      {},
      options,
    );
    if (isUpid(answer)) return this.#started({ k: 'vm.mark-as-template', u: answer, v: vmid });
    return this.#done({ k: 'vm.mark-as-template', v: vmid }, options);
  }

  async clone(
    id: string,
    clone: ParsedInput['cloneOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    const source = await this.#locate(id, options);
    const sourceVmid = source.vmid as number;
    const version = await this.#versionOf(options);
    // Validates the name and tags as a create would.
    const tagParams = specToCreateParams(
      {
        name: clone.name,
        cpu: { count: 1 },
        memory: { sizeMiB: 128 },
        ...(clone.tags === undefined ? {} : { tags: clone.tags }),
      } as VmSpec,
      { vmid: 100, node: source.node, storageDefault: this.#storage, version },
    ).params.tags;
    if (clone.mode === 'linked' && source.template !== true)
      throw new ConflictError(
        'invalid-state',
        `Proxmox links clones only to templates; VM ${sourceVmid} is not one (clone it in full, or markAsTemplate it)`,
        { provider: this.name },
      );
    const idem = await this.#idempotent('vm.clone', { source: sourceVmid, ...clone }, options);
    if (idem.replay) return idem.replay;
    const node = clone.placement?.host ?? source.node;
    for (let attempt = 0; ; attempt++) {
      const vmid = Number(await this.#get('/cluster/nextid', {}, options));
      let upid: string;
      try {
        upid = await this.#write<string>(
          'POST',
          this.#vmPath(source.node, sourceVmid, '/clone'),
          {
            newid: vmid,
            name: clone.name,
            full: clone.mode === 'full' ? 1 : 0,
            ...(node === source.node ? {} : { target: node }),
            ...(clone.description === undefined ? {} : { description: clone.description }),
            ...(clone.snapshotId === undefined || source.template === true
              ? {}
              : { snapname: encodeSnapshotName(clone.snapshotId) ?? clone.snapshotId }),
            ...(clone.placement?.storage === undefined || clone.mode === 'linked'
              ? {}
              : { storage: clone.placement.storage }),
          },
          options,
        );
      } catch (error) {
        if (ConflictError.isInstance(error) && error.reason === 'already-exists' && attempt < 4)
          continue;
        throw error;
      }
      const tags = [
        ...(typeof tagParams === 'string' ? [tagParams] : []),
        ...(idem.tag ? [idem.tag] : []),
      ];
      const keyed =
        idem.tag === undefined
          ? undefined
          : this.#started({ k: 'vm.clone', v: vmid, ...(clone.powerOn ? { on: 1 as const } : {}) });
      if (tags.length === 0 && !clone.powerOn)
        return this.#started({ k: 'vm.clone', u: upid, v: vmid });
      await this.#waitUpid(upid, options);
      if (tags.length > 0)
        await this.#write(
          'PUT',
          this.#vmPath(node, vmid, '/config'),
          { tags: tags.join(';') },
          options,
        );
      if (!clone.powerOn) return keyed ?? this.#done({ k: 'vm.clone', v: vmid }, options);
      const start = await this.#write<string>(
        'POST',
        this.#vmPath(node, vmid, '/status/start'),
        {},
        options,
      );
      return keyed ?? this.#started({ k: 'vm.clone', u: start, v: vmid });
    }
  }

  // ---- snapshots -------------------------------------------------------------------------------

  async listSnapshots(id: string, options: DriverOptions): Promise<SnapshotTree> {
    const resource = await this.#locate(id, options);
    const entries = await this.#get<ProxmoxSnapshotEntry[]>(
      this.#vmPath(resource.node, resource.vmid as number, '/snapshot'),
      {},
      options,
    );
    return decodeTree(snapshotListToTree(entries));
  }

  async createSnapshot(
    id: string,
    snapshot: ParsedInput['snapshotOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    const resource = await this.#locate(id, options);
    const snapname = encodeSnapshotName(snapshot.name);
    if (snapname === undefined)
      throw new InvalidSpecError(
        [
          {
            path: 'name',
            code: 'proxmox-snapshot-name',
            message:
              'Proxmox snapshot names start with a letter and fit in 40 characters (characters other than letters and digits take 3)',
          },
        ],
        { subject: 'snapshot options', provider: this.name },
      );
    const vmid = resource.vmid as number;
    if (snapshot.memory && resource.status !== 'running')
      throw new ConflictError(
        'invalid-power-state',
        `VM ${vmid} is off: a memory snapshot needs it running`,
        { provider: this.name },
      );
    const upid = await this.#write<string>(
      'POST',
      this.#vmPath(resource.node, vmid, '/snapshot'),
      {
        snapname,
        ...(snapshot.description === undefined ? {} : { description: snapshot.description }),
        ...(snapshot.memory ? { vmstate: 1 } : {}),
      },
      options,
    );
    return this.#started({ k: 'snapshot.create', u: upid, v: vmid, s: snapshot.name });
  }

  async revertSnapshot(id: string, snapshotId: string, options: DriverOptions): Promise<TaskStart> {
    const resource = await this.#locate(id, options);
    const vmid = resource.vmid as number;
    const snapname = await this.#requireSnapshot(resource.node, vmid, snapshotId, options);
    const upid = await this.#write<string>(
      'POST',
      this.#vmPath(resource.node, vmid, `/snapshot/${encodeURIComponent(snapname)}/rollback`),
      {},
      options,
    );
    return this.#started({ k: 'snapshot.revert', u: upid, v: vmid });
  }

  async #requireSnapshot(
    node: string,
    vmid: number,
    name: string,
    options: DriverOptions,
  ): Promise<string> {
    const entries = await this.#get<ProxmoxSnapshotEntry[]>(
      this.#vmPath(node, vmid, '/snapshot'),
      {},
      options,
    );
    const snapname = encodeSnapshotName(name);
    if (
      snapname === undefined ||
      snapname === 'current' ||
      !entries.some((entry) => entry.name === snapname)
    )
      throw new NotFoundError('snapshot', name, `snapshot '${name}' does not exist`, {
        provider: this.name,
      });
    return snapname;
  }

  async #snapshotEntries(node: string, vmid: number, options: DriverOptions) {
    return this.#get<ProxmoxSnapshotEntry[]>(this.#vmPath(node, vmid, '/snapshot'), {}, options);
  }

  async deleteSnapshot(
    id: string,
    snapshotId: string,
    removeChildren: boolean,
    options: DriverOptions,
  ): Promise<TaskStart> {
    const resource = await this.#locate(id, options);
    const vmid = resource.vmid as number;
    const snapname = await this.#requireSnapshot(resource.node, vmid, snapshotId, options);
    const entries = await this.#snapshotEntries(resource.node, vmid, options);
    if (removeChildren) {
      const descendants: string[] = [];
      const visit = (parent: string) => {
        for (const entry of entries) {
          if (entry.parent === parent && entry.name !== 'current') {
            visit(entry.name);
            descendants.push(entry.name);
          }
        }
      };
      visit(snapname);
      for (const name of descendants) {
        const upid = await this.#write<string>(
          'DELETE',
          this.#vmPath(resource.node, vmid, `/snapshot/${encodeURIComponent(name)}`),
          {},
          options,
        );
        await this.#waitUpid(upid, options);
      }
    }
    const upid = await this.#write<string>(
      'DELETE',
      this.#vmPath(resource.node, vmid, `/snapshot/${encodeURIComponent(snapname)}`),
      {},
      options,
    );
    return this.#started({ k: 'snapshot.delete', u: upid, v: vmid });
  }

  // ---- console, guest, metrics, events, health --------------------------------------------------

  async getConsole(id: string, options: DriverOptions): Promise<ConsoleAccess> {
    const resource = await this.#locate(id, options);
    const vmid = resource.vmid as number;
    if (resource.status !== 'running')
      throw new ConflictError('invalid-power-state', `VM ${vmid} is not running: no console`, {
        provider: this.name,
      });
    const answer = await this.#write<{ port: string | number; ticket: string }>(
      'POST',
      this.#vmPath(resource.node, vmid, '/vncproxy'),
      { websocket: 1 },
      options,
    );
    // The ticket is a secret: it goes in `ticket` only (pass it as `vncticket` to the websocket
    // `GET /nodes/{node}/qemu/{vmid}/vncwebsocket?port=…`), never into the URL or logs.
    this.redact.secrets = [...(this.redact.secrets ?? []), answer.ticket];
    const base = new URL(this.#client.baseUrl);
    const url = new URL(`${base.protocol}//${base.host}/`);
    url.searchParams.set('console', 'kvm');
    url.searchParams.set('novnc', '1');
    url.searchParams.set('vmid', String(vmid));
    url.searchParams.set('node', resource.node);
    url.searchParams.set('port', String(answer.port));
    const websocket = new URL(
      `wss://${base.host}/api2/json${this.#vmPath(resource.node, vmid, '/vncwebsocket')}`,
    );
    websocket.searchParams.set('port', String(answer.port));
    return {
      protocol: 'novnc',
      url: url.href,
      websocketUrl: websocket.href,
      ticket: answer.ticket,
      expiresAt: new Date(this.#clock.now() + CONSOLE_TICKET_LIFETIME_MS).toISOString(),
    };
  }

  async getGuestInfo(id: string, options: DriverOptions): Promise<GuestInfo> {
    const resource = await this.#locate(id, options);
    const vmid = resource.vmid as number;
    const [config, status] = await Promise.all([
      this.#config(resource.node, vmid, options),
      this.#status(resource.node, vmid, options),
    ]);
    return this.#guest(resource.node, vmid, config, status, options);
  }

  async getMetrics(
    id: string,
    query: ParsedInput['metricsQuery'],
    options: DriverOptions,
  ): Promise<MetricSeries[]> {
    const resource = await this.#locate(id, options);
    const timeframe = chooseTimeframe(query.since, new Date(this.#clock.now()));
    const rows = await this.#get<RrdRow[]>(
      this.#vmPath(resource.node, resource.vmid as number, '/rrddata'),
      { timeframe, cf: 'AVERAGE' },
      options,
    );
    return rrdToMetricSeries(rows, query, timeframe);
  }

  async listEvents(query: ParsedInput['eventQuery'], options: DriverOptions): Promise<VmEvent[]> {
    let nodes: string[];
    let vmid: number | undefined;
    if (query.vm !== undefined) {
      const resource = await this.#locate(query.vm.id, options);
      vmid = resource.vmid as number;
      nodes = [resource.node];
    } else {
      nodes = (await this.#get<{ node: string }[]>('/nodes', {}, options)).map((item) => item.node);
    }
    const since =
      query.since === undefined ? undefined : Math.floor(Date.parse(query.since) / 1000);
    const limit = query.limit ?? 100;
    const events: VmEvent[] = [];
    for (const node of nodes) {
      const list = await this.#get<
        { upid: string; type: string; id?: string | number; starttime: number; status?: string }[]
      >(
        `/nodes/${encodeURIComponent(node)}/tasks`,
        {
          source: 'all',
          limit: Math.min(limit * 4, 1000),
          ...(vmid === undefined ? {} : { vmid }),
          ...(since === undefined ? {} : { since }),
        },
        options,
      );
      for (const task of list) {
        const type = EVENT_TYPES[task.type];
        if (type === undefined || task.id === undefined || task.id === '') continue;
        if (!/^\d+$/.test(String(task.id))) continue;
        events.push({
          id: task.upid,
          time: iso(Number(task.starttime)),
          type,
          vm: { provider: this.name, id: String(task.id) },
          message: `${task.type} ${task.id}${task.status ? `: ${task.status}` : ' (running)'}`,
        });
      }
    }
    return events
      .filter((event) => since === undefined || Date.parse(event.time) >= since * 1000)
      .sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || b.id.localeCompare(a.id))
      .slice(0, limit);
  }

  async checkHealth(id: string, options: DriverOptions): Promise<HealthReport> {
    const resource = await this.#locate(id, options);
    const everything = await this.#resources(options, undefined);
    const checks: HealthReport['checks'] = [];
    const node = everything.find((item) => item.type === 'node' && item.node === resource.node);
    checks.push({
      name: `node ${resource.node}`,
      status: node?.status === 'online' ? 'ok' : node ? 'critical' : 'unknown',
      message: `node ${resource.node} is ${node?.status ?? 'unknown'}`,
    });
    checks.push({
      name: 'vm status',
      status: resource.lock ? 'warning' : 'ok',
      message: `VM ${resource.vmid} is ${resource.status}${resource.lock ? `, locked (${resource.lock})` : ''}`,
    });
    for (const storage of everything.filter(
      (item) => item.type === 'storage' && item.node === resource.node,
    )) {
      const used = (storage.disk ?? 0) / Math.max(1, storage.maxdisk ?? 1);
      const status: HealthStatus =
        storage.status !== 'available'
          ? 'critical'
          : used > 0.95
            ? 'critical'
            : used > 0.85
              ? 'warning'
              : 'ok';
      checks.push({
        name: `storage ${storage.storage}`,
        status,
        message: `${storage.storage} ${storage.status ?? 'unknown'}, ${Math.round(used * 100)}% used`,
      });
    }
    const rank: HealthStatus[] = ['ok', 'unknown', 'warning', 'critical'];
    const worst = checks.reduce<HealthStatus>(
      (current, check) =>
        rank.indexOf(check.status) > rank.indexOf(current) ? check.status : current,
      'ok',
    );
    return { status: worst, checkedAt: new Date(this.#clock.now()).toISOString(), checks };
  }

  // ---- storage, networks ------------------------------------------------------------------------

  async listStoragePools(options: DriverOptions): Promise<StoragePool[]> {
    const node = await this.#defaultNode(options);
    const CONTENT: Record<string, StoragePool['content'][number]> = {
      images: 'disk',
      import: 'image',
      iso: 'iso',
      snippets: 'snippet',
    };
    return (await this.#resources(options, 'storage'))
      .filter((item) => item.type === 'storage' && item.node === node && item.storage)
      .map((item) => ({
        id: item.storage as string,
        name: item.storage as string,
        type: String((item as Record<string, unknown>).plugintype ?? 'unknown'),
        capacityBytes: item.maxdisk ?? 0,
        freeBytes: Math.max(0, (item.maxdisk ?? 0) - (item.disk ?? 0)),
        content: [
          ...new Set(
            (item.content ?? '')
              .split(',')
              .map((content) => CONTENT[content])
              .filter(
                (content): content is StoragePool['content'][number] => content !== undefined,
              ),
          ),
        ],
        shared: item.shared === true,
      }))
      .sort((a, b) =>
        a.id === this.#storage ? 1 : b.id === this.#storage ? -1 : a.id.localeCompare(b.id),
      );
  }

  async listNetworks(options: DriverOptions): Promise<Network[]> {
    return this.#bridges(await this.#defaultNode(options), options);
  }

  // ---- HA, migration ----------------------------------------------------------------------------

  async setHighAvailability(
    id: string,
    settings: ParsedInput['highAvailability'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    const resource = await this.#locate(id, options);
    const vmid = resource.vmid as number;
    const sid = `vm:${vmid}`;
    const exists = resource.hastate !== undefined;
    if (!settings.enabled || settings.restartPriority === 'disabled') {
      if (exists) await this.#write('DELETE', `/cluster/ha/resources/${sid}`, {}, options);
    } else {
      const params = {
        state: 'started',
        max_restart: PRIORITY_RESTARTS[settings.restartPriority],
        comment: `hvkit restart priority ${settings.restartPriority}`,
      };
      if (exists) await this.#write('PUT', `/cluster/ha/resources/${sid}`, params, options);
      else await this.#write('POST', '/cluster/ha/resources', { sid, ...params }, options);
    }
    return this.#done({ k: 'vm.set-high-availability', v: vmid }, options);
  }

  async migrate(
    id: string,
    destination: ParsedInput['migrateTarget'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    if (
      destination.host === undefined ||
      destination.storage !== undefined ||
      destination.resourcePool !== undefined
    )
      throw new UnsupportedCapabilityError(
        'advanced.liveMigration',
        'Proxmox migrates VMs between nodes only: give migrateTarget.host alone',
        { provider: this.name },
      );
    const resource = await this.#locate(id, options);
    const vmid = resource.vmid as number;
    const online = resource.status === 'running';
    const upid = await this.#write<string>(
      'POST',
      this.#vmPath(resource.node, vmid, '/migrate'),
      {
        target: destination.host,
        ...(online ? { online: 1, 'with-local-disks': 1 } : {}),
      },
      options,
    );
    return this.#started({ k: 'vm.migrate', u: upid, v: vmid });
  }

  // ---- images -----------------------------------------------------------------------------------

  async listImages(options: DriverOptions): Promise<Image[]> {
    const node = await this.#defaultNode(options);
    const content = await this.#get<
      { volid: string; format?: string; size?: number | string; ctime?: number | string }[]
    >(
      `/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(this.#importStorage)}/content`,
      { content: 'import' },
      options,
    );
    return content.map((item) => {
      const format = item.format === 'qcow2' || item.format === 'vmdk' ? item.format : 'raw';
      const url = this.#imageUrls.get(item.volid);
      return {
        id: item.volid,
        name:
          item.volid
            .split('/')
            .pop()
            ?.replace(/\.(qcow2|raw|vmdk|ova)$/, '') ?? item.volid,
        format,
        sizeBytes: Number(item.size ?? 0),
        storage: this.#importStorage,
        source: url === undefined ? { kind: 'disk' as const } : { kind: 'url' as const, url },
        cached: false,
        createdAt: iso(Number(item.ctime ?? 0)),
      };
    });
  }

  /** Downloads `url` into the import storage unless a file of that name is there already. */
  async #download(
    url: string,
    name: string | undefined,
    node: string,
    options: DriverOptions,
  ): Promise<{ volid: string; upid?: string | undefined }> {
    const extension = /\.(qcow2|raw|vmdk)$/.exec(new URL(url).pathname)?.[1] ?? 'qcow2';
    // Named after the URL, so the same source is found again (images.caching); the name asked
    // for is reported by the import.
    const filename = `hvkit-${shortHash(url, 24)}.${extension}`;
    const volid = `${this.#importStorage}:import/${filename}`;
    const existing = await this.#get<{ volid: string }[]>(
      `/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(this.#importStorage)}/content`,
      { content: 'import' },
      options,
    );
    this.#imageUrls.set(volid, url);
    if (existing.some((item) => item.volid === volid)) return { volid };
    const upid = await this.#write<string>(
      'POST',
      `/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(this.#importStorage)}/download-url`,
      { url, content: 'import', filename },
      options,
    );
    if (name === undefined) await this.#waitUpid(upid, options);
    return { volid, upid };
  }

  async importImage(
    source: ImageImportSource,
    image: ParsedInput['importImageOptions'],
    options: DriverOptions,
  ): Promise<TaskStart> {
    if (source.kind !== 'url')
      throw new UnsupportedCapabilityError(
        source.kind === 'content-library' ? 'images.contentLibrary' : 'images.ovaImport',
        `Proxmox imports images from URLs (download-url); ${source.kind} is not supported`,
        { provider: this.name },
      );
    if (image.convertTo !== undefined)
      throw new UnsupportedCapabilityError(
        'images.conversion',
        'download-url stores the file as it comes',
        { provider: this.name },
      );
    if (image.storage !== undefined && image.storage !== this.#importStorage)
      throw new InvalidSpecError(
        [
          {
            path: 'storage',
            code: 'proxmox-import-storage',
            message: `images go to the import storage '${this.#importStorage}'`,
          },
        ],
        { subject: 'image options', provider: this.name },
      );
    const node = await this.#defaultNode(options);
    const stored = await this.#download(source.url, image.name, node, options);
    const ref: TaskRef = { k: 'image.import', i: stored.volid, url: source.url, nm: image.name };
    if (stored.upid === undefined) return this.#done({ ...ref, c: 1 }, options);
    return this.#started({ ...ref, u: stored.upid });
  }

  async deleteImage(id: string, options: DriverOptions): Promise<void> {
    const node = await this.#defaultNode(options);
    await this.#requireImage(id, node, options);
    const storage = id.split(':')[0] ?? '';
    const answer = await this.#write<unknown>(
      'DELETE',
      `/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(storage)}/content/${encodeURIComponent(id)}`,
      {},
      options,
    );
    if (isUpid(answer)) await this.#waitUpid(answer, options);
    this.#imageUrls.delete(id);
  }

  async importDisk(
    spec: ParsedInput['diskImportSpec'],
    source: AsyncIterable<Uint8Array>,
    options: DriverOptions,
  ): Promise<TaskStart> {
    if (spec.format === 'vhdx')
      throw new InvalidSpecError(
        [{ path: 'format', code: 'proxmox-format', message: 'Proxmox imports raw, qcow2 or vmdk' }],
        { subject: 'disk import', provider: this.name },
      );
    const storage = spec.storage ?? this.#importStorage;
    const node = await this.#defaultNode(options);
    // Proxmox takes an upload in one multipart request; the size is checked before sending and
    // the SHA-256 by Proxmox itself (`checksum`), so a bad stream leaves no file behind.
    const chunks: Uint8Array[] = [];
    let received = 0;
    for await (const chunk of source) {
      received += chunk.byteLength;
      if (received > spec.sizeBytes) break;
      chunks.push(chunk);
    }
    if (received !== spec.sizeBytes)
      throw new InvalidSpecError(
        [
          {
            path: 'sizeBytes',
            code: 'size-mismatch',
            message: `the stream delivered ${received > spec.sizeBytes ? 'more than' : received} bytes, not ${spec.sizeBytes}`,
          },
        ],
        { subject: 'disk import', provider: this.name },
      );
    const data = Buffer.concat(chunks);
    const sha256 = spec.sha256 ?? createHash('sha256').update(data).digest('hex');
    const filename = `${spec.name.replace(/[^-\w.+]/g, '_')}.${spec.format}`;
    const form = new UndiciFormData();
    form.set('content', 'import');
    form.set('checksum', sha256);
    form.set('checksum-algorithm', 'sha256');
    form.set('filename', new Blob([data]), filename);
    const url = `${this.#client.baseUrl}/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(storage)}/upload`;
    const response = await fetch(url, {
      method: 'POST',
      body: form,
      headers: await this.#client.authHeaders('POST', options.signal),
      dispatcher: this.#client.dispatcher,
      signal: options.signal,
    });
    const text = await response.text();
    if (!response.ok) {
      let message = response.statusText;
      let errors: Record<string, string> | undefined;
      try {
        const body = JSON.parse(text) as { message?: string; errors?: Record<string, string> };
        if (typeof body.message === 'string') message = body.message;
        errors = body.errors;
      } catch {
        // plain text body
      }
      throw errorFromResponse({
        method: 'POST',
        path: `/nodes/${node}/storage/${storage}/upload`,
        status: response.status,
        message,
        errors,
        options: { provider: this.name, redact: this.redact },
      });
    }
    const upid = (JSON.parse(text) as { data: string }).data;
    return this.#started({ k: 'disk.import', u: upid, i: `${storage}:import/${filename}` });
  }
}
