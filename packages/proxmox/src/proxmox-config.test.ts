import {
  InvalidSpecError,
  TagsSchema,
  UnsupportedCapabilityError,
  type VmChange,
  VmChangeSchema,
  VmSchema,
  type VmSpecInput,
  VmSpecSchema,
} from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import config from './__fixtures__/derived-qemu-config.json' with { type: 'json' };
import fogConfig from './__fixtures__/real-fog-config.json' with { type: 'json' };
import statusPve6 from './__fixtures__/real-fog-status-current-running-pve6.json' with {
  type: 'json',
};
import statusPve8 from './__fixtures__/real-status-current-pve8.0.json' with { type: 'json' };
import { parseHotplug } from './property-string.js';
import {
  type CreateContext,
  changeToConfig,
  configToVm,
  decodeSshKeys,
  encodeSshKeys,
  formatTags,
  isHotpluggable,
  isHotplugMemorySize,
  isProxmoxVmName,
  notFoundIssues,
  type ProxmoxConfig,
  type ProxmoxParams,
  parseTags,
  planDiskSize,
  powerStateOf,
  specToCreateParams,
} from './proxmox-config.js';

const context: CreateContext = {
  vmid: 100,
  node: 'pve',
  storageDefault: 'local-lvm',
  version: '9.1',
};
const spec = (input: Partial<VmSpecInput> = {}) =>
  VmSpecSchema.parse({ name: 'web-01', cpu: { count: 2 }, memory: { sizeMiB: 2048 }, ...input });
const change = (input: VmChange) => VmChangeSchema.parse(input) as VmChange;

function issuesOf(run: () => unknown): { path: string; message: string; code: string }[] {
  try {
    run();
  } catch (error) {
    if (InvalidSpecError.isInstance(error)) return [...error.issues];
    throw error;
  }
  throw new Error('expected an InvalidSpecError');
}

/** What Proxmox stores for create parameters: allocations become volumes, MACs are generated. */
function storeAsProxmox(params: ProxmoxParams): ProxmoxConfig {
  const stored: ProxmoxConfig = {};
  let disk = 0;
  let mac = 0;
  for (const [key, value] of Object.entries(params)) {
    if (key === 'vmid') continue;
    let text = String(value);
    const allocation = /^([^:,]+):(\d+)(,.*)?$/.exec(text);
    if (/^(scsi|virtio|sata|ide)\d+$/.test(key) && allocation) {
      const [, storage, size, rest = ''] = allocation;
      text = `${storage}:vm-100-disk-${disk++}${rest},size=${size}G`;
    }
    if (key === 'efidisk0') text = text.replace(/^([^:]+):1/, `$1:vm-100-disk-${disk++}`);
    if (key === 'ide2') text = `${text.replace(':cloudinit', ':vm-100-cloudinit')},media=cdrom`;
    if (/^net\d+$/.test(key) && !text.includes('=BC') && /^\w+(,|$)/.test(text)) {
      text = text.replace(/^(\w+)/, `$1=BC:24:11:00:00:${String(mac++).padStart(2, '0')}`);
    }
    stored[key] = text;
  }
  return stored;
}

