/** A counting semaphore with a FIFO queue: the cap on exec channels open at once. */
export class ChannelLimit {
  #free: number;
  readonly #waiting: Array<{ grant: () => void }> = [];

  constructor(readonly size: number) {
    this.#free = size;
  }

  /** Channels queued for a slot. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** Slots in use. */
  get active(): number {
    return this.size - this.#free;
  }

  /**
   * Waits for a slot. Resolves with the release function (idempotent). Rejects with the signal's
   * reason when aborted while queued; the slot is then never taken.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    const release = this.#releaser();
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      const onAbort = (): void => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // Hand the slot straight to the next waiter: the count never drops and rises again.
      if (next) next.grant();
      else this.#free++;
    };
  }
}
