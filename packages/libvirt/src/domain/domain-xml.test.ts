import { NotFoundError, type VmSpec, type VmSpecInput, VmSpecSchema } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { issuesOf } from '../../test/issues-of.js';
import {
  attributeOf,
  childOf,
  childrenOf,
  parseXml,
  pathOf,
  textOf,
  type XmlElement,
} from '../xml/xml-reader.js';
import {
  descriptionArb,
  nameArb,
  tagKeyArb,
  tagValueArb,
} from './domain-arbitraries.test-support.js';
import { parseDomainXml } from './domain-parse.js';
import {
  buildDomainXml,
  buildTagsMetadata,
  type DomainTarget,
  diskLetters,
  HVKIT_TAGS_NS,
  SPARE_ROOT_PORTS,
} from './domain-xml.js';

const UUID = '6f1c1a3e-9a53-4d8e-8f0e-0a1b2c3d4e5f';

function spec(input: Partial<VmSpecInput> = {}): VmSpec {
  return VmSpecSchema.parse({
    name: 'vm1',
    cpu: { count: 2 },
    memory: { sizeMiB: 512 },
    ...input,
  });
}

function target(overrides: Partial<DomainTarget> = {}, disks = 0): DomainTarget {
  return {
    uuid: UUID,
    volumes: Array.from({ length: disks }, (_, index) => ({
      path: `/var/lib/libvirt/images/vm1-${index}.qcow2`,
      format: 'qcow2' as const,
    })),
    networks: new Map([
      ['default', { kind: 'network' as const }],
      ['br0', { kind: 'bridge' as const }],
      ['ovsbr', { kind: 'bridge' as const, openvswitch: true }],
    ]),
    ...overrides,
  };
}

function build(input: Partial<VmSpecInput> = {}, overrides: Partial<DomainTarget> = {}) {
  const parsed = spec(input);
  const plan = buildDomainXml(parsed, target(overrides, parsed.disks?.length ?? 0));
  return { ...plan, root: parseXml(plan.xml) };
}

const devices = (root: XmlElement) => childOf(root, 'devices');

describe('buildDomainXml: identity and metadata', () => {
  it('writes name, uuid, description and the domain type', () => {
    const { root } = build({ name: 'web 1', description: 'first\nsecond' });
    expect(root.name).toBe('domain');
    expect(attributeOf(root, 'type')).toBe('kvm');
    expect(textOf(root, 'name')).toBe('web 1');
    expect(textOf(root, 'uuid')).toBe(UUID);
    expect(textOf(root, 'description')).toBe('first\nsecond');
  });

  it('leaves out uuid and an empty description, so libvirt generates / stores none', () => {
    const { root } = build({ description: '' }, { uuid: undefined });
    expect(childOf(root, 'uuid')).toBeUndefined();
    expect(childOf(root, 'description')).toBeUndefined();
  });

  it('takes the domain type from providerOptions, else the target default', () => {
    expect(attributeOf(build({}, { defaultDomainType: 'qemu' }).root, 'type')).toBe('qemu');
    expect(
      attributeOf(
        build(
          { providerOptions: { libvirt: { domainType: 'kvm' } } },
          { defaultDomainType: 'qemu' },
        ).root,
        'type',
      ),
    ).toBe('kvm');
  });

  it('writes tags under <metadata> in the hvkit namespace, escaped', () => {
    const { root, xml } = build({ tags: { env: 'prod & <eu>', 'team/x': '' } });
    expect(xml).toContain(`<hvkit:tags xmlns:hvkit='${HVKIT_TAGS_NS}'>`);
    expect(xml).toContain(`<hvkit:tag key='env'>prod &amp; &lt;eu&gt;</hvkit:tag>`);
    const tags = childOf(childOf(root, 'metadata'), 'tags', HVKIT_TAGS_NS);
    expect(
      childrenOf(tags, 'tag', HVKIT_TAGS_NS).map((tag) => [tag.attributes.key, tag.text]),
    ).toEqual([
      ['env', 'prod & <eu>'],
      ['team/x', ''],
    ]);
  });

  it('has no <metadata> without tags or disk labels', () => {
    expect(childOf(build({ tags: {} }).root, 'metadata')).toBeUndefined();
  });

  it('buildTagsMetadata gives the element alone for virsh metadata --set', () => {
    expect(buildTagsMetadata({ a: '1' })).toBe(
      `<hvkit:tags xmlns:hvkit='${HVKIT_TAGS_NS}'><hvkit:tag key='a'>1</hvkit:tag></hvkit:tags>`,
    );
  });
});

