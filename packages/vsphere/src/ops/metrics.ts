/**
 * VM metrics from the PerformanceManager: core metric names → vSphere counters (ids read once per
 * client from `perfCounter`), one `QueryPerf`, and the series converted to core's units.
 *
 * | core metric                  | vSphere counter          | vSphere unit                     |
 * |------------------------------|--------------------------|----------------------------------|
 * | cpu.usagePercent             | cpu.usage.average        | percent, in hundredths (1234 = 12.34 %) |
 * | memory.usagePercent          | mem.usage.average        | percent, in hundredths           |
 * | memory.usedMiB               | mem.consumed.average     | kiloBytes (KiB)                  |
 * | disk.readBytesPerSecond      | disk.read.average        | kiloBytesPerSecond (KiB/s)       |
 * | disk.writeBytesPerSecond     | disk.write.average       | kiloBytesPerSecond               |
 * | network.rxBytesPerSecond     | net.received.average     | kiloBytesPerSecond               |
 * | network.txBytesPerSecond     | net.transmitted.average  | kiloBytesPerSecond               |
 *
 * The aggregate instance (`""`) of each counter is asked for. vSphere's "kilo" is 1024 here.
 */
import {
  METRIC_UNITS,
  type MetricName,
  MetricNameSchema,
  type MetricSeries,
  type ParsedInput,
  ProviderApiError,
} from '@hvkit/core';
import { readOne } from '../client/property-reader.js';
import type { CallOptions, VimClient } from '../client/vim-client.js';
import type { DataObject } from '../soap/soap-envelope.js';
import type { VsphereContext } from '../vsphere-context.js';
import { fieldsOf, isoTimeOf, listOf, numberOf, textOf } from './values.js';

/** The vSphere counter (`group.name.rollup`) behind each core metric. */
export const VSPHERE_METRIC_COUNTERS: Readonly<Record<MetricName, string>> = {
  'cpu.usagePercent': 'cpu.usage.average',
  'memory.usagePercent': 'mem.usage.average',
  'memory.usedMiB': 'mem.consumed.average',
  'disk.readBytesPerSecond': 'disk.read.average',
  'disk.writeBytesPerSecond': 'disk.write.average',
  'network.rxBytesPerSecond': 'net.received.average',
  'network.txBytesPerSecond': 'net.transmitted.average',
};

/** The real-time sampling period of VMs and hosts, in seconds (`refreshRate` of the provider). */
export const REALTIME_INTERVAL_SECONDS = 20;

/** How far back real-time statistics reach on vCenter/ESXi: one hour. */
export const REALTIME_WINDOW_SECONDS = 3600;

const INTERVAL_SLACK_SECONDS = 300;

/** A historical interval: its sampling period and how long its samples are kept, in seconds. */
export interface HistoricalInterval {
  samplingPeriod: number;
  length: number;
}

/** vCenter's default historical intervals (day, week, month, year), used when the server lists none (vcsim). */
export const DEFAULT_HISTORICAL_INTERVALS: readonly HistoricalInterval[] = [
  { samplingPeriod: 300, length: 86_400 },
  { samplingPeriod: 1800, length: 604_800 },
  { samplingPeriod: 7200, length: 2_592_000 },
  { samplingPeriod: 86_400, length: 31_536_000 },
];

/** One counter as `perfCounter` describes it. */
export interface PerfCounter {
  key: number;
  /** `unitInfo.key`: `percent`, `kiloBytes`, `kiloBytesPerSecond`, … */
  unit: string;
}

/** What the PerformanceManager says once per client: counters by `group.name.rollup`, intervals. */
export interface PerfCatalog {
  counters: ReadonlyMap<string, PerfCounter>;
  intervals: readonly HistoricalInterval[];
}

/** Multipliers from a vSphere counter unit to a core unit. */
const CONVERSIONS: Readonly<Record<string, Partial<Record<MetricSeries['unit'], number>>>> = {
  percent: { percent: 1 / 100 },
  kiloBytes: { MiB: 1 / 1024 },
  megaBytes: { MiB: 1 },
  kiloBytesPerSecond: { 'bytes/s': 1024 },
};

/** The factor turning a value in `vsphereUnit` into core's unit of `metric`, if there is one. */
export function conversionFactor(metric: MetricName, vsphereUnit: string): number | undefined {
  const table = Object.hasOwn(CONVERSIONS, vsphereUnit) ? CONVERSIONS[vsphereUnit] : undefined;
  return table?.[METRIC_UNITS[metric]];
}

