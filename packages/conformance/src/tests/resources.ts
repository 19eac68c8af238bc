import { expect } from 'vitest';
import { type ConformanceRule, rule } from '../rule.js';

export const resourceRules: readonly ConformanceRule[] = [
  rule(
    'resources.cpu',
    'vCPU count and cores per socket are set at create and changed on a stopped VM',
    ['core.create', 'core.reconfigure'],
    async (ctx) => {
      const vm = await ctx.createVm('cpu', { cpu: { count: 4, coresPerSocket: 2 } });
      expect(vm.cpu.count).toBe(4);
      expect(vm.cpu.coresPerSocket).toBe(2);
      const result = await ctx.run(
        ctx.provider.reconfigure(vm, { cpu: { count: 2, coresPerSocket: 1 } }),
      );
      expect(result.applied).toEqual(expect.arrayContaining(['cpu.count', 'cpu.coresPerSocket']));
      expect(result.vm.cpu.count).toBe(2);
      expect(result.vm.cpu.coresPerSocket).toBe(1);
    },
  ),
  rule(
    'resources.memory',
    'memory is set at create and changed on a stopped VM',
    ['core.create', 'core.reconfigure'],
    async (ctx) => {
      const vm = await ctx.createVm('memory', { memory: { sizeMiB: 256 } });
      expect(vm.memory.sizeMiB).toBe(256);
      const result = await ctx.run(ctx.provider.reconfigure(vm, { memory: { sizeMiB: 512 } }));
      expect(result.applied).toContain('memory.sizeMiB');
      expect(result.vm.memory.sizeMiB).toBe(512);
    },
  ),
  rule(
    'resources.cpuHotAdd',
    'a running VM with CPU hot-add takes more vCPUs live',
    ['core.create', 'core.powerOn', 'core.reconfigure', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('cpu-hot-add', { cpu: { count: 1, hotAdd: true } });
      expect(vm.cpu.hotAdd).toBe(true);
      const can = await ctx.provider.can(vm.ref, 'resources.cpu');
      expect(can.ok, can.reason).toBe(true);
      const result = await ctx.run(ctx.provider.reconfigure(vm, { cpu: { count: 2 } }));
      expect(result.applied).toContain('cpu.count');
      expect(result.pendingRestart).not.toContain('cpu.count');
      expect(result.vm.cpu.count).toBe(2);
      const got = await ctx.provider.get(vm);
      expect(got.powerState).toBe('on');
      expect(got.cpu.count).toBe(2);
    },
  ),
  rule(
    'resources.memoryHotAdd',
    'a running VM with memory hot-add takes more memory live',
    ['core.create', 'core.powerOn', 'core.reconfigure', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('memory-hot-add', {
        // Sizes a real backend accepts for hot-add (Proxmox: at least 1024 MiB, on its DIMM steps).
        memory: { sizeMiB: 2048, hotAdd: true },
      });
      expect(vm.memory.hotAdd).toBe(true);
      const can = await ctx.provider.can(vm.ref, 'resources.memory');
      expect(can.ok, can.reason).toBe(true);
      const result = await ctx.run(ctx.provider.reconfigure(vm, { memory: { sizeMiB: 4096 } }));
      expect(result.applied).toContain('memory.sizeMiB');
      expect(result.pendingRestart).not.toContain('memory.sizeMiB');
      expect(result.vm.memory.sizeMiB).toBe(4096);
      const got = await ctx.provider.get(vm);
      expect(got.powerState).toBe('on');
      expect(got.memory.sizeMiB).toBe(4096);
    },
  ),
  rule(
    'resources.reservations',
    'CPU and memory reservations round-trip at create and reconfigure',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('reservations', {
        cpu: { count: 1, reservationMHz: 100 },
        memory: { sizeMiB: 256, reservationMiB: 64 },
      });
      expect(vm.cpu.reservationMHz).toBe(100);
      expect(vm.memory.reservationMiB).toBe(64);
      if (ctx.usable('core.reconfigure')) {
        const result = await ctx.run(
          ctx.provider.reconfigure(vm, {
            cpu: { reservationMHz: 200 },
            memory: { reservationMiB: 128 },
          }),
        );
        expect(result.vm.cpu.reservationMHz).toBe(200);
        expect(result.vm.memory.reservationMiB).toBe(128);
      }
    },
  ),
  rule(
    'resources.limits',
    'CPU and memory limits round-trip at create and reconfigure',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('limits', {
        cpu: { count: 1, limitMHz: 1000 },
        memory: { sizeMiB: 256, limitMiB: 256 },
      });
      expect(vm.cpu.limitMHz).toBe(1000);
      expect(vm.memory.limitMiB).toBe(256);
      if (ctx.usable('core.reconfigure')) {
        const result = await ctx.run(
          ctx.provider.reconfigure(vm, { cpu: { limitMHz: 2000 }, memory: { limitMiB: 192 } }),
        );
        expect(result.vm.cpu.limitMHz).toBe(2000);
        expect(result.vm.memory.limitMiB).toBe(192);
      }
    },
  ),
];
