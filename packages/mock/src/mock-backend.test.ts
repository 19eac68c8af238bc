import { ConflictError, InvalidSpecError, NotFoundError, type Vm } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { canonicalJson, createMockBackend, ROOT_RESOURCE_POOL_ID } from './mock-backend.js';
import { createMockProvider } from './mock-provider.js';

describe('MockBackend', () => {
  it('lists 5,000 VMs by pages, in creation order, with filters', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const started = performance.now();
    for (let index = 0; index < 5_000; index++) {
      await provider.create({
        name: `vm-${String(index).padStart(4, '0')}`,
        cpu: { count: 1 },
        memory: { sizeMiB: 256 },
        tags: { shard: String(index % 4) },
        powerState: index % 2 === 0 ? 'on' : 'off',
      });
    }
    const pages: Vm[][] = [];
    let cursor: string | undefined;
    do {
      const page = await provider.listPage({ limit: 700, cursor });
      pages.push(page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(pages.map((page) => page.length)).toEqual([700, 700, 700, 700, 700, 700, 700, 100]);
    const names = pages.flat().map((vm) => vm.name);
    expect(names[0]).toBe('vm-0000');
    expect(names.at(-1)).toBe('vm-4999');
    expect(new Set(names).size).toBe(5_000);
    const filtered = [];
    for await (const vm of provider.list({ tags: { shard: '1' }, powerState: 'off', limit: 100 })) {
      filtered.push(vm);
    }
    expect(filtered).toHaveLength(1_250);
    expect((await provider.listPage({ name: 'vm-4242' })).items.map((vm) => vm.name)).toEqual([
      'vm-4242',
    ]);
    const prefixed = await provider.listPage({ namePrefix: 'vm-49', limit: 1000 });
    expect(prefixed.items).toHaveLength(100);
    expect(prefixed.nextCursor).toBeUndefined();
    await expect(provider.listPage({ cursor: 'not-a-cursor' })).rejects.toSatisfy(
      (error) => InvalidSpecError.isInstance(error) && error.issues[0]?.path === 'cursor',
    );
  }, 60_000);

  it('keeps paging stable while VMs are deleted between pages', async () => {
    const backend = createMockBackend();
    const ids = Array.from(
      { length: 30 },
      (_, index) =>
        backend.createVm({ name: `n${index}`, cpu: { count: 1 }, memory: { sizeMiB: 64 } }).id,
    );
    const first = backend.listVms({ limit: 10 });
    for (const id of ids.slice(5, 15)) backend.deleteVm(id);
    const second = backend.listVms({ limit: 10, cursor: first.nextCursor });
    expect(second.items.map((vm) => vm.name)).toEqual(
      Array.from({ length: 10 }, (_, index) => `n${index + 15}`),
    );
  });

  it('makes thousands of seeded VMs at start, deterministically', () => {
    const started = performance.now();
    const backend = createMockBackend({ inventory: { vms: 10_000 } });
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(backend.vmCount).toBe(10_000);
    const again = createMockBackend({ inventory: { vms: 10_000 } });
    const page = (candidate: typeof backend) =>
      candidate
        .listVms({ limit: 5 })
        .items.map((vm) => [vm.id, vm.name, vm.powerState, vm.nics[0]?.mac]);
    expect(page(again)).toEqual(page(backend));
    expect(new Set(backend.listVms({ limit: 1000 }).items.map((vm) => vm.powerState))).toEqual(
      new Set(['on', 'off']),
    );
  }, 30_000);

  it('applies direct operations at once, with the same rules as tasks', () => {
    const backend = createMockBackend();
    const vm = backend.createVm({ name: 'direct', cpu: { count: 2 }, memory: { sizeMiB: 1024 } });
    expect(vm.placement.resourcePool).toBe(ROOT_RESOURCE_POOL_ID);
    backend.powerOn(vm.id);
    expect(() => backend.powerOn(vm.id)).toThrow(
      expect.objectContaining({ code: 'CONFLICT', reason: 'invalid-power-state' }),
    );
    const snapshot = backend.createSnapshot(vm.id, { name: 'one', memory: true });
    expect(snapshot.parentId).toBeUndefined();
    const clone = backend.cloneVm(vm.id, { name: 'direct-clone', mode: 'linked' });
    expect(clone.disks).toEqual([]);
    backend.deleteVm(vm.id);
    expect(() => backend.getVm(vm.id)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(backend.getVm(clone.id).name).toBe('direct-clone');
  });

  it('keeps events newest first, filtered and limited', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const a = await provider.create({ name: 'a', cpu: { count: 1 }, memory: { sizeMiB: 64 } });
    const b = await provider.create({ name: 'b', cpu: { count: 1 }, memory: { sizeMiB: 64 } });
    await provider.powerOn(a);
    await provider.reconfigure(b, { name: 'b2' });
    const all = await provider.listEvents();
    expect(all.map((event) => event.type)).toEqual([
      'vm-reconfigured',
      'vm-powered-on',
      'vm-created',
      'vm-created',
    ]);
    expect(all[0]?.vm).toEqual(b.ref);
    expect((await provider.listEvents({ vm: a.ref })).map((event) => event.type)).toEqual([
      'vm-powered-on',
      'vm-created',
    ]);
    expect(await provider.listEvents({ limit: 1 })).toHaveLength(1);
    expect(
      await provider.listEvents({ since: new Date(Date.now() + 60_000).toISOString() }),
    ).toEqual([]);
  });

  it('reports not-found for every kind of missing object', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const vm = await provider.create({ name: 'x', cpu: { count: 1 }, memory: { sizeMiB: 64 } });
    const resource = (promise: PromiseLike<unknown>) =>
      Promise.resolve(promise).then(
        () => 'none',
        (error: unknown) => (NotFoundError.isInstance(error) ? error.resource : String(error)),
      );
    expect(await resource(provider.revertSnapshot(vm, 'snapshot-x'))).toBe('snapshot');
    expect(await resource(provider.exportDisk(vm, 'disk-x'))).toBe('disk');
    expect(await resource(provider.reconfigure(vm, { removeNics: ['nic-x'] }))).toBe('nic');
    expect(await resource(provider.migrate(vm, { host: 'host-9' }))).toBe('host');
    expect(await resource(provider.migrate(vm, { resourcePool: 'nope' }))).toBe('resource-pool');
    expect(await resource(provider.deletePlacementRule('rule-x'))).toBe('placement-rule');
    expect(await resource(provider.deleteResourcePool('resgroup-x'))).toBe('resource-pool');
    expect(
      await resource(
        provider.create({
          name: 'y',
          cpu: { count: 1 },
          memory: { sizeMiB: 64 },
          image: { kind: 'image', imageId: 'image-x' },
        }),
      ),
    ).toBe('image');
    await expect(provider.deleteResourcePool(ROOT_RESOURCE_POOL_ID)).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'invalid-state',
    );
  });

  it('canonicalises JSON independently of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: 3 } })).toBe(
      canonicalJson({ a: { c: 3, d: [2, { e: 0, f: 1 }] }, b: 1 }),
    );
  });
});
