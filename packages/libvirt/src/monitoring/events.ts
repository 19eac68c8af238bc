/**
 * VM events for a libvirt host. libvirt keeps no event history: an {@link EventLog} listens with
 * one long-running `virsh event --all --loop --timestamp` (over the provider's SSH connection),
 * turns each printed line into a core `VmEvent` and keeps the newest ones in memory. Only what
 * happened while it listened is known: events before {@link EventLog.start}, and while the
 * listener is down (SSH connection lost, libvirtd restarted, until the listener is back), are
 * lost — {@link EventLog.gaps} says when.
 *
 * Measured on the bed (libvirt 9.0), what virsh prints per action (one line each, `<time>: event
 * '<type>' for domain '<name>'[: <detail>]`, time like `2026-11-21 17:58:06.135+0000`):
 * - define: `lifecycle … Defined Added`; define over an existing one: `Defined Updated`;
 *   undefine: `Undefined Removed`; domrename: `Undefined Renamed` (old name) then `Defined
 *   Renamed` (new name), same millisecond.
 * - start: `Resumed Unpaused` then `Started Booted` (1 ms apart); destroy: `Shutdown Finished
 *   after host request` then `Stopped Destroyed`; guest/ACPI shutdown: `Shutdown Finished after
 *   guest request` then `Stopped Shutdown`; suspend/resume: `Suspended Paused` / `Resumed
 *   Unpaused`; managedsave: `Suspended Paused` … `Stopped Saved`, its restore `Started Restored`
 *   then `Resumed Snapshot`; reboot and reset: THREE `reboot` lines within 120 ms each.
 * - snapshot revert to a running snapshot: `Started Snapshot`, `Resumed Snapshot`, `Defined
 *   Snapshot`; to a shut-off one: `Stopped Snapshot`, `Defined Snapshot`.
 * - `desc`/`metadata`: `metadata-change … type description, uri <null>`; attach-interface live:
 *   `device-added … net1`. `setvcpus --config` and `setmaxmem --config` print nothing.
 * - `job-completed` and `tunable` print extra tab-indented lines; they are skipped.
 *
 * The listener's life (measured in monitoring.bed.test.ts): killing the remote virsh ends the
 * channel and a new listener is up within ~1 s (restartDelayMs 200 there); after the SSH
 * connection drops, the next spawn reconnects, but the old session's virsh gets no signal (no
 * terminal) and can linger (seen in one of two runs) until its next write — the next event on
 * the host — fails on the closed pipe. `close()` ends the remote virsh at once (SIGTERM through OpenSSH), checked with `ps`.
 * virsh itself ends `event --loop` when its libvirtd connection closes (libvirtd restart):
 * virsh's disconnect handler calls vshEventDone (read in virsh.c, not provoked on the shared bed).
 *
 * How a driver holds it: one EventLog per provider, started right after the SSH connection
 * opens (NOT on the first `listEvents`: a VM created before would have no events, and the
 * conformance rule creates a VM, then asks for its events), `learn(name, uuid)` after each
 * define, `query` for `listEvents`, `close()` before closing the connection.
 */
import { StringDecoder } from 'node:string_decoder';
import type { VmEvent } from '@hvkit/core';
import type { SshProcess } from '@hvkit/ssh';
import type { Virsh } from '../virsh/virsh.js';
import { virshCommandLine } from '../virsh/virsh-quote.js';

/** One line of `virsh event --timestamp`, split up. */
export interface VirshEventLine {
  /** Milliseconds since the epoch (virsh's own clock on the host). */
  readonly timeMs: number;
  /** libvirt's event type: `lifecycle`, `reboot`, `agent-lifecycle`, … */
  readonly type: string;
  /** The domain's name (virsh prints names, not UUIDs). */
  readonly domain: string;
  /** What follows `for domain '<name>': `, or '' for none (`reboot`). */
  readonly detail: string;
}

const LINE =
  /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})([+-]\d\d)(\d\d): event '([a-z0-9-]+)' for domain '(.*)$/;

// The tail after `for domain '`, per event type. The name may hold anything, even `': `, so the
// name group is greedy and the detail's own shape is matched at the end of the line.
const LIFECYCLE_TAIL =
  /^(.*)': (Defined|Undefined|Started|Suspended|Resumed|Stopped|Shutdown|PMSuspended|Crashed) ?(.*)$/;
