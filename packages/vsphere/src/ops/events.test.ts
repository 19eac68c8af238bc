import { NotFoundError } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { eventTypeOf, listEvents, toVmEvent } from './events.js';
import {
  createScratchVm,
  destroyScratchVm,
  fixtureReturnval,
  runVmTask,
  uniqueName,
  vcsimContext,
} from './ops-test-support.js';

describe('event mapping', () => {
  it('maps the recorded QueryEvents answer: key, ISO time, vm-<verb> type, message, VM', async () => {
    const [first, ...rest] = await fixtureReturnval('QueryEvents-vm.res.xml');
    expect(toVmEvent(first, 'vc')).toEqual({
      id: '119',
      time: '2026-11-21T12:16:37.846Z',
      type: 'vm-powered-off',
      vm: { provider: 'vc', id: 'vm-69' },
      message: 'sdk-vm1 on DC0_C0_H2 in DC0 is powered off',
    });
    const types = rest.map((event) => toVmEvent(event, 'vc')?.type);
    expect(types).toContain('vm-created');
    for (const type of types) expect(type).toMatch(/^vm-/);
  });

  it('names types in kebab case, VM events with vm-, extended events by their type id', () => {
    const onVm = { vm: { name: 'a', vm: { type: 'VirtualMachine', value: 'vm-1' } } };
    expect(eventTypeOf({ $type: 'VmPoweredOnEvent', ...onVm })).toBe('vm-powered-on');
    expect(eventTypeOf({ $type: 'TaskEvent', ...onVm })).toBe('vm-task');
    expect(eventTypeOf({ $type: 'HostConnectedEvent' })).toBe('host-connected');
    expect(eventTypeOf({ $type: 'VmDasBeingResetEvent', ...onVm })).toBe('vm-das-being-reset');
    expect(
      eventTypeOf({
        $type: 'EventEx',
        eventTypeId: 'com.vmware.vc.vm.VmStateRevertedToSnapshot',
        ...onVm,
      }),
    ).toBe('vm-state-reverted-to-snapshot');
    expect(eventTypeOf({ $type: 'UserLoginSessionEvent' })).toBe('user-login-session');
    expect(toVmEvent({ $type: 'VmEvent' }, 'vc')).toBeUndefined();
  });
});

const vcsim = requireVcsim();

describe.skipIf(!vcsim)('listEvents on vcsim', () => {
  const ctx = vcsimContext(vcsim as NonNullable<typeof vcsim>);
  let vm = '';
  beforeAll(async () => {
    vm = await createScratchVm(ctx, uniqueName('events'));
    await runVmTask(ctx, vm, 'PowerOnVM_Task');
    await runVmTask(ctx, vm, 'PowerOffVM_Task');
  });
  afterAll(async () => {
    if (vm !== '') await destroyScratchVm(ctx, vm);
    await ctx.client.close();
  });

  it("lists a VM's events newest first, all about it, limited and bounded by since", async () => {
    const ref = { provider: 'vcsim', id: vm };
    const events = await listEvents(ctx, { vm: ref, limit: 100 });
    expect(events.map((event) => event.type)).toEqual(
      expect.arrayContaining(['vm-created', 'vm-powered-on', 'vm-powered-off']),
    );
    for (const event of events) {
      expect(event.vm).toEqual({ provider: 'vcsim', id: vm });
      expect(event.type).toMatch(/^vm-/);
      expect(event.message.length).toBeGreaterThan(0);
    }
    const times = events.map((event) => Date.parse(event.time));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(events[0]?.type).toBe('vm-powered-off');
    const [newest] = await listEvents(ctx, { vm: ref, limit: 1 });
    expect(newest?.id).toBe(events[0]?.id);
    // vcsim ignores the time filter: the client-side bound is what keeps older events out.
    const since = events[0]?.time ?? '';
    const recent = await listEvents(ctx, { vm: ref, since });
    expect(recent.length).toBeGreaterThan(0);
    expect(recent.length).toBeLessThan(events.length);
    for (const event of recent)
      expect(Date.parse(event.time)).toBeGreaterThanOrEqual(Date.parse(since));
  });

  it('lists events of the whole inventory up to the limit', async () => {
    const any = await listEvents(ctx, { limit: 2 });
    expect(any).toHaveLength(2);
  });

  it('events of a missing VM are NotFoundError (vm)', async () => {
    const error = await listEvents(ctx, { vm: { provider: 'vcsim', id: 'vm-404404' } }).catch(
      (caught: unknown) => caught,
    );
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).resource).toBe('vm');
  });
});
