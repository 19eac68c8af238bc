import { z } from 'zod';
import { type BackoffOptions, backoffDelay } from './backoff.js';
import { type Clock, systemClock } from './clock.js';
import {
  deserializeError,
  ERROR_CODES,
  HvkitError,
  InvalidSpecError,
  ProviderApiError,
  type SerializedError,
  TaskFailedError,
  TimeoutError,
  UnsupportedCapabilityError,
} from './errors.js';
import { redact } from './redact.js';

/** Lifecycle states of a task. `succeeded`, `failed` and `canceled` are final. */
export const TaskStateSchema = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']);
/** See {@link TaskStateSchema}. */
export type TaskState = z.infer<typeof TaskStateSchema>;

/** True for `succeeded`, `failed` and `canceled`. */
export function isFinalState(state: TaskState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'canceled';
}

/** Progress as far as the backend reports it. All fields optional. */
export const TaskProgressSchema = z.object({
  /** 0–100. */
  percent: z.number().min(0).max(100).optional(),
  bytesDone: z.number().nonnegative().optional(),
  bytesTotal: z.number().nonnegative().optional(),
  message: z.string().optional(),
});
/** See {@link TaskProgressSchema}. */
export type TaskProgress = z.infer<typeof TaskProgressSchema>;

const SerializedErrorSchema = z.object({
  name: z.string(),
  code: z.enum(ERROR_CODES),
  message: z.string(),
  provider: z.string().optional(),
  retryable: z.boolean(),
  details: z.record(z.string(), z.unknown()).optional(),
});

/** A backend task at one moment, as a provider reports it. Plain data. */
export const TaskSnapshotSchema = z.object({
  id: z.string().min(1),
  /** Provider instance name. */
  provider: z.string(),
  /** Operation, e.g. `vm.create`. */
  kind: z.string(),
  state: TaskStateSchema,
  progress: TaskProgressSchema,
  /** Whether `cancel()` can still work on the backend. */
  cancelable: z.boolean(),
  /** ISO 8601 timestamps. */
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  error: SerializedErrorSchema.optional(),
  /** JSON result of a succeeded task; decoded by the operation's result schema. */
  result: z.unknown().optional(),
});
/** See {@link TaskSnapshotSchema}. */
export type TaskSnapshot = z.infer<typeof TaskSnapshotSchema>;

/** The JSON a task serialises to, and `resumeTask` accepts. Contains no secrets. */
export const SerializedTaskSchema = z.object({
  type: z.literal('hvkit.task'),
  version: z.literal(1),
  provider: z.string().min(1),
  id: z.string().min(1),
  kind: z.string().min(1),
  state: TaskStateSchema,
  progress: TaskProgressSchema,
  createdAt: z.string().optional(),
});
/** See {@link SerializedTaskSchema}. */
export type SerializedTask = z.infer<typeof SerializedTaskSchema>;

/**
 * What a driver answers when it starts backend work: the backend task id, or the id with the
 * task's snapshot when the driver already has it — a synchronous backend (or one whose task ended
 * before the call returned) then needs no observation round trip at all.
 */
export type TaskStart = string | { taskId: string; snapshot?: TaskSnapshot | undefined };

/**
 * How the core observes a provider's tasks. Providers implement `getTask`; those with a push
 * channel (vSphere `WaitForUpdatesEx`) also implement `watchTask`, which the core prefers.
 */
export interface TaskSource {
  /** Provider instance name. */
  readonly name: string;
  getTask(id: string, options?: { signal?: AbortSignal | undefined }): Promise<TaskSnapshot>;
  /** Yields a snapshot whenever the task changes, ending after a final one. */
  watchTask?(
    id: string,
    options?: { signal?: AbortSignal | undefined },
  ): AsyncIterable<TaskSnapshot>;
  /** Present only when the provider declares `core.taskCancel`. */
  cancelTask?(id: string, options?: { signal?: AbortSignal | undefined }): Promise<void>;
}