describe('specToCreateParams', () => {
  it('maps a full spec to the create parameters', () => {
    const plan = specToCreateParams(
      spec({
        description: 'front end',
        cpu: { count: 4, coresPerSocket: 2 },
        memory: { sizeMiB: 4096, reservationMiB: 1024 },
        disks: [
          { sizeGiB: 32, format: 'raw' },
          { sizeGiB: 10, bus: 'virtio', storage: 'ceph' },
        ],
        nics: [
          {
            network: 'vmbr0',
            vlan: 10,
            mac: 'BC:24:11:2C:69:EC',
            ipv4: { address: '192.168.1.50/24', gateway: '192.168.1.1' },
            dns: { servers: ['192.168.1.1'], search: ['example.org'] },
          },
          { network: 'vmbr1', model: 'e1000', ipv4: 'dhcp', ipv6: 'slaac' },
        ],
        firmware: 'efi',
        secureBoot: true,
        tags: { env: 'prod', Owner: 'ops team' },
        powerState: 'on',
        providerOptions: {
          proxmox: {
            ciUser: 'debian',
            sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host'],
            firewall: true,
          },
        },
      }),
      context,
    );
    expect(plan.params).toMatchInlineSnapshot(`
      {
        "agent": "1",
        "balloon": 1024,
        "bios": "ovmf",
        "boot": "order=scsi0",
        "ciuser": "debian",
        "cores": 2,
        "description": "front end",
        "efidisk0": "local-lvm:1,efitype=4m,pre-enrolled-keys=1",
        "ide2": "local-lvm:cloudinit",
        "ipconfig0": "ip=192.168.1.50/24,gw=192.168.1.1",
        "ipconfig1": "ip=dhcp,ip6=auto",
        "machine": "q35",
        "memory": "4096",
        "name": "web-01",
        "nameserver": "192.168.1.1",
        "net0": "virtio=BC:24:11:2C:69:EC,bridge=vmbr0,tag=10,firewall=1",
        "net1": "e1000,bridge=vmbr1,firewall=1",
        "ostype": "l26",
        "scsi0": "local-lvm:32,format=raw,discard=on,iothread=1",
        "scsihw": "virtio-scsi-single",
        "searchdomain": "example.org",
        "sockets": 2,
        "sshkeys": "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIExample%20user%40host%0A",
        "tags": "_4fwner+ops_20team;env+prod",
        "virtio0": "ceph:10,discard=on,iothread=1",
        "vmid": 100,
      }
    `);
    expect(plan.diskKeys).toEqual(['scsi0', 'virtio0']);
    expect(plan.nicKeys).toEqual(['net0', 'net1']);
    expect(plan.start).toBe(true);
    expect(plan.resizes).toEqual([]);
    expect(plan.warnings).toEqual([]);
  });

  it('URL-encodes sshkeys exactly as the recorded config stores them', () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host';
    expect(encodeSshKeys([key])).toBe(config.exampleGetConfig.data.sshkeys);
    expect(decodeSshKeys(config.exampleGetConfig.data.sshkeys)).toEqual([key]);
    // `+` and `=` of base64 must not turn into a space or a key on the Proxmox side.
    expect(encodeSshKeys(['ssh-rsa AAAA+b/c== me'])).toBe('ssh-rsa%20AAAA%2Bb%2Fc%3D%3D%20me%0A');
  });

  it('refuses a name Proxmox would refuse, naming `name`, before any request', () => {
    for (const name of ['web 01', 'db_1', '-lead', 'trail-', 'a..b', 'ünï']) {
      expect(isProxmoxVmName(name)).toBe(false);
      const issues = issuesOf(() => specToCreateParams(spec({ name }), context));
      expect(issues).toEqual([
        expect.objectContaining({ path: 'name', message: expect.stringMatching(/DNS names/) }),
      ]);
    }
    expect(isProxmoxVmName('web-01.example.org')).toBe(true);
  });

  it('allocates whole GiB and grows fractional sizes to the exact MiB after creation', () => {
    expect(planDiskSize(32)).toEqual({ allocateGiB: 32, roundedUp: false });
    expect(planDiskSize(1.5)).toEqual({ allocateGiB: 1, resizeToMiB: 1536, roundedUp: false });
    expect(planDiskSize(0.5)).toEqual({ allocateGiB: 1, roundedUp: true });
    const plan = specToCreateParams(
      spec({ disks: [{ sizeGiB: 1.5 }, { sizeGiB: 0.25 }] }),
      context,
    );
    expect(plan.params.scsi0).toBe('local-lvm:1,discard=on,iothread=1');
    expect(plan.resizes).toEqual([{ disk: 'scsi0', size: '1536M' }]);
    expect(plan.warnings).toEqual([
      expect.objectContaining({ feature: 'disks[1].sizeGiB', type: 'other' }),
    ]);
  });

  it('imports from an image and grows it to the size asked for', () => {
    const plan = specToCreateParams(
      spec({ disks: [{ sizeGiB: 20, sourceImageId: 'local:import/debian.qcow2' }] }),
      context,
    );
    expect(plan.params.scsi0).toBe(
      'local-lvm:0,import-from=local:import/debian.qcow2,discard=on,iothread=1',
    );
    expect(plan.resizes).toEqual([{ disk: 'scsi0', size: '20480M' }]);
  });

  it('imports an image by its id, and needs the downloaded volume for a URL', () => {
    const byId = specToCreateParams(
      spec({
        image: { kind: 'image', imageId: 'local:import/noble.qcow2' },
        disks: [{ sizeGiB: 8 }],
      }),
      context,
    );
    expect(byId.params.scsi0).toBe(
      'local-lvm:0,import-from=local:import/noble.qcow2,discard=on,iothread=1',
    );
    expect(byId.params.boot).toBe('order=scsi0');
    const url = spec({ image: { kind: 'url', url: 'https://example.org/noble.img' } });
    expect(() => specToCreateParams(url, context)).toThrow(TypeError);
    expect(
      specToCreateParams(url, { ...context, imageVolume: 'local:import/noble.img' }).params.scsi0,
    ).toBe('local-lvm:0,import-from=local:import/noble.img,discard=on,iothread=1');
  });

  it('refuses what Proxmox has no place for: NVMe, vhdx, a fifth IDE disk', () => {
    const issues = issuesOf(() =>
      specToCreateParams(
        spec({
          disks: [
            { sizeGiB: 1, bus: 'nvme' },
            { sizeGiB: 1, format: 'vhdx' },
            ...Array.from({ length: 5 }, () => ({ sizeGiB: 1, bus: 'ide' as const })),
          ],
        }),
        context,
      ),
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      'disks[0].bus',
      'disks[1].format',
      'disks[6].bus',
    ]);
  });

  it('keeps ide2 for the cloud-init drive', () => {
    const plan = specToCreateParams(
      spec({
        disks: [
          { sizeGiB: 1, bus: 'ide' },
          { sizeGiB: 1, bus: 'ide' },
          { sizeGiB: 1, bus: 'ide' },
        ],
        nics: [{ network: 'vmbr0', ipv4: 'dhcp' }],
      }),
      context,
    );
    expect(plan.diskKeys).toEqual(['ide0', 'ide1', 'ide3']);
    expect(plan.params.ide2).toBe('local-lvm:cloudinit');
  });

  it('cloud-init documents need a writable snippets storage', () => {
    const withUserData = spec({ cloudInit: { userData: '#cloud-config\npackages: [nginx]\n' } });
    let caught: unknown;
    try {
      specToCreateParams(withUserData, context);
    } catch (error) {
      caught = error;
    }
    expect(UnsupportedCapabilityError.isInstance(caught)).toBe(true);
    expect((caught as UnsupportedCapabilityError).capability).toBe('guest.cloudInit');
    expect((caught as UnsupportedCapabilityError).details.reason).toBe('no-snippets-storage');

    const plan = specToCreateParams(withUserData, { ...context, snippetsStorage: 'local' });
    expect(plan.params.cicustom).toBe('user=local:snippets/hvkit-100-user.yaml');
    expect(plan.snippets).toEqual([
      {
        storage: 'local',
        fileName: 'hvkit-100-user.yaml',
        content: '#cloud-config\npackages: [nginx]\n',
      },
    ]);
  });

  it('takes the hostname from the VM name only', () => {
    const same = specToCreateParams(
      spec({ customization: { hostname: 'web-01', domain: 'example.org', timeZone: 'UTC' } }),
      context,
    );
    expect(same.params.searchdomain).toBe('example.org');
    expect(same.warnings.map((warning) => warning.feature)).toEqual(['customization.timeZone']);
    expect(() =>
      specToCreateParams(spec({ customization: { hostname: 'other' } }), context),
    ).toThrow(/hostname from the VM name/);
  });

  it('CPU hot-add sizes the topology for hot-plug and keeps the count in vcpus', () => {
    const plan = specToCreateParams(spec({ cpu: { count: 2, hotAdd: true } }), context);
    expect(plan.params).toMatchObject({
      cores: 1,
      sockets: 4,
      vcpus: 2,
      hotplug: 'network,disk,cpu,usb',
    });
    const capped = specToCreateParams(spec({ cpu: { count: 2, hotAdd: true } }), {
      ...context,
      nodeCpuCount: 3,
    });
    expect(capped.params).toMatchObject({ sockets: 3, vcpus: 2 });
    const configured = specToCreateParams(
      spec({
        cpu: { count: 4, coresPerSocket: 2, hotAdd: true },
        providerOptions: { proxmox: { maxCpuCount: 8 } },
      }),
      context,
    );
    expect(configured.params).toMatchObject({ cores: 2, sockets: 4, vcpus: 4 });
  });

  it('memory hot-add turns NUMA on and refuses sizes Proxmox cannot hot-plug', () => {
    const plan = specToCreateParams(spec({ memory: { sizeMiB: 2048, hotAdd: true } }), context);
    expect(plan.params).toMatchObject({
      numa: 1,
      hotplug: 'network,disk,memory,usb',
      memory: '2048',
    });
    expect(
      issuesOf(() => specToCreateParams(spec({ memory: { sizeMiB: 256, hotAdd: true } }), context)),
    ).toEqual([
      expect.objectContaining({
        path: 'memory.sizeMiB',
        message: expect.stringMatching(/1024 MiB/),
      }),
    ]);
    expect(isHotplugMemorySize(1024)).toBe(true);
    expect(isHotplugMemorySize(1536)).toBe(true);
    expect(isHotplugMemorySize(1024 + 32 * 512)).toBe(true);
    expect(isHotplugMemorySize(1024 + 32 * 512 + 1024)).toBe(true);
    expect(isHotplugMemorySize(1024 + 32 * 512 + 512)).toBe(false);
    expect(isHotplugMemorySize(1300)).toBe(false);
  });

  it('writes memory as a number for 7.x-style callers only', () => {
    expect(specToCreateParams(spec(), { ...context, version: '8.4' }).params.memory).toBe('2048');
  });

  it('warns about what Proxmox cannot express instead of failing', () => {
    const plan = specToCreateParams(
      spec({
        cpu: { count: 1, reservationMHz: 100, limitMHz: 1000 },
        disks: [{ sizeGiB: 1, name: 'data' }],
      }),
      context,
    );
    expect(plan.warnings.map((warning) => warning.feature)).toEqual([
      'cpu.reservationMHz',
      'cpu.limitMHz',
      'disks[0].name',
    ]);
  });

  it('refuses a distributed port group and bad provider options', () => {
    expect(
      issuesOf(() =>
        specToCreateParams(spec({ nics: [{ network: 'pg', connection: 'distributed' }] }), context),
      ).map((issue) => issue.path),
    ).toEqual(['nics[0].connection']);
    expect(
      issuesOf(() =>
        specToCreateParams(
          spec({ providerOptions: { proxmox: { sshKeys: ['not a key\nx'] } } }),
          context,
        ),
      ).map((issue) => issue.path),
    ).toEqual(['providerOptions.proxmox.sshKeys[0]']);
  });
});

