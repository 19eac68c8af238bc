import { GuestInfoSchema, NotFoundError } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { toObjectContent } from '../soap/soap-parser.js';
import { getGuestInfo, toGuestInfo } from './guest.js';
import {
  createScratchVm,
  destroyScratchVm,
  fixtureReturnval,
  runVmTask,
  uniqueName,
  vcsimContext,
} from './ops-test-support.js';

describe('guest info mapping', () => {
  it('maps the recorded guest of a customized VM: primary address first, NICs by MAC', async () => {
    const [result] = await fixtureReturnval('VirtualMachine-guest-after-customize-poweron.res.xml');
    const [object] = (result as { objects: unknown[] }).objects;
    const guest = toGuestInfo(toObjectContent(object), 'vc');
    expect(guest).toEqual({
      toolsState: 'unknown',
      hostname: 'custom-host',
      ipAddresses: ['192.168.10.10', '192.168.10.11'],
      interfaces: [
        { mac: '00:0c:29:2e:63:61', ipAddresses: ['192.168.10.10'] },
        { mac: '00:0c:29:2f:63:61', ipAddresses: ['192.168.10.11'] },
      ],
    });
    expect(GuestInfoSchema.parse(guest)).toEqual(guest);
  });

  it('maps tools state, OS, file systems and the uptime of a running VM', () => {
    const guest = toGuestInfo(
      {
        obj: { type: 'VirtualMachine', value: 'vm-1' },
        properties: {
          'guest.toolsRunningStatus': 'guestToolsRunning',
          'guest.toolsStatus': 'toolsOk',
          'guest.guestFullName': 'Ubuntu Linux (64-bit)',
          'guest.net': [],
          'guest.disk': [{ diskPath: '/', capacity: '10737418240', freeSpace: '5368709120' }],
          'runtime.powerState': 'poweredOn',
          'summary.quickStats.uptimeSeconds': 3600,
        },
        missing: [],
      },
      'vc',
    );
    expect(guest).toEqual({
      toolsState: 'running',
      osName: 'Ubuntu Linux (64-bit)',
      ipAddresses: [],
      interfaces: [],
      filesystems: [{ mountPoint: '/', capacityBytes: 10737418240, freeBytes: 5368709120 }],
      uptimeSeconds: 3600,
    });
    const off = toGuestInfo(
      {
        obj: { type: 'VirtualMachine', value: 'vm-1' },
        properties: {
          'guest.toolsStatus': 'toolsNotInstalled',
          'runtime.powerState': 'poweredOff',
          'summary.quickStats.uptimeSeconds': 12,
        },
        missing: [],
      },
      'vc',
    );
    expect(off).toEqual({ toolsState: 'not-installed', ipAddresses: [] });
  });
});

const vcsim = requireVcsim();

describe.skipIf(!vcsim)('getGuestInfo on vcsim', () => {
  const ctx = vcsimContext(vcsim as NonNullable<typeof vcsim>);
  let vm = '';
  beforeAll(async () => {
    vm = await createScratchVm(ctx, uniqueName('guest'));
  });
  afterAll(async () => {
    if (vm !== '') await destroyScratchVm(ctx, vm);
    await ctx.client.close();
  });

  it('a stopped VM reports tools not running and no addresses, its NIC by MAC', async () => {
    const guest = await getGuestInfo(ctx, vm);
    expect(guest.toolsState).not.toBe('running');
    expect(guest.ipAddresses).toEqual([]);
    expect(guest.interfaces).toHaveLength(1);
    expect(guest.interfaces?.[0]?.mac).toMatch(/^00:0c:29(:[0-9a-f]{2}){3}$/);
  });

  it("reports what vcsim's SET.guest.* hook sets: address, host name, tools", async () => {
    await runVmTask(ctx, vm, 'PowerOnVM_Task');
    const set = (key: string, value: string) => ({
      $type: 'OptionValue',
      key: `SET.guest.${key}`,
      value: { $xsd: 'string' as const, value },
    });
    await runVmTask(ctx, vm, 'ReconfigVM_Task', [
      [
        'spec',
        {
          $type: 'VirtualMachineConfigSpec',
          extraConfig: [
            set('ipAddress', '192.0.2.55'),
            set('hostName', 'guest-under-test'),
            set('toolsRunningStatus', 'guestToolsRunning'),
            // The mapper trusts toolsStatus' "not installed" over the running status.
            set('toolsStatus', 'toolsOk'),
          ],
        },
        'VirtualMachineConfigSpec',
      ],
    ]);
    const guest = await getGuestInfo(ctx, vm);
    expect(guest.toolsState).toBe('running');
    expect(guest.hostname).toBe('guest-under-test');
    expect(guest.ipAddresses).toEqual(['192.0.2.55']);
    expect(guest.interfaces?.[0]?.ipAddresses).toEqual(['192.0.2.55']);
    expect(GuestInfoSchema.parse(guest)).toEqual(guest);
  });

  it('a missing VM is NotFoundError (vm)', async () => {
    const error = await getGuestInfo(ctx, 'vm-404404').catch((caught: unknown) => caught);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).resource).toBe('vm');
  });
});
