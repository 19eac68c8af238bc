/** Backoff between polls: exponential from `initialDelayMs` to `maxDelayMs`, with jitter. */
export interface BackoffOptions {
  /** First delay. Default 250 ms. */
  initialDelayMs?: number;
  /** Ceiling. Default 5,000 ms. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay drawn at random either way, 0–1. Default 0.2. */
  jitter?: number;
  /** Random source in [0, 1); injectable for deterministic tests. Default `Math.random`. */
  random?: () => number;
}

/** The delay before poll number `attempt` (0-based), within [initialDelayMs·(1−jitter), maxDelayMs]. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialDelayMs ?? 250;
  const max = Math.max(initial, options.maxDelayMs ?? 5_000);
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.2));
  const random = options.random ?? Math.random;
  const base = Math.min(max, initial * factor ** Math.max(0, attempt));
  const spread = base * jitter * (random() * 2 - 1);
  return Math.round(Math.min(max, Math.max(0, base + spread)));
}
