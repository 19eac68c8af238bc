import type { Vm, VmSpecInput } from '@hvkit/core';
import { expect } from 'vitest';
import type { SuiteContext } from '../context.js';
import { expectConflict, expectNotFound, ONE_MIB_IN_GIB, randomMac } from '../helpers.js';
import { type ConformanceRule, rule } from '../rule.js';

/** A source VM with the hardware a clone must copy: 2 vCPU, 256 MiB, a disk and a NIC where declared. */
async function cloneSource(ctx: SuiteContext, label: string): Promise<Vm> {
  const overrides: Partial<VmSpecInput> = {
    cpu: { count: 2 },
    memory: { sizeMiB: 256 },
  };
  if (ctx.usable('storage.diskCreate')) overrides.disks = [{ sizeGiB: 2 * ONE_MIB_IN_GIB }];
  if (ctx.usable('network.basic')) {
    overrides.nics = [{ network: (await ctx.network()).value, mac: randomMac() }];
  }
  return ctx.createVm(label, overrides);
}

function expectSameHardware(clone: Vm, source: Vm): void {
  expect(clone.cpu.count).toBe(source.cpu.count);
  expect(clone.memory.sizeMiB).toBe(source.memory.sizeMiB);
  expect(clone.disks.map((disk) => disk.sizeBytes)).toEqual(
    source.disks.map((disk) => disk.sizeBytes),
  );
  expect(clone.nics.map((nic) => nic.network)).toEqual(source.nics.map((nic) => nic.network));
  for (const nic of clone.nics) {
    expect(
      source.nics.map((item) => item.mac),
      'a clone gets new MACs',
    ).not.toContain(nic.mac);
  }
}

