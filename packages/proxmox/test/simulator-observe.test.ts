import { Agent, fetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { type ObservedRequest, startProxmoxSimulator } from '../src/simulator/index.js';

describe('simulator onRequest hook', () => {
  const seen: ObservedRequest[] = [];
  const started = startProxmoxSimulator({ onRequest: (request) => seen.push(request) });
  afterAll(async () => (await started).close());

  it('sees each request as received: method, path with query, content type and raw body', async () => {
    const simulator = await started;
    const dispatcher = new Agent({ connect: { ca: simulator.certificatePem } });
    const origin = new URL(simulator.url).origin;
    await fetch(`${origin}/api2/json/access/ticket`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=root%40pam&password=simulator',
      dispatcher,
    });
    await fetch(`${origin}/api2/json/cluster/resources?type=vm`, { dispatcher });
    await dispatcher.close();
    expect(seen.map((request) => `${request.method} ${request.path}`)).toEqual([
      'POST /api2/json/access/ticket',
      'GET /api2/json/cluster/resources?type=vm',
    ]);
    expect(seen[0]?.contentType).toBe('application/x-www-form-urlencoded');
    expect(seen[0]?.body.toString()).toBe('username=root%40pam&password=simulator');
    expect(seen[1]?.body.length).toBe(0);
  });
});
