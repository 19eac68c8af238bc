import {
  CAPABILITY_CATALOG,
  CAPABILITY_CATEGORIES,
  CAPABILITY_IDS,
  type CapabilityCategory,
  type CapabilityId,
  type SupportLevel,
} from '@hvkit/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CONFORMANCE_RULES, CONFORMANCE_TESTS } from './catalog.js';
import { SuiteContext } from './context.js';
import { expectUnsupported, rejectionOf } from './helpers.js';
import type { ConformanceOptions } from './options.js';
import { PROBES } from './probes.js';
import { ruleName, selectedBy } from './rule.js';
import { contractTests, withoutIo } from './tests/contract.js';

/** Title of the single test registered for a capability that is not usable. */
export function unsupportedTestName(capability: CapabilityId, level: SupportLevel): string {
  return PROBES[capability]
    ? `${capability}: declared ${level} ⇒ UnsupportedCapabilityError before any I/O`
    : `${capability}: declared ${level} ⇒ can() answers no, without I/O`;
}

/**
 * Registers the conformance suite for one provider: a `describe(options.name)` holding the
 * contract tests every provider runs, then one `describe` per capability category. For each
 * capability the provider declares `supported` or `partial`, the tests that prove it; for each
 * other capability, one test that the operation it gates throws `UnsupportedCapabilityError`
 * before any I/O. Call it at the top level of a vitest test file.
 */
export function defineConformanceSuite(options: ConformanceOptions): void {
  // Sequential whatever the project's config says: tests share the provider and its cleanup list.
  describe.sequential(options.name, async () => {
    // The declarations choose the tests, so the provider is made while the suite is collected.
    const ctx = new SuiteContext(await options.createProvider(), options);

    afterEach(() => ctx.cleanupTest(), ctx.testMs);
    afterAll(() => ctx.cleanupAll(), ctx.testMs);

    describe('contract', () => {
      for (const test of contractTests) it(test.title, () => test.run(ctx), ctx.testMs);
      it('CONFORMANCE_TESTS proves every catalog capability', () => {
        for (const id of CAPABILITY_IDS) {
          expect(
            CONFORMANCE_TESTS.some((test) => test.capability === id),
            `${id} has no test`,
          ).toBe(true);
        }
      });
    });

    for (const category of Object.keys(CAPABILITY_CATEGORIES) as CapabilityCategory[]) {
      describe(category, () => {
        for (const id of CAPABILITY_IDS) {
          if (CAPABILITY_CATALOG[id].category !== category) continue;
          registerCapability(ctx, id);
        }
      });
    }
  });
}

function registerCapability(ctx: SuiteContext, id: CapabilityId): void {
  const status = ctx.provider.capabilities[id];
  if (!ctx.usable(id)) {
    it(unsupportedTestName(id, status.level), () => refusedBeforeIo(ctx, id), ctx.testMs);
    return;
  }
  const rules = CONFORMANCE_RULES.filter(
    (rule) => rule.capability === id && selectedBy(rule, ctx.fixtures),
  );
  const runnable = rules.filter((rule) => rule.needs.every((need) => ctx.usable(need)));
  for (const rule of runnable) it(ruleName(rule), () => rule.run(ctx), ctx.testMs);
  if (runnable.length === 0) {
    const missing = [...new Set(rules.flatMap((rule) => rule.needs))].filter(
      (need) => !ctx.usable(need),
    );
    it(`${id}: declared ${status.level} but no test can prove it`, () => {
      expect.fail(
        `every test of ${id} also needs one of ${missing.join(', ')}, which the provider does not declare usable`,
      );
    });
  }
}

async function refusedBeforeIo(ctx: SuiteContext, id: CapabilityId): Promise<void> {
  const level = ctx.provider.capabilities[id].level;
  const probes = PROBES[id] ?? [];
  const reachable = probes.find((probe) => probe.after.every((before) => ctx.usable(before)));
  const probe = reachable ?? probes[0];
  if (probe) {
    const error = await withoutIo(ctx, () =>
      rejectionOf(() => probe.run(ctx.provider, ctx.missingRef)),
    );
    expectUnsupported(error);
    if (reachable) {
      expect(error.capability, `${probe.operation} must be refused for ${id}`).toBe(id);
    } else {
      // Every operation using this capability is already refused for a capability checked first.
      expect([id, ...probe.after]).toContain(error.capability);
    }
  }
  const can = await withoutIo(ctx, () => ctx.provider.can(ctx.missingRef, id));
  expect(can.ok).toBe(false);
  expect(can.capability).toBe(id);
  expect(can.reason).toContain(level);
}
