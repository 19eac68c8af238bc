import { type ConflictError, NotFoundError, ProviderApiError } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { getConsole, toConsoleAccess } from './console.js';
import {
  createScratchVm,
  destroyScratchVm,
  fixtureReturnval,
  opsFixture,
  runVmTask,
  type ScriptedAnswer,
  scriptedContext,
  uniqueName,
  vcsimContext,
} from './ops-test-support.js';

const powerState = (state: string): ScriptedAnswer => ({
  method: 'RetrievePropertiesEx',
  status: 200,
  body: `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-42</obj><propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">${state}</val></propSet></objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>`,
});

const vmName = (name: string): ScriptedAnswer => ({
  method: 'RetrievePropertiesEx',
  status: 200,
  body: `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-42</obj><propSet><name>name</name><val xsi:type="xsd:string">${name.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}</val></propSet></objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>`,
});

const SYNTHETIC_TICKET = '52a6f1c4-synthetic-webmks-ticket-9c1e';

describe('console access from a ticket', () => {
  it('maps the synthetic vCenter ticket: wss://host:port/ticket/, the ticket kept out of URLs', async () => {
    const [ticket] = await fixtureReturnval('AcquireTicket-webmks.synthetic-vcenter.res.xml');
    const access = toConsoleAccess(ticket, new URL('https://vc.lab.example/sdk'), 'vc');
    expect(access).toEqual({
      protocol: 'webmks',
      url: 'wss://esx-01.lab.example:443/ticket/',
      websocketUrl: 'wss://esx-01.lab.example:443/ticket/',
      ticket: SYNTHETIC_TICKET,
    });
    expect(access.url).not.toContain(SYNTHETIC_TICKET);
    expect(access.websocketUrl).not.toContain(SYNTHETIC_TICKET);
  });

  it('falls back to the endpoint host and port 443; brackets an IPv6 host', async () => {
    const [ticket] = await fixtureReturnval(
      'AcquireTicket-webmks.synthetic-vcenter-no-host.res.xml',
    );
    const access = toConsoleAccess(ticket, new URL('https://vc.lab.example:8443/sdk'), 'vc');
    expect(access.websocketUrl).toBe('wss://vc.lab.example:443/ticket/');
    expect(access.ticket).toBe('cst-VCT-synthetic+/=ticket');
    expect(
      toConsoleAccess(
        { ticket: 't', host: 'fd00::5', port: '9443' },
        new URL('https://vc/sdk'),
        'vc',
      ).websocketUrl,
    ).toBe('wss://[fd00::5]:9443/ticket/');
    expect(
      toConsoleAccess(
        { ticket: 't', url: 'wss://esx-9:902/ticket/t' },
        new URL('https://vc/sdk'),
        'vc',
      ).websocketUrl,
    ).toBe('wss://esx-9:902/ticket/');
  });

  it('an answer without a ticket is ProviderApiError', () => {
    expect(() => toConsoleAccess({ host: 'esx' }, new URL('https://vc/sdk'), 'vc')).toThrow(
      /no ticket/,
    );
  });
});

describe('getConsole against scripted answers', () => {
  it('asks a running VM for a webmks ticket', async () => {
    const { ctx, requests } = scriptedContext([
      powerState('poweredOn'),
      { method: 'AcquireTicket', ...opsFixture('AcquireTicket-webmks.synthetic-vcenter.res.xml') },
    ]);
    const access = await getConsole(ctx, 'vm-42');
    expect(access.ticket).toBe(SYNTHETIC_TICKET);
    const sent = requests.find((request) => request.method === 'AcquireTicket')?.body ?? '';
    expect(sent).toContain(
      '<_this type="VirtualMachine">vm-42</_this><ticketType>webmks</ticketType>',
    );
    await ctx.client.close();
  });

  it("on vcsim's recorded MethodNotFound it falls back to the web console with a clone ticket", async () => {
    const { ctx, requests } = scriptedContext([
      powerState('poweredOn'),
      { method: 'AcquireTicket', ...opsFixture('AcquireTicket-webmks.res.xml') },
      vmName('web & "console"'),
      { method: 'AcquireCloneTicket', ...opsFixture('AcquireCloneTicket.res.xml') },
    ]);
    const access = await getConsole(ctx, 'vm-42');
    expect(access.protocol).toBe('webmks');
    expect(access.ticket).toBe('28effc2f-b624-497a-aabb-f5f1a5bb7575');
    expect(access.url).toBe(
      'https://vcenter.test/ui/webconsole.html?vmId=vm-42&vmName=web+%26+%22console%22&serverGuid=&host=vcenter.test&locale=en_US',
    );
    expect(access.url).not.toContain(access.ticket ?? '');
    expect(access.websocketUrl).toBeUndefined();
    expect(requests.map((request) => request.method)).toContain('AcquireCloneTicket');
    await ctx.client.close();
  });

  it('another fault of AcquireTicket is not hidden by the fallback', async () => {
    const { ctx } = scriptedContext([
      powerState('poweredOn'),
      { method: 'AcquireTicket', ...opsFixture('fault-NoPermission.synthetic-vcenter.res.xml') },
    ]);
    const error = await getConsole(ctx, 'vm-42').catch((caught: unknown) => caught);
    expect(ProviderApiError.isInstance(error)).toBe(true);
    expect((error as ProviderApiError).fault).toBe('NoPermission');
    await ctx.client.close();
  });

  it('a stopped VM is ConflictError (invalid-power-state) without asking for a ticket', async () => {
    const { ctx, requests } = scriptedContext([powerState('poweredOff')]);
    const error = await getConsole(ctx, 'vm-42').catch((caught: unknown) => caught);
    expect((error as ConflictError).reason).toBe('invalid-power-state');
    expect(requests.map((request) => request.method)).not.toContain('AcquireTicket');
    await ctx.client.close();
  });
});

const vcsim = requireVcsim();

describe.skipIf(!vcsim)('getConsole on vcsim', () => {
  const ctx = vcsimContext(vcsim as NonNullable<typeof vcsim>);
  let vm = '';
  beforeAll(async () => {
    vm = await createScratchVm(ctx, uniqueName('console'));
  });
  afterAll(async () => {
    if (vm !== '') await destroyScratchVm(ctx, vm);
    await ctx.client.close();
  });

  it('stopped: ConflictError; running: the web console (vcsim has no AcquireTicket); missing: NotFound', async () => {
    const stopped = await getConsole(ctx, vm).catch((error: unknown) => error);
    expect((stopped as ConflictError).reason).toBe('invalid-power-state');
    await runVmTask(ctx, vm, 'PowerOnVM_Task');
    const running = await getConsole(ctx, vm);
    expect(running.url).toContain(`/ui/webconsole.html?vmId=${vm}&`);
    expect(running.ticket?.length).toBeGreaterThan(10);
    expect(running.url).not.toContain(running.ticket ?? '');
    const missing = await getConsole(ctx, 'vm-404404').catch((error: unknown) => error);
    expect(NotFoundError.isInstance(missing)).toBe(true);
    expect((missing as NotFoundError).resource).toBe('vm');
  });
});
