import type { MigrateTarget, VmSpecInput } from '@hvkit/core';
import { expect } from 'vitest';
import { missingFixture, type SuiteContext } from '../context.js';
import { expectConflict, expectNotFound, ONE_MIB_IN_GIB } from '../helpers.js';
import { type ConformanceRule, rule } from '../rule.js';

/** `fixtures.migrateTarget`, or another storage pool than the one the VM's disk is on. */
async function migrateTarget(
  ctx: SuiteContext,
  currentStorage: string | undefined,
): Promise<{ target: MigrateTarget; storageAliases?: string[] }> {
  const fixture = ctx.fixtures.migrateTarget;
  if (fixture) {
    if (fixture.storage === undefined) return { target: fixture };
    const pools = ctx.usable('storage.storagePools') ? await ctx.pools() : [];
    const pool = pools.find((item) => item.id === fixture.storage || item.name === fixture.storage);
    return {
      target: fixture,
      storageAliases: pool ? [pool.id, pool.name] : [fixture.storage],
    };
  }
  if (ctx.usable('storage.storagePools') && currentStorage !== undefined) {
    try {
      const other = await ctx.storage([currentStorage]);
      return { target: { storage: other.value }, storageAliases: other.aliases };
    } catch {
      // fall through to the fixture error
    }
  }
  throw missingFixture(
    'migrateTarget',
    'advanced.liveMigration is declared and no second storage pool was found to migrate to',
  );
}

