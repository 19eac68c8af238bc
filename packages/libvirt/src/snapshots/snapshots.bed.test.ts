// Snapshots against the REAL bed (libvirt 9.0, QEMU 7.2, TCG): internal snapshots of stopped and
// running domains, the tree after revert/delete, power state after revert, libvirt's refusals
// (memory while off, no memory while running, raw disk, external revert) as core errors, a
// read-only cdrom next to the qcow2 disk, clean-up of external overlays, and a memory snapshot of
// the real guest (direct kernel boot, 256 MiB, guest agent) with its timings printed.
// Everything made here is named `hvkit-snap-<random>-…` and removed in afterAll.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  ConflictError,
  NotFoundError,
  type Snapshot,
  type SnapshotTree,
  SnapshotTreeSchema,
  UnsupportedCapabilityError,
} from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToBed, type LibvirtReady, requireLibvirtBed } from '../../test/libvirt-bed.js';
import { createVolume, deleteVolume, listVolumes } from '../storage/storage.js';
import { Virsh } from '../virsh/virsh.js';
import { element, renderXml, type XmlElementNode } from '../xml/xml-writer.js';
import {
  createSnapshot,
  deleteSnapshot,
  listSnapshots,
  revertSnapshot,
  snapshotCleanupPlan,
  snapshotListCommands,
  snapshotTreeAfterList,
} from './snapshots.js';

const bed = requireLibvirtBed();
const prefix = `hvkit-snap-${randomBytes(3).toString('hex')}-`;
const MiB = 1024 * 1024;

function flatten(tree: SnapshotTree): Snapshot[] {
  const out: Snapshot[] = [];
  const walk = (nodes: readonly Snapshot[]) => {
    for (const node of nodes) {
      out.push(node);
      walk(node.children);
    }
  };
  walk(tree.roots);
  return out;
}

