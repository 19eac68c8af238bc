import { readFileSync } from 'node:fs';
import { ProviderApiError } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import {
  parseDomIfAddr,
  parseDomInfo,
  parseDomStateReason,
  parseDomStats,
  parseKeyValues,
  parseNameList,
  parseNetList,
  parseNodeInfo,
  parsePoolListDetails,
  parseSnapshotTree,
  parseVersion,
  parseVncDisplay,
  parseVolListDetails,
} from './virsh-parse.js';

// Outputs of `virsh -q` recorded on the libvirt test bed by scripts/record-fixtures.sh (domain
// hvkit-lv1-fx: a TCG guest with the guest agent, snapshots s1 → {s2 → s4 → 's 5', s3}).
function fixture(name: string): string {
  return readFileSync(new URL(`./__fixtures__/${name}.txt`, import.meta.url), 'utf8');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('virsh output parsers on recorded outputs', () => {
  it('list --all --name', () => {
    expect(parseNameList(fixture('list-all-name'))).toContain('hvkit-lv1-fx');
    // Names are taken whole: spaces inside are kept, only the final empty line is dropped.
    expect(parseNameList('a b\n  lead\nc\n\n')).toEqual(['a b', '  lead', 'c']);
    expect(parseNameList('')).toEqual([]);
  });

  it('dominfo, running and shut off', () => {
    const running = parseDomInfo(fixture('dominfo-running'));
    expect(running).toMatchObject({
      name: 'hvkit-lv1-fx',
      osType: 'hvm',
      state: 'running',
      cpus: 1,
      maxMemoryKiB: 262144,
      usedMemoryKiB: 262144,
      persistent: true,
      autostart: false,
      managedSave: false,
      messages: ['tainted: running with undesirable elevated privileges'],
    });
    expect(running.id).toBeGreaterThan(0);
    expect(running.uuid).toMatch(UUID);
    expect(running.cpuTimeSeconds).toBeGreaterThan(0);

    const off = parseDomInfo(fixture('dominfo-shutoff'));
    expect(off).toMatchObject({
      id: undefined,
      state: 'shut off',
      cpuTimeSeconds: undefined,
      messages: [],
    });
    expect(off.uuid).toBe(running.uuid);
  });

  it('dominfo `Messages:` over several lines (libvirt.md §3)', () => {
    const text = `${fixture('dominfo-running').trimEnd()}\n                tainted: custom monitor control commands issued\n`;
    expect(parseDomInfo(text).messages).toEqual([
      'tainted: running with undesirable elevated privileges',
      'tainted: custom monitor control commands issued',
    ]);
    expect(parseKeyValues('A: 1\nB:   two words\n  more\n').B).toBe('two words\nmore');
  });

  it('domstate --reason', () => {
    expect(parseDomStateReason(fixture('domstate-reason-running'))).toEqual({
      state: 'running',
      reason: 'booted',
    });
    expect(parseDomStateReason(fixture('domstate-reason-paused'))).toEqual({
      state: 'paused',
      reason: 'user',
    });
    expect(parseDomStateReason(fixture('domstate-reason-shutoff'))).toEqual({
      state: 'shut off',
      reason: 'unknown',
    });
    expect(parseDomStateReason('shut off (saved)\n')).toEqual({
      state: 'shut off',
      reason: 'saved',
    });
    expect(() => parseDomStateReason('exploded (why)\n')).toThrow(ProviderApiError);
  });

  it('domstats blocks', () => {
    const [running] = parseDomStats(fixture('domstats-running'));
    expect(running?.name).toBe('hvkit-lv1-fx');
    expect(running?.fields['state.state']).toBe('1');
    expect(running?.fields['vcpu.maximum']).toBe('2');
    expect(running?.fields['balloon.maximum']).toBe('262144');
    expect(Number(running?.fields['cpu.time'])).toBeGreaterThan(0);
    expect(running?.fields['net.0.name']).toMatch(/^vnet\d+$/);
    const [off] = parseDomStats(fixture('domstats-shutoff'));
    expect(off?.fields).toMatchObject({ 'state.state': '5', 'block.0.name': 'vda' });
    expect(off?.fields['block.0.path']).toBe('/var/lib/libvirt/images/hvkit-lv1-fx.qcow2');
    // Several domains, a quote in a name.
    const many = parseDomStats("Domain: 'a'\n  state.state=1\n\nDomain: 'it's'\n  state.state=5\n");
    expect(many.map((entry) => entry.name)).toEqual(['a', "it's"]);
    expect(() => parseDomStats('  state.state=1\n')).toThrow(ProviderApiError);
  });

  it('domifaddr --source agent and lease', () => {
    const agent = parseDomIfAddr(fixture('domifaddr-agent'));
    expect(agent[0]).toEqual({
      interface: 'lo',
      mac: '00:00:00:00:00:00',
      protocol: 'ipv4',
      address: '127.0.0.1',
      prefix: 8,
    });
    // `-` continues the interface above.
    expect(agent[1]).toMatchObject({
      interface: 'lo',
      protocol: 'ipv6',
      address: '::1',
      prefix: 128,
    });
    const eth0 = agent.filter((entry) => entry.interface === 'eth0');
    expect(eth0.map((entry) => entry.protocol).sort()).toEqual(['ipv4', 'ipv6']);
    const ipv4 = eth0.find((entry) => entry.protocol === 'ipv4');
    expect(ipv4?.address).toMatch(/^192\.168\.122\.\d+$/);
    expect(ipv4?.prefix).toBe(24);

    const lease = parseDomIfAddr(fixture('domifaddr-lease'));
    expect(lease).toHaveLength(1);
    expect(lease[0]?.interface).toMatch(/^vnet\d+$/);
    // The lease and the agent agree on the guest's MAC and IPv4 address.
    expect(lease[0]).toMatchObject({ mac: ipv4?.mac, address: ipv4?.address, protocol: 'ipv4' });
    expect(parseDomIfAddr('')).toEqual([]);
  });

  it('snapshot-list --tree, nested, a name with a space', () => {
    expect(parseSnapshotTree(fixture('snapshot-list-tree'))).toEqual([
      { name: 's1', parent: undefined },
      { name: 's2', parent: 's1' },
      { name: 's4', parent: 's2' },
      { name: 's 5', parent: 's4' },
      { name: 's3', parent: 's1' },
    ]);
    // The tree agrees with `--parent`'s table.
    const parents = Object.fromEntries(
      fixture('snapshot-list-parent')
        .trimEnd()
        .split('\n')
        .map((line) => line.trim().split(/ {3,}/))
        .map((row) => [row[0], row[3] ?? '']),
    );
    for (const node of parseSnapshotTree(fixture('snapshot-list-tree'))) {
      expect(parents[node.name]).toBe(node.parent ?? '');
    }
    // Two roots; `--name` keeps the space.
    expect(parseSnapshotTree('a\n\nb\n  |\n  +- c\n    \n')).toEqual([
      { name: 'a', parent: undefined },
      { name: 'b', parent: undefined },
      { name: 'c', parent: 'b' },
    ]);
    expect(parseNameList(fixture('snapshot-list-name'))).toEqual(['s 5', 's1', 's2', 's3', 's4']);
  });

  it('vol-list --details, pool-list --details, net-list', () => {
    const volumes = parseVolListDetails(fixture('vol-list-details'));
    expect(volumes).toContainEqual({
      name: 'hvkit-lv1-fx.qcow2',
      path: '/var/lib/libvirt/images/hvkit-lv1-fx.qcow2',
      type: 'file',
      capacity: '64.00 MiB',
      allocation: expect.stringMatching(/^\d+\.\d\d KiB$/),
    });
    const [pool] = parsePoolListDetails(fixture('pool-list-details'));
    expect(pool).toMatchObject({
      name: 'default',
      state: 'running',
      autostart: true,
      persistent: true,
    });
    expect(pool?.capacity).toMatch(/^\d+\.\d\d GiB$/);
    expect(parseNetList(fixture('net-list'))).toEqual([
      { name: 'default', active: true, autostart: true, persistent: true },
    ]);
    expect(() => parseNetList(' x   weird\n')).toThrow(ProviderApiError);
  });

  it('vncdisplay, nodeinfo, version', () => {
    const vnc = parseVncDisplay(fixture('vncdisplay'));
    expect(vnc.host).toBe('127.0.0.1');
    expect(vnc.port).toBe(5900 + vnc.display);
    expect(parseVncDisplay('[::1]:3\n')).toEqual({ host: '::1', display: 3, port: 5903 });
    expect(parseVncDisplay(':0\n')).toEqual({ host: '0.0.0.0', display: 0, port: 5900 });

    expect(parseNodeInfo(fixture('nodeinfo'))).toMatchObject({
      cpuModel: 'x86_64',
      cpus: 2,
      sockets: 1,
      coresPerSocket: 2,
      threadsPerCore: 1,
      numaCells: 1,
    });
    expect(parseNodeInfo(fixture('nodeinfo')).memoryKiB).toBeGreaterThan(1024 * 1024);

    expect(parseVersion(fixture('version'))).toEqual({
      library: '9.0.0',
      daemon: undefined,
      hypervisor: { name: 'QEMU', version: '7.2.22' },
    });
    expect(
      parseVersion(
        'Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nUsing API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.0\nRunning against daemon: 8.0.0\n',
      ).daemon,
    ).toBe('8.0.0');
  });
});
