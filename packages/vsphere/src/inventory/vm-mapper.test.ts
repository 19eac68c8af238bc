import { readFileSync } from 'node:fs';
import { type Vm, VmSchema } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import {
  type ObjectContent,
  parseSoapResponse,
  streamRetrieveResult,
  toObjectContent,
} from '../soap/soap-parser.js';
import {
  extraConfigValue,
  guestOsFamily,
  tagsFromExtraConfig,
  toSnapshotTree,
  toVm,
  type VmMapContext,
  vmDetailOf,
  vmMapContextFrom,
} from './vm-mapper.js';
import { VM_DETAIL_PROPERTIES, VM_SUMMARY_PROPERTIES, VM_TAGS_PROPERTY } from './vm-properties.js';

/** A fixture's text without the recorder's leading `<!-- HTTP … -->` line. */
function fixture(name: string): string {
  const text = readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
  return text.replace(/^<!--.*?-->\r?\n/, '');
}

async function objectsOf(name: string): Promise<ObjectContent[]> {
  const objects: ObjectContent[] = [];
  for await (const content of streamRetrieveResult(fixture(name))) objects.push(content);
  return objects;
}

function named(objects: ObjectContent[], name: string): ObjectContent {
  const found = objects.find((content) => content.properties.name === name);
  if (found === undefined) throw new Error(`no VM named ${name} in the fixture`);
  return found;
}

/** Maps and validates: the result must pass core's schema unchanged. */
function mapped(content: ObjectContent, context: VmMapContext): Vm {
  const vm = toVm(content, context);
  expect(VmSchema.parse(vm)).toEqual(vm);
  return vm;
}

function pathSetOf(request: string): string[] {
  return [...request.matchAll(/<pathSet>([^<]*)<\/pathSet>/g)].map((match) => match[1] ?? '');
}

const vcsimContext = async (): Promise<VmMapContext> =>
  vmMapContextFrom('vcsim', await objectsOf('vcsim-inventory-names.res.xml'));

describe('property sets', () => {
  it('are the sets the vcsim fixtures were recorded with', () => {
    expect(pathSetOf(fixture('vcsim-vms-summary.req.xml'))).toEqual([...VM_SUMMARY_PROPERTIES]);
    expect(pathSetOf(fixture('vcsim-vms-detail.req.xml'))).toEqual([...VM_DETAIL_PROPERTIES]);
  });

  it('detail covers every summary path, so list and get read the same values', () => {
    const detail = new Set<string>(VM_DETAIL_PROPERTIES);
    for (const path of VM_SUMMARY_PROPERTIES) {
      const segments = path.split('.');
      const covered = segments.some((_, index) =>
        detail.has(segments.slice(0, index + 1).join('.')),
      );
      expect(covered, path).toBe(true);
    }
    expect(detail.has(VM_TAGS_PROPERTY)).toBe(true);
    expect(VM_SUMMARY_PROPERTIES).not.toContain(VM_TAGS_PROPERTY);
  });

  it('keeps the summary set under 1,600 B per model VM on vcsim', () => {
    // Bytes of each <objects> element of the recorded response; the name-only read is the floor.
    const perVm = (name: string) =>
      [...fixture(name).matchAll(/<objects>[\s\S]*?<\/objects>/g)].map((match) =>
        Buffer.byteLength(match[0]),
      );
    const summary = perVm('vcsim-vms-summary.res.xml');
    expect(summary).toHaveLength(4);
    // The reconfigured VM carries hot-add flags and a guest IP (about 2,000 B); the rest do not.
    expect(summary.filter((bytes) => bytes < 1600)).toHaveLength(3);
    expect(Math.max(...summary)).toBeLessThan(2100);
    expect(Math.max(...perVm('vcsim-vms-name-only.res.xml'))).toBeLessThan(250);
  });
});

describe('vmMapContextFrom (recorded vcsim inventory)', () => {
  it('names datastores, networks, portgroups and hosts with their cluster', async () => {
    const context = await vcsimContext();
    expect(context.provider).toBe('vcsim');
    expect([...(context.datastores?.values() ?? [])]).toEqual(['LocalDS_0']);
    expect(context.networks?.get('network-7')).toEqual({ name: 'VM Network', kind: 'network' });
    expect(context.networks?.get('dvportgroup-13')).toEqual({
      name: 'DC0_DVPG0',
      kind: 'distributed',
    });
    expect(context.portgroups?.get('dvportgroup-13')).toBe('DC0_DVPG0');
    expect(context.hosts?.get('host-21')).toEqual({ name: 'DC0_H0' });
    expect(context.hosts?.get('host-42')).toEqual({ name: 'DC0_C0_H1', cluster: 'DC0_C0' });
  });
});

