import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatUpid,
  type ProxmoxSimulator,
  parseUpid,
  startProxmoxSimulator,
} from '../src/simulator/index.js';
import { SimulatorTestClient } from '../src/simulator/testing/client.js';

const vectors = JSON.parse(
  readFileSync(
    join(dirname(fileURLToPath(import.meta.url)), '../__fixtures__/upid-vectors.json'),
    'utf8',
  ),
) as {
  valid: Array<{
    upid: string;
    node: string;
    pid: number;
    pstart: number;
    starttime: number;
    type: string;
    id: string;
    user: string;
  }>;
  invalid: string[];
};

describe('UPID parse and format (upid-vectors.json)', () => {
  for (const vector of vectors.valid) {
    it(`round-trips ${vector.upid}`, () => {
      const parsed = parseUpid(vector.upid);
      expect(parsed).toEqual({
        node: vector.node,
        pid: vector.pid,
        pstart: vector.pstart,
        starttime: vector.starttime,
        type: vector.type,
        id: vector.id,
        user: vector.user,
      });
      expect(formatUpid(parsed as NonNullable<typeof parsed>)).toBe(vector.upid);
    });
  }
  for (const invalid of vectors.invalid) {
    it(`rejects ${JSON.stringify(invalid)}`, () => {
      expect(parseUpid(invalid)).toBeUndefined();
    });
  }
});

