import { ConflictError, NotFoundError } from '@hvkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { createScratchVm, destroyScratchVm, uniqueName, vcsimContext } from './ops-test-support.js';
import {
  createResourcePool,
  defaultParentPool,
  deleteResourcePool,
  listResourcePools,
  toResourcePool,
} from './resource-pools.js';

describe('resource pool mapping', () => {
  it('maps allocations (MHz, MiB), leaves out limit -1 and a parent that is no pool', () => {
    expect(
      toResourcePool({
        obj: { type: 'ResourcePool', value: 'resgroup-9' },
        properties: {
          name: 'web',
          parent: { type: 'ResourcePool', value: 'resgroup-1' },
          'config.cpuAllocation': { reservation: '100', limit: '-1' },
          'config.memoryAllocation': { reservation: '0', limit: '1024' },
        },
        missing: [],
      }),
    ).toEqual({
      id: 'resgroup-9',
      name: 'web',
      parentId: 'resgroup-1',
      cpu: { reservationMHz: 100 },
      memory: { reservationMiB: 0, limitMiB: 1024 },
    });
    expect(
      toResourcePool({
        obj: { type: 'ResourcePool', value: 'resgroup-1' },
        properties: {
          name: 'Resources',
          parent: { type: 'ClusterComputeResource', value: 'domain-c7' },
          config: { cpuAllocation: { reservation: '4121', limit: '4121' } },
        },
        missing: [],
      }),
    ).toEqual({
      id: 'resgroup-1',
      name: 'Resources',
      cpu: { reservationMHz: 4121, limitMHz: 4121 },
      memory: {},
    });
  });
});

const vcsim = requireVcsim();

describe.skipIf(!vcsim)('resource pools on vcsim', () => {
  const ctx = vcsimContext(vcsim as NonNullable<typeof vcsim>);
  afterAll(() => ctx.client.close());

  it('creates, lists, refuses to delete while in use, deletes; then NotFound', async () => {
    const name = uniqueName('pool');
    const root = await defaultParentPool(ctx);
    const pool = await createResourcePool(ctx, {
      name,
      cpu: { reservationMHz: 100 },
      memory: { limitMiB: 1024 },
    });
    let vm = '';
    try {
      expect(pool).toEqual({
        id: pool.id,
        name,
        parentId: root.value,
        cpu: { reservationMHz: 100 },
        memory: { reservationMiB: 0, limitMiB: 1024 },
      });
      expect(await listResourcePools(ctx)).toContainEqual(pool);
      const duplicate = await createResourcePool(ctx, { name }).catch((error: unknown) => error);
      expect(ConflictError.isInstance(duplicate)).toBe(true);
      expect((duplicate as ConflictError).reason).toBe('already-exists');

      const child = await createResourcePool(ctx, { name: uniqueName('child'), parentId: name });
      expect(child.parentId).toBe(pool.id);
      const withChild = await deleteResourcePool(ctx, pool.id).catch((error: unknown) => error);
      expect((withChild as ConflictError).reason).toBe('in-use');
      await deleteResourcePool(ctx, child.id);

      vm = await createScratchVm(ctx, uniqueName('in-pool'), {
        type: 'ResourcePool',
        value: pool.id,
      });
      const inUse = await deleteResourcePool(ctx, pool.id).catch((error: unknown) => error);
      expect(ConflictError.isInstance(inUse)).toBe(true);
      expect((inUse as ConflictError).reason).toBe('in-use');
      await destroyScratchVm(ctx, vm);
      vm = '';
      await deleteResourcePool(ctx, pool.id);
    } finally {
      if (vm !== '') await destroyScratchVm(ctx, vm);
      await deleteResourcePool(ctx, pool.id).catch(() => undefined);
    }
    expect((await listResourcePools(ctx)).map((item) => item.id)).not.toContain(pool.id);
    const gone = await deleteResourcePool(ctx, pool.id).catch((error: unknown) => error);
    expect(NotFoundError.isInstance(gone)).toBe(true);
    expect((gone as NotFoundError).resource).toBe('resource-pool');
  });

  it('a missing parent is NotFoundError (resource-pool); a root pool is not deleted', async () => {
    const missing = await createResourcePool(ctx, {
      name: uniqueName('orphan'),
      parentId: 'hvkit-no-such-pool',
    }).catch((error: unknown) => error);
    expect((missing as NotFoundError).resource).toBe('resource-pool');
    const root = await defaultParentPool(ctx);
    const refused = await deleteResourcePool(ctx, root.value).catch((error: unknown) => error);
    expect((refused as ConflictError).reason).toBe('invalid-state');
  });
});
