/**
 * Tasks of the libvirt provider. libvirt calls are synchronous (a `virsh start` returns when the
 * domain runs), so there is no backend task to observe: the driver runs the work itself and this
 * registry gives it the same `Task` life as every other provider's work — state, byte progress,
 * cancellation through an AbortSignal, and push updates (`watch`).
 *
 * Short work (power, reconfigure, mark as template…) is awaited before the driver answers and
 * handed to the core as a final snapshot; long work (create, clone, image and disk transfers)
 * runs in the background and is observed.
 *
 * A task id is `lv.` + base64url JSON of a {@link LibvirtTaskRef}: kind, the domain it acts on
 * or makes (a create picks its UUID before defining), the start time and a nonce. The registry
 * is shared by every provider instance of the same endpoint in this process; an id from another
 * process is answered from the host by the driver (see `LibvirtDriver.getTask`).
 */
import { randomBytes } from 'node:crypto';
import {
  type Clock,
  HvkitError,
  hasTaskKind,
  isFinalState,
  ProviderApiError,
  type SerializedError,
  type TaskIdCodec,
  type TaskProgress,
  type TaskSnapshot,
  type TaskStart,
  taskIdCodec,
} from '@hvkit/core';

/** What a libvirt task id carries. Holds no secrets: ids are logged and serialised. */
export interface LibvirtTaskRef {
  /** Core task kind, e.g. `vm.create`. */
  k: string;
  /** UUID of the domain the task acts on or makes. */
  v?: string | undefined;
  /** Start time, ms since the epoch. */
  at: number;
  /** Nonce; absent for keyed work, whose id must be the same on every retry. */
  n?: string | undefined;
  /** The work finished before its id was handed out (synchronous work). */
  s?: 1 | undefined;
  /** Extra result data (image id, snapshot id). */
  x?: Record<string, string> | undefined;
}

const codec = taskIdCodec({
  prefix: 'lv.',
  backend: 'libvirt',
  isRef: (value): value is LibvirtTaskRef =>
    hasTaskKind(value) && typeof (value as { at?: unknown }).at === 'number',
});

/** Encodes a task reference as a task id. */
export const encodeTaskId: (ref: LibvirtTaskRef) => string = codec.encode;
/** Decodes a task id; `NotFoundError` (task) for anything this provider did not mint. */
export const decodeTaskId: TaskIdCodec<LibvirtTaskRef>['decode'] = codec.decode;

/** What running work can do. */
export interface TaskWork {
  /** Aborted by `cancel()`; pass it to every virsh call. */
  readonly signal: AbortSignal;
  /** Reports progress (bytes, percent, message). */
  progress(update: TaskProgress): void;
}

/** Options of {@link LibvirtTasks.start}. */
export interface StartOptions {
  /** Run in the background and answer at once (long work). Default false: await it. */
  background?: boolean | undefined;
  /** `cancel()` can stop it. Default false. */
  cancelable?: boolean | undefined;
  /** Keyed work: an id of this ref that is already registered returns that task. */
  keyed?: boolean | undefined;
}

interface Entry {
  snapshot: TaskSnapshot;
  controller: AbortController;
  listeners: Set<() => void>;
  done: Promise<void>;
}

const REGISTRIES = new Map<string, LibvirtTasks>();
// Finished tasks stay answerable for an hour, then only the host can answer for them.
const KEEP_FINISHED_MS = 3_600_000;

function serialise(error: unknown, provider: string): SerializedError {
  if (HvkitError.isInstance(error)) return error.toJSON();
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderApiError(`libvirt task failed: ${message}`, { provider }).toJSON();
}

/** The in-process task registry of one libvirt endpoint. */
export class LibvirtTasks {
  readonly #provider: string;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();

  private constructor(provider: string, clock: Clock) {
    this.#provider = provider;
    this.#clock = clock;
  }

  /** The registry of `endpoint` (user@host:port/uri and provider name) in this process. */
  static for(endpoint: string, provider: string, clock: Clock): LibvirtTasks {
    const key = `${provider}\u0000${endpoint}`;
    let registry = REGISTRIES.get(key);
    if (registry === undefined) {
      registry = new LibvirtTasks(provider, clock);
      REGISTRIES.set(key, registry);
    }
    return registry;
  }

  /** A fresh task ref for `kind` (with a nonce unless keyed). */
  ref(kind: string, uuid?: string, keyed = false): LibvirtTaskRef {
    return {
      k: kind,
      ...(uuid === undefined ? {} : { v: uuid }),
      at: this.#clock.now(),
      ...(keyed ? {} : { n: randomBytes(6).toString('base64url') }),
    };
  }

