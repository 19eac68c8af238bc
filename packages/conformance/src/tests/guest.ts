import type { GuestInfo, Vm, VmSpecInput } from '@hvkit/core';
import { expect } from 'vitest';
import type { SuiteContext } from '../context.js';
import { expectNotFound, ONE_MIB_IN_GIB, randomMac } from '../helpers.js';
import { type ConformanceRule, rule } from '../rule.js';

function hostname(): string {
  return `hvkit-${Math.random().toString(36).slice(2, 10)}`;
}

/** A NIC where networks are declared, so the guest has an address to report. */
async function withNic(ctx: SuiteContext): Promise<Partial<VmSpecInput>> {
  if (!ctx.usable('network.basic')) return {};
  return { nics: [{ network: (await ctx.network()).value, mac: randomMac() }] };
}

async function guestHostname(ctx: SuiteContext, vm: Vm, expected: string): Promise<void> {
  const reported = await ctx.eventually(`the guest to report hostname ${expected}`, async () => {
    const info = await ctx.provider.getGuestInfo(vm);
    return info.hostname?.split('.')[0] === expected ? info.hostname : undefined;
  });
  expect(reported?.split('.')[0]).toBe(expected);
}

function expectOffGuest(guest: GuestInfo): void {
  expect(guest.toolsState).not.toBe('running');
  expect(guest.ipAddresses).toEqual([]);
}

export const guestRules: readonly ConformanceRule[] = [
  // ---- guest.cloudInit ------------------------------------------------------------------------
  rule(
    'guest.cloudInit',
    'cloud-init data is accepted and the guest takes the hostname from it',
    ['core.create'],
    async (ctx) => {
      const name = hostname();
      const vm = await ctx.createVm('cloud-init', {
        ...(await withNic(ctx)),
        cloudInit: {
          userData: `#cloud-config\nhostname: ${name}\n`,
          metaData: { 'instance-id': name, 'local-hostname': name },
        },
      });
      expect(vm.ref.id.length).toBeGreaterThan(0);
      if (ctx.usable('core.powerOn') && ctx.usable('guest.agent')) {
        await ctx.run(ctx.provider.powerOn(vm));
        await guestHostname(ctx, vm, name);
      }
    },
  ),

  // ---- guest.tools ----------------------------------------------------------------------------
  rule(
    'guest.tools',
    'a stopped VM reports tools not running; a running one reports them running',
    ['core.create', 'core.describe'],
    async (ctx) => {
      const vm = await ctx.createVm('tools', await withNic(ctx));
      expectOffGuest((await ctx.provider.get(vm)).guest);
      if (ctx.usable('core.powerOn')) {
        await ctx.run(ctx.provider.powerOn(vm));
        await ctx.eventually(
          'guest tools to run',
          async () => (await ctx.provider.get(vm)).guest.toolsState === 'running',
        );
      }
    },
  ),

  // ---- guest.agent ----------------------------------------------------------------------------
  rule(
    'guest.agent',
    'guest info of a stopped VM has tools not running and no addresses',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('agent-off', await withNic(ctx));
      expectOffGuest(await ctx.provider.getGuestInfo(vm));
    },
  ),
  rule(
    'guest.agent',
    'guest info of a running VM reports the agent running with its addresses',
    ['core.create', 'core.powerOn'],
    async (ctx) => {
      const vm = await ctx.createRunningVm('agent-on', await withNic(ctx));
      const info = await ctx.eventually('the guest agent to report', async () => {
        const current = await ctx.provider.getGuestInfo(vm);
        const ready =
          current.toolsState === 'running' && (vm.nics.length === 0 || current.ipAddresses.length);
        return ready ? current : undefined;
      });
      expect(info.toolsState).toBe('running');
      if (vm.nics.length > 0) {
        expect(info.ipAddresses.length).toBeGreaterThan(0);
        if (info.interfaces !== undefined) {
          expect(info.interfaces.map((item) => item.mac.toLowerCase())).toContain(vm.nics[0]?.mac);
        }
      }
    },
  ),
  rule('guest.agent', 'guest info of a missing VM is NotFoundError (vm)', [], async (ctx) => {
    await expectNotFound(() => ctx.provider.getGuestInfo(ctx.missingRef), 'vm');
  }),

  // ---- guest.customization --------------------------------------------------------------------
  rule(
    'guest.customization',
    'customization is accepted and the guest takes the hostname from it',
    ['core.create'],
    async (ctx) => {
      const name = hostname();
      const vm = await ctx.createVm('customize', {
        ...(await withNic(ctx)),
        customization: { hostname: name, domain: 'conformance.test' },
      });
      expect(vm.ref.id.length).toBeGreaterThan(0);
      if (ctx.usable('core.powerOn') && ctx.usable('guest.agent')) {
        await ctx.run(ctx.provider.powerOn(vm));
        await guestHostname(ctx, vm, name);
      }
    },
  ),

  // ---- guest.monitoring -----------------------------------------------------------------------
  rule(
    'guest.monitoring',
    'a running guest reports uptime and file-system usage',
    ['core.create', 'core.powerOn', 'guest.agent'],
    async (ctx) => {
      const vm = await ctx.createRunningVm(
        'guest-monitoring',
        ctx.usable('storage.diskCreate') ? { disks: [{ sizeGiB: ONE_MIB_IN_GIB }] } : {},
      );
      // A guest with a disk has a file system on it; one without (no disk at all) may have none.
      const needsFilesystem = vm.disks.length > 0;
      const info = await ctx.eventually('the guest to report uptime and file systems', async () => {
        const current = await ctx.provider.getGuestInfo(vm);
        const ready =
          current.uptimeSeconds !== undefined &&
          (!needsFilesystem || (current.filesystems?.length ?? 0) > 0);
        return ready ? current : undefined;
      });
      expect(info.uptimeSeconds).toBeGreaterThanOrEqual(0);
      if (needsFilesystem) expect(info.filesystems?.length).toBeGreaterThan(0);
      for (const filesystem of info.filesystems ?? []) {
        expect(filesystem.mountPoint.length).toBeGreaterThan(0);
        expect(filesystem.freeBytes).toBeLessThanOrEqual(filesystem.capacityBytes);
      }
    },
  ),
];
