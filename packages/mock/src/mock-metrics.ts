/**
 * Synthetic performance data, a pure function of the seed, the VM and the time, so two runs
 * with the same seed and clock see the same numbers and a sample never changes once seen.
 */
import {
  METRIC_UNITS,
  type MetricName,
  MetricNameSchema,
  type MetricSeries,
  type PowerState,
} from '@hvkit/core';
import { unitHash } from './mock-random.js';

/** Interval of the real-time window, in seconds (vSphere's real-time statistics). */
export const REALTIME_INTERVAL_SECONDS = 20;
/** Interval of history older than the real-time window, in seconds. */
export const HISTORY_INTERVAL_SECONDS = 300;
/** Length of the real-time window, in milliseconds (one hour). */
export const REALTIME_WINDOW_MS = 3_600_000;
/** Samples per series when the query names no `maxSamples`. */
export const DEFAULT_MAX_SAMPLES = 60;

/** What a metric needs to know about a VM. */
export interface MetricSubject {
  id: string;
  powerState: PowerState;
  memorySizeMiB: number;
}

const MIB = 1_048_576;

/**
 * The value of `metric` for the VM at `timeMs`. A VM that is not on reports 0 for everything
 * (its current power state applies to every sample: the Mock keeps no power history).
 */
export function metricValue(
  seed: number,
  vm: MetricSubject,
  metric: MetricName,
  timeMs: number,
): number {
  if (vm.powerState !== 'on') return 0;
  const bucket = Math.floor(timeMs / (REALTIME_INTERVAL_SECONDS * 1000));
  const level = unitHash(seed, vm.id, metric, 'level');
  const noise = unitHash(seed, vm.id, metric, bucket);
  // A slow daily wave on top of the VM's own level, so a chart has a shape.
  const wave = (Math.sin((timeMs / 86_400_000) * 2 * Math.PI + level * 6.283) + 1) / 2;
  const round = (value: number) => Math.round(value * 100) / 100;
  switch (metric) {
    case 'cpu.usagePercent':
      return round(Math.min(100, 2 + 55 * level + 25 * wave + 15 * noise));
    case 'memory.usagePercent':
      return round(Math.min(100, 20 + 50 * level + 10 * wave + 5 * noise));
    case 'memory.usedMiB': {
      const percent = metricValue(seed, vm, 'memory.usagePercent', timeMs);
      return Math.round((percent / 100) * vm.memorySizeMiB);
    }
    default:
      return Math.round((level * 20 + wave * 10 + noise * 10) * MIB);
  }
}

/** The query as the driver receives it (ISO strings after validation). */
export interface MetricWindow {
  metrics?: MetricName[] | undefined;
  since?: string | undefined;
  until?: string | undefined;
  maxSamples?: number | undefined;
}

/**
 * Series for one VM. Without `since`, or with `since` inside the last hour: the real-time window
 * at 20 s. With `since` older than an hour: history at 300 s from `since`. Samples sit on
 * interval boundaries, run oldest first, and at most `maxSamples` (default 60) newest are kept.
 */
export function metricSeries(
  seed: number,
  vm: MetricSubject,
  query: MetricWindow,
  nowMs: number,
): MetricSeries[] {
  const metrics = query.metrics ?? MetricNameSchema.options;
  const untilMs = Math.min(nowMs, query.until ? Date.parse(query.until) : nowMs);
  const windowStart = nowMs - REALTIME_WINDOW_MS;
  const sinceMs = query.since ? Date.parse(query.since) : windowStart;
  const history = sinceMs < windowStart;
  const intervalSeconds = history ? HISTORY_INTERVAL_SECONDS : REALTIME_INTERVAL_SECONDS;
  const intervalMs = intervalSeconds * 1000;
  const maxSamples = query.maxSamples ?? DEFAULT_MAX_SAMPLES;
  const times: number[] = [];
  for (
    let time = Math.floor(untilMs / intervalMs) * intervalMs;
    time >= sinceMs && times.length < maxSamples;
    time -= intervalMs
  ) {
    times.push(time);
  }
  times.reverse();
  return metrics.map((metric) => ({
    metric,
    unit: METRIC_UNITS[metric],
    intervalSeconds,
    samples: times.map((time) => ({
      timestamp: new Date(time).toISOString(),
      value: metricValue(seed, vm, metric, time),
    })),
  }));
}

/** The value of the latest real-time sample at `nowMs` (what alerts compare). */
export function latestValue(
  seed: number,
  vm: MetricSubject,
  metric: MetricName,
  nowMs: number,
): number {
  const intervalMs = REALTIME_INTERVAL_SECONDS * 1000;
  return metricValue(seed, vm, metric, Math.floor(nowMs / intervalMs) * intervalMs);
}
