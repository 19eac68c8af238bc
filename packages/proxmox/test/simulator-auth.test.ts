import { ManualClock } from '@hvkit/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ProxmoxSimulator,
  type ProxmoxSimulatorOptions,
  startProxmoxSimulator,
} from '../src/simulator/index.js';
import { SimulatorTestClient } from '../src/simulator/testing/client.js';

const SECRET = '5f0c5d1e-8a43-4a8e-9a56-0f6e3c1b2a77';
const AUDITOR_SECRET = '1d2c3b4a-0000-4000-8000-00000000beef';

const running: Array<{ simulator: ProxmoxSimulator; clients: SimulatorTestClient[] }> = [];

async function start(options: ProxmoxSimulatorOptions) {
  const simulator = await startProxmoxSimulator({
    taskDurationMs: 1,
    users: [
      { userid: 'root@pam', password: 'simulator' },
      { userid: 'ops@pve', password: 'ops-password', privileges: ['VM.Audit', 'Sys.Audit'] },
    ],
    tokens: [
      { tokenid: 'root@pam!ci', secret: SECRET, privsep: false },
      {
        tokenid: 'root@pam!auditor',
        secret: AUDITOR_SECRET,
        privsep: true,
        privileges: ['VM.Audit'],
      },
    ],
    ...options,
  });
  const client = new SimulatorTestClient(simulator);
  running.push({ simulator, clients: [client] });
  return { simulator, client };
}

function extraClient(simulator: ProxmoxSimulator): SimulatorTestClient {
  const client = new SimulatorTestClient(simulator);
  running.find((entry) => entry.simulator === simulator)?.clients.push(client);
  return client;
}

afterEach(async () => {
  for (const entry of running.splice(0)) {
    for (const client of entry.clients) await client.close();
    await entry.simulator.close();
  }
});

