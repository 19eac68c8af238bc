// Offline tests of the clone module: the XML rewrite on a libvirt 9.0 inactive definition (shaped
// like `dumpxml --inactive` on the bed, with the extras a clone must not copy), the option checks,
// the volume documents, and the call sequence against a fake virsh: what is asked, in which
// order, and what is undone when a step fails.
import { ConflictError, InvalidSpecError, NotFoundError } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import type { VolumeDetails } from '../storage/storage.js';
import type { Virsh } from '../virsh/virsh.js';
import { attributeOf, childOf, childrenOf, parseXml, type XmlElement } from '../xml/xml-reader.js';
import {
  type CloneSource,
  type CloneXmlPlan,
  checkCloneOptions,
  cloneConflict,
  cloneDomain,
  cloneVolumeStem,
  cloneVolumeXml,
  randomLibvirtMac,
  readCloneSource,
  rewriteCloneXml,
} from './clone.js';
import { HVKIT_DISKS_NS, HVKIT_TAGS_NS } from './domain-xml.js';
import { HVKIT_VM_NS } from './vm-metadata.js';

const SOURCE_UUID = '67994b82-2752-4ed8-98ea-5ad1cf16a5c1';
const NEW_UUID = '0b0e7c6a-4c1e-4b55-9d7e-6a1f2e3d4c5b';
const IMAGES = '/var/lib/libvirt/images';

// What libvirt 9.0 prints for a domain built by buildDomainXml (metadata in libxml2's double
// quotes), plus a genid, an NVRAM file, a second cdrom, a foreign metadata element and a
// description holding markup characters and a CR.
const SOURCE_XML = `<domain type='qemu'>
  <name>src &amp; co</name>
  <uuid>${SOURCE_UUID}</uuid>
  <genid>43dc0cf8-809b-4adb-9bea-a9abb5f3d90d</genid>
  <description>a &lt;b&gt; 'c'\r\nd</description>
  <metadata>
    <hvkit-vm:vm xmlns:hvkit-vm="${HVKIT_VM_NS}" template="yes" key="k1" seed="${IMAGES}/src-seed.iso"/>
    <hvkit:tags xmlns:hvkit="${HVKIT_TAGS_NS}">
      <hvkit:tag key="env">prod</hvkit:tag>
    </hvkit:tags>
    <hvkit-disks:disks xmlns:hvkit-disks="${HVKIT_DISKS_NS}">
      <hvkit-disks:disk target="vda">system</hvkit-disks:disk>
    </hvkit-disks:disks>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='KiB'>262144</memory>
  <currentMemory unit='KiB'>262144</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <nvram template='/usr/share/OVMF/OVMF_VARS.fd'>/var/lib/libvirt/qemu/nvram/src_VARS.fd</nvram>
    <boot dev='hd'/>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='${IMAGES}/src-disk0.qcow2'/>
      <backingStore type='file'>
        <format type='qcow2'/>
        <source file='${IMAGES}/base.qcow2'/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' discard='unmap'/>
      <source file='${IMAGES}/src-disk1.raw'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${IMAGES}/src-seed.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${IMAGES}/installer.iso'/>
      <target dev='sdb' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:f4:22:64'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:f4:22:65'/>
      <source bridge='br0'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'>
      <log file='/var/log/libvirt/qemu/src-serial.log' append='off'/>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
    </serial>
    <console type='pty'>
      <log file='/var/log/libvirt/qemu/src-serial.log' append='off'/>
      <target type='serial' port='0'/>
    </console>
  </devices>
</domain>
`;

const SOURCE_SHAPE = {
  name: 'src',
  state: 'shut off',
  disks: [
    {
      dev: 'vda',
      volume: {
        pool: 'default',
        name: 'src-disk0.qcow2',
        path: `${IMAGES}/src-disk0.qcow2`,
        type: 'file',
        capacityBytes: 1 << 20,
        allocationBytes: 1 << 16,
        physicalBytes: 1 << 16,
        format: 'qcow2',
        backingStore: undefined,
      } satisfies VolumeDetails,
    },
  ],
};

