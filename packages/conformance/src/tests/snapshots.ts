import { ConflictError } from '@hvkit/core';
import { expect } from 'vitest';
import { explain } from '../context.js';
import { expectNotFound, findSnapshot, flatten, isIsoTime } from '../helpers.js';
import { type ConformanceRule, rule } from '../rule.js';

export const snapshotRules: readonly ConformanceRule[] = [
  // ---- snapshots.create -----------------------------------------------------------------------
  rule(
    'snapshots.create',
    'a snapshot of a stopped VM has its name, no memory, power state off, and becomes current',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('snapshot');
      const snapshot = await ctx.run(
        ctx.provider.createSnapshot(vm, { name: 'first', description: 'conformance' }),
      );
      expect(snapshot.id.length).toBeGreaterThan(0);
      expect(snapshot.name).toBe('first');
      expect(snapshot.memory).toBe(false);
      expect(snapshot.quiesced).toBe(false);
      expect(snapshot.powerState).toBe('off');
      expect(snapshot.parentId).toBeUndefined();
      expect(isIsoTime(snapshot.createdAt)).toBe(true);
      if (ctx.usable('snapshots.tree') || ctx.usable('core.describe')) {
        const tree = await ctx.tree(vm);
        expect(tree.currentId).toBe(snapshot.id);
        expect(findSnapshot(tree, snapshot.id).name).toBe('first');
      }
    },
  ),
  rule('snapshots.create', 'a snapshot of a missing VM is NotFoundError (vm)', [], async (ctx) => {
    await expectNotFound(
      () => ctx.run(ctx.provider.createSnapshot(ctx.missingRef, { name: 'x' })),
      'vm',
    );
  }),

  // ---- snapshots.tree -------------------------------------------------------------------------
  rule(
    'snapshots.tree',
    'a VM without snapshots has an empty tree',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('no-snapshots');
      expect(await ctx.provider.listSnapshots(vm)).toEqual({ currentId: null, roots: [] });
    },
  ),
  rule(
    'snapshots.tree',
    "a new snapshot's parent is the current one and it becomes current; the tree has that shape",
    ['core.create', 'snapshots.create'],
    async (ctx) => {
      const vm = await ctx.createVm('snapshot-tree');
      const s1 = await ctx.run(ctx.provider.createSnapshot(vm, { name: 's1' }));
      const s2 = await ctx.run(ctx.provider.createSnapshot(vm, { name: 's2' }));
      expect(s2.parentId).toBe(s1.id);
      let tree = await ctx.provider.listSnapshots(vm);
      expect(tree.currentId).toBe(s2.id);
      expect(tree.roots.map((root) => root.id)).toEqual([s1.id]);
      expect(tree.roots[0]?.children.map((child) => child.id)).toEqual([s2.id]);
      expect(findSnapshot(tree, s2.id).parentId).toBe(s1.id);
      if (ctx.usable('snapshots.revert')) {
        await ctx.run(ctx.provider.revertSnapshot(vm, s1.id));
        const s3 = await ctx.run(ctx.provider.createSnapshot(vm, { name: 's3' }));
        expect(s3.parentId).toBe(s1.id);
        tree = await ctx.provider.listSnapshots(vm);
        expect(tree.currentId).toBe(s3.id);
        expect(tree.roots.map((root) => root.id)).toEqual([s1.id]);
        expect(tree.roots[0]?.children.map((child) => child.id).sort()).toEqual(
          [s2.id, s3.id].sort(),
        );
      } else {
        const s3 = await ctx.run(ctx.provider.createSnapshot(vm, { name: 's3' }));
        tree = await ctx.provider.listSnapshots(vm);
        expect(tree.currentId).toBe(s3.id);
        expect(findSnapshot(tree, s3.id).parentId).toBe(s2.id);
      }
      expect(flatten(tree)).toHaveLength(3);
    },
  ),
  rule('snapshots.tree', 'listSnapshots of a missing VM is NotFoundError (vm)', [], async (ctx) => {
    await expectNotFound(() => ctx.provider.listSnapshots(ctx.missingRef), 'vm');
  }),

  // ---- snapshots.revert -----------------------------------------------------------------------
  rule(
    'snapshots.revert',
    'revert makes the snapshot current',
    ['core.create', 'snapshots.create'],
    async (ctx) => {
      const vm = await ctx.createVm('revert');
      const s1 = await ctx.run(ctx.provider.createSnapshot(vm, { name: 's1' }));
      await ctx.run(ctx.provider.createSnapshot(vm, { name: 's2' }));
      await ctx.run(ctx.provider.revertSnapshot(vm, s1.id));
      if (ctx.usable('snapshots.tree') || ctx.usable('core.describe')) {
        expect((await ctx.tree(vm)).currentId).toBe(s1.id);
      }
    },
  ),
  rule(
    'snapshots.revert',
    'reverting to a snapshot without memory leaves the VM off',
    ['core.create', 'snapshots.create', 'core.powerOn', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('revert-power');
      const s1 = await ctx.run(ctx.provider.createSnapshot(vm, { name: 'off' }));
      await ctx.run(ctx.provider.powerOn(vm));
      expect((await ctx.provider.get(vm)).powerState).toBe('on');
      await ctx.run(ctx.provider.revertSnapshot(vm, s1.id));
      const got = await ctx.provider.get(vm);
      expect(got.powerState).toBe('off');
      expect(got.snapshots.currentId).toBe(s1.id);
    },
  ),
  rule(
    'snapshots.revert',
    'revert to a missing snapshot is NotFoundError (snapshot)',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('revert-missing');
      await expectNotFound(
        () => ctx.run(ctx.provider.revertSnapshot(vm, 'hvkit-conformance-missing')),
        'snapshot',
      );
    },
  ),

  // ---- snapshots.delete -----------------------------------------------------------------------
  rule(
    'snapshots.delete',
    'deleting a snapshot re-parents its children; deleting the current one makes its parent current',
    ['core.create', 'snapshots.create'],
    async (ctx) => {
      const vm = await ctx.createVm('snapshot-delete');
      const s1 = await ctx.run(ctx.provider.createSnapshot(vm, { name: 's1' }));
      const s2 = await ctx.run(ctx.provider.createSnapshot(vm, { name: 's2' }));
      const s3 = await ctx.run(ctx.provider.createSnapshot(vm, { name: 's3' }));
      await ctx.run(ctx.provider.deleteSnapshot(vm, s2.id));
      let tree = await ctx.tree(vm);
      expect(flatten(tree).map((snapshot) => snapshot.id)).toEqual([s1.id, s3.id]);
      expect(findSnapshot(tree, s3.id).parentId).toBe(s1.id);
      expect(tree.currentId).toBe(s3.id);
      await ctx.run(ctx.provider.deleteSnapshot(vm, s3.id));
      tree = await ctx.tree(vm);
      expect(flatten(tree).map((snapshot) => snapshot.id)).toEqual([s1.id]);
      expect(tree.currentId).toBe(s1.id);
    },
  ),
  rule(
    'snapshots.delete',
    'removeChildren deletes the whole subtree',
    ['core.create', 'snapshots.create'],
    async (ctx) => {
      const vm = await ctx.createVm('snapshot-subtree');
      const s1 = await ctx.run(ctx.provider.createSnapshot(vm, { name: 's1' }));
      await ctx.run(ctx.provider.createSnapshot(vm, { name: 's2' }));
      await ctx.run(ctx.provider.createSnapshot(vm, { name: 's3' }));
      await ctx.run(ctx.provider.deleteSnapshot(vm, s1.id, { removeChildren: true }));
      expect(await ctx.tree(vm)).toEqual({ currentId: null, roots: [] });
    },
  ),
  rule(
    'snapshots.delete',
    'deleting a missing snapshot is NotFoundError (snapshot)',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('snapshot-delete-missing');
      await expectNotFound(
        () => ctx.run(ctx.provider.deleteSnapshot(vm, 'hvkit-conformance-missing')),
        'snapshot',
      );
    },
  ),

  // ---- snapshots.memory -----------------------------------------------------------------------
  rule(
    'snapshots.memory',
    'a memory snapshot of a running VM records memory and power state on',
    ['core.create', 'core.powerOn', 'snapshots.create'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('memory-snapshot');
      const snapshot = await ctx.run(
        ctx.provider.createSnapshot(vm, { name: 'with-memory', memory: true }),
      );
      expect(snapshot.memory).toBe(true);
      expect(snapshot.powerState).toBe('on');
      if (ctx.usable('snapshots.tree') || ctx.usable('core.describe')) {
        expect(findSnapshot(await ctx.tree(vm), snapshot.id).memory).toBe(true);
      }
    },
  ),
  rule(
    'snapshots.memory',
    'a memory snapshot of a stopped VM is ConflictError (invalid-power-state) or has no memory',
    ['core.create', 'snapshots.create'],
    async (ctx) => {
      const vm = await ctx.createVm('memory-snapshot-off');
      try {
        const snapshot = await ctx.run(
          ctx.provider.createSnapshot(vm, { name: 'no-memory', memory: true }),
        );
        expect(snapshot.memory).toBe(false);
      } catch (error) {
        expect(ConflictError.isInstance(error), explain(error)).toBe(true);
        expect((error as ConflictError).reason).toBe('invalid-power-state');
      }
    },
  ),
  rule(
    'snapshots.memory',
    'reverting to a memory snapshot brings the VM back running',
    [
      'core.create',
      'core.powerOn',
      'core.powerOff',
      'core.describe',
      'snapshots.create',
      'snapshots.revert',
    ],
    async (ctx) => {
      const vm = await ctx.createRunningVm('memory-revert');
      const snapshot = await ctx.run(
        ctx.provider.createSnapshot(vm, { name: 'running', memory: true }),
      );
      await ctx.run(ctx.provider.powerOff(vm));
      expect((await ctx.provider.get(vm)).powerState).toBe('off');
      await ctx.run(ctx.provider.revertSnapshot(vm, snapshot.id));
      expect((await ctx.provider.get(vm)).powerState).toBe('on');
    },
  ),

  // ---- snapshots.quiesce ----------------------------------------------------------------------
  rule(
    'snapshots.quiesce',
    'a quiesced snapshot of a running VM with tools is quiesced',
    ['core.create', 'core.powerOn', 'core.describe', 'snapshots.create'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('quiesce');
      await ctx.eventually(
        'guest tools to run',
        async () => (await ctx.provider.get(vm)).guest.toolsState === 'running',
      );
      const snapshot = await ctx.run(
        ctx.provider.createSnapshot(vm, { name: 'quiesced', quiesce: true }),
      );
      expect(snapshot.quiesced).toBe(true);
    },
  ),
];