/** Builds the catalog from `perfCounter` and `historicalInterval` as parsed. Never throws. */
export function toPerfCatalog(perfCounter: unknown, historicalInterval: unknown): PerfCatalog {
  const counters = new Map<string, PerfCounter>();
  for (const entry of listOf(perfCounter)) {
    const counter = fieldsOf(entry);
    const key = numberOf(counter?.key);
    const group = textOf(fieldsOf(counter?.groupInfo)?.key);
    const name = textOf(fieldsOf(counter?.nameInfo)?.key);
    const rollup = textOf(counter?.rollupType);
    const unit = textOf(fieldsOf(counter?.unitInfo)?.key);
    if (key === undefined || !group || !name || !rollup || !unit) continue;
    counters.set(`${group}.${name}.${rollup}`, { key, unit });
  }
  const intervals: HistoricalInterval[] = [];
  for (const entry of listOf(historicalInterval)) {
    const interval = fieldsOf(entry);
    const samplingPeriod = numberOf(interval?.samplingPeriod);
    const length = numberOf(interval?.length);
    if (interval?.enabled === false || interval?.enabled === 'false') continue;
    if (samplingPeriod !== undefined && length !== undefined && samplingPeriod > 0) {
      intervals.push({ samplingPeriod, length });
    }
  }
  intervals.sort((a, b) => a.samplingPeriod - b.samplingPeriod);
  return { counters, intervals: intervals.length > 0 ? intervals : DEFAULT_HISTORICAL_INTERVALS };
}

const catalogs = new WeakMap<VimClient, Promise<PerfCatalog>>();

/**
 * The counter catalog of `client`'s endpoint, read once (560 counters on vcsim) and cached per
 * client; a failed read is not cached.
 *
 * @throws ProviderApiError when the endpoint has no PerformanceManager; the client's errors.
 */
export function perfCatalog(client: VimClient, options: CallOptions = {}): Promise<PerfCatalog> {
  let pending = catalogs.get(client);
  if (pending === undefined) {
    pending = (async () => {
      const content = await client.serviceContent(options);
      if (!content.perfManager) {
        throw new ProviderApiError('vSphere endpoint has no PerformanceManager', {
          ...client.faultContext,
        });
      }
      const read = await readOne(
        client,
        content.perfManager,
        ['perfCounter', 'historicalInterval'],
        options,
      );
      return toPerfCatalog(read.properties.perfCounter, read.properties.historicalInterval);
    })();
    catalogs.set(client, pending);
    const stored = pending;
    pending.catch(() => {
      if (catalogs.get(client) === stored) catalogs.delete(client);
    });
  }
  return pending;
}

/**
 * The interval to query: real time (20 s) without `since` or when `since` lies within the last
 * hour (plus 5 minutes of slack, as for every window); otherwise the finest historical interval that still reaches back to `since` (the coarsest
 * when none does). `now` is epoch ms.
 */
export function chooseInterval(
  since: string | undefined,
  now: number,
  intervals: readonly HistoricalInterval[],
): number {
  if (since === undefined) return REALTIME_INTERVAL_SECONDS;
  const seconds = (now - Date.parse(since)) / 1000;
  if (seconds <= REALTIME_WINDOW_SECONDS + INTERVAL_SLACK_SECONDS) return REALTIME_INTERVAL_SECONDS;
  const sorted = [...intervals].sort((a, b) => a.samplingPeriod - b.samplingPeriod);
  // A little slack: "a week ago" computed by the caller is a few ms more than a week by now.
  const covering = sorted.find((interval) => interval.length + INTERVAL_SLACK_SECONDS >= seconds);
  return (covering ?? sorted.at(-1))?.samplingPeriod ?? REALTIME_INTERVAL_SECONDS;
}

/** What {@link toMetricSeries} maps: which counter id stands for which metric. */
export interface SeriesRequest {
  metrics: readonly MetricName[];
  /** Counter id → metric, with the factor to core's unit. */
  counters: ReadonlyMap<number, { metric: MetricName; factor: number }>;
  intervalSeconds: number;
  maxSamples: number;
  since?: string | undefined;
  until?: string | undefined;
}

/**
 * Maps `QueryPerf`'s `PerfEntityMetric` values to one series per requested metric, in request
 * order: samples oldest first (vcsim sends newest first, vCenter oldest first), within
 * `since`/`until`, the newest `maxSamples` kept, negative values (vSphere's "no data", -1)
 * skipped, values converted to core's unit. A metric without data has an empty series. Pure.
 */