describe('buildDomainXml: CPU and memory', () => {
  it('writes vcpu and a topology of count / coresPerSocket sockets', () => {
    const { root } = build({ cpu: { count: 4, coresPerSocket: 2 } });
    expect(childOf(root, 'vcpu')?.text).toBe('4');
    expect(attributeOf(childOf(root, 'vcpu'), 'current')).toBeUndefined();
    expect(pathOf(root, 'cpu', 'topology')?.attributes).toMatchObject({
      sockets: '2',
      cores: '2',
      threads: '1',
    });
  });

  it('with cpu.hotAdd: twice the count as maximum (whole sockets), count as current', () => {
    const { root } = build({ cpu: { count: 3, hotAdd: true } });
    expect(childOf(root, 'vcpu')?.text).toBe('6');
    expect(attributeOf(childOf(root, 'vcpu'), 'current')).toBe('3');
    expect(attributeOf(pathOf(root, 'cpu', 'topology'), 'sockets')).toBe('6');
    const odd = build({ cpu: { count: 3, coresPerSocket: 3, hotAdd: true } }).root;
    expect(childOf(odd, 'vcpu')?.text).toBe('6');
    expect(attributeOf(pathOf(odd, 'cpu', 'topology'), 'sockets')).toBe('2');
  });

  it('takes maxCpuCount from providerOptions and checks it', () => {
    const { root } = build({
      cpu: { count: 2, coresPerSocket: 2, hotAdd: true },
      providerOptions: { libvirt: { maxCpuCount: 8 } },
    });
    expect(childOf(root, 'vcpu')?.text).toBe('8');
    expect(attributeOf(pathOf(root, 'cpu', 'topology'), 'sockets')).toBe('4');
    expect(
      issuesOf(() =>
        build({
          cpu: { count: 4, hotAdd: true },
          providerOptions: { libvirt: { maxCpuCount: 2 } },
        }),
      ),
    ).toEqual([
      { path: 'providerOptions.libvirt.maxCpuCount', message: 'must be at least cpu.count (4)' },
    ]);
    expect(
      issuesOf(() =>
        build({
          cpu: { count: 2, coresPerSocket: 2, hotAdd: true },
          providerOptions: { libvirt: { maxCpuCount: 5 } },
        }),
      )[0]?.path,
    ).toBe('providerOptions.libvirt.maxCpuCount');
    expect(
      issuesOf(() => build({ providerOptions: { libvirt: { maxCpuCount: 4 } } }))[0]?.message,
    ).toBe('needs cpu.hotAdd: true');
  });

  it('writes memory and currentMemory in KiB and a virtio balloon with stats', () => {
    const { root } = build({ memory: { sizeMiB: 300 } });
    expect(childOf(root, 'memory')?.text).toBe(String(300 * 1024));
    expect(attributeOf(childOf(root, 'memory'), 'unit')).toBe('KiB');
    expect(childOf(root, 'currentMemory')?.text).toBe(String(300 * 1024));
    const balloon = childOf(devices(root), 'memballoon');
    expect(attributeOf(balloon, 'model')).toBe('virtio');
    expect(attributeOf(childOf(balloon, 'stats'), 'period')).toBe('10');
  });

  it('with memory.hotAdd: the maximum is twice the size or maxMemoryMiB', () => {
    const doubled = build({ memory: { sizeMiB: 256, hotAdd: true } }).root;
    expect(childOf(doubled, 'memory')?.text).toBe(String(512 * 1024));
    expect(childOf(doubled, 'currentMemory')?.text).toBe(String(256 * 1024));
    const given = build({
      memory: { sizeMiB: 256, hotAdd: true },
      providerOptions: { libvirt: { maxMemoryMiB: 1024 } },
    }).root;
    expect(childOf(given, 'memory')?.text).toBe(String(1024 * 1024));
    expect(
      issuesOf(() =>
        build({
          memory: { sizeMiB: 256, hotAdd: true },
          providerOptions: { libvirt: { maxMemoryMiB: 128 } },
        }),
      ),
    ).toEqual([
      {
        path: 'providerOptions.libvirt.maxMemoryMiB',
        message: 'must be at least memory.sizeMiB (256)',
      },
    ]);
  });

  it('refuses reservations and limits by path', () => {
    expect(
      issuesOf(() =>
        build({
          cpu: { count: 1, reservationMHz: 100, limitMHz: 200 },
          memory: { sizeMiB: 256, reservationMiB: 128, limitMiB: 256 },
        }),
      ).map((issue) => issue.path),
    ).toEqual(['cpu.reservationMHz', 'cpu.limitMHz', 'memory.reservationMiB', 'memory.limitMiB']);
  });
});

