// Snapshot mapping and calls, offline: snapshot-dumpxml documents and virsh error texts recorded
// on the bed (libvirt 9.0, QEMU 7.2; __fixtures__/), answered by a fake host that runs
// `virsh … '<cmd>; echo <marker>; cd; …'` (runMany) and `virsh … cmd args` (run).
import { readFileSync } from 'node:fs';
import {
  ConflictError,
  InvalidSpecError,
  NotFoundError,
  SnapshotTreeSchema,
  UnsupportedCapabilityError,
} from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { fakeVirshHost } from '../../test/fake-virsh-host.js';
import { mapVirshError } from '../libvirt-errors.js';
import { parseXml, textOf } from '../xml/xml-reader.js';
import {
  buildSnapshotTree,
  createSnapshot,
  deleteSnapshot,
  listSnapshots,
  parseSnapshotXml,
  revertSnapshot,
  type SnapshotRecord,
  snapshotCleanupPlan,
  snapshotListCommands,
  snapshotLiveCheck,
  snapshotTreeAfterList,
  snapshotXml,
} from './snapshots.js';

const fixture = (name: string) =>
  readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
const DOM = 'hvkit-snap-x1';

/** A fake host: `answers` maps a command line to its stdout, or to stderr when it starts with `error: `. */
function fakeHost(answers: Record<string, string | (() => string)>) {
  const { virsh, execs } = fakeVirshHost((line) => {
    const entry = answers[line];
    return typeof entry === 'function' ? entry() : entry;
  });
  return { virsh, execs };
}

const list = (domain: string) => `snapshot-list --domain ${domain} --name`;
const current = (domain: string) => `snapshot-current --domain ${domain} --name`;
const dump = (domain: string, name: string) =>
  `snapshot-dumpxml --domain ${domain} --snapshotname ${name}`;

/** A record for tree tests. */
function record(name: string, createdAt: string, parent?: string): SnapshotRecord {
  return {
    name,
    description: undefined,
    createdAt,
    memory: false,
    state: 'shutoff',
    powerState: 'off',
    parent,
    external: false,
    disks: [],
    domainDisks: [],
  };
}

describe('parseSnapshotXml', () => {
  it('reads a shut-off internal snapshot: description, no memory, power off, no parent', () => {
    const parsed = parseSnapshotXml(fixture('dumpxml-shutoff-description.xml'));
    expect(parsed).toMatchObject({
      name: 's1',
      description: 'd & x',
      memory: false,
      state: 'shutoff',
      powerState: 'off',
      parent: undefined,
      external: false,
      disks: [{ name: 'vda', snapshot: 'internal', file: undefined }],
    });
    // <creationTime>1795283887</creationTime> as recorded.
    expect(parsed.createdAt).toBe(new Date(1795283887 * 1000).toISOString());
  });

  it('reads a running snapshot with memory and its parent', () => {
    expect(parseSnapshotXml(fixture('dumpxml-running-memory.xml'))).toMatchObject({
      name: 'r3',
      description: undefined,
      memory: true,
      state: 'running',
      powerState: 'on',
      parent: 'r2',
      external: false,
    });
  });

  it('reads the read-only cdrom libvirt left out of a running snapshot', () => {
    const parsed = parseSnapshotXml(fixture('dumpxml-running-cdrom.xml'));
    expect(parsed.disks).toEqual([
      { name: 'vda', snapshot: 'internal', file: undefined },
      { name: 'sda', snapshot: 'no', file: undefined },
    ]);
    expect(parsed.domainDisks).toEqual([
      { target: 'vda', file: '/var/lib/libvirt/images/hvkit-snap-x3.qcow2' },
      { target: 'sda', file: '/var/lib/libvirt/images/hvkit-snap-x1.iso' },
    ]);
  });

  it('reads an external disk-only snapshot: its overlay file and the image under it', () => {
    const parsed = parseSnapshotXml(fixture('dumpxml-external.xml'));
    expect(parsed.external).toBe(true);
    expect(parsed.memory).toBe(false);
    expect(parsed.disks).toEqual([
      {
        name: 'vda',
        snapshot: 'external',
        file: '/var/lib/libvirt/images/hvkit-snap-x5-e1.qcow2',
      },
    ]);
    expect(parsed.domainDisks).toEqual([
      { target: 'vda', file: '/var/lib/libvirt/images/hvkit-snap-x5.qcow2' },
    ]);
  });

  it('refuses a document without a creation time or a name', () => {
    expect(() => parseSnapshotXml('<domainsnapshot><name>a</name></domainsnapshot>')).toThrowError(
      /creationTime/,
    );
    expect(() =>
      parseSnapshotXml('<domainsnapshot><creationTime>1</creationTime></domainsnapshot>'),
    ).toThrowError(/name/);
  });
});

