import { readFileSync } from 'node:fs';
import { ProviderApiError } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { type DomainParseContext, parseDomainXml } from './domain-parse.js';

/** A `virsh dumpxml` output recorded on the bed by domain-xml.bed.test.ts. */
function fixture(name: string): string {
  return readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
}

/** The `<uuid>` of a document, read with a regex (independently of the parser under test). */
function uuidOf(xml: string): string {
  return /<uuid>([0-9a-f-]{36})<\/uuid>/.exec(xml)?.[1] ?? 'missing';
}

const base: DomainParseContext = { provider: 'lv', host: 'vm', state: 'off' };
const POOL = '/var/lib/libvirt/images';

/** A minimal domain around `inner` for the hand-written cases. */
function domain(inner: string, head = ''): string {
  return `<domain type='kvm'><name>d</name><uuid>00000000-0000-4000-8000-000000000001</uuid>${head}<memory unit='KiB'>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>${inner}</devices></domain>`;
}

describe('parseDomainXml: recorded dumpxml of domains hvkit defined', () => {
  it('q35 with every device kind (inactive)', () => {
    const xml = fixture('domain-q35-full.inactive.xml');
    const vm = parseDomainXml(xml, {
      ...base,
      volumes: new Map([
        [`${POOL}/hvkit-lv2-full-root.qcow2`, { pool: 'default', capacityBytes: 64 * 1024 ** 2 }],
        [
          `${POOL}/hvkit-lv2-full-data.raw`,
          { pool: 'default', capacityBytes: 16 * 1024 ** 2, provisioning: 'thick' },
        ],
      ]),
    });
    expect(vm.ref).toEqual({ provider: 'lv', id: uuidOf(xml) });
    expect(vm.detail).toBe('full');
    expect(vm.name).toBe(`hvkit-lv2-full <&"'>`);
    expect(vm.description).toBe('line 1 <b>&amp;</b>\nline 2\t"quoted" \'single\' Grüße 𝄞');
    expect(vm.powerState).toBe('off');
    expect(vm.template).toBe(false);
    expect(vm.cpu).toEqual({ count: 2, coresPerSocket: 2, hotAdd: true });
    expect(vm.memory).toEqual({ sizeMiB: 192, hotAdd: true });
    expect(vm.firmware).toBe('bios');
    expect(vm.tags).toEqual({ env: 'dev & <test>', 'owner/team': `o'brien "x"`, empty: '' });
    expect(vm.disks).toEqual([
      {
        id: 'vda',
        name: 'root <disk>',
        sizeBytes: 64 * 1024 ** 2,
        bus: 'virtio',
        storage: 'default',
        format: 'qcow2',
      },
      {
        id: 'sda',
        name: 'data & more',
        sizeBytes: 16 * 1024 ** 2,
        provisioning: 'thick',
        bus: 'sata',
        storage: 'default',
        format: 'raw',
      },
    ]);
    expect(
      vm.nics.map((nic) => [nic.id, nic.network, nic.connection, nic.model, nic.vlan]),
    ).toEqual([
      ['52:54:00:4c:56:01', 'default', 'network', 'virtio', undefined],
      ['52:54:00:4c:56:02', 'default', 'network', 'e1000', undefined],
      ['52:54:00:4c:56:03', 'virbr0', 'bridge', 'rtl8139', undefined],
    ]);
    expect(vm.placement).toEqual({ host: 'vm', storage: 'default' });
    // Shut off: the agent channel exists but nothing is connected.
    expect(vm.guest).toEqual({ toolsState: 'not-running', ipAddresses: [] });
    expect(vm.snapshots).toEqual({ currentId: null, roots: [] });
    expect(vm.policies).toEqual({});
    expect(vm.raw).toEqual({ domainXml: xml });
  });

  it('pc with an IDE disk: the seed cdrom is not a disk; sizes unknown without a lookup are 0', () => {
    const vm = parseDomainXml(fixture('domain-pc-ide.inactive.xml'), base);
    expect(vm.disks).toEqual([{ id: 'hda', sizeBytes: 0, bus: 'ide', format: 'qcow2' }]);
    expect(vm.nics).toHaveLength(1);
    expect(vm.nics[0]?.model).toBe('e1000e');
    expect(vm.nics[0]?.id).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(vm.cpu).toEqual({ count: 1, coresPerSocket: 1, hotAdd: false });
    expect(vm.memory).toEqual({ sizeMiB: 128, hotAdd: false });
    expect(vm.tags).toEqual({});
    expect(vm.description).toBeUndefined();
    expect(vm.placement).toEqual({ host: 'vm' });
  });

  it('EFI with secure boot', () => {
    const vm = parseDomainXml(fixture('domain-efi-secureboot.inactive.xml'), base);
    expect(vm.firmware).toBe('efi');
    expect(vm.disks).toEqual([]);
    expect(vm.nics).toEqual([]);
  });

  it('a running domain: agent connected, caller-given IPs per MAC', () => {
    const vm = parseDomainXml(fixture('domain-booted.live.xml'), {
      ...base,
      state: 'on',
      nicAddresses: new Map([['52:54:00:4c:56:10', ['192.168.122.50']]]),
    });
    expect(vm.powerState).toBe('on');
    expect(vm.guest).toEqual({ toolsState: 'running', ipAddresses: ['192.168.122.50'] });
    expect(vm.nics).toEqual([
      {
        id: '52:54:00:4c:56:10',
        network: 'default',
        connection: 'network',
        model: 'virtio',
        mac: '52:54:00:4c:56:10',
        ipAddresses: ['192.168.122.50'],
      },
    ]);
    expect(vm.cpu).toEqual({ count: 1, coresPerSocket: 1, hotAdd: true });
    expect(vm.memory).toEqual({ sizeMiB: 256, hotAdd: true });
    expect(vm.disks.map((disk) => [disk.id, disk.parentId])).toEqual([['vda', undefined]]);
  });

  it('a running linked clone: parentId from the live backing chain', () => {
    const vm = parseDomainXml(fixture('domain-linked-clone.live.xml'), { ...base, state: 'on' });
    expect(vm.disks.map((disk) => [disk.id, disk.parentId])).toEqual([
      ['vda', `${POOL}/hvkit-lv2-base.qcow2`],
    ]);
    // Running with no guest OS: libvirt reports the channel `disconnected`.
    expect(vm.guest.toolsState).toBe('not-running');
  });

  it('takes the guest info the caller passes over the channel state', () => {
    const guest = { toolsState: 'running' as const, hostname: 'g', ipAddresses: ['10.0.0.1'] };
    expect(parseDomainXml(fixture('domain-pc-ide.inactive.xml'), { ...base, guest }).guest).toBe(
      guest,
    );
  });
});