function plan(overrides: Partial<CloneXmlPlan> = {}): CloneXmlPlan {
  return {
    name: 'copy',
    uuid: NEW_UUID,
    volumes: new Map([
      ['vda', { path: `${IMAGES}/copy-disk0.qcow2`, format: 'qcow2', type: 'file' }],
      ['vdb', { path: `${IMAGES}/copy-disk1.qcow2`, format: 'qcow2', type: 'file' }],
    ]),
    macs: ['52:54:00:00:00:01', '52:54:00:00:00:02'],
    record: { template: false },
    ...overrides,
  };
}

const devices = (root: XmlElement) => childOf(root, 'devices');
const disks = (root: XmlElement) => childrenOf(devices(root), 'disk');
const metadata = (root: XmlElement) => childOf(root, 'metadata');

describe('rewriteCloneXml', () => {
  const clone = parseXml(rewriteCloneXml(SOURCE_XML, plan()));

  it('gives the clone its name, UUID, MACs and a fresh genid; drops the NVRAM file', () => {
    expect(childOf(clone, 'name')?.text).toBe('copy');
    expect(childOf(clone, 'uuid')?.text).toBe(NEW_UUID);
    expect(childOf(clone, 'genid')?.text).toBe('');
    expect(childOf(childOf(clone, 'os'), 'nvram')).toBeUndefined();
    expect(attributeOf(childOf(clone, 'os'), 'firmware')).toBe('efi');
    const macs = childrenOf(devices(clone), 'interface').map((nic) =>
      attributeOf(childOf(nic, 'mac'), 'address'),
    );
    expect(macs).toEqual(['52:54:00:00:00:01', '52:54:00:00:00:02']);
  });

  it('puts each disk on its new volume, without the source chain; drops only hvkit’s seed cdrom', () => {
    const found = disks(clone).map((disk) => ({
      device: attributeOf(disk, 'device'),
      file: attributeOf(childOf(disk, 'source'), 'file'),
      format: attributeOf(childOf(disk, 'driver'), 'type'),
      discard: attributeOf(childOf(disk, 'driver'), 'discard'),
      backing: childOf(disk, 'backingStore') !== undefined,
      dev: attributeOf(childOf(disk, 'target'), 'dev'),
    }));
    expect(found).toEqual([
      {
        device: 'disk',
        file: `${IMAGES}/copy-disk0.qcow2`,
        format: 'qcow2',
        discard: 'unmap',
        backing: false,
        dev: 'vda',
      },
      {
        device: 'disk',
        file: `${IMAGES}/copy-disk1.qcow2`,
        format: 'qcow2',
        discard: 'unmap',
        backing: false,
        dev: 'vdb',
      },
      {
        device: 'cdrom',
        file: `${IMAGES}/installer.iso`,
        format: 'raw',
        discard: undefined,
        backing: false,
        dev: 'sdb',
      },
    ]);
  });

  it('replaces hvkit’s record, keeps tags, labels, other tools’ metadata and the description', () => {
    const record = childOf(metadata(clone), 'vm', HVKIT_VM_NS);
    expect(record?.attributes).toEqual({ template: 'no' });
    expect(childrenOf(metadata(clone), 'vm', HVKIT_VM_NS)).toHaveLength(1);
    const tags = childOf(metadata(clone), 'tags', HVKIT_TAGS_NS);
    expect(childOf(tags, 'tag', HVKIT_TAGS_NS)?.text).toBe('prod');
    const labels = childOf(metadata(clone), 'disks', HVKIT_DISKS_NS);
    expect(childOf(labels, 'disk', HVKIT_DISKS_NS)?.text).toBe('system');
    const osinfo = childOf(
      metadata(clone),
      'libosinfo',
      'http://libosinfo.org/xmlns/libvirt/domain/1.0',
    );
    expect(
      attributeOf(childOf(osinfo, 'os', 'http://libosinfo.org/xmlns/libvirt/domain/1.0'), 'id'),
    ).toBe('http://debian.org/debian/12');
    expect(childOf(clone, 'description')?.text).toBe("a <b> 'c'\r\nd");
  });

  it('drops the serial log unless given a new one', () => {
    const logs = (root: XmlElement) =>
      ['serial', 'console'].map((name) =>
        attributeOf(childOf(childOf(devices(root), name), 'log'), 'file'),
      );
    expect(logs(clone)).toEqual([undefined, undefined]);
    const moved = parseXml(rewriteCloneXml(SOURCE_XML, plan({ serialLogPath: '/var/log/x.log' })));
    expect(logs(moved)).toEqual(['/var/log/x.log', '/var/log/x.log']);
  });

  it('writes tags and description from the options escaped, and reads them back as given', () => {
    const tags = { env: `it's <a> & "b"`, "k'<>": 'v' };
    const xml = rewriteCloneXml(SOURCE_XML, plan({ tags, description: 'x]]>&<y', name: `n'<&>"` }));
    const root = parseXml(xml);
    expect(childOf(root, 'name')?.text).toBe(`n'<&>"`);
    expect(childOf(root, 'description')?.text).toBe('x]]>&<y');
    const read = childrenOf(childOf(metadata(root), 'tags', HVKIT_TAGS_NS), 'tag', HVKIT_TAGS_NS);
    expect(Object.fromEntries(read.map((tag) => [attributeOf(tag, 'key'), tag.text]))).toEqual(
      tags,
    );
    expect(childrenOf(metadata(root), 'tags', HVKIT_TAGS_NS)).toHaveLength(1);
    // An empty description removes it.
    expect(
      childOf(parseXml(rewriteCloneXml(SOURCE_XML, plan({ description: '' }))), 'description'),
    ).toBeUndefined();
  });

  it('names the option that holds a character XML cannot carry', () => {
    expect(() => rewriteCloneXml(SOURCE_XML, plan({ tags: { env: 'a\u0001b' } }))).toThrow(
      InvalidSpecError,
    );
    try {
      rewriteCloneXml(SOURCE_XML, plan({ description: 'bad\u0000' }));
      expect.unreachable();
    } catch (error) {
      expect((error as InvalidSpecError).issues.map((item) => item.path)).toEqual(['description']);
    }
  });

  it('sets block volumes as block disks and records a linked clone’s qcow2 format', () => {
    const xml = rewriteCloneXml(
      SOURCE_XML,
      plan({
        volumes: new Map([['vdb', { path: '/dev/vg/copy', format: 'raw', type: 'block' }]]),
      }),
    );
    const vdb = disks(parseXml(xml))[1] as XmlElement;
    expect(attributeOf(vdb, 'type')).toBe('block');
    expect(childOf(vdb, 'source')?.attributes).toEqual({ dev: '/dev/vg/copy' });
    // vda was not planned: left on the source volume.
    expect(attributeOf(childOf(disks(parseXml(xml))[0], 'source'), 'file')).toBe(
      `${IMAGES}/src-disk0.qcow2`,
    );
  });
});

