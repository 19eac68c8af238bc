// Offline tests of reconfigure.ts: the checks, the plan (exact virsh argv) over domain XML recorded
// on the bed (__fixtures__/), the definition rewrite, and execution against a fake host.
import { readFileSync } from 'node:fs';
import {
  ConflictError,
  InvalidSpecError,
  NotFoundError,
  type ParsedInput,
  ProviderApiError,
  type Vm,
  VmChangeSchema,
} from '@hvkit/core';
import type { ExecResult } from '@hvkit/ssh';
import { describe, expect, it } from 'vitest';
import { Virsh, type VirshTransport } from '../virsh/virsh.js';
import { parseXml, type XmlElement } from '../xml/xml-reader.js';
import { renderXml } from '../xml/xml-writer.js';
import { parseDomainXml } from './domain-parse.js';
import {
  checkChange,
  type DomainForChange,
  definitionWithCpu,
  executeReconfigurePlan,
  metadataXml,
  outcomeLists,
  planReconfigure,
  type ReconfigureContext,
  reconfigureCan,
  toWriterNode,
} from './reconfigure.js';

const FIXTURES = new URL('./__fixtures__/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');
const FULL = fixture('domain-q35-full.inactive.xml');
const BOOTED = fixture('domain-booted.live.xml');
const UUID_FULL = parseDomainXml(FULL, { provider: 'p', host: 'h', state: 'off' }).ref.id;
const context: ReconfigureContext = { provider: 'lv', host: 'h', defaultPool: 'default' };

function change(input: unknown): ParsedInput['vmChange'] {
  return VmChangeSchema.parse(input);
}

/** A shut-off domain from the q35 fixture (vda virtio, sda sata, cdrom sdb, three NICs). */
function offState(extra: Partial<DomainForChange> = {}): DomainForChange {
  return {
    uuid: UUID_FULL,
    name: 'full',
    active: false,
    persistent: true,
    managedSave: false,
    config: parseXml(FULL),
    live: undefined,
    networks: new Set(['default']),
    pools: new Set(['default']),
    ...extra,
  };
}

/** The booted guest (1 of 2 vCPUs, 256 of 384 MiB) running. */
function runningState(extra: Partial<DomainForChange> = {}): DomainForChange {
  return {
    uuid: 'u-1',
    name: 'boot',
    active: true,
    persistent: true,
    managedSave: false,
    config: parseXml(BOOTED),
    live: parseXml(BOOTED),
    networks: new Set(['default']),
    pools: new Set(['default']),
    ...extra,
  };
}

const argvOf = (plan: ReturnType<typeof planReconfigure>) =>
  plan.steps.map((step) => (step.kind === 'virsh' ? step.args : [step.kind, step.field]));

/** Strips layout whitespace so two trees compare by content. */
function shape(node: XmlElement): unknown {
  return {
    name: node.name,
    uri: node.uri,
    attributes: { ...node.attributes },
    text: node.children.length > 0 ? '' : node.text,
    children: node.children.map(shape),
  };
}

