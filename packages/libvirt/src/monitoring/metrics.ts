/**
 * Real-time metrics of a libvirt domain from `virsh domstats`, as core `MetricSeries`.
 *
 * libvirt keeps no history: `domstats` gives the current values of cumulative counters (CPU
 * nanoseconds, disk and network bytes) and of the balloon's memory figures. A rate needs two
 * samples: {@link getMetrics} takes the previous sample of the same domain from a
 * {@link MetricsSampler} when it is recent enough, else takes two samples `intervalMs` apart (two
 * SSH execs; virsh has no sleep command to put between two `domstats` of one process). Each
 * series has ONE sample: the rate over that interval, stamped with the second sample's time.
 * `monitoring.history` cannot be supported (nothing older than "now" exists anywhere).
 *
 * Figures (the names are core's `MetricName`s):
 * - `cpu.usagePercent`: Δ`cpu.time` / (Δt × `vcpu.current`) — percent of the VM's vCPU capacity,
 *   like vSphere's `cpu.usage.average`; `cpu.time` counts every QEMU thread, so it is clamped
 *   to 100.
 * - `memory.usedMiB` / `memory.usagePercent`: the guest's own view when the balloon driver reports
 *   it (`balloon.available` − `balloon.usable`, of `balloon.available`: what the guest can not
 *   get back without swapping); without those stats (no balloon driver, or in the first seconds
 *   after boot — measured: `balloon.last-update=0` and no `available`/`usable` about 60 s after
 *   start with `<stats period='5'/>`, present later) the host's view: `balloon.rss` (QEMU's
 *   resident memory) of `balloon.current`.
 * - `disk.read/writeBytesPerSecond`: Δ of the sums of `block.N.rd.bytes` / `block.N.wr.bytes`.
 * - `network.rx/txBytesPerSecond`: Δ of the sums of `net.N.rx.bytes` / `net.N.tx.bytes` (libvirt
 *   swaps a tap device's counters so that rx is what the guest received).
 * A domain that is not running (shut off, crashed) reports 0 for every figure, like the Mock.
 */
import { METRIC_UNITS, type MetricName, MetricNameSchema, type MetricSeries } from '@hvkit/core';
import { sleep as abortableSleep } from '../sleep.js';
import type { Virsh, VirshCallOptions } from '../virsh/virsh.js';
import { type DomStats, parseDomStats } from '../virsh/virsh-parse.js';

/** The `domstats` groups {@link getMetrics} reads, before `-- <domain>`. */
export const METRICS_STATS_ARGS = [
  'domstats',
  '--state',
  '--cpu-total',
  '--balloon',
  '--vcpu',
  '--block',
  '--interface',
] as const;

/** The metrics query as the driver receives it (ISO strings, validated by core). */
export interface MetricsWindow {
  metrics?: readonly MetricName[] | undefined;
  since?: string | undefined;
  until?: string | undefined;
  maxSamples?: number | undefined;
}

/** One `domstats` reading of a domain and when it arrived. */
export interface RawSample {
  /** Milliseconds since the epoch, when the reply arrived. */
  readonly atMs: number;
  readonly fields: Readonly<Record<string, string>>;
}

/** Options of {@link getMetrics}. */
export interface MetricsOptions extends VirshCallOptions {
  /**
   * Gap between the two samples when no recent previous sample is known. Default 1000 ms: long
   * enough that the SSH/virsh start-up jitter of the two calls (a few ms on the bed) stays small
   * against it.
   */
  intervalMs?: number | undefined;
  /** Previous samples, shared across calls (one per driver). Default: none (always two samples). */
  sampler?: MetricsSampler | undefined;
  /** Clock, for tests. Default `Date.now`. */
  now?: (() => number) | undefined;
  /** Waits `ms`, for tests. Default a timer (aborted by `signal`). */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

/**
 * The last `domstats` sample of each domain, so that a call soon after another needs one
 * `domstats` instead of two samples a second apart. Holds at most `capacity` domains (the
 * oldest-stored is dropped first).
 */
export class MetricsSampler {
  readonly #samples = new Map<string, RawSample>();
  readonly #capacity: number;
  /** Oldest previous sample still used as the first of a pair. */
  readonly maxAgeMs: number;
  /** Youngest previous sample used: closer than this, the rate would be noise. */
  readonly minAgeMs: number;

