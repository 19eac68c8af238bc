import {
  AuthenticationError,
  ConflictError,
  type HvkitError,
  ProviderApiError,
  TimeoutError,
  TransportError,
} from '@hvkit/core';
import { hash32, SeededRandom } from './mock-random.js';

/** Error class a fault raises. `locked` is `ConflictError('locked')`, retryable like the real one. */
export type MockFaultError = 'transport' | 'timeout' | 'locked' | 'provider-api' | 'authentication';

/**
 * A scripted failure.
 *
 * `operation` matches a driver operation name (`create`, `power`, `clone`, `getTask`,
 * `watchTask`, `exportDisk`, …), a task kind (`vm.create`, `vm.power-on`, `disk.import`, …) or
 * `'*'` for every call. Task handles observe through `watchTask`, not `getTask`.
 *
 * When it fires: with `nth`, on the nth matching call (1-based) and, when `times` > 1, on the
 * calls after it; with `probability`, on each matching call (from the nth, when both are given)
 * with that chance, drawn from a PRNG seeded by the provider's seed; with neither, on every
 * matching call. `times` caps how often the rule fires: default 1 with `nth`, unlimited otherwise.
 *
 * What it does: `throw` rejects the call; `task-fail` accepts a task and fails it when it would
 * have completed, with nothing applied (on an operation that makes no task it throws); `hang`
 * makes a task stay `running` forever, or a call that makes no task wait until its AbortSignal.
 */
export interface MockFaultRule {
  operation: string;
  nth?: number | undefined;
  probability?: number | undefined;
  times?: number | undefined;
  mode: 'throw' | 'task-fail' | 'hang';
  /** Default `transport`. */
  error?: MockFaultError | undefined;
  /** Default `mock fault: <operation>`. */
  message?: string | undefined;
}

/** Scripted faults of one provider. */
export interface MockFaults {
  /** Adds a rule after the existing ones; the first rule that fires on a call wins. */
  add(rule: MockFaultRule): void;
  /** Removes every rule (the fired count stays). */
  clear(): void;
  /** How many times any rule fired since the provider was made. */
  readonly fired: number;
}

interface RuleState {
  rule: MockFaultRule;
  calls: number;
  fired: number;
}

/** The {@link MockFaults} implementation the driver consults on every call. */
export class MockFaultController implements MockFaults {
  #rules: RuleState[] = [];
  #fired = 0;
  readonly #random: SeededRandom;

  /** `seed` feeds the probability draws only, so faults never shift the ids the backend mints. */
  constructor(seed: number, rules: readonly MockFaultRule[] = []) {
    this.#random = new SeededRandom(hash32('faults', seed));
    for (const rule of rules) this.add(rule);
  }

  /** Throws `TypeError` for a malformed rule. */
  add(rule: MockFaultRule): void {
    if (typeof rule.operation !== 'string' || rule.operation === '') {
      throw new TypeError('a fault rule needs an operation');
    }
    if (!['throw', 'task-fail', 'hang'].includes(rule.mode)) {
      throw new TypeError(`unknown fault mode ${JSON.stringify(rule.mode)}`);
    }
    if (rule.nth !== undefined && !(Number.isInteger(rule.nth) && rule.nth >= 1)) {
      throw new TypeError('nth must be an integer from 1');
    }
    if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1)) {
      throw new TypeError('probability must be between 0 and 1');
    }
    if (rule.times !== undefined && !(rule.times >= 0)) {
      throw new TypeError('times must not be negative');
    }
    this.#rules.push({ rule: { ...rule }, calls: 0, fired: 0 });
  }

  clear(): void {
    this.#rules = [];
  }

  get fired(): number {
    return this.#fired;
  }

  /**
   * Counts one call known by `names` (operation name, task kind) against every matching rule and
   * returns the rule that fires, if any.
   */
  match(names: readonly string[]): MockFaultRule | undefined {
    let firing: MockFaultRule | undefined;
    for (const state of this.#rules) {
      const { rule } = state;
      if (rule.operation !== '*' && !names.includes(rule.operation)) continue;
      state.calls += 1;
      if (firing !== undefined) continue;
      const limit =
        rule.times ?? (rule.nth !== undefined && rule.probability === undefined ? 1 : Infinity);
      if (state.fired >= limit) continue;
      if (rule.nth !== undefined && state.calls < rule.nth) continue;
      if (rule.probability !== undefined && !(this.#random.next() < rule.probability)) continue;
      state.fired += 1;
      this.#fired += 1;
      firing = rule;
    }
    return firing;
  }
}

/** The error a fault raises, as the core class its `error` names. */
export function faultError(rule: MockFaultRule, operation: string, provider: string): HvkitError {
  const message = rule.message ?? `mock fault: ${operation}`;
  const options = { provider };
  switch (rule.error ?? 'transport') {
    case 'timeout':
      return new TimeoutError(message, 0, options);
    case 'locked':
      return new ConflictError('locked', message, options);
    case 'provider-api':
      return new ProviderApiError(message, { ...options, status: 500, fault: 'MockFault' });
    case 'authentication':
      return new AuthenticationError(message, options);
    default:
      return new TransportError(message, options);
  }
}