const BARE_TAIL = /^(.*)'$/;
const DETAIL_TAIL = /^(.*)':(?: (.*))?$/;

/**
 * Splits one line of `virsh event --all --loop --timestamp`; undefined for a line that is not an
 * event header (continuation lines of `job-completed`/`tunable`, blank lines).
 */
export function parseEventLine(line: string): VirshEventLine | undefined {
  const match = LINE.exec(line);
  if (!match) return undefined;
  const [, date, time, offsetHours, offsetMinutes, type = '', tail = ''] = match;
  const timeMs = Date.parse(`${date}T${time}${offsetHours}:${offsetMinutes}`);
  if (Number.isNaN(timeMs)) return undefined;
  const shaped =
    type === 'lifecycle'
      ? LIFECYCLE_TAIL.exec(tail)
      : (BARE_TAIL.exec(tail) ?? DETAIL_TAIL.exec(tail));
  if (!shaped) return undefined;
  const detail =
    type === 'lifecycle' ? `${shaped[2]} ${shaped[3] ?? ''}`.trim() : (shaped[2] ?? '').trim();
  return { timeMs, type, domain: shaped[1] ?? '', detail };
}

/** What a virsh event means for hvkit: core's `vm-<verb>` type and a message. */
export interface EventMeaning {
  readonly type: string;
  readonly message: string;
}

function lifecycleMeaning(name: string, detail: string): EventMeaning | undefined {
  const [event = '', ...rest] = detail.split(' ');
  const reason = rest.join(' ');
  const vm = `VM ${JSON.stringify(name)}`;
  const meaning = (type: string, message: string) => ({ type, message: `${vm} ${message}` });
  switch (event) {
    case 'Defined':
      if (reason === 'Added') return meaning('vm-created', 'created');
      if (reason === 'Renamed') return meaning('vm-renamed', 'renamed');
      if (reason === 'Snapshot') return meaning('vm-snapshot-reverted', 'reverted to a snapshot');
      return meaning('vm-reconfigured', `reconfigured (${reason || 'updated'})`);
    case 'Undefined':
      // A rename prints `Undefined Renamed` for the old name and `Defined Renamed` for the new
      // one: the latter is the event.
      return reason === 'Renamed' ? undefined : meaning('vm-deleted', 'deleted');
    case 'Started':
      if (reason === 'Migrated') return meaning('vm-migrated', 'migrated in');
      if (reason === 'Restored') return meaning('vm-resumed', 'resumed from its saved state');
      if (reason === 'Snapshot') return meaning('vm-powered-on', 'started from a snapshot');
      return meaning('vm-powered-on', 'powered on');
    case 'Suspended':
      return meaning('vm-paused', `paused (${reason || 'paused'})`);
    case 'Resumed':
      return meaning('vm-resumed', 'resumed');
    case 'Stopped':
      if (reason === 'Shutdown') return meaning('vm-shut-down', 'shut down by its guest');
      if (reason === 'Saved') return meaning('vm-suspended', 'suspended (state saved to disk)');
      if (reason === 'Crashed') return meaning('vm-crashed', 'crashed');
      if (reason === 'Migrated') return meaning('vm-migrated', 'migrated out');
      if (reason === 'Snapshot') return meaning('vm-powered-off', 'stopped by a snapshot revert');
      if (reason === 'Failed') return meaning('vm-powered-off', 'failed to run');
      return meaning('vm-powered-off', 'powered off');
    case 'Shutdown':
      // Always followed by the `Stopped …` line that says how (measured): that one is the event.
      return undefined;
    case 'PMSuspended':
      return meaning('vm-suspended', `suspended by its guest (${reason || 'memory'})`);
    case 'Crashed':
      return meaning('vm-crashed', `crashed (${reason || 'panicked'})`);
    default:
      return undefined;
  }
}

/**
 * The core meaning of a parsed virsh event, or undefined for events hvkit does not report
 * (agent connects, balloon changes, job progress, block jobs, the `Shutdown` line before
 * `Stopped`, the old name's half of a rename).
 */
