import { readFileSync } from 'node:fs';
import {
  CloneOptionsSchema,
  ConflictError,
  DescriptionSchema,
  InvalidSpecError,
  MigrateTargetSchema,
  NameSchema,
  NotFoundError,
  TagsSchema,
  UnsupportedCapabilityError,
  type VmChange,
  VmChangeSchema,
  type VmSpec,
  type VmSpecInput,
  VmSpecSchema,
} from '@hvkit/core';
import fc from 'fast-check';
import { SaxesParser } from 'saxes';
import { describe, expect, it } from 'vitest';
import {
  buildEnvelope,
  type DataObject,
  type ManagedObjectReference,
} from '../soap/soap-envelope.js';
import { parseSoapResponse, toObjectContent } from '../soap/soap-parser.js';
import {
  buildCloneSpec,
  buildCreateSpec,
  buildCustomizationSpec,
  buildReconfigureSpec,
  buildRelocateSpec,
  type CreateTarget,
  type CurrentHardware,
  cloudInitExtraConfig,
  guestIdOf,
  ipv4Netmask,
  needsCustomization,
} from './config-spec.js';

// ---- helpers ----------------------------------------------------------------------------------

const network7: ManagedObjectReference = { type: 'Network', value: 'network-7' };
const SWITCH_UUID = 'fea97929-4b2d-5972-b146-930c6d0b4014';

const target: CreateTarget = {
  defaultDatastore: 'LocalDS_0',
  datastores: ['LocalDS_0', 'SSD_1'],
  networks: new Map([
    ['VM Network', { kind: 'network', moref: network7 }],
    ['DC0_DVPG0', { kind: 'distributed', switchUuid: SWITCH_UUID, portgroupKey: 'dvportgroup-13' }],
    ['VLAN 42', { kind: 'network', moref: { type: 'Network', value: 'network-42' }, vlan: 42 }],
  ]),
};

function spec(input: Partial<VmSpecInput> = {}): VmSpec {
  return VmSpecSchema.parse({
    name: 'web-1',
    cpu: { count: 2 },
    memory: { sizeMiB: 2048 },
    ...input,
  });
}

function change(input: VmChange) {
  return VmChangeSchema.parse(input);
}

function create(input: Partial<VmSpecInput> = {}, over: Partial<CreateTarget> = {}): DataObject {
  return buildCreateSpec(spec(input), { ...target, ...over }).spec;
}

function devices(config: DataObject): DataObject[] {
  return ((config.deviceChange ?? []) as DataObject[]).map((item) => item.device as DataObject);
}

function changes(config: DataObject): DataObject[] {
  return (config.deviceChange ?? []) as DataObject[];
}

/** extraConfig as key → string value; asserts every value is typed xsd:string. */
function extra(config: DataObject): Record<string, string> {
  const result: Record<string, string> = {};
  for (const option of (config.extraConfig ?? []) as DataObject[]) {
    const value = option.value as { $xsd: string; value: string };
    expect(value.$xsd).toBe('string');
    result[option.key as string] = value.value;
  }
  return result;
}

function decode(text: string | undefined): string {
  return Buffer.from(text ?? '', 'base64').toString('utf8');
}

function issuesOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (InvalidSpecError.isInstance(error)) return error.issues.map((issue) => issue.path);
    throw error;
  }
  throw new Error('expected an InvalidSpecError');
}

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

function fixture(name: string): string {
  const text = readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
  return text.replace(/^<!--.*?-->\r?\n/, '');
}

/** config.hardware of vm-69 as vcsim returned it after CreateVM_Task (2 disks, 2 NICs). */
async function readBackHardware(): Promise<Record<string, unknown>> {
  const response = await parseSoapResponse(fixture('VirtualMachine-props-after-create.res.xml'));
  if (response.kind !== 'result') throw new Error('fault');
  const returnval = response.returnval[0] as { objects: unknown[] };
  const content = toObjectContent(returnval.objects[0]);
  return content.properties['config.hardware'] as Record<string, unknown>;
}

async function current(over: Partial<CurrentHardware> = {}): Promise<CurrentHardware> {
  const hardware = await readBackHardware();
  return {
    name: 'sdk-vm1',
    devices: hardware.device as Record<string, unknown>[],
    numCPU: hardware.numCPU as number,
    numCoresPerSocket: hardware.numCoresPerSocket as number,
    memoryMB: hardware.memoryMB as number,
    cpuHotAddEnabled: false,
    memoryHotAddEnabled: false,
    powerState: 'poweredOff',
    ...over,
  };
}

// ---- create -----------------------------------------------------------------------------------

describe('buildCreateSpec: VM settings', () => {
  it('writes name, guest, files, CPU, memory, hot-add, allocations, firmware and annotation', () => {
    const { spec: config, warnings } = buildCreateSpec(
      spec({
        description: 'front end',
        cpu: { count: 4, coresPerSocket: 2, hotAdd: true, reservationMHz: 500, limitMHz: 2000 },
        memory: { sizeMiB: 4096, hotAdd: false, reservationMiB: 1024 },
        firmware: 'efi',
        secureBoot: true,
      }),
      target,
    );
    expect(warnings).toEqual([]);
    expect(config).toEqual({
      $type: 'VirtualMachineConfigSpec',
      name: 'web-1',
      guestId: 'otherLinux64Guest',
      files: { $type: 'VirtualMachineFileInfo', vmPathName: '[LocalDS_0]' },
      numCPUs: 4,
      numCoresPerSocket: 2,
      memoryMB: 4096,
      annotation: 'front end',
      cpuHotAddEnabled: true,
      memoryHotAddEnabled: false,
      cpuAllocation: { $type: 'ResourceAllocationInfo', reservation: 500, limit: 2000 },
      // No limit asked for: vSphere's default (-1, unlimited) stays.
      memoryAllocation: { $type: 'ResourceAllocationInfo', reservation: 1024 },
      firmware: 'efi',
      bootOptions: { $type: 'VirtualMachineBootOptions', efiSecureBootEnabled: true },
    });
  });

  it('defaults to one core per socket and leaves unasked settings out', () => {
    const config = create();
    expect(config.numCoresPerSocket).toBe(1);
    for (const field of [
      'annotation',
      'cpuHotAddEnabled',
      'memoryHotAddEnabled',
      'cpuAllocation',
      'memoryAllocation',
      'firmware',
      'bootOptions',
      'deviceChange',
      'extraConfig',
    ])
      expect(config[field], field).toBeUndefined();
  });

  it('puts the VM files on placement.storage', () => {
    expect(create({ placement: { storage: 'SSD_1' } }).files).toEqual({
      $type: 'VirtualMachineFileInfo',
      vmPathName: '[SSD_1]',
    });
  });

  it.each([
    ['linux', 'otherLinux64Guest'],
    ['windows', 'windows9_64Guest'],
    ['other', 'otherGuest64'],
  ] as const)('maps guestOs %s to %s', (guestOs, guestId) => {
    expect(create({ guestOs }).guestId).toBe(guestId);
  });

  it('takes providerOptions.vsphere.guestId over guestOs, and target.defaultGuestId when guestOs is omitted', () => {
    expect(
      create({ guestOs: 'windows', providerOptions: { vsphere: { guestId: 'ubuntu64Guest' } } })
        .guestId,
    ).toBe('ubuntu64Guest');
    expect(create({}, { defaultGuestId: 'rhel9_64Guest' }).guestId).toBe('rhel9_64Guest');
    expect(create({ guestOs: 'linux' }, { defaultGuestId: 'rhel9_64Guest' }).guestId).toBe(
      'otherLinux64Guest',
    );
    expect(guestIdOf({}, {})).toBe('otherLinux64Guest');
  });

  it('refuses invalid providerOptions.vsphere with the path of each problem', () => {
    expect(
      issuesOf(() =>
        create({ providerOptions: { vsphere: { guestId: 'ubuntu 64', colour: 'red' } } }),
      ).sort(),
    ).toEqual(['providerOptions.vsphere.colour', 'providerOptions.vsphere.guestId']);
  });

  it('ignores the options of other providers', () => {
    expect(create({ providerOptions: { proxmox: { ciUser: 'x' } } }).guestId).toBe(
      'otherLinux64Guest',
    );
  });
});