describe('checkCloneOptions', () => {
  const issuesOf = (run: () => void) => {
    try {
      run();
      return [];
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidSpecError);
      return (error as InvalidSpecError).issues.map((item) => item.path);
    }
  };

  it('refuses what libvirt cannot do, naming every field', () => {
    expect(
      issuesOf(() =>
        checkCloneOptions(
          {
            name: 'a/b',
            mode: 'linked',
            snapshotId: 's1',
            placement: { cluster: 'c', resourcePool: 'r', folder: 'f', host: 'other' },
          },
          { sourceIsTemplate: true, host: 'bed', uuid: 'nope' },
        ),
      ),
    ).toEqual([
      'name',
      'snapshotId',
      'placement.cluster',
      'placement.resourcePool',
      'placement.folder',
      'placement.host',
      'uuid',
    ]);
    expect(
      issuesOf(() =>
        checkCloneOptions(
          { name: 'ok', mode: 'full', placement: { host: 'bed', storage: 'fast' } },
          { sourceIsTemplate: false, host: 'bed', uuid: NEW_UUID },
        ),
      ),
    ).toEqual([]);
  });
});

describe('cloneConflict', () => {
  it('puts the template rule before the power state, and checks template disk formats', () => {
    const running = { ...SOURCE_SHAPE, state: 'running' };
    expect(cloneConflict(running, 'linked', false)?.reason).toBe('invalid-state');
    expect(cloneConflict(running, 'linked', false)?.message).toMatch(/not a template/);
    expect(cloneConflict(running, 'full', false)?.reason).toBe('invalid-power-state');
    expect(cloneConflict(SOURCE_SHAPE, 'full', false)).toBeUndefined();
    expect(cloneConflict(SOURCE_SHAPE, 'linked', true)).toBeUndefined();
    const iso = {
      ...SOURCE_SHAPE,
      disks: [
        {
          dev: 'vda',
          volume: { ...(SOURCE_SHAPE.disks[0]?.volume as VolumeDetails), format: 'iso' },
        },
      ],
    };
    expect(cloneConflict(iso, 'linked', true)?.message).toMatch(/vda .* is iso/);
    expect(cloneConflict(iso, 'full', false)).toBeUndefined();
  });
});

