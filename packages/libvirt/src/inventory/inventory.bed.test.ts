// The inventory against the REAL bed (libvirt 9.0, QEMU 7.2, TCG): define 200 tiny domains with one
// runMany of `define`, describe them in one round trip, compare field by field with what was
// defined, map the power states (one domain started paused, one started and managed-saved), and
// time the description against one `virsh list --all`. Everything made here is named
// `hvkit-lv3-<run>-…` and undefined in afterAll. HVKIT_RECORD_FIXTURES=1 rewrites __fixtures__/
// for the offline mapping tests (fixed names; needs the bed to itself).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { escapeXml, NotFoundError, type Vm, VmSchema } from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToBed, type LibvirtReady, requireLibvirtBed } from '../../test/libvirt-bed.js';
import { Virsh } from '../virsh/virsh.js';

const esc = (value: string): string => escapeXml(value, 'test');

import { describeDomain, describeDomains, listDomains } from './inventory.js';

const bed = requireLibvirtBed();
const RECORD = process.env.HVKIT_RECORD_FIXTURES === '1';
const FIXTURES = new URL('./__fixtures__/', import.meta.url);
const RUN_BYTES = RECORD ? [0x4c, 0x33] : [...randomBytes(2)];
const PREFIX = `hvkit-lv3-${RECORD ? '' : `${Buffer.from(RUN_BYTES).toString('hex')}-`}`;
const COUNT = 200;
const CONTEXT = { provider: 'libvirt', host: 'bed' };

interface Defined {
  name: string;
  vcpus: number;
  maxVcpus: number;
  memoryMiB: number;
  maxMemoryMiB: number;
  mac: string;
  tags: Record<string, string>;
  disk: boolean;
}

function macOf(index: number): string {
  return ['52', '54', ...RUN_BYTES, index >> 8, index & 0xff]
    .map((part) => (typeof part === 'number' ? part.toString(16).padStart(2, '0') : part))
    .join(':');
}

