import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

const options = fc.record({
  initialDelayMs: fc.integer({ min: 1, max: 10_000 }),
  maxDelayMs: fc.integer({ min: 1, max: 120_000 }),
  factor: fc.double({ min: 1, max: 4, noNaN: true }),
  jitter: fc.double({ min: 0, max: 1, noNaN: true }),
  random: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }).map((value) => () => value),
});

describe('backoffDelay', () => {
  it('stays within [initial·(1−jitter), max] for any attempt and random draw', () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 200 }), options, (attempt, settings) => {
        const delay = backoffDelay(attempt, settings);
        const max = Math.max(settings.initialDelayMs, settings.maxDelayMs);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(max);
        expect(delay).toBeGreaterThanOrEqual(
          Math.floor(settings.initialDelayMs * (1 - settings.jitter)),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('stays within [0, 5000] with the defaults and Math.random', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1000 }), (attempt) => {
        const delay = backoffDelay(attempt);
        expect(delay).toBeGreaterThanOrEqual(200);
        expect(delay).toBeLessThanOrEqual(5000);
      }),
      { numRuns: 300 },
    );
  });

  it('doubles from 250 ms to the 5 s ceiling without jitter', () => {
    const delays = Array.from({ length: 9 }, (_, attempt) => backoffDelay(attempt, { jitter: 0 }));
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
    // The middle of the random range is no jitter at all.
    expect(backoffDelay(3, { random: () => 0.5 })).toBe(2000);
  });

  it('never shrinks as attempts grow, for a fixed random draw', () => {
    fc.assert(
      fc.property(options, fc.nat({ max: 60 }), (settings, attempt) => {
        expect(backoffDelay(attempt + 1, settings)).toBeGreaterThanOrEqual(
          backoffDelay(attempt, settings),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('reaches the ceiling (within the jitter) and stays there', () => {
    fc.assert(
      fc.property(options, fc.double({ min: 1.1, max: 4, noNaN: true }), (base, factor) => {
        // A factor of 1 never grows; anything above does.
        const settings = { ...base, factor };
        const max = Math.max(settings.initialDelayMs, settings.maxDelayMs);
        const late = backoffDelay(10_000, { ...settings, jitter: 0 });
        expect(late).toBe(max);
        const jittered = backoffDelay(10_000, settings);
        expect(jittered).toBeGreaterThanOrEqual(Math.floor(max * (1 - settings.jitter)));
      }),
      { numRuns: 300 },
    );
  });

  it('spreads by the jitter fraction either way', () => {
    expect(backoffDelay(2, { jitter: 0.5, random: () => 0 })).toBe(500);
    expect(backoffDelay(2, { jitter: 0.5, random: () => 0.75 })).toBe(1250);
    // Jitter is clamped to [0, 1].
    expect(backoffDelay(2, { jitter: 7, random: () => 0 })).toBe(0);
    expect(backoffDelay(2, { jitter: -1, random: () => 0 })).toBe(1000);
  });

  it('is deterministic with an injected random source', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 1 }),
        (draws) => {
          const run = () => {
            let index = 0;
            const random = () => draws[index++ % draws.length] as number;
            return Array.from({ length: 10 }, (_, attempt) => backoffDelay(attempt, { random }));
          };
          expect(run()).toEqual(run());
        },
      ),
      { numRuns: 100 },
    );
  });
});