describe('toVm on vcsim, detail set', () => {
  it('maps the reconfigured VM field by field', async () => {
    const objects = await objectsOf('vcsim-vms-detail.res.xml');
    const content = named(objects, 'DC0_H0_VM1');
    const vm = mapped(content, await vcsimContext());
    expect(vmDetailOf(content)).toBe('full');
    expect(vm.ref).toEqual({ provider: 'vcsim', id: 'vm-60' });
    expect(vm.name).toBe('DC0_H0_VM1');
    expect(vm.description).toBe('web tier, owned by core');
    expect(vm.powerState).toBe('on');
    expect(vm.template).toBe(false);
    expect(vm.guestOs).toBe('other');
    expect(vm.firmware).toBe('bios');
    expect(vm.cpu).toEqual({
      count: 1,
      coresPerSocket: 1,
      hotAdd: true,
      reservationMHz: 500,
      limitMHz: 2000,
    });
    // memoryAllocation.limit was -1 (none): no limitMiB.
    expect(vm.memory).toEqual({ sizeMiB: 32, hotAdd: true, reservationMiB: 16 });
    expect(vm.disks).toEqual([
      {
        id: '203',
        name: 'disk-202-0',
        sizeBytes: 1024 * 1024,
        provisioning: 'thin',
        bus: 'scsi',
        storage: 'LocalDS_0',
        format: 'vmdk',
      },
      {
        id: '204',
        name: 'disk-202-1',
        sizeBytes: 2 * 1024 ** 3,
        provisioning: 'eagerZeroedThick',
        bus: 'scsi',
        storage: 'LocalDS_0',
        format: 'vmdk',
      },
    ]);
    expect(vm.nics).toEqual([
      {
        id: '4000',
        network: 'DC0_DVPG0',
        connection: 'distributed',
        model: 'e1000',
        mac: '00:0c:29:36:63:62',
        ipAddresses: ['10.0.0.42'],
      },
      {
        id: '205',
        network: 'VM Network',
        connection: 'network',
        model: 'vmxnet3',
        mac: '00:50:56:aa:bb:cc',
        ipAddresses: [],
      },
    ]);
    expect(vm.guest).toEqual({
      toolsState: 'not-installed',
      hostname: 'web-1.example.test',
      ipAddresses: ['10.0.0.42'],
      interfaces: [
        { mac: '00:0c:29:36:63:62', ipAddresses: ['10.0.0.42'] },
        { mac: '00:50:56:aa:bb:cc', ipAddresses: [] },
      ],
      filesystems: [],
    });
    // Written twice; vcsim keeps both entries and the second one wins.
    expect(vm.tags).toEqual({ env: 'prod', team: 'core' });
    expect(vm.snapshots).toEqual({ currentId: null, roots: [] });
    expect(vm.placement).toEqual({
      host: 'DC0_H0',
      resourcePool: 'resgroup-22',
      folder: 'folder-3',
      storage: 'LocalDS_0',
    });
    expect(vm.policies).toEqual({});
    expect(vm.createdAt).toBeUndefined();
    const raw = vm.raw as Record<string, unknown>;
    expect(raw['config.uuid']).toBe('39365506-5a0a-5fd0-be10-9586ad53aaad');
    for (const path of ['config.hardware', 'config.extraConfig', 'snapshot', 'guest.net']) {
      expect(raw, path).not.toHaveProperty([path]);
    }
  });

  it('maps the snapshot tree of a running VM (vcsim marks both snapshots as holding memory)', async () => {
    const objects = await objectsOf('vcsim-vms-detail.res.xml');
    const vm = mapped(named(objects, 'DC0_H0_VM0'), await vcsimContext());
    expect(vm.snapshots).toEqual({
      currentId: 'snapshot-71',
      roots: [
        {
          id: 'snapshot-69',
          name: 'base',
          description: 'before the upgrade',
          createdAt: '2026-11-21T15:28:48.574Z',
          // Taken with memory=false: vCenter would record poweredOff (memory false); vcsim 0.24
          // records the VM's power state whatever the memory argument says.
          memory: true,
          quiesced: false,
          powerState: 'on',
          children: [
            {
              id: 'snapshot-71',
              name: 'with-memory',
              createdAt: '2026-11-21T15:28:48.767Z',
              memory: true,
              quiesced: true,
              powerState: 'on',
              parentId: 'snapshot-69',
              children: [],
            },
          ],
        },
      ],
    });
    expect(vm.tags).toEqual({});
    expect(vm.guest.toolsState).toBe('not-installed');
    expect(vm.guest.ipAddresses).toEqual([]);
  });

  it('maps a powered-off VM on a cluster host', async () => {
    const objects = await objectsOf('vcsim-vms-detail.res.xml');
    const vm = mapped(named(objects, 'DC0_C0_RP0_VM0'), await vcsimContext());
    expect(vm.powerState).toBe('off');
    expect(vm.template).toBe(false);
    expect(vm.placement).toEqual({
      host: 'DC0_C0_H1',
      cluster: 'DC0_C0',
      resourcePool: 'resgroup-26',
      folder: 'folder-3',
      storage: 'LocalDS_0',
    });
    expect(vm.disks.map((disk) => [disk.bus, disk.provisioning, disk.sizeBytes])).toEqual([
      ['scsi', 'thin', 1024 * 1024],
    ]);
    expect(vm.nics.map((nic) => [nic.network, nic.connection, nic.model])).toEqual([
      ['DC0_DVPG0', 'distributed', 'e1000'],
    ]);
  });

  it('maps a template, which vcsim leaves without a resource pool', async () => {
    const objects = await objectsOf('vcsim-vms-detail.res.xml');
    const vm = mapped(named(objects, 'DC0_C0_RP0_VM1'), await vcsimContext());
    expect(vm.template).toBe(true);
    expect(vm.powerState).toBe('off');
    expect(vm.placement.resourcePool).toBeUndefined();
    expect(vm.placement.cluster).toBe('DC0_C0');
  });
});

