import { MetricNameSchema, NotFoundError } from '@hvkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { readAll } from '../client/property-reader.js';
import {
  chooseInterval,
  conversionFactor,
  DEFAULT_HISTORICAL_INTERVALS,
  getMetrics,
  perfCatalog,
  toMetricSeries,
  toPerfCatalog,
} from './metrics.js';
import { fixtureReturnval, vcsimContext } from './ops-test-support.js';

describe('metric mapping', () => {
  it('maps the recorded QueryPerf answer oldest first, hundredths of a percent to percent', async () => {
    const answer = await fixtureReturnval('QueryPerf.res.xml');
    const series = toMetricSeries(answer, {
      metrics: ['cpu.usagePercent', 'memory.usagePercent'],
      counters: new Map([
        [2, { metric: 'cpu.usagePercent', factor: 1 / 100 }],
        [24, { metric: 'memory.usagePercent', factor: 1 / 100 }],
      ]),
      intervalSeconds: 20,
      maxSamples: 60,
    });
    expect(series).toEqual([
      {
        metric: 'cpu.usagePercent',
        unit: 'percent',
        intervalSeconds: 20,
        samples: [
          { timestamp: '2026-11-21T12:15:58.555Z', value: 5.03 },
          { timestamp: '2026-11-21T12:16:18.555Z', value: 8.99 },
          { timestamp: '2026-11-21T12:16:38.555Z', value: 7.4 },
        ],
      },
      {
        metric: 'memory.usagePercent',
        unit: 'percent',
        intervalSeconds: 20,
        samples: [
          { timestamp: '2026-11-21T12:15:58.555Z', value: 23.57 },
          { timestamp: '2026-11-21T12:16:18.555Z', value: 34.39 },
          { timestamp: '2026-11-21T12:16:38.555Z', value: 35.35 },
        ],
      },
    ]);
  });

  it('keeps the newest maxSamples, drops -1 (no data) and samples outside since/until', async () => {
    const answer = await fixtureReturnval('QueryPerf.res.xml');
    const request = {
      metrics: ['cpu.usagePercent', 'disk.readBytesPerSecond'] as const,
      counters: new Map([[2, { metric: 'cpu.usagePercent' as const, factor: 1 / 100 }]]),
      intervalSeconds: 20,
    };
    const [newest, disk] = toMetricSeries(answer, { ...request, maxSamples: 1 });
    expect(newest?.samples).toEqual([{ timestamp: '2026-11-21T12:16:38.555Z', value: 7.4 }]);
    expect(disk).toEqual({
      metric: 'disk.readBytesPerSecond',
      unit: 'bytes/s',
      intervalSeconds: 20,
      samples: [],
    });
    const [bounded] = toMetricSeries(answer, {
      ...request,
      maxSamples: 60,
      since: '2026-11-21T12:16:00Z',
      until: '2026-11-21T12:16:20Z',
    });
    expect(bounded?.samples.map((sample) => sample.value)).toEqual([8.99]);
    const withGap = [
      {
        sampleInfo: [
          { timestamp: '2026-11-21T12:00:00Z', interval: '20' },
          { timestamp: '2026-11-21T12:00:20Z', interval: '20' },
        ],
        value: { id: { counterId: '130', instance: '' }, value: ['-1', '3'] },
      },
    ];
    const [read] = toMetricSeries(withGap, {
      metrics: ['disk.readBytesPerSecond'],
      counters: new Map([[130, { metric: 'disk.readBytesPerSecond', factor: 1024 }]]),
      intervalSeconds: 20,
      maxSamples: 60,
    });
    expect(read?.samples).toEqual([{ timestamp: '2026-11-21T12:00:20.000Z', value: 3072 }]);
  });

  it('ignores per-device instances, which would double count', () => {
    const [series] = toMetricSeries(
      [
        {
          sampleInfo: { timestamp: '2026-11-21T12:00:00Z', interval: '20' },
          value: [
            { id: { counterId: '2', instance: '0' }, value: '9000' },
            { id: { counterId: '2', instance: '' }, value: '1000' },
          ],
        },
      ],
      {
        metrics: ['cpu.usagePercent'],
        counters: new Map([[2, { metric: 'cpu.usagePercent', factor: 1 / 100 }]]),
        intervalSeconds: 20,
        maxSamples: 60,
      },
    );
    expect(series?.samples.map((sample) => sample.value)).toEqual([10]);
  });

  it('converts vSphere units to core units', () => {
    expect(conversionFactor('cpu.usagePercent', 'percent')).toBe(0.01);
    expect(conversionFactor('memory.usedMiB', 'kiloBytes')).toBe(1 / 1024);
    expect(conversionFactor('network.rxBytesPerSecond', 'kiloBytesPerSecond')).toBe(1024);
    expect(conversionFactor('cpu.usagePercent', 'megaHertz')).toBeUndefined();
    expect(conversionFactor('memory.usedMiB', 'constructor')).toBeUndefined();
  });

  it('chooses real time within the last hour, else the finest historical interval reaching back', () => {
    const now = Date.parse('2026-11-21T12:00:00Z');
    const ago = (seconds: number) => new Date(now - seconds * 1000).toISOString();
    expect(chooseInterval(undefined, now, DEFAULT_HISTORICAL_INTERVALS)).toBe(20);
    expect(chooseInterval(ago(3600), now, DEFAULT_HISTORICAL_INTERVALS)).toBe(20);
    expect(chooseInterval(ago(3900), now, DEFAULT_HISTORICAL_INTERVALS)).toBe(20);
    expect(chooseInterval(ago(3901), now, DEFAULT_HISTORICAL_INTERVALS)).toBe(300);
    expect(chooseInterval(ago(7 * 86_400), now, DEFAULT_HISTORICAL_INTERVALS)).toBe(1800);
    expect(chooseInterval(ago(7 * 86_400 + 10), now, DEFAULT_HISTORICAL_INTERVALS)).toBe(1800);
    expect(chooseInterval(ago(8 * 86_400), now, DEFAULT_HISTORICAL_INTERVALS)).toBe(7200);
    expect(chooseInterval(ago(800 * 86_400), now, DEFAULT_HISTORICAL_INTERVALS)).toBe(86_400);
    expect(chooseInterval(ago(7200), now, [{ samplingPeriod: 60, length: 7200 }])).toBe(60);
  });

  it('builds the counter catalog by group.name.rollup and falls back to default intervals', () => {
    const catalog = toPerfCatalog(
      [
        {
          key: '2',
          nameInfo: { key: 'usage' },
          groupInfo: { key: 'cpu' },
          unitInfo: { key: 'percent' },
          rollupType: 'average',
        },
        { key: '3', nameInfo: { key: 'usage' } },
      ],
      undefined,
    );
    expect([...catalog.counters]).toEqual([['cpu.usage.average', { key: 2, unit: 'percent' }]]);
    expect(catalog.intervals).toBe(DEFAULT_HISTORICAL_INTERVALS);
    const own = toPerfCatalog(
      [],
      [
        { samplingPeriod: '1800', length: '604800', enabled: 'true' },
        { samplingPeriod: '300', length: '86400', enabled: 'true' },
        { samplingPeriod: '7200', length: '2592000', enabled: 'false' },
      ],
    );
    expect(own.intervals).toEqual([
      { samplingPeriod: 300, length: 86_400 },
      { samplingPeriod: 1800, length: 604_800 },
    ]);
  });
});

