/**
 * The console: a noVNC page URL, and the websocket endpoint the stream itself is served on, with
 * the VNC ticket kept out of both URLs.
 */
import type { Provider } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxmoxProvider } from '../src/index.js';
import { type ProxmoxSimulator, startProxmoxSimulator } from '../src/simulator/index.js';

let simulator: ProxmoxSimulator;
let provider: Provider;

beforeAll(async () => {
  simulator = await startProxmoxSimulator({ version: '9.1', taskDurationMs: 5 });
  provider = createProxmoxProvider({
    name: 'pve-console',
    baseUrl: simulator.url,
    auth: { username: 'root@pam', password: 'simulator' },
    tls: { fingerprint256: simulator.fingerprint256 },
    node: 'pve1',
  });
});

afterAll(async () => {
  await provider.close();
  await simulator.close();
});

describe('getConsole', () => {
  it('returns the noVNC page and the vncwebsocket endpoint for the same proxy port, without the ticket', async () => {
    const vm = await provider.create({
      name: 'console-1',
      cpu: { count: 1 },
      memory: { sizeMiB: 512 },
    });
    await provider.powerOn(vm);
    const access = await provider.getConsole(vm);
    const vmid = vm.ref.id.split('/').pop();
    const page = new URL(access.url);
    const socket = new URL(access.websocketUrl ?? '');
    expect(access.protocol).toBe('novnc');
    expect(socket.protocol).toBe('wss:');
    expect(socket.host).toBe(new URL(simulator.url).host);
    expect(socket.pathname).toBe(`/api2/json/nodes/pve1/qemu/${vmid}/vncwebsocket`);
    expect(socket.searchParams.get('port')).toBe(page.searchParams.get('port'));
    expect(Number(socket.searchParams.get('port'))).toBeGreaterThan(0);
    expect(access.ticket?.length ?? 0).toBeGreaterThan(8);
    const ticket = access.ticket ?? '';
    expect(access.url).not.toContain(ticket);
    expect(access.url).not.toContain(encodeURIComponent(ticket));
    expect(access.websocketUrl).not.toContain(encodeURIComponent(ticket));
  });
});