describe('toVm on vcsim, summary set', () => {
  it('agrees with the detail mapping on every field the summary carries', async () => {
    const context = await vcsimContext();
    const summaries = await objectsOf('vcsim-vms-summary.res.xml');
    const details = await objectsOf('vcsim-vms-detail.res.xml');
    expect(summaries).toHaveLength(4);
    for (const content of summaries) {
      const summary = mapped(content, context);
      const detailContent = details.find((other) => other.obj.value === content.obj.value);
      if (detailContent === undefined) throw new Error(`${content.obj.value} has no detail`);
      const detail = toVm(detailContent, context);
      expect(vmDetailOf(content)).toBe('summary');
      expect(summary.name).toBe(detail.name);
      expect(summary.powerState).toBe(detail.powerState);
      expect(summary.template).toBe(detail.template);
      expect(summary.cpu).toEqual({
        count: detail.cpu.count,
        coresPerSocket: detail.cpu.coresPerSocket,
        hotAdd: detail.cpu.hotAdd,
      });
      expect(summary.memory).toEqual({
        sizeMiB: detail.memory.sizeMiB,
        hotAdd: detail.memory.hotAdd,
      });
      expect(summary.guest).toEqual({
        toolsState: detail.guest.toolsState,
        ipAddresses: detail.guest.ipAddresses,
      });
      expect(summary.disks).toEqual([]);
      expect(summary.nics).toEqual([]);
      expect(summary.snapshots).toEqual({ currentId: null, roots: [] });
      expect(summary.tags).toEqual({});
      expect(summary.placement).toEqual({});
      expect((summary.raw as Record<string, unknown>)['config.uuid']).toBe(
        (detail.raw as Record<string, unknown>)['config.uuid'],
      );
    }
    const configured = mapped(named(summaries, 'DC0_H0_VM1'), context);
    expect(configured.cpu.hotAdd).toBe(true);
    expect(configured.guest.ipAddresses).toEqual(['10.0.0.42']);
  });

  it('reads tags when the driver adds config.extraConfig to the summary set', async () => {
    const detail = named(await objectsOf('vcsim-vms-detail.res.xml'), 'DC0_H0_VM1');
    const content: ObjectContent = {
      ...detail,
      properties: {
        name: detail.properties.name,
        [VM_TAGS_PROPERTY]: detail.properties[VM_TAGS_PROPERTY],
      },
    };
    const vm = mapped(content, { provider: 'vcsim' });
    expect(vmDetailOf(content)).toBe('summary');
    expect(vm.tags).toEqual({ env: 'prod', team: 'core' });
  });
});

