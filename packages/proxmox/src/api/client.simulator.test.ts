import { AuthenticationError, type HvkitError, NotFoundError, TransportError } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type ProxmoxSimulator,
  type PveVersion,
  startProxmoxSimulator,
} from '../simulator/index.js';
import { ProxmoxClient } from './client.js';
import type { ProxmoxCredentials } from './credentials.js';
import { looseInt } from './loose-types.js';
import {
  nodeListItemSchema,
  taskStatusSchema,
  upidSchema,
  versionSchema,
} from './response-schemas.js';

const TOKEN_ID = 'root@pam!hvkit';
const TOKEN_SECRET = '0b5c7e4e-9b1f-4d52-8e0a-3f6d2c1b9a77';
const PASSWORD = 'simulator-password';

async function failure(promise: Promise<unknown>): Promise<HvkitError> {
  try {
    await promise;
  } catch (error) {
    return error as HvkitError;
  }
  throw new Error('expected a rejection');
}

describe.each(['8.4', '9.1'] as PveVersion[])('against the simulator in PVE %s mode', (version) => {
  let simulator: ProxmoxSimulator;
  const clients: ProxmoxClient[] = [];
  let nextVmid = 200;

  beforeAll(async () => {
    simulator = await startProxmoxSimulator({
      version,
      rootPassword: PASSWORD,
      tokens: [{ tokenid: TOKEN_ID, secret: TOKEN_SECRET, privsep: false }],
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await simulator.close();
  });

  const credentials: Record<'ticket' | 'token', ProxmoxCredentials> = {
    ticket: { type: 'password', username: 'root@pam', password: PASSWORD },
    token: { type: 'token', tokenId: TOKEN_ID, secret: TOKEN_SECRET },
  };

  function connect(kind: 'ticket' | 'token', trust: 'pin' | 'ca' = 'pin'): ProxmoxClient {
    const client = new ProxmoxClient({
      host: '127.0.0.1',
      port: simulator.port,
      credentials: credentials[kind],
      tls:
        trust === 'pin'
          ? { fingerprint256: simulator.fingerprint256 }
          : { ca: simulator.certificatePem },
    });
    clients.push(client);
    return client;
  }

  async function waitForTask(client: ProxmoxClient, node: string, upid: string) {
    for (let attempt = 0; attempt < 200; attempt++) {
      const status = await client.request(
        'GET',
        '/nodes/{node}/tasks/{upid}/status',
        { node, upid },
        { schema: taskStatusSchema },
      );
      if (status.status === 'stopped') return status;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`task ${upid} did not finish`);
  }

  describe.each(['ticket', 'token'] as const)('with %s auth', (kind) => {
    it('reads /version and /nodes', async () => {
      const client = connect(kind, kind === 'ticket' ? 'pin' : 'ca');
      const about = await client.request('GET', '/version', {}, { schema: versionSchema });
      expect(about.version.startsWith(version)).toBe(true);
      const nodes = await client.request(
        'GET',
        '/nodes',
        {},
        { schema: z.array(nodeListItemSchema) },
      );
      expect(nodes.map((node) => node.node)).toContain('pve1');
    });

    it('creates a VM with a POST (CSRF token on ticket auth) and follows its task', async () => {
      const client = connect(kind);
      const free = await client.request('GET', '/cluster/nextid', {}, { schema: looseInt });
      expect(free).toBeGreaterThanOrEqual(100);
      const vmid = nextVmid++;
      const upid = await client.request(
        'POST',
        '/nodes/{node}/qemu',
        { node: 'pve1', vmid, name: `it-${kind}`, memory: 512, cores: 1 },
        { schema: upidSchema },
      );
      const status = await waitForTask(client, 'pve1', upid);
      expect(status.exitstatus).toBe('OK');
      const config = await client.request('GET', '/nodes/{node}/qemu/{vmid}/config', {
        node: 'pve1',
        vmid,
      });
      expect(config).toMatchObject({ name: `it-${kind}` });
    });

    it('maps a missing VM to NotFoundError', async () => {
      const error = await failure(
        connect(kind).request('GET', '/nodes/{node}/qemu/{vmid}/config', {
          node: 'pve1',
          vmid: 999,
        }),
      );
      expect(NotFoundError.isInstance(error)).toBe(true);
    });
  });

  // The simulator revokes tickets by issue second, so a re-login within the same second would get
  // a revoked ticket too; wait for the next second, as a real expiry would be hours later.
  async function expireTickets(): Promise<void> {
    simulator.faults.expireTickets();
    await new Promise((resolve) => setTimeout(resolve, 1020 - (Date.now() % 1000)));
  }

  it('survives expired tickets with one re-login', async () => {
    const client = connect('ticket');
    await client.request('GET', '/version');
    await expireTickets();
    await expect(client.request('GET', '/nodes')).resolves.toBeInstanceOf(Array);
    await expireTickets();
    const vmid = nextVmid++;
    const upid = await client.request(
      'POST',
      '/nodes/{node}/qemu',
      { node: 'pve1', vmid },
      { schema: upidSchema },
    );
    expect((await waitForTask(client, 'pve1', upid)).exitstatus).toBe('OK');
  });

  it('refuses a wrong token with the version’s 401', async () => {
    const client = new ProxmoxClient({
      host: '127.0.0.1',
      port: simulator.port,
      credentials: {
        type: 'token',
        tokenId: TOKEN_ID,
        secret: 'ffffffff-ffff-ffff-ffff-ffffffffffff',
      },
      tls: { fingerprint256: simulator.fingerprint256 },
    });
    clients.push(client);
    const error = await failure(client.request('GET', '/version'));
    expect(AuthenticationError.isInstance(error)).toBe(true);
    expect(JSON.stringify(error)).not.toContain('ffffffff-ffff-ffff-ffff-ffffffffffff');
  });

  it('does not re-send a POST after a 596 or a dropped connection', async () => {
    const client = connect('token');
    simulator.faults.failRequests({
      method: 'POST',
      path: '/qemu',
      status: 596,
      reason: 'Connection timed out',
    });
    const timedOut = await failure(
      client.request('POST', '/nodes/{node}/qemu', { node: 'pve1', vmid: nextVmid++ }),
    );
    expect(TransportError.isInstance(timedOut)).toBe(true);
    expect(timedOut.retryable).toBe(false);
    expect(timedOut.message).toContain('may or may not have been applied');
    simulator.faults.dropConnections({ method: 'POST', path: '/qemu' });
    const dropped = await failure(
      client.request('POST', '/nodes/{node}/qemu', { node: 'pve1', vmid: nextVmid++ }),
    );
    expect(TransportError.isInstance(dropped)).toBe(true);
    expect(dropped.retryable).toBe(false);
  });
});