export const lifecycleRules: readonly ConformanceRule[] = [
  // ---- lifecycle.templateDeploy ---------------------------------------------------------------
  rule(
    'lifecycle.templateDeploy',
    'markAsTemplate turns a stopped VM into a template and create deploys VMs from it',
    ['core.create'],
    async (ctx) => {
      const source = await cloneSource(ctx, 'template');
      const template = await ctx.run(ctx.provider.markAsTemplate(source));
      expect(template.ref).toEqual(source.ref);
      expect(template.template).toBe(true);
      if (ctx.usable('core.describe')) {
        expect((await ctx.provider.get(source)).template).toBe(true);
        const templates = [];
        for await (const vm of ctx.provider.list({ name: source.name, template: true })) {
          templates.push(vm);
        }
        expect(templates.map((vm) => vm.ref.id)).toEqual([source.ref.id]);
      }
      const deployed = await ctx.createVm('from-template', {
        cpu: { count: 2 },
        memory: { sizeMiB: 256 },
        image: { kind: 'template', template: template.ref.id },
      });
      expect(deployed.ref.id).not.toBe(template.ref.id);
      expect(deployed.template).toBe(false);
      expect(deployed.powerState).toBe('off');
      expect(deployed.disks.length).toBeGreaterThanOrEqual(template.disks.length);
    },
  ),
  rule(
    'lifecycle.templateDeploy',
    'markAsTemplate of a running VM is ConflictError',
    ['core.create', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('template-running');
      await expectConflict(
        () => ctx.run(ctx.provider.markAsTemplate(vm)),
        ['invalid-power-state', 'invalid-state'],
      );
    },
  ),
  rule(
    'lifecycle.templateDeploy',
    'a template cannot be powered on (ConflictError invalid-state)',
    ['core.create', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createVm('template-power');
      const template = await ctx.run(ctx.provider.markAsTemplate(vm));
      await expectConflict(() => ctx.run(ctx.provider.powerOn(template)), 'invalid-state');
    },
  ),
  rule(
    'lifecycle.templateDeploy',
    'deploying from a VM that is not a template is ConflictError (not-a-template); from a missing one NotFoundError',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('not-a-template');
      await expectConflict(
        () =>
          ctx.run(
            ctx.provider.create(
              ctx.spec('from-vm', { image: { kind: 'template', template: vm.ref.id } }),
            ),
          ),
        'not-a-template',
      );
      const error = ctx.provider.create(
        ctx.spec('from-missing', {
          image: { kind: 'template', template: 'hvkit-conformance-missing' },
        }),
      );
      await expectNotFound(() => ctx.run(error), ['vm', 'image']);
    },
  ),

  // ---- lifecycle.fullClone --------------------------------------------------------------------
  rule(
    'lifecycle.fullClone',
    'a full clone is a new, stopped VM with the same hardware, new MACs and independent disks',
    ['core.create'],
    async (ctx) => {
      const source = await cloneSource(ctx, 'clone-source');
      const name = ctx.name('full-clone');
      const clone = await ctx.run(ctx.provider.clone(source, { name, mode: 'full' }));
      ctx.track(clone);
      expect(clone.ref.id).not.toBe(source.ref.id);
      expect(clone.ref.provider).toBe(ctx.provider.name);
      expect(clone.name).toBe(name);
      expect(clone.powerState).toBe('off');
      expectSameHardware(clone, source);
      for (const disk of clone.disks) expect(disk.parentId).toBeUndefined();
    },
  ),
  rule(
    'lifecycle.fullClone',
    'a clone with powerOn: true is running',
    ['core.create', 'core.powerOn'],
    async (ctx) => {
      const source = await ctx.createVm('clone-on-source');
      const clone = await ctx.run(
        ctx.provider.clone(source, { name: ctx.name('clone-on'), mode: 'full', powerOn: true }),
      );
      ctx.track(clone);
      expect(clone.powerState).toBe('on');
    },
  ),
  rule(
    'lifecycle.fullClone',
    'the same idempotency key returns the same clone; different options are ConflictError (idempotency-mismatch)',
    ['core.create'],
    async (ctx) => {
      const source = await ctx.createVm('clone-key-source');
      const options = { name: ctx.name('clone-key'), mode: 'full' } as const;
      const idempotencyKey = ctx.key('clone');
      const first = ctx.provider.clone(source, options, { idempotencyKey });
      const id = await first.submitted();
      const second = ctx.provider.clone(source, options, { idempotencyKey });
      expect(await second.submitted()).toBe(id);
      const [a, b] = await Promise.all([ctx.run(first), ctx.run(second)]);
      ctx.track(a);
      ctx.track(b);
      expect(b.ref).toEqual(a.ref);
      await expectConflict(
        () =>
          ctx.run(
            ctx.provider.clone(
              source,
              { ...options, name: ctx.name('clone-key-other') },
              { idempotencyKey },
            ),
          ),
        'idempotency-mismatch',
      );
      if (ctx.usable('core.describe')) {
        const clones = [];
        for await (const vm of ctx.provider.list({ name: options.name })) clones.push(vm);
        expect(clones).toHaveLength(1);
      }
    },
  ),
  rule('lifecycle.fullClone', 'clone of a missing VM is NotFoundError (vm)', [], async (ctx) => {
    await expectNotFound(
      () => ctx.run(ctx.provider.clone(ctx.missingRef, { name: ctx.name('orphan'), mode: 'full' })),
      'vm',
    );
  }),

  // ---- lifecycle.linkedClone ------------------------------------------------------------------
  // The refusal runs whatever fixtures.linkedCloneSource says: a plain VM without a snapshot is
  // never a linked-clone source. The other tests link to what the backend links to.
  rule(
    'lifecycle.linkedClone',
    'a linked clone of a VM without snapshot or template is ConflictError (invalid-state)',
    ['core.create'],
    async (ctx) => {
      const source = await ctx.createVm('linked-none');
      const can = await ctx.provider.can(source.ref, 'lifecycle.linkedClone');
      expect(can.ok, 'can() says a VM without snapshot cannot be linked-cloned').toBe(false);
      expect(can.reason.length).toBeGreaterThan(0);
      await expectConflict(
        () =>
          ctx.run(ctx.provider.clone(source, { name: ctx.name('linked-none'), mode: 'linked' })),
        'invalid-state',
      );
    },
  ),
  rule(
    'lifecycle.linkedClone',
    'a linked clone from the current or a named snapshot has disks with parentId',
    ['core.create', 'storage.diskCreate', 'snapshots.create'],
    async (ctx) => {
      const source = await cloneSource(ctx, 'linked-source');
      const first = await ctx.run(ctx.provider.createSnapshot(source, { name: 'base' }));
      const can = await ctx.provider.can(source.ref, 'lifecycle.linkedClone');
      expect(can.ok, can.reason).toBe(true);
      await ctx.run(ctx.provider.createSnapshot(source, { name: 'later' }));
      const current = await ctx.run(
        ctx.provider.clone(source, { name: ctx.name('linked-current'), mode: 'linked' }),
      );
      ctx.track(current);
      const named = await ctx.run(
        ctx.provider.clone(source, {
          name: ctx.name('linked-named'),
          mode: 'linked',
          snapshotId: first.id,
        }),
      );
      ctx.track(named);
      for (const clone of [current, named]) {
        expect(clone.ref.id).not.toBe(source.ref.id);
        expect(clone.powerState).toBe('off');
        expect(clone.disks.length).toBe(source.disks.length);
        expect(clone.disks.length).toBeGreaterThan(0);
        for (const disk of clone.disks) {
          expect(disk.parentId, `disk ${disk.id} of a linked clone has a parent`).toBeTypeOf(
            'string',
          );
        }
        expectSameHardware(clone, source);
      }
    },
    { linkedCloneSource: 'snapshot' },
  ),
  rule(
    'lifecycle.linkedClone',
    'a linked clone of a template has disks with parentId',
    ['core.create', 'storage.diskCreate', 'lifecycle.templateDeploy'],
    async (ctx) => {
      const source = await cloneSource(ctx, 'linked-template');
      const template = await ctx.run(ctx.provider.markAsTemplate(source));
      const clone = await ctx.run(
        ctx.provider.clone(template, { name: ctx.name('linked-from-template'), mode: 'linked' }),
      );
      ctx.track(clone);
      expect(clone.template).toBe(false);
      expect(clone.disks.length).toBeGreaterThan(0);
      for (const disk of clone.disks) expect(disk.parentId).toBeTypeOf('string');
    },
    { linkedCloneSource: 'snapshot' },
  ),
  rule(
    'lifecycle.linkedClone',
    'a linked clone of a template is a new, stopped VM with the same hardware, new MACs and disks with parentId',
    ['core.create', 'storage.diskCreate', 'lifecycle.templateDeploy'],
    async (ctx) => {
      const source = await cloneSource(ctx, 'linked-template');
      const template = await ctx.run(ctx.provider.markAsTemplate(source));
      const can = await ctx.provider.can(template.ref, 'lifecycle.linkedClone');
      expect(can.ok, can.reason).toBe(true);
      const name = ctx.name('linked-from-template');
      const clone = await ctx.run(ctx.provider.clone(template, { name, mode: 'linked' }));
      ctx.track(clone);
      expect(clone.ref.id).not.toBe(template.ref.id);
      expect(clone.ref.provider).toBe(ctx.provider.name);
      expect(clone.name).toBe(name);
      expect(clone.template).toBe(false);
      expect(clone.powerState).toBe('off');
      expect(clone.disks.length).toBe(source.disks.length);
      expect(clone.disks.length).toBeGreaterThan(0);
      for (const disk of clone.disks) {
        expect(disk.parentId, `disk ${disk.id} of a linked clone has a parent`).toBeTypeOf(
          'string',
        );
      }
      expectSameHardware(clone, source);
    },
    { linkedCloneSource: 'template' },
  ),
];
