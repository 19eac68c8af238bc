import {
  ConflictError,
  InvalidSpecError,
  ManualClock,
  NotFoundError,
  type TaskProgressEvent,
  TaskSnapshotSchema,
  UnsupportedCapabilityError,
  VmSchema,
  type VmSpecInput,
} from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { createMockBackend } from './mock-backend.js';
import { createMockProvider } from './mock-provider.js';

const small: VmSpecInput = {
  name: 'web-1',
  cpu: { count: 2 },
  memory: { sizeMiB: 2048 },
  disks: [{ sizeGiB: 10 }],
  nics: [{ network: 'VM Network' }],
};

async function scenario(clock: ManualClock) {
  const provider = createMockProvider({ seed: 42, clock });
  const run = async <T>(task: PromiseLike<T>) => {
    const result = task.then((value) => value);
    await clock.advance(1_000);
    return result;
  };
  const vm = await run(provider.create({ ...small, powerState: 'on', tags: { env: 'prod' } }));
  const snapshot = await run(provider.createSnapshot(vm, { name: 'base', memory: true }));
  const clone = await run(provider.clone(vm, { name: 'web-2', mode: 'linked' }));
  await run(provider.powerOff(vm));
  const page = await provider.listPage({ limit: 10 });
  const events = await provider.listEvents({ limit: 50 });
  const metrics = await provider.getMetrics(vm, { maxSamples: 5 });
  const console = await provider.getConsole(clone.ref).catch((error: unknown) => String(error));
  return { vm, snapshot, clone, page, events, metrics, console };
}