describe('buildDomainXml: boot, firmware, features', () => {
  it('defaults to q35, BIOS, boot from disk, ACPI and APIC', () => {
    const { root } = build();
    const os = childOf(root, 'os');
    expect(attributeOf(childOf(os, 'type'), 'machine')).toBe('q35');
    expect(childOf(os, 'type')?.text).toBe('hvm');
    expect(attributeOf(os, 'firmware')).toBeUndefined();
    expect(attributeOf(childOf(os, 'boot'), 'dev')).toBe('hd');
    expect(childOf(root, 'features')?.children.map((child) => child.name)).toEqual([
      'acpi',
      'apic',
    ]);
  });

  it('writes direct kernel boot from providerOptions.libvirt, without <boot>', () => {
    const { root } = build({
      providerOptions: {
        libvirt: {
          kernel: '/boot/vmlinuz',
          initrd: '/boot/initrd.img',
          cmdline: 'console=ttyS0 a="b"',
        },
      },
    });
    const os = childOf(root, 'os');
    expect(textOf(os, 'kernel')).toBe('/boot/vmlinuz');
    expect(textOf(os, 'initrd')).toBe('/boot/initrd.img');
    expect(textOf(os, 'cmdline')).toBe('console=ttyS0 a="b"');
    expect(childOf(os, 'boot')).toBeUndefined();
  });

  it('refuses bad libvirt options with paths under providerOptions.libvirt', () => {
    expect(
      issuesOf(() =>
        build({
          providerOptions: {
            libvirt: { kernel: 'vmlinuz', machine: 'virt', domainType: 'xen', extra: 1 },
          },
        }),
      ).map((issue) => issue.path),
    ).toEqual(
      expect.arrayContaining([
        'providerOptions.libvirt.kernel',
        'providerOptions.libvirt.machine',
        'providerOptions.libvirt.domainType',
        'providerOptions.libvirt.extra',
      ]),
    );
    expect(
      issuesOf(() => build({ providerOptions: { libvirt: { initrd: '/boot/initrd' } } })),
    ).toEqual([{ path: 'providerOptions.libvirt.initrd', message: 'needs kernel' }]);
  });

  it('writes EFI with secure boot as firmware features plus SMM', () => {
    const { root } = build({ firmware: 'efi', secureBoot: true });
    const os = childOf(root, 'os');
    expect(attributeOf(os, 'firmware')).toBe('efi');
    expect(
      childrenOf(childOf(os, 'firmware'), 'feature').map((feature) => [
        feature.attributes.name,
        feature.attributes.enabled,
      ]),
    ).toEqual([
      ['enrolled-keys', 'yes'],
      ['secure-boot', 'yes'],
    ]);
    expect(attributeOf(pathOf(root, 'features', 'smm'), 'state')).toBe('on');
    const plain = build({ firmware: 'efi' }).root;
    expect(childOf(childOf(plain, 'os'), 'firmware')).toBeUndefined();
    expect(pathOf(plain, 'features', 'smm')).toBeUndefined();
  });

  it('uses localtime clocks for Windows, UTC otherwise', () => {
    expect(attributeOf(childOf(build({ guestOs: 'windows' }).root, 'clock'), 'offset')).toBe(
      'localtime',
    );
    expect(attributeOf(childOf(build().root, 'clock'), 'offset')).toBe('utc');
  });
});