describe('toVm on the vcsim samples', () => {
  it('maps VirtualMachine-props-after-create (whole runtime and guest) without lookups', async () => {
    const response = await parseSoapResponse(fixture('VirtualMachine-props-after-create.res.xml'));
    if (response.kind !== 'result') throw new Error('expected a result');
    const objects = (response.returnval[0] as { objects: unknown[] }).objects;
    const content = toObjectContent(objects[0]);
    const vm = mapped(content, { provider: 'vc1' });
    expect(vm.ref).toEqual({ provider: 'vc1', id: 'vm-69' });
    expect(vm.name).toBe('sdk-vm1');
    // runtime.powerState and runtime.host come out of the whole `runtime`.
    expect(vm.powerState).toBe('off');
    expect(vm.placement).toEqual({
      host: 'host-50',
      resourcePool: 'resgroup-26',
      folder: 'folder-3',
      // No datastore lookup: the name comes from the first disk's `[LocalDS_0] …` file name.
      storage: 'LocalDS_0',
    });
    // guestId only in summary.config.
    expect(vm.guestOs).toBe('linux');
    expect(vm.cpu).toEqual({ count: 2, coresPerSocket: 1, hotAdd: true });
    expect(vm.memory).toEqual({ sizeMiB: 2048, hotAdd: true });
    expect(vm.disks.map((disk) => [disk.id, disk.sizeBytes, disk.bus, disk.storage])).toEqual([
      ['203', 10 * 1024 ** 3, 'scsi', 'LocalDS_0'],
      ['204', 1024 ** 3, 'scsi', 'LocalDS_0'],
    ]);
    // Without lookups: the standard NIC's deviceName, the DVS NIC's portgroup key.
    expect(vm.nics.map((nic) => [nic.id, nic.network, nic.connection, nic.model, nic.mac])).toEqual(
      [
        ['205', 'VM Network', 'network', 'vmxnet3', '00:0c:29:2e:63:61'],
        ['206', 'dvportgroup-13', 'distributed', 'vmxnet3', '00:0c:29:2f:63:61'],
      ],
    );
    // `net` inside a whole `guest` (no ArrayOf wrapper) still reads as a list.
    expect(vm.guest.interfaces).toEqual([
      { mac: '00:0c:29:2e:63:61', ipAddresses: [] },
      { mac: '00:0c:29:2f:63:61', ipAddresses: [] },
    ]);
    expect(vm.guest.toolsState).toBe('not-installed');
    // Cloud-init user data stays out of raw; the rest of what was retrieved stays in.
    expect(JSON.stringify(vm.raw)).not.toContain('I2Nsb3VkLWNvbmZpZw');
    expect(vm.raw).toHaveProperty(['config.files']);
    expect(vm.raw).toHaveProperty(['summary']);
  });

  it('maps VirtualMachine-snapshot-tree: a poweredOff snapshot holds no memory', async () => {
    const [content] = await objectsOf('VirtualMachine-snapshot-tree.res.xml');
    if (content === undefined) throw new Error('no object');
    const tree = toSnapshotTree(content.properties.snapshot);
    expect(tree.currentId).toBe('snapshot-109');
    expect(tree.roots).toHaveLength(1);
    const [root] = tree.roots;
    expect(root).toMatchObject({
      id: 'snapshot-106',
      name: 'snap1',
      description: 'first',
      createdAt: '2026-11-21T12:16:34.668Z',
      memory: false,
      quiesced: false,
      powerState: 'off',
    });
    expect(root?.parentId).toBeUndefined();
    expect(root?.children).toEqual([
      {
        id: 'snapshot-109',
        name: 'snap2-mem',
        createdAt: '2026-11-21T12:16:34.679Z',
        memory: true,
        quiesced: true,
        powerState: 'on',
        parentId: 'snapshot-106',
        children: [],
      },
    ]);
  });
});

