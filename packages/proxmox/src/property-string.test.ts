import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import config from './__fixtures__/derived-qemu-config.json' with { type: 'json' };
import fogConfig from './__fixtures__/real-fog-config.json' with { type: 'json' };
import {
  checkPropertyValue,
  type DriveConfig,
  formatAgent,
  formatCiCustom,
  formatDrive,
  formatEfiDisk,
  formatHotplug,
  formatIpConfig,
  formatMemory,
  formatNet,
  formatPropertyString,
  formatSize,
  type IpConfig,
  isDriveKey,
  NET_MODELS,
  type NetConfig,
  PropertyStringError,
  parseAgent,
  parseCiCustom,
  parseDrive,
  parseDriveFile,
  parseEfiDisk,
  parseHotplug,
  parseIpConfig,
  parseMemory,
  parseNet,
  parsePropertyString,
  parseSize,
} from './property-string.js';

const RUNS = { numRuns: 300 };
const example = config.exampleGetConfig.data;

/** The config lines of an on-disk config, `key: value`. */
function onDisk(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => line.includes(': '))
      .map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]),
  );
}

describe('parsePropertyString', () => {
  it('reads key=value pairs and the bare default-key value', () => {
    expect(
      parsePropertyString('local-lvm:vm-100-disk-0,size=32G,discard=on', { defaultKey: 'file' }),
    ).toEqual({ file: 'local-lvm:vm-100-disk-0', size: '32G', discard: 'on' });
  });

  it('takes the key up to the first = (values may hold =)', () => {
    expect(parsePropertyString('import-from=local:import/a=b.qcow2')).toEqual({
      'import-from': 'local:import/a=b.qcow2',
    });
  });

  it('refuses unknown keys and duplicates when the format lists its keys', () => {
    expect(() => parsePropertyString('ip=dhcp,foo=1', { keys: ['ip'] })).toThrow(
      PropertyStringError,
    );
    expect(() => parsePropertyString('ip=dhcp,ip=dhcp', { keys: ['ip'] })).toThrow(/duplicate/);
  });
});

describe('checkPropertyValue', () => {
  it.each([
    ['a,b', /','/],
    ['a\nb', /line breaks/],
    ['', /empty/],
  ])('refuses %j', (value, message) => {
    expect(() => checkPropertyValue('bridge', value)).toThrow(message);
  });

  it('refuses = only in the bare default-key value', () => {
    expect(() => checkPropertyValue('file', 'local:a=b', { bare: true })).toThrow(/'='/);
    expect(checkPropertyValue('import-from', 'local:a=b')).toBe('local:a=b');
  });

  it('arbitrary values never add or change a key: formatting refuses or the parse gives them back', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), (bare, value) => {
        let text: string;
        try {
          text = formatPropertyString(
            { file: bare, serial: value, size: '1G' },
            { defaultKey: 'file', keys: ['file', 'serial', 'size'] },
          );
        } catch (error) {
          expect(error).toBeInstanceOf(PropertyStringError);
          return;
        }
        expect(parsePropertyString(text, { defaultKey: 'file' })).toEqual({
          file: bare,
          serial: value,
          size: '1G',
        });
      }),
      RUNS,
    );
  });
});

describe('sizes', () => {
  it.each([
    ['32G', 32 * 2 ** 30],
    ['104858K', 104858 * 1024],
    ['4M', 4 * 2 ** 20],
    ['1T', 2 ** 40],
    ['512', 512],
    ['1.5G', 1.5 * 2 ** 30],
  ])('parses %s', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('formats with the largest exact unit, as format_size does', () => {
    expect(formatSize(32 * 2 ** 30)).toBe('32G');
    expect(formatSize(104858 * 1024)).toBe('104858K');
    expect(formatSize(1536 * 2 ** 20)).toBe('1536M');
    expect(formatSize(1000)).toBe('1000');
  });

  it('round-trips any whole byte count', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 50 }), (bytes) => {
        expect(parseSize(formatSize(bytes))).toBe(bytes);
      }),
      RUNS,
    );
  });

  it('refuses what is not a size', () => {
    expect(() => parseSize('32GB')).toThrow(PropertyStringError);
    expect(() => parseSize('-1G')).toThrow(PropertyStringError);
  });
});

