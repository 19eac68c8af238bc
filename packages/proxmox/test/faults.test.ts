/**
 * Faults and bad input against the simulator: what the provider does when Proxmox (or the way to
 * it) misbehaves, counted in requests the simulator received.
 */

import type { countHttpRequests as countRequests } from '@hvkit/conformance';
import {
  ConflictError,
  InvalidSpecError,
  type Provider,
  TransportError,
  type Vm,
  type VmSpecInput,
} from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxmoxProvider } from '../src/index.js';
import { type ProxmoxSimulator, startProxmoxSimulator } from '../src/simulator/index.js';
import { type SimulatedProvider, startSimulatedProvider } from './simulated-provider.js';

let simulator: ProxmoxSimulator;
let provider: Provider;
let requests: ReturnType<typeof countRequests>;
let counter = 0;

function spec(overrides: Partial<VmSpecInput> = {}): VmSpecInput {
  counter += 1;
  return { name: `faults-${counter}`, cpu: { count: 1 }, memory: { sizeMiB: 256 }, ...overrides };
}

/** Requests whose method and path (below `/api2/json`) match, sent since `from`. */
function sent(from: number, method: string, path: RegExp): number {
  return requests.paths
    .slice(from)
    .filter((line) => line.startsWith(`${method} `) && path.test(line.split('?')[0] ?? '')).length;
}

let bed: SimulatedProvider;

beforeAll(async () => {
  bed = await startSimulatedProvider('pve-faults');
  simulator = bed.simulator;
  provider = bed.provider;
  requests = bed.requests;
});

afterAll(() => bed.close());

describe('proxmox provider under faults', () => {
  it('ticket expiry mid-run costs no failed operation', async () => {
    const vm = await provider.create(spec()).wait();
    simulator.faults.expireTickets();
    await provider.powerOn(vm).wait();
    simulator.faults.expireTickets();
    expect((await provider.get(vm)).powerState).toBe('on');
    simulator.faults.expireTickets();
    await provider.delete(vm).wait();
  });

  it('a 596 on a POST is reported as a non-retryable TransportError and sent once', async () => {
    const vm = await provider.create(spec()).wait();
    simulator.faults.failRequests({
      method: 'POST',
      path: /\/status\/start$/,
      status: 596,
      reason: 'Connection timed out',
    });
    const from = requests.paths.length;
    const error = await provider
      .powerOn(vm)
      .wait()
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(TransportError.isInstance(error)).toBe(true);
    expect((error as TransportError).retryable).toBe(false);
    expect(sent(from, 'POST', /\/status\/start$/)).toBe(1);
    await provider.delete(vm).wait();
  });

  it('a dropped connection on a create POST is reported and never repeated', async () => {
    simulator.faults.dropConnections({ method: 'POST', path: /^\/nodes\/pve1\/qemu$/ });
    const from = requests.paths.length;
    const name = spec().name;
    const error = await provider
      .create(spec({ name }))
      .wait()
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(TransportError.isInstance(error)).toBe(true);
    expect((error as TransportError).retryable).toBe(false);
    expect(sent(from, 'POST', /\/nodes\/pve1\/qemu$/)).toBe(1);
  });

  it('a config lock timeout is a ConflictError naming the lock file', async () => {
    const vm: Vm = await provider.create(spec()).wait();
    simulator.faults.lockTimeouts({ vmid: Number(vm.ref.id) });
    const error = await provider
      .reconfigure(vm, { description: 'locked' })
      .wait()
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe('locked');
    expect(String((error as ConflictError).details.lockFile)).toContain(vm.ref.id);
    await provider.delete(vm).wait();
  });

  it('a VM lock (VM is locked (…)) is a ConflictError naming the lock', async () => {
    const vm: Vm = await provider.create(spec()).wait();
    const state = simulator.state.vms.get(Number(vm.ref.id));
    if (!state) throw new Error('no VM in the simulator');
    state.config.lock = 'backup';
    const error = await provider
      .powerOn(vm)
      .wait()
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe('locked');
    expect((error as ConflictError).details.lock).toBe('backup');
    delete state.config.lock;
    await provider.delete(vm).wait();
  });

  it.each<[string, VmSpecInput]>([
    ['a name Proxmox refuses', spec({ name: 'not_a_dns_name' })],
    ['a vhdx disk', spec({ disks: [{ sizeGiB: 1, format: 'vhdx' }] })],
    ['a memory hot-add size off the DIMM steps', spec({ memory: { sizeMiB: 1000, hotAdd: true } })],
    ['an NVMe disk', spec({ disks: [{ sizeGiB: 1, bus: 'nvme' }] })],
  ])('%s fails with InvalidSpecError before any request', async (_title, invalid) => {
    const before = requests.count;
    const error = await provider
      .create(invalid)
      .wait()
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(InvalidSpecError.isInstance(error)).toBe(true);
    expect(requests.count).toBe(before);
  });

  it('validate() names the privileges the credentials lack', async () => {
    const limited = await startProxmoxSimulator({
      version: '8.4',
      users: [
        { userid: 'auditor@pve', password: 'audit-only', privileges: ['VM.Audit', 'Sys.Audit'] },
      ],
    });
    const auditor = createProxmoxProvider({
      baseUrl: limited.url,
      auth: { username: 'auditor@pve', password: 'audit-only' },
      tls: { fingerprint256: limited.fingerprint256 },
    });
    try {
      const report = await auditor.validate();
      expect(report.version).toMatch(/^8\.4/);
      expect(report.warnings.join(' ')).toContain('VM.PowerMgmt');
      expect(report.warnings.join(' ')).not.toContain('VM.Audit,');
    } finally {
      await auditor.close();
      await limited.close();
    }
  });
});
