/**
 * vSphere-specific outcomes on the vcsim bed that the shared conformance suite cannot see: vcsim
 * runs no guest, so `guest.agent` is unsupported and the suite never looks inside a VM. These
 * tests go through the public provider API and, where it exposes nothing, read the VM's
 * properties directly with a VimClient of their own (cloud-init guestinfo, the customization
 * vcsim applies at power-on, the key-derived instanceUuid, the cluster's HA/DRS overrides).
 *
 * Every VM is named `hvkit-vsphere-test-<random>-…` and swept by that prefix at the end.
 */
import { randomBytes } from 'node:crypto';
import {
  ConflictError,
  HvkitError,
  type Provider,
  shortHash,
  type Vm,
  type VmSpecInput,
} from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOne } from '../src/client/property-reader.js';
import { createVsphereDispatcher } from '../src/client/tls.js';
import { VimClient } from '../src/client/vim-client.js';
import { createVsphereProvider } from '../src/index.js';
import type { ManagedObjectReference } from '../src/soap/soap-envelope.js';
import { requireVcsim, type VcsimReady } from './vcsim.js';

const vcsim = requireVcsim();

const PREFIX = `hvkit-vsphere-test-${randomBytes(4).toString('hex')}`;
const PROVIDER_NAME = 'vcsim-h12';
const NETWORK = 'VM Network';
const TEST_MS = 20_000;

function makeProvider(bed: VcsimReady): Provider {
  return createVsphereProvider({
    name: PROVIDER_NAME,
    url: bed.url,
    username: bed.username,
    password: bed.password,
    tls: { ca: bed.certificatePem ?? '' },
  });
}

/** A minimal spec: one vCPU, 256 MiB, one NIC on `VM Network` without addressing. */
function spec(name: string, extra: Partial<VmSpecInput> = {}): VmSpecInput {
  return {
    name,
    cpu: { count: 1 },
    memory: { sizeMiB: 256 },
    nics: [{ network: NETWORK }],
    ...extra,
  };
}

const vmRef = (id: string): ManagedObjectReference => ({ type: 'VirtualMachine', value: id });