describe('net[n]', () => {
  it('reads the recorded NICs', () => {
    expect(parseNet(example.net0)).toEqual({
      model: 'virtio',
      macaddr: 'BC:24:11:2C:69:EC',
      bridge: 'vmbr0',
      tag: 10,
    });
    const cloudinit = onDisk(config.onDisk_cloudinitSnapshot_main);
    expect(parseNet(cloudinit.net0 ?? '')).toEqual({
      model: 'vmxnet3',
      macaddr: 'BC:24:11:2C:69:EC',
      bridge: 'vnet0',
      firewall: true,
    });
  });

  it('writes <model>=<MAC> first and a bare model without a MAC', () => {
    expect(
      formatNet({
        model: 'virtio',
        macaddr: 'bc:24:11:00:00:01',
        bridge: 'vmbr0',
        tag: 10,
        firewall: true,
      }),
    ).toBe('virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10,firewall=1');
    expect(formatNet({ model: 'e1000', bridge: 'vmbr1' })).toBe('e1000,bridge=vmbr1');
  });

  it('refuses a multicast MAC, a VLAN out of range and a bridge with a comma', () => {
    expect(() => formatNet({ model: 'virtio', macaddr: '01:00:5E:00:00:01' })).toThrow(/unicast/);
    expect(() => formatNet({ model: 'virtio', tag: 4095 })).toThrow(/tag/);
    expect(() => formatNet({ model: 'virtio', bridge: 'vmbr0,tag=5' })).toThrow(
      PropertyStringError,
    );
  });

  const mac = fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
    .map(([first = 0, ...rest]) =>
      [first & 0xfe, ...rest]
        .map((byte) => byte.toString(16).padStart(2, '0').toUpperCase())
        .join(':'),
    );
  const net: fc.Arbitrary<NetConfig> = fc.record(
    {
      model: fc.constantFrom(...NET_MODELS),
      macaddr: mac,
      bridge: fc.stringMatching(/^[A-Za-z0-9_.-]{1,15}$/),
      tag: fc.integer({ min: 1, max: 4094 }),
      firewall: fc.boolean(),
      rate: fc.integer({ min: 0, max: 10_000 }),
      mtu: fc.integer({ min: 1, max: 65520 }),
      queues: fc.integer({ min: 0, max: 64 }),
      link_down: fc.boolean(),
    },
    { requiredKeys: ['model'] },
  );

  it('format → parse round-trips', () => {
    fc.assert(
      fc.property(net, (value) => {
        expect(parseNet(formatNet(value))).toEqual(value);
      }),
      RUNS,
    );
  });

  it('an arbitrary bridge never smuggles a key', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (bridge) => {
        let text: string;
        try {
          text = formatNet({ model: 'virtio', bridge, tag: 5 });
        } catch (error) {
          expect(error).toBeInstanceOf(PropertyStringError);
          return;
        }
        expect(parseNet(text)).toEqual({ model: 'virtio', bridge, tag: 5 });
      }),
      RUNS,
    );
  });
});