describe.each(['8.4', '9.1'] as const)('authentication (PVE %s)', (version) => {
  const invalidTicket =
    version === '8.4' ? 'permission denied - invalid PVE ticket' : 'Authentication failed!';
  const invalidToken = version === '8.4' ? 'invalid token value!' : 'Authentication failed!';

  it('issues a ticket and CSRF token sharing one hex timestamp', async () => {
    const { client } = await start({ version });
    const exchange = await client.login();
    expect(exchange.status).toBe(200);
    expect(client.ticket?.split(':')[2]).toBe(client.csrf?.split(':')[0]);
  });

  it('a wrong password is 401 "authentication failure" with a JSON body', async () => {
    const { client } = await start({ version });
    const exchange = await client.login('root@pam', 'nope');
    expect(exchange.status).toBe(401);
    expect(exchange.reason).toBe('authentication failure');
    expect(exchange.body).toEqual({ data: null, message: 'authentication failure\n' });
  });

  it('no credentials: 401 "No ticket" without content type, plain message body', async () => {
    const { client } = await start({ version });
    const exchange = await client.request('GET', '/nodes');
    expect(exchange.status).toBe(401);
    expect(exchange.reason).toBe('No ticket');
    expect(exchange.contentType).toBeNull();
    expect(exchange.text).toBe('No ticket\n');
  });

  it('a write with ticket auth needs the CSRF header', async () => {
    const { client } = await start({ version });
    await client.login();
    const exchange = await client.request(
      'POST',
      '/nodes/pve1/qemu',
      { vmid: 100 },
      { csrf: false },
    );
    expect(exchange.status).toBe(401);
    expect(exchange.reason).toBe('Permission denied - invalid csrf token');
    expect((await client.request('POST', '/nodes/pve1/qemu', { vmid: 100 })).status).toBe(200);
  });

  it('the ticket is also accepted in an Authorization: PVEAuthCookie header', async () => {
    const { simulator, client } = await start({ version });
    await client.login();
    const other = extraClient(simulator);
    const exchange = await other.request(
      'GET',
      '/version',
      {},
      { headers: { authorization: `PVEAuthCookie=${client.ticket}` } },
    );
    expect(exchange.status).toBe(200);
  });

  it('API tokens need no CSRF; a space may replace the first "="', async () => {
    const { client } = await start({ version });
    client.useToken('root@pam!ci', SECRET);
    expect((await client.request('POST', '/nodes/pve1/qemu', { vmid: 100 })).status).toBe(200);
    const spaced = await client.request(
      'GET',
      '/version',
      {},
      { auth: false, headers: { authorization: `PVEAPIToken root@pam!ci=${SECRET}` } },
    );
    expect(spaced.status).toBe(200);
  });

  it(`a wrong token secret is 401 "${invalidToken}"`, async () => {
    const { client } = await start({ version });
    client.useToken('root@pam!ci', 'wrong');
    const exchange = await client.request('GET', '/version');
    expect(exchange.status).toBe(401);
    expect(exchange.reason).toBe(invalidToken);
  });

  it('a token on an endpoint with allowtoken 0 is refused with 403', async () => {
    const { client } = await start({ version });
    client.useToken('root@pam!ci', SECRET);
    const exchange = await client.request('POST', '/access/ticket', {
      username: 'root@pam',
      password: 'simulator',
    });
    expect(exchange.status).toBe(403);
    expect(exchange.reason).toBe(
      "Permission check failed (URI '/access/ticket' not available with API token, need proper ticket.",
    );
  });

  it(`tickets expire after 2 hours on the injected clock: 401 "${invalidTicket}"`, async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const { client } = await start({ version, clock });
    await client.login();
    await clock.advance(2 * 3600 * 1000 - 1000);
    expect((await client.request('GET', '/version')).status).toBe(200);
    await clock.advance(2000);
    const expired = await client.request('GET', '/version');
    expect(expired.status).toBe(401);
    expect(expired.reason).toBe(invalidTicket);
    expect(expired.contentType).toBeNull();
  });

  it('renewal: posting the current ticket as password yields a fresh ticket', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const { client } = await start({ version, clock });
    await client.login();
    await clock.advance(3600 * 1000);
    const oldTicket = client.ticket as string;
    const renewed = await client.login('root@pam', oldTicket);
    expect(renewed.status).toBe(200);
    expect(client.ticket).not.toBe(oldTicket);
    await clock.advance(1.5 * 3600 * 1000);
    expect((await client.request('GET', '/version')).status).toBe(200);
    const stale = await client.request(
      'GET',
      '/version',
      {},
      { auth: false, headers: { cookie: `PVEAuthCookie=${encodeURIComponent(oldTicket)}` } },
    );
    expect(stale.status).toBe(401);
  });

  it('faults.expireTickets() invalidates every ticket issued so far', async () => {
    const { simulator, client } = await start({ version });
    await client.login();
    simulator.faults.expireTickets();
    expect((await client.request('GET', '/version')).reason).toBe(invalidTicket);
    expect((await client.login()).status).toBe(200);
    expect((await client.request('GET', '/version')).status).toBe(200);
  });

  it('permissions: a privilege-separated token and a restricted user get 403 naming path and privilege', async () => {
    const { simulator, client } = await start({ version });
    await client.login();
    await client.run('POST', '/nodes/pve1/qemu', { vmid: 100 });
    const auditor = extraClient(simulator).useToken('root@pam!auditor', AUDITOR_SECRET);
    expect((await auditor.request('GET', '/nodes/pve1/qemu/100/status/current')).status).toBe(200);
    const refused = await auditor.request('POST', '/nodes/pve1/qemu/100/status/start');
    expect(refused.status).toBe(403);
    expect(refused.reason).toBe('Permission check failed (/vms/100, VM.PowerMgmt)');
    const ops = extraClient(simulator);
    await ops.login('ops@pve', 'ops-password');
    expect((await ops.request('DELETE', '/nodes/pve1/qemu/100')).reason).toBe(
      'Permission check failed (/vms/100, VM.Allocate)',
    );
  });

  it('skiplock is root@pam only', async () => {
    const { simulator, client } = await start({ version });
    await client.login();
    await client.run('POST', '/nodes/pve1/qemu', { vmid: 100 });
    const token = extraClient(simulator).useToken('root@pam!ci', SECRET);
    const exchange = await token.request('POST', '/nodes/pve1/qemu/100/status/start', {
      skiplock: 1,
    });
    expect(exchange.status).toBe(400);
    expect((exchange.body as { errors: unknown }).errors).toEqual({
      skiplock: 'Only root may use this option.',
    });
  });

  it('a task started with a token shows user and tokenid separately', async () => {
    const { client } = await start({ version });
    client.useToken('root@pam!ci', SECRET);
    const upid = await client.data<string>('POST', '/nodes/pve1/qemu', { vmid: 100 });
    expect(upid).toMatch(/:root@pam!ci:$/);
    const status = await client.waitTask(upid);
    expect(status).toMatchObject({ user: 'root@pam', tokenid: 'ci', exitstatus: 'OK' });
  });
});