/** Tuning shared by every task of a provider. */
export interface TaskSettings {
  /** Default {@link systemClock}. */
  clock?: Clock | undefined;
  /** Poll backoff. */
  backoff?: BackoffOptions | undefined;
  /** Consecutive retryable `getTask` failures tolerated before the wait fails. Default 5. */
  maxConsecutiveErrors?: number | undefined;
}

/** Options of one wait. */
export interface WaitOptions {
  /** Stop waiting with a `TimeoutError` after this long. The remote task goes on. */
  timeoutMs?: number | undefined;
  /** Stop waiting when aborted (rejects with the signal's reason). The remote task goes on. */
  signal?: AbortSignal | undefined;
}

/** One progress event: the state and progress when either changed. */
export interface TaskProgressEvent extends TaskProgress {
  state: TaskState;
}

type Listener = (snapshot: TaskSnapshot | undefined, error?: unknown) => void;

/**
 * A long operation on a backend: awaitable (`await task` waits without a timeout), observable
 * (`task.progress()`), serialisable (`JSON.stringify(task)`) and resumable in another process with
 * `provider.resumeTask(json)`. Providers create tasks; the core owns waiting, timeouts and backoff.
 *
 * A task starts at once; `submitted()` resolves with its id when the backend has accepted it.
 * Errors raised before submission (invalid input, unsupported capability) reject the task
 * without any task existing on the backend.
 */
export class Task<T> implements PromiseLike<T> {
  /** Provider instance name. */
  readonly provider: string;
  /** Operation, e.g. `vm.create`. */
  readonly kind: string;

  readonly #source: TaskSource;
  readonly #clock: Clock;
  readonly #settings: TaskSettings;
  readonly #decode: (raw: unknown) => T;
  readonly #submission: Promise<string>;
  #id: string | undefined;
  #last: TaskSnapshot | undefined;
  /** False while `#last` comes from JSON: it lacks the result and error, so it cannot settle a wait. */
  #observed: boolean;
  #submitError: unknown;
  #listeners = new Set<Listener>();
  #pumping = false;
  #completion: Promise<T> | undefined;
  #defaultWait: WaitOptions;