/** A value that may come back as one item or as an array of them, as an array. */
function many(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/**
 * The value of `key` in an extraConfig array as read back, LAST entry winning (vcsim appends on
 * every re-set). Written here rather than taken from the mapper, so the test does not share the
 * code it checks.
 */
function optionOf(extraConfig: unknown, key: string): string | undefined {
  let found: string | undefined;
  for (const entry of many(extraConfig)) {
    const option = record(entry);
    if (option.key === key) found = typeof option.value === 'string' ? option.value : undefined;
  }
  return found;
}

function keysOf(extraConfig: unknown): string[] {
  return many(extraConfig).map((entry) => String(record(entry).key));
}

const fromBase64 = (text: string | undefined): string =>
  Buffer.from(text ?? '', 'base64').toString('utf8');

/** The RFC 9562 version-8 UUID the provider derives from an idempotency key (docs/providers/vsphere.md). */
function uuidOfKey(key: string): string {
  const hex = shortHash(`hvkit.idempotency:${key}`, 32);
  const variant = ((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

async function rejectionOf(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, the call succeeded');
}

describe.skipIf(!vcsim)('vsphere provider on vcsim: vSphere-specific outcomes', () => {
  const bed = vcsim as VcsimReady;
  let provider: Provider;
  let reader: VimClient;
  const others: Provider[] = [];

  /** Another instance of the same provider (same name and endpoint): no shared memory. */
  function another(): Provider {
    const instance = makeProvider(bed);
    others.push(instance);
    return instance;
  }

  async function props(id: string, paths: string[]): Promise<Record<string, unknown>> {
    return (await readOne(reader, vmRef(id), paths)).properties;
  }

  async function namesUnderPrefix(): Promise<string[]> {
    const names: string[] = [];
    for await (const vm of provider.list({ namePrefix: PREFIX })) names.push(vm.name);
    return names.sort();
  }

  beforeAll(() => {
    provider = makeProvider(bed);
    reader = new VimClient({
      url: bed.url,
      username: bed.username,
      password: bed.password,
      dispatcher: createVsphereDispatcher({ ca: bed.certificatePem ?? '' }),
      provider: 'h12-reader',
    });
  });

  afterAll(async () => {
    try {
      for await (const vm of provider.list({ namePrefix: PREFIX })) {
        await provider.delete(vm);
      }
      expect(await namesUnderPrefix()).toEqual([]);
    } finally {
      await Promise.all([provider.close(), reader.close(), ...others.map((p) => p.close())]);
    }
  }, 30_000);

  describe('cloud-init (guest.cloudInit): guestinfo keys of the VMware datasource', () => {
    it(
      'writes user data, metadata with the network config inside, each base64 with .encoding',
      async () => {
        const name = `${PREFIX}-cloudinit`;
        const userData = '#cloud-config\nruncmd:\n  - [sh, -c, "echo hvkit > /tmp/ok"]\n';
        const metaData = { 'instance-id': `${name}-id`, 'local-hostname': 'ci-h12' };
        const networkConfig = {
          version: 2,
          ethernets: {
            nic0: {
              match: { name: 'e*' },
              dhcp4: false,
              addresses: ['192.0.2.10/24'],
              routes: [{ to: '0.0.0.0/0', via: '192.0.2.1' }],
              nameservers: { addresses: ['192.0.2.53'] },
            },
          },
        };
        const vm = await provider.create(
          spec(name, { cloudInit: { userData, metaData, networkConfig } }),
        );
        const read = await props(vm.ref.id, [
          'config.extraConfig',
          'config.tools.pendingCustomization',
        ]);
        const extra = read['config.extraConfig'];

        expect(optionOf(extra, 'guestinfo.userdata.encoding')).toBe('base64');
        expect(fromBase64(optionOf(extra, 'guestinfo.userdata'))).toBe(userData);
        expect(optionOf(extra, 'guestinfo.metadata.encoding')).toBe('base64');
        const metadata = JSON.parse(fromBase64(optionOf(extra, 'guestinfo.metadata')));
        expect(metadata).toEqual({
          ...metaData,
          network: expect.any(String),
          'network.encoding': 'base64',
        });
        expect(JSON.parse(fromBase64(metadata.network))).toEqual(networkConfig);
        // DataSourceVMware has no key of its own for the network config.
        expect(keysOf(extra).filter((key) => key.startsWith('guestinfo.network'))).toEqual([]);
        // Each key is written once at create (no duplicates for "last wins" to hide).
        for (const key of ['guestinfo.userdata', 'guestinfo.metadata']) {
          expect(keysOf(extra).filter((k) => k === key)).toHaveLength(1);
        }
        // With cloud-init, vSphere guest customization is not run.
        expect(read['config.tools.pendingCustomization'] ?? '').toBe('');
      },
      TEST_MS,
    );

    it(
      'generates netplan v2 from a static NIC when no networkConfig is given, and the host name',
      async () => {
        const name = `${PREFIX}-cloudinit-nic`;
        const vm = await provider.create(
          spec(name, {
            nics: [
              {
                network: NETWORK,
                ipv4: { address: '198.51.100.7/24', gateway: '198.51.100.1' },
                dns: { servers: ['198.51.100.53'], search: ['lab.example'] },
              },
            ],
            cloudInit: { userData: '#cloud-config\n', metaData: { 'instance-id': name } },
            customization: { hostname: 'ci-generated' },
          }),
        );
        const extra = (await props(vm.ref.id, ['config.extraConfig']))['config.extraConfig'];
        const metadata = JSON.parse(fromBase64(optionOf(extra, 'guestinfo.metadata')));
        expect(metadata['instance-id']).toBe(name);
        expect(metadata['local-hostname']).toBe('ci-generated');
        expect(metadata['network.encoding']).toBe('base64');
        expect(JSON.parse(fromBase64(metadata.network))).toEqual({
          version: 2,
          ethernets: {
            nic0: {
              match: { name: 'e*' },
              dhcp4: false,
              addresses: ['198.51.100.7/24'],
              routes: [{ to: '0.0.0.0/0', via: '198.51.100.1' }],
              nameservers: { addresses: ['198.51.100.53'], search: ['lab.example'] },
            },
          },
        });
      },
      TEST_MS,
    );
  });

  describe('customization (guest.customization, network.staticIp): applied by vcsim at power-on', () => {
    it(
      'static IPv4: guest.hostName, guest.net[0] and get().nics[0].ipAddresses after powerOn',
      async () => {
        const name = `${PREFIX}-cust-static`;
        const vm = await provider.create(
          spec(name, {
            nics: [
              {
                network: NETWORK,
                ipv4: { address: '192.0.2.50/24', gateway: '192.0.2.1' },
                dns: { servers: ['192.0.2.53'], search: ['lab.example'] },
              },
            ],
            customization: { hostname: 'h12-web', domain: 'example.test' },
          }),
        );
        // CustomizeVM_Task ran at create: a customization is pending, nothing applied yet.
        const before = await props(vm.ref.id, [
          'config.tools.pendingCustomization',
          'guest.hostName',
        ]);
        expect(before['config.tools.pendingCustomization']).toEqual(expect.stringMatching(/.+/));
        expect(before['guest.hostName'] ?? '').not.toBe('h12-web');

        await provider.powerOn(vm);
        const after = await props(vm.ref.id, [
          'config.tools.pendingCustomization',
          'guest.hostName',
          'guest.ipAddress',
          'guest.net',
        ]);
        expect(after['guest.hostName']).toBe('h12-web');
        expect(after['guest.ipAddress']).toBe('192.0.2.50');
        expect(after['config.tools.pendingCustomization'] ?? '').toBe('');
        const net = many(after['guest.net']).map(record);
        expect(net).toHaveLength(1);
        const nic0 = net[0] ?? {};
        expect(many(nic0.ipAddress)).toContain('192.0.2.50');
        const dns = record(nic0.dnsConfig);
        expect(many(dns.ipAddress)).toEqual(['192.0.2.53']);
        expect(dns.domainName).toBe('lab.example');
        expect(many(dns.searchDomain)).toEqual(['example.test', 'lab.example']);

        const full = await provider.get(vm);
        expect(full.powerState).toBe('on');
        expect(full.nics).toHaveLength(1);
        expect(full.nics[0]?.mac).toBe(String(nic0.macAddress).toLowerCase());
        expect(full.nics[0]?.ipAddresses).toContain('192.0.2.50');
        expect(full.guest.hostname).toBe('h12-web');
        expect(full.guest.ipAddresses).toContain('192.0.2.50');
      },
      TEST_MS,
    );

    it(
      'DHCP NIC: accepted, the host name is applied and no static address appears',
      async () => {
        const name = `${PREFIX}-cust-dhcp`;
        const vm = await provider.create(
          spec(name, {
            nics: [{ network: NETWORK, ipv4: 'dhcp' }],
            customization: { hostname: 'h12-dhcp' },
            powerState: 'on',
          }),
        );
        const after = await props(vm.ref.id, ['guest.hostName', 'guest.ipAddress', 'guest.net']);
        expect(after['guest.hostName']).toBe('h12-dhcp');
        expect(after['guest.ipAddress']).toBeUndefined();
        const net = many(after['guest.net']).map(record);
        expect(net).toHaveLength(1);
        expect(many(net[0]?.ipAddress)).toEqual([]);
        const full = await provider.get(vm);
        expect(full.nics[0]?.ipAddresses).toEqual([]);
        expect(full.guest.hostname).toBe('h12-dhcp');
      },
      TEST_MS,
    );
  });

  describe('list (summaries) vs get (full records)', () => {
    it(
      'list items are summaries that agree with get on name, power, cpu, memory, template, tags',
      async () => {
        const listPrefix = `${PREFIX}-list-`;
        const on = await provider.create(
          spec(`${listPrefix}on`, {
            cpu: { count: 2, coresPerSocket: 2 },
            memory: { sizeMiB: 512, hotAdd: true },
            disks: [{ sizeGiB: 1 }],
            tags: { team: 'h12', role: 'on' },
            powerState: 'on',
          }),
        );
        const off = await provider.create(
          spec(`${listPrefix}off`, {
            disks: [{ sizeGiB: 1 }],
            tags: { team: 'h12', role: 'off' },
          }),
        );

        const items = [];
        for await (const item of provider.list({ namePrefix: listPrefix })) items.push(item);
        items.sort((a, b) => a.name.localeCompare(b.name));
        expect(items.map((item) => item.ref.id)).toEqual([off.ref.id, on.ref.id]);
        for (const item of items) {
          expect(item.detail).toBe('summary');
          expect(item.disks).toEqual([]);
          expect(item.nics).toEqual([]);
          const full = await provider.get(item);
          expect(full.detail).toBe('full');
          expect(full.disks).toHaveLength(1);
          expect(full.disks[0]?.sizeBytes).toBe(2 ** 30);
          expect(full.nics).toHaveLength(1);
          expect(full.nics[0]?.network).toBe(NETWORK);
          // Allocations (reservations, limits) are optional and not read for a summary.
          const shape = (vm: typeof full) => ({
            name: vm.name,
            powerState: vm.powerState,
            template: vm.template,
            cpu: {
              count: vm.cpu.count,
              coresPerSocket: vm.cpu.coresPerSocket,
              hotAdd: vm.cpu.hotAdd,
            },
            memory: { sizeMiB: vm.memory.sizeMiB, hotAdd: vm.memory.hotAdd },
          });
          expect(shape(item)).toEqual(shape(full));
        }
        expect(items[1]?.powerState).toBe('on');
        expect(items[1]?.cpu).toMatchObject({ count: 2, coresPerSocket: 2 });
        expect(items[1]?.memory).toMatchObject({ sizeMiB: 512, hotAdd: true });
        expect(items[0]?.powerState).toBe('off');

        // A tags filter reads the tags: the summary's then equal get's, and filter.
        const tagged = [];
        for await (const item of provider.list({ namePrefix: listPrefix, tags: { role: 'on' } }))
          tagged.push(item);
        expect(tagged.map((item) => item.ref.id)).toEqual([on.ref.id]);
        expect(tagged[0]?.detail).toBe('summary');
        expect(tagged[0]?.tags).toEqual({ team: 'h12', role: 'on' });
        expect(tagged[0]?.tags).toEqual((await provider.get(on)).tags);
        const both = [];
        for await (const item of provider.list({ namePrefix: listPrefix, tags: { team: 'h12' } }))
          both.push(item.name);
        expect(both.sort()).toEqual([`${listPrefix}off`, `${listPrefix}on`]);

        // listPage gives the same summaries, in name order.
        const page = await provider.listPage({ namePrefix: listPrefix, limit: 1 });
        expect(page.items.map((item) => [item.name, item.detail])).toEqual([
          [`${listPrefix}off`, 'summary'],
        ]);
        expect(page.nextCursor).toBeDefined();
      },
      TEST_MS,
    );
  });

  describe('idempotency keys', () => {
    it(
      'a keyed create sets instanceUuid from the key; a replay under another name is idempotency-mismatch and creates nothing',
      async () => {
        const key = `${PREFIX}-key-${randomBytes(6).toString('hex')}`;
        const name = `${PREFIX}-idem-a`;
        const first = provider.create(spec(name), { idempotencyKey: key });
        const vm = await first;
        const uuid = (await props(vm.ref.id, ['config.instanceUuid']))['config.instanceUuid'];
        expect(uuid).toBe(uuidOfKey(key));
        expect(uuid).toMatch(
          /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        );

        // The same key and spec from another instance: the same task id and VM, nothing new.
        const replay = another().create(spec(name), { idempotencyKey: key });
        const again = await replay;
        expect(again.ref.id).toBe(vm.ref.id);
        expect(await replay.submitted()).toBe(await first.submitted());

        // Another key gives another uuid: it is the key's, not fixed.
        const other = await provider.create(spec(`${PREFIX}-idem-b`), {
          idempotencyKey: `${key}-other`,
        });
        const otherUuid = (await props(other.ref.id, ['config.instanceUuid']))[
          'config.instanceUuid'
        ];
        expect(otherUuid).toBe(uuidOfKey(`${key}-other`));
        expect(otherUuid).not.toBe(uuid);

        // Same key, same spec but the name: found by FindByUuid (no VM has the new name).
        const before = await namesUnderPrefix();
        const renamed = `${PREFIX}-idem-renamed`;
        const error = await rejectionOf(another().create(spec(renamed), { idempotencyKey: key }));
        expect(ConflictError.isInstance(error)).toBe(true);
        expect((error as ConflictError).reason).toBe('idempotency-mismatch');
        expect((error as ConflictError).details).toMatchObject({ vm: vm.ref.id });
        expect(await namesUnderPrefix()).toEqual(before);
        expect(before).not.toContain(renamed);
      },
      TEST_MS,
    );
  });

  describe('per-VM policies (advanced.ha, advanced.drs)', () => {
    it(
      'get().policies reports the HA and DRS overrides set on the cluster',
      async () => {
        const vm = await provider.create(spec(`${PREFIX}-policies`));
        await provider.setHighAvailability(vm, { enabled: true, restartPriority: 'high' });
        await provider.setLoadBalancing(vm, { automation: 'manual' });
        expect((await provider.get(vm)).policies).toEqual({
          highAvailability: { enabled: true, restartPriority: 'high' },
          loadBalancing: { automation: 'manual' },
        });

        // Read independently: the VM's cluster holds both overrides for this VM.
        const host = record((await props(vm.ref.id, ['runtime.host']))['runtime.host']);
        const cluster = record(
          (await readOne(reader, { type: 'HostSystem', value: String(host.value) }, ['parent']))
            .properties.parent,
        );
        expect(cluster.type).toBe('ClusterComputeResource');
        const config = record(
          (
            await readOne(
              reader,
              { type: 'ClusterComputeResource', value: String(cluster.value) },
              ['configurationEx'],
            )
          ).properties.configurationEx,
        );
        const mine = (list: unknown) =>
          many(list)
            .map(record)
            .filter((entry) => record(entry.key).value === vm.ref.id);
        const das = mine(config.dasVmConfig);
        expect(das).toHaveLength(1);
        expect(record(das[0]?.dasSettings).restartPriority).toBe('high');
        const drs = mine(config.drsVmConfig);
        expect(drs).toHaveLength(1);
        expect(drs[0]?.behavior).toBe('manual');

        // An edit of both overrides is reported too.
        await provider.setHighAvailability(vm, { enabled: true, restartPriority: 'low' });
        await provider.setLoadBalancing(vm, { automation: 'full' });
        expect((await provider.get(vm)).policies).toEqual({
          highAvailability: { enabled: true, restartPriority: 'low' },
          loadBalancing: { automation: 'full' },
        });
      },
      TEST_MS,
    );
  });

  describe('snapshot revert settles the power state (vcsim only moves currentSnapshot)', () => {
    it(
      'a snapshot taken off reverts to off; a memory snapshot taken on reverts to on',
      async () => {
        const vm = await provider.create(spec(`${PREFIX}-revert`));
        const cold = await provider.createSnapshot(vm, { name: 'cold' });
        expect(cold.memory).toBe(false);
        await provider.powerOn(vm);
        await provider.revertSnapshot(vm, cold.id);
        expect((await provider.get(vm)).powerState).toBe('off');
        expect((await props(vm.ref.id, ['runtime.powerState']))['runtime.powerState']).toBe(
          'poweredOff',
        );
        expect((await provider.listSnapshots(vm)).currentId).toBe(cold.id);

        await provider.powerOn(vm);
        const warm = await provider.createSnapshot(vm, { name: 'warm', memory: true });
        expect(warm.memory).toBe(true);
        await provider.powerOff(vm);
        await provider.revertSnapshot(vm, warm.id);
        expect((await provider.get(vm)).powerState).toBe('on');
        expect((await props(vm.ref.id, ['runtime.powerState']))['runtime.powerState']).toBe(
          'poweredOn',
        );
        expect((await provider.listSnapshots(vm)).currentId).toBe(warm.id);

        // Reverting to the state the VM is already in leaves it so.
        await provider.revertSnapshot(vm, warm.id);
        expect((await provider.get(vm)).powerState).toBe('on');
      },
      TEST_MS,
    );
  });

  describe('console (core.consoleUrl)', () => {
    let consoleVm: Vm | undefined;
    let ticket = '';

    /** Rejections of `calls` on a provider that never saw the ticket, then on the one that did. */
    async function provoked(calls: (on: Provider) => PromiseLike<unknown>[]) {
      const control = await Promise.all(calls(another()).map(rejectionOf));
      const errors = await Promise.all(calls(provider).map(rejectionOf));
      return { control, errors };
    }

    function expectRedacted({ control, errors }: { control: unknown[]; errors: unknown[] }) {
      // The provocation works: a provider that never handed the ticket out shows it.
      for (const error of control) expect(JSON.stringify(error)).toContain(ticket);
      for (const error of errors) expect(HvkitError.isInstance(error)).toBe(true);
      // Every leak at once, so a failure names each error that carries the ticket.
      const leaks = errors
        .map((error) => `${JSON.stringify(error)} / ${String((error as Error).message)}`)
        .filter((text) => text.includes(ticket));
      expect(leaks).toEqual([]);
    }

    it(
      'gives the web console URL without the ticket; a console needs a running VM',
      async () => {
        const vm = await provider.create(spec(`${PREFIX}-console`, { powerState: 'on' }));
        consoleVm = vm;
        const access = await provider.getConsole(vm);
        expect(access.protocol).toBe('webmks');
        ticket = access.ticket ?? '';
        expect(ticket.length).toBeGreaterThanOrEqual(8);
        const url = new URL(access.url);
        expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(
          `https://${new URL(bed.url).host}/ui/webconsole.html`,
        );
        expect(url.searchParams.get('vmId')).toBe(vm.ref.id);
        expect(url.searchParams.get('vmName')).toBe(vm.name);
        expect(url.searchParams.get('serverGuid')).toEqual(expect.stringMatching(/.+/));
        expect(access.url).not.toContain(ticket);
        expect(access.url).not.toContain(encodeURIComponent(ticket));
        expect(access.websocketUrl ?? '').not.toContain(ticket);

        // Checked before any ticket is asked for.
        const stopped = await provider.create(spec(`${PREFIX}-console-off`));
        const off = await rejectionOf(provider.getConsole(stopped));
        expect(ConflictError.isInstance(off)).toBe(true);
        expect((off as ConflictError).reason).toBe('invalid-power-state');
      },
      TEST_MS,
    );

    it(
      'the ticket is redacted from a later SOAP fault that names it',
      async () => {
        expect(ticket).not.toBe('');
        // get() of a VM named by the ticket: vcsim answers ManagedObjectNotFound naming it.
        expectRedacted(await provoked((on) => [on.get({ provider: PROVIDER_NAME, id: ticket })]));
      },
      TEST_MS,
    );

    // Known failing (provider bug, found by this test): errors the driver builds itself get only
    // `{ provider }`, not the redaction list the ticket was pushed to, and core's createProvider
    // does not scrub driver errors with `driver.redact` either. Leaks seen: decodeTaskId
    // (src/vsphere-task-id.ts, `no vSphere task "<ticket>"`) and #snapshotOf
    // (src/vsphere-driver.ts, `snapshot "<ticket>" not found`). Fix: pass `redact: this.redact`
    // to every error the driver constructs (decodeTaskId taking it as a parameter), or scrub
    // every error a driver throws with its `redact` in core once, which covers them all.
    it(
      'the ticket is redacted from later errors the driver builds itself (task id, snapshot id)',
      async () => {
        expect(ticket).not.toBe('');
        const vm = consoleVm ?? { ref: { provider: PROVIDER_NAME, id: 'missing' } };
        expectRedacted(await provoked((on) => [on.getTask(ticket), on.revertSnapshot(vm, ticket)]));
      },
      TEST_MS,
    );
  });

  describe('tasks (core.taskStatus)', () => {
    it(
      'a create task serialises without secrets and resumes on another instance to the same VM',
      async () => {
        const secret = `pw-${randomBytes(8).toString('hex')}`;
        const task = provider.create(
          spec(`${PREFIX}-task`, {
            cloudInit: {
              userData: `#cloud-config\npassword: ${secret}\nchpasswd: { expire: false }\n`,
            },
          }),
        );
        const id = await task.submitted();
        const early = JSON.stringify(task);
        const vm = await task;
        const late = JSON.stringify(task);
        for (const json of [early, late]) {
          expect(json).not.toContain(bed.password);
          expect(json).not.toContain(secret);
          // The id is base64url JSON: look inside it too.
          const payload = Buffer.from(id.replace(/^vs\./, ''), 'base64url').toString('utf8');
          expect(payload).not.toContain(bed.password);
          expect(payload).not.toContain(secret);
          expect(JSON.parse(json)).toMatchObject({
            type: 'hvkit.task',
            provider: PROVIDER_NAME,
            id,
            kind: 'vm.create',
          });
        }

        const resumed = another().resumeTask<{ ref: { id: string }; name: string }>(
          JSON.parse(late),
        );
        const same = await resumed;
        expect(same.ref.id).toBe(vm.ref.id);
        expect(same.name).toBe(vm.name);
        const fromEarly = await another().resumeTask<{ ref: { id: string } }>(early);
        expect(fromEarly.ref.id).toBe(vm.ref.id);
      },
      TEST_MS,
    );
  });
});