describe('buildSnapshotTree', () => {
  it('nests children under parents, siblings by creation time then name', () => {
    const tree = buildSnapshotTree(
      [
        record('c', '2026-01-01T00:00:02.000Z', 'a'),
        record('b', '2026-01-01T00:00:02.000Z', 'a'),
        record('a', '2026-01-01T00:00:01.000Z'),
        record('z', '2026-01-01T00:00:00.000Z'),
        record('d', '2026-01-01T00:00:01.000Z', 'b'),
      ],
      'd',
    );
    expect(SnapshotTreeSchema.parse(tree)).toEqual(tree);
    expect(tree.currentId).toBe('d');
    expect(tree.roots.map((root) => root.id)).toEqual(['z', 'a']);
    const a = tree.roots[1];
    expect(a?.children.map((child) => [child.id, child.parentId])).toEqual([
      ['b', 'a'],
      ['c', 'a'],
    ]);
    expect(a?.children[0]?.children.map((child) => child.id)).toEqual(['d']);
    expect(tree.roots[0]?.parentId).toBeUndefined();
  });

  it('makes a snapshot whose parent is gone a root and drops a current id that is gone', () => {
    const tree = buildSnapshotTree([record('b', '2026-01-01T00:00:00.000Z', 'gone')], 'gone');
    expect(tree).toEqual({
      currentId: null,
      roots: [expect.objectContaining({ id: 'b', children: [] })],
    });
    expect(tree.roots[0]?.parentId).toBeUndefined();
  });
});

