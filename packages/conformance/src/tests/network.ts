import type { Vm } from '@hvkit/core';
import { expect } from 'vitest';
import type { SuiteContext } from '../context.js';
import { expectNotFound, randomMac } from '../helpers.js';
import { type ConformanceRule, rule } from '../rule.js';

let addressCounter = 0;

/** A TEST-NET-1 address no real network routes. */
function testAddress(): string {
  addressCounter = (addressCounter % 200) + 1;
  return `192.0.2.${addressCounter + 20}`;
}

/** Waits until the guest reports `address`, or any IPv4 address when `address` is omitted. */
async function guestAddress(ctx: SuiteContext, vm: Vm, address?: string): Promise<string> {
  return ctx.eventually(`the guest to report ${address ?? 'an IPv4 address'}`, async () => {
    const info = await ctx.provider.getGuestInfo(vm);
    const found = info.ipAddresses.find((item) =>
      address === undefined ? /^\d+\.\d+\.\d+\.\d+$/.test(item) : item === address,
    );
    return found ?? undefined;
  });
}

export const networkRules: readonly ConformanceRule[] = [
  // ---- network.basic --------------------------------------------------------------------------
  rule('network.basic', 'listNetworks lists networks with their kind', [], async (ctx) => {
    const networks = await ctx.provider.listNetworks();
    expect(networks.length).toBeGreaterThan(0);
    for (const network of networks) {
      expect(network.id.length).toBeGreaterThan(0);
      expect(network.name.length).toBeGreaterThan(0);
      expect(['network', 'bridge', 'distributed']).toContain(network.kind);
    }
    expect(new Set(networks.map((network) => network.id)).size).toBe(networks.length);
  }),
  rule(
    'network.basic',
    'a NIC is on the network and has the MAC asked for',
    ['core.create'],
    async (ctx) => {
      const network = await ctx.network();
      const mac = randomMac();
      const vm = await ctx.createVm('nic', { nics: [{ network: network.value, mac }] });
      expect(vm.nics).toHaveLength(1);
      const [nic] = vm.nics;
      expect(network.aliases).toContain(nic?.network);
      // The VM reports the network as the backend lists it: a Proxmox bridge stays a bridge.
      expect(nic?.connection).toBe(network.kind ?? 'network');
      expect(nic?.mac).toBe(mac);
      expect(nic?.id.length).toBeGreaterThan(0);
    },
  ),
  rule(
    'network.basic',
    'a NIC on a missing network is NotFoundError (network)',
    ['core.create'],
    async (ctx) => {
      await expectNotFound(
        () =>
          ctx.run(
            ctx.provider.create(
              ctx.spec('missing-network', { nics: [{ network: 'hvkit-conformance-missing' }] }),
            ),
          ),
        'network',
      );
    },
  ),
  rule(
    'network.basic',
    'addNics adds a NIC to a stopped VM and removeNics removes it; unknown NIC ids are NotFoundError (nic)',
    ['core.create', 'core.reconfigure'],
    async (ctx) => {
      const network = await ctx.network();
      const vm = await ctx.createVm('add-nic');
      const before = vm.nics.map((nic) => nic.id);
      const mac = randomMac();
      const added = await ctx.run(
        ctx.provider.reconfigure(vm, { addNics: [{ network: network.value, mac }] }),
      );
      const nic = added.vm.nics.find((item) => !before.includes(item.id));
      expect(nic?.mac).toBe(mac);
      expect(network.aliases).toContain(nic?.network);
      const removed = await ctx.run(ctx.provider.reconfigure(vm, { removeNics: [nic?.id ?? ''] }));
      expect(removed.vm.nics.map((item) => item.id)).toEqual(before);
      await expectNotFound(
        () => ctx.run(ctx.provider.reconfigure(vm, { removeNics: ['hvkit-conformance-missing'] })),
        'nic',
      );
    },
  ),

  // ---- network.multipleNics -------------------------------------------------------------------
  rule(
    'network.multipleNics',
    'a VM with two NICs has both, in order, with their MACs',
    ['core.create'],
    async (ctx) => {
      const network = await ctx.network();
      const macs = [randomMac(), randomMac()];
      const vm = await ctx.createVm('nics', {
        nics: macs.map((mac) => ({ network: network.value, mac })),
      });
      expect(vm.nics.map((nic) => nic.mac)).toEqual(macs);
      expect(new Set(vm.nics.map((nic) => nic.id)).size).toBe(2);
    },
  ),

  // ---- network.vlan ---------------------------------------------------------------------------
  rule('network.vlan', 'a NIC carries the VLAN asked for', ['core.create'], async (ctx) => {
    const network = await ctx.vlanNetwork();
    const vlan = ctx.fixtures.vlan ?? 100;
    const vm = await ctx.createVm('vlan', {
      nics: [{ network: network.value, connection: network.connection, vlan }],
    });
    expect(vm.nics[0]?.vlan).toBe(vlan);
    expect(network.aliases).toContain(vm.nics[0]?.network);
  }),

  // ---- network.staticIp -----------------------------------------------------------------------
  rule(
    'network.staticIp',
    'a static IPv4 address is accepted and reported by the guest once running',
    ['core.create'],
    async (ctx) => {
      const network = await ctx.network();
      const address = testAddress();
      const vm = await ctx.createVm('static-ip', {
        nics: [
          {
            network: network.value,
            ipv4: { address: `${address}/24`, gateway: '192.0.2.1' },
            dns: { servers: ['192.0.2.1'] },
          },
        ],
      });
      expect(vm.nics).toHaveLength(1);
      if (ctx.usable('core.powerOn') && ctx.usable('guest.agent')) {
        await ctx.run(ctx.provider.powerOn(vm));
        expect(await guestAddress(ctx, vm, address)).toBe(address);
        if (ctx.usable('core.describe')) {
          const got = await ctx.provider.get(vm);
          expect(got.nics[0]?.ipAddresses).toContain(address);
        }
      }
    },
  ),

  // ---- network.dhcp ---------------------------------------------------------------------------
  rule(
    'network.dhcp',
    'a DHCP NIC is accepted and gets an IPv4 address once running',
    ['core.create'],
    async (ctx) => {
      const network = await ctx.network();
      const vm = await ctx.createVm('dhcp', { nics: [{ network: network.value, ipv4: 'dhcp' }] });
      expect(vm.nics).toHaveLength(1);
      if (ctx.usable('core.powerOn') && ctx.usable('guest.agent')) {
        await ctx.run(ctx.provider.powerOn(vm));
        expect(await guestAddress(ctx, vm)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      }
    },
  ),

  // ---- network.bridge / network.distributedSwitch ---------------------------------------------
  rule(
    'network.bridge',
    'a NIC attached to a host bridge reports connection bridge',
    ['core.create'],
    async (ctx) => {
      const bridge = await ctx.network('bridge');
      const vm = await ctx.createVm('bridge', {
        nics: [{ network: bridge.value, connection: 'bridge' }],
      });
      expect(vm.nics[0]?.connection).toBe('bridge');
      expect(bridge.aliases).toContain(vm.nics[0]?.network);
    },
  ),
  rule(
    'network.distributedSwitch',
    'a NIC on a distributed port group reports connection distributed',
    ['core.create'],
    async (ctx) => {
      const group = await ctx.network('distributed');
      const vm = await ctx.createVm('dvs', {
        nics: [{ network: group.value, connection: 'distributed' }],
      });
      expect(vm.nics[0]?.connection).toBe('distributed');
      expect(group.aliases).toContain(vm.nics[0]?.network);
    },
  ),
];
