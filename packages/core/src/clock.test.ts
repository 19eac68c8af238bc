import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from './clock.js';

describe('ManualClock', () => {
  it('starts where told and moves only when advanced', async () => {
    const clock = new ManualClock(1_000);
    expect(clock.now()).toBe(1_000);
    await clock.advance(250);
    expect(clock.now()).toBe(1_250);
    expect(new ManualClock().now()).toBe(Date.UTC(2026, 0, 1));
  });

  it('fires sleepers in due-time order, ties in creation order', async () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    const sleep = (ms: number, label: string) =>
      clock.sleep(ms).then(() => fired.push(`${label}@${clock.now()}`));
    void sleep(300, 'c');
    void sleep(100, 'a');
    void sleep(200, 'b1');
    void sleep(200, 'b2');
    void sleep(0, 'zero');
    void sleep(-5, 'negative');
    expect(clock.pendingTimers).toBe(6);
    await clock.advance(199);
    expect(fired).toEqual(['zero@0', 'negative@0', 'a@100']);
    await clock.advance(1);
    expect(fired.slice(3)).toEqual(['b1@200', 'b2@200']);
    await clock.advance(1_000);
    expect(fired.slice(5)).toEqual(['c@300']);
    expect(clock.now()).toBe(1_200);
    expect(clock.pendingTimers).toBe(0);
  });

  it('lets a loop take as many turns as real time would', async () => {
    const clock = new ManualClock(0);
    const turns: number[] = [];
    let running = true;
    void (async () => {
      while (running) {
        await clock.sleep(100);
        turns.push(clock.now());
        await Promise.resolve();
      }
    })();
    await clock.advance(1_000);
    running = false;
    expect(turns).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  });

  it('tick() jumps to the next sleeper, and reports when none waits', async () => {
    const clock = new ManualClock(0);
    let done = false;
    void clock.sleep(5_000).then(() => {
      done = true;
    });
    expect(await clock.tick()).toBe(true);
    expect(done).toBe(true);
    expect(clock.now()).toBe(5_000);
    expect(await clock.tick()).toBe(false);
    expect(clock.now()).toBe(5_000);
  });

  it('rejects an aborted sleep with the reason and forgets it', async () => {
    const clock = new ManualClock(0);
    const controller = new AbortController();
    const sleeping = clock.sleep(1_000, controller.signal);
    expect(clock.pendingTimers).toBe(1);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(sleeping).rejects.toBe(reason);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const clock = new ManualClock(0);
    await expect(clock.sleep(10, AbortSignal.abort('gone'))).rejects.toBe('gone');
    const controller = new AbortController();
    controller.abort();
    await expect(clock.sleep(10, controller.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not reject a sleep that fired before the abort', async () => {
    const clock = new ManualClock(0);
    const controller = new AbortController();
    const sleeping = clock.sleep(10, controller.signal);
    await clock.advance(10);
    controller.abort();
    await expect(sleeping).resolves.toBeUndefined();
  });
});

describe('systemClock', () => {
  it('sleeps for real and reports Date.now()', async () => {
    const before = systemClock.now();
    expect(Math.abs(before - Date.now())).toBeLessThan(50);
    await systemClock.sleep(5);
    expect(systemClock.now()).toBeGreaterThanOrEqual(before + 4);
  });

  it('rejects with the abort reason, before or during the sleep', async () => {
    await expect(systemClock.sleep(10, AbortSignal.abort('early'))).rejects.toBe('early');
    const controller = new AbortController();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    controller.abort('late');
    await expect(sleeping).rejects.toBe('late');
  });
});