  /**
   * @param options `maxAgeMs` (default 60 000: a minute's average is still a "current" figure),
   *   `minAgeMs` (default 500), `capacity` (default 1000 domains).
   */
  constructor(options: { maxAgeMs?: number; minAgeMs?: number; capacity?: number } = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 60_000;
    this.minAgeMs = options.minAgeMs ?? 500;
    this.#capacity = options.capacity ?? 1000;
  }

  /** The stored sample of `domain` when it can start a pair at `nowMs`. */
  usable(domain: string, nowMs: number): RawSample | undefined {
    const sample = this.#samples.get(domain);
    if (!sample) return undefined;
    const age = nowMs - sample.atMs;
    return age >= this.minAgeMs && age <= this.maxAgeMs ? sample : undefined;
  }

  /** Stores the latest sample of `domain`. */
  remember(domain: string, sample: RawSample): void {
    this.#samples.delete(domain);
    this.#samples.set(domain, sample);
    while (this.#samples.size > this.#capacity) {
      const oldest = this.#samples.keys().next().value;
      if (oldest === undefined) break;
      this.#samples.delete(oldest);
    }
  }

  /** Forgets `domain` (deleted, or restarted: its counters began again). */
  forget(domain: string): void {
    this.#samples.delete(domain);
  }
}

// virDomainState numbers as `domstats --state` prints them: running, blocked, paused, shutdown
// (shutting down). Shut off (5), crashed (6) and pmsuspended (7) have no live figures.
const LIVE_STATES = new Set(['1', '2', '3', '4']);

function isLive(fields: Readonly<Record<string, string>>): boolean {
  return LIVE_STATES.has(fields['state.state'] ?? '') && fields['cpu.time'] !== undefined;
}

function num(fields: Readonly<Record<string, string>>, key: string): number | undefined {
  const text = fields[key];
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

/** Sum of `<group>.N.<key>` over `<group>.count` devices. */
function sum(fields: Readonly<Record<string, string>>, group: string, key: string): number {
  let total = 0;
  const devices = num(fields, `${group}.count`) ?? 0;
  for (let index = 0; index < devices; index++)
    total += num(fields, `${group}.${index}.${key}`) ?? 0;
  return total;
}

const KIB_PER_MIB = 1024;

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function memoryFigures(fields: Readonly<Record<string, string>>): {
  usedMiB: number;
  percent: number;
} {
  const available = num(fields, 'balloon.available');
  const usable = num(fields, 'balloon.usable');
  if (available !== undefined && usable !== undefined && available > 0) {
    const used = Math.max(0, available - usable);
    return { usedMiB: Math.round(used / KIB_PER_MIB), percent: round2((used / available) * 100) };
  }
  const current = num(fields, 'balloon.current') ?? 0;
  const rss = Math.min(num(fields, 'balloon.rss') ?? 0, current);
  return {
    usedMiB: Math.round(rss / KIB_PER_MIB),
    percent: current > 0 ? round2((rss / current) * 100) : 0,
  };
}

/**
 * The value of every metric from two samples of one domain (`first` older). Undefined when the
 * pair cannot give rates: a counter went down (the domain restarted between them) or the time
 * did not advance.
 */
export function metricValues(
  first: RawSample,
  second: RawSample,
): Record<MetricName, number> | undefined {
  const zero: Record<MetricName, number> = {
    'cpu.usagePercent': 0,
    'memory.usagePercent': 0,
    'memory.usedMiB': 0,
    'disk.readBytesPerSecond': 0,
    'disk.writeBytesPerSecond': 0,
    'network.rxBytesPerSecond': 0,
    'network.txBytesPerSecond': 0,
  };
  if (!isLive(second.fields)) return zero;
  if (!isLive(first.fields)) return undefined;
  const seconds = (second.atMs - first.atMs) / 1000;
  if (seconds <= 0) return undefined;
  const delta = (pick: (fields: Readonly<Record<string, string>>) => number) =>
    pick(second.fields) - pick(first.fields);
  const cpuNs = delta((fields) => num(fields, 'cpu.time') ?? 0);
  const counters = {
    read: delta((fields) => sum(fields, 'block', 'rd.bytes')),
    write: delta((fields) => sum(fields, 'block', 'wr.bytes')),
    rx: delta((fields) => sum(fields, 'net', 'rx.bytes')),
    tx: delta((fields) => sum(fields, 'net', 'tx.bytes')),
  };
  if (cpuNs < 0 || Object.values(counters).some((value) => value < 0)) return undefined;
  const vcpus = Math.max(1, num(second.fields, 'vcpu.current') ?? 1);
  const memory = memoryFigures(second.fields);
  const rate = (bytes: number) => Math.round(bytes / seconds);
  return {
    'cpu.usagePercent': round2(Math.min(100, (cpuNs / (seconds * 1e9 * vcpus)) * 100)),
    'memory.usagePercent': memory.percent,
    'memory.usedMiB': memory.usedMiB,
    'disk.readBytesPerSecond': rate(counters.read),
    'disk.writeBytesPerSecond': rate(counters.write),
    'network.rxBytesPerSecond': rate(counters.rx),
    'network.txBytesPerSecond': rate(counters.tx),
  };
}

async function sample(
  virsh: Virsh,
  domain: string,
  options: MetricsOptions,
  now: () => number,
): Promise<RawSample> {
  const text = await virsh.run([...METRICS_STATS_ARGS, '--', domain], {
    idempotent: true,
    signal: options.signal,
    timeoutMs: options.timeoutMs,
  });
  const atMs = now();
  const [block] = parseDomStats(text);
  return { atMs, fields: (block as DomStats | undefined)?.fields ?? {} };
}

/**
 * Metrics of `domain` (name or UUID): one series per requested metric (default all seven, in
 * core's order), each with at most one sample (see the module comment). A sample outside
 * `since`/`until` is left out; `maxSamples` ≥ 1 never cuts it.
 *
 * Costs one `domstats` when `options.sampler` holds a sample of the domain 0.5–60 s old, else two
 * `domstats` `intervalMs` apart.
 *
 * @throws NotFoundError (`vm`) when there is no such domain; the mapped virsh error otherwise.
 */
export async function getMetrics(
  virsh: Virsh,
  domain: string,
  query: MetricsWindow,
  options: MetricsOptions = {},
): Promise<MetricSeries[]> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const intervalMs = options.intervalMs ?? 1000;
  const sampler = options.sampler;
  let first = sampler?.usable(domain, now());
  let second = await sample(virsh, domain, options, now);
  // Not running: zeros from this one reading (metricValues needs no pair for that).
  let values = first || !isLive(second.fields) ? metricValues(first ?? second, second) : undefined;
  if (values === undefined && isLive(second.fields)) {
    first = second;
    await sleep(intervalMs, options.signal);
    second = await sample(virsh, domain, options, now);
    values = metricValues(first, second);
  }
  sampler?.remember(domain, second);
  const intervalSeconds =
    first && isLive(second.fields)
      ? Math.max(0.001, (second.atMs - first.atMs) / 1000)
      : intervalMs / 1000;
  const since = query.since === undefined ? undefined : Date.parse(query.since);
  const until = query.until === undefined ? undefined : Date.parse(query.until);
  const inWindow =
    values !== undefined &&
    (since === undefined || second.atMs >= since) &&
    (until === undefined || second.atMs <= until);
  const timestamp = new Date(second.atMs).toISOString();
  return (query.metrics ?? MetricNameSchema.options).map((metric) => ({
    metric,
    unit: METRIC_UNITS[metric],
    intervalSeconds,
    samples: inWindow && values ? [{ timestamp, value: values[metric] }] : [],
  }));
}
