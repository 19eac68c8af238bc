import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ProxmoxSimulator, startProxmoxSimulator } from '../src/simulator/index.js';
import { SimulatorTestClient } from '../src/simulator/testing/client.js';

describe.each(['8.4', '9.1'] as const)('locks and faults (PVE %s)', (version) => {
  let simulator: ProxmoxSimulator;
  let client: SimulatorTestClient;

  beforeEach(async () => {
    simulator = await startProxmoxSimulator({ version, taskDurationMs: 5, lockTimeoutMs: 300 });
    client = new SimulatorTestClient(simulator);
    await client.login();
    await client.run('POST', '/nodes/pve1/qemu', { vmid: 100, scsi0: 'local-lvm:1' });
  });
  afterEach(async () => {
    await client.close();
    await simulator.close();
  });

  it('the config lock of a running clone refuses other operations with "VM is locked (clone)"', async () => {
    await client.run('POST', '/nodes/pve1/qemu/100/template');
    simulator.faults.slowTasks({ type: 'qmclone', extraMs: 300 });
    const upid = await client.data<string>('POST', '/nodes/pve1/qemu/100/clone', {
      newid: 101,
      full: 1,
    });
    const config = await client.data<{ lock: string }>('GET', '/nodes/pve1/qemu/101/config');
    expect(config.lock).toBe('clone');
    const refused = await client.request('PUT', '/nodes/pve1/qemu/101/config', { name: 'busy' });
    expect(refused.status).toBe(500);
    expect(refused.reason).toBe('VM is locked (clone)');
    expect(refused.body).toEqual({ data: null, message: 'VM is locked (clone)\n' });
    expect((await client.request('DELETE', '/nodes/pve1/qemu/101')).reason).toBe(
      'VM is locked (clone)',
    );
    await client.waitTask(upid);
    expect(
      (await client.request('PUT', '/nodes/pve1/qemu/101/config', { name: 'free' })).status,
    ).toBe(200);
  });

  it('injected lock timeouts: HTTP 500 for a synchronous call, a task error inside a worker', async () => {
    simulator.faults.lockTimeouts({ vmid: 100 });
    const sync = await client.request('PUT', '/nodes/pve1/qemu/100/config', { name: 'x' });
    expect(sync.status).toBe(500);
    expect(sync.reason).toBe("can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout");
    simulator.faults.lockTimeouts({ vmid: 100 });
    expect(await client.run('POST', '/nodes/pve1/qemu/100/status/start')).toBe(
      "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout",
    );
    expect(await client.run('POST', '/nodes/pve1/qemu/100/status/start')).toBe('OK');
  });

  it('a worker holding the file lock longer than the lock timeout makes the next task fail', async () => {
    const slow = await startProxmoxSimulator({
      version,
      taskDurationMs: 1_000,
      lockTimeoutMs: 200,
    });
    const slowClient = new SimulatorTestClient(slow);
    try {
      await slowClient.login();
      await slowClient.run('POST', '/nodes/pve1/qemu', { vmid: 100 });
      const holder = await slowClient.data<string>('POST', '/nodes/pve1/qemu/100/status/start');
      const waiting = await slowClient.data<string>('POST', '/nodes/pve1/qemu/100/status/stop');
      expect((await slowClient.waitTask(waiting)).exitstatus).toBe(
        "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout",
      );
      expect((await slowClient.waitTask(holder)).exitstatus).toBe('OK');
    } finally {
      await slowClient.close();
      await slow.close();
    }
  });

  it('forced status for the next N matching requests (596 Connection timed out), then normal again', async () => {
    simulator.faults.failRequests({
      method: 'POST',
      path: /\/status\/start$/,
      status: 596,
      times: 2,
    });
    for (let attempt = 0; attempt < 2; attempt++) {
      const exchange = await client.request('POST', '/nodes/pve1/qemu/100/status/start');
      expect(exchange.status).toBe(596);
      expect(exchange.reason).toBe('Connection timed out');
      expect(exchange.text).toBe('');
    }
    expect((await client.request('GET', '/version')).status).toBe(200);
    expect((await client.request('POST', '/nodes/pve1/qemu/100/status/start')).status).toBe(200);
  });

  it('dropped connections: the socket closes without a response', async () => {
    simulator.faults.dropConnections({ path: '/cluster/resources' });
    await expect(client.request('GET', '/cluster/resources')).rejects.toThrow();
    expect((await client.request('GET', '/cluster/resources')).status).toBe(200);
  });

  it('pre-fork errors are HTTP errors, worker errors are task errors (BEHAVIOURS §3)', async () => {
    const reboot = await client.request('POST', '/nodes/pve1/qemu/100/status/reboot');
    expect([reboot.status, reboot.reason]).toEqual([500, 'VM 100 not running']);
    for (const action of ['reset', 'suspend', 'resume']) {
      expect((await client.request('POST', `/nodes/pve1/qemu/100/status/${action}`)).reason).toBe(
        'VM 100 not running',
      );
    }
    expect(await client.run('POST', '/nodes/pve1/qemu/100/status/stop')).toBe('OK');
    expect(await client.run('POST', '/nodes/pve1/qemu/100/status/shutdown')).toBe('OK');
    await client.run('POST', '/nodes/pve1/qemu/100/status/start');
    await client.run('POST', '/nodes/pve1/qemu/100/status/suspend');
    expect((await client.request('POST', '/nodes/pve1/qemu/100/status/shutdown')).reason).toBe(
      'VM is paused - cannot shutdown',
    );
    expect(await client.run('POST', '/nodes/pve1/qemu/100/status/shutdown', { forceStop: 1 })).toBe(
      'OK',
    );
    expect(
      await client.run('PUT', '/nodes/pve1/qemu/100/resize', { disk: 'scsi0', size: '512M' }),
    ).toBe('shrinking disks is not supported');
    expect(
      await client.run('PUT', '/nodes/pve1/qemu/100/resize', {
        disk: 'scsi0',
        size: '+1G',
        digest: '0'.repeat(40),
      }),
    ).toBe('checksum mismatch (file change by other user?)');
    const create = await client.request('POST', '/nodes/pve2/qemu', { vmid: 100 });
    expect(create.reason).toBe("unable to create VM 100 - VM 100 already exists on node 'pve1'");
    const clone = await client.request('POST', '/nodes/pve1/qemu/100/clone', {
      newid: 101,
      full: 0,
    });
    expect(clone.reason).toBe(
      "Linked clone feature is not supported for 'local-lvm:vm-100-disk-0' (scsi0)",
    );
    const unknownNode = await client.request('GET', '/nodes/nowhere/qemu');
    expect(unknownNode.status).toBe(500);
    expect(unknownNode.reason).toMatch(/^hostname lookup 'nowhere' failed/);
  });
});
