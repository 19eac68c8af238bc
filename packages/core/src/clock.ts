/**
 * Time as a dependency. Every wait loop, timeout and backoff in hvkit takes a {@link Clock}, so
 * tests run long waits instantly with a {@link ManualClock}.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal as AbortSignal));
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

interface Timer {
  at: number;
  order: number;
  resolve: () => void;
}

/**
 * A clock that moves only when told. `advance(ms)` fires due sleepers in time order and lets
 * their continuations run before moving on, so a polling loop takes as many turns as it would in
 * real time.
 */
export class ManualClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #order = 0;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  /** Number of sleepers waiting. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        order: this.#order++,
        resolve: () => {},
      };
      const onAbort = () => {
        this.#timers = this.#timers.filter((item) => item !== timer);
        reject(abortReason(signal as AbortSignal));
      };
      timer.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#timers.push(timer);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Moves time forward by `ms`, firing every sleeper that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await settle();
      this.#timers.sort((a, b) => a.at - b.at || a.order - b.order);
      const next = this.#timers[0];
      if (!next || next.at > target) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, next.at);
      next.resolve();
    }
    this.#now = target;
    await settle();
  }

  /** Advances to the next sleeper's due time (if any) and fires it. Returns false when none waits. */
  async tick(): Promise<boolean> {
    await settle();
    this.#timers.sort((a, b) => a.at - b.at || a.order - b.order);
    const next = this.#timers[0];
    if (!next) return false;
    await this.advance(next.at - this.#now);
    return true;
  }
}

/** Lets pending promise continuations run (several macrotask turns, to cover chained awaits). */
async function settle(): Promise<void> {
  for (let index = 0; index < 5; index++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
