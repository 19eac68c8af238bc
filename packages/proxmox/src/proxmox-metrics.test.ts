import { describe, expect, it } from 'vitest';
import fixture from './__fixtures__/derived-rrddata-hour.json' with { type: 'json' };
import {
  chooseTimeframe,
  intervalOf,
  PROXMOX_METRICS,
  type RrdRow,
  rrdToMetricSeries,
} from './proxmox-metrics.js';

const rows = fixture.response.body.data as RrdRow[];
const now = new Date('2025-11-21T13:10:00Z');

describe('chooseTimeframe', () => {
  it.each([
    [undefined, 'hour'],
    ['2025-11-21T12:30:00Z', 'hour'],
    ['2025-11-21T01:00:00Z', 'day'],
    ['2025-11-16T13:10:00Z', 'week'],
    ['2025-10-25T13:10:00Z', 'month'],
    ['2024-12-01T00:00:00Z', 'year'],
  ])('since %s → %s', (since, timeframe) => {
    expect(chooseTimeframe(since, now)).toBe(timeframe);
  });
});

describe('rrdToMetricSeries', () => {
  it('gives every core metric with its unit, oldest first, skipping rows without data', () => {
    const series = rrdToMetricSeries(rows, {}, 'hour');
    expect(series.map((item) => [item.metric, item.unit])).toEqual([
      ['cpu.usagePercent', 'percent'],
      ['memory.usagePercent', 'percent'],
      ['memory.usedMiB', 'MiB'],
      ['disk.readBytesPerSecond', 'bytes/s'],
      ['disk.writeBytesPerSecond', 'bytes/s'],
      ['network.rxBytesPerSecond', 'bytes/s'],
      ['network.txBytesPerSecond', 'bytes/s'],
    ]);
    for (const item of series) {
      expect(item.intervalSeconds).toBe(60);
      expect(item.samples).toHaveLength(60);
      const times = item.samples.map((sample) => sample.timestamp);
      expect([...times].sort()).toEqual(times);
      // the newest 60 of the 68 rows with data
      expect(times.at(-1)).toBe(new Date((1763726400 + 69 * 60) * 1000).toISOString());
    }
    const byName = Object.fromEntries(
      series.map((item) => [item.metric, item.samples.at(-1)?.value]),
    );
    // row 69: cpu 0.095, mem 1 GiB + 69 MiB of 2 GiB, I/O 69 × base
    expect(byName['cpu.usagePercent']).toBeCloseTo(9.5, 6);
    expect(byName['memory.usedMiB']).toBe(1024 + 69);
    expect(byName['memory.usagePercent']).toBeCloseTo(((1024 + 69) / 2048) * 100, 6);
    expect(byName['disk.readBytesPerSecond']).toBeCloseTo(1024.5 * 69, 6);
    expect(byName['disk.writeBytesPerSecond']).toBe(2048 * 69);
    expect(byName['network.rxBytesPerSecond']).toBe(100 * 69);
    expect(byName['network.txBytesPerSecond']).toBe(50 * 69);
  });

  it('filters by metric, since, until and maxSamples', () => {
    const start = new Date((1763726400 + 10 * 60) * 1000);
    const end = new Date((1763726400 + 19 * 60) * 1000);
    const [cpu, ...rest] = rrdToMetricSeries(
      rows,
      { metrics: ['cpu.usagePercent'], since: start, until: end.toISOString(), maxSamples: 4 },
      'hour',
    );
    expect(rest).toEqual([]);
    expect(cpu?.samples.map((sample) => sample.timestamp)).toEqual(
      [16, 17, 18, 19].map((minute) => new Date((1763726400 + minute * 60) * 1000).toISOString()),
    );
  });

  it('reads string numbers and ignores gaps', () => {
    const [cpu, memory] = rrdToMetricSeries(
      [
        { time: '1000', cpu: '0.5', mem: '1048576', maxmem: '0' },
        { time: 1060, cpu: null },
      ],
      { metrics: ['cpu.usagePercent', 'memory.usagePercent'] },
      'hour',
    );
    expect(cpu?.samples).toEqual([{ timestamp: '1970-01-01T00:16:40.000Z', value: 50 }]);
    expect(memory?.samples).toEqual([]);
  });

  it('takes the interval from the rows, else from the timeframe', () => {
    expect(intervalOf([{ time: 0 }, { time: 1800 }, { time: 3600 }, { time: 9000 }], 'hour')).toBe(
      1800,
    );
    expect(intervalOf([], 'week')).toBe(10_800);
    expect(PROXMOX_METRICS).toHaveLength(7);
  });
});