describe('tags', () => {
  it('reads tags others wrote and ours', () => {
    expect(parseTags('go-proxmox+cloud-init')).toEqual({ 'go-proxmox': 'cloud-init' });
    expect(parseTags('web;db, prod')).toEqual({ web: '', db: '', prod: '' });
    expect(parseTags('my_tag')).toEqual({ my_tag: '' });
    expect(formatTags({ web: '' })).toBe('web');
  });

  it('keeps a tag named __proto__ that the server sends as an ordinary key', () => {
    const tags = parseTags('__proto__+x;web');
    expect(Object.keys(tags)).toEqual(['__proto__', 'web']);
    expect(Object.hasOwn(tags, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(tags)).toBe(Object.prototype);
  });

  // Core tag sets: TagsSchema refuses the `__proto__` key that fast-check likes to propose.
  const key = fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,20}$/).filter((item) => item !== '__proto__');
  const value = fc
    .oneof(fc.constant(''), fc.string({ unit: 'grapheme', maxLength: 20 }))
    .filter((item) => !/\p{Cc}/u.test(item));

  it('every core tag set round-trips and is Proxmox tag syntax', () => {
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 6 }), (tags) => {
        TagsSchema.parse(tags);
        const text = formatTags(tags);
        for (const tag of text.split(';').filter(Boolean))
          expect(tag).toMatch(/^[a-z0-9_][a-z0-9_+.-]*$/);
        expect(parseTags(text)).toEqual(tags);
        // Proxmox may fold case: nothing of ours depends on it.
        expect(text).toBe(text.toLowerCase());
      }),
      { numRuns: 300 },
    );
  });
});