describe('buildCreateSpec: disks', () => {
  it('adds one ParaVirtual SCSI controller and thin / thick / eager-zeroed disks with negative keys', () => {
    const config = create({
      disks: [
        { sizeGiB: 10 },
        { sizeGiB: 1, provisioning: 'eagerZeroedThick' },
        { sizeGiB: 0.5, provisioning: 'thick', bus: 'scsi' },
      ],
    });
    expect(changes(config)).toEqual([
      {
        $type: 'VirtualDeviceConfigSpec',
        operation: 'add',
        device: {
          $type: 'ParaVirtualSCSIController',
          key: -100,
          busNumber: 0,
          sharedBus: 'noSharing',
          scsiCtlrUnitNumber: 7,
        },
      },
      {
        $type: 'VirtualDeviceConfigSpec',
        operation: 'add',
        fileOperation: 'create',
        device: {
          $type: 'VirtualDisk',
          key: -1,
          backing: {
            $type: 'VirtualDiskFlatVer2BackingInfo',
            fileName: '[LocalDS_0]',
            diskMode: 'persistent',
            thinProvisioned: true,
          },
          controllerKey: -100,
          unitNumber: 0,
          capacityInKB: 10485760,
          capacityInBytes: 10737418240,
        },
      },
      {
        $type: 'VirtualDeviceConfigSpec',
        operation: 'add',
        fileOperation: 'create',
        device: {
          $type: 'VirtualDisk',
          key: -2,
          backing: {
            $type: 'VirtualDiskFlatVer2BackingInfo',
            fileName: '[LocalDS_0]',
            diskMode: 'persistent',
            thinProvisioned: false,
            eagerlyScrub: true,
          },
          controllerKey: -100,
          unitNumber: 1,
          capacityInKB: 1048576,
          capacityInBytes: 1073741824,
        },
      },
      {
        $type: 'VirtualDeviceConfigSpec',
        operation: 'add',
        fileOperation: 'create',
        device: {
          $type: 'VirtualDisk',
          key: -3,
          backing: {
            $type: 'VirtualDiskFlatVer2BackingInfo',
            fileName: '[LocalDS_0]',
            diskMode: 'persistent',
            thinProvisioned: false,
          },
          controllerKey: -100,
          unitNumber: 2,
          capacityInKB: 524288,
          capacityInBytes: 536870912,
        },
      },
    ]);
  });

  it('skips unit 7 on SCSI and opens a second controller after 15 disks', () => {
    const config = create({ disks: Array.from({ length: 17 }, () => ({ sizeGiB: 1 })) });
    const all = devices(config);
    const controllers = all.filter((device) => device.$type === 'ParaVirtualSCSIController');
    expect(controllers.map((item) => [item.key, item.busNumber])).toEqual([
      [-100, 0],
      [-101, 1],
    ]);
    const disks = all.filter((device) => device.$type === 'VirtualDisk');
    expect(disks.map((disk) => `${disk.controllerKey}:${disk.unitNumber}`)).toEqual([
      ...[0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15].map((unit) => `-100:${unit}`),
      '-101:0',
      '-101:1',
    ]);
    expect(new Set(all.map((device) => device.key)).size).toBe(all.length);
    expect(all.every((device) => (device.key as number) < 0)).toBe(true);
  });

  it.each([
    ['sata', 'VirtualAHCIController', -110],
    ['nvme', 'VirtualNVMEController', -120],
    ['ide', 'VirtualIDEController', -130],
  ] as const)('adds a %s controller (%s) for that bus', (bus, type, key) => {
    const all = devices(create({ disks: [{ sizeGiB: 1, bus }] }));
    expect(all[0]).toEqual({ $type: type, key, busNumber: 0 });
    expect(all[1]).toMatchObject({ $type: 'VirtualDisk', controllerKey: key, unitNumber: 0 });
  });

  it('uses the SCSI controller model from providerOptions.vsphere.scsiController', () => {
    expect(
      devices(
        create({
          disks: [{ sizeGiB: 1 }],
          providerOptions: { vsphere: { scsiController: 'lsilogicSas' } },
        }),
      )[0]?.$type,
    ).toBe('VirtualLsiLogicSASController');
  });

  it('places a disk on its own datastore, else on placement.storage, else the default', () => {
    const all = devices(
      create({
        placement: { storage: 'SSD_1' },
        disks: [{ sizeGiB: 1 }, { sizeGiB: 1, storage: 'LocalDS_0' }],
      }),
    ).filter((device) => device.$type === 'VirtualDisk');
    expect(all.map((disk) => (disk.backing as DataObject).fileName)).toEqual([
      '[SSD_1]',
      '[LocalDS_0]',
    ]);
  });

  it('attaches the copy the driver made for a disk with sourceImageId instead of creating one', () => {
    const config = create(
      { disks: [{ sizeGiB: 8, sourceImageId: 'img-1' }] },
      { diskFiles: new Map([[0, '[LocalDS_0] images/img-1.vmdk']]) },
    );
    const [, disk] = changes(config);
    expect(disk?.fileOperation).toBeUndefined();
    const backing = (disk?.device as DataObject | undefined)?.backing as DataObject | undefined;
    expect(backing?.fileName).toBe('[LocalDS_0] images/img-1.vmdk');
    expect(() => create({ disks: [{ sizeGiB: 8, sourceImageId: 'img-1' }] })).toThrow(TypeError);
  });

  it('refuses what vSphere has no disk for, naming each field', () => {
    expect(
      issuesOf(() =>
        create({
          disks: [
            { sizeGiB: 1, bus: 'virtio' },
            { sizeGiB: 1, format: 'qcow2' },
            { sizeGiB: 1, format: 'vmdk' },
          ],
        }),
      ),
    ).toEqual(['disks[0].bus', 'disks[1].format']);
  });

  it('refuses more disks than a bus holds', () => {
    expect(
      issuesOf(() =>
        create({ disks: Array.from({ length: 5 }, () => ({ sizeGiB: 1, bus: 'ide' as const })) }),
      ),
    ).toEqual(['disks[4].bus']);
  });

  it('raises NotFoundError naming the datastore, and refuses a datastore name that breaks the path', () => {
    const error = thrown(() => create({ disks: [{ sizeGiB: 1, storage: 'nope' }] }));
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).resource).toBe('storage');
    expect((error as Error).message).toContain('disks[0].storage');
    expect(issuesOf(() => create({ placement: { storage: 'a]b' } }))).toEqual([
      'placement.storage',
    ]);
  });

  it('warns about disk labels and storage policies', () => {
    const { warnings } = buildCreateSpec(
      spec({ disks: [{ sizeGiB: 1, name: 'data', storagePolicy: 'gold' }] }),
      target,
    );
    expect(warnings.map((warning) => warning.feature)).toEqual([
      'disks[0].name',
      'disks[0].storagePolicy',
    ]);
  });
});

describe('buildCreateSpec: NICs', () => {
  it('backs a standard port group by name and moref and a distributed one by switch and key', () => {
    const all = devices(
      create({
        nics: [
          { network: 'VM Network' },
          {
            network: 'DC0_DVPG0',
            connection: 'distributed',
            model: 'e1000e',
            mac: '00:50:56:AA:BB:CC',
          },
          { network: 'VM Network', model: 'e1000' },
        ],
      }),
    );
    expect(all).toEqual([
      {
        $type: 'VirtualVmxnet3',
        key: -1,
        backing: {
          $type: 'VirtualEthernetCardNetworkBackingInfo',
          deviceName: 'VM Network',
          network: network7,
        },
        connectable: {
          $type: 'VirtualDeviceConnectInfo',
          startConnected: true,
          allowGuestControl: true,
          connected: true,
        },
        addressType: 'generated',
      },
      {
        $type: 'VirtualE1000e',
        key: -2,
        backing: {
          $type: 'VirtualEthernetCardDistributedVirtualPortBackingInfo',
          port: {
            $type: 'DistributedVirtualSwitchPortConnection',
            switchUuid: SWITCH_UUID,
            portgroupKey: 'dvportgroup-13',
          },
        },
        connectable: {
          $type: 'VirtualDeviceConnectInfo',
          startConnected: true,
          allowGuestControl: true,
          connected: true,
        },
        addressType: 'manual',
        macAddress: '00:50:56:aa:bb:cc',
      },
      expect.objectContaining({ $type: 'VirtualE1000', key: -3 }),
    ]);
  });

  it('numbers disks and NICs apart, controllers first', () => {
    const all = devices(create({ disks: [{ sizeGiB: 1 }], nics: [{ network: 'VM Network' }] }));
    expect(all.map((device) => [device.$type, device.key])).toEqual([
      ['ParaVirtualSCSIController', -100],
      ['VirtualDisk', -1],
      ['VirtualVmxnet3', -2],
    ]);
  });

  it('accepts a VLAN only when it is the port group VLAN', () => {
    expect(devices(create({ nics: [{ network: 'VLAN 42', vlan: 42 }] }))).toHaveLength(1);
    const error = thrown(() => create({ nics: [{ network: 'VM Network', vlan: 42 }] }));
    expect((error as InvalidSpecError).issues).toEqual([
      expect.objectContaining({ path: 'nics[0].vlan', code: 'vsphere-vlan' }),
    ]);
    expect(issuesOf(() => create({ nics: [{ network: 'VLAN 42', vlan: 43 }] }))).toEqual([
      'nics[0].vlan',
    ]);
  });

  it('refuses NIC models, bridges and connection kinds vSphere does not have', () => {
    expect(
      issuesOf(() =>
        create({
          nics: [
            { network: 'VM Network', model: 'virtio' },
            { network: 'VM Network', model: 'rtl8139' },
            { network: 'VM Network', connection: 'bridge' },
            { network: 'VM Network', connection: 'distributed' },
            { network: 'DC0_DVPG0', connection: 'network' },
          ],
        }),
      ),
    ).toEqual([
      'nics[0].model',
      'nics[1].model',
      'nics[2].connection',
      'nics[3].connection',
      'nics[4].connection',
    ]);
  });

  it('raises NotFoundError for a network the target does not hold', () => {
    const error = thrown(() => create({ nics: [{ network: 'nope' }] }));
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).resource).toBe('network');
    expect((error as Error).message).toContain('nics[0].network');
  });

  it('reports invalid input before a missing name', () => {
    const error = thrown(() =>
      create({ nics: [{ network: 'nope' }, { network: 'VM Network', model: 'virtio' }] }),
    );
    expect(InvalidSpecError.isInstance(error)).toBe(true);
  });
});

