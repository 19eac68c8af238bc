// hvkit's own events on the real bed: libvirt prints nothing for a snapshot's creation or
// deletion, a clone or a template mark (measured), so the driver records them in its event log;
// they come out of listEvents for the VM, newest first, with libvirt's own events around them.
import type { Provider, VmEvent } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLibvirtProvider } from '../src/index.js';
import { bedProviderSettings, requireLibvirtBed } from './libvirt-bed.js';

const bed = requireLibvirtBed();
const PREFIX = `hvkit-events-${process.pid}-`;

describe.skipIf(!bed)('hvkit events recorded by the libvirt driver', () => {
  let provider: Provider;
  const made: { provider: string; id: string }[] = [];

  beforeAll(() => {
    if (!bed) return;
    provider = createLibvirtProvider(bedProviderSettings(bed, 'libvirt-events'));
  });

  afterAll(async () => {
    if (!bed) return;
    for (const ref of made.reverse())
      await provider
        .delete(ref)
        .wait({ timeoutMs: 60_000 })
        .catch(() => undefined);
    await provider.close();
  });

  it('snapshot create and delete, template mark and clone are events of their VM', async () => {
    const vm = await provider
      .create({
        name: `${PREFIX}source`,
        cpu: { count: 1 },
        memory: { sizeMiB: 64 },
        disks: [{ sizeGiB: 16 / 1024 }],
      })
      .wait({ timeoutMs: 60_000 });
    made.push(vm.ref);
    const snapshot = await provider
      .createSnapshot(vm.ref, { name: 'before' })
      .wait({ timeoutMs: 60_000 });
    await provider.deleteSnapshot(vm.ref, snapshot.id).wait({ timeoutMs: 60_000 });
    await provider.markAsTemplate(vm.ref).wait({ timeoutMs: 60_000 });
    const clone = await provider
      .clone(vm.ref, { name: `${PREFIX}clone`, mode: 'full' })
      .wait({ timeoutMs: 120_000 });
    made.push(clone.ref);

    const types = (events: VmEvent[]) => events.map((event) => event.type);
    const ofSource = await provider.listEvents({ vm: vm.ref });
    expect(types(ofSource)).toEqual(
      expect.arrayContaining([
        'vm-snapshot-created',
        'vm-snapshot-deleted',
        'vm-marked-as-template',
      ]),
    );
    // Newest first: the template mark came after the snapshot's deletion, which came after its creation.
    const order = types(ofSource);
    expect(order.indexOf('vm-marked-as-template')).toBeLessThan(
      order.indexOf('vm-snapshot-deleted'),
    );
    expect(order.indexOf('vm-snapshot-deleted')).toBeLessThan(order.indexOf('vm-snapshot-created'));
    for (const event of ofSource) expect(event.vm).toEqual(vm.ref);
    const created = ofSource.find((event) => event.type === 'vm-snapshot-created');
    expect(created?.message).toContain('"before"');

    const ofClone = await provider.listEvents({ vm: clone.ref });
    const cloned = ofClone.find((event) => event.type === 'vm-cloned');
    expect(cloned?.message).toContain(`from "${PREFIX}source"`);
    expect(cloned?.vm).toEqual(clone.ref);
  }, 240_000);
});