describe('configToVm', () => {
  const example = config.exampleGetConfig.data as ProxmoxConfig;
  const running = statusPve8.response.body.data;

  it('maps the recorded config and status', () => {
    const vm = configToVm(example, running, { provider: 'pve', node: 'pve', vmid: 100 });
    VmSchema.parse(vm);
    expect(vm).toMatchObject({
      ref: { provider: 'pve', id: 'pve/100' },
      name: 'web-01',
      powerState: 'on',
      template: false,
      guestOs: 'linux',
      cpu: { count: 2, coresPerSocket: 2, hotAdd: false },
      memory: { sizeMiB: 4096, hotAdd: false },
      disks: [
        { id: 'scsi0', sizeBytes: 32 * 2 ** 30, bus: 'scsi', storage: 'local-lvm', format: 'raw' },
      ],
      nics: [
        {
          id: 'net0',
          network: 'vmbr0',
          connection: 'bridge',
          model: 'virtio',
          vlan: 10,
          mac: 'bc:24:11:2c:69:ec',
          ipAddresses: [],
        },
      ],
      firmware: 'bios',
      placement: { host: 'pve', storage: 'local-lvm' },
      tags: {},
      createdAt: '2024-09-10T13:30:13.000Z',
      raw: example,
    });
  });

  it('reads the PVE 6 wire shape (integers as strings) and a virtio disk', () => {
    const data = fogConfig.interactions[1]?.response.body.data as ProxmoxConfig;
    const vm = configToVm(data, statusPve6.interactions[0]?.response.body.data as never, {
      provider: 'pve',
      node: 'pve',
      vmid: 100,
    });
    VmSchema.parse(vm);
    expect(vm.name).toBe('VM 100');
    expect(vm.disks).toEqual([
      { id: 'virtio0', sizeBytes: 2 ** 30, bus: 'virtio', storage: 'local-lvm', format: 'raw' },
    ]);
    expect(vm.memory.sizeMiB).toBe(512);
  });

  it('skips CD-ROMs, the cloud-init drive and unused volumes; reads qcow2 from the file name', () => {
    const onDisk = Object.fromEntries(
      config.onDisk_cloudinitSnapshot_main
        .split('\n')
        .filter((line) => line.includes(': '))
        .map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]),
    );
    const vm = configToVm(
      onDisk,
      { status: 'stopped' },
      { provider: 'pve', node: 'pve', vmid: 120 },
    );
    expect(vm.disks).toEqual([
      { id: 'scsi0', sizeBytes: 4 * 2 ** 30, bus: 'scsi', storage: 'nfs', format: 'qcow2' },
    ]);
    expect(vm.nics[0]).toMatchObject({ network: 'vnet0', model: 'vmxnet3' });
    expect(vm.powerState).toBe('off');
  });

  it('names the base volume of a linked clone as parentId, and reads templates', () => {
    const vm = configToVm(
      {
        name: 'clone',
        template: 1,
        scsi0: 'local-lvm:base-9000-disk-0/vm-101-disk-0,size=8G',
        virtio0: 'local:9000/base-9000-disk-1.qcow2/101/vm-101-disk-1.qcow2,size=1G',
      },
      { status: 'stopped' },
      { provider: 'pve', node: 'pve', vmid: 101 },
    );
    expect(vm.template).toBe(true);
    expect(vm.disks.map((disk) => disk.parentId)).toEqual([
      'local-lvm:base-9000-disk-0',
      'local:9000/base-9000-disk-1.qcow2',
    ]);
  });

  it('maps power states', () => {
    expect(powerStateOf({ status: 'running', qmpstatus: 'running' })).toBe('on');
    expect(powerStateOf({ status: 'running', qmpstatus: 'paused' })).toBe('suspended');
    expect(powerStateOf({ status: 'running', qmpstatus: 'suspended' })).toBe('suspended');
    expect(powerStateOf({ status: 'running', qmpstatus: 'postmigrate' })).toBe('paused');
    expect(powerStateOf({ status: 'stopped' }, { lock: 'suspended' })).toBe('suspended');
    expect(powerStateOf({ status: 'stopped' })).toBe('off');
    expect(powerStateOf({ status: 'running', qmpstatus: 'io-error' })).toBe('unknown');
  });

  it('takes MAC-matched guest addresses and the connection kind from the caller', () => {
    const vm = configToVm(example, running, {
      provider: 'pve',
      node: 'pve',
      vmid: 100,
      guest: {
        toolsState: 'running',
        ipAddresses: ['192.168.1.50'],
        interfaces: [{ mac: 'BC:24:11:2C:69:EC', ipAddresses: ['192.168.1.50'] }],
      },
      connectionOf: (bridge) => (bridge.startsWith('vnet') ? 'network' : 'bridge'),
    });
    expect(vm.nics[0]?.ipAddresses).toEqual(['192.168.1.50']);
    expect(vm.guest.toolsState).toBe('running');
  });

  const specInput = fc.record({
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/),
    cpu: fc
      .tuple(fc.integer({ min: 1, max: 8 }), fc.constantFrom(1, 2))
      .map(([sockets, cores]) => ({ count: sockets * cores, coresPerSocket: cores })),
    memory: fc.record({ sizeMiB: fc.integer({ min: 16, max: 65536 }) }),
    disks: fc.array(
      fc.record({
        sizeGiB: fc.integer({ min: 1, max: 2048 }),
        bus: fc.constantFrom('scsi' as const, 'virtio' as const, 'sata' as const),
      }),
      { maxLength: 5 },
    ),
    nics: fc.array(
      fc.record({
        network: fc.stringMatching(/^vmbr\d$/),
        vlan: fc.integer({ min: 1, max: 4094 }),
        model: fc.constantFrom('virtio' as const, 'e1000' as const, 'vmxnet3' as const),
      }),
      { maxLength: 4 },
    ),
    tags: fc.dictionary(
      // A valid spec: core's TagsSchema refuses the `__proto__` key fast-check likes to propose.
      fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,10}$/).filter((key) => key !== '__proto__'),
      fc.string({ maxLength: 10 }).filter((v) => !/\p{Cc}/u.test(v)),
      { maxKeys: 4 },
    ),
  });

  it('what specToCreateParams writes reads back as the spec', () => {
    fc.assert(
      fc.property(specInput, (input) => {
        const parsed = VmSpecSchema.parse(input);
        const plan = specToCreateParams(parsed, context);
        const vm = configToVm(
          storeAsProxmox(plan.params),
          { status: 'stopped' },
          {
            provider: 'pve',
            node: 'pve',
            vmid: 100,
          },
        );
        VmSchema.parse(vm);
        expect(vm.name).toBe(parsed.name);
        expect(vm.cpu).toMatchObject({
          count: parsed.cpu.count,
          coresPerSocket: parsed.cpu.coresPerSocket,
        });
        expect(vm.memory.sizeMiB).toBe(parsed.memory.sizeMiB);
        // Proxmox keeps no disk order: the boot disk comes first, the rest by bus and slot.
        const bySlot = (a: [string, number], b: [string, number]) => a[0].localeCompare(b[0]);
        const disks = vm.disks.map((disk): [string, number] => [disk.id, disk.sizeBytes]);
        expect(disks[0]?.[0]).toBe(plan.diskKeys[0]);
        expect(disks.sort(bySlot)).toEqual(
          plan.diskKeys
            .map((key, index): [string, number] => [
              key,
              (parsed.disks?.[index]?.sizeGiB ?? 0) * 2 ** 30,
            ])
            .sort(bySlot),
        );
        expect(vm.nics.map((nic) => [nic.network, nic.vlan, nic.model])).toEqual(
          (parsed.nics ?? []).map((nic) => [nic.network, nic.vlan, nic.model]),
        );
        expect(vm.tags).toEqual(parsed.tags);
      }),
      { numRuns: 150 },
    );
  });
});