describe('helpers', () => {
  it('makes libvirt MACs that avoid the given ones', () => {
    const mac = randomLibvirtMac();
    expect(mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    const seen = new Set<string>();
    for (let index = 0; index < 200; index++) seen.add(randomLibvirtMac());
    expect(seen.size).toBeGreaterThan(190);
  });

  it('names volumes like the driver: a file-safe stem and the UUID prefix', () => {
    expect(cloneVolumeStem('web 1/x', NEW_UUID)).toBe('web-1-x-0b0e7c6a');
    expect(cloneVolumeStem('...', NEW_UUID)).toBe('vm-0b0e7c6a');
  });

  it('writes qcow2 v3 copies and overlays with their backing file', () => {
    const copy = parseXml(cloneVolumeXml({ name: "a'b", capacityBytes: 1024, format: 'qcow2' }));
    expect(childOf(copy, 'name')?.text).toBe("a'b");
    expect(childOf(childOf(copy, 'target'), 'compat')?.text).toBe('1.1');
    expect(childOf(copy, 'backingStore')).toBeUndefined();
    expect(childOf(copy, 'allocation')?.text).toBe('0');
    const raw = parseXml(
      cloneVolumeXml({ name: 'r', capacityBytes: 1024, allocationBytes: 1024, format: 'raw' }),
    );
    expect(childOf(childOf(raw, 'target'), 'compat')).toBeUndefined();
    expect(childOf(raw, 'allocation')?.text).toBe('1024');
    const overlay = parseXml(
      cloneVolumeXml({
        name: 'o',
        capacityBytes: 2048,
        format: 'qcow2',
        backing: { path: `${IMAGES}/t&.raw`, format: 'raw' },
      }),
    );
    expect(childOf(childOf(overlay, 'backingStore'), 'path')?.text).toBe(`${IMAGES}/t&.raw`);
    expect(attributeOf(childOf(childOf(overlay, 'backingStore'), 'format'), 'type')).toBe('raw');
    expect(childOf(overlay, 'allocation')?.text).toBe('0');
  });
});

// ---- the call sequence against a fake virsh ------------------------------------------------------

function volume(name: string, format: string, pool = 'default'): VolumeDetails {
  return {
    pool,
    name,
    path: `${IMAGES}/${name}`,
    type: 'file',
    capacityBytes: 1 << 20,
    allocationBytes: 1 << 16,
    physicalBytes: 1 << 16,
    format,
    backingStore: undefined,
  };
}

function volumeDump(name: string, format: string): string {
  return `<volume type='file'><name>${name}</name><capacity unit='bytes'>1048576</capacity><allocation unit='bytes'>1048576</allocation><target><path>${IMAGES}/${name}</path><format type='${format}'/></target></volume>`;
}

const SOURCE: CloneSource = {
  uuid: SOURCE_UUID,
  name: 'src',
  xml: SOURCE_XML,
  state: 'shut off',
  disks: [
    { dev: 'vda', volume: volume('src-disk0.qcow2', 'qcow2') },
    { dev: 'vdb', volume: volume('src-disk1.raw', 'raw') },
  ],
};

type Answer = string | Error | ((args: readonly string[]) => string | Error);

/** A fake Virsh: answers by the command name (first word), records every command. */
function fakeVirsh(answers: Record<string, Answer | Answer[]>) {
  const calls: string[][] = [];
  const answerOf = (
    args: readonly string[],
  ): { ok: true; stdout: string } | { ok: false; error: Error } => {
    calls.push([...args]);
    const key = args[0] ?? '';
    let entry = answers[key];
    if (Array.isArray(entry)) entry = entry.length > 1 ? entry.shift() : entry[0];
    const value = typeof entry === 'function' ? entry(args) : entry;
    if (value === undefined) return { ok: true, stdout: '' };
    return value instanceof Error ? { ok: false, error: value } : { ok: true, stdout: value };
  };
  const virsh = {
    async run(args: readonly string[]) {
      const result = answerOf(args);
      if (!result.ok) throw result.error;
      return result.stdout;
    },
    async runMany(commands: readonly (readonly string[])[]) {
      return commands.map(answerOf);
    },
  };
  return { virsh: virsh as unknown as Virsh, calls, names: () => calls.map((call) => call[0]) };
}

const notFound = () => new NotFoundError('disk', 'x');
const LIST = {
  list: (args: readonly string[]) => (args.includes('--uuid') ? `${SOURCE_UUID}\n` : 'src\n'),
};

describe('cloneDomain against a fake virsh', () => {
  it('copies each disk, then defines; nothing else', async () => {
    const { virsh, calls, names } = fakeVirsh({
      ...LIST,
      'vol-info': notFound(),
      'vol-dumpxml': (args) =>
        volumeDump(args[4] ?? '', args[4]?.endsWith('raw') ? 'raw' : 'qcow2'),
    });
    const result = await cloneDomain(
      virsh,
      SOURCE,
      { name: 'copy', mode: 'full' },
      {
        sourceIsTemplate: false,
        uuid: NEW_UUID,
      },
    );
    expect(result.volumes.map((item) => item.name)).toEqual([
      'copy-0b0e7c6a-disk0.qcow2',
      'copy-0b0e7c6a-disk1.raw',
    ]);
    expect(names()).toEqual([
      'list',
      'list',
      'vol-info',
      'vol-info',
      'vol-create-from',
      'vol-dumpxml',
      'vol-create-from',
      'vol-dumpxml',
      'define',
    ]);
    expect(calls[4]).toEqual([
      'vol-create-from',
      '--pool',
      'default',
      '--file',
      '/dev/stdin',
      '--inputpool',
      'default',
      '--vol',
      'src-disk0.qcow2',
    ]);
    expect(calls.at(-1)).toEqual(['define', '--file', '/dev/stdin', '--validate']);
  });

  it('returns the domain a known UUID names, copying nothing', async () => {
    const { virsh, names } = fakeVirsh({
      list: (args) => (args.includes('--uuid') ? `${NEW_UUID}\n` : 'copy\n'),
    });
    const result = await cloneDomain(
      virsh,
      { ...SOURCE, state: 'running' },
      { name: 'copy', mode: 'full' },
      { sourceIsTemplate: false, uuid: NEW_UUID.toUpperCase() },
    );
    expect(result).toEqual({
      uuid: NEW_UUID,
      name: 'copy',
      existed: true,
      volumes: [],
      started: false,
    });
    expect(names()).toEqual(['list', 'list']);
  });

  it('refuses before copying: a taken name, a running source, a plain VM linked, a taken volume name', async () => {
    const cases: [Partial<CloneSource>, 'full' | 'linked', Record<string, Answer>, string][] = [
      [{}, 'full', { list: (args) => (args.includes('--uuid') ? '' : 'copy\n') }, 'already-exists'],
      [{ state: 'running' }, 'full', LIST, 'invalid-power-state'],
      [{}, 'linked', LIST, 'invalid-state'],
      [{}, 'full', { ...LIST, 'vol-info': 'Name: x' }, 'already-exists'],
    ];
    for (const [source, mode, answers, reason] of cases) {
      const { virsh, names } = fakeVirsh(answers);
      const attempt = cloneDomain(
        virsh,
        { ...SOURCE, ...source },
        { name: 'copy', mode },
        {
          sourceIsTemplate: false,
        },
      );
      await expect(attempt).rejects.toSatisfy(
        (error: unknown) => ConflictError.isInstance(error) && error.reason === reason,
      );
      expect(names().filter((name) => name !== 'list' && name !== 'vol-info')).toEqual([]);
    }
  });

  it('makes qcow2 overlays for a linked clone of a template', async () => {
    const { virsh, calls } = fakeVirsh({
      ...LIST,
      'vol-info': notFound(),
      'vol-dumpxml': (args) => volumeDump(args[4] ?? '', 'qcow2'),
    });
    const stdin: string[] = [];
    const run = virsh.run.bind(virsh);
    virsh.run = async (args, options) => {
      if (typeof options?.stdin === 'string') stdin.push(options.stdin);
      return run(args, options);
    };
    await cloneDomain(virsh, SOURCE, { name: 'copy', mode: 'linked' }, { sourceIsTemplate: true });
    expect(calls.filter((call) => call[0] === 'vol-create')).toHaveLength(2);
    const overlays = stdin.slice(0, 2).map((xml) => parseXml(xml));
    expect(
      overlays.map((overlay) => [
        attributeOf(childOf(childOf(overlay, 'target'), 'format'), 'type'),
        childOf(childOf(overlay, 'backingStore'), 'path')?.text,
        attributeOf(childOf(childOf(overlay, 'backingStore'), 'format'), 'type'),
      ]),
    ).toEqual([
      ['qcow2', `${IMAGES}/src-disk0.qcow2`, 'qcow2'],
      ['qcow2', `${IMAGES}/src-disk1.raw`, 'raw'],
    ]);
    const defined = parseXml(stdin[2] ?? '');
    expect(
      disks(defined)
        .slice(0, 2)
        .map((disk) => attributeOf(childOf(disk, 'driver'), 'type')),
    ).toEqual(['qcow2', 'qcow2']);
  });

  it('undoes everything when define fails: undefine, then each made volume, waiting while libvirtd still copies', async () => {
    const allocating = new ConflictError(
      'invalid-state',
      "virsh vol-delete: Requested operation is not valid: volume 'x' is still being allocated.",
    );
    const defineError = new ConflictError('already-exists', 'domain exists');
    const { virsh, calls } = fakeVirsh({
      ...LIST,
      'vol-info': notFound(),
      'vol-dumpxml': (args) => volumeDump(args[4] ?? '', 'qcow2'),
      define: defineError,
      undefine: new NotFoundError('vm', NEW_UUID),
      'vol-delete': [allocating, '', ''],
    });
    const attempt = cloneDomain(
      virsh,
      SOURCE,
      { name: 'copy', mode: 'full' },
      {
        sourceIsTemplate: false,
        uuid: NEW_UUID,
      },
    );
    await expect(attempt).rejects.toBe(defineError);
    const after = calls.slice(calls.findIndex((call) => call[0] === 'define') + 1);
    expect(after.map((call) => call.join(' '))).toEqual([
      `destroy -- ${NEW_UUID}`,
      `undefine --nvram -- ${NEW_UUID}`,
      'vol-delete --pool default --vol copy-0b0e7c6a-disk0.qcow2',
      'vol-delete --pool default --vol copy-0b0e7c6a-disk0.qcow2',
      'vol-delete --pool default --vol copy-0b0e7c6a-disk1.raw',
    ]);
  });

  it('refuses volumes it cannot attach (a network pool) and deletes them again', async () => {
    const { virsh, calls } = fakeVirsh({
      ...LIST,
      'vol-info': notFound(),
      'vol-dumpxml': (args) =>
        volumeDump(args[4] ?? '', 'raw').replace("<volume type='file'>", "<volume type='network'>"),
    });
    await expect(
      cloneDomain(
        virsh,
        SOURCE,
        { name: 'copy', mode: 'full', placement: { storage: 'rbd' } },
        { sourceIsTemplate: false, uuid: NEW_UUID },
      ),
    ).rejects.toSatisfy(
      (error: unknown) => ConflictError.isInstance(error) && /network volumes/.test(error.message),
    );
    expect(calls.filter((call) => call[0] === 'vol-delete').map((call) => call.join(' '))).toEqual([
      'vol-delete --pool rbd --vol copy-0b0e7c6a-disk0.qcow2',
      'vol-delete --pool rbd --vol copy-0b0e7c6a-disk1.raw',
    ]);
    expect(calls.map((call) => call[0])).not.toContain('define');
  });

  it('never deletes a volume whose copy failed because the name was taken', async () => {
    const taken = new ConflictError('already-exists', "storage volume 'x' exists already");
    const { virsh, names } = fakeVirsh({
      ...LIST,
      'vol-info': notFound(),
      'vol-create-from': taken,
    });
    await expect(
      cloneDomain(virsh, SOURCE, { name: 'copy', mode: 'full' }, { sourceIsTemplate: false }),
    ).rejects.toBe(taken);
    expect(names()).not.toContain('vol-delete');
    expect(names()).not.toContain('define');
  });

  it('refuses bad options before any virsh call', async () => {
    const { virsh, calls } = fakeVirsh({});
    await expect(
      cloneDomain(
        virsh,
        SOURCE,
        { name: 'copy', mode: 'full', snapshotId: 's' },
        {
          sourceIsTemplate: false,
        },
      ),
    ).rejects.toBeInstanceOf(InvalidSpecError);
    await expect(
      cloneDomain(
        virsh,
        SOURCE,
        { name: 'copy', mode: 'full', tags: { a: '\u0002' } },
        {
          sourceIsTemplate: false,
        },
      ),
    ).rejects.toBeInstanceOf(InvalidSpecError);
    expect(calls).toEqual([]);
  });
});

describe('readCloneSource against a fake virsh', () => {
  const domain = (disks: string) =>
    `<domain type='qemu'><name>src</name><uuid>${SOURCE_UUID}</uuid><devices>${disks}</devices></domain>`;
  const fileDisk = `<disk type='file' device='disk'><source file='${IMAGES}/a.qcow2'/><target dev='vda' bus='virtio'/></disk>`;
  const volumeDisk = `<disk type='volume' device='disk'><source pool='fast' volume='b.raw'/><target dev='vdb' bus='virtio'/></disk>`;
  const emptyCdrom = `<disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>`;
  const seedCdrom = `<disk type='file' device='cdrom'><source file='${IMAGES}/seed.iso'/><target dev='sdb' bus='sata'/></disk>`;

  it('reads file and pool/volume disks (two virsh processes), skipping cdroms', async () => {
    const { virsh, calls } = fakeVirsh({
      dumpxml: domain(fileDisk + volumeDisk + emptyCdrom + seedCdrom),
      domstate: 'shut off\n',
      'vol-pool': 'default   \n',
      echo: (args) => `${args[1]}\n`,
      'vol-dumpxml': (args) =>
        args.length === 2 ? volumeDump('a.qcow2', 'qcow2') : volumeDump('b.raw', 'raw'),
    });
    const source = await readCloneSource(virsh, 'src');
    expect(source.uuid).toBe(SOURCE_UUID);
    expect(source.state).toBe('shut off');
    expect(
      source.disks.map((disk) => [
        disk.dev,
        disk.volume.pool,
        disk.volume.name,
        disk.volume.format,
      ]),
    ).toEqual([
      ['vda', 'default', 'a.qcow2', 'qcow2'],
      ['vdb', 'fast', 'b.raw', 'raw'],
    ]);
    expect(calls.map((call) => call.join(' '))).toEqual([
      'dumpxml --inactive -- src',
      'domstate -- src',
      `vol-pool ${IMAGES}/a.qcow2`,
      `vol-dumpxml ${IMAGES}/a.qcow2`,
      'echo fast',
      'vol-dumpxml --pool fast --vol b.raw',
    ]);
  });

  it('refuses disks that are not pool volumes (invalid-state), and passes a missing domain on', async () => {
    const outside = fakeVirsh({
      dumpxml: domain(fileDisk),
      domstate: 'shut off\n',
      'vol-pool': new NotFoundError('disk', `${IMAGES}/a.qcow2`),
      'vol-dumpxml': new NotFoundError('disk', `${IMAGES}/a.qcow2`),
    });
    await expect(readCloneSource(outside.virsh, 'src')).rejects.toSatisfy(
      (error: unknown) =>
        ConflictError.isInstance(error) &&
        /vda .* not a volume of a libvirt storage pool/.test(error.message),
    );
    const network = fakeVirsh({
      dumpxml: domain(
        `<disk type='network' device='disk'><source protocol='rbd' name='p/x'/><target dev='vda' bus='virtio'/></disk>`,
      ),
      domstate: 'shut off\n',
    });
    await expect(readCloneSource(network.virsh, 'src')).rejects.toSatisfy(
      (error: unknown) => ConflictError.isInstance(error) && /network disk/.test(error.message),
    );
    const missing = new NotFoundError('vm', 'nope');
    const gone = fakeVirsh({ dumpxml: missing, domstate: missing });
    await expect(readCloneSource(gone.virsh, 'nope')).rejects.toBe(missing);
  });
});