describe('parseDomainXml: libvirt XML hvkit did not write', () => {
  it('reads memory in any libvirt unit and defaults to KiB', () => {
    const head = (memory: string, current: string) =>
      domain('').replace("<memory unit='KiB'>65536</memory>", `${memory}${current}`);
    expect(
      parseDomainXml(
        head("<memory unit='GiB'>2</memory>", "<currentMemory unit='MiB'>1536</currentMemory>"),
        base,
      ).memory,
    ).toEqual({ sizeMiB: 1536, hotAdd: true });
    expect(parseDomainXml(head('<memory>1048576</memory>', ''), base).memory).toEqual({
      sizeMiB: 1024,
      hotAdd: false,
    });
    expect(
      parseDomainXml(head("<memory unit='b'>1073741824</memory>", ''), base).memory.sizeMiB,
    ).toBe(1024);
  });

  it('counts logical CPUs per socket as cores × threads, 1 without a topology', () => {
    const xml = domain('').replace(
      '<vcpu>1</vcpu>',
      "<vcpu current='4'>8</vcpu><cpu><topology sockets='2' dies='1' cores='2' threads='2'/></cpu>",
    );
    expect(parseDomainXml(xml, base).cpu).toEqual({ count: 4, coresPerSocket: 4, hotAdd: true });
    expect(parseDomainXml(domain(''), base).cpu).toEqual({
      count: 1,
      coresPerSocket: 1,
      hotAdd: false,
    });
  });

  it('reads volume-type disks, luns and block devices; skips cdroms, floppies and disks without a target', () => {
    const vm = parseDomainXml(
      domain(`
        <disk type='volume' device='disk'><driver name='qemu' type='raw'/><source pool='fast' volume='v1'/><target dev='vdb' bus='virtio'/></disk>
        <disk type='block' device='lun'><source dev='/dev/sdz'/><target dev='sdc' bus='scsi'/></disk>
        <disk type='file' device='cdrom'><source file='/x.iso'/><target dev='sda' bus='sata'/></disk>
        <disk type='file' device='floppy'><target dev='fda' bus='fdc'/></disk>
        <disk type='file' device='disk'><source file='/y.vmdk'/><driver type='vmdk'/></disk>
        <disk type='file' device='disk'><source file='/z.img'/><driver type='vpc'/><target dev='hdz' bus='usb'/></disk>`),
      { ...base, volumes: new Map([['fast/v1', { capacityBytes: 5 }]]) },
    );
    expect(vm.disks).toEqual([
      { id: 'vdb', sizeBytes: 5, bus: 'virtio', storage: 'fast', format: 'raw' },
      { id: 'sdc', sizeBytes: 0, bus: 'scsi' },
      // usb bus and vpc format have no core equivalent: left out rather than guessed.
      { id: 'hdz', sizeBytes: 0 },
    ]);
    expect(vm.placement.storage).toBe('fast');
  });

  it('reads VLANs, unknown models and other interface types; skips NICs without a MAC', () => {
    const vm = parseDomainXml(
      domain(`
        <interface type='bridge'><mac address='52:54:00:AA:00:01'/><source bridge='ovsbr0'/><virtualport type='openvswitch'/><vlan><tag id='42'/></vlan><model type='virtio'/></interface>
        <interface type='direct'><mac address='52:54:00:aa:00:02'/><source dev='eth0' mode='bridge'/><model type='ne2k_pci'/></interface>
        <interface type='user'><mac address='52:54:00:aa:00:03'/></interface>
        <interface type='network'><source network='default'/></interface>`),
      base,
    );
    expect(
      vm.nics.map((nic) => [nic.id, nic.network, nic.connection, nic.model, nic.vlan]),
    ).toEqual([
      ['52:54:00:aa:00:01', 'ovsbr0', 'bridge', 'virtio', 42],
      ['52:54:00:aa:00:02', 'eth0', 'network', undefined, undefined],
      ['52:54:00:aa:00:03', 'user', 'network', undefined, undefined],
    ]);
  });

  it('reads hvkit metadata whatever its prefix, ignores other metadata and the __proto__ key', () => {
    const vm = parseDomainXml(
      domain(
        "<disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/></disk>",
        `<metadata>
          <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0"><libosinfo:os id="http://debian.org/debian/12"/></libosinfo:libosinfo>
          <t:tags xmlns:t="https://hvkit.dev/libvirt/1"><t:tag key="a">1</t:tag><t:tag key="__proto__">x</t:tag><t:tag>no key</t:tag></t:tags>
          <tags><tag key="b">not ours</tag></tags>
          <d:disks xmlns:d="https://hvkit.dev/libvirt/1/disks"><d:disk target="vda">boot</d:disk></d:disks>
        </metadata>`,
      ),
      base,
    );
    expect(vm.tags).toEqual({ a: '1' });
    expect(Object.getPrototypeOf(vm.tags)).toBe(Object.prototype);
    expect(vm.disks[0]?.name).toBe('boot');
  });

  it('treats a pflash loader as EFI', () => {
    const xml = domain('').replace(
      '<os><type>hvm</type></os>',
      "<os><type>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader></os>",
    );
    expect(parseDomainXml(xml, base).firmware).toBe('efi');
  });

  it('reports no agent without the qemu-ga channel, unknown when libvirt gives no state', () => {
    expect(parseDomainXml(domain(''), { ...base, state: 'on' }).guest.toolsState).toBe(
      'not-installed',
    );
    const channel =
      "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>";
    expect(parseDomainXml(domain(channel), { ...base, state: 'on' }).guest.toolsState).toBe(
      'unknown',
    );
    expect(parseDomainXml(domain(channel), base).guest.toolsState).toBe('not-running');
  });

  it.each([
    ['<network><name>n</name></network>', 'not a domain'],
    ['<domain><uuid>x</uuid></domain>', 'no name'],
    ['<domain><name>d</name></domain>', 'no uuid'],
    ['<domain><name>d</name>', 'not well-formed'],
  ])('refuses %j (%s) with ProviderApiError', (xml) => {
    let caught: unknown;
    try {
      parseDomainXml(xml, base);
    } catch (error) {
      caught = error;
    }
    expect(ProviderApiError.isInstance(caught)).toBe(true);
    expect((caught as ProviderApiError).fault).toBe('xml-parse');
  });
});
