/**
 * Suspend to disk (`managedsave`) as a task on the real bed: a booted guest with memory full of
 * random bytes takes long enough to save that the task reports byte progress, and a cancel aborts
 * the save job in libvirtd (`domjobabort`), leaving the domain running without a saved image.
 */
import { readFileSync } from 'node:fs';
import type { Provider, TaskProgressEvent, Vm } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLibvirtProvider } from '../src/index.js';
import { Virsh } from '../src/virsh/virsh.js';
import { connectToBed, type LibvirtReady, requireLibvirtBed } from './libvirt-bed.js';

const bed = requireLibvirtBed();
const PREFIX = `hvkit-msave-${process.pid}-`;

describe.skipIf(!bed)('managedsave as a task on the real bed', () => {
  const ready = bed as LibvirtReady;
  let provider: Provider;
  const made: Vm[] = [];
  const ssh = bed ? connectToBed(ready) : undefined;
  const virsh = ssh ? new Virsh(ssh) : undefined;

  beforeAll(() => {
    provider = createLibvirtProvider({
      name: 'libvirt-msave',
      host: ready.host,
      port: ready.port,
      username: ready.username,
      privateKey: readFileSync(ready.privateKeyPath),
      hostKey: { fingerprint256: ready.hostKeyFingerprint256 },
      defaults: { domainType: 'qemu', pool: ready.pool },
    });
  });

  afterAll(async () => {
    for (const vm of made)
      await provider
        .delete(vm)
        .wait()
        .catch(() => undefined);
    await provider.close();
    await ssh?.close();
  });

  /** A running guest whose RAM holds `mib` MiB of random bytes (written through the agent). */
  async function busyGuest(label: string, mib: number): Promise<Vm> {
    const vm = await provider
      .create({
        name: `${PREFIX}${label}`,
        cpu: { count: 1 },
        memory: { sizeMiB: 1024 },
        powerState: 'on',
        providerOptions: {
          libvirt: {
            domainType: 'qemu',
            kernel: ready.guest.kernel,
            initrd: ready.guest.initrd,
            cmdline: ready.guest.cmdline,
          },
        },
      })
      .wait({ timeoutMs: 120_000 });
    made.push(vm);
    const deadline = Date.now() + 90_000;
    while ((await provider.get(vm)).guest.toolsState !== 'running') {
      if (Date.now() > deadline) throw new Error('the guest agent did not connect');
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const command = JSON.stringify({
      execute: 'guest-exec',
      arguments: {
        path: '/bin/sh',
        arg: ['-c', `dd if=/dev/urandom of=/tmp/fill bs=1M count=${mib} 2>/dev/null`],
      },
    });
    const started = JSON.parse(
      await (virsh as Virsh).run(['qemu-agent-command', vm.ref.id, command]),
    ) as { return: { pid: number } };
    const status = JSON.stringify({
      execute: 'guest-exec-status',
      arguments: { pid: started.return.pid },
    });
    for (;;) {
      const state = JSON.parse(
        await (virsh as Virsh).run(['qemu-agent-command', vm.ref.id, status]),
      ) as { return: { exited: boolean } };
      if (state.return.exited) break;
      if (Date.now() > deadline) throw new Error('filling the guest memory took too long');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return vm;
  }

  it('reports byte progress while saving, and the domain comes back with powerOn', async () => {
    const vm = await busyGuest('progress', 448);
    const task = provider.suspend(vm, { toDisk: true });
    const events: TaskProgressEvent[] = [];
    for await (const event of task.progress()) events.push(event);
    await task.wait({ timeoutMs: 120_000 });
    expect((await provider.get(vm)).powerState).toBe('suspended');
    const bytes = events.filter((event) => event.bytesTotal !== undefined);
    expect(bytes.length, `events: ${JSON.stringify(events)}`).toBeGreaterThan(0);
    for (const event of bytes) {
      // The job's total is the guest's RAM plus device state (1078534144 for 1 GiB, measured).
      expect(event.bytesTotal ?? 0).toBeGreaterThanOrEqual(1024 * 1024 * 1024);
      expect(event.bytesDone ?? 0).toBeLessThanOrEqual(event.bytesTotal ?? 0);
    }
    await provider.powerOn(vm).wait({ timeoutMs: 120_000 });
    expect((await provider.get(vm)).powerState).toBe('on');
  }, 300_000);

  it('cancel aborts the save job: the domain keeps running, no saved image is left', async () => {
    const vm = await busyGuest('cancel', 448);
    const task = provider.suspend(vm, { toDisk: true });
    // Cancel once the save job reports progress, so the abort meets a running job.
    for await (const event of task.progress()) if (event.bytesDone !== undefined) break;
    await task.cancel();
    await expect(task.wait({ timeoutMs: 120_000 })).rejects.toBeDefined();
    expect(task.state).toBe('canceled');
    const after = await provider.get(vm);
    expect(after.powerState).toBe('on');
    const saved = await (virsh as Virsh).run(['list', '--all', '--with-managed-save', '--uuid']);
    expect(saved).not.toContain(vm.ref.id);
  }, 300_000);
});
