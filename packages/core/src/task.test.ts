import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import {
  AuthenticationError,
  ConflictError,
  type HvkitError,
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  TaskFailedError,
  TimeoutError,
  TransportError,
  UnsupportedCapabilityError,
} from './errors.js';
import {
  type SerializedTask,
  Task,
  type TaskProgressEvent,
  type TaskSettings,
  type TaskSnapshot,
  type TaskSource,
} from './task.js';

/** A backend task the test moves by hand, and a TaskSource that counts how it is observed. */
class Remote {
  snapshot: TaskSnapshot;
  getTaskCalls = 0;
  /** Errors the next `getTask` calls throw, in order. */
  failures: unknown[] = [];
  canceled: string[] = [];

  constructor(id = 'task-1', provider = 'lab') {
    this.snapshot = {
      id,
      provider,
      kind: 'thing.make',
      state: 'queued',
      progress: {},
      cancelable: true,
      createdAt: new Date(0).toISOString(),
    };
  }

  set(patch: Partial<TaskSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...patch };
  }

  source(extra: Partial<TaskSource> = {}): TaskSource {
    return {
      name: this.snapshot.provider,
      getTask: async (id) => {
        this.getTaskCalls += 1;
        expect(id).toBe(this.snapshot.id);
        const failure = this.failures.shift();
        if (failure !== undefined) throw failure;
        return structuredClone(this.snapshot);
      },
      ...extra,
    };
  }
}

const decodeNumber = (raw: unknown): number => {
  const value = (raw as { value?: unknown } | undefined)?.value;
  if (typeof value !== 'number') throw new TypeError('no value');
  return value;
};

/** Backoff without jitter: polls at 0, 250, 750, 1750, 3750, 7750, 12750… while nothing moves. */
function setup(options: { settings?: TaskSettings; source?: Partial<TaskSource> } = {}) {
  const clock = new ManualClock(0);
  const remote = new Remote();
  const settings: TaskSettings = { clock, backoff: { random: () => 0.5 }, ...options.settings };
  const start = (wait?: { timeoutMs?: number; signal?: AbortSignal }) =>
    Task.start(remote.source(options.source), 'thing.make', async () => remote.snapshot.id, {
      decode: decodeNumber,
      settings,
      defaultWait: wait,
    });
  return { clock, remote, settings, start };
}

/** Settles a promise into a value or an error, without unhandled rejections. */
function outcome<T>(promise: PromiseLike<T>): { value?: T; error?: unknown; settled: boolean } {
  const state: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  promise.then(
    (value) => {
      state.value = value;
      state.settled = true;
    },
    (error: unknown) => {
      state.error = error;
      state.settled = true;
    },
  );
  return state;
}

