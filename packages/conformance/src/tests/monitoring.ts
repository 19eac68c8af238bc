import { MetricNameSchema, type MetricSeries, type Vm } from '@hvkit/core';
import { expect } from 'vitest';
import type { SuiteContext } from '../context.js';
import { expectNotFound, isIsoTime } from '../helpers.js';
import { type ConformanceRule, rule } from '../rule.js';

const METRICS = MetricNameSchema.options;

/** A VM that produces figures: running where `core.powerOn` is declared. */
async function busyVm(ctx: SuiteContext, label: string): Promise<Vm> {
  return ctx.usable('core.powerOn') ? ctx.createRunningVm(label) : ctx.createVm(label);
}

function expectOldestFirst(series: MetricSeries): void {
  const times = series.samples.map((sample) => Date.parse(sample.timestamp));
  for (const time of times) expect(Number.isNaN(time)).toBe(false);
  expect(times).toEqual([...times].sort((a, b) => a - b));
}

export const monitoringRules: readonly ConformanceRule[] = [
  // ---- monitoring.metrics ---------------------------------------------------------------------
  rule(
    'monitoring.metrics',
    'metrics return at most maxSamples samples per series, oldest first, filtered by name',
    ['core.create'],
    async (ctx) => {
      const vm = await busyVm(ctx, 'metrics');
      const series = await ctx.eventually('metric samples', async () => {
        const current = await ctx.provider.getMetrics(vm, { maxSamples: 3 });
        return current.some((item) => item.samples.length > 0) ? current : undefined;
      });
      expect(series.length).toBeGreaterThan(0);
      for (const item of series) {
        expect(METRICS).toContain(item.metric);
        expect(['percent', 'MiB', 'bytes/s']).toContain(item.unit);
        expect(item.intervalSeconds).toBeGreaterThan(0);
        expect(item.samples.length).toBeLessThanOrEqual(3);
        expectOldestFirst(item);
      }
      const cpu = await ctx.provider.getMetrics(vm, {
        metrics: ['cpu.usagePercent'],
        maxSamples: 1,
      });
      expect(cpu.map((item) => item.metric)).toEqual(['cpu.usagePercent']);
      expect(cpu[0]?.samples.length).toBeLessThanOrEqual(1);
      await expectNotFound(() => ctx.provider.getMetrics(ctx.missingRef), 'vm');
    },
  ),

  // ---- monitoring.history ---------------------------------------------------------------------
  rule(
    'monitoring.history',
    'since reaches back past the real-time window at a coarser interval',
    ['core.create'],
    async (ctx) => {
      const vm = await busyVm(ctx, 'history');
      const [realtime] = await ctx.provider.getMetrics(vm, { metrics: ['cpu.usagePercent'] });
      const since = new Date(Date.now() - 7 * 24 * 3600 * 1000).toISOString();
      const history = await ctx.provider.getMetrics(vm, {
        metrics: ['cpu.usagePercent'],
        since,
        maxSamples: 10_000,
      });
      expect(history.map((item) => item.metric)).toEqual(['cpu.usagePercent']);
      const [series] = history;
      expect(series?.intervalSeconds).toBeGreaterThan(realtime?.intervalSeconds ?? 0);
      for (const sample of series?.samples ?? []) {
        expect(Date.parse(sample.timestamp)).toBeGreaterThanOrEqual(Date.parse(since));
      }
      if (series) expectOldestFirst(series);
    },
  ),

  // ---- monitoring.events ----------------------------------------------------------------------
  rule(
    'monitoring.events',
    'events are newest first, filtered by VM, limited and bounded by since',
    ['core.create'],
    async (ctx) => {
      const vm = await busyVm(ctx, 'events');
      const events = await ctx.eventually('events of the VM', async () => {
        const current = await ctx.provider.listEvents({ vm: vm.ref, limit: 100 });
        return current.length > 0 ? current : undefined;
      });
      for (const event of events) {
        expect(event.vm?.id).toBe(vm.ref.id);
        expect(event.type).toMatch(/^vm-/);
        expect(isIsoTime(event.time)).toBe(true);
        expect(event.id.length).toBeGreaterThan(0);
      }
      const times = events.map((event) => Date.parse(event.time));
      expect(times).toEqual([...times].sort((a, b) => b - a));
      const [newest] = await ctx.provider.listEvents({ vm: vm.ref, limit: 1 });
      expect(newest?.id).toBe(events[0]?.id);
      const recent = await ctx.provider.listEvents({ vm: vm.ref, since: events[0]?.time });
      expect(recent.length).toBeGreaterThan(0);
      for (const event of recent) {
        expect(Date.parse(event.time)).toBeGreaterThanOrEqual(times[0] ?? 0);
      }
      const any = await ctx.provider.listEvents({ limit: 2 });
      expect(any.length).toBeLessThanOrEqual(2);
      expect(any.length).toBeGreaterThan(0);
    },
  ),

  // ---- monitoring.healthChecks ----------------------------------------------------------------
  rule(
    'monitoring.healthChecks',
    'checkHealth gives a verdict with the checks behind it',
    ['core.create'],
    async (ctx) => {
      const vm = await busyVm(ctx, 'health');
      const report = await ctx.provider.checkHealth(vm);
      const statuses = ['ok', 'warning', 'critical', 'unknown'];
      expect(statuses).toContain(report.status);
      expect(isIsoTime(report.checkedAt)).toBe(true);
      expect(report.checks.length).toBeGreaterThan(0);
      for (const check of report.checks) {
        expect(check.name.length).toBeGreaterThan(0);
        expect(statuses).toContain(check.status);
      }
      await expectNotFound(() => ctx.provider.checkHealth(ctx.missingRef), 'vm');
    },
  ),

  // ---- monitoring.alerting --------------------------------------------------------------------
  rule(
    'monitoring.alerting',
    'a rule whose threshold is crossed fires for the VM, one that is not stays ok; rules are deleted',
    ['core.create'],
    async (ctx) => {
      const vm = await busyVm(ctx, 'alerts');
      const firing = await ctx.provider.createAlert({
        name: ctx.name('alert-firing'),
        vm: vm.ref,
        metric: 'memory.usedMiB',
        comparison: 'above',
        threshold: -1,
      });
      const quiet = await ctx.provider.createAlert({
        name: ctx.name('alert-ok'),
        vm: vm.ref,
        metric: 'memory.usedMiB',
        comparison: 'above',
        threshold: 1e12,
      });
      const live = new Set([firing.id, quiet.id]);
      ctx.defer(async () => {
        for (const id of live) await ctx.provider.deleteAlert(id);
      });
      const alerts = await ctx.eventually('the alert to fire', async () => {
        const current = await ctx.provider.listAlerts();
        return current.find((alert) => alert.id === firing.id)?.state === 'firing'
          ? current
          : undefined;
      });
      const fired = alerts.find((alert) => alert.id === firing.id);
      expect(fired?.firing.map((item) => item.id)).toEqual([vm.ref.id]);
      expect(fired?.firing[0]?.value).toBeGreaterThan(-1);
      const ok = alerts.find((alert) => alert.id === quiet.id);
      expect(ok?.state).toBe('ok');
      expect(ok?.firing).toEqual([]);
      for (const id of [firing.id, quiet.id]) {
        await ctx.provider.deleteAlert(id);
        live.delete(id);
      }
      const after = (await ctx.provider.listAlerts()).map((alert) => alert.id);
      expect(after).not.toContain(firing.id);
      expect(after).not.toContain(quiet.id);
      await expectNotFound(() => ctx.provider.deleteAlert(firing.id), 'alert');
    },
  ),
];
