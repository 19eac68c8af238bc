import {
  ConflictError,
  HvkitError,
  type TaskProgressEvent,
  TimeoutError,
  type Vm,
  type VmRef,
} from '@hvkit/core';
import { expect } from 'vitest';
import { explain, type SuiteContext } from '../context.js';
import {
  expectConflict,
  expectInvalidSpec,
  expectNotFound,
  isIsoTime,
  rejectionOf,
  stateRank,
} from '../helpers.js';
import { type ConformanceRule, rule } from '../rule.js';

const SECRET_WORDS = /password|passwd|ticket|token|secret|cookie/i;

async function listAll(ctx: SuiteContext, query: Parameters<SuiteContext['provider']['list']>[0]) {
  const output: Vm[] = [];
  for await (const vm of ctx.provider.list(query)) output.push(vm);
  return output;
}

async function powerState(ctx: SuiteContext, vm: Vm | VmRef) {
  return (await ctx.provider.get(vm)).powerState;
}

/** Waits until the guest tools run where `guest.tools` is declared; returns whether they run. */
async function toolsRunning(ctx: SuiteContext, vm: Vm): Promise<boolean> {
  if (!ctx.usable('guest.tools'))
    return (await ctx.provider.get(vm)).guest.toolsState === 'running';
  await ctx.eventually(
    'guest tools to run',
    async () => (await ctx.provider.get(vm)).guest.toolsState === 'running',
  );
  return true;
}

