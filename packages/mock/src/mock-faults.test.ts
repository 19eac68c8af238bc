import {
  AuthenticationError,
  ConflictError,
  ManualClock,
  ProviderApiError,
  TaskFailedError,
  TimeoutError,
  TransportError,
  type VmSpecInput,
} from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { MockFaultController } from './mock-faults.js';
import { createMockProvider } from './mock-provider.js';

const spec = (name: string): VmSpecInput => ({ name, cpu: { count: 1 }, memory: { sizeMiB: 512 } });

describe('MockFaultController', () => {
  it('fires on the nth matching call only, then as often as times allows', () => {
    const faults = new MockFaultController(1, [{ operation: 'create', nth: 2, mode: 'throw' }]);
    const fired = [1, 2, 3, 4].map(() => faults.match(['create', 'vm.create']) !== undefined);
    expect(fired).toEqual([false, true, false, false]);
    expect(faults.match(['get'])).toBeUndefined();
    faults.add({ operation: 'vm.power-on', nth: 1, times: 2, mode: 'task-fail' });
    const power = [1, 2, 3].map(() => faults.match(['power', 'vm.power-on'])?.mode);
    expect(power).toEqual(['task-fail', 'task-fail', undefined]);
    expect(faults.fired).toBe(3);
    faults.clear();
    expect(faults.match(['create'])).toBeUndefined();
    expect(faults.fired).toBe(3);
  });

  it('draws probabilities from the seed', () => {
    const pattern = (seed: number) => {
      const faults = new MockFaultController(seed, [
        { operation: '*', probability: 0.5, mode: 'throw' },
      ]);
      return Array.from({ length: 64 }, () => (faults.match(['get']) ? 1 : 0)).join('');
    };
    expect(pattern(7)).toBe(pattern(7));
    expect(pattern(7)).not.toBe(pattern(8));
    const ones = [...pattern(7)].filter((bit) => bit === '1').length;
    expect(ones).toBeGreaterThan(16);
    expect(ones).toBeLessThan(48);
  });

  it('refuses malformed rules', () => {
    const faults = new MockFaultController(1);
    expect(() => faults.add({ operation: 'get', nth: 0, mode: 'throw' })).toThrow(TypeError);
    expect(() => faults.add({ operation: 'get', probability: 2, mode: 'throw' })).toThrow(
      TypeError,
    );
    expect(() => faults.add({ operation: 'get', mode: 'explode' as unknown as 'throw' })).toThrow(
      TypeError,
    );
  });
});

describe('scripted faults through the provider', () => {
  it('throws the error class the rule names, at call time', async () => {
    const provider = createMockProvider({
      taskDurationMs: 0,
      faults: [{ operation: 'create', nth: 2, mode: 'throw' }],
    });
    await provider.create(spec('a'));
    const error = await provider.create(spec('b')).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(TransportError.isInstance(error) && error.retryable).toBe(true);
    await provider.create(spec('b'));
    expect(provider.backend.vmCount).toBe(2);
    expect(provider.faults.fired).toBe(1);

    provider.faults.add({ operation: 'validate', mode: 'throw', error: 'authentication' });
    await expect(provider.validate()).rejects.toSatisfy(AuthenticationError.isInstance);
    provider.faults.add({ operation: 'get', nth: 1, mode: 'throw', error: 'locked' });
    await expect(provider.get({ provider: 'mock', id: 'vm-x' })).rejects.toSatisfy(
      (caught) =>
        ConflictError.isInstance(caught) && caught.reason === 'locked' && caught.retryable,
    );
    provider.faults.add({ operation: 'listPage', nth: 1, mode: 'throw', error: 'provider-api' });
    await expect(provider.listPage()).rejects.toSatisfy(
      (caught) => ProviderApiError.isInstance(caught) && caught.status === 500,
    );
  });

  it('fails an accepted task asynchronously and applies nothing', async () => {
    const clock = new ManualClock();
    const provider = createMockProvider({
      clock,
      faults: [
        { operation: 'vm.create', nth: 1, mode: 'task-fail', message: 'datastore fell over' },
      ],
    });
    const task = provider.create(spec('doomed'));
    const id = await task.submitted();
    expect((await provider.getTask(id)).state).toBe('running');
    await clock.advance(100);
    await expect(task).rejects.toSatisfy(
      (caught) =>
        TaskFailedError.isInstance(caught) && caught.backendMessage === 'datastore fell over',
    );
    expect((await provider.getTask(id)).error?.code).toBe('TRANSPORT');
    expect(provider.backend.vmCount).toBe(0);
    // The name was released with the failed task.
    const retry = provider.create(spec('doomed'));
    await clock.advance(100);
    expect((await retry).name).toBe('doomed');
  });

  it('keeps a hung task running past a wait timeout, until cancelled', async () => {
    const clock = new ManualClock();
    const provider = createMockProvider({
      clock,
      faults: [{ operation: 'power', mode: 'hang' }],
    });
    const vm = provider.backend.createVm(spec('stuck'));
    const task = provider.powerOn({ provider: 'mock', id: vm.id });
    const waiting = task.wait({ timeoutMs: 5_000 });
    const outcome = waiting.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    await clock.advance(5_000);
    const error = await outcome;
    expect(TimeoutError.isInstance(error) && error.retryable).toBe(true);
    await clock.advance(60_000);
    expect((await provider.getTask(task.id as string)).state).toBe('running');
    expect(provider.backend.getVm(vm.id).powerState).toBe('off');
    await task.cancel();
    expect((await provider.getTask(task.id as string)).state).toBe('canceled');
    expect(provider.backend.getVm(vm.id).powerState).toBe('off');
  });

  it('makes a call hang until its signal aborts', async () => {
    const provider = createMockProvider({ faults: [{ operation: 'get', mode: 'hang' }] });
    const controller = new AbortController();
    const call = provider.get({ provider: 'mock', id: 'vm-any' }, { signal: controller.signal });
    const reason = new Error('enough');
    setTimeout(() => controller.abort(reason), 10);
    await expect(call).rejects.toBe(reason);
  });

  it('adds latency on the injected clock', async () => {
    const clock = new ManualClock();
    const provider = createMockProvider({ clock, latencyMs: { listPage: 250 } });
    let done = false;
    const listing = provider.listPage().then((page) => {
      done = true;
      return page;
    });
    await clock.advance(249);
    expect(done).toBe(false);
    await clock.advance(1);
    expect((await listing).items).toEqual([]);
    expect(done).toBe(true);
  });

  it('fails a seeded share of calls with probability', async () => {
    const failures = async (seed: number) => {
      const provider = createMockProvider({
        seed,
        taskDurationMs: 0,
        faults: [{ operation: 'listPage', probability: 0.3, mode: 'throw' }],
      });
      const outcomes: string[] = [];
      for (let index = 0; index < 40; index++) {
        outcomes.push(
          await provider.listPage().then(
            () => '.',
            () => 'x',
          ),
        );
      }
      return outcomes.join('');
    };
    const first = await failures(3);
    expect(await failures(3)).toBe(first);
    const count = [...first].filter((outcome) => outcome === 'x').length;
    expect(count).toBeGreaterThan(3);
    expect(count).toBeLessThan(25);
  });
});
