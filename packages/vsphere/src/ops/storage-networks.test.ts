import { ConflictError } from '@hvkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { vcsimContext } from './ops-test-support.js';
import {
  listNetworks,
  listStoragePools,
  type NetworkTarget,
  networkDirectory,
  networkTargets,
  portgroupVlan,
  resolveNetworks,
  toStoragePool,
} from './storage-networks.js';

describe('datastore mapping', () => {
  it('maps capacity and free bytes, type and sharing; leaves out an inaccessible datastore', () => {
    const summary = {
      name: 'nfs-01',
      capacity: '1099511627776',
      freeSpace: '2099511627776',
      accessible: 'true',
      type: 'NFS',
      multipleHostAccess: 'true',
    };
    expect(
      toStoragePool({
        obj: { type: 'Datastore', value: 'datastore-11' },
        properties: { name: 'nfs-01', summary },
        missing: [],
      }),
    ).toEqual({
      id: 'datastore-11',
      name: 'nfs-01',
      type: 'NFS',
      capacityBytes: 1099511627776,
      freeBytes: 1099511627776,
      content: ['disk', 'image', 'iso'],
      shared: true,
    });
    expect(
      toStoragePool({
        obj: { type: 'Datastore', value: 'datastore-12' },
        properties: { name: 'gone', summary: { ...summary, accessible: 'false' } },
        missing: [],
      }),
    ).toBeUndefined();
  });
});

describe('port group VLAN', () => {
  it('reads one VLAN id; none for 0, a trunk or a private VLAN', () => {
    const spec = (vlan: unknown) => ({ $type: 'VMwareDVSPortSetting', vlan });
    expect(
      portgroupVlan(spec({ $type: 'VmwareDistributedVirtualSwitchVlanIdSpec', vlanId: '100' })),
    ).toBe(100);
    expect(
      portgroupVlan(spec({ $type: 'VmwareDistributedVirtualSwitchVlanIdSpec', vlanId: '0' })),
    ).toBeUndefined();
    expect(
      portgroupVlan(
        spec({
          $type: 'VmwareDistributedVirtualSwitchTrunkVlanSpec',
          vlanId: { start: '0', end: '4094' },
        }),
      ),
    ).toBeUndefined();
    expect(
      portgroupVlan(spec({ $type: 'VmwareDistributedVirtualSwitchPvlanSpec', pvlanId: '5' })),
    ).toBeUndefined();
  });
});

const vcsim = requireVcsim();

describe.skipIf(!vcsim)('storage and networks on vcsim', () => {
  const ctx = vcsimContext(vcsim as NonNullable<typeof vcsim>);
  afterAll(() => ctx.client.close());

  it('lists LocalDS_0 with its capacity and free space', async () => {
    const pools = await listStoragePools(ctx);
    const local = pools.find((pool) => pool.name === 'LocalDS_0');
    expect(local).toMatchObject({
      type: 'OTHER',
      content: ['disk', 'image', 'iso'],
      shared: false,
    });
    expect(local?.capacityBytes).toBeGreaterThan(0);
    expect(local?.freeBytes).toBeLessThanOrEqual(local?.capacityBytes ?? 0);
    // vcsim's datastore moref is its directory path.
    expect(local?.id).toContain('LocalDS_0');
    expect(new Set(pools.map((pool) => pool.id)).size).toBe(pools.length);
  });

  it('lists VM Network and the distributed port group with switch uuid and key', async () => {
    const networks = await listNetworks(ctx);
    expect(networks).toContainEqual({ id: 'network-7', name: 'VM Network', kind: 'network' });
    const group = networks.find((network) => network.name === 'DC0_DVPG0');
    expect(group).toMatchObject({ kind: 'distributed' });
    expect(group?.vlan).toBeUndefined();
    expect(new Set(networks.map((network) => network.id)).size).toBe(networks.length);
    // Sorted by kind then name: the first distributed entry is DC0_DVPG0, not the uplink group.
    expect(networks.find((network) => network.kind === 'distributed')?.name).toBe('DC0_DVPG0');

    const targets = await networkTargets(ctx);
    const target = targets.find((item) => item.name === 'DC0_DVPG0');
    expect(target).toMatchObject({
      kind: 'distributed',
      moref: { type: 'DistributedVirtualPortgroup', value: group?.id },
      portgroupKey: group?.id,
      switchUuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it('resolves by id or name, of a kind, and refuses an ambiguous name', async () => {
    const directory = await resolveNetworks(ctx);
    expect(directory.find('VM Network')).toEqual({
      kind: 'network',
      name: 'VM Network',
      moref: { type: 'Network', value: 'network-7' },
    });
    expect(directory.find('network-7')?.name).toBe('VM Network');
    expect(directory.find('DC0_DVPG0', 'distributed')?.kind).toBe('distributed');
    expect(directory.find('DC0_DVPG0', 'network')).toBeUndefined();
    expect(directory.find('hvkit-no-such-network')).toBeUndefined();
  });
});

describe('network directory', () => {
  const targets: NetworkTarget[] = [
    { kind: 'network', name: 'prod', moref: { type: 'Network', value: 'network-1' } },
    { kind: 'network', name: 'prod', moref: { type: 'Network', value: 'network-2' } },
    {
      kind: 'distributed',
      name: 'prod',
      moref: { type: 'DistributedVirtualPortgroup', value: 'dvportgroup-3' },
      switchUuid: '50 1a',
      portgroupKey: 'dvportgroup-3',
      vlan: 30,
    },
  ];
  const directory = networkDirectory(targets, 'vc');

  it('an id always wins; a name shared by two networks is ConflictError naming the ids', () => {
    expect(directory.find('network-2')).toBe(targets[1]);
    expect(directory.find('prod', 'distributed')).toBe(targets[2]);
    let caught: unknown;
    try {
      directory.find('prod');
    } catch (error) {
      caught = error;
    }
    expect(ConflictError.isInstance(caught)).toBe(true);
    expect((caught as ConflictError).message).toContain('network-1, network-2, dvportgroup-3');
    expect(() => directory.find('prod', 'network')).toThrow(/network-1, network-2\)/);
  });
});
