// Metrics offline: two `domstats` readings of the bed's booted guest taken a second apart and one
// of it shut off (__fixtures__/domstats-*.txt), through a fake SSH host and a fake clock.
import { readFileSync } from 'node:fs';
import { MetricNameSchema } from '@hvkit/core';
import type { ExecResult } from '@hvkit/ssh';
import { describe, expect, it } from 'vitest';
import { Virsh } from '../virsh/virsh.js';
import { parseDomStats } from '../virsh/virsh-parse.js';
import { getMetrics, METRICS_STATS_ARGS, MetricsSampler, metricValues } from './metrics.js';

const fixture = (name: string) =>
  readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
const fields = (name: string) => parseDomStats(fixture(name))[0]?.fields ?? {};

/** A Virsh whose host answers the n-th command with `answers[n]` (text, or `error: …` stderr). */
function virshAnswering(answers: string[]) {
  const calls: string[][] = [];
  const exec = async (argv: readonly string[]): Promise<ExecResult> => {
    calls.push(argv.slice(argv.indexOf('virsh') + 4));
    const answer = answers[calls.length - 1] ?? '';
    const failed = answer.startsWith('error: ');
    return {
      code: failed ? 1 : 0,
      signal: null,
      killed: false,
      stdout: Buffer.from(failed ? '' : answer),
      stderr: Buffer.from(failed ? answer : ''),
    };
  };
  return { virsh: new Virsh({ exec, spawn: () => Promise.reject(new Error('no spawn')) }), calls };
}

/** A clock that advances only when `sleep` is called. */
function fakeTime(startMs: number) {
  let now = startMs;
  const slept: number[] = [];
  return {
    now: () => now,
    sleep: async (ms: number) => {
      slept.push(ms);
      now += ms;
    },
    slept,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('metricValues', () => {
  it('derives rates and memory from two recorded readings 1 s apart', () => {
    const first = { atMs: 0, fields: fields('domstats-running-1.txt') };
    const second = { atMs: 1000, fields: fields('domstats-running-2.txt') };
    expect(metricValues(first, second)).toEqual({
      // cpu.time 9.24 s → 9.26 s on one vCPU.
      'cpu.usagePercent': 2,
      // balloon.available 150976 KiB, usable 113952 KiB (the guest's own figures): 37024 KiB used.
      'memory.usagePercent': 24.52,
      'memory.usedMiB': 36,
      'disk.readBytesPerSecond': 0,
      'disk.writeBytesPerSecond': 0,
      // net.0 and net.1 each received 52 bytes.
      'network.rxBytesPerSecond': 104,
      'network.txBytesPerSecond': 0,
    });
  });

  it('has no rates when a counter went back (the domain restarted between the readings)', () => {
    const first = { atMs: 0, fields: fields('domstats-running-2.txt') };
    const second = { atMs: 1000, fields: fields('domstats-running-1.txt') };
    expect(metricValues(first, second)).toBeUndefined();
  });

  it('reports 0 for a shut-off domain, though libvirt still prints its cpu.time', () => {
    const off = fields('domstats-shutoff.txt');
    expect(off['cpu.time']).toBeDefined();
    const values = metricValues({ atMs: 0, fields: off }, { atMs: 1000, fields: off });
    expect(Object.values(values ?? {})).toEqual(MetricNameSchema.options.map(() => 0));
  });
});

describe('getMetrics', () => {
  it('takes two domstats 1 s apart and returns one sample per series, oldest first', async () => {
    const time = fakeTime(Date.parse('2026-11-21T18:00:00Z'));
    const { virsh, calls } = virshAnswering([
      fixture('domstats-running-1.txt'),
      fixture('domstats-running-2.txt'),
    ]);
    const series = await getMetrics(virsh, 'uuid-1', {}, time);
    expect(calls).toEqual([
      [...METRICS_STATS_ARGS, '--', 'uuid-1'],
      [...METRICS_STATS_ARGS, '--', 'uuid-1'],
    ]);
    expect(time.slept).toEqual([1000]);
    expect(series.map((item) => item.metric)).toEqual(MetricNameSchema.options);
    for (const item of series) {
      expect(item.intervalSeconds).toBe(1);
      expect(item.samples).toEqual([
        { timestamp: '2026-11-21T18:00:01.000Z', value: expect.any(Number) },
      ]);
    }
    expect(series.find((item) => item.metric === 'cpu.usagePercent')?.unit).toBe('percent');
    expect(series.find((item) => item.metric === 'memory.usedMiB')?.samples[0]?.value).toBe(36);
  });

  it('with a sampler, a later call costs one domstats against the remembered reading', async () => {
    const time = fakeTime(0);
    const sampler = new MetricsSampler();
    const { virsh, calls } = virshAnswering([
      fixture('domstats-running-1.txt'),
      fixture('domstats-running-1.txt'),
      fixture('domstats-running-2.txt'),
    ]);
    await getMetrics(virsh, 'uuid-1', { metrics: ['cpu.usagePercent'] }, { ...time, sampler });
    time.advance(2000);
    const [cpu] = await getMetrics(
      virsh,
      'uuid-1',
      { metrics: ['cpu.usagePercent'] },
      { ...time, sampler },
    );
    expect(calls).toHaveLength(3);
    expect(cpu?.intervalSeconds).toBe(2);
    // 20 ms of CPU over 2 s.
    expect(cpu?.samples[0]?.value).toBe(1);
  });

  it('a shut-off domain costs one domstats and reports zeros', async () => {
    const time = fakeTime(0);
    const { virsh, calls } = virshAnswering([fixture('domstats-shutoff.txt')]);
    const series = await getMetrics(virsh, 'web', { metrics: ['memory.usedMiB'] }, time);
    expect(calls).toHaveLength(1);
    expect(series).toEqual([
      {
        metric: 'memory.usedMiB',
        unit: 'MiB',
        intervalSeconds: 1,
        samples: [{ timestamp: '1970-01-01T00:00:00.000Z', value: 0 }],
      },
    ]);
  });

  it('leaves out a sample outside since/until', async () => {
    const time = fakeTime(Date.parse('2026-11-21T18:00:00Z'));
    const { virsh } = virshAnswering([fixture('domstats-shutoff.txt')]);
    const [series] = await getMetrics(
      virsh,
      'web',
      { metrics: ['cpu.usagePercent'], until: '2026-11-21T17:00:00Z' },
      time,
    );
    expect(series?.samples).toEqual([]);
  });

  it('a missing domain is NotFoundError (vm)', async () => {
    const { virsh } = virshAnswering(["error: failed to get domain 'nope'\n"]);
    await expect(getMetrics(virsh, 'nope', {})).rejects.toMatchObject({
      code: 'NOT_FOUND',
      resource: 'vm',
    });
  });
});
