/**
 * Replays every real recorded sample in `__fixtures__/real-*.json` against the simulator and
 * compares status, reason phrase and body shape (keys and JSON value types: Perl-loose typing
 * included). Where PVE changed since the recording, or the sample is about something the simulator
 * does not serve, the test title says so and asserts the documented difference instead.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '@hvkit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type ProxmoxSimulator, parseUpid, startProxmoxSimulator } from '../src/simulator/index.js';
import { type Exchange, SimulatorTestClient } from '../src/simulator/testing/client.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../__fixtures__');
const TOKEN = {
  tokenid: 'root@pam!api_token',
  secret: '0b2a1c54-1111-4c4c-9d9d-0123456789ab',
  privsep: false,
};

interface Recorded {
  status: number;
  reason?: string;
  contentType?: string | null;
  body: unknown;
}

function loadSample(file: string): { raw: Record<string, unknown>; exchanges: Recorded[] } {
  const raw = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Record<string, unknown>;
  const responses: Array<Record<string, unknown>> = Array.isArray(raw.interactions)
    ? (raw.interactions as Array<{ response: Record<string, unknown> }>).map(
        (item) => item.response,
      )
    : [raw.response as Record<string, unknown>];
  const exchanges = responses.map((response) => {
    const headers = (response.headers ?? {}) as Record<string, string | string[]>;
    const contentType = headers['Content-Type'];
    let body: unknown = response.body;
    if (typeof response.rawBody === 'string')
      body = response.rawBody === '' ? undefined : JSON.parse(response.rawBody);
    return {
      status: response.status as number,
      reason: response.reason as string | undefined,
      contentType: response.headers
        ? Array.isArray(contentType)
          ? contentType[0]
          : (contentType ?? null)
        : undefined,
      body,
    };
  });
  return { raw, exchanges };
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * Differences in shape: every key of the recorded value must exist in the simulated one with
 * the same JSON type, recursively (first array element against first array element). `ignore`
 * lists paths (`data.blockstat`) the simulator deliberately does not produce.
 */
function shapeDifferences(
  expected: unknown,
  actual: unknown,
  ignore: string[] = [],
  path = '',
): string[] {
  if (ignore.includes(path)) return [];
  const expectedType = typeName(expected);
  const actualType = typeName(actual);
  if (expectedType !== actualType)
    return [`${path || '<root>'}: recorded ${expectedType}, simulated ${actualType}`];
  if (expectedType === 'array') {
    const list = expected as unknown[];
    const mine = actual as unknown[];
    if (list.length === 0) return [];
    if (mine.length === 0) return [`${path}: recorded a non-empty list, simulated an empty one`];
    return shapeDifferences(list[0], mine[0], ignore, `${path}[]`);
  }
  if (expectedType === 'object') {
    const differences: string[] = [];
    for (const [key, value] of Object.entries(expected as Record<string, unknown>)) {
      const child = path ? `${path}.${key}` : key;
      if (ignore.includes(child)) continue;
      if (!(key in (actual as Record<string, unknown>))) differences.push(`${child}: missing`);
      else
        differences.push(
          ...shapeDifferences(value, (actual as Record<string, unknown>)[key], ignore, child),
        );
    }
    return differences;
  }
  return [];
}

/** Status, reason, envelope and body shape of one exchange against its recording. */
function expectReplay(
  recorded: Recorded,
  actual: Exchange,
  options: { ignore?: string[]; reason?: string } = {},
): void {
  expect(actual.status).toBe(recorded.status);
  const reason = options.reason ?? recorded.reason;
  if (reason !== undefined) expect(actual.reason).toBe(reason);
  if (recorded.contentType !== undefined) {
    expect(actual.contentType).toBe(recorded.contentType);
  }
  if (recorded.body === undefined) return;
  const envelope = actual.body as Record<string, unknown>;
  const allowed = new Set(Object.keys(recorded.body as Record<string, unknown>));
  // libpve-http-server-perl >= 5.2 (PVE 8.3/8.4+) adds "message" to every error body.
  if (recorded.status >= 400) allowed.add('message');
  for (const key of Object.keys(envelope))
    expect(allowed, `unexpected envelope key ${key}`).toContain(key);
  expect(shapeDifferences(recorded.body, actual.body, options.ignore)).toEqual([]);
}