describe('buildCreateSpec: extraConfig', () => {
  it('writes cloud-init user data and metadata base64 with their encodings, and the tags as JSON', () => {
    const config = create({
      cloudInit: {
        userData: '#cloud-config\nhostname: web-1\n',
        metaData: { 'instance-id': 'i-1' },
      },
      tags: { env: 'prod', 'team/owner': 'ops & <dev>' },
    });
    const values = extra(config);
    expect(Object.keys(values)).toEqual([
      'guestinfo.metadata',
      'guestinfo.metadata.encoding',
      'guestinfo.userdata',
      'guestinfo.userdata.encoding',
      'guestinfo.hvkit.tags',
    ]);
    expect(decode(values['guestinfo.userdata'])).toBe('#cloud-config\nhostname: web-1\n');
    expect(JSON.parse(decode(values['guestinfo.metadata']))).toEqual({ 'instance-id': 'i-1' });
    expect(values['guestinfo.userdata.encoding']).toBe('base64');
    expect(values['guestinfo.metadata.encoding']).toBe('base64');
    expect(JSON.parse(values['guestinfo.hvkit.tags'] ?? '')).toEqual({
      env: 'prod',
      'team/owner': 'ops & <dev>',
    });
  });

  it('merges static NIC addressing into the metadata as base64 netplan, keyed by MAC', () => {
    const config = create({
      cloudInit: { userData: '#cloud-config\n' },
      nics: [
        {
          network: 'VM Network',
          mac: '00:50:56:00:00:01',
          ipv4: { address: '10.0.0.5/24', gateway: '10.0.0.1' },
          dns: { servers: ['10.0.0.53'], search: ['example.test'] },
        },
        { network: 'DC0_DVPG0', mac: '00:50:56:00:00:02', ipv4: 'dhcp', ipv6: 'slaac' },
        { network: 'VM Network' },
      ],
    });
    const metadata = JSON.parse(decode(extra(config)['guestinfo.metadata']));
    expect(metadata['network.encoding']).toBe('base64');
    expect(JSON.parse(decode(metadata.network))).toEqual({
      version: 2,
      ethernets: {
        nic0: {
          match: { macaddress: '00:50:56:00:00:01' },
          dhcp4: false,
          addresses: ['10.0.0.5/24'],
          routes: [{ to: '0.0.0.0/0', via: '10.0.0.1' }],
          nameservers: { addresses: ['10.0.0.53'], search: ['example.test'] },
        },
        nic1: {
          match: { macaddress: '00:50:56:00:00:02' },
          dhcp4: true,
          dhcp6: false,
          'accept-ra': true,
        },
      },
    });
  });

  it('sends the customization hostname as local-hostname and warns about what cloud-init ignores', () => {
    const { spec: config, warnings } = buildCreateSpec(
      spec({
        cloudInit: { userData: '#cloud-config\n' },
        customization: { hostname: 'web', domain: 'example.test', timeZone: 'Europe/Paris' },
      }),
      target,
    );
    expect(JSON.parse(decode(extra(config)['guestinfo.metadata']))).toEqual({
      'local-hostname': 'web',
    });
    expect(warnings.map((warning) => warning.feature)).toEqual([
      'customization.domain',
      'customization.timeZone',
    ]);
  });

  it('writes no network config without cloud-init (CustomizeVM does it)', () => {
    const input = {
      nics: [{ network: 'VM Network', ipv4: { address: '10.0.0.5/24' } }],
    } satisfies Partial<VmSpecInput>;
    expect(create(input).extraConfig).toBeUndefined();
    expect(needsCustomization(spec(input))).toBe(true);
    expect(needsCustomization(spec({ ...input, cloudInit: { userData: 'x' } }))).toBe(false);
    expect(needsCustomization(spec({ nics: [{ network: 'VM Network' }] }))).toBe(false);
    expect(needsCustomization(spec({ customization: { hostname: 'a' } }))).toBe(true);
  });

  it('refuses a description XML cannot carry, naming the field', () => {
    expect(issuesOf(() => create({ description: 'bell \u0007' }))).toEqual(['description']);
  });
});

describe('cloudInitExtraConfig', () => {
  const staticNic = { network: 'n', ipv4: { address: '192.0.2.10/24' } } as const;

  function metadataOf(result: { extraConfig: DataObject[] }): Record<string, unknown> {
    return JSON.parse(
      decode(extra({ $type: 'X', extraConfig: result.extraConfig })['guestinfo.metadata']),
    );
  }

  function networkOf(result: { extraConfig: DataObject[] }): unknown {
    const metadata = metadataOf(result);
    expect(metadata['network.encoding']).toBe('base64');
    return JSON.parse(decode(metadata.network as string));
  }

  it('writes nothing for an empty cloud-init section', () => {
    expect(cloudInitExtraConfig({}, [])).toEqual({ extraConfig: [], warnings: [] });
  });

  it('keys the only NIC by name when its MAC is not known yet', () => {
    expect(networkOf(cloudInitExtraConfig({}, [staticNic]))).toEqual({
      version: 2,
      ethernets: { nic0: { match: { name: 'e*' }, dhcp4: false, addresses: ['192.0.2.10/24'] } },
    });
  });

  it('refuses an addressed NIC without a MAC among several, and takes MACs read back after creation', () => {
    const nics = [{ network: 'n' }, staticNic];
    expect(issuesOf(() => cloudInitExtraConfig({}, nics))).toEqual(['nics[1].mac']);
    expect(issuesOf(() => cloudInitExtraConfig({}, nics, { nicsPath: 'addNics' }))).toEqual([
      'addNics[1].mac',
    ]);
    expect(
      networkOf(cloudInitExtraConfig({}, nics, { macs: [undefined, '00:0C:29:00:00:0A'] })),
    ).toEqual({
      version: 2,
      ethernets: {
        nic1: {
          match: { macaddress: '00:0c:29:00:00:0a' },
          dhcp4: false,
          addresses: ['192.0.2.10/24'],
        },
      },
    });
  });

  it('writes IPv6 static, DHCPv6 and none', () => {
    const network = networkOf(
      cloudInitExtraConfig({}, [
        {
          network: 'n',
          mac: '00:50:56:00:00:01',
          ipv6: { address: '2001:db8::5/64', gateway: '2001:db8::1' },
        },
        { network: 'n', mac: '00:50:56:00:00:02', ipv6: 'dhcp', ipv4: 'none' },
      ]),
    ) as { ethernets: Record<string, unknown> };
    expect(network.ethernets).toEqual({
      nic0: {
        match: { macaddress: '00:50:56:00:00:01' },
        dhcp6: false,
        addresses: ['2001:db8::5/64'],
        routes: [{ to: '::/0', via: '2001:db8::1' }],
      },
      nic1: { match: { macaddress: '00:50:56:00:00:02' }, dhcp4: false, dhcp6: true },
    });
  });

  it('passes a given network config through as it is and warns that NIC addressing is ignored', () => {
    const text = 'version: 2\nethernets:\n  ens192:\n    dhcp4: true\n';
    const result = cloudInitExtraConfig({ networkConfig: text }, [staticNic]);
    expect(decode(metadataOf(result).network as string)).toBe(text);
    expect(result.warnings).toEqual([
      expect.objectContaining({ type: 'other', feature: 'nics[0]' }),
    ]);
  });

  it('merges into JSON metadata text, and keeps YAML metadata verbatim when nothing must be merged', () => {
    const merged = cloudInitExtraConfig({ metaData: '{"instance-id":"i-9"}' }, [
      { ...staticNic, mac: '00:50:56:00:00:01' },
    ]);
    expect(metadataOf(merged)['instance-id']).toBe('i-9');
    const yaml = 'instance-id: i-9\nlocal-hostname: a\n';
    const verbatim = cloudInitExtraConfig({ metaData: yaml }, [{ network: 'n' }]);
    expect(
      decode(extra({ $type: 'X', extraConfig: verbatim.extraConfig })['guestinfo.metadata']),
    ).toBe(yaml);
  });

  it('refuses to merge a network config into YAML metadata text', () => {
    expect(
      issuesOf(() => cloudInitExtraConfig({ metaData: 'instance-id: i-9\n' }, [staticNic])),
    ).toEqual(['cloudInit.metaData']);
  });

  it('keeps a local-hostname the metadata already has', () => {
    expect(
      metadataOf(
        cloudInitExtraConfig({ metaData: { 'local-hostname': 'mine' } }, [], { hostname: 'other' }),
      ),
    ).toEqual({ 'local-hostname': 'mine' });
  });

  it('round-trips any user data exactly through base64', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (userData) => {
        const { extraConfig } = cloudInitExtraConfig({ userData }, []);
        expect(decode(extra({ $type: 'X', extraConfig })['guestinfo.userdata'])).toBe(userData);
      }),
    );
  });
});

