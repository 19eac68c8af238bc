import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock, type Vm, type VmSpecInput } from '@hvkit/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readStateFile, sameStamp, stampOf, writeStateFile } from './mock-persistence.js';
import { createMockProvider } from './mock-provider.js';

const spec = (name: string): VmSpecInput => ({
  name,
  cpu: { count: 1 },
  memory: { sizeMiB: 512 },
  disks: [{ sizeGiB: 1 }],
  nics: [{ network: 'VM Network' }],
});

let directory: string;
let statePath: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'hvkit-mock-'));
  statePath = join(directory, 'state.json');
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe('state file', () => {
  it('is replaced atomically and recognised as changed', () => {
    expect(stampOf(statePath)).toBeUndefined();
    expect(readStateFile(statePath)).toBeUndefined();
    const first = writeStateFile(statePath, '{"a":1}');
    const second = writeStateFile(statePath, '{"a":2}');
    expect(sameStamp(first, second)).toBe(false);
    expect(sameStamp(second, stampOf(statePath))).toBe(true);
    expect(readStateFile(statePath)).toBe('{"a":2}');
  });

  it('refuses a file that is not a Mock state', () => {
    writeFileSync(statePath, '{"hello":"world"}');
    expect(() => createMockProvider({ persistPath: statePath })).toThrow(TypeError);
  });
});

describe('persistence', () => {
  it('lets two provider instances on one file take turns', async () => {
    const first = createMockProvider({ persistPath: statePath, taskDurationMs: 0 });
    const second = createMockProvider({ persistPath: statePath, taskDurationMs: 0 });
    const vm = await first.create(spec('shared'));
    expect((await second.get(vm)).name).toBe('shared');
    await second.powerOn(vm);
    expect((await first.get(vm)).powerState).toBe('on');
    const key = 'make-once';
    const task = first.create(spec('keyed'), { idempotencyKey: key });
    expect(await second.create(spec('keyed'), { idempotencyKey: key }).submitted()).toBe(
      await task.submitted(),
    );
    // Ids keep coming from one seeded sequence, so the two never mint the same one.
    const other = await second.create(spec('third'));
    const ids = (await first.listPage()).items.map((item) => item.ref.id);
    expect(new Set(ids).size).toBe(3);
    expect(ids).toContain(other.ref.id);
    await first.close();
    await second.close();
  });

  it('applies each task once when two instances on one file both time it', async () => {
    const first = createMockProvider({ persistPath: statePath });
    const second = createMockProvider({ persistPath: statePath });
    const tasks = [
      first.create(spec('one')),
      second.create(spec('two')),
      first.create(spec('three')),
    ];
    await Promise.all(tasks.map((task) => task.submitted()));
    // Each instance sees, times and may complete every task; the results must agree.
    const resumed = tasks.map((task) => second.resumeTask<Vm>(JSON.stringify(task)));
    const [direct, viaSecond] = await Promise.all([Promise.all(tasks), Promise.all(resumed)]);
    expect(viaSecond.map((vm) => vm.ref.id)).toEqual(direct.map((vm) => vm.ref.id));
    const created = (await first.listEvents()).filter((event) => event.type === 'vm-created');
    expect(created).toHaveLength(3);
    expect((await second.listPage()).items.map((vm) => vm.name).sort()).toEqual([
      'one',
      'three',
      'two',
    ]);
    await first.close();
    await second.close();
  });

  it('round-trips disk bytes, images and events through the file', async () => {
    const first = createMockProvider({ persistPath: statePath, taskDurationMs: 0 });
    const bytes = new Uint8Array(2 ** 20 + 3).fill(7);
    async function* stream() {
      yield bytes;
    }
    const image = await first.importDisk(
      { name: 'blob', format: 'raw', sizeBytes: bytes.length },
      stream(),
    );
    await first.close();
    const second = createMockProvider({ persistPath: statePath, taskDurationMs: 0 });
    expect((await second.listImages()).map((item) => item.id)).toEqual([image.id]);
    const vm = await second.create({
      ...spec('from-blob'),
      disks: [{ sizeGiB: 2 / 1024, sourceImageId: image.id }],
    });
    const exported = await second.exportDisk(vm, vm.disks[0]?.id as string);
    const parts: Uint8Array[] = [];
    for await (const part of exported.stream) parts.push(part);
    const all = Buffer.concat(parts);
    expect(all.subarray(0, bytes.length).equals(Buffer.from(bytes))).toBe(true);
    expect(all.subarray(bytes.length).every((byte) => byte === 0)).toBe(true);
    const types = (await second.listEvents()).map((event) => event.type);
    expect(types).toEqual(['vm-created', 'disk-imported']);
    expect(readFileSync(statePath, 'utf8')).toContain('"format":"hvkit-mock-state"');
    await second.close();
  });

  it('completes on load the tasks whose deadline passed, and resumes running ones', async () => {
    const clock = new ManualClock();
    const first = createMockProvider({ persistPath: statePath, clock, taskDurationMs: 1_000 });
    const finished = first.create(spec('late'));
    await finished.submitted();
    await clock.advance(500);
    const running = first.create(spec('later'));
    await running.submitted();
    const json = JSON.stringify(running);
    // The first process stops (its timers with it) before either task completes.
    await first.close();
    await clock.advance(600);
    const second = createMockProvider({ persistPath: statePath, clock });
    expect((await second.getTask(finished.id as string)).state).toBe('succeeded');
    expect((await second.getTask(running.id as string)).state).toBe('running');
    const resumed = second.resumeTask<Vm>(json);
    const outcome = resumed.then((vm) => vm);
    await clock.advance(500);
    expect((await outcome).name).toBe('later');
    await second.close();
  });

  it('is shared with another process', async () => {
    const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    expect(existsSync(dist), 'build @hvkit/mock (pnpm --filter @hvkit/mock build) first').toBe(
      true,
    );
    const script = `
      import { createMockProvider } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const provider = createMockProvider({
        persistPath: process.env.STATE,
        taskDurationMs: { 'vm.create': 10, 'vm.clone': 1500 },
      });
      const vm = await provider.create({ name: 'from-child', cpu: { count: 2 }, memory: { sizeMiB: 1024 } });
      const pending = provider.clone(vm, { name: 'pending', mode: 'full' }, { idempotencyKey: 'child-key' });
      await pending.submitted();
      process.stdout.write(JSON.stringify({ id: vm.ref.id, task: pending }));
      // Leave without waiting: the second task is still running in the file.
      await provider.close();
    `;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, STATE: statePath },
      encoding: 'utf8',
    });
    const { id, task } = JSON.parse(output) as { id: string; task: { id: string; state: string } };
    const parent = createMockProvider({ persistPath: statePath });
    const names = [];
    for await (const vm of parent.list()) names.push(vm.name);
    expect(names).toEqual(['from-child']);
    expect((await parent.get({ provider: 'mock', id })).cpu.count).toBe(2);
    const resumed = (await parent.resumeTask<Vm>(task)) as Vm;
    expect(resumed).toMatchObject({ name: 'pending', cpu: { count: 2 } });
    const again = parent.clone(
      { provider: 'mock', id },
      { name: 'pending', mode: 'full' },
      { idempotencyKey: 'child-key' },
    );
    expect(await again.submitted()).toBe(task.id);
    await parent.close();
  });
});