describe('listSnapshots', () => {
  it('reads names and current in one exec, then every snapshot-dumpxml in one more', async () => {
    const { virsh, execs } = fakeHost({
      [list(DOM)]: 's1\nr3\n\n',
      [current(DOM)]: 'r3\n',
      [dump(DOM, 's1')]: fixture('dumpxml-shutoff-description.xml'),
      // r3's parent r2 is not listed here: r3 becomes a root.
      [dump(DOM, 'r3')]: fixture('dumpxml-running-memory.xml'),
    });
    const tree = await listSnapshots(virsh, DOM);
    expect(execs.map((exec) => exec.lines)).toEqual([
      [list(DOM), current(DOM)],
      [dump(DOM, 's1'), dump(DOM, 'r3')],
    ]);
    expect(tree.currentId).toBe('r3');
    expect(tree.roots.map((root) => [root.id, root.name, root.memory, root.powerState])).toEqual([
      ['s1', 's1', false, 'off'],
      ['r3', 'r3', true, 'on'],
    ]);
    expect(tree.roots[0]?.description).toBe('d & x');
    expect(tree.roots.every((root) => root.quiesced === false)).toBe(true);
  });

  it('is an empty tree in one exec when the domain has no snapshot (no current: null)', async () => {
    const { virsh, execs } = fakeHost({
      [list(DOM)]: '\n',
      [current(DOM)]: fixture('err-no-current.stderr.txt'),
    });
    expect(await listSnapshots(virsh, DOM)).toEqual({ currentId: null, roots: [] });
    expect(execs).toHaveLength(1);
  });

  it('a missing domain is NotFoundError (vm)', async () => {
    const missing = 'hvkit-snap-nosuch';
    const { virsh } = fakeHost({
      [list(missing)]: fixture('err-domain-not-found.stderr.txt'),
      [current(missing)]: fixture('err-domain-not-found.stderr.txt'),
    });
    await expect(listSnapshots(virsh, missing)).rejects.toSatisfy(
      (error) => NotFoundError.isInstance(error) && error.resource === 'vm' && error.id === missing,
    );
  });

  it('starts over when a snapshot is deleted between the two execs', async () => {
    let listed = 0;
    const { virsh, execs } = fakeHost({
      [list(DOM)]: () => (++listed === 1 ? 's1\ngone\n' : 's1\n'),
      [current(DOM)]: 's1\n',
      [dump(DOM, 's1')]: fixture('dumpxml-shutoff-description.xml'),
      [dump(DOM, 'gone')]:
        "error: Domain snapshot not found: no domain snapshot with matching name 'gone'\n",
    });
    const tree = await listSnapshots(virsh, DOM);
    expect(tree.roots.map((root) => root.id)).toEqual(['s1']);
    expect(execs).toHaveLength(4);
  });

  it("joins a caller's runMany: no more exec without snapshots, one with", async () => {
    const { virsh, execs } = fakeHost({
      [`dominfo ${DOM}`]: 'Name: x\n',
      [list(DOM)]: '\n',
      [current(DOM)]: fixture('err-no-current.stderr.txt'),
      [list('other')]: 's1\n',
      [current('other')]: 's1\n',
      [dump('other', 's1')]: fixture('dumpxml-shutoff-description.xml'),
    });
    const empty = await virsh.runMany([['dominfo', DOM], ...snapshotListCommands(DOM)]);
    expect(await snapshotTreeAfterList(virsh, DOM, empty.slice(1))).toEqual({
      currentId: null,
      roots: [],
    });
    expect(execs).toHaveLength(1);
    const one = await virsh.runMany(snapshotListCommands('other'));
    const tree = await snapshotTreeAfterList(virsh, 'other', one);
    expect(tree.currentId).toBe('s1');
    expect(tree.roots.map((root) => root.id)).toEqual(['s1']);
    expect(execs.map((exec) => exec.lines)).toEqual([
      [`dominfo ${DOM}`, list(DOM), current(DOM)],
      [list('other'), current('other')],
      [dump('other', 's1')],
    ]);
  });

  it('refuses an empty domain before any exec', async () => {
    const { virsh, execs } = fakeHost({});
    await expect(listSnapshots(virsh, '')).rejects.toSatisfy(
      (error) => InvalidSpecError.isInstance(error) && error.issues[0]?.path === 'domain',
    );
    expect(execs).toHaveLength(0);
  });
});

describe('snapshotXml', () => {
  it('writes name, description and memory, every value escaped', () => {
    const xml = snapshotXml({ name: `a <&> "'`, description: 'x & <y>', memory: true });
    const root = parseXml(xml);
    expect(textOf(root, 'name')).toBe(`a <&> "'`);
    expect(textOf(root, 'description')).toBe('x & <y>');
    expect(xml).toContain("<memory snapshot='internal'/>");
    expect(snapshotXml({ name: 'n' })).toBe(
      "<domainsnapshot>\n  <name>n</name>\n  <memory snapshot='no'/>\n</domainsnapshot>\n",
    );
  });

  it('names the field of a value XML cannot carry', () => {
    expect(() => snapshotXml({ name: 'n', description: 'bad \u0001' })).toThrowError(/description/);
  });
});

