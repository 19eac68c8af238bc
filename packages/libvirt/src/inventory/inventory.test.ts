// The inventory mapping on output recorded from the bed (inventory.bed.test.ts with
// HVKIT_RECORD_FIXTURES=1): 4 domains — 000 shut off with a disk, 001 started paused, 002 shut off
// with a managed save image, 003 shut off with a disk.
import { readFileSync } from 'node:fs';
import { VmSchema } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { type DomStats, parseDomStats } from '../virsh/virsh-parse.js';
import { fullVm, parseUuidNameList, powerStateOf, summaryVm } from './inventory.js';

const fixture = (name: string) =>
  readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
const CONTEXT = { provider: 'lv', host: 'bed' };
const uuids = parseUuidNameList(fixture('list-uuid.txt'));
const managedSave = new Set(fixture('list-managed-save.txt').split('\n').filter(Boolean));
const stats = parseDomStats(fixture('domstats.txt'));
const statsByName = new Map(stats.map((block) => [block.name, block]));
const MIB16 = 16 * 1024 ** 2;

function block(name: string): DomStats {
  const found = statsByName.get(name);
  if (!found) throw new Error(`no domstats block for ${name}`);
  return found;
}

describe('powerStateOf', () => {
  it.each([
    [0, false, 'unknown'],
    [1, false, 'on'],
    [2, false, 'on'],
    [3, false, 'paused'],
    [3, false, 'suspended', 1],
    [3, false, 'paused', 5],
    [4, false, 'on'],
    [5, false, 'off'],
    [5, true, 'suspended'],
    [6, false, 'off'],
    [7, false, 'suspended'],
    [8, false, 'unknown'],
  ] as const)(
    'state %d (managed save %s) → %s (reason %s)',
    (state, saved, expected, reason?: number) => {
      expect(powerStateOf(state, saved, reason)).toBe(expected);
    },
  );
});

describe('parseUuidNameList', () => {
  it('maps names to lower-case UUIDs and skips other lines', () => {
    expect(uuids.get('hvkit-lv3-001')).toBe('6fc9430a-4ca7-4c5d-8905-1426255e4d5f');
    expect(uuids.size).toBe(4);
    const odd = parseUuidNameList(
      'ABCDEF01-0000-0000-0000-000000000000 a name with spaces\n\nnot a uuid line\n',
    );
    expect([...odd]).toEqual([['a name with spaces', 'abcdef01-0000-0000-0000-000000000000']]);
  });
});

describe('summaryVm (domstats + list --uuid + managed-save list)', () => {
  it('maps a shut-off domain with a disk', () => {
    const vm = summaryVm(block('hvkit-lv3-000'), 'u-0', managedSave, CONTEXT);
    expect(VmSchema.parse(vm)).toEqual(vm);
    expect(vm).toEqual({
      ref: { provider: 'lv', id: 'u-0' },
      detail: 'summary',
      name: 'hvkit-lv3-000',
      powerState: 'off',
      template: false,
      cpu: { count: 1, coresPerSocket: 1, hotAdd: true },
      memory: { sizeMiB: 32, hotAdd: true },
      disks: [{ id: 'vda', sizeBytes: MIB16 }],
      nics: [],
      guest: { toolsState: 'unknown', ipAddresses: [] },
      snapshots: { currentId: null, roots: [] },
      placement: { host: 'bed' },
      policies: {},
      tags: {},
    });
  });

  it('maps paused, managed-saved and a domain without vCPU headroom', () => {
    const paused = summaryVm(block('hvkit-lv3-001'), 'u-1', managedSave, CONTEXT);
    // Paused with reason 1 (by the user, `virsh suspend`/`start --paused`): hvkit's suspend.
    expect([paused.powerState, paused.memory, paused.cpu.count]).toEqual([
      'suspended',
      { sizeMiB: 128, hotAdd: false },
      2,
    ]);
    expect(paused.disks).toEqual([]);
    expect(summaryVm(block('hvkit-lv3-002'), 'u-2', managedSave, CONTEXT).powerState).toBe(
      'suspended',
    );
    // Without the managed-save list the same block is plain off: the list decides, not the reason.
    expect(summaryVm(block('hvkit-lv3-002'), 'u-2', new Set(), CONTEXT).powerState).toBe('off');
    const three = summaryVm(block('hvkit-lv3-003'), 'u-3', managedSave, CONTEXT);
    expect([three.cpu, three.memory.sizeMiB]).toEqual([
      { count: 2, coresPerSocket: 1, hotAdd: false },
      80,
    ]);
  });
});

describe('fullVm (dumpxml + domstats)', () => {
  it('maps the XML with the state and disk size from domstats', () => {
    const vm = fullVm(fixture('dumpxml-hvkit-lv3-000.xml'), statsByName, managedSave, CONTEXT);
    expect(VmSchema.safeParse(vm).success).toBe(true);
    expect(vm.ref).toEqual({ provider: 'lv', id: uuids.get('hvkit-lv3-000') });
    expect(vm.detail).toBe('full');
    expect(vm.powerState).toBe('off');
    // domstats: allocation 200704 of capacity 16 MiB → observed thin.
    expect(vm.disks).toEqual([
      { id: 'vda', sizeBytes: MIB16, bus: 'virtio', format: 'qcow2', provisioning: 'thin' },
    ]);
    expect(vm.nics).toEqual([
      {
        id: '52:54:4c:33:00:00',
        mac: '52:54:4c:33:00:00',
        network: 'default',
        connection: 'network',
        model: 'virtio',
        ipAddresses: [],
      },
    ]);
    expect(vm.memory).toEqual({ sizeMiB: 32, hotAdd: true });
    expect(vm.tags).toEqual({});
  });

  it('maps the live XML of the paused domain: tags, live balloon, NIC addresses', () => {
    const addresses = new Map([['52:54:4c:33:00:01', ['192.168.122.9']]]);
    const vm = fullVm(
      fixture('dumpxml-hvkit-lv3-001.xml'),
      statsByName,
      managedSave,
      CONTEXT,
      addresses,
    );
    expect(vm.powerState).toBe('suspended');
    expect(vm.tags).toEqual({ index: '1', 'owner <&>': `team'1"` });
    expect(vm.cpu).toEqual({ count: 2, coresPerSocket: 1, hotAdd: true });
    expect(vm.memory).toEqual({ sizeMiB: 128, hotAdd: false });
    expect(vm.nics.map((nic) => nic.ipAddresses)).toEqual([['192.168.122.9']]);
    expect(vm.guest.ipAddresses).toEqual(['192.168.122.9']);
  });

  it('maps managed save to suspended, and unknown without a domstats block', () => {
    const xml = fixture('dumpxml-hvkit-lv3-002.xml');
    expect(fullVm(xml, statsByName, managedSave, CONTEXT).powerState).toBe('suspended');
    expect(fullVm(xml, new Map(), managedSave, CONTEXT).powerState).toBe('unknown');
    const three = fullVm(fixture('dumpxml-hvkit-lv3-003.xml'), new Map(), managedSave, CONTEXT);
    // No domstats block: the size is unknown (0), everything else still comes from the XML.
    expect(three.disks).toEqual([{ id: 'vda', sizeBytes: 0, bus: 'virtio', format: 'qcow2' }]);
  });
});
