import type { CapabilityId } from '@hvkit/core';
import { type ConformanceRule, type RuleFixtures, ruleName } from './rule.js';
import { advancedRules } from './tests/advanced.js';
import { coreRules } from './tests/core.js';
import { guestRules } from './tests/guest.js';
import { imageRules } from './tests/images.js';
import { lifecycleRules } from './tests/lifecycle.js';
import { migrationRules } from './tests/migration.js';
import { monitoringRules } from './tests/monitoring.js';
import { networkRules } from './tests/network.js';
import { resourceRules } from './tests/resources.js';
import { snapshotRules } from './tests/snapshots.js';
import { storageRules } from './tests/storage.js';

/** Every capability test, in catalog order of their areas. */
export const CONFORMANCE_RULES: readonly ConformanceRule[] = [
  ...coreRules,
  ...resourceRules,
  ...storageRules,
  ...networkRules,
  ...lifecycleRules,
  ...snapshotRules,
  ...imageRules,
  ...guestRules,
  ...advancedRules,
  ...monitoringRules,
  ...migrationRules,
];

/** One test of the suite and the capability it proves. */
export interface ConformanceTestInfo {
  readonly capability: CapabilityId;
  /** Full test title as vitest reports it (inside `<suite name> > <category>`). */
  readonly name: string;
  /** Other capabilities the test uses; it runs only when they are usable too. */
  readonly needs: readonly CapabilityId[];
  /**
   * Fixture values the test is registered under (defaults applied), e.g. `{ linkedCloneSource:
   * 'template' }`; absent when it runs whatever the fixtures say.
   */
  readonly fixtures?: Partial<RuleFixtures>;
}

/**
 * Which tests prove which capability: the tests registered for a capability the provider declares
 * `supported` or `partial` (those with `fixtures` only under those fixture values). A capability declared `unsupported` or `not-applicable` gets one test
 * instead, titled `<id>: declared <level> ⇒ …`, proving the operation is refused before any I/O.
 */
export const CONFORMANCE_TESTS: readonly ConformanceTestInfo[] = CONFORMANCE_RULES.map((rule) => ({
  capability: rule.capability,
  name: ruleName(rule),
  needs: rule.needs,
  ...(rule.fixtures === undefined ? {} : { fixtures: rule.fixtures }),
}));