describe('createSnapshot', () => {
  const create = `snapshot-create --domain ${DOM} --xmlfile /dev/stdin`;

  it('sends the document on stdin, then reads the new snapshot back', async () => {
    const { virsh, execs } = fakeHost({
      [create]: '',
      [dump(DOM, 's1')]: fixture('dumpxml-shutoff-description.xml'),
    });
    const snapshot = await createSnapshot(virsh, DOM, { name: 's1', description: 'd & x' });
    expect(execs.map((exec) => exec.lines)).toEqual([[create], [dump(DOM, 's1')]]);
    expect(execs[0]?.stdin).toBe(
      "<domainsnapshot>\n  <name>s1</name>\n  <description>d &amp; x</description>\n  <memory snapshot='no'/>\n</domainsnapshot>\n",
    );
    expect(snapshot).toEqual({
      id: 's1',
      name: 's1',
      description: 'd & x',
      createdAt: new Date(1795283887 * 1000).toISOString(),
      memory: false,
      quiesced: false,
      powerState: 'off',
      children: [],
    });
  });

  it('returns the parent of a snapshot taken under another', async () => {
    const { virsh, execs } = fakeHost({
      [create]: '',
      [dump(DOM, 'r3')]: fixture('dumpxml-running-memory.xml'),
    });
    const snapshot = await createSnapshot(virsh, DOM, { name: 'r3', memory: true });
    expect(execs[0]?.stdin).toContain("<memory snapshot='internal'/>");
    expect(snapshot).toMatchObject({ id: 'r3', parentId: 'r2', memory: true, powerState: 'on' });
  });

  it.each([
    ['err-duplicate.stderr.txt', 'already-exists'],
    ['err-offline-memory.stderr.txt', 'invalid-power-state'],
    ['err-running-without-memory.stderr.txt', 'invalid-power-state'],
    ['err-raw-disk.stderr.txt', 'invalid-state'],
    // Texts of libvirt's source, not recorded (the bed has no OVMF; the lock needs a 30 s job).
    ['err-pflash-running.libvirt-source.stderr.txt', 'invalid-power-state'],
    ['err-job-lock.libvirt-source.stderr.txt', 'locked'],
  ])('maps %s to ConflictError %s', async (file, reason) => {
    const { virsh } = fakeHost({ [create]: fixture(file) });
    const error = await createSnapshot(virsh, DOM, { name: 's1' }).catch((caught) => caught);
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe(reason);
    expect((error as ConflictError).details).toEqual({ reason, command: 'snapshot-create' });
  });

  it('keeps already-exists when the taken name reads like another refusal', async () => {
    const name = 'internal snapshot of a running VM must include the memory state';
    const { virsh } = fakeHost({
      [create]: `error: operation failed: domain moment ${name} already exists\n`,
    });
    await expect(createSnapshot(virsh, DOM, { name })).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'already-exists',
    );
  });

  it('a missing domain is NotFoundError (vm)', async () => {
    const { virsh } = fakeHost({ [create]: `error: failed to get domain '${DOM}'\n` });
    await expect(createSnapshot(virsh, DOM, { name: 'x' })).rejects.toSatisfy(
      (error) => NotFoundError.isInstance(error) && error.resource === 'vm',
    );
  });

  it('refuses quiesce (UnsupportedCapabilityError) and bad names before any exec', async () => {
    const { virsh, execs } = fakeHost({});
    await expect(createSnapshot(virsh, DOM, { name: 'q', quiesce: true })).rejects.toSatisfy(
      (error) =>
        UnsupportedCapabilityError.isInstance(error) && error.capability === 'snapshots.quiesce',
    );
    for (const [name, path] of [
      ['a/b', 'name'],
      ['', 'name'],
      [' x', 'name'],
    ] as const) {
      await expect(createSnapshot(virsh, DOM, { name })).rejects.toSatisfy(
        (error) => InvalidSpecError.isInstance(error) && error.issues[0]?.path === path,
      );
    }
    await expect(
      createSnapshot(virsh, DOM, { name: 'x', extra: 1 } as unknown as { name: string }),
    ).rejects.toSatisfy(
      (error) => InvalidSpecError.isInstance(error) && error.issues[0]?.path === 'extra',
    );
    expect(execs).toHaveLength(0);
  });
});