// ---- reconfigure ------------------------------------------------------------------------------

describe('buildReconfigureSpec: CPU and memory', () => {
  it('applies any CPU and memory change to a powered-off VM', async () => {
    const plan = buildReconfigureSpec(
      await current(),
      change({
        cpu: { count: 4, coresPerSocket: 2, hotAdd: true, reservationMHz: 100 },
        memory: { sizeMiB: 1024, hotAdd: true, limitMiB: 4096 },
      }),
      target,
    );
    expect(plan.spec).toEqual({
      $type: 'VirtualMachineConfigSpec',
      numCPUs: 4,
      numCoresPerSocket: 2,
      cpuHotAddEnabled: true,
      cpuAllocation: { $type: 'ResourceAllocationInfo', reservation: 100 },
      memoryMB: 1024,
      memoryHotAddEnabled: true,
      memoryAllocation: { $type: 'ResourceAllocationInfo', limit: 4096 },
    });
    expect(plan.applied).toEqual([
      'cpu.count',
      'cpu.coresPerSocket',
      'cpu.hotAdd',
      'cpu.reservationMHz',
      'memory.sizeMiB',
      'memory.hotAdd',
      'memory.limitMiB',
    ]);
    expect(plan.pendingRestart).toEqual([]);
  });

  it.each([
    [{ cpu: { count: 4 } }, 'cpu.count', 'CPU hot-add is disabled'],
    [{ memory: { sizeMiB: 4096 } }, 'memory.sizeMiB', 'memory hot-add is disabled'],
    [{ cpu: { hotAdd: true } }, 'cpu.hotAdd', 'can only be switched'],
    [{ memory: { hotAdd: true } }, 'memory.hotAdd', 'can only be switched'],
    [{ cpu: { count: 2, coresPerSocket: 2 } }, 'cpu.coresPerSocket', 'topology'],
  ] as const)(
    'refuses %j on a running VM without hot-add, before anything is sent',
    async (input, field, why) => {
      const hardware = await current({ powerState: 'poweredOn' });
      const failure = thrown(() =>
        buildReconfigureSpec(hardware, change(input as VmChange), target),
      );
      expect(ConflictError.isInstance(failure)).toBe(true);
      expect((failure as ConflictError).reason).toBe('invalid-power-state');
      expect((failure as ConflictError).details.field).toBe(field);
      expect((failure as Error).message).toContain(why);
      expect((failure as Error).message).toContain('VM "sdk-vm1" is on; power it off first');
    },
  );

  it('grows CPU and memory of a running VM with hot-add, and never shrinks them', async () => {
    const hardware = await current({
      powerState: 'poweredOn',
      cpuHotAddEnabled: true,
      memoryHotAddEnabled: true,
    });
    expect(
      buildReconfigureSpec(
        hardware,
        change({ cpu: { count: 4 }, memory: { sizeMiB: 4096 } }),
        target,
      ).applied,
    ).toEqual(['cpu.count', 'memory.sizeMiB']);
    for (const input of [{ cpu: { count: 1 } }, { memory: { sizeMiB: 1024 } }]) {
      const failure = thrown(() => buildReconfigureSpec(hardware, change(input), target));
      expect((failure as ConflictError).reason).toBe('invalid-power-state');
    }
  });

  it('refuses CPU changes on a suspended VM even with hot-add', async () => {
    const hardware = await current({ powerState: 'suspended', cpuHotAddEnabled: true });
    const failure = thrown(() =>
      buildReconfigureSpec(hardware, change({ cpu: { count: 4 } }), target),
    );
    expect((failure as Error).message).toContain('is suspended');
  });

  it('lets allocations, names and tags change on a running VM', async () => {
    const plan = buildReconfigureSpec(
      await current({ powerState: 'poweredOn' }),
      change({
        name: 'renamed',
        description: 'x',
        cpu: { limitMHz: 1000 },
        memory: { reservationMiB: 512 },
        tags: { a: 'b' },
      }),
      target,
    );
    expect(plan.applied).toEqual([
      'name',
      'description',
      'cpu.limitMHz',
      'memory.reservationMiB',
      'tags',
    ]);
    expect(plan.spec.name).toBe('renamed');
    expect(plan.spec.annotation).toBe('x');
    expect(extra(plan.spec)).toEqual({ 'guestinfo.hvkit.tags': '{"a":"b"}' });
  });

  it('refuses a CPU count the cores per socket do not divide, and reservations above limits', async () => {
    const hardware = await current();
    expect(
      issuesOf(() =>
        buildReconfigureSpec(hardware, change({ cpu: { count: 3, coresPerSocket: 2 } }), target),
      ),
    ).toEqual(['cpu.coresPerSocket']);
    expect(
      issuesOf(() =>
        buildReconfigureSpec(
          hardware,
          change({
            cpu: { reservationMHz: 10, limitMHz: 5 },
            memory: { reservationMiB: 4096 },
          }),
          target,
        ),
      ),
    ).toEqual(['cpu.reservationMHz', 'memory.reservationMiB']);
  });
});

