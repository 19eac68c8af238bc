/**
 * Guest power operations through the real provider against the local fake vim25 server:
 * RebootGuest (vcsim does not implement it) and ShutdownGuest with vCenter's VMware Tools rule
 * (vcsim does not check tools), and the shutdown ending when WaitForUpdatesEx reports poweredOff.
 */
import { ConflictError, ProviderApiError, systemClock } from '@hvkit/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createVsphereProvider } from '../src/vsphere-provider.js';
import { decodeTaskId } from '../src/vsphere-task-id.js';
import {
  elementText,
  FAKE_PASSWORD,
  FakeVimServer,
  loadFixture,
  sessionHandlers,
  soapResponse,
  watchHandlers,
} from './fake-vim-server.js';

const VM_REF = { provider: 'vc', id: 'vm-42' };
const TOOLS_RUNNING = loadFixture(
  'synthetic-vcenter-RetrievePropertiesEx-VM-tools-running.res.xml',
);
const TOOLS_NOT_RUNNING = loadFixture(
  'synthetic-vcenter-RetrievePropertiesEx-VM-tools-not-running.res.xml',
);

const servers: FakeVimServer[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const server of servers.splice(0)) await server.close();
});

async function guestServer(vmProperties: typeof TOOLS_RUNNING) {
  const server = await FakeVimServer.start({
    ...sessionHandlers(),
    RetrievePropertiesEx: vmProperties,
    // vCenter answers RebootGuest like ShutdownGuest: an empty response (the guest reboots later).
    RebootGuest: soapResponse('RebootGuest'),
    ShutdownGuest: loadFixture('ShutdownGuest.res.xml'),
    Logout: soapResponse('Logout'),
  });
  servers.push(server);
  const provider = createVsphereProvider({
    name: 'vc',
    url: server.url,
    username: 'administrator@vsphere.local',
    password: FAKE_PASSWORD,
    clock: systemClock,
  });
  closers.push(() => provider.close());
  return { server, provider };
}

function propertiesAsked(body: string): string[] {
  return [...body.matchAll(/<pathSet>([^<]*)<\/pathSet>/g)].map((match) => match[1] as string);
}

describe('reboot (RebootGuest)', () => {
  it('with VMware Tools running sends RebootGuest on the VM and the task succeeds', async () => {
    const { server, provider } = await guestServer(TOOLS_RUNNING);
    const task = provider.reboot(VM_REF);
    await expect(task).resolves.toBeUndefined();
    expect(task.state).toBe('succeeded');
    expect(decodeTaskId(task.id ?? '', 'vc')).toMatchObject({ k: 'vm.reboot', v: 'vm-42' });
    expect(server.methods()).toEqual([
      'RetrieveServiceContent',
      'Login',
      'RetrievePropertiesEx',
      'RebootGuest',
    ]);
    const read = server.calls('RetrievePropertiesEx')[0]?.body ?? '';
    expect(read).toContain('<obj type="VirtualMachine">vm-42</obj>');
    expect(propertiesAsked(read)).toEqual(
      expect.arrayContaining(['runtime.powerState', 'guest.toolsRunningStatus']),
    );
    expect(server.calls('RebootGuest')[0]?.target).toEqual({
      type: 'VirtualMachine',
      value: 'vm-42',
    });
    expect(server.unhandled).toEqual([]);
  });

  it('without running VMware Tools is ConflictError invalid-state and sends no RebootGuest', async () => {
    const { server, provider } = await guestServer(TOOLS_NOT_RUNNING);
    const error = await provider.reboot(VM_REF).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe('invalid-state');
    expect((error as ConflictError).details).toMatchObject({
      toolsRunningStatus: 'guestToolsNotRunning',
    });
    expect(server.calls('RebootGuest')).toEqual([]);
    expect(server.methods()).toEqual(['RetrieveServiceContent', 'Login', 'RetrievePropertiesEx']);
  });

  it("vcsim's recorded MethodNotFound for RebootGuest is ProviderApiError with fault MethodNotFound", async () => {
    const { server, provider } = await guestServer(TOOLS_RUNNING);
    server.on('RebootGuest', loadFixture('fault-MethodNotFound-RebootGuest.res.xml', 'soap'));
    const error = await provider.reboot(VM_REF).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(ProviderApiError.isInstance(error)).toBe(true);
    expect((error as ProviderApiError).fault).toBe('MethodNotFound');
    expect((error as ProviderApiError).provider).toBe('vc');
    expect(String((error as Error).message)).not.toContain(FAKE_PASSWORD);
    expect(server.calls('RebootGuest')).toHaveLength(1);
  });
});

describe('shutdown (ShutdownGuest)', () => {
  it('with VMware Tools running sends ShutdownGuest; the task ends when WaitForUpdatesEx reports poweredOff', async () => {
    const { server, provider } = await guestServer(TOOLS_RUNNING);
    for (const [method, response] of Object.entries(watchHandlers())) server.on(method, response);
    server.on('CreateFilter', loadFixture('CreateFilter-VM-powerState.res.xml'));
    server.sequence('WaitForUpdatesEx', [
      loadFixture('synthetic-vcenter-WaitForUpdatesEx-VM-poweredOn.res.xml'),
      loadFixture('WaitForUpdatesEx-timeout.res.xml'),
      loadFixture('synthetic-vcenter-WaitForUpdatesEx-VM-poweredOff.res.xml'),
    ]);
    const task = provider.shutdown(VM_REF);
    const states: string[] = [];
    for await (const event of task.progress()) states.push(event.state);
    expect(states).toEqual(['running', 'succeeded']);
    await expect(task).resolves.toBeUndefined();
    expect(decodeTaskId(task.id ?? '', 'vc')).toMatchObject({
      k: 'vm.shutdown',
      v: 'vm-42',
      ps: 'poweredOff',
    });
    await vi.waitFor(() => expect(server.calls('DestroyPropertyCollector')).toHaveLength(1));
    expect(server.methods()).toEqual([
      'RetrieveServiceContent',
      'Login',
      'RetrievePropertiesEx',
      'ShutdownGuest',
      'CreatePropertyCollector',
      'CreateFilter',
      'WaitForUpdatesEx',
      'WaitForUpdatesEx',
      'WaitForUpdatesEx',
      'DestroyPropertyCollector',
    ]);
    expect(server.calls('ShutdownGuest')[0]?.target).toEqual({
      type: 'VirtualMachine',
      value: 'vm-42',
    });
    const filter = server.calls('CreateFilter')[0]?.body ?? '';
    expect(filter).toContain('<obj type="VirtualMachine">vm-42</obj>');
    expect(propertiesAsked(filter)).toEqual(['runtime.powerState']);
    expect(
      server.calls('WaitForUpdatesEx').map((call) => elementText(call.body, 'version')),
    ).toEqual(['', '1', '1']);
    expect(server.unhandled).toEqual([]);
  });

  it('without running VMware Tools is ConflictError invalid-state and sends no ShutdownGuest', async () => {
    const { server, provider } = await guestServer(TOOLS_NOT_RUNNING);
    const error = await provider.shutdown(VM_REF).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe('invalid-state');
    expect(server.calls('ShutdownGuest')).toEqual([]);
  });
});