type Environment = {
  simulator: ProxmoxSimulator;
  client: SimulatorTestClient;
  clock?: ManualClock;
};
type Replay = {
  title: string;
  run: (environment: Environment, recorded: Recorded[]) => Promise<void>;
};

async function createVm(
  client: SimulatorTestClient,
  node: string,
  vmid: number,
  extra: Record<string, string | number> = {},
) {
  expect(await client.run('POST', `/nodes/${node}/qemu`, { vmid, ...extra })).toBe('OK');
}

const upidPattern = /^UPID:[^:]+:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:[^:]+:[^:]*:[^:]+:$/;

/** How each recorded sample is replayed. Every `real-*.json` must have an entry. */
const REPLAYS: Record<string, Replay[]> = {
  'real-200-upid-token-user.json': [
    {
      title:
        'a token-started qmclone UPID carries USER@REALM!TOKEN (stands in for the recorded LXC vzclone: containers are not simulated)',
      async run({ simulator, client }, [recorded]) {
        await createVm(client, 'pve', 200);
        const tokenClient = new SimulatorTestClient(simulator).useToken(
          TOKEN.tokenid,
          TOKEN.secret,
        );
        const exchange = await tokenClient.request('POST', '/nodes/pve/qemu/200/clone', {
          newid: 201,
        });
        expectReplay(recorded as Recorded, exchange);
        const upid = parseUpid((exchange.body as { data: string }).data);
        expect(upid?.user).toBe('root@pam!api_token');
        expect(upid?.type).toBe('qmclone');
        expect(upid?.id).toBe('200');
        await tokenClient.close();
      },
    },
  ],
  'real-400-nested-format-error.json': [
    {
      title: 'create with a bad vmid and a bad ipconfig0 gateway: the same per-parameter texts',
      async run({ client }, [recorded]) {
        const exchange = await client.request('POST', '/nodes/pve/qemu', {
          vmid: 1,
          ipconfig0: 'ip=192.168.1.10/24,gw=192.168.1.300',
        });
        expectReplay(recorded as Recorded, exchange);
        expect((exchange.body as { errors: unknown }).errors).toEqual(
          ((recorded as Recorded).body as { errors: unknown }).errors,
        );
      },
    },
  ],
  'real-400-param-verification-pve7.json': [
    {
      title:
        'an undefined parameter on qemu stop gets the recorded text (the recorded LXC stop is not simulated, and PVE 8+ defines overrule-shutdown)',
      async run({ client }, [recorded]) {
        await createVm(client, 'pve', 102);
        const exchange = await client.request('POST', '/nodes/pve/qemu/102/status/stop', {
          'no-such-option': 1,
        });
        expectReplay(recorded as Recorded, exchange, { ignore: ['errors.overrule-shutdown'] });
        expect((exchange.body as { errors: Record<string, string> }).errors['no-such-option']).toBe(
          ((recorded as Recorded).body as { errors: Record<string, string> }).errors[
            'overrule-shutdown'
          ],
        );
      },
    },
  ],
  'real-400-password-too-short-pve7.1.json': [
    {
      title:
        'not replayable: PUT /access/password is not served, so the simulator answers 501 (minLength is covered by the validation tests)',
      async run({ client }) {
        const exchange = await client.request('PUT', '/access/password', {
          userid: 'root@pam',
          password: 'abc',
        });
        expect(exchange.status).toBe(501);
        expect(exchange.reason).toBe("Method 'PUT /access/password' not implemented");
      },
    },
  ],
  'real-500-guest-locked-pve7.json': [
    {
      title:
        'a locked guest: 500 with the lock in the reason phrase and {"data":null} (VM instead of the recorded CT)',
      async run({ simulator, client }, [recorded]) {
        await createVm(client, 'pve', 103);
        (simulator.state.vms.get(103) as { config: Record<string, string> }).config.lock = 'disk';
        const exchange = await client.request('PUT', '/nodes/pve/qemu/103/config', {
          name: 'renamed',
        });
        expectReplay(recorded as Recorded, exchange, { reason: 'VM is locked (disk)' });
      },
    },
  ],
  'real-access-ticket-pve8.json': [
    {
      title: 'POST /access/ticket: username, ticket, CSRF token, cap and clustername',
      async run({ client }, [recorded]) {
        const exchange = await client.login('root@pam', 'secret');
        expectReplay(recorded as Recorded, exchange);
        const data = (exchange.body as { data: { ticket: string; CSRFPreventionToken: string } })
          .data;
        expect(data.ticket).toMatch(/^PVE:root@pam:[0-9A-F]{8}::[A-Za-z0-9+/=]+$/);
        expect(data.CSRFPreventionToken).toMatch(/^[0-9A-F]{8}:[A-Za-z0-9+/]{43}$/);
        expect(data.CSRFPreventionToken.slice(0, 8)).toBe(data.ticket.split(':')[2]);
      },
    },
  ],
  'real-agent-network-get-interfaces-pve6.1.json': [
    {
      title: 'guest agent interfaces: {"result":[{name, hardware-address, ip-addresses[]}]}',
      async run({ client }, [recorded]) {
        await createVm(client, 'pve', 104, { agent: 1, net0: 'virtio,bridge=vmbr0' });
        expect(await client.run('POST', '/nodes/pve/qemu/104/status/start')).toBe('OK');
        const exchange = await client.request(
          'GET',
          '/nodes/pve/qemu/104/agent/network-get-interfaces',
        );
        expectReplay(recorded as Recorded, exchange);
      },
    },
  ],
  'real-cluster-resources-pve8.json': [
    {
      title: 'cluster resources: qemu, node and storage entries with the recorded keys and types',
      async run({ client }, [recorded]) {
        await createVm(client, 'pve', 100, { scsi0: 'local-lvm:8' });
        expect(await client.run('POST', '/nodes/pve/qemu/100/status/start')).toBe('OK');
        const exchange = await client.request('GET', '/cluster/resources');
        expect(exchange.status).toBe(200);
        const mine = (exchange.body as { data: Array<{ type: string }> }).data;
        const theirs = ((recorded as Recorded).body as { data: Array<{ type: string }> }).data;
        for (const type of new Set(theirs.map((item) => item.type))) {
          const expected = theirs.find((item) => item.type === type);
          const actual = mine.find((item) => item.type === type);
          expect(actual, `a ${type} entry`).toBeDefined();
          expect(shapeDifferences(expected, actual)).toEqual([]);
        }
      },
    },
  ],
  'real-fog-access-ticket.json': [
    {
      title: 'POST /access/ticket (form-encoded username/password)',
      async run({ client }, recorded) {
        expectReplay(recorded[0] as Recorded, await client.login('root@pam', 'secret'), {
          ignore: ['data.cap.nodes.Sys.Incoming', 'data.cap.dc.SDN.Allocate'],
        });
      },
    },
  ],
  'real-fog-auth-failures.json': [
    {
      title: 'wrong password: 401 "authentication failure" with {"data":null}',
      async run({ client }, recorded) {
        const exchange = await client.request(
          'POST',
          '/access/ticket',
          { username: 'root@pam', password: 'wrong_password' },
          { auth: false },
        );
        expectReplay(recorded[0] as Recorded, exchange);
      },
    },
    {
      title:
        'wrong token secret: 401 before routing, no content type; PVE >= 9.1.5 says "Authentication failed!", and since pve-http-server 5.2 the body is the plain message',
      async run({ simulator }, recorded) {
        const tokenClient = new SimulatorTestClient(simulator).useToken(
          TOKEN.tokenid,
          'wrong_token',
        );
        const exchange = await tokenClient.request('GET', '/access/users/root@pam/token/root1');
        const reason =
          simulator.version === '8.4' ? 'invalid token value!' : 'Authentication failed!';
        expectReplay(recorded[1] as Recorded, exchange, { reason });
        expect(exchange.text).toBe(`${reason}\n`);
        await tokenClient.close();
      },
    },
  ],
  'real-fog-clone.json': [
    {
      title:
        'full clone: UPID qmclone with the source id, then "no content", then the log with total',
      async run({ simulator, client }, recorded) {
        await createVm(client, 'pve', 100, { virtio0: 'local-lvm:1' });
        simulator.faults.slowTasks({ type: 'qmclone', extraMs: 200 });
        const exchange = await client.request('POST', '/nodes/pve/qemu/100/clone', {
          full: 1,
          newid: 101,
        });
        expectReplay(recorded[0] as Recorded, exchange);
        const upid = (exchange.body as { data: string }).data;
        expect(parseUpid(upid)).toMatchObject({ type: 'qmclone', id: '100' });
        const logPath = `/nodes/pve/tasks/${encodeURIComponent(upid)}/log`;
        expectReplay(recorded[1] as Recorded, await client.request('GET', logPath));
        await client.waitTask(upid);
        expectReplay(recorded[2] as Recorded, await client.request('GET', logPath));
        expectReplay(recorded[3] as Recorded, await client.request('GET', logPath));
      },
    },
  ],
  'real-fog-config.json': [
    {
      title:
        'POST /config allocates "local-lvm:1" as a task; GET /config shows the volume, size and digest',
      async run({ client }, recorded) {
        await createVm(client, 'pve', 100);
        const exchange = await client.request('POST', '/nodes/pve/qemu/100/config', {
          virtio0: 'local-lvm:1,backup=0,replicate=0',
        });
        expectReplay(recorded[0] as Recorded, exchange);
        await client.waitTask((exchange.body as { data: string }).data);
        const config = await client.request('GET', '/nodes/pve/qemu/100/config');
        expectReplay(recorded[1] as Recorded, config);
        expect((config.body as { data: { virtio0: string } }).data.virtio0).toBe(
          'local-lvm:vm-100-disk-0,backup=0,replicate=0,size=1G',
        );
      },
    },
  ],
  'real-fog-create-vm.json': [
    {
      title: 'create: UPID qmcreate; the same vmid again: synchronous 500 naming the node',
      async run({ client }, recorded) {
        const first = await client.request('POST', '/nodes/pve/qemu', { vmid: 100 });
        expectReplay(recorded[0] as Recorded, first);
        expectReplay(
          recorded[1] as Recorded,
          await client.request('POST', '/nodes/pve/qemu', { vmid: 100 }),
        );
      },
    },
  ],
  'real-fog-delete-and-missing.json': [
    {
      title:
        'DELETE: UPID qmdestroy; then status/current: 500 "Configuration file ... does not exist"',
      async run({ client }, recorded) {
        await createVm(client, 'pve', 100);
        const exchange = await client.request('DELETE', '/nodes/pve/qemu/100');
        expectReplay(recorded[0] as Recorded, exchange);
        await client.waitTask((exchange.body as { data: string }).data);
        expectReplay(
          recorded[1] as Recorded,
          await client.request('GET', '/nodes/pve/qemu/100/status/current'),
        );
      },
    },
  ],
  'real-fog-nextid.json': [
    {
      title: 'nextid as a string; vmid=99 rejected by the pve-vmid format',
      async run({ client }, recorded) {
        const exchange = await client.request('GET', '/cluster/nextid');
        expectReplay(recorded[0] as Recorded, exchange);
        expect((exchange.body as { data: string }).data).toBe('100');
        const bad = await client.request('GET', '/cluster/nextid', { vmid: 99 });
        expectReplay(recorded[1] as Recorded, bad);
        expect((bad.body as { errors: unknown }).errors).toEqual(
          ((recorded[1] as Recorded).body as { errors: unknown }).errors,
        );
      },
    },
  ],
  'real-fog-power.json': [
    {
      title:
        'start, stop, suspend (qmpause), resume UPIDs; task status running then stopped; log "no content" then "TASK OK"',
      async run({ simulator, client }, recorded) {
        await createVm(client, 'pve', 100);
        const types = ['qmstart', 'qmstop', 'qmpause', 'qmresume'];
        const paths = ['start', 'stop', 'suspend', 'resume'];
        await client.run('POST', '/nodes/pve/qemu/100/status/start');
        for (const [index, action] of paths.entries()) {
          if (action === 'stop')
            await client.run('POST', '/nodes/pve/qemu/100/status/start').catch(() => undefined);
          if (action === 'suspend') await client.run('POST', '/nodes/pve/qemu/100/status/start');
          const exchange = await client.request('POST', `/nodes/pve/qemu/100/status/${action}`);
          expectReplay(recorded[index] as Recorded, exchange);
          const upid = (exchange.body as { data: string }).data;
          expect(parseUpid(upid)?.type).toBe(types[index]);
          await client.waitTask(upid);
        }
        simulator.faults.slowTasks({ type: 'qmresume', extraMs: 200 });
        await client.run('POST', '/nodes/pve/qemu/100/status/suspend');
        const resume = (await client.request('POST', '/nodes/pve/qemu/100/status/resume')).body as {
          data: string;
        };
        const statusPath = `/nodes/pve/tasks/${encodeURIComponent(resume.data)}/status`;
        const logPath = `/nodes/pve/tasks/${encodeURIComponent(resume.data)}/log`;
        expectReplay(recorded[4] as Recorded, await client.request('GET', statusPath));
        expectReplay(recorded[6] as Recorded, await client.request('GET', logPath));
        await client.waitTask(resume.data);
        expectReplay(recorded[5] as Recorded, await client.request('GET', statusPath));
        const log = await client.request('GET', logPath);
        expectReplay(recorded[7] as Recorded, log);
        expect(log.body).toEqual(recorded[7]?.body);
      },
    },
  ],
  'real-fog-qemu-list-pve6.json': [
    {
      title:
        'qemu list of a stopped VM; PVE 6 sent vmid as a string, template "" and pid null, modern PVE sends an integer vmid and omits template/pid',
      async run({ client }, recorded) {
        await createVm(client, 'pve', 100);
        const exchange = await client.request('GET', '/nodes/pve/qemu');
        expectReplay(recorded[0] as Recorded, exchange, {
          ignore: ['data[].vmid', 'data[].template', 'data[].pid'],
        });
        const [vm] = (exchange.body as { data: Array<Record<string, unknown>> }).data;
        expect(typeof vm?.vmid).toBe('number');
        expect(vm).not.toHaveProperty('pid');
      },
    },
  ],
  'real-fog-resize-pve6.json': [
    {
      title: 'resize +1G: PVE 6/7 answered null synchronously, PVE 8+ answers a "resize" task UPID',
      async run({ client }, recorded) {
        await createVm(client, 'pve', 100, { virtio0: 'local-lvm:1' });
        const exchange = await client.request('PUT', '/nodes/pve/qemu/100/resize', {
          disk: 'virtio0',
          size: '+1G',
        });
        expectReplay(recorded[0] as Recorded, exchange, { ignore: ['data'] });
        const upid = (exchange.body as { data: string }).data;
        expect(parseUpid(upid)?.type).toBe('resize');
        expect((await client.waitTask(upid)).exitstatus).toBe('OK');
        const config = await client.data<{ virtio0: string }>('GET', '/nodes/pve/qemu/100/config');
        expect(config.virtio0).toBe('local-lvm:vm-100-disk-0,size=2G');
      },
    },
  ],
  'real-fog-snapshots-pve7.4.json': [
    {
      title:
        'create, status, config, snapshot, task status, snapshot list with "current", snapshot description, delete, task list',
      async run({ client }, recorded) {
        const node = 'proxmox-noris';
        const create = await client.request('POST', `/nodes/${node}/qemu`, { vmid: 101 });
        expectReplay(recorded[0] as Recorded, create);
        await client.waitTask((create.body as { data: string }).data);
        expectReplay(
          recorded[1] as Recorded,
          await client.request('GET', `/nodes/${node}/qemu/101/status/current`),
        );
        const config = await client.request('GET', `/nodes/${node}/qemu/101/config`);
        expectReplay(recorded[2] as Recorded, config);
        expect((config.body as { data: { boot: string } }).data.boot).toBe(' ');
        const snapshot = await client.request('POST', `/nodes/${node}/qemu/101/snapshot`, {
          snapname: 'snapshot1',
          vmstate: 0,
        });
        expectReplay(recorded[3] as Recorded, snapshot);
        const upid = (snapshot.body as { data: string }).data;
        await client.waitTask(upid);
        expectReplay(
          recorded[4] as Recorded,
          await client.request('GET', `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`),
        );
        expectReplay(
          recorded[5] as Recorded,
          await client.request('GET', `/nodes/${node}/qemu/101/snapshot`),
        );
        expectReplay(
          recorded[6] as Recorded,
          await client.request('PUT', `/nodes/${node}/qemu/101/snapshot/snapshot1/config`, {
            description: 'Snapshot 1',
          }),
        );
        const list = await client.request('GET', `/nodes/${node}/qemu/101/snapshot`);
        expectReplay(recorded[7] as Recorded, list);
        const named = (list.body as { data: Array<{ name: string; description: string }> }).data;
        expect(named.find((item) => item.name === 'snapshot1')?.description).toBe('Snapshot 1');
        const remove = await client.request(
          'DELETE',
          `/nodes/${node}/qemu/101/snapshot/snapshot1`,
          { force: 0 },
        );
        expectReplay(recorded[8] as Recorded, remove);
        await client.waitTask((remove.body as { data: string }).data);
        expectReplay(recorded[9] as Recorded, await client.request('GET', `/nodes/${node}/tasks`));
      },
    },
  ],
  'real-fog-status-current-running-pve6.json': [
    {
      title:
        'status/current of a running VM; PVE 6 sent pid/vmid as strings and template "", QEMU statistics (blockstat, nics) are not simulated',
      async run({ client }, recorded) {
        await createVm(client, 'pve', 100);
        await client.run('POST', '/nodes/pve/qemu/100/status/start');
        const exchange = await client.request('GET', '/nodes/pve/qemu/100/status/current');
        expectReplay(recorded[0] as Recorded, exchange, {
          ignore: [
            'data.pid',
            'data.vmid',
            'data.template',
            'data.blockstat',
            'data.nics',
            'data.ballooninfo',
            'data.proxmox-support',
            'data.spice',
          ],
        });
        const data = (exchange.body as { data: { pid: unknown; vmid: unknown } }).data;
        expect(typeof data.pid).toBe('number');
        expect(typeof data.vmid).toBe('number');
      },
    },
  ],
  'real-fog-task-failed.json': [
    {
      title:
        'a failed task: status "stopped", exitstatus = the error text (a qemu start of a template stands in for the recorded vzcreate and termproxy failures)',
      async run({ client }, recorded) {
        await createVm(client, 'pve', 100, { template: 1 });
        const upid = await client.data<string>('POST', '/nodes/pve/qemu/100/status/start');
        await client.waitTask(upid);
        const exchange = await client.request(
          'GET',
          `/nodes/pve/tasks/${encodeURIComponent(upid)}/status`,
        );
        expectReplay(recorded[0] as Recorded, exchange);
        expectReplay(recorded[1] as Recorded, exchange);
        expect((exchange.body as { data: { exitstatus: string } }).data.exitstatus).toBe(
          "you can't start a vm if it's a template",
        );
      },
    },
  ],
  'real-fog-task-list.json': [
    {
      title: 'task list: exit status text in "status", endtime, top-level total',
      async run({ client }, recorded) {
        await createVm(client, 'pve', 100);
        const exchange = await client.request('GET', '/nodes/pve/tasks');
        expectReplay(recorded[0] as Recorded, exchange);
        expect((exchange.body as { total: number }).total).toBe(1);
      },
    },
  ],
  'real-fog-template-pve6.json': [
    {
      title:
        'template: PVE 6 answered null, PVE 7.4+ (schema: returns a string) answers a qmtemplate UPID',
      async run({ client }, recorded) {
        await createVm(client, 'pve', 101, { scsi0: 'local-lvm:1' });
        const exchange = await client.request('POST', '/nodes/pve/qemu/101/template');
        expectReplay(recorded[0] as Recorded, exchange, { ignore: ['data'] });
        const upid = (exchange.body as { data: string }).data;
        expect(parseUpid(upid)?.type).toBe('qmtemplate');
        await client.waitTask(upid);
        const config = await client.data<{ scsi0: string; template: number }>(
          'GET',
          '/nodes/pve/qemu/101/config',
        );
        expect(config.template).toBe(1);
        expect(config.scsi0).toBe('local-lvm:base-101-disk-0,size=1G');
      },
    },
  ],
  'real-fog-version.json': [
    {
      title:
        'version: release, version, repoid ("keyboard" only appears when datacenter.cfg sets one)',
      async run({ simulator, client }, recorded) {
        const exchange = await client.request('GET', '/version');
        expectReplay(recorded[0] as Recorded, exchange, { ignore: ['data.keyboard'] });
        expect((exchange.body as { data: { release: string } }).data.release).toBe(
          simulator.version,
        );
      },
    },
  ],
  'real-fog-vncproxy.json': [
    {
      title:
        'vncproxy websocket=1: port as a string, cert, PVEVNC ticket, upid; the task ends "connection timed out" after 10 s unused',
      async run({ client, clock }, recorded) {
        const manual = clock as ManualClock;
        const settle = async (upid: string) => {
          for (let round = 0; round < 50; round++) {
            await manual.advance(100);
            const status = await client.data<{ status: string }>(
              'GET',
              `/nodes/pve/tasks/${encodeURIComponent(upid)}/status`,
            );
            if (status.status === 'stopped') return;
          }
        };
        await settle(await client.data<string>('POST', '/nodes/pve/qemu', { vmid: 100 }));
        await settle(await client.data<string>('POST', '/nodes/pve/qemu/100/status/start'));
        const exchange = await client.request('POST', '/nodes/pve/qemu/100/vncproxy', {
          websocket: 1,
        });
        expectReplay(recorded[0] as Recorded, exchange);
        const data = (exchange.body as { data: { port: unknown; ticket: string; upid: string } })
          .data;
        expect(typeof data.port).toBe('string');
        expect(data.ticket).toMatch(/^PVEVNC:[0-9A-F]{8}::/);
        expect(data.upid).toMatch(upidPattern);
        await manual.advance(11_000);
        await settle(data.upid);
        expectReplay(
          recorded[1] as Recorded,
          await client.request('GET', `/nodes/pve/tasks/${encodeURIComponent(data.upid)}/status`),
        );
      },
    },
  ],
  'real-fog-vzdump.json': [
    {
      title: 'not replayable: vzdump (backups) is not served, so the simulator answers 501',
      async run({ client }) {
        const exchange = await client.request('POST', '/nodes/pve/vzdump', {
          vmid: 100,
          compress: 'lzo',
        });
        expect(exchange.status).toBe(501);
        expect(exchange.reason).toBe("Method 'POST /nodes/pve/vzdump' not implemented");
      },
    },
  ],
  'real-nodes-list-pve7.json': [
    {
      title: 'nodes list with ssl_fingerprint, level, uptime and resource counters',
      async run({ client }, [recorded]) {
        expectReplay(recorded as Recorded, await client.request('GET', '/nodes'));
      },
    },
  ],
  'real-status-current-pve8.0.json': [
    {
      title:
        'status/current of a running VM with agent (QEMU block/balloon statistics and spice are not simulated)',
      async run({ client }, [recorded]) {
        await createVm(client, 'pve', 101, { agent: 1, memory: 2000 });
        await client.run('POST', '/nodes/pve/qemu/101/status/start');
        expectReplay(
          recorded as Recorded,
          await client.request('GET', '/nodes/pve/qemu/101/status/current'),
          {
            ignore: [
              'data.blockstat',
              'data.ballooninfo',
              'data.proxmox-support',
              'data.nics',
              'data.spice',
            ],
          },
        );
      },
    },
  ],
  'real-task-status-running-ticket-auth.json': [
    {
      title:
        'status of a running qmconfig task read with ticket auth (the later stopped reply is only a prefix in the recording)',
      async run({ simulator, client }, [recorded]) {
        await createVm(client, 'pve', 113);
        simulator.faults.slowTasks({ type: 'qmconfig', extraMs: 300 });
        const upid = await client.data<string>('POST', '/nodes/pve/qemu/113/config', { cores: 2 });
        const exchange = await client.request(
          'GET',
          `/nodes/pve/tasks/${encodeURIComponent(upid)}/status`,
        );
        expectReplay(recorded as Recorded, exchange);
        expect((exchange.body as { data: { status: string } }).data.status).toBe('running');
        await client.waitTask(upid);
      },
    },
  ],
  'real-vncproxy-shape.json': [
    {
      title: 'vncproxy: cert, user, upid, port (string), ticket',
      async run({ client }, [recorded]) {
        await createVm(client, 'pve', 100);
        await client.run('POST', '/nodes/pve/qemu/100/status/start');
        expectReplay(
          recorded as Recorded,
          await client.request('POST', '/nodes/pve/qemu/100/vncproxy'),
        );
      },
    },
  ],
};