describe('toVm on a synthetic vCenter response', () => {
  const context: VmMapContext = {
    provider: 'vc-prod',
    datastores: new Map([
      ['datastore-2010', 'vsanDatastore'],
      ['datastore-2011', 'ds-nfs-01'],
    ]),
    networks: new Map([
      ['network-3100', { name: 'Backup Network', kind: 'network' as const }],
      ['dvportgroup-3001', { name: 'pg-db', kind: 'distributed' as const }],
    ]),
    portgroups: new Map([['dvportgroup-3001', 'pg-db']]),
    hosts: new Map([['host-2003', { name: 'esx-03.corp.example', cluster: 'prod-cl01' }]]),
  };

  it('maps NVMe, SATA and SAS controllers, thick eager and linked-clone disks, DVS and EFI', async () => {
    const [content] = await objectsOf('synthetic-vcenter-vm-detail.res.xml');
    if (content === undefined) throw new Error('no object');
    const vm = mapped(content, context);
    expect(vm).toMatchObject({
      ref: { provider: 'vc-prod', id: 'vm-1001' },
      name: 'db-01',
      description: 'db primary\nowner: data team',
      powerState: 'on',
      template: false,
      guestOs: 'linux',
      firmware: 'efi',
      createdAt: '2025-03-14T09:26:53.589Z',
      cpu: { count: 8, coresPerSocket: 4, hotAdd: false, reservationMHz: 1200 },
      memory: { sizeMiB: 32768, hotAdd: true, reservationMiB: 16384, limitMiB: 24576 },
      tags: { role: 'db', tier: '1' },
      placement: {
        host: 'esx-03.corp.example',
        cluster: 'prod-cl01',
        resourcePool: 'resgroup-2002',
        folder: 'group-v2001',
        storage: 'vsanDatastore',
      },
    });
    expect(vm.cpu.limitMHz).toBeUndefined();
    expect(vm.disks).toEqual([
      {
        id: '32000',
        name: 'Hard disk 1',
        sizeBytes: 107374182400,
        provisioning: 'eagerZeroedThick',
        bus: 'nvme',
        storage: 'vsanDatastore',
        format: 'vmdk',
      },
      {
        id: '2000',
        name: 'Hard disk 2',
        sizeBytes: 21474836480,
        provisioning: 'thin',
        bus: 'scsi',
        storage: 'ds-nfs-01',
        format: 'vmdk',
        parentId: '[ds-nfs-01] tmpl-rhel9/tmpl-rhel9_1.vmdk',
      },
    ]);
    expect(vm.nics).toEqual([
      {
        id: '4000',
        network: 'pg-db',
        connection: 'distributed',
        model: 'vmxnet3',
        // vCenter may send upper case; the guest's lower-case MAC still matches.
        mac: '00:50:56:9a:00:01',
        ipAddresses: ['10.20.30.41', 'fe80::250:56ff:fe9a:1'],
      },
      {
        id: '4001',
        network: 'Backup Network',
        connection: 'network',
        model: 'e1000e',
        mac: '00:50:56:9a:00:02',
        ipAddresses: ['192.168.50.41'],
      },
    ]);
    expect(vm.guest).toEqual({
      toolsState: 'running',
      hostname: 'db-01.corp.example',
      osName: 'Red Hat Enterprise Linux 9 (64-bit)',
      ipAddresses: ['10.20.30.41', 'fe80::250:56ff:fe9a:1', '192.168.50.41'],
      interfaces: [
        { mac: '00:50:56:9a:00:01', ipAddresses: ['10.20.30.41', 'fe80::250:56ff:fe9a:1'] },
        { mac: '00:50:56:9a:00:02', ipAddresses: ['192.168.50.41'] },
      ],
      filesystems: [
        { mountPoint: '/', capacityBytes: 53660876800, freeBytes: 41234567168 },
        { mountPoint: '/var/lib/pgsql', capacityBytes: 21464350720, freeBytes: 10732175360 },
      ],
    });
    expect(vm.snapshots.currentId).toBe('snapshot-4002');
    expect(vm.snapshots.roots[0]).toMatchObject({
      id: 'snapshot-4001',
      description: 'disk only, before patching',
      memory: false,
      quiesced: true,
      powerState: 'off',
    });
    expect(vm.snapshots.roots[0]?.children[0]).toMatchObject({
      id: 'snapshot-4002',
      memory: true,
      powerState: 'on',
      parentId: 'snapshot-4001',
    });
    expect(vm.snapshots.roots[0]?.children[0]?.description).toBeUndefined();
    expect(JSON.stringify(vm.raw)).not.toContain('I2Nsb3VkLWNvbmZpZw');
  });

  it('maps a partly readable template and keeps the missing paths in raw', async () => {
    const objects = await objectsOf('synthetic-vcenter-vm-detail.res.xml');
    const content = objects[1];
    if (content === undefined) throw new Error('no second object');
    const vm = mapped(content, context);
    expect(vm).toMatchObject({
      name: 'tmpl-rhel9',
      template: true,
      powerState: 'off',
      cpu: { count: 2, coresPerSocket: 2, hotAdd: false },
      memory: { sizeMiB: 4096, hotAdd: false },
      disks: [],
      nics: [],
      guest: { toolsState: 'unknown', ipAddresses: [] },
    });
    expect(vm.guest.interfaces).toBeUndefined();
    expect((vm.raw as { missing: { path: string }[] }).missing.map((entry) => entry.path)).toEqual([
      'guest.net',
    ]);
  });
});