export const coreRules: readonly ConformanceRule[] = [
  // ---- core.create ----------------------------------------------------------------------------
  rule('core.create', 'the VM comes back as specified and is off by default', [], async (ctx) => {
    const tags = { 'hvkit-conformance': 'create', 'conformance.owner': 'suite' };
    const spec = ctx.spec('create', {
      cpu: { count: 2, coresPerSocket: 2 },
      memory: { sizeMiB: 256 },
      tags,
    });
    const vm = await ctx.run(ctx.provider.create(spec));
    ctx.track(vm);
    expect(vm.ref.provider).toBe(ctx.provider.name);
    expect(vm.ref.id.length).toBeGreaterThan(0);
    expect(vm.name).toBe(spec.name);
    expect(vm.cpu.count).toBe(2);
    expect(vm.cpu.coresPerSocket).toBe(2);
    expect(vm.memory.sizeMiB).toBe(256);
    expect(vm.tags).toMatchObject(tags);
    expect(vm.template).toBe(false);
    expect(vm.powerState).toBe(spec.powerState ?? 'off');
    if (ctx.usable('core.describe')) {
      const got = await ctx.provider.get(vm.ref);
      expect(got.ref).toEqual(vm.ref);
      expect(got.name).toBe(spec.name);
      expect(got.cpu.count).toBe(2);
      expect(got.memory.sizeMiB).toBe(256);
      expect(got.tags).toMatchObject(tags);
      const listed = await listAll(ctx, { name: spec.name });
      expect(listed.map((item) => item.ref.id)).toEqual([vm.ref.id]);
    }
  }),
  rule(
    'core.create',
    'a duplicate name is ConflictError (already-exists) or gives a distinct VM',
    [],
    async (ctx) => {
      const first = await ctx.createVm('duplicate');
      const task = ctx.provider.create(ctx.spec('duplicate', { name: first.name }));
      try {
        const second = await ctx.run(task);
        ctx.track(second);
        expect(second.ref.id).not.toBe(first.ref.id);
        expect(second.name).toBe(first.name);
      } catch (error) {
        expect(ConflictError.isInstance(error), explain(error)).toBe(true);
        expect((error as ConflictError).reason).toBe('already-exists');
      }
    },
  ),
  rule(
    'core.create',
    'the same idempotency key returns the same task and VM without a second VM',
    [],
    async (ctx) => {
      const spec = ctx.spec('idempotent');
      const idempotencyKey = ctx.key('create');
      const first = ctx.provider.create(spec, { idempotencyKey });
      const firstId = await first.submitted();
      const second = ctx.provider.create(spec, { idempotencyKey });
      expect(await second.submitted()).toBe(firstId);
      const [vm1, vm2] = await Promise.all([ctx.run(first), ctx.run(second)]);
      ctx.track(vm1);
      ctx.track(vm2);
      expect(vm2.ref).toEqual(vm1.ref);
      const third = ctx.provider.create(spec, { idempotencyKey });
      expect(await third.submitted()).toBe(firstId);
      expect((await ctx.run(third)).ref).toEqual(vm1.ref);
      if (ctx.usable('core.describe')) {
        const listed = await listAll(ctx, { name: spec.name });
        expect(listed).toHaveLength(1);
      }
    },
  ),
  rule(
    'core.create',
    'the same idempotency key with a different spec is ConflictError (idempotency-mismatch)',
    [],
    async (ctx) => {
      const spec = ctx.spec('idempotent-mismatch');
      const idempotencyKey = ctx.key('mismatch');
      const vm = await ctx.createVm('unused', spec, { idempotencyKey });
      await expectConflict(
        () =>
          ctx.run(
            ctx.provider.create(
              { ...spec, memory: { ...spec.memory, sizeMiB: spec.memory.sizeMiB * 2 } },
              { idempotencyKey },
            ),
          ),
        'idempotency-mismatch',
      );
      if (ctx.usable('core.describe')) {
        const listed = await listAll(ctx, { name: spec.name });
        expect(listed.map((item) => item.ref.id)).toEqual([vm.ref.id]);
      }
    },
  ),

  // ---- core.describe --------------------------------------------------------------------------
  rule(
    'core.describe',
    'get of a missing VM is NotFoundError (vm) naming the provider and the id',
    [],
    async (ctx) => {
      const error = await expectNotFound(() => ctx.provider.get(ctx.missingRef), 'vm');
      expect(error.code).toBe('NOT_FOUND');
      expect(error.provider).toBe(ctx.provider.name);
      expect(error.id).toBe(ctx.missingRef.id);
      expect(error.toJSON()).toMatchObject({ code: 'NOT_FOUND', provider: ctx.provider.name });
    },
  ),
  rule(
    'core.describe',
    'listPage pages with limit and cursor; list filters by name, prefix, power state, template and tags',
    ['core.create'],
    async (ctx) => {
      const group = ctx.name('list');
      const a = await ctx.createVm('a', {
        name: `${group}-a`,
        tags: { 'conformance.pick': 'yes' },
      });
      const b = await ctx.createVm('b', { name: `${group}-b` });
      const mine = [a.ref.id, b.ref.id].sort();

      const page1 = await ctx.provider.listPage({ namePrefix: group, limit: 1 });
      expect(page1.items).toHaveLength(1);
      expect(page1.nextCursor, 'a first page of one item out of two has a cursor').toBeTypeOf(
        'string',
      );
      const page2 = await ctx.provider.listPage({
        namePrefix: group,
        limit: 1,
        cursor: page1.nextCursor,
      });
      expect(page2.items).toHaveLength(1);
      const paged = [...page1.items, ...page2.items].map((vm) => vm.ref.id).sort();
      expect(paged).toEqual(mine);
      if (page2.nextCursor !== undefined) {
        const page3 = await ctx.provider.listPage({
          namePrefix: group,
          limit: 1,
          cursor: page2.nextCursor,
        });
        expect(page3.items).toHaveLength(0);
      }

      const all = await listAll(ctx, { namePrefix: group });
      expect(all.map((vm) => vm.ref.id).sort()).toEqual(mine);
      expect(all.every((vm) => vm.name.startsWith(group))).toBe(true);
      const byName = await listAll(ctx, { name: a.name });
      expect(byName.map((vm) => vm.ref.id)).toEqual([a.ref.id]);
      const byTag = await listAll(ctx, { namePrefix: group, tags: { 'conformance.pick': 'yes' } });
      expect(byTag.map((vm) => vm.ref.id)).toEqual([a.ref.id]);
      const off = await listAll(ctx, { namePrefix: group, powerState: 'off' });
      expect(off.map((vm) => vm.ref.id).sort()).toEqual(mine);
      const on = await listAll(ctx, { namePrefix: group, powerState: 'on' });
      expect(on).toHaveLength(0);
      const vms = await listAll(ctx, { namePrefix: group, template: false });
      expect(vms.map((vm) => vm.ref.id).sort()).toEqual(mine);
      const templates = await listAll(ctx, { namePrefix: group, template: true });
      expect(templates).toHaveLength(0);
      const got = await ctx.provider.get(a);
      expect(got.ref).toEqual(a.ref);
      expect(got.name).toBe(a.name);
    },
  ),

  // ---- core.delete ----------------------------------------------------------------------------
  rule(
    'core.delete',
    'deleting a (running) VM powers it off first; get is then NotFoundError and list omits it',
    ['core.create', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('delete');
      if (ctx.usable('core.powerOn')) {
        await ctx.run(ctx.provider.powerOn(vm));
        expect(await powerState(ctx, vm)).toBe('on');
      }
      await ctx.run(ctx.provider.delete(vm));
      await expectNotFound(() => ctx.provider.get(vm), 'vm');
      expect(await listAll(ctx, { name: vm.name })).toHaveLength(0);
    },
  ),
  rule('core.delete', 'delete of a missing VM is NotFoundError (vm)', [], async (ctx) => {
    await expectNotFound(() => ctx.run(ctx.provider.delete(ctx.missingRef)), 'vm');
  }),

  // ---- core.powerOn ---------------------------------------------------------------------------
  rule(
    'core.powerOn',
    'powerOn starts a stopped VM; again is ConflictError (invalid-power-state) and can() says no',
    ['core.create', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('power-on');
      const before = await ctx.provider.can(vm.ref, 'core.powerOn');
      expect(before.ok, before.reason).toBe(true);
      await ctx.run(ctx.provider.powerOn(vm));
      expect(await powerState(ctx, vm)).toBe('on');
      await expectConflict(() => ctx.run(ctx.provider.powerOn(vm)), 'invalid-power-state');
      const after = await ctx.provider.can(vm.ref, 'core.powerOn');
      expect(after.ok).toBe(false);
      expect(after.capability).toBe('core.powerOn');
      expect(after.reason.length).toBeGreaterThan(0);
      expect(await powerState(ctx, vm)).toBe('on');
    },
  ),
  rule(
    'core.powerOn',
    "powerState 'on' in the spec gives a running VM",
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('create-on', { powerState: 'on' });
      expect(vm.powerState).toBe('on');
      if (ctx.usable('core.describe')) expect(await powerState(ctx, vm)).toBe('on');
    },
  ),
  rule(
    'core.powerOn',
    'the same idempotency key returns the same power-on task instead of a conflict',
    ['core.create', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('power-on-key');
      const idempotencyKey = ctx.key('power-on');
      const first = ctx.provider.powerOn(vm, { idempotencyKey });
      const id = await first.submitted();
      await ctx.run(first);
      const again = ctx.provider.powerOn(vm, { idempotencyKey });
      expect(await again.submitted()).toBe(id);
      await ctx.run(again);
      expect(await powerState(ctx, vm)).toBe('on');
    },
  ),
  rule('core.powerOn', 'powerOn of a missing VM is NotFoundError (vm)', [], async (ctx) => {
    await expectNotFound(() => ctx.run(ctx.provider.powerOn(ctx.missingRef)), 'vm');
  }),

  // ---- core.powerOff --------------------------------------------------------------------------
  rule(
    'core.powerOff',
    'powerOff stops a running VM; again is ConflictError (invalid-power-state)',
    ['core.create', 'core.describe', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('power-off');
      expect(vm.powerState).toBe('on');
      await ctx.run(ctx.provider.powerOff(vm));
      expect(await powerState(ctx, vm)).toBe('off');
      await expectConflict(() => ctx.run(ctx.provider.powerOff(vm)), 'invalid-power-state');
    },
  ),
  rule(
    'core.powerOff',
    'shutdown stops a running VM (ConflictError invalid-state without tools) and is ConflictError (invalid-power-state) when off',
    ['core.create', 'core.describe', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createVm('shutdown');
      await expectConflict(() => ctx.run(ctx.provider.shutdown(vm)), 'invalid-power-state');
      await ctx.run(ctx.provider.powerOn(vm));
      const tools = await toolsRunning(ctx, vm);
      try {
        await ctx.run(ctx.provider.shutdown(vm));
      } catch (error) {
        expect(tools, `shutdown failed although the guest tools run: ${explain(error)}`).toBe(
          false,
        );
        expect(ConflictError.isInstance(error), explain(error)).toBe(true);
        expect((error as ConflictError).reason).toBe('invalid-state');
        return;
      }
      await ctx.eventually('the VM to stop', async () => (await powerState(ctx, vm)) === 'off');
    },
  ),

  // ---- core.reboot ----------------------------------------------------------------------------
  rule(
    'core.reboot',
    'reset and reboot keep a running VM on (reboot: ConflictError invalid-state without tools)',
    ['core.create', 'core.describe', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('reboot');
      await ctx.run(ctx.provider.reset(vm));
      expect(await powerState(ctx, vm)).toBe('on');
      const tools = await toolsRunning(ctx, vm);
      try {
        await ctx.run(ctx.provider.reboot(vm));
      } catch (error) {
        expect(tools, `reboot failed although the guest tools run: ${explain(error)}`).toBe(false);
        expect(ConflictError.isInstance(error), explain(error)).toBe(true);
        expect((error as ConflictError).reason).toBe('invalid-state');
      }
      expect(await powerState(ctx, vm)).toBe('on');
    },
  ),
  rule(
    'core.reboot',
    'reboot and reset of a stopped VM are ConflictError (invalid-power-state)',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('reboot-off');
      await expectConflict(() => ctx.run(ctx.provider.reset(vm)), 'invalid-power-state');
      await expectConflict(() => ctx.run(ctx.provider.reboot(vm)), 'invalid-power-state');
    },
  ),

  // ---- core.suspend ---------------------------------------------------------------------------
  rule(
    'core.suspend',
    'suspend gives suspended and resume gives on',
    ['core.create', 'core.describe', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('suspend');
      await ctx.run(ctx.provider.suspend(vm));
      expect(await powerState(ctx, vm)).toBe('suspended');
      await expectConflict(() => ctx.run(ctx.provider.suspend(vm)), 'invalid-power-state');
      await ctx.run(ctx.provider.resume(vm));
      expect(await powerState(ctx, vm)).toBe('on');
    },
  ),
  rule(
    'core.suspend',
    'powerOn of a suspended VM resumes it',
    ['core.create', 'core.describe', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('suspend-power-on');
      await ctx.run(ctx.provider.suspend(vm));
      await ctx.run(ctx.provider.powerOn(vm));
      expect(await powerState(ctx, vm)).toBe('on');
    },
  ),
  rule(
    'core.suspend',
    'suspend to disk gives suspended; resume, or powerOn, brings it back',
    ['core.create', 'core.describe', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('hibernate');
      await ctx.run(ctx.provider.suspend(vm, { toDisk: true }));
      expect(await powerState(ctx, vm)).toBe('suspended');
      await ctx.run(ctx.provider.resume(vm));
      expect(await powerState(ctx, vm)).toBe('on');
      await ctx.run(ctx.provider.suspend(vm, { toDisk: true }));
      await ctx.run(ctx.provider.powerOn(vm));
      expect(await powerState(ctx, vm)).toBe('on');
    },
  ),
  rule(
    'core.suspend',
    'suspend and resume of a VM that is off are ConflictError',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('suspend-off');
      await expectConflict(() => ctx.run(ctx.provider.suspend(vm)), 'invalid-power-state');
      await expectConflict(
        () => ctx.run(ctx.provider.resume(vm)),
        ['invalid-power-state', 'invalid-state'],
      );
    },
  ),

  // ---- core.reconfigure -----------------------------------------------------------------------
  rule(
    'core.reconfigure',
    'on a stopped VM vCPU and memory changes are applied',
    ['core.create', 'core.describe', 'resources.cpu', 'resources.memory'],
    async (ctx) => {
      const vm = await ctx.createVm('reconfigure', {
        cpu: { count: 1 },
        memory: { sizeMiB: 128 },
      });
      const result = await ctx.run(
        ctx.provider.reconfigure(vm, { cpu: { count: 2 }, memory: { sizeMiB: 256 } }),
      );
      expect(result.applied).toEqual(expect.arrayContaining(['cpu.count', 'memory.sizeMiB']));
      expect(result.pendingRestart).toEqual([]);
      expect(result.vm.cpu.count).toBe(2);
      expect(result.vm.memory.sizeMiB).toBe(256);
      const got = await ctx.provider.get(vm);
      expect(got.cpu.count).toBe(2);
      expect(got.memory.sizeMiB).toBe(256);
      expect(got.powerState).toBe('off');
    },
  ),
  rule(
    'core.reconfigure',
    'name and tags change on a stopped VM',
    ['core.create', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('rename', { tags: { 'conformance.a': '1' } });
      const name = ctx.name('renamed');
      const result = await ctx.run(
        ctx.provider.reconfigure(vm, { name, tags: { 'conformance.b': '2' } }),
      );
      expect(result.vm.name).toBe(name);
      expect(result.applied).toEqual(expect.arrayContaining(['name']));
      const got = await ctx.provider.get(vm);
      expect(got.name).toBe(name);
      expect(got.tags).toMatchObject({ 'conformance.b': '2' });
    },
  ),
  rule(
    'core.reconfigure',
    'on a running VM without hot-add a vCPU increase or memory decrease is refused (invalid-power-state) or pending restart, as can() says',
    ['core.create', 'core.describe', 'core.powerOn', 'resources.cpu', 'resources.memory'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('reconfigure-live', {
        cpu: { count: 1, hotAdd: false },
        memory: { sizeMiB: 256, hotAdd: false },
      });
      for (const [capability, change, field] of [
        ['resources.cpu', { cpu: { count: 2 } }, 'cpu.count'],
        ['resources.memory', { memory: { sizeMiB: 128 } }, 'memory.sizeMiB'],
      ] as const) {
        const can = await ctx.provider.can(vm.ref, capability);
        expect(can.capability).toBe(capability);
        const outcome = await ctx.run(ctx.provider.reconfigure(vm, change)).then(
          (result) => ({ result }),
          (error: unknown) => ({ error }),
        );
        if ('error' in outcome) {
          expect(ConflictError.isInstance(outcome.error), explain(outcome.error)).toBe(true);
          expect((outcome.error as ConflictError).reason).toBe('invalid-power-state');
          expect(can.ok, `can(vm, '${capability}') must say no when ${field} is refused`).toBe(
            false,
          );
          expect(can.reason.length).toBeGreaterThan(0);
        } else {
          expect(outcome.result.pendingRestart).toContain(field);
          expect(outcome.result.applied).not.toContain(field);
          expect(can.reason.length, `can() must say ${field} waits for a restart`).toBeGreaterThan(
            0,
          );
        }
        expect(await powerState(ctx, vm)).toBe('on');
      }
    },
  ),
  rule('core.reconfigure', 'reconfigure of a missing VM is NotFoundError (vm)', [], async (ctx) => {
    await expectNotFound(
      () => ctx.run(ctx.provider.reconfigure(ctx.missingRef, { description: 'x' })),
      'vm',
    );
  }),

  // ---- core.taskStatus ------------------------------------------------------------------------
  rule(
    'core.taskStatus',
    'getTask returns the snapshot of a task',
    ['core.create'],
    async (ctx) => {
      const task = ctx.provider.create(ctx.spec('get-task'));
      const id = await task.submitted();
      expect(task.id).toBe(id);
      const early = await ctx.provider.getTask(id);
      expect(early.id).toBe(id);
      expect(early.provider).toBe(ctx.provider.name);
      expect(early.kind).toBe('vm.create');
      expect(['queued', 'running', 'succeeded']).toContain(early.state);
      expect(isIsoTime(early.createdAt)).toBe(true);
      const vm = await ctx.run(task);
      ctx.track(vm);
      const done = await ctx.provider.getTask(id);
      expect(done.state).toBe('succeeded');
      expect(done.cancelable).toBe(false);
      expect(isIsoTime(done.finishedAt)).toBe(true);
      expect((done.result as Vm | undefined)?.ref).toEqual(vm.ref);
    },
  ),
  rule('core.taskStatus', 'getTask of an unknown id is NotFoundError (task)', [], async (ctx) => {
    await expectNotFound(() => ctx.provider.getTask('hvkit-conformance-missing'), 'task');
  }),
  rule(
    'core.taskStatus',
    'progress() moves forward through the states and ends with the outcome',
    ['core.create'],
    async (ctx) => {
      const task = ctx.provider.create(ctx.spec('progress'));
      const events: TaskProgressEvent[] = [];
      for await (const event of task.progress()) events.push(event);
      const vm = await ctx.run(task);
      ctx.track(vm);
      expect(events.length).toBeGreaterThan(0);
      for (let index = 1; index < events.length; index++) {
        const previous = events[index - 1] as TaskProgressEvent;
        const current = events[index] as TaskProgressEvent;
        expect(
          stateRank(current.state),
          `state went back from ${previous.state} to ${current.state}`,
        ).toBeGreaterThanOrEqual(stateRank(previous.state));
      }
      for (const event of events) {
        if (event.percent !== undefined) {
          expect(event.percent).toBeGreaterThanOrEqual(0);
          expect(event.percent).toBeLessThanOrEqual(100);
        }
      }
      expect(events.filter((event) => stateRank(event.state) === 2)).toHaveLength(1);
      expect(events.at(-1)?.state).toBe('succeeded');
      expect(task.state).toBe('succeeded');
    },
  ),
  rule(
    'core.taskStatus',
    'wait({ timeoutMs: 1 }) is a retryable TimeoutError and the task still completes',
    ['core.create'],
    async (ctx) => {
      const task = ctx.provider.create(ctx.spec('timeout'));
      const error = await rejectionOf(() => task.wait({ timeoutMs: 1 }));
      expect(TimeoutError.isInstance(error), explain(error)).toBe(true);
      expect((error as TimeoutError).retryable).toBe(true);
      const vm = await ctx.run(task);
      ctx.track(vm);
      expect(task.state).toBe('succeeded');
    },
  ),
  rule(
    'core.taskStatus',
    'aborting a wait rejects with the reason and the task still completes',
    ['core.create'],
    async (ctx) => {
      const task = ctx.provider.create(ctx.spec('abort-wait'));
      await task.submitted();
      const controller = new AbortController();
      const reason = new Error('conformance: stop waiting');
      const waiting = task.wait({ signal: controller.signal });
      controller.abort(reason);
      expect(await rejectionOf(() => waiting)).toBe(reason);
      const vm = await ctx.run(task);
      ctx.track(vm);
      expect(task.state).toBe('succeeded');
    },
  ),
  rule(
    'core.taskStatus',
    'JSON.stringify(task) holds no secret and resumeTask on a second provider instance reaches the same result',
    ['core.create'],
    async (ctx) => {
      const spec = ctx.spec('resume');
      const task = ctx.provider.create(spec);
      const id = await task.submitted();
      const json = JSON.stringify(task);
      expect(json).not.toMatch(SECRET_WORDS);
      expect(JSON.parse(json)).toMatchObject({
        type: 'hvkit.task',
        provider: ctx.provider.name,
        id,
        kind: 'vm.create',
      });
      const second = await ctx.options.createProvider();
      try {
        expect(second).not.toBe(ctx.provider);
        expect(second.name).toBe(ctx.provider.name);
        const resumed = second.resumeTask<Vm>(json);
        const [fromResumed, original] = await Promise.all([ctx.run(resumed), ctx.run(task)]);
        ctx.track(original);
        expect(fromResumed.ref).toEqual(original.ref);
        expect(fromResumed.name).toBe(spec.name);
        const finished = JSON.stringify(task);
        expect(finished).not.toMatch(SECRET_WORDS);
        const again = await ctx.run(second.resumeTask<Vm>(JSON.parse(finished)));
        expect(again.ref).toEqual(original.ref);
        expect((await second.getTask(id)).state).toBe('succeeded');
      } finally {
        await second.close();
      }
    },
  ),
  rule(
    'core.taskStatus',
    'resumeTask refuses JSON of another provider instance (InvalidSpecError, provider)',
    [],
    async (ctx) => {
      const json = JSON.stringify({
        type: 'hvkit.task',
        version: 1,
        provider: `${ctx.provider.name}-other`,
        id: 'task-1',
        kind: 'vm.create',
        state: 'running',
        progress: {},
      });
      await expectInvalidSpec(() => ctx.provider.resumeTask(json), 'provider');
    },
  ),

  // ---- core.taskCancel ------------------------------------------------------------------------
  rule(
    'core.taskCancel',
    'cancelling a running create ends it canceled and leaves no VM',
    ['core.create', 'core.taskStatus', 'core.describe'],
    async (ctx) => {
      const spec = ctx.spec('cancel');
      const task = ctx.provider.create(spec);
      const id = await task.submitted();
      await task.cancel();
      const error = await rejectionOf(() => ctx.run(task));
      expect(HvkitError.isInstance(error), explain(error)).toBe(true);
      expect(TimeoutError.isInstance(error), explain(error)).toBe(false);
      expect(task.state).toBe('canceled');
      expect((await ctx.provider.getTask(id)).state).toBe('canceled');
      const left = await listAll(ctx, { name: spec.name });
      for (const vm of left) ctx.track(vm);
      expect(left, 'a cancelled create leaves nothing half-made').toHaveLength(0);
    },
  ),
  rule(
    'core.taskCancel',
    'cancelling a finished task is ConflictError (invalid-state)',
    ['core.create'],
    async (ctx) => {
      const task = ctx.provider.create(ctx.spec('cancel-finished'));
      ctx.track(await ctx.run(task));
      await expectConflict(() => task.cancel(), 'invalid-state');
    },
  ),

  // ---- core.consoleUrl ------------------------------------------------------------------------
  rule(
    'core.consoleUrl',
    'a running VM has a console URL; a stopped VM is ConflictError',
    ['core.create', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createVm('console');
      await expectConflict(
        () => ctx.provider.getConsole(vm),
        ['invalid-power-state', 'invalid-state'],
      );
      await ctx.run(ctx.provider.powerOn(vm));
      const console = await ctx.provider.getConsole(vm);
      expect(['vnc', 'webmks', 'novnc', 'spice', 'serial']).toContain(console.protocol);
      expect(console.url.length).toBeGreaterThan(0);
      if (console.expiresAt !== undefined) expect(isIsoTime(console.expiresAt)).toBe(true);
    },
  ),
  rule('core.consoleUrl', 'console of a missing VM is NotFoundError (vm)', [], async (ctx) => {
    await expectNotFound(() => ctx.provider.getConsole(ctx.missingRef), 'vm');
  }),
];