describe('buildReconfigureSpec: disks and NICs', () => {
  it('grows a disk with an edit of the full device as read back, deviceInfo included', async () => {
    const plan = buildReconfigureSpec(
      await current(),
      change({ resizeDisks: [{ diskId: '203', sizeGiB: 20 }] }),
      target,
    );
    expect(plan.applied).toEqual(['resizeDisks']);
    expect(plan.spec.deviceChange).toEqual([
      {
        $type: 'VirtualDeviceConfigSpec',
        operation: 'edit',
        device: {
          $type: 'VirtualDisk',
          key: '203',
          deviceInfo: { $type: 'Description', label: 'disk-202-0', summary: '10,485,760 KB' },
          backing: {
            $type: 'VirtualDiskFlatVer2BackingInfo',
            fileName: '[LocalDS_0] sdk-vm1/sdk-vm1.vmdk',
            datastore: {
              type: 'Datastore',
              value: 'TMPDIR/govcsim-DC0-LocalDS_0-3781675419@folder-5',
            },
            diskMode: 'persistent',
            split: false,
            writeThrough: false,
            thinProvisioned: true,
            eagerlyScrub: false,
            digestEnabled: false,
          },
          controllerKey: 202,
          unitNumber: 0,
          capacityInKB: 20971520,
          capacityInBytes: 21474836480,
        },
      },
    ]);
  });

  it('adds deviceInfo to an edited device read back without it (vcsim panics otherwise)', async () => {
    const hardware = await current();
    const stripped = hardware.devices.map((device) => {
      const { deviceInfo: _dropped, ...rest } = device;
      return rest;
    });
    const plan = buildReconfigureSpec(
      { ...hardware, devices: stripped },
      change({ resizeDisks: [{ diskId: '204', sizeGiB: 2 }] }),
      target,
    );
    expect((changes(plan.spec)[0]?.device as DataObject | undefined)?.deviceInfo).toEqual({
      $type: 'Description',
      label: '',
      summary: '',
    });
  });

  it('leaves fields and nested types the vim25 table does not know out of an echoed device', async () => {
    const hardware = await current();
    const newer = hardware.devices.map((device) =>
      device.key === '204'
        ? {
            ...device,
            numaNode: 1,
            connectable: undefined,
            slotInfo: { $type: 'FutureSlotInfo', x: 1 },
          }
        : device,
    );
    const plan = buildReconfigureSpec(
      { ...hardware, devices: newer },
      change({ resizeDisks: [{ diskId: '204', sizeGiB: 2 }] }),
      target,
    );
    const device = changes(plan.spec)[0]?.device as DataObject;
    expect(device.numaNode).toBeUndefined();
    expect(device.slotInfo).toBeUndefined();
    expect(device.capacityInKB).toBe(2097152);
  });

  it('never shrinks a disk, does nothing for the same size, and refuses growth with snapshots', async () => {
    const hardware = await current();
    const error = thrown(() =>
      buildReconfigureSpec(
        hardware,
        change({ resizeDisks: [{ diskId: '203', sizeGiB: 5 }] }),
        target,
      ),
    );
    expect((error as InvalidSpecError).issues).toEqual([
      expect.objectContaining({ path: 'resizeDisks[0].sizeGiB', code: 'vsphere-disk-shrink' }),
    ]);
    expect(
      buildReconfigureSpec(
        hardware,
        change({ resizeDisks: [{ diskId: '203', sizeGiB: 10 }] }),
        target,
      ).spec.deviceChange,
    ).toBeUndefined();
    expect(
      issuesOf(() =>
        buildReconfigureSpec(
          hardware,
          change({ resizeDisks: [{ diskId: '203', sizeGiB: 10.0001 }] }),
          target,
        ),
      ),
    ).toEqual(['resizeDisks[0].sizeGiB']);
    const snapshots = thrown(() =>
      buildReconfigureSpec(
        { ...hardware, hasSnapshots: true },
        change({ resizeDisks: [{ diskId: '203', sizeGiB: 20 }] }),
        target,
      ),
    );
    expect((snapshots as ConflictError).reason).toBe('invalid-state');
  });

  it('raises NotFoundError for an unknown disk or NIC id, or an id of another kind of device', async () => {
    const hardware = await current();
    const cases: [VmChange, string][] = [
      [{ resizeDisks: [{ diskId: '999', sizeGiB: 20 }] }, 'disk'],
      [{ removeDisks: ['205'] }, 'disk'],
      [{ removeNics: ['203'] }, 'nic'],
      [{ removeNics: ['nope'] }, 'nic'],
    ];
    for (const [input, resource] of cases) {
      const error = thrown(() => buildReconfigureSpec(hardware, change(input), target));
      expect(NotFoundError.isInstance(error)).toBe(true);
      expect((error as NotFoundError).resource).toBe(resource);
    }
  });

  it('adds disks on the free units of the existing controller, then on a new one', async () => {
    const plan = buildReconfigureSpec(
      await current(),
      change({ addDisks: Array.from({ length: 14 }, () => ({ sizeGiB: 2 })) }),
      target,
    );
    const all = devices(plan.spec);
    expect(all[0]).toEqual({
      $type: 'ParaVirtualSCSIController',
      key: -100,
      busNumber: 1,
      sharedBus: 'noSharing',
      scsiCtlrUnitNumber: 7,
    });
    const disks = all.filter((device) => device.$type === 'VirtualDisk');
    expect(disks.map((disk) => `${disk.controllerKey}:${disk.unitNumber}`)).toEqual([
      ...[2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15].map((unit) => `202:${unit}`),
      '-100:0',
    ]);
    expect(changes(plan.spec).every((item) => item.operation === 'add')).toBe(true);
    expect(plan.applied).toEqual(['addDisks']);
  });

  it('removes a disk with its files and a NIC by device key, and adds a NIC', async () => {
    const plan = buildReconfigureSpec(
      await current(),
      change({
        removeDisks: ['204'],
        removeNics: ['205'],
        addNics: [{ network: 'VM Network', model: 'e1000e', mac: '00:50:56:aa:bb:cc' }],
      }),
      target,
    );
    const [disk, nic, added] = changes(plan.spec);
    expect(disk).toMatchObject({
      operation: 'remove',
      fileOperation: 'destroy',
      device: { $type: 'VirtualDisk', key: '204', controllerKey: 202, unitNumber: 1 },
    });
    expect(nic).toMatchObject({
      operation: 'remove',
      device: { $type: 'VirtualVmxnet3', key: '205' },
    });
    expect(nic?.fileOperation).toBeUndefined();
    expect(added).toMatchObject({
      operation: 'add',
      device: {
        $type: 'VirtualE1000e',
        key: -1,
        addressType: 'manual',
        macAddress: '00:50:56:aa:bb:cc',
      },
    });
    expect(plan.applied).toEqual(['removeDisks', 'removeNics', 'addNics']);
  });

  it('refuses a disk removed twice or removed and resized', async () => {
    const hardware = await current();
    expect(
      issuesOf(() =>
        buildReconfigureSpec(
          hardware,
          change({ removeDisks: ['204', '204'], resizeDisks: [{ diskId: '204', sizeGiB: 3 }] }),
          target,
        ),
      ),
    ).toEqual(['removeDisks[1]', 'resizeDisks[0].diskId']);
  });

  it('refuses adding an IDE disk to a running VM', async () => {
    const failure = thrown(() =>
      buildReconfigureSpec(
        {
          name: 'x',
          devices: [],
          numCPU: 1,
          memoryMB: 1024,
          cpuHotAddEnabled: false,
          memoryHotAddEnabled: false,
          powerState: 'poweredOn',
        },
        change({ addDisks: [{ sizeGiB: 1, bus: 'ide' }] }),
        target,
      ),
    );
    expect((failure as ConflictError).details.field).toBe('addDisks[0].bus');
  });
});

// ---- clone, relocate, customization -----------------------------------------------------------

const pool: ManagedObjectReference = { type: 'ResourcePool', value: 'resgroup-26' };
const datastore: ManagedObjectReference = {
  type: 'Datastore',
  value: 'TMPDIR/govcsim-DC0-LocalDS_0-3781675419@folder-5',
};
const snapshot: ManagedObjectReference = { type: 'VirtualMachineSnapshot', value: 'snapshot-106' };

describe('buildCloneSpec', () => {
  it('writes a full clone with location, power, template flag and config', () => {
    expect(
      buildCloneSpec(
        CloneOptionsSchema.parse({
          name: 'c1',
          mode: 'full',
          description: 'copy',
          tags: { a: '1' },
          powerOn: true,
        }),
        { template: false },
        {
          pool,
          datastore,
          host: { type: 'HostSystem', value: 'host-42' },
          folder: { type: 'Folder', value: 'folder-3' },
        },
      ),
    ).toEqual({
      $type: 'VirtualMachineCloneSpec',
      location: {
        $type: 'VirtualMachineRelocateSpec',
        folder: { type: 'Folder', value: 'folder-3' },
        datastore,
        pool,
        host: { type: 'HostSystem', value: 'host-42' },
      },
      template: false,
      powerOn: true,
      config: {
        $type: 'VirtualMachineConfigSpec',
        annotation: 'copy',
        extraConfig: [
          {
            $type: 'OptionValue',
            key: 'guestinfo.hvkit.tags',
            value: { $xsd: 'string', value: '{"a":"1"}' },
          },
        ],
      },
    });
  });

  it('writes a linked clone on the snapshot with createNewChildDiskBacking', () => {
    const spec = buildCloneSpec(
      CloneOptionsSchema.parse({ name: 'c2', mode: 'linked' }),
      { snapshot, template: false },
      { pool },
    );
    expect(spec).toEqual({
      $type: 'VirtualMachineCloneSpec',
      location: {
        $type: 'VirtualMachineRelocateSpec',
        diskMoveType: 'createNewChildDiskBacking',
        pool,
      },
      template: false,
      powerOn: false,
      snapshot,
    });
  });

  it('refuses a linked clone without a snapshot and a template source without a pool', () => {
    const linked = thrown(() =>
      buildCloneSpec(
        CloneOptionsSchema.parse({ name: 'c', mode: 'linked' }),
        { template: true },
        { pool },
      ),
    );
    expect((linked as ConflictError).reason).toBe('invalid-state');
    expect(
      issuesOf(() =>
        buildCloneSpec(
          CloneOptionsSchema.parse({ name: 'c', mode: 'full' }),
          { template: true },
          {},
        ),
      ),
    ).toEqual(['placement.resourcePool']);
  });
});

describe('buildRelocateSpec', () => {
  it('maps storage, resource pool and host to their morefs', () => {
    const host = { type: 'HostSystem', value: 'host-42' };
    expect(
      buildRelocateSpec(MigrateTargetSchema.parse({ host: 'h', storage: 's', resourcePool: 'p' }), {
        host,
        datastore,
        pool,
      }),
    ).toEqual({ $type: 'VirtualMachineRelocateSpec', datastore, pool, host });
    expect(buildRelocateSpec(MigrateTargetSchema.parse({ host: 'h' }), { host, pool })).toEqual({
      $type: 'VirtualMachineRelocateSpec',
      host,
    });
  });

  it('raises NotFoundError for a destination the driver could not resolve', () => {
    for (const [input, resource] of [
      [{ host: 'h' }, 'host'],
      [{ storage: 's' }, 'storage'],
      [{ resourcePool: 'p' }, 'resource-pool'],
    ] as const) {
      const error = thrown(() => buildRelocateSpec(MigrateTargetSchema.parse(input), {}));
      expect((error as NotFoundError).resource).toBe(resource);
    }
  });
});

