/** Small statistics and formatting helpers of the libvirt bench. */
import { loadavg } from 'node:os';

/** Median of `values` (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Rounds of one side: every value, median, min and max. */
export interface Spread {
  medianMs: number;
  minMs: number;
  maxMs: number;
  roundsMs: number[];
}

/** The spread of `rounds` (ms), values rounded to 0.1 ms. */
export function spread(rounds: readonly number[]): Spread {
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    medianMs: round(median(rounds)),
    minMs: round(Math.min(...rounds)),
    maxMs: round(Math.max(...rounds)),
    roundsMs: rounds.map(round),
  };
}

/** The 1-minute load average now, two decimals. */
export function load1(): number {
  return Number((loadavg()[0] ?? 0).toFixed(2));
}

/** Milliseconds an async action takes. */
export async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

/** `value` with two decimals and `×`. */
export function ratio(value: number): string {
  return `${value.toFixed(2)}×`;
}

/** A markdown table from a header and rows. */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * Samples this process's RSS every `everyMs` until stopped; `peak - baseline` is what a transfer
 * added. The baseline is taken at start. Sampling runs on the event loop, so a loop blocked for
 * long stretches would miss a short peak; the transfers here yield between chunks.
 */
export function rssSampler(everyMs = 20): { stop(): { baselineMiB: number; peakMiB: number } } {
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
      return { baselineMiB: mib(baseline), peakMiB: mib(peak) };
    },
  };
}

/**
 * Median of the per-round ratios `a[i] / b[i]`: rounds are interleaved, so a pair saw the same
 * moment of the machine; under a load that drifts during the run this is steadier than the ratio
 * of the two medians.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  return median(a.map((value, index) => value / (b[index] ?? Number.NaN)));
}