function domainXml(domain: Defined, ready: LibvirtReady, diskPath: string): string {
  const tags = Object.entries(domain.tags)
    .map(([key, value]) => `<hvkit:tag key='${esc(key)}'>${esc(value)}</hvkit:tag>`)
    .join('');
  return `<domain type='qemu'>
  <name>${esc(domain.name)}</name>
  <memory unit='MiB'>${domain.maxMemoryMiB}</memory>
  <currentMemory unit='MiB'>${domain.memoryMiB}</currentMemory>
  <vcpu current='${domain.vcpus}'>${domain.maxVcpus}</vcpu>
  <metadata><hvkit:tags xmlns:hvkit='https://hvkit.dev/libvirt/1'>${tags}</hvkit:tags></metadata>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${esc(ready.guest.kernel)}</kernel><initrd>${esc(ready.guest.initrd)}</initrd>
    <cmdline>${esc(ready.guest.cmdline)}</cmdline></os>
  <on_poweroff>destroy</on_poweroff><on_crash>destroy</on_crash>
  <devices>
    ${domain.disk ? `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${esc(diskPath)}'/><target dev='vda' bus='virtio'/></disk>` : ''}
    <interface type='network'><mac address='${domain.mac}'/><source network='${esc(ready.network)}'/><model type='virtio'/></interface>
    <serial type='pty'/><memballoon model='virtio'/>
  </devices>
</domain>`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function timed(action: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await action();
  return performance.now() - start;
}

describe.skipIf(!bed)('domain inventory on the real libvirt bed', () => {
  const ready = bed as LibvirtReady;
  let ssh: SshConnection;
  let virsh: Virsh;
  const volumeName = `${PREFIX}disk.qcow2`;
  let diskPath = '';
  const domains: Defined[] = Array.from({ length: COUNT }, (_, index) => ({
    name: `${PREFIX}${String(index).padStart(3, '0')}`,
    vcpus: 1 + (index % 2),
    maxVcpus: 2 + (index % 3),
    memoryMiB: 32 + (index % 4) * 16,
    maxMemoryMiB: 128,
    mac: macOf(index),
    tags:
      index % 5 === 0
        ? ({} as Record<string, string>)
        : { index: String(index), 'owner <&>': `team'${index % 7}"` },
    disk: index !== 1 && index !== 2,
  }));
  const paused = domains[1] as Defined;
  const saved = domains[2] as Defined;

  async function cleanUp(): Promise<void> {
    const names = (await virsh.run(['list', '--all', '--name'])).split('\n');
    const ours = names.map((name) => name.trim()).filter((name) => name.startsWith(PREFIX));
    await virsh.runMany(
      ours.flatMap((name) => [
        ['destroy', '--', name],
        ['managedsave-remove', '--', name],
        ['undefine', '--managed-save', '--', name],
      ]),
    );
    await virsh.runMany([['vol-delete', '--pool', ready.pool, '--', volumeName]]);
  }

  beforeAll(async () => {
    ssh = connectToBed(ready);
    virsh = new Virsh(ssh, { uri: ready.libvirtUri });
    await cleanUp();
    await virsh.run(['vol-create-as', ready.pool, volumeName, '16M', '--format', 'qcow2']);
    diskPath = (await virsh.run(['vol-path', '--pool', ready.pool, volumeName])).trim();
    const files = domains.map((domain) => domainXml(domain, ready, diskPath));
    // virsh's `define` reads a file: the XMLs go up in one `sh` call, then one runMany defines
    // them all.
    const script = files
      .map((xml, index) => `cat > "$d/${index}.xml" <<'HVKIT_EOF'\n${xml}\nHVKIT_EOF`)
      .join('\n');
    const dir = (await ssh.exec(['mktemp', '-d'])).stdout.toString().trim();
    // On stdin: 200 XMLs are more than one argv element may hold (128 KiB).
    const written = await ssh.exec(['sh', '-s'], { stdin: `d=${dir}\n${script}\n` });
    expect([written.code, written.stderr.toString()]).toEqual([0, '']);
    const defined = await virsh.runMany(files.map((_, index) => ['define', `${dir}/${index}.xml`]));
    await ssh.exec(['rm', '-rf', '--', dir]);
    expect(defined.filter((result) => !result.ok)).toEqual([]);
    const states = await virsh.runMany([
      ['start', '--paused', '--', paused.name],
      ['start', '--', saved.name],
    ]);
    expect(states.filter((result) => !result.ok)).toEqual([]);
    const done = await virsh.runMany([['managedsave', '--', saved.name]]);
    expect(done.filter((result) => !result.ok)).toEqual([]);
  }, 600_000);

  afterAll(async () => {
    if (virsh) await cleanUp();
    ssh?.close();
  }, 600_000);

  function expectMatches(
    vm: Vm,
    domain: Defined,
    detail: 'full' | 'summary',
    memoryFromDefinition = false,
  ): void {
    expect(VmSchema.safeParse(vm).success).toBe(true);
    expect(vm.detail).toBe(detail);
    expect(vm.name).toBe(domain.name);
    expect(vm.ref).toEqual({ provider: 'libvirt', id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(vm.template).toBe(false);
    expect(vm.cpu.count).toBe(domain.vcpus);
    expect(vm.cpu.hotAdd).toBe(domain.maxVcpus > domain.vcpus);
    // Started paused, the guest never ran its balloon driver: the live balloon is still the
    // whole <memory>, which is what domstats and the live XML report for the running domain;
    // describeDomain (get) takes the memory from the persistent definition.
    expect(vm.memory).toEqual(
      domain === paused && !memoryFromDefinition
        ? { sizeMiB: domain.maxMemoryMiB, hotAdd: false }
        : { sizeMiB: domain.memoryMiB, hotAdd: true },
    );
    // `start --paused` pauses with reason 1 (user), which hvkit reports as suspended.
    const expectedState = domain === paused || domain === saved ? 'suspended' : 'off';
    expect(vm.powerState).toBe(expectedState);
    if (domain.disk) {
      expect(vm.disks).toHaveLength(1);
      expect(vm.disks[0]).toMatchObject({ id: 'vda', sizeBytes: 16 * 1024 ** 2 });
    } else {
      expect(vm.disks).toEqual([]);
    }
    if (detail === 'full') {
      expect(vm.disks[0]?.format).toBe(domain.disk ? 'qcow2' : undefined);
      expect(vm.nics).toEqual([
        {
          id: domain.mac,
          mac: domain.mac,
          network: ready.network,
          connection: 'network',
          model: 'virtio',
          ipAddresses: [],
        },
      ]);
      expect(vm.tags).toEqual(domain.tags);
    }
  }

  it('describes every named domain in one round trip, field by field', async () => {
    const calls: string[][] = [];
    const counting = new Virsh(
      {
        exec: (argv, options) => {
          calls.push([...argv]);
          return ssh.exec(argv, options);
        },
        spawn: (argv, options) => ssh.spawn(argv, options),
      },
      { uri: ready.libvirtUri },
    );
    const missing = `${PREFIX}missing`;
    const vms = await describeDomains(
      counting,
      { names: [...domains.map((domain) => domain.name), missing] },
      CONTEXT,
    );
    // One round trip: one request to a virsh session, or one virsh process.
    const { sessionRequests, processes } = counting.stats();
    expect(sessionRequests + processes).toBe(1);
    expect(calls).toHaveLength(processes);
    counting.close();
    expect(vms.map((vm) => vm.name)).toEqual(domains.map((domain) => domain.name));
    for (const [index, vm] of vms.entries()) expectMatches(vm, domains[index] as Defined, 'full');
    if (RECORD) {
      const names = [domains[0], paused, saved, domains[3]].map((domain) => domain?.name ?? '');
      const results = await virsh.runMany([
        ['list', '--all', '--uuid', '--name'],
        ['list', '--all', '--with-managed-save', '--name'],
        ['domstats', '--state', '--balloon', '--vcpu', '--block', ...names],
        ...names.map((name) => ['dumpxml', '--', name]),
      ]);
      const out = results.map((result) => result.stdout);
      const uuids = (out[0] ?? '')
        .split('\n')
        .filter((line) => names.some((n) => line.endsWith(` ${n}`)));
      writeFileSync(new URL('list-uuid.txt', FIXTURES), `${uuids.join('\n')}\n`);
      writeFileSync(new URL('list-managed-save.txt', FIXTURES), out[1] ?? '');
      writeFileSync(new URL('domstats.txt', FIXTURES), out[2] ?? '');
      for (const [index, name] of names.entries()) {
        writeFileSync(new URL(`dumpxml-${name}.xml`, FIXTURES), out[3 + index] ?? '');
      }
    }
  });

  it('lists summaries of all domains in one round trip', async () => {
    const vms = await listDomains(virsh, CONTEXT);
    const ours = vms.filter((vm) => vm.name.startsWith(PREFIX));
    ours.sort((a, b) => a.name.localeCompare(b.name));
    expect(ours.map((vm) => vm.name)).toEqual(domains.map((domain) => domain.name));
    for (const [index, vm] of ours.entries())
      expectMatches(vm, domains[index] as Defined, 'summary');
    const full = await describeDomains(virsh, {}, CONTEXT);
    // Only this run's domains: other test files define and undefine theirs on the same bed.
    const ourFull = full.filter((vm) => vm.name.startsWith(PREFIX));
    expect(new Set(ourFull.map((vm) => vm.ref.id))).toEqual(new Set(ours.map((vm) => vm.ref.id)));
    for (const vm of ourFull) {
      expectMatches(vm, domains.find((domain) => domain.name === vm.name) as Defined, 'full');
    }
  });

  it('gets one domain by name or UUID, NotFoundError for an unknown one', async () => {
    const byName = await describeDomain(virsh, paused.name, CONTEXT);
    expectMatches(byName, paused, 'full', true);
    const byUuid = await describeDomain(virsh, byName.ref.id, CONTEXT);
    expect(byUuid).toEqual(byName);
    await expect(describeDomain(virsh, `${PREFIX}missing`, CONTEXT)).rejects.toSatisfy(
      (error: unknown) => NotFoundError.isInstance(error),
    );
  });

  it(`describes ${COUNT} domains within a few times one virsh list --all (medians of 5)`, async () => {
    const names = domains.map((domain) => domain.name);
    const list: number[] = [];
    const summary: number[] = [];
    const named: number[] = [];
    const all: number[] = [];
    for (let round = 0; round < 5; round++) {
      list.push(await timed(() => virsh.run(['list', '--all'])));
      summary.push(await timed(() => listDomains(virsh, CONTEXT)));
      named.push(await timed(() => describeDomains(virsh, { names }, CONTEXT)));
      all.push(await timed(() => describeDomains(virsh, {}, CONTEXT)));
    }
    const base = median(list);
    const report = {
      listAllMs: base,
      summaryMs: median(summary),
      fullNamedMs: median(named),
      fullAllMs: median(all),
    };
    console.log(
      `inventory of ${COUNT}+ domains: ${JSON.stringify(report)}; ratios to list --all: summary ${(report.summaryMs / base).toFixed(2)}x, full (names given) ${(report.fullNamedMs / base).toFixed(2)}x, full (all) ${(report.fullAllMs / base).toFixed(2)}x`,
    );
    expect(report.summaryMs / base).toBeLessThan(4);
  }, 300_000);
});
