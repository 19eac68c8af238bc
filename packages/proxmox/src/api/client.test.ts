import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  AuthenticationError,
  ConflictError,
  type HvkitError,
  InvalidSpecError,
  type Logger,
  ManualClock,
  NotFoundError,
  ProviderApiError,
  TransportError,
} from '@hvkit/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ProxmoxClient, type ProxmoxClientOptions } from './client.js';
import { looseBool, looseInt } from './loose-types.js';
import {
  createSelfSignedCertificate,
  type RecordedRequest,
  replyJson,
  startTestHttpsServer,
  type TestCertificate,
  type TestHttpsServer,
} from './test-https-server.js';

const PASSWORD = 'correct-horse-battery-staple';
const TOKEN_ID = 'automation@pve!hvkit';
const TOKEN_SECRET = '6f1c2a7e-8d4b-4c3a-9e2f-0a1b2c3d4e5f';
const UPID = 'UPID:pve:00061CB3:010BA69C:64EFECB0:qmstart:100:root@pam:';

type Route = (request: RecordedRequest, response: ServerResponse) => void;

/** A small Proxmox stand-in: tickets, CSRF, tokens, the 401 texts of both versions, routes. */
class FakeProxmox {
  tickets = new Map<string, string>();
  /** 401 reason for a bad ticket or token: PVE ≤ 9.1.4 or ≥ 9.1.5 wording. */
  version: '8' | '9.1.5' = '9.1.5';
  routes = new Map<string, Route>();
  logins: { username: string; password: string }[] = [];
  #serial = 0;