describe('buildCustomizationSpec', () => {
  const customized = spec({
    name: 'vm-a',
    customization: { hostname: 'custom-host', domain: 'example.test', timeZone: 'Europe/Paris' },
    nics: [
      {
        network: 'VM Network',
        ipv4: { address: '192.168.10.10/24', gateway: '192.168.10.1' },
        dns: { servers: ['1.1.1.1'] },
      },
      {
        network: 'VM Network',
        mac: '00:50:56:00:00:09',
        ipv4: 'dhcp',
        ipv6: { address: '2001:db8::9/64' },
      },
      { network: 'VM Network', ipv6: 'slaac' },
    ],
  });

  it('writes Linux prep, global DNS and one adapter mapping per NIC in order', () => {
    expect(buildCustomizationSpec(customized)).toEqual({
      $type: 'CustomizationSpec',
      options: { $type: 'CustomizationLinuxOptions' },
      identity: {
        $type: 'CustomizationLinuxPrep',
        hostName: { $type: 'CustomizationFixedName', name: 'custom-host' },
        domain: 'example.test',
        hwClockUTC: true,
        timeZone: 'Europe/Paris',
      },
      globalIPSettings: {
        $type: 'CustomizationGlobalIPSettings',
        dnsSuffixList: ['example.test'],
        dnsServerList: ['1.1.1.1'],
      },
      nicSettingMap: [
        {
          $type: 'CustomizationAdapterMapping',
          adapter: {
            $type: 'CustomizationIPSettings',
            ip: { $type: 'CustomizationFixedIp', ipAddress: '192.168.10.10' },
            subnetMask: '255.255.255.0',
            gateway: ['192.168.10.1'],
            dnsServerList: ['1.1.1.1'],
            dnsDomain: 'example.test',
          },
        },
        {
          $type: 'CustomizationAdapterMapping',
          macAddress: '00:50:56:00:00:09',
          adapter: {
            $type: 'CustomizationIPSettings',
            ip: { $type: 'CustomizationDhcpIpGenerator' },
            ipV6Spec: {
              $type: 'CustomizationIPSettingsIpV6AddressSpec',
              ip: [{ $type: 'CustomizationFixedIpV6', ipAddress: '2001:db8::9', subnetMask: 64 }],
            },
          },
        },
        {
          $type: 'CustomizationAdapterMapping',
          adapter: {
            $type: 'CustomizationIPSettings',
            ip: { $type: 'CustomizationDhcpIpGenerator' },
            ipV6Spec: {
              $type: 'CustomizationIPSettingsIpV6AddressSpec',
              ip: [{ $type: 'CustomizationAutoIpV6Generator' }],
            },
          },
        },
      ],
    });
  });

  it('names the host after the VM and uses localdomain by default', () => {
    expect(buildCustomizationSpec(spec({ name: 'db-2' })).identity).toEqual({
      $type: 'CustomizationLinuxPrep',
      hostName: { $type: 'CustomizationFixedName', name: 'db-2' },
      domain: 'localdomain',
      hwClockUTC: true,
    });
  });

  it('refuses Windows guests, an unaddressed NIC and a VM name that is no host name', () => {
    expect(
      UnsupportedCapabilityError.isInstance(
        thrown(() => buildCustomizationSpec(spec({ guestOs: 'windows' }))),
      ),
    ).toBe(true);
    expect(
      issuesOf(() =>
        buildCustomizationSpec(spec({ name: 'web 1', nics: [{ network: 'n', ipv4: 'none' }] })),
      ),
    ).toEqual(['customization.hostname', 'nics[0].ipv4']);
  });

  it.each([
    [0, '0.0.0.0'],
    [8, '255.0.0.0'],
    [20, '255.255.240.0'],
    [24, '255.255.255.0'],
    [31, '255.255.255.254'],
    [32, '255.255.255.255'],
  ])('turns prefix /%i into %s', (prefix, mask) => {
    expect(ipv4Netmask(prefix)).toBe(mask);
  });
});

// ---- XML round trips --------------------------------------------------------------------------

const folder3: ManagedObjectReference = { type: 'Folder', value: 'folder-3' };
const vm69: ManagedObjectReference = { type: 'VirtualMachine', value: 'vm-69' };

/**
 * Elements in document order as `path` (inner) or `path=text` (leaf), with `xsi:type` in the
 * segment (`device(VirtualDisk)`); namespaces and whitespace between elements ignored. The
 * `OptionValue` type vcsim's recorder wrote on extraConfig (the declared type) is dropped.
 */
function entries(xml: string): string[] {
  const parser = new SaxesParser({ xmlns: true });
  const path: string[] = [];
  const out: string[] = [];
  const open: { index: number; text: string; leaf: boolean }[] = [];
  parser.on('opentag', (tag) => {
    const type = Object.values(tag.attributes).find(
      (attribute) =>
        attribute.uri === 'http://www.w3.org/2001/XMLSchema-instance' && attribute.local === 'type',
    )?.value;
    const moref = (tag.attributes as Record<string, { value: string; uri: string }>).type;
    const parent = open.at(-1);
    if (parent) parent.leaf = false;
    path.push(
      `${tag.local}${type === undefined || type === 'OptionValue' ? '' : `(${type})`}${moref !== undefined && moref.uri === '' ? `[${moref.value}]` : ''}`,
    );
    open.push({ index: out.length, text: '', leaf: true });
    // Envelope and Body are the same everywhere; paths start at the method.
    out.push(path.slice(2).join('/'));
  });
  parser.on('text', (text) => {
    const frame = open.at(-1);
    if (frame) frame.text += text;
  });
  parser.on('closetag', () => {
    const frame = open.pop();
    if (frame?.leaf) out[frame.index] = `${out[frame.index]}=${frame.text}`;
    path.pop();
  });
  parser.write(xml).close();
  return out;
}

/** Texts of `config/name`, `config/annotation` and extraConfig key → value, as parsed back. */
function readBack(xml: string): {
  name: string;
  annotation?: string;
  extra: Record<string, string>;
} {
  const parser = new SaxesParser({ xmlns: true });
  const stack: string[] = [];
  const text: string[] = [];
  const result: { name: string; annotation?: string; extra: Record<string, string> } = {
    name: '',
    extra: {},
  };
  let key = '';
  parser.on('opentag', (tag) => {
    stack.push(tag.local);
    text.push('');
  });
  parser.on('text', (chunk) => {
    text[text.length - 1] += chunk;
  });
  parser.on('closetag', () => {
    const where = stack.slice(-2).join('/');
    const value = text.pop() ?? '';
    if (stack.length === 5 && where === 'config/name') result.name = value;
    if (stack.length === 5 && where === 'config/annotation') result.annotation = value;
    if (where === 'extraConfig/key') key = value;
    if (where === 'extraConfig/value') result.extra[key] = value;
    stack.pop();
  });
  parser.write(xml).close();
  return result;
}

function createEnvelope(config: DataObject): string {
  return buildEnvelope('CreateVM_Task', folder3, [
    ['config', config, 'VirtualMachineConfigSpec'],
    ['pool', pool],
  ]);
}

