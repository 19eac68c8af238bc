import { expect } from 'vitest';
import { expectInvalidSpec, expectNotFound, GIB, ONE_MIB_IN_GIB } from '../helpers.js';
import { type ConformanceRule, rule } from '../rule.js';

const MIB = 2 ** 20;

// Disk sizes in the diskCreate/diskExpand/multipleDisks rules are whole GiB: Proxmox allocates
// whole GiB only (qemu-server truncates a fraction) and cannot shrink back, so MiB-sized disks are
// sizes a real backend refuses. Thin-provisioned, they cost nothing on any test bed.

export const storageRules: readonly ConformanceRule[] = [
  // ---- storage.diskCreate ---------------------------------------------------------------------
  rule(
    'storage.diskCreate',
    'a disk is created with sizeBytes = sizeGiB × 2^30',
    ['core.create'],
    async (ctx) => {
      const sizeGiB = 2;
      const vm = await ctx.createVm('disk', { disks: [{ sizeGiB }] });
      expect(vm.disks).toHaveLength(1);
      expect(vm.disks[0]?.sizeBytes).toBe(sizeGiB * GIB);
      expect(vm.disks[0]?.id.length).toBeGreaterThan(0);
    },
  ),
  rule(
    'storage.diskCreate',
    'addDisks adds a disk to a stopped VM and removeDisks removes it',
    ['core.create', 'core.reconfigure', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('add-disk', { disks: [{ sizeGiB: 1 }] });
      const [first] = vm.disks;
      const added = await ctx.run(ctx.provider.reconfigure(vm, { addDisks: [{ sizeGiB: 3 }] }));
      expect(added.vm.disks).toHaveLength(2);
      const extra = added.vm.disks.find((disk) => disk.id !== first?.id);
      expect(extra?.sizeBytes).toBe(3 * GIB);
      const removed = await ctx.run(
        ctx.provider.reconfigure(vm, { removeDisks: [extra?.id ?? 'missing'] }),
      );
      expect(removed.vm.disks.map((disk) => disk.id)).toEqual([first?.id]);
      expect((await ctx.provider.get(vm)).disks.map((disk) => disk.id)).toEqual([first?.id]);
    },
  ),
  rule(
    'storage.diskCreate',
    'removeDisks with an unknown disk id is NotFoundError (disk)',
    ['core.create', 'core.reconfigure'],
    async (ctx) => {
      const vm = await ctx.createVm('remove-missing-disk', {
        disks: [{ sizeGiB: 1 }],
      });
      await expectNotFound(
        () => ctx.run(ctx.provider.reconfigure(vm, { removeDisks: ['hvkit-conformance-missing'] })),
        'disk',
      );
    },
  ),

  // ---- storage.diskExpand ---------------------------------------------------------------------
  rule(
    'storage.diskExpand',
    'a disk of a stopped VM grows',
    ['core.create', 'storage.diskCreate', 'core.reconfigure', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('expand', { disks: [{ sizeGiB: 1 }] });
      const diskId = vm.disks[0]?.id ?? '';
      const result = await ctx.run(
        ctx.provider.reconfigure(vm, { resizeDisks: [{ diskId, sizeGiB: 4 }] }),
      );
      expect(result.vm.disks.find((disk) => disk.id === diskId)?.sizeBytes).toBe(4 * GIB);
      expect((await ctx.provider.get(vm)).disks.find((disk) => disk.id === diskId)?.sizeBytes).toBe(
        4 * GIB,
      );
    },
  ),
  rule(
    'storage.diskExpand',
    'a disk of a running VM grows (live or pending restart)',
    ['core.create', 'storage.diskCreate', 'core.reconfigure', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('expand-live', { disks: [{ sizeGiB: 1 }] });
      const diskId = vm.disks[0]?.id ?? '';
      const result = await ctx.run(
        ctx.provider.reconfigure(vm, { resizeDisks: [{ diskId, sizeGiB: 4 }] }),
      );
      const size = result.vm.disks.find((disk) => disk.id === diskId)?.sizeBytes;
      if (size !== 4 * GIB) {
        expect(
          result.pendingRestart.some((field) => field.startsWith('resizeDisks')),
          'a disk that did not grow live must be listed in pendingRestart',
        ).toBe(true);
      }
      expect(result.vm.powerState).toBe('on');
    },
  ),
  rule(
    'storage.diskExpand',
    'shrinking a disk is InvalidSpecError naming resizeDisks[0].sizeGiB and changes nothing',
    ['core.create', 'storage.diskCreate', 'core.reconfigure', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('shrink', { disks: [{ sizeGiB: 2 }] });
      const diskId = vm.disks[0]?.id ?? '';
      await expectInvalidSpec(
        () => ctx.run(ctx.provider.reconfigure(vm, { resizeDisks: [{ diskId, sizeGiB: 1 }] })),
        'resizeDisks[0].sizeGiB',
      );
      expect((await ctx.provider.get(vm)).disks.find((disk) => disk.id === diskId)?.sizeBytes).toBe(
        2 * GIB,
      );
    },
  ),
  rule(
    'storage.diskExpand',
    'resizing an unknown disk id is NotFoundError (disk)',
    ['core.create', 'core.reconfigure'],
    async (ctx) => {
      const vm = await ctx.createVm('resize-missing');
      await expectNotFound(
        () =>
          ctx.run(
            ctx.provider.reconfigure(vm, {
              resizeDisks: [{ diskId: 'hvkit-conformance-missing', sizeGiB: 1 }],
            }),
          ),
        'disk',
      );
    },
  ),

  // ---- storage.multipleDisks ------------------------------------------------------------------
  rule(
    'storage.multipleDisks',
    'a VM with three disks has them in order with their sizes and distinct ids',
    ['core.create'],
    async (ctx) => {
      const sizes = [1, 2, 3];
      const vm = await ctx.createVm('disks', { disks: sizes.map((sizeGiB) => ({ sizeGiB })) });
      expect(vm.disks.map((disk) => disk.sizeBytes)).toEqual(sizes.map((size) => size * GIB));
      expect(new Set(vm.disks.map((disk) => disk.id)).size).toBe(3);
    },
  ),

  // ---- storage.thin / storage.thick -----------------------------------------------------------
  rule('storage.thin', 'a thin disk is observed thin', ['core.create'], async (ctx) => {
    const vm = await ctx.createVm('thin', {
      disks: [{ sizeGiB: ONE_MIB_IN_GIB, provisioning: 'thin' }],
    });
    expect(vm.disks[0]?.provisioning).toBe('thin');
  }),
  rule(
    'storage.thick',
    'thick and eager-zeroed thick disks are observed thick',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('thick', {
        disks: [{ sizeGiB: ONE_MIB_IN_GIB, provisioning: 'thick' }],
      });
      expect(['thick', 'eagerZeroedThick']).toContain(vm.disks[0]?.provisioning);
      const eager = await ctx.createVm('eager', {
        disks: [{ sizeGiB: ONE_MIB_IN_GIB, provisioning: 'eagerZeroedThick' }],
      });
      expect(['thick', 'eagerZeroedThick']).toContain(eager.disks[0]?.provisioning);
    },
  ),

  // ---- storage.storagePolicies ----------------------------------------------------------------
  rule(
    'storage.storagePolicies',
    'a disk placed by a storage policy is created',
    ['core.create'],
    async (ctx) => {
      const storagePolicy = ctx.require('storagePolicy', 'storage.storagePolicies is declared');
      const vm = await ctx.createVm('policy', {
        disks: [{ sizeGiB: ONE_MIB_IN_GIB, storagePolicy }],
      });
      expect(vm.disks).toHaveLength(1);
      expect(vm.disks[0]?.sizeBytes).toBe(MIB);
    },
  ),

  // ---- storage.storagePools -------------------------------------------------------------------
  rule(
    'storage.storagePools',
    'listStoragePools lists pools with capacity and content',
    [],
    async (ctx) => {
      const pools = await ctx.provider.listStoragePools();
      expect(pools.length).toBeGreaterThan(0);
      for (const pool of pools) {
        expect(pool.id.length).toBeGreaterThan(0);
        expect(pool.name.length).toBeGreaterThan(0);
        expect(pool.capacityBytes).toBeGreaterThan(0);
        expect(pool.freeBytes).toBeGreaterThanOrEqual(0);
        expect(pool.freeBytes).toBeLessThanOrEqual(pool.capacityBytes);
        expect(Array.isArray(pool.content)).toBe(true);
      }
      expect(new Set(pools.map((pool) => pool.id)).size).toBe(pools.length);
    },
  ),
  rule(
    'storage.storagePools',
    'a disk placed on a chosen pool (or the VM placed there) reports that storage',
    ['core.create'],
    async (ctx) => {
      const pool = await ctx.storage();
      const vm = await ctx.createVm('pool', {
        disks: [{ sizeGiB: ONE_MIB_IN_GIB, storage: pool.value }],
      });
      expect(pool.aliases).toContain(vm.disks[0]?.storage);
      const placed = await ctx.createVm('pool-default', {
        placement: { storage: pool.value },
        disks: [{ sizeGiB: ONE_MIB_IN_GIB }],
      });
      expect(pool.aliases, 'placement.storage is the default for disks naming none').toContain(
        placed.disks[0]?.storage,
      );
    },
  ),
  rule(
    'storage.storagePools',
    'a disk on a missing pool is NotFoundError (storage) and creates nothing',
    ['core.create'],
    async (ctx) => {
      const spec = ctx.spec('missing-pool', {
        disks: [{ sizeGiB: ONE_MIB_IN_GIB, storage: 'hvkit-conformance-missing' }],
      });
      await expectNotFound(() => ctx.run(ctx.provider.create(spec)), 'storage');
      if (ctx.usable('core.describe')) {
        const left = [];
        for await (const vm of ctx.provider.list({ name: spec.name })) left.push(vm);
        for (const vm of left) ctx.track(vm);
        expect(left).toHaveLength(0);
      }
    },
  ),
];
