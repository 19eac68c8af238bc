/**
 * `@hvkit/proxmox/simulator`: a Proxmox VE API server on loopback HTTPS that enforces the official
 * API schema of PVE 8.4 or 9.1 and reproduces the recorded wire behaviour (error texts, status
 * lines, Perl-loose typing, tasks and UPIDs, tickets and API tokens).
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { type Clock, systemClock } from '@hvkit/core';
import { type SimulatorToken, type SimulatorUser, TicketAuthority } from './auth.js';
import { generateCertificate } from './certificate.js';
import { type HandlerTable, type SimulatorContext, VmLocks } from './context.js';
import { FaultInjector, type SimulatorFaults } from './faults.js';
import { accessHandlers } from './handlers/access.js';
import { clusterHandlers } from './handlers/cluster.js';
import { qemuHandlers } from './handlers/qemu.js';
import { qemuCloneHandlers } from './handlers/qemu-clone.js';
import { qemuConfigHandlers } from './handlers/qemu-config.js';
import { qemuConsoleHandlers } from './handlers/qemu-console.js';
import { qemuPowerHandlers } from './handlers/qemu-power.js';
import { qemuSnapshotHandlers } from './handlers/qemu-snapshot.js';
import { storageHandlers } from './handlers/storage.js';
import { taskHandlers } from './handlers/tasks.js';
import { endpointSchemas, type PveVersion } from './schema.js';
import { createDispatcher, type ObservedRequest } from './server.js';
import { SimulatorState, type StorageDefinition } from './state.js';
import { TaskManager } from './tasks.js';

export type { SimulatorToken, SimulatorUser } from './auth.js';
export type { RequestMatcher, SimulatorFaults } from './faults.js';
export type { PveVersion } from './schema.js';
export type { ObservedRequest } from './server.js';
export type {
  AgentBehaviour,
  AgentInterface,
  HaResource,
  PoolState,
  SimulatorState,
  SnapshotInfo,
  StorageDefinition,
  VmState,
  Volume,
} from './state.js';
export type { SimulatedTask } from './tasks.js';
export { formatUpid, parseUpid, type Upid } from './upid.js';

/** Options of {@link startProxmoxSimulator}. */
export interface ProxmoxSimulatorOptions {
  /** Which PVE release's schema and texts to reproduce (default `'9.1'`). */
  version?: PveVersion;
  /** Cluster node names (default `['pve1', 'pve2', 'pve3']`). */
  nodes?: string[];
  /** Port on 127.0.0.1 (default 0: any free port). */
  port?: number;
  /** Password of `root@pam` (default `'simulator'`), ignored when `users` is given. */
  rootPassword?: string;
  /** Users (default: `root@pam` with all privileges). */
  users?: SimulatorUser[];
  /** API tokens (default none). */
  tokens?: SimulatorToken[];
  /** Clock for tickets and task timing (default the system clock). */
  clock?: Clock;
  /** Storage definitions (default `local` dir for iso/vztmpl/import/snippets, `local-lvm` lvmthin). */
  storage?: StorageDefinition[];
  /** Resource pools (default `['hvkit']`). */
  pools?: string[];
  /** Bridges present on every node (default `['vmbr0', 'vmbr1']`). */
  bridges?: string[];
  /** Work time of each task in ms on the clock (default 50). */
  taskDurationMs?: number;
  /** How long a config lock waits before "got timeout", in ms on the clock (default 10 000). */
  lockTimeoutMs?: number;
  /** Delay before answering a 401, in real ms (default 0; Proxmox waits about 3 s). */
  authFailureDelayMs?: number;
  /**
   * Error bodies as libpve-http-server-perl < 5.2 (PVE ≤ 8.2) wrote them: no `message` field and
   * empty bodies for auth errors (default false: both 8.4 and 9.1 ship ≥ 5.2).
   */
  legacyErrorBodies?: boolean;
  /**
   * Check every answer against the endpoint's `returns` schema and answer 500 naming the
   * mismatch (default false; the simulator's own tests turn it on).
   */
  verifyReturns?: boolean;
  /** Called with every request as received (before auth and validation), e.g. to record traffic. */
  onRequest?: (request: ObservedRequest) => void;
}