describe('changeToConfig', () => {
  const current: ProxmoxConfig = {
    name: 'web-01',
    cores: 2,
    sockets: 1,
    memory: '2048',
    scsi0: 'local-lvm:vm-100-disk-0,size=32G',
    sata0: 'local-lvm:vm-100-disk-1,size=4G',
    ide2: 'local-lvm:vm-100-cloudinit,media=cdrom',
    net0: 'virtio=BC:24:11:2C:69:EC,bridge=vmbr0',
    ipconfig0: 'ip=dhcp',
    tags: 'env+prod',
  };
  const running = { version: '9.1' as const, storageDefault: 'local-lvm', running: true };

  it('on a running VM with the default hotplug, CPU and memory wait; NICs, SCSI disks and names apply', () => {
    const plan = changeToConfig(
      change({
        name: 'web-02',
        cpu: { count: 4 },
        memory: { sizeMiB: 4096 },
        addDisks: [{ sizeGiB: 10 }, { sizeGiB: 10, bus: 'sata' }],
        addNics: [{ network: 'vmbr1', vlan: 20 }],
        tags: { env: 'dev' },
      }),
      current,
      running,
    );
    expect(plan.params).toEqual({
      name: 'web-02',
      tags: 'env+dev',
      sockets: 2,
      memory: '4096',
      scsi1: 'local-lvm:10,discard=on,iothread=1',
      sata1: 'local-lvm:10,discard=on',
      net1: 'virtio,bridge=vmbr1,tag=20',
    });
    expect(plan.applied).toEqual(['name', 'tags', 'addNics']);
    expect(plan.pendingRestart).toEqual(['cpu.count', 'memory.sizeMiB', 'addDisks']);
  });

  it('on a stopped VM everything applies', () => {
    const plan = changeToConfig(change({ cpu: { count: 4 }, memory: { sizeMiB: 4096 } }), current, {
      ...running,
      running: false,
    });
    expect(plan.applied).toEqual(['cpu.count', 'memory.sizeMiB']);
    expect(plan.pendingRestart).toEqual([]);
  });

  it('with cpu and memory hotplug, vcpus within the topology and memory apply live', () => {
    const hot = {
      ...current,
      hotplug: 'network,disk,cpu,memory,usb',
      sockets: 4,
      cores: 1,
      vcpus: 1,
      numa: 1,
    };
    const plan = changeToConfig(
      change({ cpu: { count: 2 }, memory: { sizeMiB: 3072 } }),
      hot,
      running,
    );
    expect(plan.params).toEqual({ vcpus: 2, memory: '3072' });
    expect(plan.applied).toEqual(['cpu.count', 'memory.sizeMiB']);
    // beyond sockets × cores the topology changes: pending
    const beyond = changeToConfig(change({ cpu: { count: 6 } }), hot, running);
    expect(beyond.params).toEqual({ sockets: 6 });
    expect(beyond.delete).toEqual(['vcpus']);
    expect(beyond.pendingRestart).toEqual(['cpu.count']);
  });

  it('turning CPU or memory hot-add on waits for a restart and turns NUMA on', () => {
    const plan = changeToConfig(change({ memory: { hotAdd: true } }), current, running);
    expect(plan.params).toEqual({ hotplug: 'network,disk,memory,usb', numa: 1 });
    expect(plan.pendingRestart).toEqual(['memory.hotAdd']);
  });

  it('removes disks and NICs with their ipconfig, and reports unknown ids as not-found', () => {
    const plan = changeToConfig(
      change({ removeDisks: ['scsi0'], removeNics: ['net0'] }),
      current,
      running,
    );
    expect(plan.delete).toEqual(['scsi0', 'net0', 'ipconfig0']);
    expect(plan.force).toBe(true);
    expect(plan.applied).toEqual(['removeDisks', 'removeNics']);
    let caught: unknown;
    try {
      changeToConfig(
        change({ removeDisks: ['ide2', 'scsi9'], removeNics: ['net7'] }),
        current,
        running,
      );
    } catch (error) {
      caught = error;
    }
    expect(notFoundIssues(caught as InvalidSpecError).map((issue) => issue.path)).toEqual([
      'removeDisks[0]',
      'removeDisks[1]',
      'removeNics[0]',
    ]);
  });

  it('grows disks with resize and refuses a shrink naming resizeDisks[i].sizeGiB', () => {
    const plan = changeToConfig(
      change({ resizeDisks: [{ diskId: 'scsi0', sizeGiB: 40 }] }),
      current,
      running,
    );
    expect(plan.resizes).toEqual([{ disk: 'scsi0', size: '40960M' }]);
    expect(plan.applied).toEqual(['resizeDisks']);
    expect(
      issuesOf(() =>
        changeToConfig(
          change({ resizeDisks: [{ diskId: 'scsi0', sizeGiB: 16 }] }),
          current,
          running,
        ),
      ),
    ).toEqual([expect.objectContaining({ path: 'resizeDisks[0].sizeGiB', code: 'shrink' })]);
  });

  it('follows qemu-server hotplug rules key by key', () => {
    const defaults = parseHotplug(undefined);
    expect(isHotpluggable('net3', defaults)).toBe(true);
    expect(isHotpluggable('scsi3', defaults)).toBe(true);
    expect(isHotpluggable('ide1', defaults)).toBe(false);
    expect(isHotpluggable('sata1', defaults)).toBe(false);
    expect(isHotpluggable('efidisk0', defaults)).toBe(false);
    expect(isHotpluggable('cores', defaults)).toBe(false);
    expect(isHotpluggable('vcpus', defaults)).toBe(false);
    expect(isHotpluggable('memory', defaults)).toBe(false);
    expect(isHotpluggable('bios', defaults)).toBe(false);
    expect(isHotpluggable('description', new Set())).toBe(true);
    expect(isHotpluggable('ipconfig0', new Set())).toBe(true);
    expect(isHotpluggable('sshkeys', new Set())).toBe(true);
    expect(isHotpluggable('net0', new Set())).toBe(false);
    expect(isHotpluggable('balloon', defaults, { balloon: 1024 }, 2048)).toBe(true);
    expect(isHotpluggable('balloon', defaults, { balloon: 0 }, 2048)).toBe(false);
    expect(isHotpluggable('hotplug', defaults, {}, 'network,disk')).toBe(true);
    expect(isHotpluggable('hotplug', defaults, {}, 'network,disk,cpu')).toBe(false);
  });
});