function find(tree: SnapshotTree, id: string): Snapshot {
  const found = flatten(tree).find((snapshot) => snapshot.id === id);
  if (!found) throw new Error(`snapshot ${id} not in the tree`);
  return found;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** A file disk for the domain XML. */
function disk(path: string, format: 'qcow2' | 'raw', target: string, cdrom = false) {
  return element(
    'disk',
    { type: 'file', device: cdrom ? 'cdrom' : 'disk' },
    element('driver', { name: 'qemu', type: format }),
    element('source', { file: path }),
    element('target', { dev: target, bus: cdrom ? 'sata' : 'virtio' }),
    cdrom && element('readonly'),
  );
}

/** A TCG domain: SeaBIOS finds nothing to boot (enough for snapshots), or the bed's kernel. */
function domainXml(
  name: string,
  memoryMiB: number,
  disks: XmlElementNode[],
  kernel?: LibvirtReady['guest'],
): string {
  return renderXml(
    element(
      'domain',
      { type: 'qemu' },
      element('name', {}, name),
      element('memory', { unit: 'MiB' }, String(memoryMiB)),
      element('vcpu', {}, '1'),
      element(
        'os',
        {},
        element('type', { arch: 'x86_64', machine: 'q35' }, 'hvm'),
        kernel && [
          element('kernel', {}, kernel.kernel),
          element('initrd', {}, kernel.initrd),
          element('cmdline', {}, kernel.cmdline),
        ],
        !kernel && element('boot', { dev: 'hd' }),
      ),
      element(
        'devices',
        {},
        disks,
        kernel && [
          element(
            'interface',
            { type: 'network' },
            element('source', { network: 'default' }),
            element('model', { type: 'virtio' }),
          ),
          element(
            'channel',
            { type: 'unix' },
            element('target', { type: 'virtio', name: 'org.qemu.guest_agent.0' }),
          ),
        ],
        element('graphics', { type: 'vnc', autoport: 'yes', listen: '127.0.0.1' }),
      ),
    ),
  );
}

describe.skipIf(!bed)('libvirt snapshots against the bed', () => {
  const ready = bed as LibvirtReady;
  const pool = ready.pool;
  let ssh: SshConnection;
  let virsh: Virsh;

  async function volume(name: string, format: 'qcow2' | 'raw', mib: number): Promise<string> {
    return (await createVolume(virsh, { pool, name, sizeBytes: mib * MiB, format })).path;
  }
  async function define(xml: string): Promise<void> {
    await virsh.run(['define', '--file', '/dev/stdin'], { stdin: xml });
  }
  async function state(domain: string): Promise<string> {
    return (await virsh.run(['domstate', '--domain', domain])).trim();
  }
  async function tree(domain: string): Promise<SnapshotTree> {
    return SnapshotTreeSchema.parse(await listSnapshots(virsh, domain));
  }

  /** Runs `script` with /bin/sh in the guest (agent guest-exec) and returns its output. */
  async function guestShell(domain: string, script: string): Promise<string> {
    const command = (execute: string, args: object) =>
      virsh.run([
        'qemu-agent-command',
        '--domain',
        domain,
        JSON.stringify({ execute, arguments: args }),
      ]);
    const started = JSON.parse(
      await command('guest-exec', { path: '/bin/sh', arg: ['-c', script], 'capture-output': true }),
    ) as { return: { pid: number } };
    const deadline = performance.now() + 30_000;
    for (;;) {
      const status = JSON.parse(
        await command('guest-exec-status', { pid: started.return.pid }),
      ) as { return: { exited: boolean; 'out-data'?: string } };
      if (status.return.exited) {
        return Buffer.from(status.return['out-data'] ?? '', 'base64').toString('utf8');
      }
      if (performance.now() > deadline) throw new Error(`guest command did not end: ${script}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /**
   * `pool-refresh`, waiting while other test files' volume jobs run: libvirt 9.0 refuses with
   * `internal error: pool 'default' has asynchronous jobs running.` (seen on the shared bed).
   */
  async function refreshPool(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await virsh.run(['pool-refresh', '--pool', pool]);
        return;
      } catch (error) {
        if (attempt >= 60 || !/asynchronous jobs running/.test(String(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  async function cleanUp(): Promise<void> {
    const names = (await virsh.run(['list', '--all', '--name'])).split('\n').map((n) => n.trim());
    for (const name of names.filter((item) => item.startsWith(prefix))) {
      await virsh.run(['destroy', '--domain', name]).catch(() => {});
      await virsh.run(['undefine', '--domain', name, '--snapshots-metadata']).catch(() => {});
    }
    // Sees overlays libvirt wrote outside vol-create; the volumes made here are known without it.
    await refreshPool().catch(() => {});
    const volumes = (await listVolumes(virsh, pool)).filter((v) => v.name.startsWith(prefix));
    // Overlays (longer names) before their bases.
    for (const item of volumes.sort((a, b) => b.name.length - a.name.length)) {
      await deleteVolume(virsh, pool, item.name).catch(() => {});
    }
  }

  beforeAll(async () => {
    ssh = connectToBed(ready);
    virsh = new Virsh(ssh, { uri: ready.libvirtUri });
    await ssh.connect();
  });

  afterAll(async () => {
    if (virsh) await cleanUp();
    await ssh?.close();
  });

  describe('a qcow2 domain with a read-only raw cdrom (SeaBIOS, no OS)', () => {
    const dom = `${prefix}plain`;

    beforeAll(async () => {
      const root = await volume(`${dom}.qcow2`, 'qcow2', 32);
      const iso = await volume(`${dom}-seed.iso`, 'raw', 1);
      await define(domainXml(dom, 64, [disk(root, 'qcow2', 'vda'), disk(iso, 'raw', 'sda', true)]));
    });

    it('has an empty tree; a missing domain is NotFoundError (vm)', async () => {
      expect(await tree(dom)).toEqual({ currentId: null, roots: [] });
      const error = await rejection(listSnapshots(virsh, `${prefix}missing`));
      expect(NotFoundError.isInstance(error) && error.resource === 'vm').toBe(true);
    });

    it('takes a snapshot of the stopped domain: no memory, power off, current', async () => {
      const before = Date.now();
      const description = `line 1 <b>&amp;</b>\nline 2 "q" 'single' Grüße`;
      const s1 = await createSnapshot(virsh, dom, { name: 's1 <&>', description });
      expect(s1).toMatchObject({
        id: 's1 <&>',
        name: 's1 <&>',
        description,
        memory: false,
        quiesced: false,
        powerState: 'off',
        children: [],
      });
      expect(s1.parentId).toBeUndefined();
      // libvirt's creationTime has one-second resolution.
      expect(Date.parse(s1.createdAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(Date.parse(s1.createdAt)).toBeLessThanOrEqual(Date.now());
      const listed = await tree(dom);
      expect(listed.currentId).toBe(s1.id);
      expect(find(listed, s1.id)).toEqual(s1);
      // libvirt left the read-only cdrom out of the snapshot.
      const xml = await virsh.run(['snapshot-dumpxml', '--domain', dom, '--snapshotname', s1.id]);
      expect(xml).toContain("<disk name='vda' snapshot='internal'/>");
      expect(xml).toContain("<disk name='sda' snapshot='no'/>");
    });

    it('refuses memory on the stopped domain, a taken name and quiesce, creating nothing', async () => {
      const memory = await rejection(createSnapshot(virsh, dom, { name: 'mem', memory: true }));
      expect(ConflictError.isInstance(memory) && memory.reason === 'invalid-power-state').toBe(
        true,
      );
      const taken = await rejection(createSnapshot(virsh, dom, { name: 's1 <&>' }));
      expect(ConflictError.isInstance(taken) && taken.reason === 'already-exists').toBe(true);
      const quiesce = await rejection(createSnapshot(virsh, dom, { name: 'q', quiesce: true }));
      expect(UnsupportedCapabilityError.isInstance(quiesce)).toBe(true);
      expect(flatten(await tree(dom)).map((snapshot) => snapshot.id)).toEqual(['s1 <&>']);
    });

    it('builds the tree, reverts, re-parents on delete and removes a subtree', async () => {
      const s1 = 's1 <&>';
      const s2 = await createSnapshot(virsh, dom, { name: 's2' });
      expect(s2.parentId).toBe(s1);
      await revertSnapshot(virsh, dom, s1);
      expect((await tree(dom)).currentId).toBe(s1);
      const s3 = await createSnapshot(virsh, dom, { name: 's3' });
      expect(s3.parentId).toBe(s1);
      const s4 = await createSnapshot(virsh, dom, { name: 's4' });
      let listed = await tree(dom);
      expect(listed.currentId).toBe('s4');
      expect(listed.roots.map((root) => root.id)).toEqual([s1]);
      expect(listed.roots[0]?.children.map((child) => child.id).sort()).toEqual(['s2', 's3']);
      expect(find(listed, 's4').parentId).toBe('s3');
      // The same tree when the listing rides on a describe's own runMany.
      const batch = await virsh.runMany([
        ['dominfo', '--domain', dom],
        ...snapshotListCommands(dom),
      ]);
      expect(await snapshotTreeAfterList(virsh, dom, batch.slice(1))).toEqual(listed);

      // Deleting s3 re-parents s4 to s1; deleting the current s4 makes its parent current.
      await deleteSnapshot(virsh, dom, 's3', false);
      listed = await tree(dom);
      expect(find(listed, s4.id).parentId).toBe(s1);
      expect(listed.currentId).toBe('s4');
      await deleteSnapshot(virsh, dom, 's4', false);
      listed = await tree(dom);
      expect(listed.currentId).toBe(s1);
      expect(flatten(listed).map((snapshot) => snapshot.id)).toEqual([s1, 's2']);

      for (const call of [
        () => deleteSnapshot(virsh, dom, 's4', false),
        () => revertSnapshot(virsh, dom, 's4'),
      ]) {
        const error = await rejection(call());
        expect(NotFoundError.isInstance(error) && error.resource === 'snapshot').toBe(true);
      }

      await deleteSnapshot(virsh, dom, s1, true);
      expect(await tree(dom)).toEqual({ currentId: null, roots: [] });
    });

    it('running: memory is required and recorded; revert restores the snapshot power state', async () => {
      const off = await createSnapshot(virsh, dom, { name: 'off' });
      await virsh.run(['start', '--domain', dom]);
      const noMemory = await rejection(createSnapshot(virsh, dom, { name: 'disk-only' }));
      expect(ConflictError.isInstance(noMemory) && noMemory.reason === 'invalid-power-state').toBe(
        true,
      );
      const started = performance.now();
      const running = await createSnapshot(virsh, dom, { name: 'running', memory: true });
      const createMs = performance.now() - started;
      expect(running).toMatchObject({ memory: true, powerState: 'on', parentId: off.id });
      expect(find(await tree(dom), running.id).memory).toBe(true);

      // Running → a shut-off snapshot: libvirt stops the domain.
      await revertSnapshot(virsh, dom, off.id);
      expect(await state(dom)).toBe('shut off');
      // Shut off → a running snapshot: QEMU starts from the saved memory.
      const reverting = performance.now();
      await revertSnapshot(virsh, dom, running.id);
      const revertMs = performance.now() - reverting;
      expect(await state(dom)).toBe('running');
      expect((await tree(dom)).currentId).toBe(running.id);

      // Paused → recorded as paused.
      await virsh.run(['suspend', '--domain', dom]);
      const paused = await createSnapshot(virsh, dom, { name: 'paused', memory: true });
      expect(paused.powerState).toBe('paused');
      await virsh.run(['destroy', '--domain', dom]);
      await revertSnapshot(virsh, dom, paused.id);
      expect(await state(dom)).toBe('paused');
      await virsh.run(['destroy', '--domain', dom]);
      console.info(
        `64 MiB SeaBIOS domain: memory snapshot ${createMs.toFixed(0)} ms, revert from off ${revertMs.toFixed(0)} ms`,
      );
    });
    it('revert discards a managed-save image (libvirt itself would refuse or keep it)', async () => {
      const managedSave = async () =>
        /^Managed save:\s+yes$/m.test(await virsh.run(['dominfo', '--domain', dom]));
      // To a snapshot without memory.
      await virsh.run(['start', '--domain', dom]);
      await virsh.run(['managedsave', '--domain', dom]);
      expect(await managedSave()).toBe(true);
      await revertSnapshot(virsh, dom, 'off');
      expect(await managedSave()).toBe(false);
      expect(await state(dom)).toBe('shut off');
      // To a running snapshot: running from its memory, no stale image left for the next start.
      await virsh.run(['start', '--domain', dom]);
      await virsh.run(['managedsave', '--domain', dom]);
      await revertSnapshot(virsh, dom, 'running');
      expect(await managedSave()).toBe(false);
      expect((await virsh.run(['domstate', '--reason', '--domain', dom])).trim()).toBe(
        'running (from snapshot)',
      );
      await virsh.run(['destroy', '--domain', dom]);
      await virsh.run(['start', '--domain', dom]);
      expect((await virsh.run(['domstate', '--reason', '--domain', dom])).trim()).toBe(
        'running (booted)',
      );
      await virsh.run(['destroy', '--domain', dom]);
    });
  });

  it('a raw disk cannot take an internal snapshot: ConflictError, nothing created', async () => {
    const dom = `${prefix}raw`;
    const path = await volume(`${dom}.raw`, 'raw', 16);
    await define(domainXml(dom, 64, [disk(path, 'raw', 'vda')]));
    const error = await rejection(createSnapshot(virsh, dom, { name: 'x' }));
    expect(ConflictError.isInstance(error) && error.reason === 'invalid-state').toBe(true);
    expect((error as Error).message).toMatch(/disk vda is raw/);
    expect(await tree(dom)).toEqual({ currentId: null, roots: [] });
  });

  it('an external snapshot (made outside hvkit) cannot be reverted; its files are in the clean-up plan', async () => {
    const dom = `${prefix}ext`;
    const base = await volume(`${dom}.qcow2`, 'qcow2', 16);
    await define(domainXml(dom, 64, [disk(base, 'qcow2', 'vda')]));
    const overlay = `${ready.poolPath}/${dom}-overlay.qcow2`;
    await virsh.run([
      'snapshot-create-as',
      '--domain',
      dom,
      '--name',
      'ext',
      '--disk-only',
      '--diskspec',
      `vda,snapshot=external,file=${overlay}`,
    ]);
    const listed = await tree(dom);
    expect(find(listed, 'ext')).toMatchObject({ memory: false, powerState: 'off' });
    const error = await rejection(revertSnapshot(virsh, dom, 'ext'));
    expect(ConflictError.isInstance(error) && error.reason === 'invalid-state').toBe(true);
    expect((error as Error).message).toMatch(/is external/);

    const plan = await snapshotCleanupPlan(virsh, dom);
    expect(plan).toEqual({
      count: 1,
      external: true,
      files: [overlay, base],
      undefineFlags: ['--snapshots-metadata'],
    });
    // What the driver does with the plan: undefine with the flags, delete every file.
    await virsh.run(['undefine', '--domain', dom, ...plan.undefineFlags]);
    await refreshPool();
    for (const file of plan.files) await virsh.run(['vol-delete', '--vol', file]);
    const left = (await listVolumes(virsh, pool)).filter((v) => v.name.startsWith(dom));
    expect(left).toEqual([]);
  });

  it('the bed guest (direct kernel boot, 256 MiB): memory snapshot and revert keep it running', async () => {
    const dom = `${prefix}guest`;
    const root = await volume(`${dom}.qcow2`, 'qcow2', 32);
    await define(domainXml(dom, 256, [disk(root, 'qcow2', 'vda')], ready.guest));
    await virsh.run(['start', '--domain', dom]);
    const ping = ['qemu-agent-command', '--domain', dom, '{"execute":"guest-ping"}'];
    const agentUp = async (deadlineMs: number): Promise<number> => {
      const start = performance.now();
      for (;;) {
        const ok = await virsh.run(ping).then(
          () => true,
          () => false,
        );
        if (ok) return performance.now() - start;
        if (performance.now() - start > deadlineMs) throw new Error('guest agent did not answer');
        expect(await state(dom), 'the guest stopped').toBe('running');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    };
    const bootMs = await agentUp(90_000);
    // The guest's root file system is its initramfs, in RAM: a file there survives a revert only
    // when the memory is restored.
    await guestShell(dom, 'echo before > /hvkit-marker');

    let started = performance.now();
    const snapshot = await createSnapshot(virsh, dom, { name: 'live', memory: true });
    const createMs = performance.now() - started;
    expect(snapshot).toMatchObject({ memory: true, powerState: 'on' });
    await guestShell(dom, 'rm /hvkit-marker; echo after > /hvkit-after');
    expect(await guestShell(dom, 'cat /hvkit-marker /hvkit-after 2>&1; true')).toMatch(
      /No such file[\s\S]*after/,
    );

    // From running: QEMU loads the saved state in place.
    started = performance.now();
    await revertSnapshot(virsh, dom, snapshot.id);
    const revertRunningMs = performance.now() - started;
    expect(await state(dom)).toBe('running');

    // From shut off: QEMU starts with the saved state; the agent answers at once, no new boot
    // (a boot takes bootMs, 10 s or more under TCG).
    await virsh.run(['destroy', '--domain', dom]);
    started = performance.now();
    await revertSnapshot(virsh, dom, snapshot.id);
    const revertOffMs = performance.now() - started;
    expect(await state(dom)).toBe('running');
    const agentAfterMs = await agentUp(30_000);
    expect(agentAfterMs).toBeLessThan(bootMs);
    expect(await guestShell(dom, 'cat /hvkit-marker; ls /')).toMatch(/^before\n/);
    expect(await guestShell(dom, 'ls /')).not.toContain('hvkit-after');
    // A memory snapshot is deleted while the domain runs (QEMU drops it from the live image).
    started = performance.now();
    await deleteSnapshot(virsh, dom, snapshot.id, false);
    const deleteMs = performance.now() - started;
    expect(await tree(dom)).toEqual({ currentId: null, roots: [] });
    expect(await state(dom)).toBe('running');
    await virsh.run(['destroy', '--domain', dom]);
    console.info(
      `guest 256 MiB TCG: boot to agent ${bootMs.toFixed(0)} ms; memory snapshot ${createMs.toFixed(0)} ms; revert running ${revertRunningMs.toFixed(0)} ms, from off ${revertOffMs.toFixed(0)} ms; agent after revert ${agentAfterMs.toFixed(0)} ms; delete while running ${deleteMs.toFixed(0)} ms`,
    );
  }, 180_000);
});