export function eventMeaning(event: VirshEventLine): EventMeaning | undefined {
  const vm = `VM ${JSON.stringify(event.domain)}`;
  switch (event.type) {
    case 'lifecycle':
      return lifecycleMeaning(event.domain, event.detail);
    case 'reboot':
      return { type: 'vm-rebooted', message: `${vm} rebooted` };
    case 'metadata-change':
      return { type: 'vm-reconfigured', message: `${vm} metadata changed (${event.detail})` };
    case 'device-added':
      return { type: 'vm-reconfigured', message: `${vm} device ${event.detail} added` };
    case 'device-removed':
      return { type: 'vm-reconfigured', message: `${vm} device ${event.detail} removed` };
    default:
      return undefined;
  }
}

/** Looks a domain name up: its UUID, or undefined when no domain has that name (now). */
export type DomainResolver = (name: string) => Promise<string | undefined>;

/** Options of {@link EventLog}. */
export interface EventLogOptions {
  /** Provider instance name (`VmEvent.vm.provider`). */
  provider: string;
  /**
   * Name → UUID. Default: `virsh domuuid -- <name>` (undefined when it fails). Results are cached
   * until the name is undefined or renamed away.
   */
  resolve?: DomainResolver | undefined;
  /** Most events kept (the oldest go first). Default 10 000. */
  capacity?: number | undefined;
  /** First wait before restarting a listener that ended; doubles up to 30 s. Default 1000 ms. */
  restartDelayMs?: number | undefined;
  /**
   * On each (re)connect, learn every domain's name and UUID (`list --all --uuid --name`, one
   * exec) before handling events, so that undefining a domain the log never saw defined still
   * names its VM. Default true.
   */
  preload?: boolean | undefined;
  /** Told about listener failures (they are retried; never thrown). */
  onError?: ((error: unknown) => void) | undefined;
}

/** Query of {@link EventLog.query}. */
export interface EventLogQuery {
  /** Only events of this VM (domain UUID). */
  vmId?: string | undefined;
  /** Only events at or after this time (ISO 8601 or epoch ms). */
  since?: string | number | undefined;
  /** Most events returned, newest first. Default 100. */
  limit?: number | undefined;
}

/** A time range in which the listener was down: events in it are lost. */
export interface EventGap {
  /** ISO 8601: when the listener ended (or first failed to start). */
  readonly from: string;
  /** ISO 8601: when the next listener was ready; undefined while it is still down. */
  to?: string | undefined;
}

interface StoredEvent {
  readonly seq: number;
  readonly timeMs: number;
  readonly type: string;
  readonly vmId: string | undefined;
  readonly message: string;
  /** libvirt's lifecycle event word (`Started`, `Resumed`, …); '' for other event types. */
  readonly lifecycle: string;
  /** A `Resumed` line that a `Started` of the same VM close by makes redundant. */
  readonly foldable: boolean;
}

// Lines of one action that arrive this close together are one event (measured: 1 ms between
// `Resumed Unpaused` and `Started Booted`, 120 ms across the three `reboot` lines).
const SAME_ACTION_MS = 1000;
const MAX_RESTART_DELAY_MS = 30_000;
// A listener that ran this long was healthy: the next restart waits the shortest delay again.
const HEALTHY_RUN_MS = 60_000;
const MAX_GAPS = 100;
const CLOSE_WAIT_MS = 5000;

/** The virsh command string of the listener: `uri` first, whose output line says virsh is connected. */
const LISTENER_ARGS = [
  `${virshCommandLine(['uri'])}; ${virshCommandLine(['event', '--all', '--loop', '--timestamp'])}`,
];

/**
 * An in-memory log of the host's VM events, fed by one remote `virsh event --loop`. Start it
 * once per provider connection, BEFORE the operations whose events should be seen (see
 * {@link start}); ask it with {@link query}; {@link close} ends the remote virsh.
 */
export class EventLog {
  readonly #virsh: Virsh;
  readonly #provider: string;
  readonly #resolve: DomainResolver;
  readonly #capacity: number;
  readonly #restartDelayMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #preload: boolean;
  readonly #idPrefix: string;
  #events: StoredEvent[] = [];
  #seq = 0;
  readonly #uuids = new Map<string, string>();
  #gaps: EventGap[] = [];
  #process: SshProcess | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;
  #connected = false;
  #wake: (() => void) | undefined;
  #ready: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  #readyPromise: Promise<void> | undefined;
  #queue: Promise<void> = Promise.resolve();
  #renamedFrom: { name: string; timeMs: number } | undefined;