describe('buildDomainXml: disks', () => {
  it('assigns target devs per bus family and writes file sources with the volume format', () => {
    const parsed = spec({
      disks: [
        { sizeGiB: 1 },
        { sizeGiB: 1, bus: 'sata' },
        { sizeGiB: 1, bus: 'virtio' },
        { sizeGiB: 1, bus: 'scsi' },
      ],
    });
    const plan = buildDomainXml(parsed, {
      ...target({}, 4),
      volumes: [
        { path: '/p/a.qcow2', format: 'qcow2' },
        { path: '/p/b.raw', format: 'raw' },
        { path: "/p/c'<&>.qcow2", format: 'qcow2' },
        { path: '/p/d.qcow2', format: 'qcow2' },
      ],
    });
    expect(plan.diskTargets).toEqual(['vda', 'sda', 'vdb', 'sdb']);
    const disks = childrenOf(devices(parseXml(plan.xml)), 'disk');
    expect(
      disks.map((disk) => [
        attributeOf(disk, 'type'),
        attributeOf(disk, 'device'),
        attributeOf(childOf(disk, 'driver'), 'type'),
        attributeOf(childOf(disk, 'driver'), 'discard'),
        attributeOf(childOf(disk, 'source'), 'file'),
        attributeOf(childOf(disk, 'target'), 'dev'),
        attributeOf(childOf(disk, 'target'), 'bus'),
      ]),
    ).toEqual([
      ['file', 'disk', 'qcow2', 'unmap', '/p/a.qcow2', 'vda', 'virtio'],
      ['file', 'disk', 'raw', 'unmap', '/p/b.raw', 'sda', 'sata'],
      ['file', 'disk', 'qcow2', 'unmap', "/p/c'<&>.qcow2", 'vdb', 'virtio'],
      ['file', 'disk', 'qcow2', 'unmap', '/p/d.qcow2', 'sdb', 'scsi'],
    ]);
    const scsi = childrenOf(devices(parseXml(plan.xml)), 'controller').filter(
      (controller) => attributeOf(controller, 'type') === 'scsi',
    );
    expect(scsi.map((controller) => attributeOf(controller, 'model'))).toEqual(['virtio-scsi']);
  });

  it('has no SCSI controller without SCSI disks', () => {
    const { root } = build({ disks: [{ sizeGiB: 1 }] });
    expect(
      childrenOf(devices(root), 'controller').some((c) => attributeOf(c, 'type') === 'scsi'),
    ).toBe(false);
  });

  it('stores disk labels in hvkit metadata keyed by target dev', () => {
    const { root } = build({ disks: [{ sizeGiB: 1, name: 'data <1>' }, { sizeGiB: 1 }] });
    const labels = childOf(childOf(root, 'metadata'), 'disks', 'https://hvkit.dev/libvirt/1/disks');
    expect(labels?.children.map((label) => [attributeOf(label, 'target'), label.text])).toEqual([
      ['vda', 'data <1>'],
    ]);
  });

  it('refuses nvme, ide on q35, vmdk/vhdx formats and storage policies by path', () => {
    expect(
      issuesOf(() =>
        build({
          disks: [
            { sizeGiB: 1, bus: 'nvme' },
            { sizeGiB: 1, bus: 'ide' },
            { sizeGiB: 1, format: 'vmdk' },
            { sizeGiB: 1, storagePolicy: 'gold' },
          ],
        }),
      ).map((issue) => issue.path),
    ).toEqual(['disks[0].bus', 'disks[1].bus', 'disks[2].format', 'disks[3].storagePolicy']);
  });

  it('puts ide disks on a pc machine as hda…, at most 4 with no seed ISO and 3 with one', () => {
    const pc = { providerOptions: { libvirt: { machine: 'pc' } } };
    const plan = build({
      ...pc,
      disks: [
        { sizeGiB: 1, bus: 'ide' },
        { sizeGiB: 1, bus: 'ide' },
      ],
    });
    expect(plan.diskTargets).toEqual(['hda', 'hdb']);
    const four = Array.from({ length: 4 }, () => ({ sizeGiB: 1, bus: 'ide' as const }));
    expect(build({ ...pc, disks: four }).diskTargets).toEqual(['hda', 'hdb', 'hdc', 'hdd']);
    expect(issuesOf(() => build({ ...pc, disks: four }, { seedIso: '/p/seed.iso' }))).toEqual([
      { path: 'disks', message: 'a pc machine has 4 IDE slots, one taken by the seed ISO' },
    ]);
  });

  it('refuses a mismatched volume list or format as the caller bug it is', () => {
    expect(() => buildDomainXml(spec({ disks: [{ sizeGiB: 1 }] }), target({}, 0))).toThrow(
      TypeError,
    );
    expect(() =>
      buildDomainXml(spec({ disks: [{ sizeGiB: 1, format: 'raw' }] }), target({}, 1)),
    ).toThrow(/volume is qcow2, the spec asks raw/);
  });

  it('attaches the seed ISO read-only after the disks: sata on q35, ide on pc', () => {
    const q35 = build({ disks: [{ sizeGiB: 1, bus: 'sata' }] }, { seedIso: '/p/seed.iso' });
    expect(q35.seedTarget).toBe('sdb');
    const cdrom = childrenOf(devices(q35.root), 'disk').find(
      (disk) => attributeOf(disk, 'device') === 'cdrom',
    );
    expect(attributeOf(childOf(cdrom, 'source'), 'file')).toBe('/p/seed.iso');
    expect(attributeOf(childOf(cdrom, 'target'), 'bus')).toBe('sata');
    expect(attributeOf(childOf(cdrom, 'driver'), 'type')).toBe('raw');
    expect(childOf(cdrom, 'readonly')).toBeDefined();
    const pc = build(
      { disks: [{ sizeGiB: 1 }], providerOptions: { libvirt: { machine: 'pc-i440fx-7.2' } } },
      { seedIso: '/p/seed.iso' },
    );
    expect(pc.seedTarget).toBe('hda');
  });

  it('needs a seed ISO for cloud-init (the driver builds it)', () => {
    expect(() => build({ cloudInit: { userData: '#cloud-config\n' } })).toThrow(TypeError);
    expect(
      build({ cloudInit: { userData: '#cloud-config\n' } }, { seedIso: '/s.iso' }).seedTarget,
    ).toBe('sda');
  });

  it('diskLetters follows libvirt: a…z, aa…', () => {
    expect([0, 1, 25, 26, 27, 51, 52, 701, 702].map(diskLetters)).toEqual([
      'a',
      'b',
      'z',
      'aa',
      'ab',
      'az',
      'ba',
      'zz',
      'aaa',
    ]);
  });
});