  /** @internal Use `Task.start` or `Task.resume`; providers go through `createProvider`. */
  constructor(
    source: TaskSource,
    kind: string,
    submission: Promise<TaskStart>,
    options: {
      decode: (raw: unknown) => T;
      settings?: TaskSettings | undefined;
      defaultWait?: WaitOptions | undefined;
      snapshot?: TaskSnapshot | undefined;
    },
  ) {
    this.provider = source.name;
    this.kind = kind;
    this.#source = source;
    this.#settings = options.settings ?? {};
    this.#clock = this.#settings.clock ?? systemClock;
    this.#decode = options.decode;
    this.#defaultWait = options.defaultWait ?? {};
    this.#last = options.snapshot;
    this.#observed = options.snapshot === undefined;
    // A resumed task knows its id at once, so it can be serialised again straight away.
    this.#id = options.snapshot?.id;
    this.#submission = submission.then(
      (start) => {
        const id = typeof start === 'string' ? start : start.taskId;
        if (typeof id !== 'string' || id === '') {
          throw new ProviderApiError(`provider ${source.name} started ${kind} without a task id`, {
            provider: source.name,
          });
        }
        this.#id = id;
        if (typeof start !== 'string' && start.snapshot !== undefined) {
          const snapshot = TaskSnapshotSchema.parse(start.snapshot);
          if (snapshot.id !== id) {
            throw new ProviderApiError(
              `provider ${source.name} answered task ${id} with a snapshot of ${snapshot.id}`,
              { provider: source.name },
            );
          }
          this.#record(snapshot);
        }
        return id;
      },
      (error: unknown) => {
        this.#submitError = error;
        throw error;
      },
    );
    // A task nobody awaits must not crash the process with an unhandled rejection.
    this.#submission.catch(() => {});
  }

  /** Starts a task: `submit` talks to the backend and resolves with the backend task id. */
  static start<T>(
    source: TaskSource,
    kind: string,
    submit: () => Promise<TaskStart>,
    options: {
      decode: (raw: unknown) => T;
      settings?: TaskSettings | undefined;
      defaultWait?: WaitOptions | undefined;
    },
  ): Task<T> {
    let submission: Promise<TaskStart>;
    try {
      submission = Promise.resolve(submit());
    } catch (error) {
      submission = Promise.reject(error);
    }
    return new Task(source, kind, submission, options);
  }

  /**
   * Rebuilds a task from `toJSON()` output, typically in another process. Invalid JSON raises
   * `InvalidSpecError`; JSON from another provider instance raises it too (path `provider`).
   */
  static resume<T>(
    source: TaskSource,
    json: unknown,
    options: { decode: (raw: unknown) => T; settings?: TaskSettings | undefined },
  ): Task<T> {
    const text = typeof json === 'string' ? safeJsonParse(json) : json;
    const parsed = SerializedTaskSchema.safeParse(text);
    if (!parsed.success)
      throw InvalidSpecError.fromZod(parsed.error, {
        subject: 'serialised task',
        provider: source.name,
      });
    if (parsed.data.provider !== source.name) {
      throw new InvalidSpecError(
        [
          {
            path: 'provider',
            message: `task belongs to provider ${JSON.stringify(parsed.data.provider)}, not ${JSON.stringify(source.name)}`,
            code: 'custom',
          },
        ],
        { subject: 'serialised task', provider: source.name },
      );
    }
    const data = parsed.data;
    return new Task(source, data.kind, Promise.resolve(data.id), {
      ...options,
      snapshot: {
        id: data.id,
        provider: data.provider,
        kind: data.kind,
        state: data.state,
        progress: data.progress,
        cancelable: false,
        createdAt: data.createdAt ?? new Date(0).toISOString(),
      },
    });
  }

  /** Backend task id, once submitted. */
  get id(): string | undefined {
    return this.#id;
  }

  /** Last known state (`queued` until the first snapshot arrives). */
  get state(): TaskState {
    return this.#last?.state ?? 'queued';
  }

  /** Last snapshot seen, if any. */
  get snapshot(): TaskSnapshot | undefined {
    return this.#last;
  }

  /** Resolves with the backend task id once the backend accepted the operation. */
  submitted(): Promise<string> {
    return this.#submission;
  }

  /** Fetches the task's current snapshot once. */
  async refresh(options: { signal?: AbortSignal | undefined } = {}): Promise<TaskSnapshot> {
    const id = await this.#submission;
    const snapshot = TaskSnapshotSchema.parse(await this.#source.getTask(id, options));
    this.#record(snapshot);
    return snapshot;
  }

  /** Waits for a final state and returns the result; throws the task's error otherwise. */
  wait(options: WaitOptions = {}): Promise<T> {
    return this.#waitForFinal(options).then((snapshot) => this.#outcome(snapshot));
  }

  // biome-ignore lint/suspicious/noThenProperty: a Task is deliberately awaitable.
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    if (this.#completion === undefined) {
      const completion = this.wait(this.#defaultWait);
      this.#completion = completion;
      // A timed-out wait is not the task's outcome: the next `await task` waits again.
      completion.catch((error: unknown) => {
        if (TimeoutError.isInstance(error) && this.#completion === completion) {
          this.#completion = undefined;
        }
      });
    }
    return this.#completion.then(onfulfilled, onrejected);
  }

  /** Same as `Promise.prototype.catch` on the completion. */
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.then(undefined, onrejected);
  }

  /**
   * Progress events, emitted when state or progress change, ending after the final state (the
   * outcome itself comes from awaiting the task). Aborting the signal ends the iteration.
   */
  async *progress(
    options: { signal?: AbortSignal | undefined } = {},
  ): AsyncGenerator<TaskProgressEvent, void, undefined> {
    const queue: TaskProgressEvent[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    let lastKey = '';
    const push = (snapshot: TaskSnapshot) => {
      const event: TaskProgressEvent = { state: snapshot.state, ...snapshot.progress };
      const key = JSON.stringify(event);
      if (key !== lastKey) {
        lastKey = key;
        queue.push(event);
      }
      if (isFinalState(snapshot.state)) finished = true;
    };
    const listener: Listener = (snapshot, error) => {
      if (error !== undefined) {
        failure = error;
        finished = true;
      } else if (snapshot) push(snapshot);
      wake?.();
    };
    const onAbort = () => {
      finished = true;
      wake?.();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.#last) push(this.#last);
      if (!finished) this.#subscribe(listener);
      for (;;) {
        while (queue.length > 0) yield queue.shift() as TaskProgressEvent;
        if (finished || options.signal?.aborted) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      while (queue.length > 0 && !options.signal?.aborted) yield queue.shift() as TaskProgressEvent;
      // Submission errors surface through `await task`, not here; observation errors end the stream.
      if (
        failure !== undefined &&
        this.#submitError === undefined &&
        !HvkitError.isInstance(failure)
      )
        throw failure;
    } finally {
      this.#listeners.delete(listener);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Asks the backend to cancel the task. Gated by `core.taskCancel`; throws
   * `UnsupportedCapabilityError` before any I/O where the provider cannot cancel.
   */
  async cancel(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    if (!this.#source.cancelTask) {
      throw new UnsupportedCapabilityError(
        'core.taskCancel',
        `provider ${this.provider} cannot cancel tasks`,
        { provider: this.provider },
      );
    }
    const id = await this.#submission;
    await this.#source.cancelTask(id, options);
  }

  /** Plain data for `JSON.stringify`; throws `HvkitError` (CONFLICT) before submission completes. */
  toJSON(): SerializedTask {
    if (this.#id === undefined) {
      throw new HvkitError(
        'CONFLICT',
        `task ${this.kind} has not been submitted yet; await task.submitted() first`,
        { reason: 'invalid-state' },
        { provider: this.provider },
      );
    }
    return redact({
      type: 'hvkit.task',
      version: 1,
      provider: this.provider,
      id: this.#id,
      kind: this.kind,
      state: this.state,
      progress: this.#last?.progress ?? {},
      createdAt: this.#last?.createdAt,
    });
  }

  #record(snapshot: TaskSnapshot): void {
    this.#last = snapshot;
    this.#observed = true;
  }

  #outcome(snapshot: TaskSnapshot): T {
    if (snapshot.state === 'succeeded') {
      try {
        return this.#decode(snapshot.result);
      } catch (cause) {
        throw new ProviderApiError(
          `task ${snapshot.id} (${snapshot.kind}) succeeded without a valid result`,
          {
            provider: this.provider,
            cause,
            details: { taskId: snapshot.id },
          },
        );
      }
    }
    if (snapshot.error) {
      const error = deserializeError(snapshot.error as SerializedError);
      // A conflict, a missing object or bad input is the same error whether the backend reported
      // it before or after forking the task; only opaque backend failures become TASK_FAILED.
      if (error.code !== 'PROVIDER_API' && error.code !== 'TRANSPORT') throw error;
      throw new TaskFailedError(snapshot.id, snapshot.error.message, {
        provider: this.provider,
        cause: error,
        details: { state: snapshot.state, error: snapshot.error },
      });
    }
    throw new TaskFailedError(
      snapshot.id,
      snapshot.state === 'canceled' ? 'canceled' : 'failed without an error message',
      {
        provider: this.provider,
        details: { state: snapshot.state },
      },
    );
  }

  #waitForFinal(options: WaitOptions): Promise<TaskSnapshot> {
    return new Promise<TaskSnapshot>((resolve, reject) => {
      // Only a timed wait needs a timer; creating and aborting controllers is not free on hot paths.
      const timer = options.timeoutMs === undefined ? undefined : new AbortController();
      const cleanup = () => {
        this.#listeners.delete(listener);
        timer?.abort(WAIT_SETTLED);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const listener: Listener = (snapshot, error) => {
        if (error !== undefined) {
          cleanup();
          reject(error);
        } else if (snapshot && isFinalState(snapshot.state)) {
          cleanup();
          resolve(snapshot);
        }
      };
      const onAbort = () => {
        cleanup();
        reject(
          options.signal?.reason ?? new DOMException('This operation was aborted', 'AbortError'),
        );
      };
      if (options.signal?.aborted) {
        onAbort();
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        const timeoutMs = options.timeoutMs;
        this.#clock.sleep(timeoutMs, timer?.signal).then(
          () => {
            cleanup();
            reject(
              new TimeoutError(
                `gave up waiting for task ${this.#id ?? this.kind} after ${timeoutMs} ms; it may still be running`,
                timeoutMs,
                { provider: this.provider },
              ),
            );
          },
          () => {},
        );
      }
      if (this.#last && this.#observed && isFinalState(this.#last.state)) {
        cleanup();
        resolve(this.#last);
        return;
      }
      this.#subscribe(listener);
    });
  }

  #subscribe(listener: Listener): void {
    this.#listeners.add(listener);
    this.#ensurePump();
  }

  #ensurePump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    void this.#pump().then((outcome) => {
      this.#pumping = false;
      // A listener may have arrived while the loop was winding down for lack of listeners.
      if (outcome === 'idle' && this.#listeners.size > 0) this.#ensurePump();
    });
  }

  #broadcast(snapshot: TaskSnapshot | undefined, error?: unknown): void {
    for (const listener of [...this.#listeners]) listener(snapshot, error);
  }

  /** One observation loop per task, shared by every waiter and progress iterator. */
  async #pump(): Promise<'final' | 'idle' | 'error'> {
    let id: string;
    try {
      id = await this.#submission;
    } catch (error) {
      this.#broadcast(undefined, error);
      return 'error';
    }
    // The driver may have handed over a final snapshot with the task id: nothing to observe.
    if (this.#last && this.#observed && this.#last.id === id && isFinalState(this.#last.state)) {
      this.#broadcast(this.#last);
      return 'final';
    }
    const stop = new AbortController();
    let outcome: 'final' | 'idle' | 'error' = 'idle';
    const active = () => this.#listeners.size > 0;
    try {
      if (this.#source.watchTask) {
        for await (const raw of this.#source.watchTask(id, { signal: stop.signal })) {
          const snapshot = TaskSnapshotSchema.parse(raw);
          this.#record(snapshot);
          this.#broadcast(snapshot);
          if (isFinalState(snapshot.state)) {
            outcome = 'final';
            return outcome;
          }
          if (!active()) return 'idle';
        }
        return 'idle';
      }
      let attempt = 0;
      let errors = 0;
      let lastKey = '';
      const maxErrors = this.#settings.maxConsecutiveErrors ?? 5;
      while (active()) {
        let snapshot: TaskSnapshot;
        try {
          snapshot = TaskSnapshotSchema.parse(
            await this.#source.getTask(id, { signal: stop.signal }),
          );
          errors = 0;
        } catch (error) {
          errors += 1;
          if (!(HvkitError.isInstance(error) && error.retryable) || errors > maxErrors) throw error;
          await this.#clock.sleep(backoffDelay(attempt++, this.#settings.backoff));
          continue;
        }
        this.#record(snapshot);
        this.#broadcast(snapshot);
        if (isFinalState(snapshot.state)) {
          outcome = 'final';
          return outcome;
        }
        const key = JSON.stringify([snapshot.state, snapshot.progress]);
        // Poll quickly again while the task is moving; back off while it is not.
        attempt = key === lastKey ? attempt + 1 : 0;
        lastKey = key;
        await this.#clock.sleep(backoffDelay(attempt, this.#settings.backoff));
      }
      return 'idle';
    } catch (error) {
      this.#broadcast(undefined, error);
      return 'error';
    } finally {
      // Release a watch or poll that is still blocked; one that saw the final state has ended
      // already, and aborting it anyway would cost an event dispatch per task.
      if (outcome !== 'final') stop.abort(WAIT_SETTLED);
    }
  }
}

/**
 * Reason used to release internal timers and watches once a wait is over. A fixed value, because
 * `abort()` without one builds a DOMException with a stack trace every time.
 */
const WAIT_SETTLED = Object.freeze({ name: 'WaitSettled', message: 'wait settled' });

function safeJsonParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
