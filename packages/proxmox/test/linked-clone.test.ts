/**
 * Linked clones on Proxmox: only from templates (qemu-server refuses `full=0` for anything else),
 * refused before any write for a plain VM, with the template's base volume as each disk's parent.
 */

import type { countHttpRequests as countRequests } from '@hvkit/conformance';
import { ConflictError, type Provider } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimulatedProvider, startSimulatedProvider } from './simulated-provider.js';

let provider: Provider;
let requests: ReturnType<typeof countRequests>;

let bed: SimulatedProvider;

beforeAll(async () => {
  bed = await startSimulatedProvider('pve-linked');
  provider = bed.provider;
  requests = bed.requests;
});

afterAll(() => bed.close());

const spec = (name: string) => ({
  name,
  cpu: { count: 1 },
  memory: { sizeMiB: 256 },
  disks: [{ sizeGiB: 1 }],
});

describe('proxmox linked clones', () => {
  it('refuses a plain VM, even with a snapshot, before any write', async () => {
    const vm = await provider.create(spec('linked-plain')).wait();
    const snapshot = await provider.createSnapshot(vm, { name: 'base' }).wait();
    const can = await provider.can(vm, 'lifecycle.linkedClone');
    expect(can.ok).toBe(false);
    expect(can.reason).toMatch(/templates/);
    const from = requests.paths.length;
    const error = await provider
      .clone(vm, { name: 'linked-plain-clone', mode: 'linked', snapshotId: snapshot.id })
      .wait()
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe('invalid-state');
    expect((error as ConflictError).message).toMatch(/Proxmox links clones only to templates/);
    const writes = requests.paths.slice(from).filter((line) => !line.startsWith('GET '));
    expect(writes).toEqual([]);
  });

  it('links a clone of a template to its base volumes', async () => {
    const vm = await provider.create(spec('linked-template')).wait();
    const template = await provider.markAsTemplate(vm).wait();
    const vmid = Number(template.ref.id.split('/').pop());
    const clone = await provider.clone(template, { name: 'linked-clone', mode: 'linked' }).wait();
    expect(clone.template).toBe(false);
    expect(clone.disks).toHaveLength(1);
    expect(clone.disks[0]?.parentId).toBe(`local-lvm:base-${vmid}-disk-0`);
    expect(clone.disks[0]?.storage).toBe('local-lvm');
    const full = await provider.clone(template, { name: 'full-clone', mode: 'full' }).wait();
    expect(full.disks[0]?.parentId).toBeUndefined();
  });
});
