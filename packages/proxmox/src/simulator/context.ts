import type { Clock } from '@hvkit/core';
import type { Principal, TicketAuthority } from './auth.js';
import { ApiError, die, lockTimeoutMessage, noSuchVm, TaskError } from './errors.js';
import type { FaultInjector } from './faults.js';
import type { EndpointSchema, PveVersion } from './schema.js';
import type { SimulatorState, VmState } from './state.js';
import type { TaskContext, TaskManager } from './tasks.js';

/** Everything a handler may touch. */
export interface SimulatorContext {
  version: PveVersion;
  clock: Clock;
  state: SimulatorState;
  tasks: TaskManager;
  faults: FaultInjector;
  tickets: TicketAuthority;
  locks: VmLocks;
  schemas: Record<string, EndpointSchema>;
  certificatePem: string;
  /** SHA-256 fingerprint of the certificate, colon hex. */
  certificateFingerprint: string;
}

/** A parsed, validated request as a handler sees it. */
export interface HandlerRequest {
  context: SimulatorContext;
  params: Record<string, string | number>;
  principal: Principal;
  /** An uploaded file (multipart `filename` part). */
  upload?: { filename: string; data: Buffer };
}

/** A list with the top-level `total` some endpoints add. */
export class WithTotal {
  constructor(
    readonly data: unknown,
    readonly total: number,
  ) {}
}

export type Handler = (request: HandlerRequest) => unknown | Promise<unknown>;

/** Handlers keyed like the schema: `METHOD /path/{template}`. */
export type HandlerTable = Record<string, Handler>;

/**
 * Per-VM config locks (`/var/lock/qemu-server/lock-<vmid>.conf`): holders queue, a waiter gives
 * up after 10 s on the simulator clock with Proxmox's timeout text.
 */
export class VmLocks {
  readonly #held = new Map<number, Promise<void>>();

  constructor(
    readonly clock: Clock,
    readonly faults: FaultInjector,
    readonly timeoutMs = 10_000,
  ) {}

  isHeld(vmid: number): boolean {
    return this.#held.has(vmid);
  }

  async run<T>(vmid: number, body: () => Promise<T> | T): Promise<T> {
    if (this.faults.takeLockTimeout(vmid)) throw new Error(lockTimeoutMessage(vmid));
    const deadline = this.clock.now() + this.timeoutMs;
    for (;;) {
      const current = this.#held.get(vmid);
      if (!current) break;
      const remaining = deadline - this.clock.now();
      if (remaining <= 0) throw new Error(lockTimeoutMessage(vmid));
      const timer = new AbortController();
      const outcome = await Promise.race([
        current.then(() => 'released' as const),
        this.clock.sleep(remaining, timer.signal).then(
          () => 'timeout' as const,
          () => 'released' as const,
        ),
      ]);
      timer.abort();
      if (outcome === 'timeout' && this.#held.has(vmid)) throw new Error(lockTimeoutMessage(vmid));
    }
    let release = () => {};
    this.#held.set(
      vmid,
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    try {
      return await body();
    } finally {
      this.#held.delete(vmid);
      release();
    }
  }

  /** For synchronous handlers: a lock timeout becomes HTTP 500. */
  async runSync<T>(vmid: number, body: () => Promise<T> | T): Promise<T> {
    try {
      return await this.run(vmid, body);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith("can't lock file"))
        throw die(error.message);
      throw error;
    }
  }
}

/** The VM of `{node}/{vmid}`, or the real "does not exist" error. */
export function loadVm(request: HandlerRequest): VmState {
  const node = String(request.params.node);
  const vmid = Number(request.params.vmid);
  const vm = request.context.state.vms.get(vmid);
  if (!vm || vm.node !== node) throw noSuchVm(node, vmid);
  return vm;
}

/** PVE::AbstractConfig::check_lock: `VM is locked (<lock>)`. */
export function checkLock(vm: VmState, skiplock?: unknown): void {
  const lock = vm.config.lock;
  if (lock && !skiplock) throw die(`VM is locked (${lock})`);
}

/** Same check inside a worker: the task fails. */
export function checkLockInTask(vm: VmState): void {
  const lock = vm.config.lock;
  if (lock) throw new TaskError(`VM is locked (${lock})`);
}

/** `skiplock=1` is root@pam only. */
export function checkSkiplock(request: HandlerRequest): boolean {
  if (!request.params.skiplock) return false;
  if (request.principal.userid !== 'root@pam' || request.principal.tokenid) {
    throw new ApiError(400, 'Parameter verification failed.', {
      errors: { skiplock: 'Only root may use this option.' },
    });
  }
  return true;
}

/** Starts a worker as the requesting user and returns its UPID. */
export function forkWorker(
  request: HandlerRequest,
  type: string,
  id: string,
  body: (task: TaskContext) => Promise<void>,
  node = String(request.params.node),
): string {
  const user = request.principal.tokenid ?? request.principal.userid;
  return request.context.tasks.start(node, type, id, user, body).upid;
}

/** The node must be a cluster member (else the proxy's hostname lookup fails). */
export function checkNode(request: HandlerRequest): string {
  const node = String(request.params.node);
  if (!request.context.state.nodes.includes(node)) {
    throw die(
      `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`,
    );
  }
  return node;
}
