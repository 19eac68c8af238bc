import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import vectors from './__fixtures__/upid-vectors.json' with { type: 'json' };
import { formatUpid, isUpid, parseUpid, tryParseUpid, type Upid } from './upid.js';

describe('UPID codec', () => {
  it.each(vectors.valid)('decodes and re-encodes $upid', (vector) => {
    const parsed = parseUpid(vector.upid);
    expect(parsed).toEqual({
      node: vector.node,
      pid: vector.pid,
      pstart: vector.pstart,
      starttime: vector.starttime,
      type: vector.type,
      id: vector.id,
      user: vector.user,
    });
    expect(formatUpid(parsed)).toBe(vector.upid);
    expect(isUpid(vector.upid)).toBe(true);
  });

  it.each(vectors.invalid)('refuses %s', (text) => {
    expect(isUpid(text)).toBe(false);
    expect(tryParseUpid(text)).toBeUndefined();
    expect(() => parseUpid(text)).toThrow(InvalidSpecError);
  });

  it('refuses fields that would break the format', () => {
    const base: Upid = {
      node: 'pve',
      pid: 1,
      pstart: 2,
      starttime: 3,
      type: 'qmstart',
      id: '100',
      user: 'root@pam',
    };
    expect(() => formatUpid({ ...base, node: '-bad' })).toThrow(InvalidSpecError);
    expect(() => formatUpid({ ...base, type: 'a b' })).toThrow(InvalidSpecError);
    expect(() => formatUpid({ ...base, id: 'a:b' })).toThrow(InvalidSpecError);
    expect(() => formatUpid({ ...base, user: '' })).toThrow(InvalidSpecError);
    expect(() => formatUpid({ ...base, pid: -1 })).toThrow(InvalidSpecError);
    expect(() => formatUpid({ ...base, starttime: 2 ** 32 })).toThrow(InvalidSpecError);
    expect(formatUpid({ ...base, pstart: 2 ** 36 - 1 })).toContain(':FFFFFFFFF:');
  });

  it('round-trips arbitrary valid fields', () => {
    const field = fc.stringMatching(/^[A-Za-z0-9@!._-]{1,20}$/);
    fc.assert(
      fc.property(
        fc.record({
          node: fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/),
          pid: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          pstart: fc.integer({ min: 0, max: 2 ** 36 - 1 }),
          starttime: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          type: field,
          id: fc.oneof(fc.constant(''), field),
          user: field,
        }),
        (upid) => {
          expect(parseUpid(formatUpid(upid))).toEqual(upid);
        },
      ),
    );
  });
});