describe('buildDomainXml: NICs', () => {
  it('writes network and bridge sources, model, MAC', () => {
    const { root } = build({
      nics: [
        { network: 'default', mac: '52:54:00:AA:bb:01' },
        { network: 'br0', connection: 'bridge', model: 'e1000' },
        { network: 'br0', model: 'rtl8139' },
      ],
    });
    const nics = childrenOf(devices(root), 'interface');
    expect(
      nics.map((nic) => [
        attributeOf(nic, 'type'),
        attributeOf(childOf(nic, 'source'), 'network') ??
          attributeOf(childOf(nic, 'source'), 'bridge'),
        attributeOf(childOf(nic, 'mac'), 'address'),
        attributeOf(childOf(nic, 'model'), 'type'),
      ]),
    ).toEqual([
      ['network', 'default', '52:54:00:aa:bb:01', 'virtio'],
      ['bridge', 'br0', undefined, 'e1000'],
      ['bridge', 'br0', undefined, 'rtl8139'],
    ]);
  });

  it('writes a VLAN tag on Open vSwitch bridges only, with the openvswitch virtualport', () => {
    const { root } = build({ nics: [{ network: 'ovsbr', vlan: 42 }] });
    const nic = childOf(devices(root), 'interface');
    expect(attributeOf(childOf(nic, 'virtualport'), 'type')).toBe('openvswitch');
    expect(attributeOf(pathOf(nic, 'vlan', 'tag'), 'id')).toBe('42');
    expect(issuesOf(() => build({ nics: [{ network: 'default', vlan: 42 }] }))[0]?.path).toBe(
      'nics[0].vlan',
    );
    expect(issuesOf(() => build({ nics: [{ network: 'br0', vlan: 7 }] }))[0]?.path).toBe(
      'nics[0].vlan',
    );
  });

  it('refuses distributed and mismatched connections; unknown networks are NotFoundError', () => {
    expect(
      issuesOf(() =>
        build({
          nics: [
            { network: 'default', connection: 'distributed' },
            { network: 'default', connection: 'bridge' },
          ],
        }),
      ).map((issue) => issue.path),
    ).toEqual(['nics[0].connection', 'nics[1].connection']);
    let caught: unknown;
    try {
      build({ nics: [{ network: 'nope' }] });
    } catch (error) {
      caught = error;
    }
    expect(NotFoundError.isInstance(caught)).toBe(true);
    expect((caught as NotFoundError).id).toBe('nope');
  });
});