describe('Task: awaiting', () => {
  it('resolves with the decoded result once the backend succeeds', async () => {
    const { clock, remote, start } = setup();
    const task = start();
    expect(task.state).toBe('queued');
    expect(await task.submitted()).toBe('task-1');
    expect(task.id).toBe('task-1');
    const done = outcome(task);
    remote.set({ state: 'running', progress: { percent: 30 } });
    await clock.advance(1_000);
    expect(done.settled).toBe(false);
    expect(task.state).toBe('running');
    remote.set({ state: 'succeeded', progress: { percent: 100 }, result: { value: 42 } });
    await clock.advance(5_000);
    expect(done).toEqual({ settled: true, value: 42 });
    expect(task.state).toBe('succeeded');
    // A finished task answers again without asking the backend.
    const calls = remote.getTaskCalls;
    expect(await task).toBe(42);
    expect(await task.wait()).toBe(42);
    expect(remote.getTaskCalls).toBe(calls);
  });

  it('rejects with a submission error without ever polling', async () => {
    const clock = new ManualClock(0);
    const remote = new Remote();
    const failure = new InvalidSpecError([{ path: 'name', message: 'bad', code: 'custom' }]);
    const task = Task.start(
      remote.source(),
      'thing.make',
      () => {
        throw failure;
      },
      { decode: decodeNumber, settings: { clock } },
    );
    await expect(task).rejects.toBe(failure);
    await expect(task.submitted()).rejects.toBe(failure);
    const events: TaskProgressEvent[] = [];
    for await (const event of task.progress()) events.push(event);
    expect(events).toEqual([]);
    expect(remote.getTaskCalls).toBe(0);
  });

  it('turns a success without a valid result into ProviderApiError, not a hang', async () => {
    const { clock, remote, start } = setup();
    remote.set({ state: 'succeeded', result: { value: 'not a number' } });
    const done = outcome(start());
    await clock.advance(0);
    expect(done.settled).toBe(true);
    expect(ProviderApiError.isInstance(done.error)).toBe(true);
    expect((done.error as ProviderApiError).details).toMatchObject({ taskId: 'task-1' });
  });

  it.each([
    [
      'a CONFLICT error rethrows ConflictError',
      new ConflictError('locked', 'VM is locked'),
      (error: unknown) => ConflictError.isInstance(error) && error.reason === 'locked',
    ],
    [
      'a NOT_FOUND error rethrows NotFoundError',
      new NotFoundError('network', 'vlan-9'),
      (error: unknown) => NotFoundError.isInstance(error) && error.id === 'vlan-9',
    ],
    [
      'a PROVIDER_API error becomes TaskFailedError',
      new ProviderApiError('disk full', { status: 500 }),
      (error: unknown) =>
        TaskFailedError.isInstance(error) &&
        error.taskId === 'task-1' &&
        error.backendMessage === 'disk full',
    ],
    [
      'a TASK_FAILED error stays TaskFailedError',
      new TaskFailedError('task-1', 'qemu exited'),
      (error: unknown) =>
        TaskFailedError.isInstance(error) && error.backendMessage === 'qemu exited',
    ],
  ])('a failed task with %s', async (_label, backendError, check) => {
    const { clock, remote, start } = setup();
    remote.set({ state: 'failed', error: backendError.toJSON() });
    const done = outcome(start());
    await clock.advance(0);
    expect(done.settled).toBe(true);
    expect(check(done.error)).toBe(true);
    expect((done.error as HvkitError).message).toContain(
      backendError.code === 'PROVIDER_API' ? 'disk full' : backendError.message,
    );
  });

  it('a canceled or error-less failed task rejects with TaskFailedError', async () => {
    for (const state of ['canceled', 'failed'] as const) {
      const { clock, remote, start } = setup();
      remote.set({ state });
      const done = outcome(start());
      await clock.advance(0);
      expect(TaskFailedError.isInstance(done.error), state).toBe(true);
      expect((done.error as TaskFailedError).details.state).toBe(state);
    }
  });
});

describe('Task: a driver that answers with the snapshot', () => {
  it('settles from a final snapshot handed over at submission, without observing the backend', async () => {
    const remote = new Remote();
    remote.set({ state: 'succeeded', progress: { percent: 100 }, result: { value: 7 } });
    const watched: string[] = [];
    const source = remote.source({
      watchTask: (id) => {
        watched.push(id);
        return (async function* () {})();
      },
    });
    const task = Task.start(
      source,
      'thing.make',
      async () => ({ taskId: 'task-1', snapshot: structuredClone(remote.snapshot) }),
      {
        decode: decodeNumber,
      },
    );
    expect(await task).toBe(7);
    const events: TaskProgressEvent[] = [];
    for await (const event of task.progress()) events.push(event);
    expect(events).toEqual([{ state: 'succeeded', percent: 100 }]);
    expect(remote.getTaskCalls).toBe(0);
    expect(watched).toEqual([]);
    expect(task.toJSON().state).toBe('succeeded');
  });

  it('observes the backend when the handed-over snapshot is not final', async () => {
    const { clock, remote } = setup();
    remote.set({ state: 'running', progress: { percent: 10 } });
    const task = Task.start(
      remote.source(),
      'thing.make',
      async () => ({ taskId: 'task-1', snapshot: structuredClone(remote.snapshot) }),
      {
        decode: decodeNumber,
        settings: { clock, backoff: { random: () => 0.5 } },
      },
    );
    const done = outcome(task);
    await clock.advance(1_000);
    expect(done.settled).toBe(false);
    remote.set({ state: 'succeeded', progress: { percent: 100 }, result: { value: 9 } });
    await clock.advance(5_000);
    expect(done).toEqual({ settled: true, value: 9 });
    expect(remote.getTaskCalls).toBeGreaterThan(0);
  });

  it('refuses a snapshot of another task, and a start without an id, as ProviderApiError', async () => {
    const remote = new Remote();
    const other = {
      ...remote.snapshot,
      id: 'task-2',
      state: 'succeeded' as const,
      result: { value: 1 },
    };
    const wrong = Task.start(
      remote.source(),
      'thing.make',
      async () => ({ taskId: 'task-1', snapshot: other }),
      {
        decode: decodeNumber,
      },
    );
    await expect(wrong).rejects.toSatisfy((error: unknown) => ProviderApiError.isInstance(error));
    const empty = Task.start(remote.source(), 'thing.make', async () => '', {
      decode: decodeNumber,
    });
    await expect(empty.submitted()).rejects.toSatisfy((error: unknown) =>
      ProviderApiError.isInstance(error),
    );
    expect(remote.getTaskCalls).toBe(0);
  });
});

