import { describe, expect, it } from 'vitest';
import { looseBool, looseInt, looseNumber, looseString } from './loose-types.js';

describe('Perl-loose values', () => {
  it('looseInt accepts numbers and decimal strings', () => {
    expect(looseInt.parse(100)).toBe(100);
    expect(looseInt.parse('100')).toBe(100);
    expect(looseInt.parse('-3')).toBe(-3);
    for (const bad of ['1.5', '', 'abc', 1.5, null, '99999999999999999999']) {
      expect(looseInt.safeParse(bad).success).toBe(false);
    }
  });

  it('looseNumber accepts numbers and numeric strings', () => {
    expect(looseNumber.parse('0.5')).toBe(0.5);
    expect(looseNumber.parse(2)).toBe(2);
    expect(looseNumber.parse('1e3')).toBe(1000);
    expect(looseNumber.safeParse('1,5').success).toBe(false);
    expect(looseNumber.safeParse('').success).toBe(false);
  });

  it('looseBool accepts 0/1, "0"/"1", true/false and PVE 6 ""', () => {
    expect([1, '1', true].map((value) => looseBool.parse(value))).toEqual([true, true, true]);
    expect([0, '0', false, ''].map((value) => looseBool.parse(value))).toEqual([
      false,
      false,
      false,
      false,
    ]);
    for (const bad of [2, 'true', 'yes', null])
      expect(looseBool.safeParse(bad).success).toBe(false);
  });

  it('looseString keeps numbers as text', () => {
    expect(looseString.parse(5900)).toBe('5900');
    expect(looseString.parse('5900')).toBe('5900');
  });
});