const SAMPLE_FILES = readdirSync(FIXTURES)
  .filter((file) => /^real-.*\.json$/.test(file))
  .sort();

describe('sample replay coverage', () => {
  it('every real-*.json sample the project carries has a replay entry', () => {
    expect(SAMPLE_FILES.length).toBeGreaterThan(0);
    for (const file of SAMPLE_FILES) expect(Object.keys(REPLAYS), file).toContain(file);
  });

  it('the shape comparison catches Perl-loose type changes and missing keys', () => {
    expect(shapeDifferences({ data: { vmid: 100 } }, { data: { vmid: '100' } })).toEqual([
      'data.vmid: recorded number, simulated string',
    ]);
    expect(shapeDifferences({ data: [{ n: 1, t: 'x' }] }, { data: [{ n: 1 }] })).toEqual([
      'data[].t: missing',
    ]);
    expect(shapeDifferences({ data: null }, { data: 'UPID:…' })).toEqual([
      'data: recorded null, simulated string',
    ]);
    expect(shapeDifferences({ data: { a: 1 } }, { data: { a: 1, extra: true } })).toEqual([]);
  });
});

describe.each(['8.4', '9.1'] as const)('replay of real samples against PVE %s', (version) => {
  let environment: Environment | undefined;

  afterEach(async () => {
    if (!environment) return;
    await environment.client.close();
    await environment.simulator.close();
    environment = undefined;
  });

  for (const file of SAMPLE_FILES) {
    for (const replay of REPLAYS[file] ?? []) {
      it(`${file}: ${replay.title}`, async () => {
        const clock =
          file === 'real-fog-vncproxy.json' ? new ManualClock(Date.UTC(2026, 0, 1)) : undefined;
        const simulator = await startProxmoxSimulator({
          version,
          nodes: ['pve', 'pve2', 'proxmox-noris'],
          rootPassword: 'secret',
          tokens: [TOKEN],
          taskDurationMs: 5,
          verifyReturns: true,
          ...(clock ? { clock } : {}),
        });
        const client = new SimulatorTestClient(simulator);
        environment = { simulator, client, ...(clock ? { clock } : {}) };
        if (file !== 'real-access-ticket-pve8.json' && file !== 'real-fog-access-ticket.json') {
          expect((await client.login('root@pam', 'secret')).status).toBe(200);
        }
        await replay.run(environment, loadSample(file).exchanges);
      });
    }
  }
});