describe('helpers', () => {
  it('extraConfigValue returns the last entry for a key', () => {
    const options = [
      { $type: 'OptionValue', key: 'a', value: 'first' },
      { $type: 'OptionValue', key: 'b', value: 'other' },
      { $type: 'OptionValue', key: 'a', value: 'second' },
      { $type: 'OptionValue', key: 'n', value: 7 },
    ];
    expect(extraConfigValue(options, 'a')).toBe('second');
    expect(extraConfigValue(options, 'n')).toBe('7');
    expect(extraConfigValue(options, 'missing')).toBeUndefined();
    expect(extraConfigValue(undefined, 'a')).toBeUndefined();
    // One OptionValue not wrapped in an array still counts.
    expect(extraConfigValue({ key: 'a', value: 'only' }, 'a')).toBe('only');
  });

  it('tagsFromExtraConfig ignores what is not a JSON object of strings', () => {
    const tags = (value: string) =>
      tagsFromExtraConfig([
        { key: 'guestinfo.hvkit.tags', value: '{"a":"1"}' },
        { key: 'guestinfo.hvkit.tags', value },
      ]);
    expect(tags('{"env":"dev","n":3,"ok":"yes"}')).toEqual({ env: 'dev', ok: 'yes' });
    // vcsim "removes" a key by appending an empty value.
    expect(tags('')).toEqual({});
    expect(tags('not json')).toEqual({});
    expect(tags('["a"]')).toEqual({});
    const parsed = tags('{"__proto__":"x","k":"v"}');
    expect(parsed).toEqual({ k: 'v' });
    expect(Object.hasOwn(parsed, '__proto__')).toBe(false);
  });

  it('guestOsFamily sorts vSphere guest ids into core families', () => {
    expect(guestOsFamily('windows2019srvNext_64Guest')).toBe('windows');
    expect(guestOsFamily('ubuntu64Guest')).toBe('linux');
    expect(guestOsFamily('other5xLinux64Guest')).toBe('linux');
    expect(guestOsFamily('rhel9_64Guest')).toBe('linux');
    expect(guestOsFamily('otherGuest')).toBe('other');
    expect(guestOsFamily('freebsd13_64Guest')).toBe('other');
  });

  it('toSnapshotTree of a VM without snapshots is empty', () => {
    expect(toSnapshotTree(undefined)).toEqual({ currentId: null, roots: [] });
  });

  it('maps tools states from either status property', () => {
    const toolsState = (properties: Record<string, unknown>) =>
      toVm(
        { obj: { type: 'VirtualMachine', value: 'vm-1' }, properties, missing: [] },
        {
          provider: 'p',
        },
      ).guest.toolsState;
    expect(toolsState({ 'guest.toolsRunningStatus': 'guestToolsRunning' })).toBe('running');
    expect(toolsState({ 'guest.toolsRunningStatus': 'guestToolsExecutingScripts' })).toBe(
      'running',
    );
    expect(toolsState({ 'guest.toolsStatus': 'toolsOld' })).toBe('running');
    expect(toolsState({ 'guest.toolsStatus': 'toolsNotRunning' })).toBe('not-running');
    expect(
      toolsState({
        'guest.toolsRunningStatus': 'guestToolsNotRunning',
        'guest.toolsStatus': 'toolsNotInstalled',
      }),
    ).toBe('not-installed');
    expect(toolsState({})).toBe('unknown');
  });

  it('maps an object with no readable config without throwing', () => {
    const vm = mapped(
      {
        obj: { type: 'VirtualMachine', value: 'vm-9' },
        properties: { 'runtime.powerState': 'suspended' },
        missing: [],
      },
      { provider: 'p' },
    );
    expect(vm).toMatchObject({
      name: 'vm-9',
      powerState: 'suspended',
      cpu: { count: 0, coresPerSocket: 1, hotAdd: false },
      memory: { sizeMiB: 0, hotAdd: false },
    });
  });
});