const vcsim = requireVcsim();

describe.skipIf(!vcsim)('getMetrics on vcsim', () => {
  const ctx = vcsimContext(vcsim as NonNullable<typeof vcsim>);
  afterAll(() => ctx.client.close());

  async function someVm(): Promise<string> {
    for await (const vm of readAll(ctx.client, 'VirtualMachine', ['name'])) return vm.obj.value;
    throw new Error('vcsim has no VM');
  }

  it('reads the counter catalog once per client', async () => {
    const first = perfCatalog(ctx.client);
    expect(perfCatalog(ctx.client)).toBe(first);
    const catalog = await first;
    expect(catalog.counters.get('cpu.usage.average')).toEqual({ key: 2, unit: 'percent' });
    expect(catalog.counters.get('mem.consumed.average')?.unit).toBe('kiloBytes');
  });

  it('returns every core metric in core units, at most maxSamples, oldest first', async () => {
    const vm = await someVm();
    const series = await getMetrics(ctx, vm, { maxSamples: 3 });
    expect(series.map((item) => item.metric)).toEqual(MetricNameSchema.options);
    for (const item of series) {
      expect(item.intervalSeconds).toBe(20);
      expect(item.samples.length).toBe(3);
      const times = item.samples.map((sample) => Date.parse(sample.timestamp));
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
    const cpu = series.find((item) => item.metric === 'cpu.usagePercent');
    for (const sample of cpu?.samples ?? []) {
      expect(sample.value).toBeGreaterThanOrEqual(0);
      expect(sample.value).toBeLessThanOrEqual(100);
    }
    // vcsim's VM model consumes about 10 GiB (10485760 KiB): MiB, not KiB.
    const memory = series.find((item) => item.metric === 'memory.usedMiB');
    for (const sample of memory?.samples ?? []) {
      expect(sample.value).toBeGreaterThan(1000);
      expect(sample.value).toBeLessThan(100_000);
    }
  });

  it('reaches back a week at a historical interval, within since', async () => {
    const vm = await someVm();
    const since = new Date(Date.now() - 7 * 86_400_000).toISOString();
    const [cpu] = await getMetrics(ctx, vm, {
      metrics: ['cpu.usagePercent'],
      since,
      maxSamples: 10_000,
    });
    expect(cpu?.intervalSeconds).toBe(1800);
    expect(cpu?.samples.length).toBeGreaterThan(300);
    for (const sample of cpu?.samples ?? []) {
      expect(Date.parse(sample.timestamp)).toBeGreaterThanOrEqual(Date.parse(since));
    }
  });

  it('a missing VM is NotFoundError (vm)', async () => {
    const error = await getMetrics(ctx, 'vm-404404', {}).catch((caught: unknown) => caught);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).resource).toBe('vm');
  });
});