describe('revertSnapshot and deleteSnapshot', () => {
  const revert = `snapshot-revert --domain ${DOM} --snapshotname`;
  const remove = `snapshot-delete --domain ${DOM} --snapshotname`;

  const info = (name: string) => `snapshot-info --domain ${DOM} --snapshotname ${name}`;
  const dominfo = `dominfo --domain ${DOM}`;
  const dominfoNoSave = fixture('dominfo-managed-save.txt').replace(
    'Managed save:   yes',
    'Managed save:   no',
  );

  it('revert checks the snapshot and the managed save in one exec, then reverts', async () => {
    const { virsh, execs } = fakeHost({
      [info('mr')]: fixture('snapshot-info-internal.txt'),
      [dominfo]: dominfoNoSave,
      [`${revert} mr`]: '',
    });
    await revertSnapshot(virsh, DOM, 'mr');
    expect(execs.map((exec) => exec.lines)).toEqual([[info('mr'), dominfo], [`${revert} mr`]]);
  });

  it('revert removes a managed-save image first (libvirt would keep it, stale)', async () => {
    const { virsh, execs } = fakeHost({
      [info('mr')]: fixture('snapshot-info-internal.txt'),
      [dominfo]: fixture('dominfo-managed-save.txt'),
      [`managedsave-remove --domain ${DOM}`]: '',
      [`${revert} mr`]: '',
    });
    await revertSnapshot(virsh, DOM, 'mr');
    expect(execs.map((exec) => exec.lines)).toEqual([
      [info('mr'), dominfo],
      [`managedsave-remove --domain ${DOM}`],
      [`${revert} mr`],
    ]);
  });

  it('an external snapshot is ConflictError invalid-state before anything changes', async () => {
    const { virsh, execs } = fakeHost({
      [info('ext')]: fixture('snapshot-info-external.txt'),
      [dominfo]: fixture('dominfo-managed-save.txt'),
    });
    const error = await revertSnapshot(virsh, DOM, 'ext').catch((caught) => caught);
    expect(ConflictError.isInstance(error) && error.reason === 'invalid-state').toBe(true);
    expect((error as Error).message).toMatch(/external/);
    expect(execs).toHaveLength(1);
  });

  it("libvirt's own external refusal (a race with the check) is ConflictError invalid-state", async () => {
    const { virsh } = fakeHost({
      [info('ext1')]: fixture('snapshot-info-internal.txt'),
      [dominfo]: dominfoNoSave,
      [`${revert} ext1`]: fixture('err-revert-external.stderr.txt'),
    });
    const error = await revertSnapshot(virsh, DOM, 'ext1').catch((caught) => caught);
    expect(ConflictError.isInstance(error) && error.reason === 'invalid-state').toBe(true);
    expect((error as Error).message).toMatch(/revert to external snapshot not supported yet/);
  });

  it('revert and delete of a missing snapshot are NotFoundError (snapshot), nothing changed', async () => {
    const { virsh, execs } = fakeHost({
      [info('nosuch')]: fixture('err-revert-not-found.stderr.txt'),
      [dominfo]: fixture('dominfo-managed-save.txt'),
      [`${remove} nosuch`]: fixture('err-snapshot-not-found.stderr.txt'),
    });
    for (const call of [
      () => revertSnapshot(virsh, DOM, 'nosuch'),
      () => deleteSnapshot(virsh, DOM, 'nosuch', false),
    ]) {
      await expect(call()).rejects.toSatisfy(
        (error) =>
          NotFoundError.isInstance(error) && error.resource === 'snapshot' && error.id === 'nosuch',
      );
    }
    expect(execs.map((exec) => exec.lines)).toEqual([
      [info('nosuch'), dominfo],
      [`${remove} nosuch`],
    ]);
  });

  it('delete adds --children only for removeChildren; a mixed tree is a ConflictError', async () => {
    const { virsh, execs } = fakeHost({
      [`${remove} s1`]: '',
      [`${remove} s1 --children`]: '',
      [`${remove} ext1`]: fixture('err-delete-external-internal-parent.stderr.txt'),
    });
    await deleteSnapshot(virsh, DOM, 's1', false);
    await deleteSnapshot(virsh, DOM, 's1', true);
    expect(execs.map((exec) => exec.lines[0])).toEqual([`${remove} s1`, `${remove} s1 --children`]);
    await expect(deleteSnapshot(virsh, DOM, 'ext1', false)).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'invalid-state',
    );
  });

  it('refuses an empty snapshot id before any exec', async () => {
    const { virsh, execs } = fakeHost({});
    await expect(deleteSnapshot(virsh, DOM, '', false)).rejects.toSatisfy(
      (error) => InvalidSpecError.isInstance(error) && error.issues[0]?.path === 'snapshotId',
    );
    expect(execs).toHaveLength(0);
  });
});

