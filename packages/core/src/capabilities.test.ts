import { describe, expect, expectTypeOf, it } from 'vitest';
import { declarations } from '../test/fake-driver.js';
import {
  CAPABILITY_CATALOG,
  CAPABILITY_CATEGORIES,
  CAPABILITY_IDS,
  type CapabilityDeclarations,
  type CapabilityId,
  type CapabilityMap,
  declareCapabilities,
  isCapabilityId,
  isUsable,
} from './capabilities.js';
import { DRIVER_METHOD_CAPABILITIES } from './driver.js';

describe('capability catalog', () => {
  it('gives every id a known category, a title and a description', () => {
    expect(CAPABILITY_IDS.length).toBeGreaterThan(50);
    for (const id of CAPABILITY_IDS) {
      const info = CAPABILITY_CATALOG[id];
      expect(Object.keys(CAPABILITY_CATEGORIES), id).toContain(info.category);
      expect(id.startsWith(`${info.category}.`), id).toBe(true);
      expect(info.title.trim().length, id).toBeGreaterThan(0);
      expect(info.description.trim().length, id).toBeGreaterThan(10);
      expect(info.description.endsWith('.'), id).toBe(true);
    }
  });

  it('has unique titles within each category', () => {
    const seen = new Set<string>();
    for (const id of CAPABILITY_IDS) {
      const key = `${CAPABILITY_CATALOG[id].category}/${CAPABILITY_CATALOG[id].title}`;
      expect(seen.has(key), key).toBe(false);
      seen.add(key);
    }
  });

  it('lists ids grouped by category, in category order', () => {
    const categories = Object.keys(CAPABILITY_CATEGORIES);
    const order = CAPABILITY_IDS.map((id) => categories.indexOf(CAPABILITY_CATALOG[id].category));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('isCapabilityId accepts catalog ids only', () => {
    for (const id of CAPABILITY_IDS) expect(isCapabilityId(id)).toBe(true);
    for (const value of ['core', 'core.nope', 'toString', '__proto__', '', 1, null, undefined]) {
      expect(isCapabilityId(value), String(value)).toBe(false);
    }
  });

  it('gates driver methods with catalog ids only', () => {
    for (const [method, ids] of Object.entries(DRIVER_METHOD_CAPABILITIES)) {
      for (const id of ids) expect(isCapabilityId(id), `${method}: ${id}`).toBe(true);
    }
  });
});

describe('declareCapabilities', () => {
  it('normalises a complete declaration', () => {
    const map = declareCapabilities(
      declarations({
        'snapshots.memory': 'unsupported',
        'network.vlan': { level: 'partial', note: 'trunk ports only' },
        'advanced.ha': { level: 'not-applicable', note: 'single host' },
        'core.create': { level: 'supported' },
      }),
    );
    expect(map['core.delete']).toEqual({ level: 'supported' });
    expect(map['core.create']).toEqual({ level: 'supported' });
    expect(map['snapshots.memory']).toEqual({ level: 'unsupported' });
    expect(map['network.vlan']).toEqual({ level: 'partial', note: 'trunk ports only' });
    expect(map['advanced.ha']).toEqual({ level: 'not-applicable', note: 'single host' });
    expect(Object.keys(map)).toEqual(CAPABILITY_IDS);
    expect(Object.isFrozen(map)).toBe(true);
  });

  it('refuses a declaration missing an id when no default is given', () => {
    const partial: Record<string, unknown> = { ...declarations() };
    delete partial['monitoring.alerting'];
    expect(() => declareCapabilities(partial as unknown as CapabilityDeclarations)).toThrow(
      /monitoring\.alerting is not declared/,
    );
  });

  it('fills missing ids with the documented default', () => {
    const map = declareCapabilities(
      { 'core.create': 'supported', 'core.describe': { level: 'partial', note: 'no paging' } },
      { defaults: 'unsupported' },
    );
    expect(map['core.create'].level).toBe('supported');
    expect(map['core.describe']).toEqual({ level: 'partial', note: 'no paging' });
    expect(map['core.delete'].level).toBe('unsupported');
    expect(Object.keys(map)).toEqual(CAPABILITY_IDS);
    const notApplicable = declareCapabilities({}, { defaults: 'not-applicable' });
    for (const id of CAPABILITY_IDS) expect(notApplicable[id].level).toBe('not-applicable');
  });

  it('refuses unknown ids, with or without defaults', () => {
    expect(() =>
      declareCapabilities({ ...declarations(), 'core.teleport': 'supported' } as never),
    ).toThrow(/unknown capability id "core\.teleport"/);
    expect(() =>
      declareCapabilities({ 'core.teleport': 'supported' } as never, { defaults: 'unsupported' }),
    ).toThrow(TypeError);
  });

  it('refuses partial without a note', () => {
    for (const declaration of [{ level: 'partial' }, { level: 'partial', note: '' }, 'partial']) {
      expect(() =>
        declareCapabilities({ 'core.create': declaration as never }, { defaults: 'unsupported' }),
      ).toThrow(TypeError);
    }
  });

  it('refuses unknown support levels', () => {
    for (const declaration of ['Supported', 'yes', { level: 'full' }, { level: true }]) {
      expect(() =>
        declareCapabilities({ 'core.create': declaration as never }, { defaults: 'unsupported' }),
      ).toThrow(/unknown support level/);
    }
  });

  it('isUsable is true for supported and partial only', () => {
    expect(isUsable({ level: 'supported' })).toBe(true);
    expect(isUsable({ level: 'partial', note: 'x' })).toBe(true);
    expect(isUsable({ level: 'unsupported' })).toBe(false);
    expect(isUsable({ level: 'not-applicable' })).toBe(false);
  });
});

describe('declaration types', () => {
  it('make a missing id a compile error', () => {
    const { 'core.create': _omitted, ...missingOne } = declarations();
    // @ts-expect-error — every catalog id must be declared when no default is given.
    const check = () => declareCapabilities(missingOne);
    expect(check).toThrow(TypeError);

    expectTypeOf<CapabilityDeclarations>().toHaveProperty('core.create');
    expectTypeOf<keyof CapabilityDeclarations>().toEqualTypeOf<CapabilityId>();
    expectTypeOf(declareCapabilities).returns.toEqualTypeOf<CapabilityMap>();
    expectTypeOf(missingOne).not.toMatchTypeOf<CapabilityDeclarations>();
  });

  it('make a partial declaration without a note a compile error', () => {
    // @ts-expect-error — `partial` needs a note.
    const bad: CapabilityDeclarations['core.create'] = { level: 'partial' };
    expect(bad).toBeDefined();
    // @ts-expect-error — `partial` is not a shorthand level.
    const shorthand: CapabilityDeclarations['core.create'] = 'partial';
    expect(shorthand).toBeDefined();
    // @ts-expect-error — unknown ids are refused.
    const unknown: Partial<CapabilityDeclarations> = { 'core.teleport': 'supported' };
    expect(unknown).toBeDefined();
  });
});