  issue(username: string): { ticket: string; csrf: string } {
    const epoch = (0x6000_0000 + this.#serial++).toString(16).toUpperCase();
    const ticket = `PVE:${username}:${epoch}::${randomBytes(24).toString('base64')}`;
    const csrf = `${epoch}:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
    this.tickets.set(ticket, csrf);
    return { ticket, csrf };
  }

  expireAll(): void {
    this.tickets.clear();
  }

  /** The 401 reason phrase for a request the auth handler refuses, else undefined. */
  #authRefusal(request: RecordedRequest): string | undefined {
    const authorization = request.headers.authorization;
    const cookie = /PVEAuthCookie=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
    if (authorization?.startsWith('PVEAPIToken=')) {
      if (authorization === `PVEAPIToken=${TOKEN_ID}=${TOKEN_SECRET}`) return undefined;
      return this.version === '8' ? 'invalid token value!' : 'Authentication failed!';
    }
    if (cookie === undefined) return 'No ticket';
    const csrf = this.tickets.get(decodeURIComponent(cookie));
    if (csrf === undefined) {
      return this.version === '8'
        ? 'permission denied - invalid PVE ticket'
        : 'Authentication failed!';
    }
    if (request.method !== 'GET' && request.headers.csrfpreventiontoken !== csrf) {
      return 'Permission denied - invalid csrf token';
    }
    return undefined;
  }

  handler = (request: RecordedRequest, response: ServerResponse): void => {
    const url = new URL(request.url, 'https://fake');
    const path = url.pathname.replace(/^\/api2\/json/, '');
    if (request.method === 'POST' && path === '/access/ticket') {
      const form = new URLSearchParams(request.body);
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      this.logins.push({ username, password });
      if (username === 'tfa@pam' && password === PASSWORD) {
        replyJson(response, 200, {
          data: {
            username,
            ticket: 'PVE:!tfa!tfa@pam:6000000A::c2ln',
            CSRFPreventionToken: 'x',
            NeedTFA: 1,
          },
        });
        return;
      }
      if (password === PASSWORD || this.tickets.has(password)) {
        const { ticket, csrf } = this.issue(username);
        replyJson(response, 200, {
          data: { username, ticket, CSRFPreventionToken: csrf, cap: {} },
        });
      } else {
        replyJson(response, 401, { data: null }, 'authentication failure');
      }
      return;
    }
    const refusal = this.#authRefusal(request);
    if (refusal !== undefined) {
      response.writeHead(401, refusal);
      response.end();
      return;
    }
    const route = this.routes.get(`${request.method} ${path}`);
    if (!route) {
      replyJson(
        response,
        501,
        { data: null },
        `Method '${request.method} ${path}' not implemented`,
      );
      return;
    }
    route(request, response);
  };
}

let certificate: TestCertificate;
let server: TestHttpsServer;
let fake: FakeProxmox;
const clients: ProxmoxClient[] = [];

function makeClient(overrides: Partial<ProxmoxClientOptions> = {}): ProxmoxClient {
  const client = new ProxmoxClient({
    host: '127.0.0.1',
    port: server.port,
    credentials: { type: 'password', username: 'root@pam', password: PASSWORD },
    tls: { fingerprint256: certificate.fingerprint256 },
    ...overrides,
  });
  clients.push(client);
  return client;
}

function tokenClient(secret = TOKEN_SECRET): ProxmoxClient {
  return makeClient({ credentials: { type: 'token', tokenId: TOKEN_ID, secret } });
}

async function failure(promise: Promise<unknown>): Promise<HvkitError> {
  try {
    await promise;
  } catch (error) {
    return error as HvkitError;
  }
  throw new Error('expected a rejection');
}

function apiRequests(path: string): RecordedRequest[] {
  return server.requests.filter((request) => request.url.split('?')[0] === `/api2/json${path}`);
}

beforeAll(async () => {
  certificate = await createSelfSignedCertificate();
  server = await startTestHttpsServer(certificate);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await server.close();
});

beforeEach(() => {
  fake = new FakeProxmox();
  server.handle(fake.handler);
  server.requests.length = 0;
  fake.routes.set('GET /version', (_request, response) =>
    replyJson(response, 200, { data: { version: '9.1.5', release: '9.1', repoid: 'abc' } }),
  );
  fake.routes.set('POST /nodes/pve/qemu/100/status/start', (_request, response) =>
    replyJson(response, 200, { data: UPID }),
  );
});

describe('API token auth', () => {
  it('sends the PVEAPIToken header and no cookie or CSRF token', async () => {
    const client = tokenClient();
    await expect(client.request('GET', '/version')).resolves.toMatchObject({ version: '9.1.5' });
    await expect(
      client.request('POST', '/nodes/{node}/qemu/{vmid}/status/start', { node: 'pve', vmid: 100 }),
    ).resolves.toBe(UPID);
    for (const request of server.requests) {
      expect(request.headers.authorization).toBe(`PVEAPIToken=${TOKEN_ID}=${TOKEN_SECRET}`);
      expect(request.headers.cookie).toBeUndefined();
      expect(request.headers.csrfpreventiontoken).toBeUndefined();
    }
    expect(fake.logins).toHaveLength(0);
  });

  it.each(['8', '9.1.5'] as const)(
    'a refused token (PVE %s text) is an AuthenticationError without a retry',
    async (version) => {
      fake.version = version;
      const client = tokenClient('00000000-0000-0000-0000-000000000000');
      const error = await failure(client.request('GET', '/version'));
      expect(AuthenticationError.isInstance(error)).toBe(true);
      expect(error.message).toContain(
        version === '8' ? 'invalid token value!' : 'Authentication failed!',
      );
      expect(apiRequests('/version')).toHaveLength(1);
      expect(JSON.stringify(error)).not.toContain('00000000-0000-0000-0000-000000000000');
      expect(error.message).not.toContain('00000000-0000-0000-0000-000000000000');
    },
  );
});

describe('ticket auth', () => {
  it('logs in once, sends the cookie, and the CSRF token only on writes', async () => {
    const client = makeClient();
    await client.request('GET', '/version');
    await client.request('POST', '/nodes/pve/qemu/100/status/start');
    await client.request('GET', '/version');
    expect(fake.logins).toEqual([{ username: 'root@pam', password: PASSWORD }]);
    const login = apiRequests('/access/ticket')[0];
    expect(login?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(login?.body).toBe(`username=root%40pam&password=${PASSWORD}`);
    const [ticket] = [...fake.tickets.keys()];
    const [getVersion, start] = [
      apiRequests('/version')[0],
      apiRequests('/nodes/pve/qemu/100/status/start')[0],
    ];
    expect(getVersion?.headers.cookie).toBe(`PVEAuthCookie=${ticket}`);
    expect(getVersion?.headers.csrfpreventiontoken).toBeUndefined();
    expect(start?.headers.csrfpreventiontoken).toBe(fake.tickets.get(ticket as string));
  });

  it('renews the ticket proactively, posting the current ticket as the password', async () => {
    const clock = new ManualClock();
    const client = makeClient({ clock });
    await client.request('GET', '/version');
    const [first] = [...fake.tickets.keys()];
    await clock.advance(59 * 60 * 1000);
    await client.request('GET', '/version');
    expect(fake.logins).toHaveLength(1);
    await clock.advance(2 * 60 * 1000);
    await client.request('POST', '/nodes/pve/qemu/100/status/start');
    expect(fake.logins).toEqual([
      { username: 'root@pam', password: PASSWORD },
      { username: 'root@pam', password: first },
    ]);
    const start = apiRequests('/nodes/pve/qemu/100/status/start')[0];
    expect(start?.headers.cookie).not.toContain(first);
  });

  it('logs in with the password when the ticket is past its 2-hour lifetime', async () => {
    const clock = new ManualClock();
    const client = makeClient({ clock });
    await client.request('GET', '/version');
    await clock.advance(2 * 60 * 60 * 1000 + 1);
    await client.request('GET', '/version');
    expect(fake.logins.map((login) => login.password)).toEqual([PASSWORD, PASSWORD]);
  });

  it('shares one login between concurrent requests', async () => {
    const client = makeClient();
    await Promise.all([1, 2, 3, 4].map(() => client.request('GET', '/version')));
    expect(fake.logins).toHaveLength(1);
  });

  it.each(['8', '9.1.5'] as const)(
    'on a 401 (PVE %s text) logs in again once and repeats the request once',
    async (version) => {
      fake.version = version;
      const client = makeClient();
      await client.request('GET', '/version');
      fake.expireAll();
      await expect(client.request('GET', '/version')).resolves.toMatchObject({ version: '9.1.5' });
      fake.expireAll();
      await expect(client.request('POST', '/nodes/pve/qemu/100/status/start')).resolves.toBe(UPID);
      expect(fake.logins.map((login) => login.password)).toEqual([PASSWORD, PASSWORD, PASSWORD]);
      expect(apiRequests('/version')).toHaveLength(3);
      expect(apiRequests('/nodes/pve/qemu/100/status/start')).toHaveLength(2);
    },
  );

  it('gives up after one re-login when the server keeps refusing', async () => {
    const client = makeClient();
    await client.request('GET', '/version');
    fake.routes.set('GET /nodes', (_request, response) => {
      response.writeHead(401, 'Authentication failed!');
      response.end();
    });
    const error = await failure(client.request('GET', '/nodes'));
    expect(AuthenticationError.isInstance(error)).toBe(true);
    expect(error.message).toContain('Authentication failed!');
    expect(apiRequests('/nodes')).toHaveLength(2);
    expect(fake.logins).toHaveLength(2);
  });

  it('an account that needs a second factor is an AuthenticationError pointing to tokens', async () => {
    const client = makeClient({
      credentials: { type: 'password', username: 'tfa@pam', password: PASSWORD },
    });
    const error = await failure(client.request('GET', '/version'));
    expect(AuthenticationError.isInstance(error)).toBe(true);
    expect(error.message).toContain('second factor');
    expect(apiRequests('/version')).toHaveLength(0);
  });

  it('a refused password is an AuthenticationError that does not contain the password', async () => {
    const client = makeClient({
      credentials: { type: 'password', username: 'root@pam', password: 'wrong-password-123' },
    });
    const error = await failure(client.request('GET', '/version'));
    expect(AuthenticationError.isInstance(error)).toBe(true);
    expect(error.message).toContain('authentication failure');
    expect(JSON.stringify(error)).not.toContain('wrong-password-123');
    expect(String(error.stack)).not.toContain('wrong-password-123');
  });
});

describe('requests that may have been applied are never re-sent', () => {
  it('a dropped connection on a POST is reported as an unknown outcome, sent once', async () => {
    const dropped: RecordedRequest[] = [];
    server.handle((request, response) => {
      if (request.method === 'POST' && request.url.endsWith('/nodes/pve/qemu')) {
        response.socket?.destroy();
        dropped.push(request);
        return;
      }
      fake.handler(request, response);
    });
    const client = tokenClient();
    const error = await failure(client.request('POST', '/nodes/pve/qemu', { vmid: 100 }));
    expect(TransportError.isInstance(error)).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('may or may not have been applied');
    expect(error.details.outcome).toBe('unknown');
    expect(dropped).toHaveLength(1);
  });

  it('a dropped connection on a GET is retryable', async () => {
    server.handle((request, response) => {
      if (request.url.endsWith('/nodes')) return void response.socket?.destroy();
      fake.handler(request, response);
    });
    const error = await failure(tokenClient().request('GET', '/nodes'));
    expect(TransportError.isInstance(error)).toBe(true);
    expect(error.retryable).toBe(true);
    expect(apiRequests('/nodes')).toHaveLength(1);
  });

  it('596 on a POST: not retryable, unknown outcome, sent once; on a GET: retryable', async () => {
    for (const method of ['POST', 'GET'] as const) {
      fake.routes.set(`${method} /nodes/pve/qemu/100/config`, (_request, response) => {
        response.writeHead(596, 'Connection timed out');
        response.end();
      });
    }
    const client = makeClient();
    const post = await failure(client.request('POST', '/nodes/pve/qemu/100/config', { cores: 2 }));
    expect(TransportError.isInstance(post)).toBe(true);
    expect(post.retryable).toBe(false);
    expect(post.message).toContain('596 Connection timed out');
    expect(post.message).toContain('may or may not have been applied');
    const get = await failure(client.request('GET', '/nodes/pve/qemu/100/config'));
    expect(get.retryable).toBe(true);
    expect(get.details).toMatchObject({ status: 596 });
    expect(apiRequests('/nodes/pve/qemu/100/config')).toHaveLength(2);
  });

  it('a timeout on a POST is not re-sent', async () => {
    fake.routes.set('POST /nodes/pve/qemu/100/clone', () => {
      // never answers
    });
    const client = tokenClient();
    const error = await failure(
      client.request('POST', '/nodes/pve/qemu/100/clone', { newid: 101 }, { timeoutMs: 300 }),
    );
    expect(TransportError.isInstance(error)).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('no complete answer within 300 ms');
    expect(apiRequests('/nodes/pve/qemu/100/clone')).toHaveLength(1);
  });

  it('an aborted request throws the abort reason', async () => {
    fake.routes.set('GET /slow', () => {});
    const controller = new AbortController();
    const pending = tokenClient().request('GET', '/slow', {}, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 50);
    await expect(pending).rejects.toThrow('stop');
  });

  it('a refused connection was never sent: retryable for any method', async () => {
    const closed = await startTestHttpsServer(certificate);
    const port = closed.port;
    await closed.close();
    const client = makeClient({
      port,
      credentials: { type: 'token', tokenId: TOKEN_ID, secret: TOKEN_SECRET },
    });
    const error = await failure(client.request('POST', '/nodes/pve/qemu', { vmid: 100 }));
    expect(TransportError.isInstance(error)).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.details.outcome).toBe('not-sent');
  });
});

describe('error answers', () => {
  const answer =
    (status: number, reason: string, body?: unknown) =>
    (_request: RecordedRequest, response: ServerResponse) =>
      replyJson(response, status, body, reason);

  it('maps the reason phrase, message field and errors to core errors', async () => {
    fake.routes.set(
      'GET /nodes/pve/qemu/999/config',
      answer(500, "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist", {
        data: null,
      }),
    );
    fake.routes.set(
      'POST /nodes/pve/qemu/100/config',
      answer(500, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout", {
        data: null,
      }),
    );
    fake.routes.set(
      'POST /nodes/pve/qemu/100/status/reboot',
      answer(500, 'VM 100 not running', { data: null }),
    );
    fake.routes.set(
      'POST /nodes/pve/qemu',
      answer(400, 'Parameter verification failed.', {
        data: null,
        message: 'Parameter verification failed.\n',
        errors: { vmid: 'property is missing and it is not optional' },
      }),
    );
    fake.routes.set(
      'POST /nodes/pve/qemu/100/status/stop',
      answer(403, 'Permission check failed (/vms/100, VM.PowerMgmt)', { data: null }),
    );
    const client = makeClient();

    const missing = await failure(client.request('GET', '/nodes/pve/qemu/999/config'));
    expect(NotFoundError.isInstance(missing)).toBe(true);
    expect(missing).toMatchObject({ resource: 'vm', id: 'pve/999' });

    const locked = await failure(
      client.request('POST', '/nodes/pve/qemu/100/config', { cores: 2 }),
    );
    expect(ConflictError.isInstance(locked)).toBe(true);
    expect(locked).toMatchObject({ reason: 'locked', retryable: true });
    expect(locked.details.lockFile).toBe('/var/lock/qemu-server/lock-100.conf');
    expect(locked.message).toContain('/var/lock/qemu-server/lock-100.conf');

    const stopped = await failure(client.request('POST', '/nodes/pve/qemu/100/status/reboot'));
    expect(stopped).toMatchObject({ code: 'CONFLICT', reason: 'invalid-power-state' });

    const invalid = await failure(client.request('POST', '/nodes/pve/qemu', {}));
    expect(ProviderApiError.isInstance(invalid)).toBe(true);
    expect(invalid).toMatchObject({
      status: 400,
      fault: 'parameter-verification',
      retryable: false,
    });
    expect(invalid.details.errors).toEqual({ vmid: 'property is missing and it is not optional' });
    expect(invalid.message).toContain('vmid: property is missing');

    const denied = await failure(client.request('POST', '/nodes/pve/qemu/100/status/stop'));
    expect(denied).toMatchObject({ code: 'PROVIDER_API', status: 403, fault: 'permission-denied' });
    expect(denied.message).toContain('VM.PowerMgmt');

    const unknown = await failure(client.request('GET', '/nope'));
    expect(unknown).toMatchObject({ code: 'PROVIDER_API', status: 501, retryable: false });
    expect(unknown.message).toContain("Method 'GET /nope' not implemented");
  });

  it('refuses a success answer that is not a data envelope or does not fit the schema', async () => {
    fake.routes.set('GET /html', (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<html></html>');
    });
    fake.routes.set('GET /cluster/nextid', answer(200, 'OK', { data: 'one hundred' }));
    const client = tokenClient();
    await expect(client.request('GET', '/html')).rejects.toMatchObject({ code: 'PROVIDER_API' });
    const error = await failure(client.request('GET', '/cluster/nextid', {}, { schema: looseInt }));
    expect(error).toMatchObject({ code: 'PROVIDER_API', fault: 'unexpected-response' });
  });
});

describe('responses', () => {
  it('parses Perl-loose numbers and booleans, and returns total', async () => {
    fake.routes.set('GET /cluster/nextid', (_request, response) =>
      replyJson(response, 200, { data: '100' }),
    );
    fake.routes.set('GET /nodes/pve/qemu', (_request, response) =>
      replyJson(response, 200, {
        data: [
          { vmid: '100', template: '', pid: '2947', status: 'running' },
          { vmid: 101, template: 1, status: 'stopped' },
        ],
      }),
    );
    fake.routes.set('GET /nodes/pve/tasks', (_request, response) =>
      replyJson(response, 200, { data: [], total: 7 }),
    );
    const client = tokenClient();
    await expect(client.request('GET', '/cluster/nextid', {}, { schema: looseInt })).resolves.toBe(
      100,
    );
    const vm = z.object({ vmid: looseInt, template: looseBool.optional(), status: z.string() });
    await expect(
      client.request('GET', '/nodes/pve/qemu', {}, { schema: z.array(vm) }),
    ).resolves.toEqual([
      { vmid: 100, template: false, status: 'running' },
      { vmid: 101, template: true, status: 'stopped' },
    ]);
    await expect(client.requestEnvelope('GET', '/nodes/pve/tasks')).resolves.toEqual({
      data: [],
      total: 7,
    });
  });

  it('sends GET/DELETE parameters in the query and POST/PUT parameters as a form body', async () => {
    const echo = (request: RecordedRequest, response: ServerResponse) =>
      replyJson(response, 200, {
        data: {
          url: request.url,
          body: request.body,
          type: request.headers['content-type'] ?? null,
        },
      });
    fake.routes.set('GET /nodes/pve/tasks', echo);
    fake.routes.set('DELETE /nodes/pve/qemu/100', echo);
    fake.routes.set('PUT /nodes/pve/qemu/100/config', echo);
    const client = tokenClient();
    await expect(
      client.request('GET', '/nodes/{node}/tasks', {
        node: 'pve',
        errors: true,
        limit: 50,
        vmid: undefined,
      }),
    ).resolves.toEqual({
      url: '/api2/json/nodes/pve/tasks?errors=1&limit=50',
      body: '',
      type: null,
    });
    await expect(
      client.request('DELETE', '/nodes/pve/qemu/100', {
        purge: true,
        'destroy-unreferenced-disks': false,
      }),
    ).resolves.toMatchObject({
      url: '/api2/json/nodes/pve/qemu/100?purge=1&destroy-unreferenced-disks=0',
      body: '',
    });
    await expect(
      client.request('PUT', '/nodes/pve/qemu/100/config', {
        delete: ['net1', 'scsi2'],
        onboot: false,
        description: 'a b+c&d',
      }),
    ).resolves.toEqual({
      url: '/api2/json/nodes/pve/qemu/100/config',
      body: 'delete=net1&delete=scsi2&onboot=0&description=a%20b%2Bc%26d',
      type: 'application/x-www-form-urlencoded',
    });
  });
});

describe('secrets', () => {
  it('never appear in errors or log lines', async () => {
    const lines: string[] = [];
    const logger: Logger = {
      debug: (message, fields) => lines.push(message + JSON.stringify(fields ?? {})),
      info: (message, fields) => lines.push(message + JSON.stringify(fields ?? {})),
      warn: (message, fields) => lines.push(message + JSON.stringify(fields ?? {})),
      error: (message, fields) => lines.push(message + JSON.stringify(fields ?? {})),
    };
    const client = makeClient({ logger });
    await client.request('GET', '/version');
    const [ticket] = [...fake.tickets.keys()] as [string];
    const csrf = fake.tickets.get(ticket) as string;
    // A server that echoes credentials back in every error place it has.
    fake.routes.set('POST /echo', (_request, response) =>
      replyJson(
        response,
        400,
        {
          data: null,
          message: `bad ticket ${ticket} csrf ${csrf} password ${PASSWORD}\n`,
          errors: { password: PASSWORD, note: `token ${csrf}`, ticket },
        },
        `bad ticket ${ticket}`,
      ),
    );
    fake.routes.set('GET /echo500', (_request, response) =>
      replyJson(response, 500, { data: null }, `refused ${PASSWORD} and ${csrf}`),
    );
    const errors: HvkitError[] = [
      await failure(client.request('POST', '/echo', { password: PASSWORD })),
      await failure(client.request('GET', '/echo500')),
    ];
    const tokenLines: string[] = [];
    const token = new ProxmoxClient({
      host: '127.0.0.1',
      port: server.port,
      credentials: { type: 'token', tokenId: TOKEN_ID, secret: TOKEN_SECRET },
      tls: { fingerprint256: certificate.fingerprint256 },
      logger: {
        ...logger,
        debug: (message, fields) => tokenLines.push(message + JSON.stringify(fields ?? {})),
      },
    });
    clients.push(token);
    fake.routes.set('GET /echo-token', (_request, response) =>
      replyJson(response, 500, { data: null, message: `token ${TOKEN_SECRET} refused` }, 'refused'),
    );
    errors.push(await failure(token.request('GET', '/echo-token')));
    for (const error of errors) {
      const texts = [
        error.message,
        JSON.stringify(error),
        JSON.stringify(error.details),
        String(error.stack),
      ];
      for (const secret of [PASSWORD, ticket, csrf, TOKEN_SECRET]) {
        for (const text of texts) expect(text).not.toContain(secret);
      }
    }
    expect(errors[0]?.message).toContain('[REDACTED]');
    expect(lines.length + tokenLines.length).toBeGreaterThan(0);
    for (const line of [...lines, ...tokenLines]) {
      for (const secret of [PASSWORD, ticket, csrf, TOKEN_SECRET])
        expect(line).not.toContain(secret);
    }
  });
});

describe('construction', () => {
  const base = {
    credentials: { type: 'token', tokenId: TOKEN_ID, secret: TOKEN_SECRET },
  } as const;

  it('builds the base URL on port 8006, bracketing IPv6', () => {
    const named = new ProxmoxClient({ ...base, host: 'pve.example.com' });
    const ipv6 = new ProxmoxClient({ ...base, host: 'fd00::10', port: 443 });
    clients.push(named, ipv6);
    expect(named.baseUrl).toBe('https://pve.example.com:8006/api2/json');
    expect(ipv6.baseUrl).toBe('https://[fd00::10]/api2/json');
  });

  it.each([
    ['a host with a path', { host: 'pve/evil' }],
    ['a host with user info', { host: 'user@pve' }],
    ['a port out of range', { host: 'pve', port: 70000 }],
    ['a renewal after the lifetime', { host: 'pve', ticketRenewAfterMs: 3 * 60 * 60 * 1000 }],
    ['a zero timeout', { host: 'pve', timeoutMs: 0 }],
  ])('refuses %s', (_name, options) => {
    expect(() => new ProxmoxClient({ ...base, ...options })).toThrow(InvalidSpecError);
  });

  it.each([
    { type: 'token', tokenId: 'root@pam', secret: TOKEN_SECRET },
    { type: 'token', tokenId: TOKEN_ID, secret: '' },
    { type: 'password', username: 'root', password: PASSWORD },
    { type: 'password', username: 'root@pam', password: '' },
  ] as const)('refuses malformed credentials without quoting secrets: %j', (credentials) => {
    let error: unknown;
    try {
      new ProxmoxClient({ host: 'pve', credentials });
    } catch (caught) {
      error = caught;
    }
    expect(InvalidSpecError.isInstance(error)).toBe(true);
    expect(JSON.stringify(error)).not.toContain(PASSWORD);
    expect(JSON.stringify(error)).not.toContain(TOKEN_SECRET);
  });

  it('authHeaders gives the token header, or the cookie plus CSRF for writes', async () => {
    await expect(tokenClient().authHeaders('GET')).resolves.toEqual({
      authorization: `PVEAPIToken=${TOKEN_ID}=${TOKEN_SECRET}`,
    });
    const client = makeClient();
    const read = await client.authHeaders('GET');
    const write = await client.authHeaders('POST');
    const [ticket] = [...fake.tickets.keys()] as [string];
    expect(read).toEqual({ cookie: `PVEAuthCookie=${ticket}` });
    expect(write).toEqual({
      cookie: `PVEAuthCookie=${ticket}`,
      csrfpreventiontoken: fake.tickets.get(ticket),
    });
    expect(fake.logins).toHaveLength(1);
  });
});
