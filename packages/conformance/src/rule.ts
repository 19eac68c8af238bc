import type { CapabilityId } from '@hvkit/core';
import type { SuiteContext } from './context.js';
import type { ConformanceFixtures } from './options.js';

/**
 * Fixture values a test is registered under; a test without one runs whatever the fixtures say.
 * Defaults apply: a test for `linkedCloneSource: 'snapshot'` runs when the fixture is omitted.
 */
export type RuleFixtures = Required<Pick<ConformanceFixtures, 'linkedCloneSource'>>;

/** Defaults of the fixtures that choose tests. */
const FIXTURE_DEFAULTS: RuleFixtures = { linkedCloneSource: 'snapshot' };

/** One conformance test: the capability it proves, and what else it needs to run. */
export interface ConformanceRule {
  readonly capability: CapabilityId;
  /** Test title without the capability prefix. */
  readonly title: string;
  /** Other capabilities the test uses; it is registered only when all are usable. */
  readonly needs: readonly CapabilityId[];
  /** Registered only when the suite's fixtures have these values. */
  readonly fixtures?: Partial<RuleFixtures>;
  readonly run: (ctx: SuiteContext) => Promise<void>;
}

/** Declares a test of `capability`. */
export function rule(
  capability: CapabilityId,
  title: string,
  needs: readonly CapabilityId[],
  run: (ctx: SuiteContext) => Promise<void>,
  fixtures?: Partial<RuleFixtures>,
): ConformanceRule {
  return fixtures === undefined
    ? { capability, title, needs, run }
    : { capability, title, needs, fixtures, run };
}

/** True when `test` is registered under `fixtures` (defaults applied). */
export function selectedBy(
  test: Pick<ConformanceRule, 'fixtures'>,
  fixtures: ConformanceFixtures,
): boolean {
  return Object.entries(test.fixtures ?? {}).every(
    ([key, value]) =>
      (fixtures[key as keyof RuleFixtures] ?? FIXTURE_DEFAULTS[key as keyof RuleFixtures]) ===
      value,
  );
}

/** The full test title: `<capability>: <title>`. */
export function ruleName(test: Pick<ConformanceRule, 'capability' | 'title'>): string {
  return `${test.capability}: ${test.title}`;
}