describe('buildDomainXml: standard devices', () => {
  it('adds the agent channel, a logged serial console, local VNC', () => {
    const { root } = build({}, { serialLogPath: '/var/log/libvirt/qemu/vm1.serial.log' });
    const channel = childOf(devices(root), 'channel');
    expect(attributeOf(channel, 'type')).toBe('unix');
    expect(childOf(channel, 'target')?.attributes).toMatchObject({
      type: 'virtio',
      name: 'org.qemu.guest_agent.0',
    });
    const serial = childOf(devices(root), 'serial');
    expect(attributeOf(serial, 'type')).toBe('pty');
    expect(attributeOf(childOf(serial, 'log'), 'file')).toBe(
      '/var/log/libvirt/qemu/vm1.serial.log',
    );
    expect(attributeOf(pathOf(devices(root), 'console', 'target'), 'type')).toBe('serial');
    const vnc = childOf(devices(root), 'graphics');
    expect(vnc?.attributes).toMatchObject({ type: 'vnc', autoport: 'yes', listen: '127.0.0.1' });
    expect(attributeOf(childOf(vnc, 'listen'), 'address')).toBe('127.0.0.1');
    expect(
      childOf(
        build().root.children.find((c) => c.name === 'devices'),
        'serial',
      )?.children.map((c) => c.name),
    ).toEqual(['target']);
  });

  it('gives a q35 domain its root ports plus spares, and a pc domain none', () => {
    const { root } = build({ disks: [{ sizeGiB: 1 }], nics: [{ network: 'default' }] });
    const ports = childrenOf(devices(root), 'controller').filter(
      (c) => attributeOf(c, 'model') === 'pcie-root-port',
    );
    // vda + NIC + usb + virtio-serial + balloon, then the spares.
    expect(ports.map((port) => attributeOf(port, 'index'))).toEqual(
      Array.from({ length: 5 + SPARE_ROOT_PORTS }, (_, index) => String(index + 1)),
    );
    const pc = build({ providerOptions: { libvirt: { machine: 'pc' } } }).root;
    expect(childrenOf(devices(pc), 'controller')).toEqual([]);
  });
});

describe('buildDomainXml: refusals', () => {
  it("refuses a '/' in the name (libvirt: name … cannot contain '/')", () => {
    expect(issuesOf(() => build({ name: 'a/b' }))).toEqual([
      { path: 'name', message: "libvirt domain names cannot contain '/'" },
    ]);
  });

  it('refuses placement libvirt has no notion of', () => {
    expect(
      issuesOf(() =>
        build({ placement: { cluster: 'c', resourcePool: 'r', folder: 'f', host: 'h' } }),
      ).map((issue) => issue.path),
    ).toEqual(['placement.cluster', 'placement.resourcePool', 'placement.folder']);
  });

  it('names the spec path of characters XML cannot carry (core lets some through)', () => {
    // Core refuses control characters in names and tags but only NUL in descriptions, and
    // nothing stops U+FFFF or a lone surrogate anywhere.
    expect(issuesOf(() => build({ description: 'a\u0001b' }))).toEqual([
      { path: 'description', message: 'character U+0001 at index 1 cannot be written in XML' },
    ]);
    expect(
      issuesOf(() =>
        build({
          name: 'vm\uFFFF',
          tags: { env: 'x\uD800' },
          disks: [{ sizeGiB: 1, name: 'd\uFFFE' }],
        }),
      ).map((issue) => issue.path),
    ).toEqual(['name', 'tags.env', 'disks[0].name']);
  });
});

