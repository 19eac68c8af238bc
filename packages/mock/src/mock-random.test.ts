import { describe, expect, it } from 'vitest';
import { hash32, hashBytes, SeededRandom, unitHash } from './mock-random.js';

describe('SeededRandom', () => {
  it('repeats its sequence for a seed and continues from a restored state', () => {
    const first = new SeededRandom(42);
    const second = new SeededRandom(42);
    const sequence = Array.from({ length: 8 }, () => first.nextUint32());
    expect(Array.from({ length: 8 }, () => second.nextUint32())).toEqual(sequence);
    expect(new SeededRandom(43).nextUint32()).not.toBe(sequence[0]);
    const restored = new SeededRandom(0);
    const original = new SeededRandom(7);
    original.next();
    restored.state = original.state;
    expect(restored.hex(20)).toBe(original.hex(20));
  });

  it('draws within bounds', () => {
    const random = new SeededRandom(1);
    for (let index = 0; index < 1_000; index++) {
      const value = random.next();
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
      expect(random.int(3)).toBeLessThan(3);
    }
    expect(random.hex(13)).toMatch(/^[0-9a-f]{13}$/);
  });
});

describe('hash32', () => {
  it('is stable and separates its parts', () => {
    expect(hash32('a', 1)).toBe(hash32('a', 1));
    expect(hash32('ab', 'c')).not.toBe(hash32('a', 'bc'));
    expect(hash32(1)).not.toBe(hash32('1'));
    expect(unitHash('x')).toBeLessThan(1);
    expect([...hashBytes(6, 'seed')]).toEqual([...hashBytes(6, 'seed')]);
    expect([...hashBytes(6, 'seed')]).not.toEqual([...hashBytes(6, 'other')]);
  });
});
