/**
 * `GET /nodes/{node}/qemu/{vmid}/rrddata?timeframe=…&cf=AVERAGE` rows → core `MetricSeries`.
 * Pure: no I/O.
 *
 * Each row is `{ time, cpu, maxcpu, mem, maxmem, diskread, diskwrite, netin, netout, … }`; `cpu` is
 * the fraction of the VM's vCPUs in use, the I/O figures are already rates in bytes per second
 * (RRD DERIVE data sources), and a slot without data carries only `time` (or NaN-like gaps).
 */
import { METRIC_UNITS, type MetricName, MetricNameSchema, type MetricSeries } from '@hvkit/core';

/** One rrddata row, with Perl-loose types. */
export type RrdRow = { time: number | string } & Record<string, number | string | null | undefined>;

/** Timeframes of the rrddata endpoint. */
export type RrdTimeframe = 'hour' | 'day' | 'week' | 'month' | 'year';

/** How far back each timeframe reaches, in seconds (about 70 RRD rows each). */
export const TIMEFRAME_SECONDS: Record<RrdTimeframe, number> = {
  hour: 3600,
  day: 86_400,
  week: 7 * 86_400,
  month: 31 * 86_400,
  year: 366 * 86_400,
};

/** Row interval per timeframe on PVE ≤ 8 (pve-cluster RRA steps), used when rows do not tell. */
const DEFAULT_INTERVAL: Record<RrdTimeframe, number> = {
  hour: 60,
  day: 1800,
  week: 10_800,
  month: 43_200,
  year: 604_800,
};

/** Every metric the mapping produces: all of core's, in core order. */
export const PROXMOX_METRICS: readonly MetricName[] = MetricNameSchema.options;

/**
 * The smallest timeframe that reaches back to `since` (default: `hour`, the real-time window).
 * `now` is a parameter so callers and tests control the clock.
 */
export function chooseTimeframe(since: Date | string | undefined, now: Date): RrdTimeframe {
  if (since === undefined) return 'hour';
  const seconds = (now.getTime() - new Date(since).getTime()) / 1000;
  for (const timeframe of ['hour', 'day', 'week', 'month'] as const) {
    if (seconds <= TIMEFRAME_SECONDS[timeframe]) return timeframe;
  }
  return 'year';
}

function number(value: number | string | null | undefined): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const result = Number(value);
  return Number.isFinite(result) ? result : undefined;
}

function metricValue(metric: MetricName, row: RrdRow): number | undefined {
  switch (metric) {
    case 'cpu.usagePercent': {
      const cpu = number(row.cpu);
      return cpu === undefined ? undefined : Math.min(100, Math.max(0, cpu * 100));
    }
    case 'memory.usagePercent': {
      const used = number(row.mem);
      const total = number(row.maxmem);
      if (used === undefined || total === undefined || total <= 0) return undefined;
      return Math.min(100, Math.max(0, (used / total) * 100));
    }
    case 'memory.usedMiB': {
      const used = number(row.mem);
      return used === undefined ? undefined : used / 2 ** 20;
    }
    case 'disk.readBytesPerSecond':
      return number(row.diskread);
    case 'disk.writeBytesPerSecond':
      return number(row.diskwrite);
    case 'network.rxBytesPerSecond':
      return number(row.netin);
    case 'network.txBytesPerSecond':
      return number(row.netout);
  }
}

/** The row spacing: the most common gap between consecutive rows, else the timeframe default. */
export function intervalOf(rows: readonly RrdRow[], timeframe: RrdTimeframe): number {
  const times = rows
    .map((row) => number(row.time))
    .filter((time): time is number => time !== undefined)
    .sort((a, b) => a - b);
  const counts = new Map<number, number>();
  for (let index = 1; index < times.length; index++) {
    const gap = (times[index] as number) - (times[index - 1] as number);
    if (gap > 0) counts.set(gap, (counts.get(gap) ?? 0) + 1);
  }
  let best: number | undefined;
  let bestCount = 0;
  for (const [gap, count] of counts) {
    if (count > bestCount || (count === bestCount && best !== undefined && gap < best)) {
      best = gap;
      bestCount = count;
    }
  }
  return best ?? DEFAULT_INTERVAL[timeframe];
}

/** What {@link rrdToMetricSeries} filters by. */
export interface RrdQuery {
  metrics?: readonly MetricName[] | undefined;
  since?: Date | string | undefined;
  until?: Date | string | undefined;
  /** Newest samples kept per series. Default 60. */
  maxSamples?: number | undefined;
}

/**
 * One series per metric asked for (all by default): samples oldest first, within
 * `since`/`until`, at most `maxSamples` (the newest), rows without the figure skipped.
 */
export function rrdToMetricSeries(
  rows: readonly RrdRow[],
  query: RrdQuery,
  timeframe: RrdTimeframe,
): MetricSeries[] {
  const since = query.since === undefined ? undefined : new Date(query.since).getTime() / 1000;
  const until = query.until === undefined ? undefined : new Date(query.until).getTime() / 1000;
  const maxSamples = query.maxSamples ?? 60;
  const intervalSeconds = intervalOf(rows, timeframe);
  const sorted = rows
    .map((row) => ({ row, time: number(row.time) }))
    .filter((item): item is { row: RrdRow; time: number } => item.time !== undefined)
    .filter(
      (item) =>
        (since === undefined || item.time >= since) && (until === undefined || item.time <= until),
    )
    .sort((a, b) => a.time - b.time);
  return (query.metrics ?? PROXMOX_METRICS).map((metric) => {
    const samples: MetricSeries['samples'] = [];
    for (const { row, time } of sorted) {
      const value = metricValue(metric, row);
      if (value === undefined) continue;
      samples.push({ timestamp: new Date(time * 1000).toISOString(), value });
    }
    return {
      metric,
      unit: METRIC_UNITS[metric],
      intervalSeconds,
      samples: samples.slice(Math.max(0, samples.length - maxSamples)),
    };
  });
}