export const advancedRules: readonly ConformanceRule[] = [
  // ---- advanced.ha ----------------------------------------------------------------------------
  rule(
    'advanced.ha',
    'high availability settings are applied and read back',
    ['core.create', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('ha');
      await ctx.run(
        ctx.provider.setHighAvailability(vm, { enabled: true, restartPriority: 'high' }),
      );
      expect((await ctx.provider.get(vm)).policies.highAvailability).toEqual({
        enabled: true,
        restartPriority: 'high',
      });
      await ctx.run(
        ctx.provider.setHighAvailability(vm, { enabled: false, restartPriority: 'disabled' }),
      );
      expect((await ctx.provider.get(vm)).policies.highAvailability?.enabled).toBe(false);
      await expectNotFound(
        () =>
          ctx.run(
            ctx.provider.setHighAvailability(ctx.missingRef, {
              enabled: true,
              restartPriority: 'low',
            }),
          ),
        'vm',
      );
    },
  ),

  // ---- advanced.drs ---------------------------------------------------------------------------
  rule(
    'advanced.drs',
    'load balancing automation is applied and read back',
    ['core.create', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('drs');
      await ctx.run(ctx.provider.setLoadBalancing(vm, { automation: 'manual' }));
      expect((await ctx.provider.get(vm)).policies.loadBalancing).toEqual({ automation: 'manual' });
      await ctx.run(ctx.provider.setLoadBalancing(vm, { automation: 'full' }));
      expect((await ctx.provider.get(vm)).policies.loadBalancing).toEqual({ automation: 'full' });
    },
  ),

  // ---- advanced.faultTolerance ----------------------------------------------------------------
  rule(
    'advanced.faultTolerance',
    'fault tolerance is turned on and off for a running one-vCPU VM',
    ['core.create', 'core.powerOn', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('fault-tolerance', { cpu: { count: 1 } });
      await ctx.run(ctx.provider.setFaultTolerance(vm, { enabled: true }));
      expect((await ctx.provider.get(vm)).policies.faultTolerance).toEqual({ enabled: true });
      await ctx.run(ctx.provider.setFaultTolerance(vm, { enabled: false }));
      expect((await ctx.provider.get(vm)).policies.faultTolerance?.enabled).toBe(false);
    },
  ),

  // ---- advanced.liveMigration -----------------------------------------------------------------
  rule(
    'advanced.liveMigration',
    'a running VM moves to the target and stays on',
    ['core.create', 'core.powerOn', 'core.describe'],
    async (ctx) => {
      const overrides: Partial<VmSpecInput> = {};
      if (ctx.fixtures.host) overrides.placement = { host: ctx.fixtures.host };
      if (ctx.usable('storage.diskCreate')) overrides.disks = [{ sizeGiB: ONE_MIB_IN_GIB }];
      const vm = await ctx.createRunningVm('migrate', overrides);
      const { target, storageAliases } = await migrateTarget(ctx, vm.disks[0]?.storage);
      const moved = await ctx.run(ctx.provider.migrate(vm, target));
      expect(moved.ref).toEqual(vm.ref);
      expect(moved.powerState).toBe('on');
      const got = await ctx.provider.get(vm);
      expect(got.powerState).toBe('on');
      if (target.host !== undefined) {
        expect(moved.placement.host).toBe(target.host);
        expect(got.placement.host).toBe(target.host);
      }
      if (target.storage !== undefined) {
        for (const disk of got.disks) expect(storageAliases).toContain(disk.storage);
      }
      if (target.resourcePool !== undefined) {
        expect(got.placement.resourcePool).toBe(target.resourcePool);
      }
    },
  ),
  rule(
    'advanced.liveMigration',
    'migrating a missing VM is NotFoundError (vm)',
    [],
    async (ctx) => {
      const target = ctx.fixtures.migrateTarget ?? { host: 'hvkit-conformance-host' };
      await expectNotFound(() => ctx.run(ctx.provider.migrate(ctx.missingRef, target)), 'vm');
    },
  ),

  // ---- advanced.resourcePools -----------------------------------------------------------------
  rule(
    'advanced.resourcePools',
    'a resource pool is created, listed, holds VMs (ConflictError in-use on delete) and is deleted',
    [],
    async (ctx) => {
      const name = ctx.name('pool');
      const pool = await ctx.provider.createResourcePool({
        name,
        cpu: { reservationMHz: 100 },
        memory: { limitMiB: 1024 },
      });
      let deleted = false;
      ctx.defer(async () => {
        if (!deleted) await ctx.provider.deleteResourcePool(pool.id);
      });
      expect(pool.name).toBe(name);
      expect(pool.cpu.reservationMHz).toBe(100);
      expect(pool.memory.limitMiB).toBe(1024);
      expect((await ctx.provider.listResourcePools()).map((item) => item.id)).toContain(pool.id);
      if (ctx.usable('core.create') && ctx.usable('core.delete')) {
        const vm = await ctx.createVm('in-pool', { placement: { resourcePool: pool.id } });
        expect([pool.id, pool.name]).toContain(vm.placement.resourcePool);
        await expectConflict(() => ctx.provider.deleteResourcePool(pool.id), 'in-use');
        await ctx.run(ctx.provider.delete(vm));
      }
      await ctx.provider.deleteResourcePool(pool.id);
      deleted = true;
      if (ctx.usable('core.create')) {
        await expectNotFound(
          () =>
            ctx.run(
              ctx.provider.create(ctx.spec('gone-pool', { placement: { resourcePool: pool.id } })),
            ),
          'resource-pool',
        );
      }
      expect((await ctx.provider.listResourcePools()).map((item) => item.id)).not.toContain(
        pool.id,
      );
      await expectNotFound(() => ctx.provider.deleteResourcePool(pool.id), 'resource-pool');
    },
  ),

  // ---- advanced.affinityRules -----------------------------------------------------------------
  rule(
    'advanced.affinityRules',
    'an anti-affinity rule is created, listed and deleted',
    ['core.create'],
    async (ctx) => {
      const a = await ctx.createVm('rule-a');
      const b = await ctx.createVm('rule-b');
      const name = ctx.name('rule');
      const created = await ctx.provider.createPlacementRule({
        name,
        kind: 'anti-affinity',
        vms: [a.ref, b.ref],
      });
      let deleted = false;
      ctx.defer(async () => {
        if (!deleted) await ctx.provider.deletePlacementRule(created.id);
      });
      expect(created.name).toBe(name);
      expect(created.kind).toBe('anti-affinity');
      expect(created.mandatory).toBe(true);
      expect(created.vms.map((vm) => vm.id).sort()).toEqual([a.ref.id, b.ref.id].sort());
      expect((await ctx.provider.listPlacementRules()).map((item) => item.id)).toContain(
        created.id,
      );
      await ctx.provider.deletePlacementRule(created.id);
      deleted = true;
      expect((await ctx.provider.listPlacementRules()).map((item) => item.id)).not.toContain(
        created.id,
      );
      await expectNotFound(() => ctx.provider.deletePlacementRule(created.id), 'placement-rule');
    },
  ),
];