describe('createMockProvider', () => {
  it('gives identical results for the same seed and the same calls', async () => {
    const first = await scenario(new ManualClock());
    const second = await scenario(new ManualClock());
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
    // A different seed changes ids and MACs, so the equality above is not vacuous.
    const other = createMockProvider({ seed: 43, taskDurationMs: 0 });
    const vm = await other.create(small);
    expect(vm.ref.id).not.toBe(first.vm.ref.id);
    expect(vm.nics[0]?.mac).not.toBe(first.vm.nics[0]?.mac);
  });

  it('creates the VM as specified', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const vm = await provider.create({
      name: 'db-1',
      cpu: { count: 4, coresPerSocket: 2 },
      memory: { sizeMiB: 8192 },
      disks: [{ sizeGiB: 20, storage: 'datastore2' }, { sizeGiB: 0.5 }],
      nics: [
        { network: 'dvs-prod', connection: 'distributed', vlan: 42, mac: '52:54:00:AA:BB:CC' },
        { network: 'VM Network', ipv4: { address: '192.168.1.10/24' } },
      ],
      tags: { role: 'db' },
    });
    expect(VmSchema.parse(vm)).toEqual(vm);
    expect(vm).toMatchObject({
      name: 'db-1',
      powerState: 'off',
      template: false,
      cpu: { count: 4, coresPerSocket: 2 },
      memory: { sizeMiB: 8192 },
      tags: { role: 'db' },
    });
    expect(vm.disks.map((disk) => [disk.sizeBytes, disk.storage])).toEqual([
      [20 * 2 ** 30, 'datastore2'],
      [2 ** 29, 'datastore1'],
    ]);
    expect(vm.nics[0]).toMatchObject({ network: 'dvs-prod', vlan: 42, mac: '52:54:00:aa:bb:cc' });
    expect(vm.nics[1]?.mac).toMatch(/^00:50:56:[89ab][0-9a-f]:/);
    expect(await provider.get(vm)).toEqual(vm);
  });

  it('refuses what does not exist and duplicate names, before any task', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    await provider.create(small);
    const refusal = async (spec: VmSpecInput) =>
      provider.create(spec).then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(await refusal(small)).toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'already-exists',
    );
    const missingNetwork = await refusal({ ...small, name: 'x', nics: [{ network: 'nope' }] });
    expect(NotFoundError.isInstance(missingNetwork) && missingNetwork.resource).toBe('network');
    const missingStorage = await refusal({
      ...small,
      name: 'y',
      disks: [{ sizeGiB: 1, storage: 'nope' }],
    });
    expect(NotFoundError.isInstance(missingStorage) && missingStorage.resource).toBe('storage');
    const missingTemplate = await refusal({
      ...small,
      name: 'z',
      image: { kind: 'template', template: 'nope' },
    });
    expect(NotFoundError.isInstance(missingTemplate)).toBe(true);
    const notTemplate = await refusal({
      ...small,
      name: 'w',
      image: { kind: 'template', template: 'web-1' },
    });
    expect(ConflictError.isInstance(notTemplate) && notTemplate.reason).toBe('not-a-template');
    const vlanOnStandard = await refusal({
      ...small,
      name: 'v',
      nics: [{ network: 'VM Network', vlan: 5 }],
    });
    expect(InvalidSpecError.isInstance(vlanOnStandard) && vlanOnStandard.issues[0]?.path).toBe(
      'nics[0].vlan',
    );
    expect(provider.backend.vmCount).toBe(1);
  });

  it('validates input and gates capabilities before any I/O', async () => {
    const provider = createMockProvider({
      taskDurationMs: 0,
      capabilities: { 'core.taskCancel': 'unsupported', 'snapshots.memory': 'unsupported' },
    });
    const before = provider.backend.ioCount;
    await expect(provider.create({ ...small, disks: [{ sizeGiB: -1 }] })).rejects.toSatisfy(
      (error) => InvalidSpecError.isInstance(error) && error.issues[0]?.path === 'disks[0].sizeGiB',
    );
    await expect(
      provider.createSnapshot({ provider: 'mock', id: 'vm-x' }, { name: 's', memory: true }),
    ).rejects.toSatisfy(UnsupportedCapabilityError.isInstance);
    expect(provider.backend.ioCount).toBe(before);
    const vm = await provider.create(small);
    const task = provider.powerOn(vm);
    await expect(task.cancel()).rejects.toSatisfy(UnsupportedCapabilityError.isInstance);
  });

  it('follows the power rules', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const vm = await provider.create(small);
    const reason = (task: PromiseLike<unknown>) =>
      Promise.resolve(task).then(
        () => 'ok',
        (error: unknown) => (ConflictError.isInstance(error) ? error.reason : String(error)),
      );
    expect(await reason(provider.powerOff(vm))).toBe('invalid-power-state');
    expect(await reason(provider.shutdown(vm))).toBe('invalid-power-state');
    expect(await reason(provider.resume(vm))).toBe('invalid-power-state');
    expect(await reason(provider.powerOn(vm))).toBe('ok');
    expect(await reason(provider.powerOn(vm))).toBe('invalid-power-state');
    expect(await reason(provider.reboot(vm))).toBe('ok');
    expect(await reason(provider.suspend(vm))).toBe('ok');
    expect((await provider.get(vm)).powerState).toBe('suspended');
    expect(await reason(provider.powerOn(vm))).toBe('ok');
    expect((await provider.get(vm)).powerState).toBe('on');
    expect(await reason(provider.shutdown(vm))).toBe('ok');
    expect((await provider.get(vm)).powerState).toBe('off');
    const bare = await provider.create({
      ...small,
      name: 'no-tools',
      guestOs: 'other',
      powerState: 'on',
    });
    expect(await reason(provider.shutdown(bare))).toBe('invalid-state');
    expect(await reason(provider.reset(bare))).toBe('ok');
    await provider.powerOff(bare);
    await provider.markAsTemplate(bare);
    expect(await reason(provider.powerOn(bare))).toBe('invalid-state');
  });

  it('deletes a running VM with its snapshots', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const vm = await provider.create({ ...small, powerState: 'on' });
    await provider.createSnapshot(vm, { name: 's1' });
    await provider.delete(vm);
    await expect(provider.get(vm)).rejects.toSatisfy(NotFoundError.isInstance);
    expect((await provider.listPage()).items).toHaveLength(0);
    const types = (await provider.listEvents({ vm: vm.ref })).map((event) => event.type);
    expect(types.slice(0, 2)).toEqual(['vm-deleted', 'vm-powered-off']);
  });

  it('reconfigures like vSphere', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const vm = await provider.create({ ...small, powerState: 'on' });
    const disk = vm.disks[0]?.id as string;
    await expect(provider.reconfigure(vm, { cpu: { count: 4 } })).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'invalid-power-state',
    );
    expect(await provider.can(vm, 'resources.cpu')).toMatchObject({ ok: false });
    await expect(
      provider.reconfigure(vm, { resizeDisks: [{ diskId: disk, sizeGiB: 5 }] }),
    ).rejects.toSatisfy(
      (error) =>
        InvalidSpecError.isInstance(error) && error.issues[0]?.path === 'resizeDisks[0].sizeGiB',
    );
    await expect(provider.reconfigure(vm, { removeDisks: ['disk-nope'] })).rejects.toSatisfy(
      (error) => NotFoundError.isInstance(error) && error.resource === 'disk',
    );
    const live = await provider.reconfigure(vm, {
      resizeDisks: [{ diskId: disk, sizeGiB: 12 }],
      addNics: [{ network: 'br0' }],
      tags: { env: 'dev' },
    });
    expect(live.applied).toEqual(['resizeDisks', 'addNics', 'tags']);
    expect(live.pendingRestart).toEqual([]);
    expect(live.vm.disks[0]?.sizeBytes).toBe(12 * 2 ** 30);
    expect(live.vm.nics).toHaveLength(2);
    await provider.powerOff(vm);
    const cold = await provider.reconfigure(vm, {
      cpu: { count: 4, hotAdd: true },
      memory: { sizeMiB: 1024 },
    });
    expect(cold.applied).toEqual(['cpu.count', 'cpu.hotAdd', 'memory.sizeMiB']);
    await provider.powerOn(vm);
    expect(await provider.can(vm, 'resources.cpu')).toMatchObject({ ok: true });
    const hot = await provider.reconfigure(vm, { cpu: { count: 6 } });
    expect(hot.vm.cpu.count).toBe(6);
    await expect(provider.reconfigure(vm, { cpu: { count: 2 } })).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'invalid-power-state',
    );
  });

  it('clones full and linked, refusing a linked clone without a snapshot', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const vm = await provider.create(small);
    expect(await provider.can(vm, 'lifecycle.linkedClone')).toMatchObject({ ok: false });
    await expect(provider.clone(vm, { name: 'linked', mode: 'linked' })).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'invalid-state',
    );
    const full = await provider.clone(vm, { name: 'full', mode: 'full', powerOn: true });
    expect(full.ref.id).not.toBe(vm.ref.id);
    expect(full.powerState).toBe('on');
    expect(full.nics[0]?.mac).not.toBe(vm.nics[0]?.mac);
    expect(full.disks[0]?.parentId).toBeUndefined();
    const snapshot = await provider.createSnapshot(vm, { name: 'golden' });
    const linked = await provider.clone(vm, { name: 'linked', mode: 'linked' });
    expect(linked.powerState).toBe('off');
    expect(linked.disks[0]?.parentId).toBe(vm.disks[0]?.id);
    const template = await provider.markAsTemplate(
      await provider.clone(vm, { name: 'tpl', mode: 'full', snapshotId: snapshot.id }),
    );
    expect(template.template).toBe(true);
    const fromTemplate = await provider.clone(template, { name: 'from-tpl', mode: 'linked' });
    expect(fromTemplate.disks[0]?.parentId).toBe(template.disks[0]?.id);
    const deployed = await provider.create({
      ...small,
      name: 'deployed',
      image: { kind: 'template', template: 'tpl' },
    });
    expect(deployed.disks).toHaveLength(1);
  });

  it('keeps snapshots as a tree and reverts the recorded power state', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const vm = await provider.create({ ...small, powerState: 'on' });
    await expect(
      provider.createSnapshot({ provider: 'mock', id: 'vm-none' }, { name: 'x' }),
    ).rejects.toSatisfy(NotFoundError.isInstance);
    const first = await provider.createSnapshot(vm, { name: 'first', memory: true });
    const second = await provider.createSnapshot(vm, { name: 'second' });
    expect(second.parentId).toBe(first.id);
    await provider.revertSnapshot(vm, first.id);
    expect((await provider.get(vm)).powerState).toBe('on');
    const third = await provider.createSnapshot(vm, { name: 'third' });
    let tree = await provider.listSnapshots(vm);
    expect(tree.currentId).toBe(third.id);
    expect(tree.roots.map((root) => root.children.map((child) => child.name))).toEqual([
      ['second', 'third'],
    ]);
    await provider.revertSnapshot(vm, second.id);
    expect((await provider.get(vm)).powerState).toBe('off');
    await expect(provider.createSnapshot(vm, { name: 'mem', memory: true })).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'invalid-power-state',
    );
    await provider.deleteSnapshot(vm, first.id);
    tree = await provider.listSnapshots(vm);
    expect(tree.roots.map((root) => root.name)).toEqual(['second', 'third']);
    await provider.deleteSnapshot(vm, second.id);
    expect((await provider.listSnapshots(vm)).currentId).toBeNull();
  });

  it('reports guest, console, metrics, events, health and alerts', async () => {
    const clock = new ManualClock();
    const provider = createMockProvider({ clock, taskDurationMs: 0 });
    const vm = await provider.create({
      ...small,
      name: 'App Server_01',
      nics: [{ network: 'VM Network' }, { network: 'br0', ipv4: { address: '192.168.5.9/24' } }],
    });
    expect(await provider.getGuestInfo(vm)).toEqual({ toolsState: 'not-running', ipAddresses: [] });
    await expect(provider.getConsole(vm)).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'invalid-power-state',
    );
    const off = await provider.getMetrics(vm, { metrics: ['cpu.usagePercent'] });
    expect(off[0]?.samples.every((sample) => sample.value === 0)).toBe(true);
    await provider.powerOn(vm);
    await clock.advance(90_000);
    const guest = await provider.getGuestInfo(vm);
    expect(guest).toMatchObject({
      toolsState: 'running',
      hostname: 'app-server-01',
      uptimeSeconds: 90,
    });
    expect(guest.ipAddresses).toHaveLength(2);
    expect(guest.ipAddresses[0]).toMatch(/^10\./);
    expect(guest.ipAddresses[1]).toBe('192.168.5.9');
    expect((await provider.get(vm)).nics[1]?.ipAddresses).toEqual(['192.168.5.9']);
    const access = await provider.getConsole(vm);
    expect(access).toMatchObject({ protocol: 'vnc', url: expect.stringMatching(/^mock:\/\//) });
    expect(access.ticket).toMatch(/^[0-9a-f]{32}$/);
    const events = await provider.listEvents({ vm: vm.ref });
    expect(events.map((event) => event.type)).toEqual(['vm-powered-on', 'vm-created']);
    expect(JSON.stringify(events)).not.toContain(access.ticket);
    const series = await provider.getMetrics(vm, { maxSamples: 10 });
    expect(series).toHaveLength(7);
    for (const item of series) {
      expect(item.intervalSeconds).toBe(20);
      expect(item.samples).toHaveLength(10);
    }
    const cpu = series.find((item) => item.metric === 'cpu.usagePercent');
    expect(cpu?.samples.some((sample) => sample.value > 0)).toBe(true);
    const times = cpu?.samples.map((sample) => Date.parse(sample.timestamp)) ?? [];
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    const history = await provider.getMetrics(vm, {
      since: new Date(clock.now() - 6 * 3_600_000).toISOString(),
      maxSamples: 1000,
    });
    expect(history[0]?.intervalSeconds).toBe(300);
    expect(history[0]?.samples.length).toBe(72);
    expect(await provider.checkHealth(vm)).toMatchObject({ status: 'ok' });
    const always = await provider.createAlert({
      name: 'cpu-alive',
      vm: vm.ref,
      metric: 'cpu.usagePercent',
      comparison: 'above',
      threshold: 0,
    });
    expect(always.state).toBe('firing');
    expect(always.firing[0]).toMatchObject({ id: vm.ref.id });
    expect((await provider.checkHealth(vm)).status).toBe('warning');
    await provider.powerOff(vm);
    expect((await provider.listAlerts())[0]?.state).toBe('ok');
    expect((await provider.checkHealth(vm)).status).toBe('unknown');
    await provider.deleteAlert(always.id);
    await expect(provider.deleteAlert(always.id)).rejects.toSatisfy(NotFoundError.isInstance);
  });

  it('reports progress driven by the injected clock', async () => {
    const clock = new ManualClock();
    const provider = createMockProvider({ clock, taskDurationMs: { 'vm.create': 1_000 } });
    const task = provider.create(small);
    const events: TaskProgressEvent[] = [];
    const collecting = (async () => {
      for await (const event of task.progress()) events.push(event);
    })();
    await task.submitted();
    expect((await provider.getTask(task.id as string)).state).toBe('running');
    expect(provider.backend.vmCount).toBe(0);
    await clock.advance(500);
    const midway = await provider.getTask(task.id as string);
    expect(TaskSnapshotSchema.parse(midway).progress.percent).toBe(50);
    await clock.advance(500);
    await collecting;
    const vm = await task;
    expect(vm.name).toBe('web-1');
    const percents = events.map((event) => event.percent);
    expect(new Set(percents).size).toBeGreaterThanOrEqual(5);
    expect(events.at(-1)).toMatchObject({ state: 'succeeded', percent: 100 });
    expect([...percents].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(percents);
    const done = await provider.getTask(task.id as string);
    expect(done).toMatchObject({ state: 'succeeded', cancelable: false });
    expect(Date.parse(done.finishedAt as string) - Date.parse(done.startedAt as string)).toBe(
      1_000,
    );
  });

  it('locks a VM while a task changes it', async () => {
    const clock = new ManualClock();
    const provider = createMockProvider({ clock });
    const vm = provider.backend.createVm({
      name: 'locked',
      cpu: { count: 1 },
      memory: { sizeMiB: 512 },
    });
    const target = { provider: 'mock', id: vm.id };
    const first = provider.powerOn(target);
    await first.submitted();
    const second = provider.createSnapshot(target, { name: 's' });
    await expect(second.submitted()).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'locked' && error.retryable,
    );
    expect(await provider.can(target, 'core.powerOff')).toMatchObject({ ok: false });
    // Clones only share the source, so several may run at once.
    const clones = [
      provider.clone(target, { name: 'c1', mode: 'full' }),
      provider.clone(target, { name: 'c2', mode: 'full' }),
    ];
    await expect(Promise.all(clones.map((clone) => clone.submitted()))).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'locked',
    );
    await clock.advance(100);
    await first;
    const a = provider.clone(target, { name: 'c1', mode: 'full' });
    const b = provider.clone(target, { name: 'c2', mode: 'full' });
    await Promise.all([a.submitted(), b.submitted()]);
    await expect(provider.delete(target).submitted()).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'locked',
    );
    await clock.advance(100);
    expect((await Promise.all([a, b])).map((clone) => clone.name)).toEqual(['c1', 'c2']);
  });

  it('makes repeated creates with one idempotency key return the same task and VM', async () => {
    const clock = new ManualClock();
    const provider = createMockProvider({ clock });
    const first = provider.create(small, { idempotencyKey: 'create-web-1' });
    const second = provider.create(small, { idempotencyKey: 'create-web-1' });
    expect(await second.submitted()).toBe(await first.submitted());
    await clock.advance(100);
    const third = provider.create(small, { idempotencyKey: 'create-web-1' });
    expect(await third.submitted()).toBe(await first.submitted());
    expect((await third).ref).toEqual((await first).ref);
    expect(provider.backend.vmCount).toBe(1);
    await expect(
      provider.create({ ...small, name: 'other' }, { idempotencyKey: 'create-web-1' }).submitted(),
    ).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'idempotency-mismatch',
    );
    // Another provider instance on the same backend (a second client of one vCenter) agrees.
    const twin = createMockProvider({ backend: provider.backend });
    expect(await twin.create(small, { idempotencyKey: 'create-web-1' }).submitted()).toBe(
      await first.submitted(),
    );
  });

  it('cancels a running task without leaving anything behind', async () => {
    const clock = new ManualClock();
    const provider = createMockProvider({ clock });
    const task = provider.create(small);
    await task.submitted();
    await clock.advance(20);
    await task.cancel();
    await expect(task).rejects.toThrow(/canceled/);
    expect((await provider.getTask(task.id as string)).state).toBe('canceled');
    await clock.advance(1_000);
    expect(provider.backend.vmCount).toBe(0);
    // The name is free again, and a finished task cannot be cancelled.
    const again = provider.create(small);
    await clock.advance(100);
    await again;
    await expect(again.cancel()).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'invalid-state',
    );
    await expect(provider.getTask('task-unknown')).rejects.toSatisfy(
      (error) => NotFoundError.isInstance(error) && error.resource === 'task',
    );
  });

  it('resumes a task on another provider instance sharing the backend', async () => {
    const clock = new ManualClock();
    const backend = createMockBackend({ clock });
    const first = createMockProvider({ backend });
    const task = first.create(small);
    await task.submitted();
    const json = JSON.stringify(task);
    const second = createMockProvider({ backend });
    const resumed = second.resumeTask(json);
    await clock.advance(100);
    const vm = (await resumed) as { ref: { id: string } };
    expect(vm.ref.id).toBe((await task).ref.id);
  });

  it('answers live checks', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const vm = await provider.create(small);
    expect(await provider.can(vm, 'core.powerOn')).toMatchObject({ ok: true });
    expect(await provider.can(vm, 'core.consoleUrl')).toMatchObject({ ok: false });
    expect(await provider.can(vm, 'snapshots.memory')).toMatchObject({ ok: false });
    expect(await provider.can(vm, 'resources.cpu')).toMatchObject({ ok: true });
    await provider.powerOn(vm);
    const on = await provider.get(vm);
    expect(await provider.can(on, 'core.powerOn')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('already'),
    });
    expect(await provider.can(on, 'snapshots.memory')).toMatchObject({ ok: true });
    expect(await provider.can(on, 'core.consoleUrl')).toMatchObject({ ok: true });
    expect(await provider.can(on, 'migration.diskExport')).toMatchObject({ ok: false });
  });

  it('imports images with caching and deploys from them', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const source = { kind: 'url', url: 'https://images.example/noble.img' } as const;
    const image = await provider.importImage(source, { name: 'noble' });
    expect(image).toMatchObject({ format: 'qcow2', cached: false, source });
    expect(image.sha256).toMatch(/^[0-9a-f]{64}$/);
    const again = await provider.importImage(source, { name: 'noble' });
    expect(again).toMatchObject({ id: image.id, cached: true });
    const converted = await provider.importImage(source, { name: 'noble-vmdk', convertTo: 'vmdk' });
    expect(converted).toMatchObject({ format: 'vmdk', cached: false, sizeBytes: image.sizeBytes });
    const library = await provider.importImage(
      { kind: 'content-library', library: 'lib', item: 'ubuntu-24.04' },
      { name: 'lib-ubuntu' },
    );
    expect(library.format).toBe('vmdk');
    await expect(
      provider.importImage(
        { kind: 'content-library', library: 'lib', item: 'nope' },
        { name: 'x' },
      ),
    ).rejects.toSatisfy(NotFoundError.isInstance);
    const vm = await provider.create({ ...small, image: { kind: 'image', imageId: image.id } });
    expect(vm.disks[0]?.format).toBe('qcow2');
    expect((await provider.listImages()).map((item) => item.id)).toEqual([
      image.id,
      converted.id,
      library.id,
    ]);
    await provider.deleteImage(image.id);
    await expect(provider.deleteImage(image.id)).rejects.toSatisfy(NotFoundError.isInstance);
    expect((await provider.get(vm)).disks).toHaveLength(1);
  });

  it('manages resource pools, placement rules, policies and migration', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const pool = await provider.createResourcePool({ name: 'gold', cpu: { limitMHz: 1000 } });
    await expect(provider.createResourcePool({ name: 'gold' })).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'already-exists',
    );
    const a = await provider.create({
      ...small,
      name: 'a',
      placement: { resourcePool: 'gold', host: 'host-1' },
    });
    const b = await provider.create({ ...small, name: 'b', placement: { host: 'host-1' } });
    expect(a.placement.resourcePool).toBe(pool.id);
    await expect(provider.deleteResourcePool(pool.id)).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'in-use',
    );
    const rule = await provider.createPlacementRule({
      name: 'apart',
      kind: 'anti-affinity',
      vms: [a.ref, b.ref],
    });
    expect(rule.mandatory).toBe(true);
    const [movedA, movedB] = await Promise.all([provider.get(a), provider.get(b)]);
    expect(movedA.placement.host).not.toBe(movedB.placement.host);
    await expect(provider.migrate(b, { host: movedA.placement.host as string })).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'invalid-state',
    );
    const migrated = await provider.migrate(b, { storage: 'fast-nvme', host: 'host-3' });
    expect(migrated.placement).toMatchObject({ host: 'host-3', storage: 'fast-nvme' });
    expect(migrated.disks.every((disk) => disk.storage === 'fast-nvme')).toBe(true);
    await provider.setHighAvailability(a, { enabled: true, restartPriority: 'high' });
    await provider.setLoadBalancing(a, { automation: 'full' });
    await provider.setFaultTolerance(a, { enabled: true });
    expect((await provider.get(a)).policies).toEqual({
      highAvailability: { enabled: true, restartPriority: 'high' },
      loadBalancing: { automation: 'full' },
      faultTolerance: { enabled: true },
    });
    await provider.deletePlacementRule(rule.id);
    expect(await provider.listPlacementRules()).toEqual([]);
    await provider.delete(a);
    await provider.deleteResourcePool(pool.id);
    expect((await provider.listResourcePools()).map((item) => item.name)).toEqual(['Resources']);
    const pools = await provider.listStoragePools();
    expect(pools.map((item) => item.name)).toEqual(['datastore1', 'datastore2', 'fast-nvme']);
    expect(pools[2]?.freeBytes).toBeLessThan(pools[2]?.capacityBytes as number);
    expect(pools[0]?.freeBytes).toBe(pools[0]?.capacityBytes);
    expect((await provider.listNetworks()).map((item) => item.kind)).toEqual([
      'network',
      'bridge',
      'distributed',
    ]);
    expect(await provider.validate()).toMatchObject({ type: 'mock', provider: 'mock' });
  });
});