  /**
   * @param virsh The provider's virsh (its SSH connection must stay open while the log runs; the
   *   listener holds one SSH channel for as long as it runs).
   */
  constructor(virsh: Virsh, options: EventLogOptions) {
    this.#virsh = virsh;
    this.#provider = options.provider;
    this.#resolve = options.resolve ?? ((name) => this.#domuuid(name));
    this.#capacity = options.capacity ?? 10_000;
    this.#restartDelayMs = options.restartDelayMs ?? 1000;
    this.#onError = options.onError ?? (() => {});
    this.#preload = options.preload ?? true;
    // Ids are unique across the logs of one process and stable for the log's life.
    this.#idPrefix = `lv-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  }

  /**
   * Starts listening (once: later calls while it starts return the same promise, while it runs a
   * resolved one, and after a failure wait for the background retry). Resolves when
   * virsh is connected to libvirtd (it has printed the `uri` line; the event callbacks are
   * registered a few ms later, in the same process — an action in that window may be missed).
   * Rejects with the first failure (SSH, virsh) — the log keeps retrying in the background
   * until {@link close}, recording a gap. Resolves at once when closed before it was ready.
   */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the event log is closed'));
    if (this.#connected) return Promise.resolve();
    // Pending: the same promise. Running but down (a failed start, a restart under way): the
    // next listener's outcome.
    if (this.#ready && this.#readyPromise) return this.#readyPromise;
    this.#readyPromise = new Promise<void>((resolve, reject) => {
      this.#ready = { resolve, reject };
    });
    this.#loop ??= this.#run();
    return this.#readyPromise;
  }

  /** True while a listener is connected to libvirtd. */
  get listening(): boolean {
    return this.#connected;
  }

  /** Periods in which no listener ran (newest last, at most 100). */
  get gaps(): readonly EventGap[] {
    return this.#gaps.map((gap) => ({ ...gap }));
  }

  /**
   * Tells the log a domain's UUID (the driver knows it after `define`/`create`), so that its
   * events resolve without a lookup, even when the domain is undefined before the lookup.
   */
  learn(name: string, uuid: string): void {
    this.#uuids.set(name, uuid);
  }