describe('disks', () => {
  it('reads the recorded disks', () => {
    expect(parseDrive(example.scsi0)).toEqual({
      file: 'local-lvm:vm-100-disk-0',
      iothread: true,
      sizeBytes: 32 * 2 ** 30,
    });
    const recorded = fogConfig.interactions[1]?.response.body.data as Record<string, string>;
    expect(parseDrive(recorded.virtio0 ?? '')).toEqual({
      file: 'local-lvm:vm-100-disk-0',
      backup: false,
      replicate: false,
      sizeBytes: 2 ** 30,
    });
    expect(parseDrive(example.ide2)).toEqual({
      file: 'local-lvm:vm-100-cloudinit',
      media: 'cdrom',
    });
  });

  it('keeps keys it does not model in extra, and writes them back', () => {
    const drive = parseDrive('local:100/vm-100-disk-0.qcow2,aio=native,serial=abc,size=8G');
    expect(drive.extra).toEqual({ aio: 'native', serial: 'abc' });
    expect(parseDrive(formatDrive(drive))).toEqual(drive);
  });

  it('writes the recorded allocation request', () => {
    // fog sent virtio0=local-lvm:1,backup=0,replicate=0
    expect(formatDrive({ file: 'local-lvm:1', backup: false, replicate: false })).toBe(
      decodeURIComponent(fogConfig.interactions[0]?.request.body.split('=')[1] ?? ''),
    );
  });

  it('classifies volumes, allocations and imports', () => {
    expect(parseDriveFile('local-lvm:32')).toEqual({
      kind: 'allocation',
      storage: 'local-lvm',
      sizeGiB: 32,
    });
    expect(parseDriveFile('nfs:120/vm-120-disk-0.qcow2')).toEqual({
      kind: 'volume',
      volume: 'nfs:120/vm-120-disk-0.qcow2',
      storage: 'nfs',
    });
    expect(parseDriveFile('/dev/sdb')).toEqual({ kind: 'volume', volume: '/dev/sdb' });
    expect(parseDriveFile('none')).toEqual({ kind: 'none' });
  });

  it('knows the disk slots of each bus', () => {
    expect(['scsi0', 'scsi30', 'virtio15', 'sata5', 'ide3'].every(isDriveKey)).toBe(true);
    expect(
      ['scsi31', 'virtio16', 'sata6', 'ide4', 'scsi01', 'efidisk0', 'net0'].some(isDriveKey),
    ).toBe(false);
  });

  const drive: fc.Arbitrary<DriveConfig> = fc.record(
    {
      file: fc.oneof(
        fc.stringMatching(/^[a-z][a-z0-9-]{0,8}:vm-[1-9]\d{2}-disk-\d$/),
        fc.stringMatching(/^[a-z][a-z0-9-]{0,8}:[1-9]\d{0,3}$/),
      ),
      'import-from': fc.stringMatching(/^[a-z]{1,8}:import\/[a-z0-9=._-]{1,20}$/),
      media: fc.constantFrom('disk', 'cdrom'),
      format: fc.constantFrom('raw', 'qcow2', 'vmdk'),
      cache: fc.constantFrom('none', 'writeback', 'unsafe'),
      discard: fc.constantFrom('on', 'ignore'),
      iothread: fc.boolean(),
      ssd: fc.boolean(),
      backup: fc.boolean(),
      replicate: fc.boolean(),
      sizeBytes: fc.integer({ min: 1, max: 2 ** 46 }),
    },
    { requiredKeys: ['file'] },
  );

  it('format → parse round-trips', () => {
    fc.assert(
      fc.property(drive, (value) => {
        expect(parseDrive(formatDrive(value))).toEqual(value);
      }),
      RUNS,
    );
  });

  it('an arbitrary volume or import source never smuggles a key', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), (file, source) => {
        let text: string;
        try {
          text = formatDrive({ file, 'import-from': source, backup: false });
        } catch (error) {
          expect(error).toBeInstanceOf(PropertyStringError);
          return;
        }
        expect(parseDrive(text)).toEqual({ file, 'import-from': source, backup: false });
      }),
      RUNS,
    );
  });
});