export function toMetricSeries(entityMetrics: unknown, request: SeriesRequest): MetricSeries[] {
  const since = request.since === undefined ? undefined : Date.parse(request.since);
  const until = request.until === undefined ? undefined : Date.parse(request.until);
  const samples = new Map<MetricName, { time: number; value: number }[]>(
    request.metrics.map((metric) => [metric, []]),
  );
  let intervalSeconds: number | undefined;
  for (const entry of listOf(entityMetrics)) {
    const entity = fieldsOf(entry);
    const sampleInfo = listOf(entity?.sampleInfo).map((info) => ({
      time: Date.parse(isoTimeOf(fieldsOf(info)?.timestamp) ?? ''),
      interval: numberOf(fieldsOf(info)?.interval),
    }));
    intervalSeconds ??= sampleInfo.find((info) => info.interval !== undefined)?.interval;
    for (const seriesEntry of listOf(entity?.value)) {
      const series = fieldsOf(seriesEntry);
      const counterId = numberOf(fieldsOf(series?.id)?.counterId);
      const instance = fieldsOf(series?.id)?.instance;
      // Only the aggregate: a per-device instance ("0", a disk) would double count.
      if (typeof instance === 'string' && instance !== '') continue;
      const target = counterId === undefined ? undefined : request.counters.get(counterId);
      const list = target === undefined ? undefined : samples.get(target.metric);
      if (target === undefined || list === undefined) continue;
      listOf(series?.value).forEach((raw, index) => {
        const value = numberOf(raw);
        const time = sampleInfo[index]?.time;
        if (value === undefined || value < 0 || time === undefined || Number.isNaN(time)) return;
        if (since !== undefined && time < since) return;
        if (until !== undefined && time > until) return;
        list.push({ time, value: value * target.factor });
      });
    }
  }
  return request.metrics.map((metric) => {
    const sorted = (samples.get(metric) ?? []).sort((a, b) => a.time - b.time);
    return {
      metric,
      unit: METRIC_UNITS[metric],
      intervalSeconds: intervalSeconds ?? request.intervalSeconds,
      samples: sorted
        .slice(Math.max(0, sorted.length - request.maxSamples))
        .map((sample) => ({ timestamp: new Date(sample.time).toISOString(), value: sample.value })),
    };
  });
}

/**
 * Metrics of VM `vmId` (moref value): one series per metric asked for (all of core's by
 * default), samples oldest first, at most `maxSamples` (default 60, the newest). Without `since`
 * (or with `since` inside the last hour) the real-time interval (20 s); further back a historical
 * one (5 min for a day, 30 min for a week, … as the server's `historicalInterval` says). `maxSample`
 * is always sent: vcsim returns no samples without it. A metric whose counter the server lacks, or
 * whose unit cannot be converted, gets an empty series.
 *
 * @throws NotFoundError('vm') when the VM does not exist (checked first: vcsim answers QueryPerf
 *   for any moref); ProviderApiError for faults of QueryPerf.
 */
export async function getMetrics(
  ctx: VsphereContext,
  vmId: string,
  query: ParsedInput['metricsQuery'],
  options: CallOptions = {},
): Promise<MetricSeries[]> {
  const vm = { type: 'VirtualMachine', value: vmId };
  const [catalog] = await Promise.all([
    perfCatalog(ctx.client, options),
    readOne(ctx.client, vm, ['name'], options),
  ]);
  const content = await ctx.client.serviceContent(options);
  const metrics = query.metrics ?? MetricNameSchema.options;
  const maxSamples = query.maxSamples ?? 60;
  const counters = new Map<number, { metric: MetricName; factor: number }>();
  for (const metric of metrics) {
    const counter = catalog.counters.get(VSPHERE_METRIC_COUNTERS[metric]);
    const factor = counter === undefined ? undefined : conversionFactor(metric, counter.unit);
    if (counter !== undefined && factor !== undefined)
      counters.set(counter.key, { metric, factor });
  }
  const intervalSeconds = chooseInterval(query.since, ctx.clock.now(), catalog.intervals);
  const request: SeriesRequest = {
    metrics,
    counters,
    intervalSeconds,
    maxSamples,
    since: query.since,
    until: query.until,
  };
  if (counters.size === 0 || !content.perfManager) return toMetricSeries([], request);
  const spec: DataObject = {
    $type: 'PerfQuerySpec',
    entity: vm,
    ...(query.since === undefined ? {} : { startTime: new Date(query.since).toISOString() }),
    ...(query.until === undefined ? {} : { endTime: new Date(query.until).toISOString() }),
    // Real time: the newest maxSamples. Historical: vCenter ignores maxSample and returns the
    // range, so the mapping trims; vcsim needs it in both cases or it returns nothing.
    maxSample: intervalSeconds === REALTIME_INTERVAL_SECONDS ? maxSamples : 10_000,
    metricId: [...counters.keys()].map((counterId) => ({
      $type: 'PerfMetricId',
      counterId,
      instance: '',
    })),
    intervalId: intervalSeconds,
  };
  const answer = await ctx.client.call(
    'QueryPerf',
    content.perfManager,
    [['querySpec', [spec], 'PerfQuerySpec']],
    options,
  );
  return toMetricSeries(answer, request);
}
