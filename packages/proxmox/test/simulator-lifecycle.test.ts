import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProxmoxSimulator, startProxmoxSimulator } from '../src/simulator/index.js';
import { SimulatorTestClient } from '../src/simulator/testing/client.js';

describe.each(['8.4', '9.1'] as const)('simulator lifecycle (PVE %s)', (version) => {
  let simulator: ProxmoxSimulator;
  let client: SimulatorTestClient;

  beforeAll(async () => {
    simulator = await startProxmoxSimulator({ version, taskDurationMs: 5, verifyReturns: true });
    client = new SimulatorTestClient(simulator);
    expect((await client.login()).status).toBe(200);
  });
  afterAll(async () => {
    await client.close();
    await simulator.close();
  });

  it('answers /version and /nodes', async () => {
    const version_ = await client.data<{ release: string }>('GET', '/version');
    expect(version_.release).toBe(version);
    const nodes = await client.data<Array<{ node: string }>>('GET', '/nodes');
    expect(nodes.map((node) => node.node)).toEqual(['pve1', 'pve2', 'pve3']);
  });

  it('creates, configures, starts, snapshots, clones and destroys a VM', async () => {
    const vmid = Number(await client.data<string>('GET', '/cluster/nextid'));
    expect(vmid).toBe(100);
    const created = await client.run('POST', '/nodes/pve1/qemu', {
      vmid,
      name: 'web-1',
      cores: 2,
      sockets: 1,
      memory: '2048',
      scsi0: 'local-lvm:32',
      net0: 'virtio,bridge=vmbr0,tag=10,firewall=1',
      ipconfig0: 'ip=192.168.1.10/24,gw=192.168.1.1',
      ciuser: 'admin',
      agent: 'enabled=1',
      ide2: 'local-lvm:cloudinit',
    });
    expect(created).toBe('OK');
    const config = await client.data<Record<string, unknown>>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/config`,
    );
    expect(config.scsi0).toBe('local-lvm:vm-100-disk-0,size=32G');
    expect(config.cores).toBe(2);
    expect(config.memory).toBe('2048');
    expect(String(config.net0)).toMatch(
      /^virtio=BC:24:11:[0-9A-F:]{8},bridge=vmbr0,firewall=1,tag=10$/,
    );
    expect(config.digest).toMatch(/^[0-9a-f]{40}$/);
    expect(await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`)).toBe('OK');
    const status = await client.data<Record<string, unknown>>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/status/current`,
    );
    expect(status.status).toBe('running');
    expect(await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`)).toBe(
      `VM ${vmid} already running`,
    );
    expect(
      await client.run('POST', `/nodes/pve1/qemu/${vmid}/snapshot`, {
        snapname: 'before',
        vmstate: 1,
      }),
    ).toBe('OK');
    const snapshots = await client.data<Array<Record<string, unknown>>>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/snapshot`,
    );
    expect(snapshots.find((item) => item.name === 'current')?.parent).toBe('before');
    expect(await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/stop`)).toBe('OK');
    expect(
      await client.run('POST', `/nodes/pve1/qemu/${vmid}/clone`, { newid: 101, full: 1 }),
    ).toBe('OK');
    const cloneConfig = await client.data<Record<string, unknown>>(
      'GET',
      '/nodes/pve1/qemu/101/config',
    );
    expect(cloneConfig.name).toBe('Copy-of-VM-web-1');
    expect(cloneConfig.scsi0).toBe('local-lvm:vm-101-disk-0,size=32G');
    expect(await client.run('DELETE', '/nodes/pve1/qemu/101', { purge: 1 })).toBe('OK');
    const missing = await client.request('GET', '/nodes/pve1/qemu/101/status/current');
    expect(missing.status).toBe(500);
    expect(missing.reason).toBe(
      "Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist",
    );
  });
});