/** A running simulator. */
export interface ProxmoxSimulator {
  /** Base URL, e.g. `https://127.0.0.1:41234` (the API is under `/api2/json`). */
  url: string;
  port: number;
  /** The self-signed server certificate (use it as the CA). */
  certificatePem: string;
  /** SHA-256 of the certificate, colon hex as Node's `cert.fingerprint256`. */
  fingerprint256: string;
  version: PveVersion;
  clock: Clock;
  faults: SimulatorFaults;
  /** The cluster state, for seeding and inspection in tests. */
  state: SimulatorState;
  /** Waits until no task is running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_STORAGE: StorageDefinition[] = [
  {
    id: 'local',
    type: 'dir',
    content: ['iso', 'vztmpl', 'import', 'snippets'],
    totalBytes: 100 * 1024 ** 3,
  },
  { id: 'local-lvm', type: 'lvmthin', content: ['images', 'rootdir'], totalBytes: 500 * 1024 ** 3 },
];

/** Starts the simulator on 127.0.0.1 and resolves once it listens. */
export async function startProxmoxSimulator(
  options: ProxmoxSimulatorOptions = {},
): Promise<ProxmoxSimulator> {
  const version = options.version ?? '9.1';
  const clock = options.clock ?? systemClock;
  const certificate = await generateCertificate();
  const users = options.users ?? [
    { userid: 'root@pam', password: options.rootPassword ?? 'simulator' },
  ];
  const tokens = options.tokens ?? [];
  const tickets = new TicketAuthority(clock);
  const faults = new FaultInjector(() => tickets.expireAll());
  const state = new SimulatorState(
    options.nodes ?? ['pve1', 'pve2', 'pve3'],
    options.storage ?? DEFAULT_STORAGE,
    options.bridges ?? ['vmbr0', 'vmbr1'],
  );
  for (const poolid of options.pools ?? ['hvkit'])
    state.pools.set(poolid, { poolid, vms: new Set() });
  const tasks = new TaskManager({
    clock,
    durationMs: options.taskDurationMs ?? 50,
    extraDelay: (type) => faults.takeTaskDelay(type),
    injectedWarnings: (type) => faults.takeTaskWarnings(type),
  });
  const context: SimulatorContext = {
    version,
    clock,
    state,
    tasks,
    faults,
    tickets,
    locks: new VmLocks(clock, faults, options.lockTimeoutMs ?? 10_000),
    schemas: endpointSchemas(version),
    certificatePem: certificate.certificatePem,
    certificateFingerprint: certificate.fingerprint256,
  };
  const handlers: HandlerTable = {
    ...accessHandlers(users, tokens),
    ...clusterHandlers,
    ...qemuHandlers,
    ...qemuConfigHandlers,
    ...qemuPowerHandlers,
    ...qemuSnapshotHandlers,
    ...qemuCloneHandlers,
    ...qemuConsoleHandlers,
    ...storageHandlers,
    ...taskHandlers,
  };
  const server: Server = createServer(
    { cert: certificate.certificatePem, key: certificate.privateKeyPem },
    createDispatcher({
      context,
      handlers,
      users,
      tokens,
      authFailureDelayMs: options.authFailureDelayMs ?? 0,
      legacyErrorBodies: options.legacyErrorBodies ?? false,
      verifyReturns: options.verifyReturns ?? false,
      onRequest: options.onRequest,
    }),
  );
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    certificatePem: certificate.certificatePem,
    fingerprint256: certificate.fingerprint256,
    version,
    clock,
    faults,
    state,
    idle: () => tasks.idle(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
