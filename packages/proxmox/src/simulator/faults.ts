/** Which requests a fault applies to. */
export interface RequestMatcher {
  /** HTTP method; any when omitted. */
  method?: string;
  /** Matched against the path after `/api2/json` (a string matches as a substring). */
  path?: string | RegExp;
}

/** Fault injection on a running simulator. Every rule counts down and then disappears. */
export interface SimulatorFaults {
  /**
   * Answers the next `times` (default 1) matching requests with `status` and `reason` and no body,
   * as pveproxy does when its backend times out (`596 Connection timed out`).
   */
  failRequests(matcher: RequestMatcher & { status: number; reason?: string; times?: number }): void;
  /** Destroys the socket without a response for the next `times` (default 1) matching requests. */
  dropConnections(matcher: RequestMatcher & { times?: number }): void;
  /** The next `times` (default 1) config-lock attempts on `vmid` (any VM when omitted) time out. */
  lockTimeouts(options: { vmid?: number; times?: number }): void;
  /** Delays the next `times` (default 1) tasks of `type` (any when omitted) by `extraMs`. */
  slowTasks(options: { type?: string; extraMs: number; times?: number }): void;
  /** The next `times` (default 1) tasks of `type` log `warnings` warnings and end `WARNINGS: n`. */
  warnTasks(options: { type?: string; warnings: number; times?: number }): void;
  /** Invalidates every ticket issued so far; the next request with one gets the version's 401. */
  expireTickets(): void;
  /** Removes every pending rule. */
  clear(): void;
}

interface Rule<T> {
  value: T;
  remaining: number;
}

function matches(matcher: RequestMatcher, method: string, path: string): boolean {
  if (matcher.method && matcher.method.toUpperCase() !== method) return false;
  if (matcher.path === undefined) return true;
  return typeof matcher.path === 'string' ? path.includes(matcher.path) : matcher.path.test(path);
}

function take<T>(rules: Rule<T>[], predicate: (value: T) => boolean): T | undefined {
  const index = rules.findIndex((rule) => predicate(rule.value));
  if (index < 0) return undefined;
  const rule = rules[index] as Rule<T>;
  rule.remaining--;
  if (rule.remaining <= 0) rules.splice(index, 1);
  return rule.value;
}

/** The fault rules and how the server consumes them. */
export class FaultInjector implements SimulatorFaults {
  readonly #failures: Rule<RequestMatcher & { status: number; reason?: string }>[] = [];
  readonly #drops: Rule<RequestMatcher>[] = [];
  readonly #locks: Rule<{ vmid?: number }>[] = [];
  readonly #slow: Rule<{ type?: string; extraMs: number }>[] = [];
  readonly #warn: Rule<{ type?: string; warnings: number }>[] = [];

  constructor(readonly onExpireTickets: () => void) {}

  failRequests(
    matcher: RequestMatcher & { status: number; reason?: string; times?: number },
  ): void {
    this.#failures.push({ value: matcher, remaining: matcher.times ?? 1 });
  }

  dropConnections(matcher: RequestMatcher & { times?: number }): void {
    this.#drops.push({ value: matcher, remaining: matcher.times ?? 1 });
  }

  lockTimeouts(options: { vmid?: number; times?: number }): void {
    this.#locks.push({ value: options, remaining: options.times ?? 1 });
  }

  slowTasks(options: { type?: string; extraMs: number; times?: number }): void {
    this.#slow.push({ value: options, remaining: options.times ?? 1 });
  }

  warnTasks(options: { type?: string; warnings: number; times?: number }): void {
    this.#warn.push({ value: options, remaining: options.times ?? 1 });
  }

  expireTickets(): void {
    this.onExpireTickets();
  }

  clear(): void {
    this.#failures.length = 0;
    this.#drops.length = 0;
    this.#locks.length = 0;
    this.#slow.length = 0;
    this.#warn.length = 0;
  }

  takeDrop(method: string, path: string): boolean {
    return take(this.#drops, (rule) => matches(rule, method, path)) !== undefined;
  }

  takeFailure(method: string, path: string): { status: number; reason?: string } | undefined {
    return take(this.#failures, (rule) => matches(rule, method, path));
  }

  takeLockTimeout(vmid: number): boolean {
    return take(this.#locks, (rule) => rule.vmid === undefined || rule.vmid === vmid) !== undefined;
  }

  takeTaskWarnings(type: string): number {
    return take(this.#warn, (rule) => rule.type === undefined || rule.type === type)?.warnings ?? 0;
  }

  takeTaskDelay(type: string): number {
    return take(this.#slow, (rule) => rule.type === undefined || rule.type === type)?.extraMs ?? 0;
  }
}