  /**
   * Adds an event the driver knows of but libvirt does not report (measured: a snapshot's
   * creation prints nothing of its own — a memory snapshot shows only as `Suspended Paused` then
   * `Resumed Unpaused` — nor do clones or template marks). Stamped now unless `timeMs` is given.
   */
  record(event: {
    type: string;
    vmId?: string | undefined;
    message: string;
    timeMs?: number;
  }): void {
    this.#events.push({
      seq: ++this.#seq,
      timeMs: event.timeMs ?? Date.now(),
      type: event.type,
      vmId: event.vmId,
      message: event.message,
      lifecycle: '',
      foldable: false,
    });
  }

  /**
   * Events, newest first: of one VM (`vmId`), at or after `since`, at most `limit` (default 100).
   * Events whose domain could not be resolved to a UUID have no `vm` and match no `vmId`.
   * Without `vmId`, each time the listener was down is an event too: type `events-gap`, no `vm`,
   * at the time it went down, saying until when (or that it is still down) events may be
   * missing.
   */
  query(query: EventLogQuery = {}): VmEvent[] {
    const limit = query.limit ?? 100;
    const since =
      query.since === undefined
        ? undefined
        : typeof query.since === 'number'
          ? query.since
          : Date.parse(query.since);
    const gaps: StoredEvent[] =
      query.vmId === undefined
        ? this.#gaps.map((gap, index) => ({
            // After every real event of the same millisecond: a gap starts when the last one ended.
            seq: Number.MAX_SAFE_INTEGER - this.#gaps.length + index,
            timeMs: Date.parse(gap.from),
            type: 'events-gap',
            vmId: undefined,
            message:
              gap.to === undefined
                ? `the libvirt event listener is down since ${gap.from}: events from then on are missing`
                : `the libvirt event listener was down from ${gap.from} to ${gap.to}: events of that time are missing`,
            lifecycle: '',
            foldable: false,
          }))
        : [];
    const ordered = [...this.#events.slice(-this.#capacity), ...gaps].sort(
      (a, b) => b.timeMs - a.timeMs || b.seq - a.seq,
    );
    const out: VmEvent[] = [];
    for (const event of ordered) {
      if (out.length >= limit) break;
      if (since !== undefined && event.timeMs < since) break;
      if (query.vmId !== undefined && event.vmId !== query.vmId) continue;
      out.push(this.#toVmEvent(event));
    }
    return out;
  }

  /**
   * Feeds one line as if virsh had printed it (tests; a driver replaying recorded output). Lines
   * are handled in order; the promise resolves once this one is stored.
   */
  ingest(line: string): Promise<void> {
    this.#queue = this.#queue.then(() => this.#handle(line)).catch(this.#onError);
    return this.#queue;
  }

  /**
   * Stops listening: the remote virsh gets SIGTERM (OpenSSH signals its process group) and the
   * channel closes; waits for it to end (at most 5 s). The events stay queryable.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#process?.kill('SIGTERM');
    this.#wake?.();
    // Nothing left to wait for: a pending start() settles (closed before it was ready).
    this.#ready?.resolve();
    this.#ready = undefined;
    const loop = this.#loop;
    if (loop) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        loop,
        new Promise((resolve) => {
          timer = setTimeout(resolve, CLOSE_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    await this.#queue;
  }

  #toVmEvent(event: StoredEvent): VmEvent {
    return {
      id:
        event.type === 'events-gap'
          ? `${this.#idPrefix}-gap-${event.timeMs}`
          : `${this.#idPrefix}-${event.seq}`,
      time: new Date(event.timeMs).toISOString(),
      type: event.type,
      ...(event.vmId === undefined ? {} : { vm: { provider: this.#provider, id: event.vmId } }),
      message: event.message,
    };
  }

  async #domuuid(name: string): Promise<string | undefined> {
    try {
      const out = await this.#virsh.run(['domuuid', '--', name], { idempotent: true });
      return out.trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /** Learns every domain's UUID from one `list --all --uuid --name` (lines `<uuid> <name>`). */
  async #learnAll(): Promise<void> {
    try {
      const out = await this.#virsh.run(['list', '--all', '--uuid', '--name'], {
        idempotent: true,
      });
      for (const line of out.split('\n')) {
        const match = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) (.+)$/.exec(
          line,
        );
        if (match?.[1] && match[2]) this.#uuids.set(match[2], match[1]);
      }
    } catch (error) {
      // Events still resolve one by one.
      this.#onError(error);
    }
  }

  async #uuidOf(name: string, fresh: boolean): Promise<string | undefined> {
    const known = this.#uuids.get(name);
    if (known !== undefined && !fresh) return known;
    const found = await this.#resolve(name);
    // A domain defined and undefined at once cannot be looked up: keep what the driver taught.
    if (found === undefined) return known;
    this.#uuids.set(name, found);
    return found;
  }

  async #handle(line: string): Promise<void> {
    const parsed = parseEventLine(line);
    if (!parsed) return;
    const isLifecycle = parsed.type === 'lifecycle';
    const [event = '', reason = ''] = isLifecycle ? parsed.detail.split(' ') : [];
    if (isLifecycle && event === 'Undefined' && reason === 'Renamed') {
      this.#renamedFrom = { name: parsed.domain, timeMs: parsed.timeMs };
    }
    const meaning = eventMeaning(parsed);
    // A new definition may reuse a name whose earlier domain was undefined: look it up again.
    const fresh = isLifecycle && event === 'Defined' && reason !== 'Updated';
    const vmId =
      meaning || event === 'Undefined' ? await this.#uuidOf(parsed.domain, fresh) : undefined;
    if (isLifecycle && event === 'Undefined') {
      // The name is free now; a later domain of that name is another VM.
      this.#uuids.delete(parsed.domain);
    }
    if (!meaning) return;
    let message = meaning.message;
    if (meaning.type === 'vm-renamed' && this.#renamedFrom) {
      message = `${message} from ${JSON.stringify(this.#renamedFrom.name)}`;
      this.#renamedFrom = undefined;
    }
    if (this.#redundant(meaning.type, vmId, parsed.timeMs, event, reason)) return;
    this.#events.push({
      seq: ++this.#seq,
      timeMs: parsed.timeMs,
      type: meaning.type,
      vmId,
      message,
      lifecycle: event,
      foldable: event === 'Resumed' && (reason === 'Unpaused' || reason === 'Snapshot'),
    });
    // Trim in steps, not per event, so that a full log costs no copy per line.
    if (this.#events.length > this.#capacity + 1000) {
      this.#events = this.#events.slice(-this.#capacity);
    }
  }

  /**
   * Drops the extra lines of one action (see the module comment): repeated `reboot` lines, and
   * the `Resumed` line next to a `Started` of the same VM (start, restore, snapshot revert). A
   * `Started` removes a foldable `Resumed` stored just before it.
   */
  #redundant(
    type: string,
    vmId: string | undefined,
    timeMs: number,
    event: string,
    reason: string,
  ): boolean {
    const recent = (predicate: (stored: StoredEvent) => boolean) => {
      for (let index = this.#events.length - 1; index >= 0; index--) {
        const stored = this.#events[index] as StoredEvent;
        if (timeMs - stored.timeMs > SAME_ACTION_MS) return -1;
        if (stored.vmId === vmId && predicate(stored)) return index;
      }
      return -1;
    };
    if (vmId === undefined) return false;
    if (type === 'vm-rebooted') return recent((stored) => stored.type === 'vm-rebooted') >= 0;
    if (event === 'Resumed' && (reason === 'Unpaused' || reason === 'Snapshot')) {
      return recent((stored) => stored.lifecycle === 'Started') >= 0;
    }
    if (event === 'Started') {
      const index = recent((stored) => stored.foldable);
      if (index >= 0) this.#events.splice(index, 1);
    }
    return false;
  }

  #gapOpen(): boolean {
    const last = this.#gaps[this.#gaps.length - 1];
    return last !== undefined && last.to === undefined;
  }

  #openGap(): void {
    if (this.#gapOpen()) return;
    this.#gaps.push({ from: new Date().toISOString() });
    if (this.#gaps.length > MAX_GAPS) this.#gaps.shift();
  }

  #closeGap(): void {
    const last = this.#gaps[this.#gaps.length - 1];
    if (last && last.to === undefined) last.to = new Date().toISOString();
  }

  async #run(): Promise<void> {
    let delay = this.#restartDelayMs;
    while (!this.#closed) {
      const startedAt = Date.now();
      try {
        await this.#listenOnce();
      } catch (error) {
        if (this.#ready) {
          this.#ready.reject(error);
          this.#ready = undefined;
        }
        if (!this.#closed) this.#onError(error);
      }
      this.#process = undefined;
      this.#connected = false;
      if (this.#closed) break;
      this.#openGap();
      delay = Date.now() - startedAt > HEALTHY_RUN_MS ? this.#restartDelayMs : delay;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
      delay = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
    }
  }

  /** One listener's life: spawn, read lines until the remote virsh ends. */
  async #listenOnce(): Promise<void> {
    const child = await this.#virsh.spawn(LISTENER_ARGS, { maxStderrBytes: 64 * 1024 });
    this.#process = child;
    if (this.#closed) child.kill('SIGTERM');
    const decoder = new StringDecoder('utf8');
    let pending = '';
    let connected = false;
    const onLine = (line: string) => {
      if (!connected) {
        // The `uri` command's line: virsh is connected; `event` registers right after it.
        connected = true;
        this.#connected = true;
        this.#closeGap();
        // Names first (events wait in the queue behind it), then the log is ready.
        if (this.#preload) this.#queue = this.#queue.then(() => this.#learnAll());
        void this.#queue.then(() => {
          this.#ready?.resolve();
          this.#ready = undefined;
        });
        return;
      }
      void this.ingest(line);
    };
    for await (const chunk of child.stdout) {
      pending += decoder.write(chunk);
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        onLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
    }
    pending += decoder.end();
    if (pending) onLine(pending);
    const exit = await child.exit;
    if (!this.#closed) {
      const stderr = exit.stderr.toString('utf8').trim();
      throw new Error(
        `virsh event ended (exit ${exit.code ?? exit.signal ?? 'unknown'})${stderr ? `: ${stderr}` : ''}`,
      );
    }
  }
}
