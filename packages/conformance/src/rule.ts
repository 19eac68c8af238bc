import type { CapabilityId } from '@hvkit/core';
import type { SuiteContext } from './context.js';

/** One conformance test: the capability it proves, and what else it needs to run. */
export interface ConformanceRule {
  readonly capability: CapabilityId;
  /** Test title without the capability prefix. */
  readonly title: string;
  /** Other capabilities the test uses; it is registered only when all are usable. */
  readonly needs: readonly CapabilityId[];
  readonly run: (ctx: SuiteContext) => Promise<void>;
}

/** Declares a test of `capability`. */
export function rule(
  capability: CapabilityId,
  title: string,
  needs: readonly CapabilityId[],
  run: (ctx: SuiteContext) => Promise<void>,
): ConformanceRule {
  return { capability, title, needs, run };
}

/** The full test title: `<capability>: <title>`. */
export function ruleName(test: Pick<ConformanceRule, 'capability' | 'title'>): string {
  return `${test.capability}: ${test.title}`;
}
