import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHotplug } from '../src/property-string.js';
import { isHotpluggable } from '../src/proxmox-config.js';
import { type ProxmoxSimulator, startProxmoxSimulator } from '../src/simulator/index.js';
import { SimulatorTestClient } from '../src/simulator/testing/client.js';

/** The simulator's hotplug rules are qemu-server's, as the mapping's `isHotpluggable` states them. */
describe.each(['8.4', '9.1'] as const)('hotplug rules as qemu-server (PVE %s)', (version) => {
  let simulator: ProxmoxSimulator;
  let client: SimulatorTestClient;

  beforeAll(async () => {
    simulator = await startProxmoxSimulator({ version, taskDurationMs: 2 });
    client = new SimulatorTestClient(simulator);
    await client.login();
  });
  afterAll(async () => {
    await client.close();
    await simulator.close();
  });

  it('cloud-init keys apply at once on a running VM; a SATA disk waits for the next start', async () => {
    const vmid = 300;
    const created = await client.run('POST', '/nodes/pve1/qemu', {
      vmid,
      memory: 1024,
      net0: 'virtio,bridge=vmbr0',
      ide2: 'local-lvm:cloudinit',
    });
    expect(created).toBe('OK');
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`);
    const change = {
      ciuser: 'admin',
      ipconfig0: 'ip=dhcp',
      nameserver: '192.0.2.53',
      sata1: 'local-lvm:1',
      cpulimit: 2,
    };
    const answer = await client.request('PUT', `/nodes/pve1/qemu/${vmid}/config`, change);
    expect(answer.status).toBe(200);
    const pending = await client.data<Array<{ key: string; pending?: unknown }>>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/pending`,
    );
    const waiting = pending.filter((item) => item.pending !== undefined).map((item) => item.key);
    const features = parseHotplug(undefined);
    for (const key of Object.keys(change)) {
      expect(waiting.includes(key), key).toBe(!isHotpluggable(key, features));
    }
    expect(waiting).toContain('sata1');
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/stop`);
  });
});