describe('snapshotCleanupPlan', () => {
  it('is needed: libvirt refuses a plain undefine of a domain with snapshots', () => {
    const error = mapVirshError(fixture('err-undefine-with-snapshots.stderr.txt'), {
      command: ['undefine'],
    });
    expect(ConflictError.isInstance(error) && error.reason === 'invalid-state').toBe(true);
    expect(error.message).toMatch(/cannot delete inactive domain with 5 snapshots/);
  });

  it('lists overlay and backing files of external snapshots and the undefine flag', async () => {
    const dom = 'hvkit-snap-x5';
    const { virsh } = fakeHost({
      [list(dom)]: 'e1\ni1\n',
      [current(dom)]: 'i1\n',
      [dump(dom, 'e1')]: fixture('dumpxml-external.xml'),
      [dump(dom, 'i1')]: fixture('dumpxml-running-cdrom.xml').replace(
        '<name>m1</name>',
        '<name>i1</name>',
      ),
    });
    expect(await snapshotCleanupPlan(virsh, dom)).toEqual({
      count: 2,
      external: true,
      files: [
        '/var/lib/libvirt/images/hvkit-snap-x5-e1.qcow2',
        '/var/lib/libvirt/images/hvkit-snap-x5.qcow2',
      ],
      undefineFlags: ['--snapshots-metadata'],
    });
  });

  it('needs nothing for a domain without snapshots', async () => {
    const { virsh } = fakeHost({
      [list(DOM)]: '',
      [current(DOM)]: fixture('err-no-current.stderr.txt'),
    });
    expect(await snapshotCleanupPlan(virsh, DOM)).toEqual({
      count: 0,
      external: false,
      files: [],
      undefineFlags: [],
    });
  });
});

describe('snapshotLiveCheck', () => {
  const qcow2 = { id: 'vda', sizeBytes: 1, format: 'qcow2' as const };
  const vm = (
    powerState: 'on' | 'off' | 'paused' | 'suspended',
    extra: { firmware?: 'bios' | 'efi'; raw?: boolean } = {},
  ) => ({
    powerState,
    firmware: extra.firmware,
    disks: extra.raw ? [qcow2, { id: 'vdb', sizeBytes: 1, format: 'raw' as const }] : [qcow2],
  });

  it('agrees with what libvirt 9.0 did on the bed', () => {
    expect(snapshotLiveCheck(vm('off'), 'snapshots.create')?.ok).toBe(true);
    expect(snapshotLiveCheck(vm('suspended'), 'snapshots.create')?.ok).toBe(true);
    expect(snapshotLiveCheck(vm('on'), 'snapshots.create')).toEqual({
      ok: true,
      reason: 'domain is running: the snapshot must include memory (memory: true)',
    });
    expect(snapshotLiveCheck(vm('on'), 'snapshots.memory')?.ok).toBe(true);
    expect(snapshotLiveCheck(vm('paused'), 'snapshots.memory')?.ok).toBe(true);
    expect(snapshotLiveCheck(vm('off'), 'snapshots.memory')?.ok).toBe(false);
    expect(snapshotLiveCheck(vm('suspended'), 'snapshots.memory')?.ok).toBe(false);
    const raw = snapshotLiveCheck(vm('off', { raw: true }), 'snapshots.create');
    expect(raw?.ok).toBe(false);
    expect(raw?.reason).toMatch(/disk vdb is not qcow2/);
    expect(snapshotLiveCheck(vm('on', { firmware: 'efi' }), 'snapshots.memory')?.ok).toBe(false);
    expect(snapshotLiveCheck(vm('off', { firmware: 'efi' }), 'snapshots.create')?.ok).toBe(true);
    expect(snapshotLiveCheck(vm('on'), 'snapshots.quiesce')?.ok).toBe(false);
    expect(snapshotLiveCheck(vm('on'), 'snapshots.revert')).toBeUndefined();
  });
});
