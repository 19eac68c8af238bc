// What the inventory asks virsh, and how many SSH execs it takes, against a fake host that
// answers from the output recorded on the bed (__fixtures__, see inventory.test.ts).
import { readFileSync } from 'node:fs';
import { NotFoundError, ProviderApiError } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { fakeVirshHost } from '../../test/fake-virsh-host.js';
import { describeDomain, describeDomains, listDomains } from './inventory.js';

const fixture = (name: string) =>
  readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
const CONTEXT = { provider: 'lv', host: 'bed' };
const NAMES = ['hvkit-lv3-000', 'hvkit-lv3-001', 'hvkit-lv3-002', 'hvkit-lv3-003'];
const UUID_1 = '6fc9430a-4ca7-4c5d-8905-1426255e4d5f';
const STATS = 'domstats --state --balloon --vcpu --block';

/** Domstats blocks of the fixture, by name. */
function statsBlock(name: string): string {
  const text = fixture('domstats.txt');
  const start = text.indexOf(`Domain: '${name}'`);
  const end = text.indexOf('Domain:', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** The answer of one virsh command line; undefined → "failed to get domain". */
function answer(line: string, overrides: Record<string, string>): string | undefined {
  if (Object.hasOwn(overrides, line)) return overrides[line];
  if (line === 'list --all --uuid --name') return fixture('list-uuid.txt');
  if (line === 'list --all --name') return `${NAMES.join('\n')}\n`;
  if (line === 'list --all --with-managed-save --name') return fixture('list-managed-save.txt');
  if (line === STATS) return fixture('domstats.txt');
  for (const name of NAMES) {
    if (line === `dumpxml -- ${name}`) return fixture(`dumpxml-${name}.xml`);
    if (line === `${STATS} -- ${name}`) return statsBlock(name);
  }
  if (line === `dumpxml -- ${UUID_1}`) return fixture('dumpxml-hvkit-lv3-001.xml');
  if (line === `${STATS} -- ${UUID_1}`) return statsBlock('hvkit-lv3-001');
  return undefined;
}

/** A fake host running `virsh … '<cmd>; echo <marker>; cd; …'` and plain `virsh … cmd args`. */
function fakeHost(overrides: Record<string, string> = {}) {
  const { virsh, lines } = fakeVirshHost(
    (part) => answer(part, overrides) ?? `error: failed to get domain '${part.split(' ').pop()}'\n`,
  );
  return { virsh, lines };
}

describe('listDomains', () => {
  it('takes one exec of three commands and gives one summary per domain with a UUID', async () => {
    // A domain defined between `list` and `domstats` has no UUID yet: left out.
    const { virsh, lines } = fakeHost({
      [STATS]: `${fixture('domstats.txt')}\nDomain: 'late'\n  state.state=5\n`,
    });
    const vms = await listDomains(virsh, CONTEXT);
    expect(lines).toEqual([
      ['list --all --uuid --name', 'list --all --with-managed-save --name', STATS],
    ]);
    expect(vms.map((vm) => [vm.name, vm.detail, vm.powerState])).toEqual([
      ['hvkit-lv3-000', 'summary', 'off'],
      ['hvkit-lv3-001', 'summary', 'suspended'],
      ['hvkit-lv3-002', 'summary', 'suspended'],
      ['hvkit-lv3-003', 'summary', 'off'],
    ]);
    expect(vms[1]?.ref).toEqual({ provider: 'lv', id: UUID_1 });
  });

  it('throws the mapped error when domstats fails', async () => {
    const { virsh } = fakeHost({ [STATS]: 'error: internal error: boom\n' });
    await expect(listDomains(virsh, CONTEXT)).rejects.toSatisfy((error: unknown) =>
      ProviderApiError.isInstance(error),
    );
  });
});

describe('describeDomains', () => {
  it('with names: one exec; UUIDs accepted, unknown names left out', async () => {
    const { virsh, lines } = fakeHost();
    const vms = await describeDomains(
      virsh,
      { names: ['hvkit-lv3-000', UUID_1, 'nope', 'hvkit-lv3-002'] },
      CONTEXT,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual([
      'list --all --with-managed-save --name',
      STATS,
      'dumpxml -- hvkit-lv3-000',
      `dumpxml -- ${UUID_1}`,
      'dumpxml -- nope',
      'dumpxml -- hvkit-lv3-002',
    ]);
    expect(vms.map((vm) => [vm.name, vm.detail, vm.powerState, vm.disks.length])).toEqual([
      ['hvkit-lv3-000', 'full', 'off', 1],
      ['hvkit-lv3-001', 'full', 'suspended', 0],
      ['hvkit-lv3-002', 'full', 'suspended', 0],
    ]);
    expect(vms[0]?.disks[0]?.sizeBytes).toBe(16 * 1024 ** 2);
  });

  it('without names: list first, then the batch (two execs)', async () => {
    const { virsh, lines } = fakeHost();
    const vms = await describeDomains(virsh, {}, CONTEXT);
    expect(lines.map((batch) => batch.length)).toEqual([1, 2 + NAMES.length]);
    expect(vms.map((vm) => vm.name)).toEqual(NAMES);
  });
});

describe('describeDomain', () => {
  it('by name or UUID in one exec (no agent call when not running)', async () => {
    const { virsh, lines } = fakeHost();
    const byName = await describeDomain(virsh, 'hvkit-lv3-001', CONTEXT);
    const byUuid = await describeDomain(virsh, UUID_1, CONTEXT);
    expect(byUuid).toEqual(byName);
    expect(byName.powerState).toBe('suspended');
    expect(lines).toHaveLength(2);
  });

  it('running with a connected agent: a second exec of domifaddr --source agent fills the NICs', async () => {
    const xml = fixture('dumpxml-hvkit-lv3-001.xml').replace(
      '</devices>',
      "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel></devices>",
    );
    const running = statsBlock('hvkit-lv3-001').replace('state.state=3', 'state.state=1');
    // virsh's table: columns padded, at least three spaces apart.
    const agent = [
      ' lo     00:00:00:00:00:00    ipv4   127.0.0.1/8',
      ' eth0   52:54:4c:33:00:01    ipv4   192.168.122.50/24',
      ' -      -                    ipv6   fe80::1/64',
      '',
    ].join('\n');
    const { virsh, lines } = fakeHost({
      'dumpxml -- hvkit-lv3-001': xml,
      [`${STATS} -- hvkit-lv3-001`]: running,
      [`domifaddr --source agent -- ${UUID_1}`]: agent,
    });
    const vm = await describeDomain(virsh, 'hvkit-lv3-001', CONTEXT);
    expect(lines).toHaveLength(2);
    expect(vm.powerState).toBe('on');
    expect(vm.guest.toolsState).toBe('running');
    expect(vm.nics[0]?.ipAddresses).toEqual(['192.168.122.50', 'fe80::1']);
    // The agent failing leaves the addresses empty instead of failing the get.
    const failing = fakeHost({
      'dumpxml -- hvkit-lv3-001': xml,
      [`${STATS} -- hvkit-lv3-001`]: running,
      [`domifaddr --source agent -- ${UUID_1}`]: 'error: Guest agent is not responding\n',
    });
    const quiet = await describeDomain(failing.virsh, 'hvkit-lv3-001', CONTEXT);
    expect(quiet.nics[0]?.ipAddresses).toEqual([]);
  });

  it('NotFoundError for an unknown domain', async () => {
    const { virsh } = fakeHost();
    await expect(describeDomain(virsh, 'nope', CONTEXT)).rejects.toSatisfy((error: unknown) =>
      NotFoundError.isInstance(error),
    );
  });
});