describe('Task: progress', () => {
  it('yields only changed events and ends at the final state', async () => {
    const { clock, remote, start } = setup();
    const task = start();
    const events: TaskProgressEvent[] = [];
    const consumed = (async () => {
      for await (const event of task.progress()) events.push(event);
    })();
    await clock.advance(0);
    remote.set({ state: 'running', progress: { percent: 10, message: 'copying' } });
    await clock.advance(250);
    await clock.advance(2_000); // several polls, nothing new
    remote.set({ state: 'running', progress: { percent: 50, message: 'copying' } });
    await clock.advance(5_000);
    await clock.advance(5_000);
    remote.set({ state: 'succeeded', progress: { percent: 100 }, result: { value: 1 } });
    await clock.advance(5_000);
    await consumed;
    expect(events).toEqual([
      { state: 'queued' },
      { state: 'running', percent: 10, message: 'copying' },
      { state: 'running', percent: 50, message: 'copying' },
      { state: 'succeeded', percent: 100 },
    ]);
    expect(remote.getTaskCalls).toBeGreaterThan(events.length);
    expect(await task).toBe(1);
  });

  it('stops the iteration when its signal aborts', async () => {
    const { clock, remote, start } = setup();
    remote.set({ state: 'running' });
    const task = start();
    const controller = new AbortController();
    const events: TaskProgressEvent[] = [];
    const consumed = (async () => {
      for await (const event of task.progress({ signal: controller.signal })) events.push(event);
    })();
    await clock.advance(0);
    controller.abort();
    await consumed;
    expect(events).toEqual([{ state: 'running' }]);
  });
});

