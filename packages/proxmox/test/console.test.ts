/**
 * The console: a noVNC page URL, and the websocket endpoint the stream itself is served on, with
 * the VNC ticket kept out of both URLs.
 */
import type { Provider } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxmoxSimulator } from '../src/simulator/index.js';
import { type SimulatedProvider, startSimulatedProvider } from './simulated-provider.js';

let simulator: ProxmoxSimulator;
let provider: Provider;

let bed: SimulatedProvider;

beforeAll(async () => {
  bed = await startSimulatedProvider('pve-console', { taskDurationMs: 5 });
  simulator = bed.simulator;
  provider = bed.provider;
});

afterAll(() => bed.close());

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
