import { describe, expect, it } from 'vitest';
import { latestValue, metricSeries, metricValue } from './mock-metrics.js';

const running = { id: 'vm-1', powerState: 'on' as const, memorySizeMiB: 4096 };
const now = Date.UTC(2026, 0, 1, 12, 0, 7);

describe('metricSeries', () => {
  it('returns the real-time window at 20 s, oldest first, newest kept', () => {
    const series = metricSeries(1, running, { maxSamples: 3 }, now);
    expect(series.map((item) => item.metric)).toHaveLength(7);
    const cpu = series[0];
    expect(cpu?.intervalSeconds).toBe(20);
    expect(cpu?.samples.map((sample) => sample.timestamp)).toEqual([
      '2026-01-01T11:59:20.000Z',
      '2026-01-01T11:59:40.000Z',
      '2026-01-01T12:00:00.000Z',
    ]);
    expect(metricSeries(1, running, {}, now)[0]?.samples).toHaveLength(60);
  });

  it('reaches back past the hour at 300 s and honours until', () => {
    const since = new Date(now - 3 * 3_600_000).toISOString();
    const until = new Date(now - 2 * 3_600_000).toISOString();
    const [series] = metricSeries(
      1,
      running,
      { since, until, maxSamples: 100, metrics: ['memory.usedMiB'] },
      now,
    );
    expect(series?.intervalSeconds).toBe(300);
    expect(series?.unit).toBe('MiB');
    expect(series?.samples).toHaveLength(12);
    for (const sample of series?.samples ?? []) {
      expect(Date.parse(sample.timestamp)).toBeGreaterThanOrEqual(Date.parse(since));
      expect(Date.parse(sample.timestamp)).toBeLessThanOrEqual(Date.parse(until));
      expect(sample.value).toBeGreaterThan(0);
      expect(sample.value).toBeLessThanOrEqual(4096);
    }
  });

  it('is a pure function of seed, VM and time; a VM that is off reports zeros', () => {
    expect(metricValue(5, running, 'cpu.usagePercent', now)).toBe(
      metricValue(5, running, 'cpu.usagePercent', now),
    );
    const values = Array.from({ length: 20 }, (_, index) =>
      metricValue(5, running, 'cpu.usagePercent', now + index * 20_000),
    );
    expect(new Set(values).size).toBeGreaterThan(1);
    for (const value of values) {
      expect(value).toBeGreaterThan(0);
      expect(value).toBeLessThanOrEqual(100);
    }
    const off = { ...running, powerState: 'off' as const };
    expect(latestValue(5, off, 'cpu.usagePercent', now)).toBe(0);
    expect(latestValue(5, running, 'cpu.usagePercent', now)).toBe(
      metricValue(5, running, 'cpu.usagePercent', Date.UTC(2026, 0, 1, 12, 0, 0)),
    );
  });
});