describe('Task: polling', () => {
  it('backs off while nothing changes, and polls quickly again when progress moves', async () => {
    const { clock, remote, start } = setup();
    remote.set({ state: 'running', progress: { percent: 5 } });
    const done = outcome(start());
    await clock.advance(0);
    expect(remote.getTaskCalls).toBe(1);
    // 250, 500, 1000, 2000, 4000, 5000 (ceiling): polls at 250, 750, 1750, 3750, 7750, 12750.
    await clock.advance(12_749);
    expect(remote.getTaskCalls).toBe(6);
    await clock.advance(1);
    expect(remote.getTaskCalls).toBe(7);
    await clock.advance(5_000);
    expect(remote.getTaskCalls).toBe(8);
    // Fixed 250 ms polling would have asked 72 times by now.
    remote.set({ progress: { percent: 60 } });
    await clock.advance(5_000); // 22750: sees the change
    expect(remote.getTaskCalls).toBe(9);
    await clock.advance(250); // 23000: quick again
    expect(remote.getTaskCalls).toBe(10);
    await clock.advance(499);
    expect(remote.getTaskCalls).toBe(10);
    await clock.advance(1); // 23500: backing off again
    expect(remote.getTaskCalls).toBe(11);
    remote.set({ state: 'succeeded', result: { value: 7 } });
    await clock.advance(1_000);
    expect(done).toEqual({ settled: true, value: 7 });
  });

  it('prefers watchTask and never polls when the source can push', async () => {
    const clock = new ManualClock(0);
    const remote = new Remote();
    let release: (() => void) | undefined;
    const watchCalls: string[] = [];
    const source = remote.source({
      async *watchTask(id) {
        watchCalls.push(id);
        yield { ...remote.snapshot, state: 'running' as const, progress: { percent: 1 } };
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        yield {
          ...remote.snapshot,
          state: 'succeeded' as const,
          progress: { percent: 100 },
          result: { value: 9 },
        };
      },
    });
    const task = Task.start(source, 'thing.make', async () => 'task-1', {
      decode: decodeNumber,
      settings: { clock },
    });
    const events: TaskProgressEvent[] = [];
    const consumed = (async () => {
      for await (const event of task.progress()) events.push(event);
    })();
    const done = outcome(task);
    await clock.advance(60_000);
    expect(done.settled).toBe(false);
    release?.();
    await clock.advance(0);
    await consumed;
    expect(done).toEqual({ settled: true, value: 9 });
    expect(events.map((event) => event.state)).toEqual(['running', 'succeeded']);
    expect(watchCalls).toEqual(['task-1']);
    expect(remote.getTaskCalls).toBe(0);
  });

  it('shares one poll loop between concurrent waiters and progress iterators', async () => {
    const run = async (waiters: number) => {
      const { clock, remote, start } = setup();
      remote.set({ state: 'running' });
      const task = start();
      const results = Array.from({ length: waiters }, () => outcome(task.wait()));
      results.push(outcome(task));
      const iterations = Array.from({ length: waiters }, async () => {
        let count = 0;
        for await (const _event of task.progress()) count += 1;
        return count;
      });
      for (const step of [100, 900, 3_000, 10_000]) await clock.advance(step);
      remote.set({ state: 'succeeded', result: { value: 3 } });
      await clock.advance(10_000);
      expect(results.every((result) => result.value === 3)).toBe(true);
      expect(await Promise.all(iterations)).toEqual(Array(waiters).fill(2));
      return remote.getTaskCalls;
    };
    const single = await run(1);
    expect(await run(5)).toBe(single);
    expect(single).toBeLessThan(12);
  });

  it('tolerates retryable getTask errors up to maxConsecutiveErrors', async () => {
    const { clock, remote, start } = setup({ settings: { maxConsecutiveErrors: 3 } });
    remote.set({ state: 'running' });
    remote.failures = [
      new TransportError('ECONNRESET'),
      new TransportError('ECONNRESET'),
      new ProviderApiError('busy', { status: 503 }),
    ];
    const done = outcome(start());
    await clock.advance(20_000);
    expect(done.settled).toBe(false);
    expect(remote.getTaskCalls).toBeGreaterThan(4);
    // Errors between successes do not add up.
    remote.failures = [new TransportError('x'), new TransportError('x'), new TransportError('x')];
    await clock.advance(30_000);
    remote.set({ state: 'succeeded', result: { value: 5 } });
    await clock.advance(30_000);
    expect(done).toEqual({ settled: true, value: 5 });
  });

  it('fails after one retryable error too many', async () => {
    const { clock, remote, start } = setup({ settings: { maxConsecutiveErrors: 3 } });
    const last = new TransportError('host unreachable');
    remote.failures = [
      new TransportError('a'),
      new TransportError('b'),
      new TransportError('c'),
      last,
    ];
    const done = outcome(start());
    await clock.advance(60_000);
    expect(done.error).toBe(last);
    expect(remote.getTaskCalls).toBe(4);
  });

  it('defaults to five tolerated errors', async () => {
    const { clock, remote, start } = setup();
    remote.failures = Array.from({ length: 6 }, () => new TimeoutError('slow', 1));
    const done = outcome(start());
    await clock.advance(120_000);
    expect(TimeoutError.isInstance(done.error)).toBe(true);
    expect(remote.getTaskCalls).toBe(6);
  });

  it('fails at once on a non-retryable error', async () => {
    for (const failure of [
      new AuthenticationError('session expired'),
      new NotFoundError('task', 'task-1'),
      new TypeError('bug'),
    ]) {
      const { clock, remote, start } = setup();
      remote.failures = [failure];
      const done = outcome(start());
      await clock.advance(0);
      expect(done.error).toBe(failure);
      expect(remote.getTaskCalls).toBe(1);
      await clock.advance(60_000);
      expect(remote.getTaskCalls).toBe(1);
    }
  });

  it('stops polling when nobody waits any more', async () => {
    const { clock, remote, start } = setup();
    remote.set({ state: 'running' });
    const task = start();
    const controller = new AbortController();
    const done = outcome(task.wait({ signal: controller.signal }));
    await clock.advance(1_000);
    controller.abort(new Error('user gave up'));
    await clock.advance(0);
    expect((done.error as Error).message).toBe('user gave up');
    await clock.advance(10_000);
    const calls = remote.getTaskCalls;
    await clock.advance(100_000);
    expect(remote.getTaskCalls).toBe(calls);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('Task: timeouts and aborts', () => {
  it('wait({ timeoutMs }) throws TimeoutError while the remote task goes on; a later wait succeeds', async () => {
    const { clock, remote, start } = setup();
    remote.set({ state: 'running' });
    const task = start();
    const first = outcome(task.wait({ timeoutMs: 1_000 }));
    await clock.advance(999);
    expect(first.settled).toBe(false);
    await clock.advance(1);
    expect(TimeoutError.isInstance(first.error)).toBe(true);
    expect((first.error as TimeoutError).timeoutMs).toBe(1_000);
    expect((first.error as TimeoutError).retryable).toBe(true);
    expect(remote.canceled).toEqual([]);
    const later = outcome(task.wait());
    const awaited = outcome(task);
    await clock.advance(3_000);
    remote.set({ state: 'succeeded', result: { value: 11 } });
    await clock.advance(10_000);
    expect(later).toEqual({ settled: true, value: 11 });
    expect(awaited).toEqual({ settled: true, value: 11 });
  });

  it('await task with a default timeout can be awaited again after it times out', async () => {
    const { clock, remote, start } = setup();
    remote.set({ state: 'running' });
    const task = start({ timeoutMs: 1_000 });
    const first = outcome(task);
    await clock.advance(1_000);
    expect(TimeoutError.isInstance(first.error)).toBe(true);
    remote.set({ state: 'succeeded', result: { value: 12 } });
    const second = outcome(task);
    await clock.advance(1_000);
    expect(second).toEqual({ settled: true, value: 12 });
  });

  it('rejects with the abort reason, at once when already aborted', async () => {
    const { clock, remote, start } = setup();
    remote.set({ state: 'running' });
    const task = start();
    const reason = new Error('shutting down');
    await expect(task.wait({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    const controller = new AbortController();
    const done = outcome(task.wait({ signal: controller.signal, timeoutMs: 60_000 }));
    await clock.advance(500);
    controller.abort('stop');
    await clock.advance(0);
    expect(done.error).toBe('stop');
    // The timeout timer went away with the wait.
    await clock.advance(120_000);
    expect(done.error).toBe('stop');
  });

  it('an aborted default wait rejects await task with the reason', async () => {
    const { clock, remote, start } = setup();
    remote.set({ state: 'running' });
    const controller = new AbortController();
    const task = start({ signal: controller.signal });
    const done = outcome(task);
    await clock.advance(300);
    controller.abort('cancelled by caller');
    await clock.advance(0);
    expect(done.error).toBe('cancelled by caller');
  });
});

describe('Task: serialisation and resume', () => {
  it('refuses toJSON before the backend accepted the task', () => {
    const remote = new Remote();
    const task = Task.start(remote.source(), 'thing.make', () => new Promise<string>(() => {}), {
      decode: decodeNumber,
      settings: { clock: new ManualClock() },
    });
    expect(() => task.toJSON()).toThrow(/has not been submitted/);
    let caught: unknown;
    try {
      JSON.stringify(task);
    } catch (error) {
      caught = error;
    }
    expect(ConflictError.isInstance(caught)).toBe(true);
    expect((caught as HvkitError).details.reason).toBe('invalid-state');
  });

  it('round-trips through toJSON and resume, as an object or a string', async () => {
    const { clock, remote, start, settings } = setup();
    remote.set({ state: 'running', progress: { percent: 40, message: 'cloning' } });
    const task = start();
    await task.refresh();
    const json = task.toJSON();
    expect(json).toEqual({
      type: 'hvkit.task',
      version: 1,
      provider: 'lab',
      id: 'task-1',
      kind: 'thing.make',
      state: 'running',
      progress: { percent: 40, message: 'cloning' },
      createdAt: new Date(0).toISOString(),
    } satisfies SerializedTask);
    for (const input of [json, JSON.stringify(task), JSON.parse(JSON.stringify(task))]) {
      const resumed = Task.resume(remote.source(), input, { decode: decodeNumber, settings });
      expect(resumed.id).toBe('task-1');
      expect(resumed.kind).toBe('thing.make');
      expect(resumed.state).toBe('running');
      expect(resumed.toJSON()).toEqual(json);
      expect(await resumed.submitted()).toBe('task-1');
    }
    const resumed = Task.resume(remote.source(), JSON.stringify(task), {
      decode: decodeNumber,
      settings,
    });
    const done = outcome(resumed);
    remote.set({ state: 'succeeded', result: { value: 77 } });
    await clock.advance(1_000);
    expect(done).toEqual({ settled: true, value: 77 });
  });

  it('a task resumed from a final state still fetches its result', async () => {
    const { clock, remote, start, settings } = setup();
    remote.set({ state: 'succeeded', progress: { percent: 100 }, result: { value: 8 } });
    const task = start();
    expect(await task).toBe(8);
    const resumed = Task.resume(remote.source(), JSON.stringify(task), {
      decode: decodeNumber,
      settings,
    });
    expect(resumed.state).toBe('succeeded');
    const done = outcome(resumed);
    await clock.advance(0);
    expect(done).toEqual({ settled: true, value: 8 });
  });

  it('refuses JSON of another provider instance with path "provider"', () => {
    const { remote, start, settings } = setup();
    void start;
    const json = {
      type: 'hvkit.task',
      version: 1,
      provider: 'other-lab',
      id: 'task-1',
      kind: 'thing.make',
      state: 'running',
      progress: {},
    };
    let caught: unknown;
    try {
      Task.resume(remote.source(), JSON.stringify(json), { decode: decodeNumber, settings });
    } catch (error) {
      caught = error;
    }
    expect(InvalidSpecError.isInstance(caught)).toBe(true);
    expect((caught as InvalidSpecError).issues.map((issue) => issue.path)).toEqual(['provider']);
  });

  it('refuses malformed JSON with InvalidSpecError', () => {
    const { remote, settings } = setup();
    for (const input of ['{not json', '', null, 42, { type: 'hvkit.task', version: 2 }]) {
      let caught: unknown;
      try {
        Task.resume(remote.source(), input, { decode: decodeNumber, settings });
      } catch (error) {
        caught = error;
      }
      expect(InvalidSpecError.isInstance(caught), JSON.stringify(input)).toBe(true);
    }
  });
});

describe('Task: cancel', () => {
  it('throws UnsupportedCapabilityError when the source cannot cancel', async () => {
    const { start } = setup();
    const task = start();
    const error = await task.cancel().catch((reason: unknown) => reason);
    expect(UnsupportedCapabilityError.isInstance(error)).toBe(true);
    expect((error as UnsupportedCapabilityError).capability).toBe('core.taskCancel');
  });

  it('asks the source to cancel the submitted task', async () => {
    const remote = new Remote();
    const source = remote.source({
      cancelTask: async (id) => {
        remote.canceled.push(id);
      },
    });
    const task = Task.start(source, 'thing.make', async () => 'task-1', {
      decode: decodeNumber,
      settings: { clock: new ManualClock() },
    });
    await task.cancel();
    expect(remote.canceled).toEqual(['task-1']);
  });
});