describe('ipconfig[n]', () => {
  it('reads and writes the recorded forms', () => {
    expect(parseIpConfig(example.ipconfig0)).toEqual({ ip: '192.168.1.50/24', gw: '192.168.1.1' });
    expect(parseIpConfig('ip6=dhcp')).toEqual({ ip6: 'dhcp' });
    expect(formatIpConfig({ ip: '10.0.0.5/24', gw: '10.0.0.1', ip6: 'dhcp' })).toBe(
      'ip=10.0.0.5/24,gw=10.0.0.1,ip6=dhcp',
    );
  });

  it('refuses a gateway without a static address and a smuggled key', () => {
    expect(() => formatIpConfig({ ip: 'dhcp', gw: '10.0.0.1' })).toThrow(/needs a static ip/);
    expect(() => formatIpConfig({ ip: '10.0.0.5/24,gw=1.2.3.4' })).toThrow(PropertyStringError);
  });

  const octet = fc.integer({ min: 0, max: 255 });
  const ipv4 = fc.tuple(octet, octet, octet, octet).map((parts) => parts.join('.'));
  const config: fc.Arbitrary<IpConfig> = fc.oneof(
    fc.record({ ip: fc.constant('dhcp') }),
    fc.record(
      {
        ip: fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`),
        gw: ipv4,
        ip6: fc.constantFrom('dhcp', 'auto', '2001:db8::5/64'),
      },
      { requiredKeys: ['ip'] },
    ),
  );

  it('format → parse round-trips', () => {
    fc.assert(
      fc.property(config, (value) => {
        expect(parseIpConfig(formatIpConfig(value))).toEqual(value);
      }),
      RUNS,
    );
  });
});

describe('memory', () => {
  it('reads the integer of 7.x and the property string of 8.x+', () => {
    expect(parseMemory(4096)).toBe(4096);
    expect(parseMemory(example.memory)).toBe(4096);
    expect(parseMemory('current=2048')).toBe(2048);
    expect(parseMemory(undefined)).toBeUndefined();
  });

  it('writes the form of the version', () => {
    expect(formatMemory(4096, '7.4')).toBe(4096);
    expect(formatMemory(4096, '8.4')).toBe('4096');
    expect(formatMemory(4096, '9.1')).toBe('4096');
    expect(() => formatMemory(8, '9.1')).toThrow(PropertyStringError);
  });

  it('round-trips any size on every version', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 24 * 1024 * 1024 }),
        fc.constantFrom('7.4', '8.4', '9.1'),
        (mebibytes, version) => {
          expect(parseMemory(formatMemory(mebibytes, version))).toBe(mebibytes);
        },
      ),
    );
  });
});

describe('efidisk0, agent, cicustom, hotplug', () => {
  it('efidisk0 round-trips with its keys', () => {
    const disk = { file: 'local-lvm:1', efitype: '4m' as const, 'pre-enrolled-keys': true };
    expect(formatEfiDisk(disk)).toBe('local-lvm:1,efitype=4m,pre-enrolled-keys=1');
    expect(parseEfiDisk('local-lvm:vm-100-disk-1,efitype=4m,size=4M')).toEqual({
      file: 'local-lvm:vm-100-disk-1',
      efitype: '4m',
      sizeBytes: 4 * 2 ** 20,
    });
  });

  it('agent reads 1, a property string and aliases', () => {
    expect(parseAgent(example.agent)).toEqual({ enabled: true });
    expect(parseAgent(undefined)).toEqual({ enabled: false });
    expect(parseAgent('enabled=1,fstrim_cloned_disks=1,freeze-fs-on-backup=0')).toEqual({
      enabled: true,
      fstrim_cloned_disks: true,
      'freeze-fs': false,
    });
    expect(formatAgent({ enabled: true })).toBe('1');
    expect(formatAgent({ enabled: true, 'freeze-fs': false })).toBe('1,freeze-fs=0');
  });

  it('cicustom accepts snippet volumes only', () => {
    expect(parseCiCustom(example.cicustom)).toEqual({ user: 'local:snippets/user-data.yaml' });
    expect(
      formatCiCustom({ user: 'local:snippets/u.yaml', network: 'local:snippets/n.yaml' }),
    ).toBe('network=local:snippets/n.yaml,user=local:snippets/u.yaml');
    expect(() => formatCiCustom({ user: 'local:iso/x.iso' })).toThrow(/snippet/);
    expect(() => formatCiCustom({ user: 'local:snippets/a.yaml,meta=local:snippets/b' })).toThrow(
      PropertyStringError,
    );
  });

  it('hotplug: absent or 1 is the default, 0 is none', () => {
    expect([...parseHotplug(undefined)]).toEqual(['network', 'disk', 'usb']);
    expect([...parseHotplug('1')]).toEqual(['network', 'disk', 'usb']);
    expect(parseHotplug('0').size).toBe(0);
    expect(formatHotplug(parseHotplug('memory,cpu,disk,network,usb'))).toBe(
      'network,disk,cpu,memory,usb',
    );
    expect(() => parseHotplug('network,gpu')).toThrow(PropertyStringError);
  });
});