describe('buildDomainXml: XML-unsafe characters, as a property', () => {
  const unsafe = fc.oneof(
    fc.integer({ min: 0, max: 0x1f }).filter((code) => ![9, 10, 13].includes(code)),
    fc.constantFrom(0xfffe, 0xffff, 0xd800, 0xdfff),
  );
  // Where a value can sit, and the path the error must name. Core itself refuses C0 controls in
  // names, tags and disk labels, and NUL in descriptions; this builder is the backstop for the
  // rest (and for values the driver passes in the target).
  const places = [
    { path: 'description', put: (bad: string) => ({ spec: { description: `a${bad}b` } }) },
    { path: 'name', put: (bad: string) => ({ spec: { name: `vm${bad}` } }) },
    { path: 'tags.k', put: (bad: string) => ({ spec: { tags: { k: `v${bad}` } } }) },
    {
      path: 'disks[0].name',
      put: (bad: string) => ({ spec: { disks: [{ sizeGiB: 1, name: `d${bad}` }] } }),
    },
    {
      path: 'target.volumes[0].path',
      put: (bad: string) => ({
        spec: { disks: [{ sizeGiB: 1 }] },
        volumes: [{ path: `/p/${bad}.qcow2`, format: 'qcow2' as const }],
      }),
    },
    { path: 'target.seedIso', put: (bad: string) => ({ spec: {}, seedIso: `/p/${bad}.iso` }) },
    {
      path: 'target.serialLogPath',
      put: (bad: string) => ({ spec: {}, serialLogPath: `/log/${bad}` }),
    },
  ];

  it('is refused with InvalidSpecError naming the field, wherever it is', () => {
    fc.assert(
      fc.property(unsafe, fc.constantFrom(...places), (code, place) => {
        const bad = String.fromCharCode(code);
        const { spec: input, ...overrides } = place.put(bad) as {
          spec: Partial<VmSpecInput>;
        } & Partial<DomainTarget>;
        const parsed = VmSpecSchema.safeParse({
          name: 'vm1',
          cpu: { count: 1 },
          memory: { sizeMiB: 64 },
          ...input,
        });
        // Core refused it first (with its own path): nothing for the builder to do.
        fc.pre(parsed.success);
        const spec = parsed.data as VmSpec;
        const plan = () =>
          buildDomainXml(spec, { ...target({}, spec.disks?.length ?? 0), ...overrides });
        expect(issuesOf(plan).map((issue) => issue.path)).toEqual([place.path]);
      }),
      { numRuns: 300 },
    );
  });
});

// ---- build → parse, offline ------------------------------------------------------------------

describe('build → parse (offline)', () => {
  it('reads back names, descriptions, tags, CPU, memory, disks and NICs exactly', () => {
    fc.assert(
      fc.property(
        nameArb,
        fc.option(descriptionArb, { nil: undefined }),
        fc.dictionary(tagKeyArb, tagValueArb, { maxKeys: 4 }),
        fc.integer({ min: 1, max: 8 }),
        fc.boolean(),
        fc.integer({ min: 16, max: 4096 }),
        fc.option(nameArb, { nil: undefined }),
        (name, description, tags, count, hotAdd, sizeMiB, diskName) => {
          fc.pre(!Object.hasOwn(tags, '__proto__'));
          const parsed = spec({
            name,
            description,
            tags,
            cpu: { count, hotAdd },
            memory: { sizeMiB, hotAdd },
            disks: [
              { sizeGiB: 1, name: diskName },
              { sizeGiB: 2, bus: 'scsi' },
            ],
            nics: [{ network: 'default', mac: '52:54:00:00:00:01', model: 'e1000e' }],
          });
          const { xml } = buildDomainXml(parsed, target({}, 2));
          const vm = parseDomainXml(xml, { provider: 'lv', host: 'h', state: 'off' });
          expect(vm.name).toBe(name);
          expect(vm.description).toBe(description === '' ? undefined : description);
          expect(vm.tags).toEqual(tags);
          expect(vm.cpu).toEqual({ count, coresPerSocket: 1, hotAdd });
          expect(vm.memory).toEqual({ sizeMiB, hotAdd });
          expect(vm.disks.map((disk) => [disk.id, disk.name, disk.bus, disk.format])).toEqual([
            ['vda', diskName, 'virtio', 'qcow2'],
            ['sda', undefined, 'scsi', 'qcow2'],
          ]);
          expect(vm.nics.map((nic) => [nic.id, nic.network, nic.connection, nic.model])).toEqual([
            ['52:54:00:00:00:01', 'default', 'network', 'e1000e'],
          ]);
        },
      ),
      { numRuns: 200 },
    );
  });
});