describe.each(['8.4', '9.1'] as const)('tasks (PVE %s)', (version) => {
  let simulator: ProxmoxSimulator;
  let client: SimulatorTestClient;

  beforeAll(async () => {
    simulator = await startProxmoxSimulator({ version, taskDurationMs: 5, verifyReturns: true });
    client = new SimulatorTestClient(simulator);
    await client.login();
    await client.run('POST', '/nodes/pve1/qemu', { vmid: 100, scsi0: 'local-lvm:1' });
  });
  afterAll(async () => {
    await client.close();
    await simulator.close();
  });

  const statusPath = (upid: string) =>
    `/nodes/${upid.split(':')[1]}/tasks/${encodeURIComponent(upid)}/status`;

  it('every async endpoint returns a valid UPID with the real worker type and id', async () => {
    const cases: Array<[string, string, Record<string, string | number>, string, string]> = [
      ['POST', '/nodes/pve1/qemu', { vmid: 110 }, 'qmcreate', '110'],
      ['POST', '/nodes/pve1/qemu/100/config', { cores: 2 }, 'qmconfig', '100'],
      ['POST', '/nodes/pve1/qemu/100/status/start', {}, 'qmstart', '100'],
      ['POST', '/nodes/pve1/qemu/100/status/reboot', {}, 'qmreboot', '100'],
      ['POST', '/nodes/pve1/qemu/100/status/reset', {}, 'qmreset', '100'],
      ['POST', '/nodes/pve1/qemu/100/status/suspend', {}, 'qmpause', '100'],
      ['POST', '/nodes/pve1/qemu/100/status/resume', {}, 'qmresume', '100'],
      ['POST', '/nodes/pve1/qemu/100/status/shutdown', {}, 'qmshutdown', '100'],
      ['POST', '/nodes/pve1/qemu/100/snapshot', { snapname: 'one' }, 'qmsnapshot', '100'],
      ['POST', '/nodes/pve1/qemu/100/snapshot/one/rollback', {}, 'qmrollback', '100'],
      ['DELETE', '/nodes/pve1/qemu/100/snapshot/one', {}, 'qmdelsnapshot', '100'],
      ['PUT', '/nodes/pve1/qemu/100/resize', { disk: 'scsi0', size: '+1G' }, 'resize', '100'],
      ['POST', '/nodes/pve1/qemu/100/clone', { newid: 111 }, 'qmclone', '100'],
      ['POST', '/nodes/pve1/qemu/111/migrate', { target: 'pve2' }, 'qmigrate', '111'],
      ['POST', '/nodes/pve1/qemu/100/status/start', {}, 'qmstart', '100'],
      ['POST', '/nodes/pve1/qemu/100/status/suspend', { todisk: 1 }, 'qmsuspend', '100'],
      ['POST', '/nodes/pve1/qemu/100/status/resume', {}, 'qmresume', '100'],
      ['POST', '/nodes/pve1/qemu/100/status/stop', {}, 'qmstop', '100'],
      [
        'POST',
        '/nodes/pve1/storage/local/download-url',
        { content: 'iso', filename: 'a.iso', url: 'https://example.invalid/a.iso' },
        'download',
        'a.iso',
      ],
      ['POST', '/nodes/pve1/qemu/110/template', {}, 'qmtemplate', '110'],
      ['DELETE', '/nodes/pve2/qemu/111', {}, 'qmdestroy', '111'],
    ];
    for (const [method, path, parameters, type, id] of cases) {
      const upid = await client.data<string>(method, path, parameters);
      const parsed = parseUpid(upid);
      expect(parsed, `${method} ${path}`).toMatchObject({ type, id, user: 'root@pam' });
      const status = await client.waitTask(upid);
      expect(status.exitstatus, `${method} ${path}`).toBe('OK');
    }
  });

  it('status has no endtime; the list has endtime and the exit status in "status", plus total', async () => {
    const upid = await client.data<string>('POST', '/nodes/pve1/qemu/100/config', {
      name: 'listed',
    });
    await client.waitTask(upid);
    const status = await client.data<Record<string, unknown>>('GET', statusPath(upid));
    expect(status).not.toHaveProperty('endtime');
    expect(status).toMatchObject({
      status: 'stopped',
      exitstatus: 'OK',
      type: 'qmconfig',
      id: '100',
      node: 'pve1',
    });
    const list = await client.request('GET', '/nodes/pve1/tasks', {
      vmid: 100,
      typefilter: 'qmconfig',
      limit: 1,
    });
    const body = list.body as { data: Array<Record<string, unknown>>; total: number };
    expect(body.data).toHaveLength(1);
    expect(body.data[0]).toMatchObject({ upid, status: 'OK' });
    expect(typeof body.data[0]?.endtime).toBe('number');
    expect(body.total).toBeGreaterThanOrEqual(2);
  });

  it('exit statuses: OK, WARNINGS: n (success), error text; errors filter', async () => {
    simulator.faults.warnTasks({ type: 'qmconfig', warnings: 2 });
    const warned = await client.run('POST', '/nodes/pve1/qemu/100/config', {
      description: 'warned',
    });
    expect(warned).toBe('WARNINGS: 2');
    await client.run('POST', '/nodes/pve1/qemu/100/status/start');
    const failed = await client.run('POST', '/nodes/pve1/qemu/100/status/start');
    expect(failed).toBe('VM 100 already running');
    const errors = await client.data<Array<{ status: string }>>('GET', '/nodes/pve1/tasks', {
      errors: 1,
    });
    expect(errors.map((task) => task.status)).toContain('VM 100 already running');
    const warnings = await client.data<Array<{ status: string }>>('GET', '/nodes/pve1/tasks', {
      statusfilter: 'warning',
    });
    expect(warnings.map((task) => task.status)).toEqual(['WARNINGS: 2']);
    await client.run('POST', '/nodes/pve1/qemu/100/status/stop');
  });

  it('the log pages with start/limit, counts total, and ends with the TASK line', async () => {
    const upid = await client.data<string>('POST', '/nodes/pve1/qemu/100/clone', { newid: 120 });
    await client.waitTask(upid);
    const path = `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log`;
    const all = (await client.request('GET', path)).body as {
      data: Array<{ n: number; t: string }>;
      total: number;
    };
    expect(all.total).toBe(all.data.length);
    expect(all.data.at(-1)?.t).toBe('TASK OK');
    expect(all.data[0]?.t).toBe('create full clone of drive scsi0 (local-lvm:vm-100-disk-0)');
    const page = (await client.request('GET', path, { start: 1, limit: 1 })).body as {
      data: Array<{ n: number }>;
      total: number;
    };
    expect(page.data).toEqual([{ n: 2, t: all.data[1]?.t }]);
    expect(page.total).toBe(all.total);
  });

  it('unknown and unparsable UPIDs are 400 with the real texts', async () => {
    const unknown = await client.request(
      'GET',
      statusPath('UPID:pve1:00001234:00005678:12345678:qmstart:100:root@pam:'),
    );
    expect(unknown.status).toBe(400);
    expect((unknown.body as { errors: unknown }).errors).toEqual({ upid: 'no such task' });
    const garbage = await client.request('GET', '/nodes/pve1/tasks/garbage/status');
    expect((garbage.body as { errors: unknown }).errors).toEqual({
      upid: 'unable to parse worker upid',
    });
  });

  it('DELETE on a running task stops it: "interrupted by signal"', async () => {
    simulator.faults.slowTasks({ type: 'qmstart', extraMs: 5_000 });
    const upid = await client.data<string>('POST', '/nodes/pve1/qemu/100/status/start');
    const running = await client.data<{ status: string }>('GET', statusPath(upid));
    expect(running.status).toBe('running');
    const active = await client.data<Array<{ upid: string }>>('GET', '/nodes/pve1/tasks', {
      source: 'active',
    });
    expect(active.map((task) => task.upid)).toContain(upid);
    expect(
      (await client.request('DELETE', `/nodes/pve1/tasks/${encodeURIComponent(upid)}`)).body,
    ).toEqual({ data: null });
    const stopped = await client.waitTask(upid);
    expect(stopped.exitstatus).toBe('interrupted by signal');
    const status = await client.data<{ status: string }>(
      'GET',
      '/nodes/pve1/qemu/100/status/current',
    );
    expect(status.status).toBe('stopped');
  });

  it('POST /config with background_delay returns null once the task finished OK', async () => {
    const exchange = await client.request('POST', '/nodes/pve1/qemu/100/config', {
      cores: 3,
      background_delay: 5,
    });
    expect(exchange.body).toEqual({ data: null });
  });
});

describe('task timing runs on the injected clock', () => {
  it('a task stays running until the manual clock passes its duration', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const simulator = await startProxmoxSimulator({ clock, taskDurationMs: 1_000 });
    const client = new SimulatorTestClient(simulator);
    try {
      await client.login();
      const upid = await client.data<string>('POST', '/nodes/pve1/qemu', { vmid: 100 });
      expect(parseUpid(upid)?.starttime).toBe(Date.UTC(2026, 0, 1) / 1000);
      await clock.advance(500);
      const path = `/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`;
      expect((await client.data<{ status: string }>('GET', path)).status).toBe('running');
      await clock.advance(600);
      expect(await client.data<{ status: string; exitstatus: string }>('GET', path)).toMatchObject({
        status: 'stopped',
        exitstatus: 'OK',
      });
    } finally {
      await client.close();
      await simulator.close();
    }
  });
});
