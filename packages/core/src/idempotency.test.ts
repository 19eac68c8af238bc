import { describe, expect, it } from 'vitest';
import { canonicalJson, shortHash } from './idempotency.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: undefined } })).toBe(
      '{"a":{"d":[2,{"e":0,"f":1}]},"b":1}',
    );
  });

  it('gives equal text for equal input in any key order, different text otherwise', () => {
    expect(canonicalJson({ x: 1, y: 'a' })).toBe(canonicalJson({ y: 'a', x: 1 }));
    expect(canonicalJson({ x: 1 })).not.toBe(canonicalJson({ x: 2 }));
  });
});

describe('shortHash', () => {
  it('is the prefix of the SHA-256 hex digest', () => {
    expect(shortHash('abc', 12)).toBe('ba7816bf8f01');
    expect(shortHash('abc', 20)).toHaveLength(20);
  });
});