describe('checkChange (before any I/O)', () => {
  it('lists every field libvirt cannot take, by path', () => {
    const error = (() => {
      try {
        checkChange(
          change({
            name: 'a/b',
            cpu: { reservationMHz: 1, limitMHz: 2 },
            memory: { reservationMiB: 1, limitMiB: 2 },
            addDisks: [
              { sizeGiB: 1, bus: 'nvme', format: 'vmdk', storagePolicy: 'gold' },
              { sizeGiB: 1, sourceImageId: 'img', name: 'x' },
              { sizeGiB: 1, name: 'x' },
            ],
            addNics: [
              { network: 'default', connection: 'distributed', vlan: 3, mac: '52:54:00:00:00:01' },
              {
                network: 'default',
                ipv4: { address: '10.0.0.2/24' },
                dns: { servers: ['1.1.1.1'] },
                mac: '52:54:00:00:00:01',
              },
            ],
            resizeDisks: [{ diskId: 'vdb', sizeGiB: 2 }],
            removeDisks: ['vdb'],
          }),
          context,
        );
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(InvalidSpecError.isInstance(error)).toBe(true);
    expect((error as InvalidSpecError).issues.map((item) => item.path)).toEqual([
      'name',
      'cpu.reservationMHz',
      'cpu.limitMHz',
      'memory.reservationMiB',
      'memory.limitMiB',
      'addDisks[0].bus',
      'addDisks[0].format',
      'addDisks[0].storagePolicy',
      'addDisks[1].sourceImageId',
      'addDisks[2].name',
      'addNics[0].connection',
      'addNics[0].vlan',
      'addNics[1].ipv4',
      'addNics[1].dns',
      'addNics[1].mac',
      'resizeDisks[0].diskId',
    ]);
  });

  it('refuses text XML cannot carry, naming the field', () => {
    expect(() => checkChange(change({ description: 'a\u0001b' }), context)).toThrow(/description/);
  });

  it('takes dhcp and a VLAN on an Open vSwitch network', () => {
    expect(() =>
      checkChange(change({ addNics: [{ network: 'ovs', vlan: 5, ipv4: 'dhcp' }] }), {
        ...context,
        networks: new Map([['ovs', { kind: 'network', openvswitch: true }]]),
      }),
    ).not.toThrow();
  });
});

describe('planReconfigure on a shut-off domain', () => {
  it('plans exact virsh commands and applies every field', () => {
    const plan = planReconfigure(
      offState({ capacities: new Map([['vda', 64 * 2 ** 20]]) }),
      change({
        name: 'new name',
        description: '--live',
        tags: { a: '<1>' },
        cpu: { count: 4, hotAdd: false },
        memory: { sizeMiB: 256 },
        resizeDisks: [{ diskId: 'vda', sizeGiB: 0.125 }],
        removeDisks: ['sda'],
        removeNics: ['52:54:00:4C:56:02'],
      }),
      context,
    );
    expect(argvOf(plan)).toEqual([
      ['domrename', '--domain', UUID_FULL, '--new-name', 'new name'],
      ['setvcpus', '--domain', UUID_FULL, '--count', '4', '--config'],
      ['setmem', '--domain', UUID_FULL, '--size', String(256 * 1024), '--config'],
      [
        'vol-resize',
        '--vol',
        '/var/lib/libvirt/images/hvkit-lv2-full-root.qcow2',
        '--capacity',
        String(128 * 2 ** 20),
      ],
      ['remove-disk', 'removeDisks[0]'],
      [
        'metadata',
        '--domain',
        UUID_FULL,
        '--uri',
        'https://hvkit.dev/libvirt/1/disks',
        '--config',
        '--key',
        'hvkit-disks',
        '--set',
        "<disks><disk target='vda'>root &lt;disk&gt;</disk></disks>",
      ],
      ['remove-nic', 'removeNics[0]'],
      ['desc', '--domain', UUID_FULL, '--config', '--new-desc', '--live'],
      [
        'metadata',
        '--domain',
        UUID_FULL,
        '--uri',
        'https://hvkit.dev/libvirt/1',
        '--config',
        '--key',
        'hvkit',
        '--set',
        "<tags><tag key='a'>&lt;1&gt;</tag></tags>",
      ],
    ]);
    expect(outcomeLists(plan.fields)).toEqual({
      applied: [
        'name',
        'cpu.count',
        'cpu.hotAdd',
        'memory.sizeMiB',
        'resizeDisks',
        'removeDisks',
        'removeNics',
        'description',
        'tags',
      ],
      pendingRestart: [],
    });
    const removeNic = plan.steps.find((step) => step.kind === 'remove-nic');
    expect(removeNic).toMatchObject({
      mac: '52:54:00:4c:56:02',
      type: 'network',
      config: true,
      live: false,
    });
  });

  it('new disks take the next free dev per bus (the cdrom sdb counts) and a volume named after the domain', () => {
    const plan = planReconfigure(
      offState(),
      change({
        addDisks: [
          { sizeGiB: 0.5 },
          { sizeGiB: 1, bus: 'sata', format: 'raw', provisioning: 'thick' },
        ],
      }),
      context,
    );
    const adds = plan.steps.filter((step) => step.kind === 'add-disk');
    expect(
      adds.map((step) => [
        step.dev,
        step.bus,
        step.live,
        step.volume.format,
        step.volume.preallocation,
        step.volume.sizeBytes,
      ]),
    ).toEqual([
      ['vdb', 'virtio', false, 'qcow2', 'thin', 2 ** 29],
      ['sdc', 'sata', false, 'raw', 'full', 2 ** 30],
    ]);
    expect(adds[0]?.volume.name).toMatch(/^full-[0-9a-f]{8}-vdb-[0-9a-f]{4}\.qcow2$/);
    expect(adds[0]?.volume.pool).toBe('default');
  });

  it('a new maximum or topology is a redefinition; counts that do not divide are refused', () => {
    const plan = planReconfigure(
      offState(),
      change({ cpu: { count: 2, coresPerSocket: 1 } }),
      context,
    );
    expect(plan.steps.map((step) => step.kind)).toEqual(['define']);
    const define = plan.steps[0];
    const xml = parseXml(define?.kind === 'define' ? define.xml : '');
    // Hot-add (2 of 4) stays on: the maximum 4 is kept, now 4 sockets of 1 core.
    expect(
      parseDomainXml(define?.kind === 'define' ? define.xml : '', {
        provider: 'p',
        host: 'h',
        state: 'off',
      }).cpu,
    ).toEqual({
      count: 2,
      coresPerSocket: 1,
      hotAdd: true,
    });
    expect(
      xml.children
        .find((child) => child.name === 'cpu')
        ?.children.find((c) => c.name === 'topology')?.attributes,
    ).toMatchObject({ sockets: '4', cores: '1' });
    expect(() => planReconfigure(offState(), change({ cpu: { count: 3 } }), context)).toThrow(
      /cpu\.count: 3 vCPUs do not divide into sockets of 2 cores/,
    );
  });

  it('switching hot-add off makes the maximum the count', () => {
    const plan = planReconfigure(
      offState(),
      change({ cpu: { hotAdd: false }, memory: { hotAdd: false } }),
      context,
    );
    const define = plan.steps.find((step) => step.kind === 'define');
    const vm = parseDomainXml(define?.kind === 'define' ? define.xml : '', {
      provider: 'p',
      host: 'h',
      state: 'off',
    });
    expect(vm.cpu).toEqual({ count: 2, coresPerSocket: 2, hotAdd: false });
    expect(argvOf(plan).slice(1)).toEqual([
      ['setmaxmem', '--domain', UUID_FULL, '--size', String(192 * 1024), '--config'],
      ['setmem', '--domain', UUID_FULL, '--size', String(192 * 1024), '--config'],
    ]);
  });

  it('names what does not exist or cannot be: NotFoundError, InvalidSpecError, ConflictError', () => {
    const cases: [unknown, Partial<DomainForChange>, (error: unknown) => boolean][] = [
      [{ removeDisks: ['vdq'] }, {}, (e) => NotFoundError.isInstance(e) && e.resource === 'disk'],
      // A cdrom is media, not a disk.
      [{ removeDisks: ['sdb'] }, {}, (e) => NotFoundError.isInstance(e) && e.resource === 'disk'],
      [
        { removeNics: ['52:54:00:00:00:00'] },
        {},
        (e) => NotFoundError.isInstance(e) && e.resource === 'nic',
      ],
      [
        { addNics: [{ network: 'nope' }] },
        {},
        (e) => NotFoundError.isInstance(e) && e.resource === 'network',
      ],
      [
        { addDisks: [{ sizeGiB: 1, storage: 'nope' }] },
        {},
        (e) => NotFoundError.isInstance(e) && e.resource === 'storage',
      ],
      [
        { resizeDisks: [{ diskId: 'vda', sizeGiB: 0.03125 }] },
        { capacities: new Map([['vda', 64 * 2 ** 20]]) },
        (e) => InvalidSpecError.isInstance(e) && e.issues[0]?.path === 'resizeDisks[0].sizeGiB',
      ],
      [
        { addDisks: [{ sizeGiB: 1, bus: 'ide' }] },
        {},
        (e) => InvalidSpecError.isInstance(e) && e.issues[0]?.path === 'addDisks[0].bus',
      ],
      [
        { addDisks: [{ sizeGiB: 1, name: 'root <disk>' }] },
        {},
        (e) => InvalidSpecError.isInstance(e) && e.issues[0]?.path === 'addDisks[0].name',
      ],
      [
        { addNics: [{ network: 'default', mac: '52:54:00:4c:56:01' }] },
        {},
        (e) => InvalidSpecError.isInstance(e) && e.issues[0]?.path === 'addNics[0].mac',
      ],
      [
        { name: 'taken' },
        { nameTakenBy: 'other-uuid' },
        (e) => ConflictError.isInstance(e) && e.reason === 'already-exists',
      ],
      [
        { description: 'x' },
        { persistent: false },
        (e) => ConflictError.isInstance(e) && e.reason === 'invalid-state',
      ],
      [
        { name: 'x' },
        { managedSave: true },
        (e) => ConflictError.isInstance(e) && e.reason === 'invalid-power-state',
      ],
      [
        { cpu: { count: 2 } },
        { managedSave: true },
        (e) => ConflictError.isInstance(e) && e.reason === 'invalid-power-state',
      ],
    ];
    for (const [input, extra, check] of cases) {
      let error: unknown;
      try {
        planReconfigure(offState(extra), change(input), context);
      } catch (caught) {
        error = caught;
      }
      expect(check(error), `${JSON.stringify(input)}: ${String(error)}`).toBe(true);
    }
    // A managed-save image does not stop a description change.
    expect(() =>
      planReconfigure(offState({ managedSave: true }), change({ description: 'x' }), context),
    ).not.toThrow();
  });
});

describe('planReconfigure on a running domain', () => {
  it('vCPUs within the booted maximum and memory within <memory> apply live, and go to the definition too', () => {
    const plan = planReconfigure(
      runningState(),
      change({ cpu: { count: 2 }, memory: { sizeMiB: 320 } }),
      context,
    );
    expect(argvOf(plan)).toEqual([
      // 2 of 2: hot-add stays on for the next boot (maximum doubled).
      ['define', 'cpu'],
      ['setvcpus', '--domain', 'u-1', '--count', '2', '--live'],
      // The fixture's agent channel is connected: the plugged vCPU is brought online in the guest.
      ['guest-vcpus', 'cpu.count'],
      ['setmem', '--domain', 'u-1', '--size', String(320 * 1024), '--config'],
      ['setmem', '--domain', 'u-1', '--size', String(320 * 1024), '--live'],
    ]);
    expect(outcomeLists(plan.fields)).toEqual({
      applied: ['cpu.count', 'memory.sizeMiB'],
      pendingRestart: [],
    });
  });

  it('beyond the maximum, fewer vCPUs, new topology, hot-add switches: next boot only', () => {
    const plan = planReconfigure(
      runningState(),
      change({ cpu: { count: 4, coresPerSocket: 2 }, memory: { sizeMiB: 512, hotAdd: false } }),
      context,
    );
    expect(plan.steps.some((step) => step.kind === 'virsh' && step.args.includes('--live'))).toBe(
      false,
    );
    expect(outcomeLists(plan.fields)).toEqual({
      applied: [],
      pendingRestart: ['cpu.count', 'cpu.coresPerSocket', 'memory.sizeMiB', 'memory.hotAdd'],
    });
    expect(
      planReconfigure(runningState(), change({ cpu: { count: 1 } }), context).fields.get(
        'cpu.count',
      ),
    ).toBe('applied');
  });

  it('without memory hot-add the balloon does not move: pending (the conformance contract)', () => {
    const config = parseXml(
      BOOTED.replace("<memory unit='KiB'>393216</memory>", "<memory unit='KiB'>262144</memory>"),
    );
    const plan = planReconfigure(
      runningState({ config, live: config }),
      change({ memory: { sizeMiB: 128 } }),
      context,
    );
    expect(outcomeLists(plan.fields).pendingRestart).toEqual(['memory.sizeMiB']);
    expect(argvOf(plan)).toEqual([
      ['setmaxmem', '--domain', 'u-1', '--size', String(128 * 1024), '--config'],
      ['setmem', '--domain', 'u-1', '--size', String(128 * 1024), '--config'],
    ]);
  });

  it('SATA disks wait for the next boot, virtio ones hot-plug; no rename while running', () => {
    const plan = planReconfigure(
      runningState(),
      change({ addDisks: [{ sizeGiB: 1, bus: 'sata' }, { sizeGiB: 1 }] }),
      context,
    );
    expect(
      plan.steps.map((step) => (step.kind === 'add-disk' ? [step.dev, step.live] : step.kind)),
    ).toEqual([
      ['sda', false],
      ['vdb', true],
    ]);
    expect(outcomeLists(plan.fields)).toEqual({
      applied: ['addDisks[1]'],
      pendingRestart: ['addDisks[0]'],
    });
    expect(() => planReconfigure(runningState(), change({ name: 'x' }), context)).toThrow(
      /cannot rename a running domain/,
    );
  });

  it('description and tags change live and persistent', () => {
    const plan = planReconfigure(runningState(), change({ description: 'd', tags: {} }), context);
    expect(argvOf(plan)).toEqual([
      ['desc', '--domain', 'u-1', '--live', '--config', '--new-desc', 'd'],
      [
        'metadata',
        '--domain',
        'u-1',
        '--uri',
        'https://hvkit.dev/libvirt/1',
        '--live',
        '--config',
        '--remove',
      ],
    ]);
  });
});

describe('the definition rewrite', () => {
  it('every recorded domain XML survives toWriterNode → writer → reader unchanged', () => {
    for (const name of [
      'domain-q35-full.inactive.xml',
      'domain-pc-ide.inactive.xml',
      'domain-efi-secureboot.inactive.xml',
      'domain-booted.live.xml',
      'domain-linked-clone.live.xml',
    ]) {
      const root = parseXml(fixture(name));
      const again = parseXml(renderXml(toWriterNode(root)));
      expect(shape(again), name).toEqual(shape(root));
    }
  });

  it('declares each namespace where it starts, with hvkit prefixes or ns<N>', () => {
    const root = parseXml(
      "<domain><metadata><x:a xmlns:x='urn:other'><x:b y='1'>t</x:b></x:a><t:tags xmlns:t='https://hvkit.dev/libvirt/1'/></metadata></domain>",
    );
    expect(renderXml(toWriterNode(root), { indent: false })).toBe(
      "<domain><metadata><ns3:a xmlns:ns3='urn:other'><ns3:b y='1'>t</ns3:b></ns3:a><hvkit:tags xmlns:hvkit='https://hvkit.dev/libvirt/1'/></metadata></domain>",
    );
    expect(() => toWriterNode(parseXml("<a xmlns:q='urn:q'><b q:c='1'/></a>"))).toThrow(
      /namespace/,
    );
  });

  it('definitionWithCpu replaces <vcpu> and <topology>, drops <vcpus>, keeps the rest, renames', () => {
    const withVcpus = BOOTED.replace(
      '<os>',
      "<vcpus><vcpu id='0' enabled='yes' hotpluggable='no'/><vcpu id='1' enabled='no' hotpluggable='yes'/></vcpus><os>",
    );
    const xml = definitionWithCpu(parseXml(withVcpus), { max: 6, count: 3, cores: 3 }, 'renamed');
    expect(xml).toContain("<vcpu placement='static' current='3'>6</vcpu>");
    expect(xml).toContain("<topology sockets='2' dies='1' cores='3' threads='1'/>");
    expect(xml).toContain("<feature policy='require' name='lahf_lm'/>");
    expect(xml).not.toContain('<vcpus>');
    const vm = parseDomainXml(xml, { provider: 'p', host: 'h', state: 'off' });
    const before = parseDomainXml(BOOTED, { provider: 'p', host: 'h', state: 'off' });
    expect(vm.name).toBe('renamed');
    expect({ ...vm, name: before.name, cpu: before.cpu, raw: undefined }).toEqual({
      ...before,
      raw: undefined,
    });
  });

  it('metadataXml is the un-namespaced element virsh metadata --set takes', () => {
    expect(metadataXml('tags', [])).toBe('<tags/>');
  });
});

describe('outcomeLists', () => {
  it('collapses indexed fields that agree and keeps them apart when they do not', () => {
    expect(
      outcomeLists(
        new Map([
          ['name', 'applied'],
          ['addDisks[0]', 'applied'],
          ['addDisks[1]', 'applied'],
          ['addNics[0]', 'applied'],
          ['addNics[1]', 'pending'],
          ['cpu.count', 'pending'],
        ] as const),
      ),
    ).toEqual({
      applied: ['name', 'addDisks', 'addNics[0]'],
      pendingRestart: ['addNics[1]', 'cpu.count'],
    });
  });
});

/** A fake host for `Virsh.run`: `reply(args)` answers each single command; records them. */
function fakeVirsh(
  reply: (args: readonly string[], stdin: unknown) => { out?: string; err?: string },
) {
  const calls: string[][] = [];
  const transport: VirshTransport = {
    exec: async (argv, options): Promise<ExecResult> => {
      const args = argv.slice(6);
      calls.push([...args]);
      const { out = '', err = '' } = reply(args, options?.stdin);
      return {
        code: err === '' ? 0 : 1,
        signal: null,
        killed: false,
        stdout: Buffer.from(out),
        stderr: Buffer.from(err),
      };
    },
    spawn: async () => {
      throw new Error('not used');
    },
  };
  return { virsh: new Virsh(transport), calls };
}

const VOLUME_XML = (name: string) =>
  `<volume type='file'><name>${name}</name><capacity unit='bytes'>1073741824</capacity><allocation unit='bytes'>0</allocation><target><path>/p/${name}</path><format type='qcow2'/></target></volume>`;

describe('executeReconfigurePlan (fake host)', () => {
  it('a device that cannot hot-plug is added for the next boot with --config only', async () => {
    const plan = planReconfigure(
      runningState(),
      change({ addNics: [{ network: 'default', model: 'e1000', mac: '52:54:00:00:00:07' }] }),
      context,
    );
    const { virsh, calls } = fakeVirsh((args) =>
      args.includes('--live')
        ? {
            err: 'error: Failed to attach device from /dev/stdin\nerror: internal error: No more available PCI slots\n',
          }
        : {},
    );
    const outcome = await executeReconfigurePlan(virsh, plan, context);
    expect(outcome.pendingRestart).toEqual(['addNics']);
    expect(outcome.warnings[0]).toMatchObject({ feature: 'addNics[0]' });
    expect(calls.map((args) => args.slice(-2))).toEqual([
      ['--live', '--config'],
      ['/dev/stdin', '--config'],
    ]);
  });

  it('a failure after a change reports what was done and deletes volumes not attached', async () => {
    const plan = planReconfigure(
      offState(),
      change({ description: 'x', addDisks: [{ sizeGiB: 1 }], tags: { a: 'b' } }),
      context,
    );
    const { virsh, calls } = fakeVirsh((args) => {
      if (args[0] === 'vol-dumpxml') return { out: VOLUME_XML(String(args[args.length - 1])) };
      if (args[0] === 'attach-device') return { err: 'error: internal error: boom\n' };
      return {};
    });
    const error = await executeReconfigurePlan(virsh, plan, context).catch(
      (caught: unknown) => caught,
    );
    // Nothing of the domain changed before the attach failed: the original error.
    expect(ProviderApiError.isInstance(error) && error.message).toContain('boom');
    expect(calls.map((args) => args[0])).toEqual([
      'vol-create',
      'vol-dumpxml',
      'attach-device',
      'vol-delete',
    ]);

    const later = planReconfigure(
      offState(),
      change({ description: 'x', tags: { a: 'b' } }),
      context,
    );
    const failing = fakeVirsh((args) =>
      args[0] === 'metadata' ? { err: 'error: internal error: no\n' } : {},
    );
    const partial = await executeReconfigurePlan(failing.virsh, later, context).catch(
      (caught: unknown) => caught,
    );
    expect(ProviderApiError.isInstance(partial)).toBe(true);
    expect((partial as ProviderApiError).details).toMatchObject({
      completed: ['description'],
      fault: 'partial-reconfigure',
    });
  });

  it('a removal is live only once the device left the live XML; else pending and the volume kept', async () => {
    const plan = planReconfigure(runningState(), change({ removeDisks: ['vda'] }), context);
    const { virsh, calls } = fakeVirsh((args) => (args[0] === 'dumpxml' ? { out: BOOTED } : {}));
    const outcome = await executeReconfigurePlan(virsh, plan, { ...context, detachWaitMs: 0 });
    expect(outcome.pendingRestart).toEqual(['removeDisks']);
    expect(outcome.warnings[0]?.details).toContain('is kept');
    expect(calls.map((args) => args[0])).toEqual(['detach-disk', 'dumpxml']);

    const gone = BOOTED.replace(/<disk type='file' device='disk'>[\s\S]*?<\/disk>/, '');
    const released = fakeVirsh((args) => (args[0] === 'dumpxml' ? { out: gone } : {}));
    const done = await executeReconfigurePlan(released.virsh, plan, {
      ...context,
      detachWaitMs: 0,
    });
    expect(done.applied).toEqual(['removeDisks']);
    expect(released.calls.map((args) => args[0])).toEqual(['detach-disk', 'dumpxml', 'vol-delete']);
  });
});

describe('balloon wait (fake host)', () => {
  it('a booted guest whose balloon has not reached the target yet is a warning, not a failure', async () => {
    const plan = planReconfigure(runningState(), change({ memory: { sizeMiB: 320 } }), context);
    expect(plan.balloonTargetKiB).toBe(320 * 1024);
    const { virsh, calls } = fakeVirsh((args) =>
      args[0] === 'domstats'
        ? { out: "Domain: 'boot'\n  balloon.current=262144\n  balloon.maximum=393216\n" }
        : {},
    );
    const outcome = await executeReconfigurePlan(virsh, plan, { ...context, balloonWaitMs: 0 });
    expect(outcome.applied).toEqual(['memory.sizeMiB']);
    expect(outcome.warnings).toEqual([
      {
        type: 'other',
        feature: 'memory.sizeMiB',
        details: "the guest's balloon is at 256 MiB, still moving to 320 MiB",
      },
    ]);
    expect(calls.map((args) => args[0])).toEqual(['setmem', 'setmem', 'domstats']);
  });
});

describe('reconfigureCan', () => {
  const vm = (powerState: Vm['powerState'], hotAdd: boolean) =>
    ({
      powerState,
      cpu: { count: 1, coresPerSocket: 1, hotAdd },
      memory: { sizeMiB: 1, hotAdd },
    }) as Vm;
  it('says when a change applies', () => {
    expect(reconfigureCan(vm('off', false), 'resources.cpu')?.ok).toBe(true);
    expect(reconfigureCan(vm('on', false), 'resources.memory')?.reason).toMatch(/next boot/);
    expect(reconfigureCan(vm('on', true), 'resources.cpu')?.reason).toMatch(/apply now/);
    expect(reconfigureCan(vm('suspended', true), 'resources.cpu')?.ok).toBe(false);
    expect(reconfigureCan(vm('on', true), 'core.create')).toBeUndefined();
  });
});