const xmlText = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '<',
        '>',
        '&',
        '"',
        "'",
        ']]>',
        '&amp;',
        'é',
        '漢字',
        '😀',
        '\u00a0',
        ' ',
        'a',
      ),
      fc.string({ unit: 'grapheme', maxLength: 6 }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

describe('create specs through the envelope writer', () => {
  it('keeps names, annotations and extraConfig values with markup characters and non-ASCII exactly', () => {
    const nameText = xmlText
      .map((text) => text.trim().slice(0, 80))
      .filter((text) => NameSchema.safeParse(text).success);
    fc.assert(
      fc.property(
        nameText,
        xmlText.filter((text) => DescriptionSchema.safeParse(text).success),
        fc.dictionary(
          fc.constantFrom('env', 'team/owner', 'a.b:c'),
          xmlText.filter((text) => TagsSchema.safeParse({ k: text }).success),
        ),
        (name, description, tags) => {
          const envelope = createEnvelope(
            create({ name, description, tags, cloudInit: { userData: description } }),
          );
          const back = readBack(envelope);
          expect(back.name).toBe(name);
          expect(back.annotation).toBe(description);
          expect(JSON.parse(back.extra['guestinfo.hvkit.tags'] ?? '')).toEqual(tags);
          expect(decode(back.extra['guestinfo.userdata'])).toBe(description);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses, naming the field, a valid core value XML cannot carry', () => {
    fc.assert(
      fc.property(xmlText, fc.constantFrom('\u0001', '\u0008', '\uFFFE', '\uFFFF'), (text, bad) => {
        expect(issuesOf(() => create({ description: `${text}${bad}` }))).toEqual(['description']);
        // Core refuses control characters in names itself; these two pass core.
        if (bad >= '\uFFFE') expect(issuesOf(() => create({ name: `x${bad}y` }))).toEqual(['name']);
      }),
      { numRuns: 50 },
    );
  });

  it('names the disk or NIC index of any input vSphere cannot honour', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.nat(),
        fc.integer({ min: 1, max: 10 }),
        fc.nat(),
        (diskCount, badDisk, nicCount, badNic) => {
          const disk = badDisk % diskCount;
          const nic = badNic % nicCount;
          const paths = issuesOf(() =>
            create({
              disks: Array.from({ length: diskCount }, (_, index) => ({
                sizeGiB: 1,
                bus: index === disk ? ('virtio' as const) : ('scsi' as const),
              })),
              nics: Array.from({ length: nicCount }, (_, index) => ({
                network: 'VM Network',
                model: index === nic ? ('rtl8139' as const) : ('vmxnet3' as const),
              })),
            }),
          );
          expect(paths).toEqual([`disks[${disk}].bus`, `nics[${nic}].model`]);
        },
      ),
    );
  });
});

// ---- against vcsim's recorded requests ---------------------------------------------------------

interface XmlNode {
  name: string;
  children: XmlNode[];
}

/** The element tree, each name with its `xsi:type` as `entries` writes it. */
function elementTree(xml: string): XmlNode {
  const parser = new SaxesParser({ xmlns: true });
  const root: XmlNode = { name: '', children: [] };
  const stack: XmlNode[] = [root];
  parser.on('opentag', (tag) => {
    const type = Object.values(tag.attributes).find(
      (attribute) =>
        attribute.uri === 'http://www.w3.org/2001/XMLSchema-instance' && attribute.local === 'type',
    )?.value;
    const node: XmlNode = {
      name: `${tag.local}${type === undefined || type === 'OptionValue' ? '' : `(${type})`}`,
      children: [],
    };
    stack.at(-1)?.children.push(node);
    stack.push(node);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  parser.write(xml).close();
  return root;
}

/**
 * Where two trees order the children they share differently: children are matched by name and
 * occurrence (the second `deviceChange` with the second), and the shared ones must come in the
 * same order in both.
 */
function orderProblems(mine: XmlNode, theirs: XmlNode, path: string, out: string[]): void {
  const keyed = (node: XmlNode) => {
    const seen = new Map<string, number>();
    return node.children.map((child) => {
      const count = seen.get(child.name) ?? 0;
      seen.set(child.name, count + 1);
      return { key: `${child.name}#${count}`, child };
    });
  };
  const a = keyed(mine);
  const b = keyed(theirs);
  const bKeys = new Set(b.map((item) => item.key));
  const aKeys = new Set(a.map((item) => item.key));
  const shared = a.filter((item) => bKeys.has(item.key)).map((item) => item.key);
  const sharedTheirs = b.filter((item) => aKeys.has(item.key)).map((item) => item.key);
  if (shared.join() !== sharedTheirs.join())
    out.push(`! ${path}: ours ${shared.join(',')} / recorded ${sharedTheirs.join(',')}`);
  for (const item of a) {
    const match = b.find((other) => other.key === item.key);
    if (match)
      orderProblems(item.child, match.child, `${path}/${item.child.name}`.replace(/^\//, ''), out);
  }
}

/**
 * Our envelope against a recorded one: `!` lines where the elements both have are ordered
 * differently, then what differs (`+` only ours, `-` only the recording), for an inline snapshot.
 */
function compare(ours: string, recorded: string): string[] {
  const problems: string[] = [];
  const [mineBody] = elementTree(ours).children[0]?.children ?? [];
  const [theirBody] = elementTree(recorded).children[0]?.children ?? [];
  if (mineBody && theirBody) orderProblems(mineBody, theirBody, '', problems);
  const mine = entries(ours);
  const theirs = entries(recorded);
  return [
    ...problems,
    ...mine.filter((entry) => !theirs.includes(entry)).map((entry) => `+ ${entry}`),
    ...theirs.filter((entry) => !mine.includes(entry)).map((entry) => `- ${entry}`),
  ];
}

describe('serialised like the requests vcsim accepted', () => {
  it('CreateVM_Task: 2 disks, a standard and a distributed NIC, cloud-init', () => {
    const config = create({
      name: 'sdk-vm1',
      description: 'created by sdk probe',
      cpu: { count: 2, coresPerSocket: 1, hotAdd: true },
      memory: { sizeMiB: 2048, hotAdd: true },
      disks: [{ sizeGiB: 10 }, { sizeGiB: 1 }],
      nics: [{ network: 'VM Network' }, { network: 'DC0_DVPG0' }],
      cloudInit: {
        userData: '#cloud-config\nhostname: sdk-vm1\n',
        metaData: '{"instance-id":"sdk-vm1","local-hostname":"sdk-vm1"}',
      },
      providerOptions: { vsphere: { guestId: 'ubuntu64Guest' } },
    });
    const envelope = createEnvelope(config);
    // The whole body, so a wire change shows in review.
    expect(envelope.slice(envelope.indexOf('<CreateVM_Task'))).toMatchInlineSnapshot(
      `"<CreateVM_Task xmlns="urn:vim25"><_this type="Folder">folder-3</_this><config><name>sdk-vm1</name><guestId>ubuntu64Guest</guestId><annotation>created by sdk probe</annotation><files><vmPathName>[LocalDS_0]</vmPathName></files><numCPUs>2</numCPUs><numCoresPerSocket>1</numCoresPerSocket><memoryMB>2048</memoryMB><memoryHotAddEnabled>true</memoryHotAddEnabled><cpuHotAddEnabled>true</cpuHotAddEnabled><deviceChange><operation>add</operation><device xsi:type="ParaVirtualSCSIController"><key>-100</key><busNumber>0</busNumber><sharedBus>noSharing</sharedBus><scsiCtlrUnitNumber>7</scsiCtlrUnitNumber></device></deviceChange><deviceChange><operation>add</operation><fileOperation>create</fileOperation><device xsi:type="VirtualDisk"><key>-1</key><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[LocalDS_0]</fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing><controllerKey>-100</controllerKey><unitNumber>0</unitNumber><capacityInKB>10485760</capacityInKB><capacityInBytes>10737418240</capacityInBytes></device></deviceChange><deviceChange><operation>add</operation><fileOperation>create</fileOperation><device xsi:type="VirtualDisk"><key>-2</key><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[LocalDS_0]</fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing><controllerKey>-100</controllerKey><unitNumber>1</unitNumber><capacityInKB>1048576</capacityInKB><capacityInBytes>1073741824</capacityInBytes></device></deviceChange><deviceChange><operation>add</operation><device xsi:type="VirtualVmxnet3"><key>-3</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName><network type="Network">network-7</network></backing><connectable><startConnected>true</startConnected><allowGuestControl>true</allowGuestControl><connected>true</connected></connectable><addressType>generated</addressType></device></deviceChange><deviceChange><operation>add</operation><device xsi:type="VirtualVmxnet3"><key>-4</key><backing xsi:type="VirtualEthernetCardDistributedVirtualPortBackingInfo"><port><switchUuid>fea97929-4b2d-5972-b146-930c6d0b4014</switchUuid><portgroupKey>dvportgroup-13</portgroupKey></port></backing><connectable><startConnected>true</startConnected><allowGuestControl>true</allowGuestControl><connected>true</connected></connectable><addressType>generated</addressType></device></deviceChange><extraConfig><key>guestinfo.metadata</key><value xsi:type="xsd:string">eyJpbnN0YW5jZS1pZCI6InNkay12bTEiLCJsb2NhbC1ob3N0bmFtZSI6InNkay12bTEifQ==</value></extraConfig><extraConfig><key>guestinfo.metadata.encoding</key><value xsi:type="xsd:string">base64</value></extraConfig><extraConfig><key>guestinfo.userdata</key><value xsi:type="xsd:string">I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogc2RrLXZtMQo=</value></extraConfig><extraConfig><key>guestinfo.userdata.encoding</key><value xsi:type="xsd:string">base64</value></extraConfig></config><pool type="ResourcePool">resgroup-26</pool></CreateVM_Task></soapenv:Body></soapenv:Envelope>"`,
    );
    expect(compare(envelope, fixture('CreateVM_Task.req.xml'))).toMatchInlineSnapshot(`
      [
        "+ CreateVM_Task/config/deviceChange/device(ParaVirtualSCSIController)/scsiCtlrUnitNumber=7",
        "+ CreateVM_Task/config/deviceChange/device(VirtualDisk)/key=-1",
        "+ CreateVM_Task/config/deviceChange/device(VirtualDisk)/capacityInBytes=10737418240",
        "+ CreateVM_Task/config/deviceChange/device(VirtualDisk)/key=-2",
        "+ CreateVM_Task/config/deviceChange/device(VirtualDisk)/capacityInBytes=1073741824",
        "+ CreateVM_Task/config/deviceChange/device(VirtualVmxnet3)/key=-3",
        "+ CreateVM_Task/config/deviceChange/device(VirtualVmxnet3)/backing(VirtualEthernetCardNetworkBackingInfo)/network[Network]=network-7",
        "+ CreateVM_Task/config/deviceChange/device(VirtualVmxnet3)/key=-4",
        "- CreateVM_Task/config/deviceChange/device(VirtualDisk)/key=-101",
        "- CreateVM_Task/config/deviceChange/device(VirtualDisk)/key=-102",
        "- CreateVM_Task/config/deviceChange/device(VirtualVmxnet3)/key=-103",
        "- CreateVM_Task/config/deviceChange/device(VirtualVmxnet3)/key=-104",
      ]
    `);
  });

  it('ReconfigVM_Task: grow a disk', async () => {
    const { spec: reconfig } = buildReconfigureSpec(
      await current(),
      change({ resizeDisks: [{ diskId: '203', sizeGiB: 20 }] }),
      target,
    );
    const envelope = buildEnvelope('ReconfigVM_Task', vm69, [
      ['spec', reconfig, 'VirtualMachineConfigSpec'],
    ]);
    expect(compare(envelope, fixture('ReconfigVM_Task-grow-disk.req.xml'))).toMatchInlineSnapshot(`
      [
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/deviceInfo/summary=10,485,760 KB",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/datastore[Datastore]=TMPDIR/govcsim-DC0-LocalDS_0-3781675419@folder-5",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/split=false",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/writeThrough=false",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/eagerlyScrub=false",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/digestEnabled=false",
        "- ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/deviceInfo/summary=x",
      ]
    `);
  });

  it('ReconfigVM_Task: add a disk', async () => {
    const { spec: reconfig } = buildReconfigureSpec(
      await current(),
      change({ addDisks: [{ sizeGiB: 2 }] }),
      target,
    );
    const envelope = buildEnvelope('ReconfigVM_Task', vm69, [
      ['spec', reconfig, 'VirtualMachineConfigSpec'],
    ]);
    expect(compare(envelope, fixture('ReconfigVM_Task-add-disk.req.xml'))).toMatchInlineSnapshot(`
      [
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/fileName=[LocalDS_0]",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/capacityInBytes=2147483648",
        "- ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/fileName=",
      ]
    `);
  });

  it('ReconfigVM_Task: add a NIC with a manual MAC', async () => {
    const { spec: reconfig } = buildReconfigureSpec(
      await current(),
      change({ addNics: [{ network: 'VM Network', model: 'e1000e', mac: '00:50:56:aa:bb:cc' }] }),
      target,
    );
    const envelope = buildEnvelope('ReconfigVM_Task', vm69, [
      ['spec', reconfig, 'VirtualMachineConfigSpec'],
    ]);
    expect(compare(envelope, fixture('ReconfigVM_Task-add-nic.req.xml'))).toMatchInlineSnapshot(`
      [
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/backing(VirtualEthernetCardNetworkBackingInfo)/network[Network]=network-7",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/connectable",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/connectable/startConnected=true",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/connectable/allowGuestControl=true",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/connectable/connected=true",
      ]
    `);
  });

  it('ReconfigVM_Task: remove a disk and its files', async () => {
    const { spec: reconfig } = buildReconfigureSpec(
      await current(),
      change({ removeDisks: ['203'] }),
      target,
    );
    const envelope = buildEnvelope('ReconfigVM_Task', vm69, [
      ['spec', reconfig, 'VirtualMachineConfigSpec'],
    ]);
    expect(
      compare(envelope, fixture('ReconfigVM_Task-remove-disk-destroy.req.xml')),
    ).toMatchInlineSnapshot(`
      [
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/deviceInfo",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/deviceInfo/label=disk-202-0",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/deviceInfo/summary=10,485,760 KB",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/datastore[Datastore]=TMPDIR/govcsim-DC0-LocalDS_0-3781675419@folder-5",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/split=false",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/writeThrough=false",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/thinProvisioned=true",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/eagerlyScrub=false",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/backing(VirtualDiskFlatVer2BackingInfo)/digestEnabled=false",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/capacityInKB=10485760",
        "- ReconfigVM_Task/spec/deviceChange/device(VirtualDisk)/capacityInKB=20971520",
      ]
    `);
  });

  it('ReconfigVM_Task: remove a NIC', async () => {
    const { spec: reconfig } = buildReconfigureSpec(
      await current(),
      change({ removeNics: ['205'] }),
      target,
    );
    const envelope = buildEnvelope('ReconfigVM_Task', vm69, [
      ['spec', reconfig, 'VirtualMachineConfigSpec'],
    ]);
    expect(compare(envelope, fixture('ReconfigVM_Task-remove-nic.req.xml'))).toMatchInlineSnapshot(`
      [
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/key=205",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/deviceInfo",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/deviceInfo/label=ethernet--7",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/deviceInfo/summary=VM Network",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/backing(VirtualEthernetCardNetworkBackingInfo)",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/backing(VirtualEthernetCardNetworkBackingInfo)/deviceName=VM Network",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/backing(VirtualEthernetCardNetworkBackingInfo)/network[Network]=network-7",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/connectable",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/connectable/startConnected=true",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/connectable/allowGuestControl=true",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/connectable/connected=true",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/controllerKey=100",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/unitNumber=1",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/addressType=generated",
        "+ ReconfigVM_Task/spec/deviceChange/device(VirtualVmxnet3)/macAddress=00:0c:29:2e:63:61",
        "- ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)",
        "- ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/key=208",
        "- ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/backing(VirtualEthernetCardNetworkBackingInfo)",
        "- ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/backing(VirtualEthernetCardNetworkBackingInfo)/deviceName=VM Network",
        "- ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/backing(VirtualEthernetCardNetworkBackingInfo)/network[Network]=network-7",
        "- ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/addressType=manual",
        "- ReconfigVM_Task/spec/deviceChange/device(VirtualE1000e)/macAddress=00:50:56:aa:bb:cc",
      ]
    `);
  });

  it('ReconfigVM_Task: CPU and memory', async () => {
    const { spec: reconfig } = buildReconfigureSpec(
      await current(),
      change({ cpu: { count: 4, coresPerSocket: 2 }, memory: { sizeMiB: 4096 } }),
      target,
    );
    const envelope = buildEnvelope('ReconfigVM_Task', vm69, [
      ['spec', reconfig, 'VirtualMachineConfigSpec'],
    ]);
    expect(compare(envelope, fixture('ReconfigVM_Task-cpu-mem.req.xml'))).toEqual([]);
  });

  function cloneDifferences(
    sample: string,
    name: string,
    mode: 'full' | 'linked',
    template: boolean,
    powerOn: boolean,
  ): string[] {
    const spec = buildCloneSpec(
      CloneOptionsSchema.parse({ name, mode, powerOn }),
      { template, snapshot: mode === 'linked' ? snapshot : undefined },
      { pool, datastore: sample === 'CloneVM_Task-full.req.xml' ? datastore : undefined },
    );
    const source = template ? { type: 'VirtualMachine', value: 'vm-118' } : vm69;
    const envelope = buildEnvelope('CloneVM_Task', source, [
      ['folder', folder3],
      ['name', name],
      ['spec', spec, 'VirtualMachineCloneSpec'],
    ]);
    return compare(envelope, fixture(sample));
  }

  it('CloneVM_Task: full (the recording also sent CPU, memory and user data, which hvkit clones do not)', () => {
    expect(
      cloneDifferences('CloneVM_Task-full.req.xml', 'sdk-clone-full', 'full', false, true),
    ).toMatchInlineSnapshot(`
      [
        "- CloneVM_Task/spec/config",
        "- CloneVM_Task/spec/config/numCPUs=1",
        "- CloneVM_Task/spec/config/memoryMB=1024",
        "- CloneVM_Task/spec/config/extraConfig",
        "- CloneVM_Task/spec/config/extraConfig/key=guestinfo.userdata",
        "- CloneVM_Task/spec/config/extraConfig/value(xsd:string)=Y2xvbmU=",
      ]
    `);
  });

  it('CloneVM_Task: linked (the recording put pool before diskMoveType, against vim25 order)', () => {
    expect(
      cloneDifferences('CloneVM_Task-linked.req.xml', 'sdk-clone-linked', 'linked', false, false),
    ).toMatchInlineSnapshot(`
      [
        "! CloneVM_Task/spec/location: ours diskMoveType#0,pool#0 / recorded pool#0,diskMoveType#0",
      ]
    `);
  });

  it('CloneVM_Task: from a template', () => {
    expect(
      cloneDifferences('CloneVM_Task-from-template.req.xml', 'from-template', 'full', true, false),
    ).toEqual([]);
  });

  it('RelocateVM_Task', () => {
    const spec = buildRelocateSpec(
      MigrateTargetSchema.parse({ host: 'h', storage: 's', resourcePool: 'p' }),
      {
        host: { type: 'HostSystem', value: 'host-42' },
        datastore,
        pool,
      },
    );
    const envelope = buildEnvelope('RelocateVM_Task', { type: 'VirtualMachine', value: 'vm-121' }, [
      ['spec', spec, 'VirtualMachineRelocateSpec'],
      ['priority', 'defaultPriority'],
    ]);
    expect(compare(envelope, fixture('RelocateVM_Task.req.xml'))).toEqual([]);
  });

  it('CustomizeVM_Task: two fixed addresses', () => {
    const nic = (address: string) => ({
      network: 'VM Network',
      ipv4: { address, gateway: '192.168.10.1' },
      dns: { servers: ['1.1.1.1'], search: ['example.test'] },
    });
    const spec = buildCustomizationSpec(
      VmSpecSchema.parse({
        name: 'vm-127',
        cpu: { count: 1 },
        memory: { sizeMiB: 1024 },
        customization: { hostname: 'custom-host', domain: 'example.test' },
        nics: [nic('192.168.10.10/24'), nic('192.168.10.11/24')],
      }),
    );
    const envelope = buildEnvelope(
      'CustomizeVM_Task',
      { type: 'VirtualMachine', value: 'vm-127' },
      [['spec', spec, 'CustomizationSpec']],
    );
    expect(compare(envelope, fixture('CustomizeVM_Task.req.xml'))).toEqual([
      '+ CustomizeVM_Task/spec/identity(CustomizationLinuxPrep)/hwClockUTC=true',
    ]);
  });
});