  /**
   * Runs `work` as a task. Foreground: resolves with the final snapshot once it succeeded, and
   * rejects with its error (no task exists then). Background: resolves at once with the running
   * snapshot; failures end the task `failed`, an abort through `cancel()` ends it `canceled`.
   */
  async start(
    ref: LibvirtTaskRef,
    work: (task: TaskWork) => Promise<unknown>,
    options: StartOptions = {},
  ): Promise<TaskStart> {
    this.#prune();
    const id = encodeTaskId(options.background || options.keyed ? ref : { ...ref, s: 1 });
    const existing = this.#entries.get(id);
    if (existing !== undefined && options.keyed)
      return { taskId: id, snapshot: { ...existing.snapshot } };
    const now = new Date(this.#clock.now()).toISOString();
    const controller = new AbortController();
    const entry: Entry = {
      snapshot: {
        id,
        provider: this.#provider,
        kind: ref.k,
        state: 'running',
        progress: {},
        cancelable: options.cancelable ?? false,
        // Keyed ids carry no time (`at: 0`): the snapshot still says when this run started.
        createdAt: new Date(ref.at === 0 ? this.#clock.now() : ref.at).toISOString(),
        startedAt: now,
      },
      controller,
      listeners: new Set(),
      done: Promise.resolve(),
    };
    const handle: TaskWork = {
      signal: controller.signal,
      progress: (update) => {
        if (isFinalState(entry.snapshot.state)) return;
        entry.snapshot = { ...entry.snapshot, progress: { ...entry.snapshot.progress, ...update } };
        this.#notify(entry);
      },
    };
    if (!options.background) {
      // Not registered before it succeeded: a failure throws and leaves no task behind.
      const result = await work(handle);
      this.#finish(entry, 'succeeded', result);
      this.#entries.set(id, entry);
      return { taskId: id, snapshot: { ...entry.snapshot } };
    }
    this.#entries.set(id, entry);
    entry.done = (async () => {
      try {
        const result = await work(handle);
        this.#finish(entry, 'succeeded', result);
      } catch (error) {
        if (controller.signal.aborted) this.#finish(entry, 'canceled', undefined, error);
        else this.#finish(entry, 'failed', undefined, error);
      }
    })();
    return { taskId: id, snapshot: { ...entry.snapshot } };
  }

  /** The snapshot of a task this process knows, else undefined. */
  get(id: string): TaskSnapshot | undefined {
    const entry = this.#entries.get(id);
    return entry === undefined ? undefined : { ...entry.snapshot };
  }

  /** Yields the snapshot now and on every change, ending after a final one. */
  async *watch(id: string, signal?: AbortSignal): AsyncIterable<TaskSnapshot> {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    let changed: (() => void) | undefined;
    const listener = () => changed?.();
    entry.listeners.add(listener);
    try {
      let last: TaskSnapshot | undefined;
      for (;;) {
        signal?.throwIfAborted();
        const current = entry.snapshot;
        if (current !== last) {
          last = current;
          yield { ...current };
          if (isFinalState(current.state)) return;
          continue;
        }
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(signal?.reason);
          changed = () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          };
          signal?.addEventListener('abort', onAbort, { once: true });
          if (entry.snapshot !== last) changed();
        });
      }
    } finally {
      entry.listeners.delete(listener);
    }
  }

  /**
   * Asks a running task to stop (its work sees `signal` aborted and cleans up). False when the
   * task is unknown here, already final or not cancelable.
   */
  cancel(id: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined || isFinalState(entry.snapshot.state) || !entry.snapshot.cancelable)
      return false;
    entry.controller.abort(new Error('task canceled'));
    return true;
  }

  /** Waits for every background task to end (used on close and in tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((entry) => entry.done));
  }

  #finish(
    entry: Entry,
    state: 'succeeded' | 'failed' | 'canceled',
    result?: unknown,
    error?: unknown,
  ): void {
    const finishedAt = new Date(this.#clock.now()).toISOString();
    const snapshot: TaskSnapshot = { ...entry.snapshot, state, cancelable: false, finishedAt };
    if (state === 'succeeded') {
      if (result !== undefined) snapshot.result = result;
      if (snapshot.progress.bytesTotal !== undefined)
        snapshot.progress = { ...snapshot.progress, bytesDone: snapshot.progress.bytesTotal };
    } else if (error !== undefined || state === 'failed') {
      snapshot.error = serialise(error, this.#provider);
    }
    entry.snapshot = snapshot;
    this.#notify(entry);
  }

  #notify(entry: Entry): void {
    for (const listener of entry.listeners) listener();
  }

  #prune(): void {
    const horizon = this.#clock.now() - KEEP_FINISHED_MS;
    for (const [id, entry] of this.#entries) {
      const finished = entry.snapshot.finishedAt;
      if (finished !== undefined && Date.parse(finished) < horizon) this.#entries.delete(id);
    }
  }
}
