import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recordingDriver } from '../../test/fake-driver.js';
import { createProvider } from '../create-provider.js';
import { InvalidSpecError } from '../errors.js';
import { MAX_DISK_GIB, type VmSpecInput, VmSpecSchema } from './vm-spec.js';

const RUNS = { numRuns: 200 };

// ---- valid specs ----------------------------------------------------------------------------

const SHELL_AND_MARKUP = [...`<>&"'\`$;|(){}[]*?!~#\\%=+,@^`, ' ', 'é', 'ß', '日本', '🙂', 'ü'];
const TRICKY_NAMES = [
  `web-01`,
  `<script>alert("x")</script>`,
  `a & b`,
  `it's "quoted"`,
  `$(rm -rf /); echo pwn`,
  '`id`',
  `x | y > z`,
  `名前-テスト`,
  `Ünïcödé 🙂 vm`,
  `C:\\Windows\\path`,
  `%s%n%x`,
  '-leading-dash',
  'x'.repeat(80),
];

const hasCc = (value: string) => /\p{Cc}/u.test(value);

/** Names NameSchema accepts: 1–80 UTF-16 units, no control characters, no outer white space. */
export const validName = fc
  .oneof(
    fc.constantFrom(...TRICKY_NAMES),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
    fc.string({ unit: fc.constantFrom(...SHELL_AND_MARKUP), minLength: 1, maxLength: 30 }),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 80 }),
  )
  .map((value) => value.trim())
  .filter((value) => value.length >= 1 && value.length <= 80 && !hasCc(value));

const identifier = fc
  .oneof(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
    fc.constantFrom('datastore1', 'VM Network', 'vmbr0', 'local-lvm', 'dvportgroup-42', 'pool/ä'),
  )
  .filter((value) => value.length > 0);

const cpu = fc
  .record({
    coresPerSocket: fc.constantFrom(1, 2, 3, 4, 6, 8, 16),
    sockets: fc.integer({ min: 1, max: 16 }),
    showCores: fc.boolean(),
    hotAdd: fc.option(fc.boolean(), { nil: undefined }),
    limits: fc.option(
      fc
        .tuple(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 1, max: 100_000 }))
        .map(([a, b]) => ({ reservationMHz: Math.min(a, b), limitMHz: Math.max(a, b, 1) })),
      { nil: undefined },
    ),
  })
  .map(({ coresPerSocket, sockets, showCores, hotAdd, limits }) => ({
    count: coresPerSocket * sockets,
    ...(showCores ? { coresPerSocket } : {}),
    ...(hotAdd === undefined ? {} : { hotAdd }),
    ...limits,
  }));

const memory = fc
  .record({
    sizeMiB: fc.integer({ min: 4, max: 4 * 1024 * 1024 }),
    hotAdd: fc.option(fc.boolean(), { nil: undefined }),
    reservationFraction: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    limit: fc.boolean(),
  })
  .map(({ sizeMiB, hotAdd, reservationFraction, limit }) => {
    const reservationMiB =
      reservationFraction === undefined ? undefined : Math.floor(sizeMiB * reservationFraction);
    return {
      sizeMiB,
      ...(hotAdd === undefined ? {} : { hotAdd }),
      ...(reservationMiB === undefined ? {} : { reservationMiB }),
      ...(limit ? { limitMiB: sizeMiB } : {}),
    };
  });

const disk = fc.record(
  {
    name: validName,
    sizeGiB: fc.integer({ min: 1, max: MAX_DISK_GIB * 1024 }).map((mib) => mib / 1024),
    provisioning: fc.constantFrom('thin', 'thick', 'eagerZeroedThick'),
    bus: fc.constantFrom('scsi', 'virtio', 'sata', 'ide', 'nvme'),
    storage: identifier,
    storagePolicy: identifier,
    format: fc.constantFrom('raw', 'qcow2', 'vmdk', 'vhdx'),
    sourceImageId: identifier,
  },
  { requiredKeys: ['sizeGiB'] },
);

const byte = fc.integer({ min: 0, max: 255 });
/** Unicast MACs in mixed case. */
const mac = fc.tuple(byte, byte, byte, byte, byte, byte, fc.boolean()).map(([first, ...rest]) => {
  const upper = rest.pop() as boolean;
  const text = [first & 0xfe, ...(rest as number[])]
    .map((value) => value.toString(16).padStart(2, '0'))
    .join(':');
  return upper ? text.toUpperCase() : text;
});

const ipv4Cidr = fc
  .tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }))
  .map(([address, prefix]) => `${address}/${prefix}`);
const ipv6Cidr = fc
  .tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 }))
  .map(([address, prefix]) => `${address}/${prefix}`);

const nicBase = fc.record(
  {
    network: identifier,
    connection: fc.constantFrom('network', 'bridge', 'distributed'),
    model: fc.constantFrom('virtio', 'e1000', 'e1000e', 'vmxnet3', 'rtl8139'),
    vlan: fc.integer({ min: 1, max: 4094 }),
    ipv4: fc.oneof(
      fc.constantFrom('dhcp', 'none'),
      fc.record({ address: ipv4Cidr, gateway: fc.ipV4() }, { requiredKeys: ['address'] }),
    ),
    ipv6: fc.oneof(
      fc.constantFrom('dhcp', 'slaac', 'none'),
      fc.record({ address: ipv6Cidr, gateway: fc.ipV6() }, { requiredKeys: ['address'] }),
    ),
    dns: fc.record(
      {
        servers: fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { maxLength: 8 }),
        search: fc.array(fc.domain(), { maxLength: 8 }),
      },
      { requiredKeys: ['servers'] },
    ),
  },
  { requiredKeys: ['network'] },
);

/** NICs with unique MACs (compared case-insensitively, as the schema normalises them). */
const nics = fc
  .tuple(
    fc.array(nicBase, { maxLength: 4 }),
    fc.uniqueArray(mac, { maxLength: 4, selector: (value) => value.toLowerCase() }),
  )
  .map(([list, macs]) =>
    list.map((nic, index) => (macs[index] === undefined ? nic : { ...nic, mac: macs[index] })),
  );

const uniqueDisks = fc
  .array(disk, { maxLength: 4 })
  .map((list) =>
    list.map((item, index) =>
      item.name === undefined ? item : { ...item, name: `${item.name.slice(0, 70)}#${index}` },
    ),
  );

const image = fc.oneof(
  fc.record({ kind: fc.constant('template' as const), template: identifier }),
  fc.record({ kind: fc.constant('image' as const), imageId: identifier }),
  fc.record(
    {
      kind: fc.constant('url' as const),
      url: fc.webUrl({ validSchemes: ['http', 'https'], withQueryParameters: true }),
      format: fc.constantFrom('raw', 'qcow2', 'vmdk', 'vhdx'),
      sha256: fc.stringMatching(/^[0-9a-f]{64}$/),
    },
    { requiredKeys: ['kind', 'url'] },
  ),
  fc.record({
    kind: fc.constant('content-library' as const),
    library: identifier,
    item: identifier,
  }),
);

const noNul = (value: string) => !value.includes('\u0000');
const cloudInit = fc.record(
  {
    userData: fc.string({ maxLength: 200 }).filter(noNul),
    metaData: fc.oneof(
      fc.string({ maxLength: 50 }).filter(noNul),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
    ),
    networkConfig: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
  },
  { requiredKeys: [] },
);

const tags = fc.dictionary(
  // fast-check proposes `__proto__` on purpose; TagsSchema refuses it (see common.test.ts).
  fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,20}$/).filter((key) => key !== '__proto__'),
  fc.string({ maxLength: 40 }).filter((value) => !hasCc(value)),
  { maxKeys: 5 },
);

/** VmSpecs that VmSpecSchema must accept. */
export const validSpec: fc.Arbitrary<VmSpecInput> = fc
  .record(
    {
      name: validName,
      description: fc.string({ maxLength: 100 }).filter(noNul),
      guestOs: fc.constantFrom('linux', 'windows', 'other'),
      cpu,
      memory,
      disks: uniqueDisks,
      nics,
      image,
      firmware: fc.constantFrom('bios', 'efi'),
      secureBoot: fc.boolean(),
      cloudInit,
      customization: fc.record(
        {
          hostname: fc.stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/),
          domain: fc.domain(),
          timeZone: fc.constantFrom('UTC', 'Europe/Paris', 'America/Argentina/Buenos_Aires'),
        },
        { requiredKeys: [] },
      ),
      placement: fc.record(
        {
          host: identifier,
          cluster: identifier,
          resourcePool: identifier,
          folder: identifier,
          storage: identifier,
        },
        { requiredKeys: [] },
      ),
      tags,
      powerState: fc.constantFrom('on', 'off'),
      providerOptions: fc.dictionary(
        fc.constantFrom('vsphere', 'libvirt', 'proxmox'),
        fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })),
      ),
    },
    { requiredKeys: ['name', 'cpu', 'memory'] },
  )
  .map((spec) =>
    // secureBoot needs efi; keep the combination valid.
    spec.secureBoot ? { ...spec, firmware: 'efi' as const } : spec,
  ) as fc.Arbitrary<VmSpecInput>;

describe('VmSpecSchema on valid specs', () => {
  it('accepts every generated valid spec', () => {
    fc.assert(
      fc.property(validSpec, (spec) => {
        const result = VmSpecSchema.safeParse(spec);
        if (!result.success) throw new Error(JSON.stringify(result.error.issues));
      }),
      RUNS,
    );
  });

  it('lower-cases MACs and keeps names byte for byte', () => {
    fc.assert(
      fc.property(validSpec, (spec) => {
        const parsed = VmSpecSchema.parse(spec);
        expect(parsed.name).toBe(spec.name);
        for (const [index, nic] of (parsed.nics ?? []).entries()) {
          expect(nic.mac).toBe(spec.nics?.[index]?.mac?.toLowerCase());
        }
      }),
      { numRuns: 50 },
    );
  });

  it('reaches the driver exactly once through createProvider', async () => {
    await fc.assert(
      fc.asyncProperty(validSpec, async (spec) => {
        const driver = recordingDriver();
        const provider = createProvider(driver);
        const id = await provider.create(spec).submitted();
        expect(id).toMatch(/^task-/);
        expect(driver.count('create')).toBe(1);
        expect(driver.calls.get('create')?.[0]?.[0]).toEqual(VmSpecSchema.parse(spec));
      }),
      { numRuns: 100 },
    );
  });
});

// ---- mutations ------------------------------------------------------------------------------

type Spec = Record<string, unknown> & {
  cpu: Record<string, unknown>;
  memory: Record<string, unknown>;
  disks?: Record<string, unknown>[];
  nics?: Record<string, unknown>[];
};

/** One broken field: the spec that carries it and the path the error must name. */
interface Mutation {
  label: string;
  spec: Spec;
  path: string;
}

const clone = (spec: VmSpecInput): Spec => structuredClone(spec) as unknown as Spec;

/** A spec with at least `count` disks. */
function withDisks(spec: Spec, count: number): Record<string, unknown>[] {
  const disks = spec.disks ?? [];
  while (disks.length < count) disks.push({ sizeGiB: 1 + disks.length });
  spec.disks = disks;
  return disks;
}

/** A spec with at least `count` NICs. */
function withNics(spec: Spec, count: number): Record<string, unknown>[] {
  const list = spec.nics ?? [];
  while (list.length < count) list.push({ network: `net-${list.length}` });
  spec.nics = list;
  return list;
}

const pick = (length: number, seed: number) => seed % length;

const KNOWN_KEYS = new Set(Object.keys(VmSpecSchema.shape));

const mutation = (
  label: string,
  arbitrary: fc.Arbitrary<unknown>,
  apply: (spec: Spec, value: never, seed: number) => string,
): fc.Arbitrary<Mutation> =>
  fc.tuple(validSpec, arbitrary, fc.nat()).map(([valid, value, seed]) => {
    const spec = clone(valid);
    const path = apply(spec, value as never, seed);
    return { label, spec, path };
  });

const badCount = fc.oneof(
  fc.integer({ min: -1000, max: 0 }),
  fc.double({ min: 0.01, max: 767.99, noNaN: true }).filter((value) => !Number.isInteger(value)),
  fc.integer({ min: 769, max: 2 ** 31 }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, '4', null, true),
);

const MUTATIONS: fc.Arbitrary<Mutation>[] = [
  mutation('cpu.count', badCount, (spec, value: unknown) => {
    spec.cpu.count = value;
    return 'cpu.count';
  }),
  mutation(
    'cpu.coresPerSocket does not divide',
    fc.tuple(fc.integer({ min: 2, max: 64 }), fc.integer({ min: 1, max: 11 })),
    (spec, [coresPerSocket, sockets]: [number, number]) => {
      spec.cpu = { count: coresPerSocket * sockets + 1, coresPerSocket };
      return 'cpu.coresPerSocket';
    },
  ),
  mutation('cpu.reservationMHz > limitMHz', fc.integer({ min: 1, max: 1000 }), (spec, extra) => {
    spec.cpu.limitMHz = 1000;
    spec.cpu.reservationMHz = 1000 + (extra as number);
    return 'cpu.reservationMHz';
  }),
  mutation(
    'memory.sizeMiB too small',
    fc.oneof(fc.integer({ min: -100, max: 3 }), fc.constant(4.5)),
    (spec, value: number) => {
      spec.memory = { sizeMiB: value };
      return 'memory.sizeMiB';
    },
  ),
  mutation('memory.reservationMiB > sizeMiB', fc.integer({ min: 1, max: 1000 }), (spec, extra) => {
    spec.memory = { sizeMiB: 1024, reservationMiB: 1024 + (extra as number) };
    return 'memory.reservationMiB';
  }),
  mutation(
    'disks[i].sizeGiB',
    fc.oneof(
      fc.constantFrom(0, -1, -0.5, MAX_DISK_GIB + 1, Number.NaN, '10'),
      fc.integer({ min: 1, max: 1000 }).map((mib) => mib / 1024 + 1 / 4096),
    ),
    (spec, value: unknown, seed) => {
      const disks = withDisks(spec, 1 + pick(3, seed));
      const index = disks.length - 1 - pick(disks.length, seed >> 3);
      (disks[index] as Record<string, unknown>).sizeGiB = value;
      return `disks[${index}].sizeGiB`;
    },
  ),
  mutation('duplicate disk name', validName, (spec, name: string, seed) => {
    const disks = withDisks(spec, 2 + pick(2, seed));
    const later = 1 + pick(disks.length - 1, seed >> 2);
    for (const [index, item] of disks.entries()) item.name = `d${index}`;
    (disks[0] as Record<string, unknown>).name = name;
    (disks[later] as Record<string, unknown>).name = name;
    return `disks[${later}].name`;
  }),
  mutation(
    'nics[i].mac',
    fc.oneof(
      fc.constantFrom(
        '01:00:5e:00:00:01',
        'ff:ff:ff:ff:ff:ff',
        '03:AA:BB:CC:DD:EE',
        '52:54:00:12:34',
        '52-54-00-12-34-56',
        '5254.0012.3456',
        '52:54:00:12:34:5g',
        ' 52:54:00:12:34:56',
        '',
      ),
      // Any multicast MAC (low bit of the first octet set).
      mac.map(
        (text) =>
          `${(Number.parseInt(text.slice(0, 2), 16) | 1).toString(16).padStart(2, '0')}${text.slice(2)}`,
      ),
    ),
    (spec, value: string, seed) => {
      const list = withNics(spec, 1 + pick(3, seed));
      const index = pick(list.length, seed >> 2);
      for (const nic of list) delete nic.mac;
      (list[index] as Record<string, unknown>).mac = value;
      return `nics[${index}].mac`;
    },
  ),
  mutation(
    'duplicate MAC',
    fc.tuple(mac, fc.boolean()),
    (spec, [value, flip]: [string, boolean], seed) => {
      const list = withNics(spec, 2 + pick(2, seed));
      for (const nic of list) delete nic.mac;
      const later = 1 + pick(list.length - 1, seed >> 2);
      (list[0] as Record<string, unknown>).mac = value;
      (list[later] as Record<string, unknown>).mac = flip
        ? value.toUpperCase()
        : value.toLowerCase();
      return `nics[${later}].mac`;
    },
  ),
  mutation(
    'nics[i].vlan',
    fc.constantFrom(0, 4095, -1, 1.5, 65536),
    (spec, value: number, seed) => {
      const list = withNics(spec, 1 + pick(3, seed));
      const index = pick(list.length, seed >> 2);
      (list[index] as Record<string, unknown>).vlan = value;
      return `nics[${index}].vlan`;
    },
  ),
  mutation(
    'nics[i].ipv4.address',
    fc.oneof(
      fc.constantFrom(
        '10.0.0.1',
        '10.0.0.1/33',
        '10.0.0.256/24',
        '10.0.0/24',
        '10.0.0.1/24/8',
        '010.0.0.1/24',
        '10.0.0.1/024',
        '10.0.0.1/',
        '::1/64',
      ),
      fc.ipV4().map((address) => `${address}/${33 + (address.length % 60)}`),
    ),
    (spec, value: string, seed) => {
      const list = withNics(spec, 1 + pick(3, seed));
      const index = pick(list.length, seed >> 2);
      (list[index] as Record<string, unknown>).ipv4 = { address: value };
      return `nics[${index}].ipv4.address`;
    },
  ),
  mutation(
    'nics[i].ipv4.gateway',
    fc.constantFrom('1.2.3', '1.2.3.4/24', '256.1.1.1', 'gateway', '::1'),
    (spec, value: string, seed) => {
      const list = withNics(spec, 1 + pick(3, seed));
      const index = pick(list.length, seed >> 2);
      (list[index] as Record<string, unknown>).ipv4 = { address: '10.0.0.5/24', gateway: value };
      return `nics[${index}].ipv4.gateway`;
    },
  ),
  mutation(
    'nics[i].ipv6.address',
    fc.oneof(
      fc.constantFrom(
        '2001:db8::g/64',
        '1:2:3:4:5:6:7:8:9/64',
        '::1::2/64',
        '2001:db8::1/129',
        '2001:db8::1',
        'fe80::1%eth0/64',
        '12345::/64',
        '1:2:3:4:5:6:7/64',
        '10.0.0.1/24',
        ':::/64',
      ),
      fc.ipV6().map((address) => `${address}/${129 + address.length}`),
    ),
    (spec, value: string, seed) => {
      const list = withNics(spec, 1 + pick(3, seed));
      const index = pick(list.length, seed >> 2);
      (list[index] as Record<string, unknown>).ipv6 = { address: value };
      return `nics[${index}].ipv6.address`;
    },
  ),
  mutation(
    'nics[i].dns.servers[k]',
    fc.constantFrom('dns.example', '1.1.1', '::g', ''),
    (spec, value: string, seed) => {
      const list = withNics(spec, 1 + pick(3, seed));
      const index = pick(list.length, seed >> 2);
      (list[index] as Record<string, unknown>).dns = { servers: ['1.1.1.1', value] };
      return `nics[${index}].dns.servers[1]`;
    },
  ),
  mutation(
    'nics[i].network',
    fc.constantFrom('', 'a\nb', 'x'.repeat(1025)),
    (spec, value: string, seed) => {
      const list = withNics(spec, 1 + pick(3, seed));
      const index = pick(list.length, seed >> 2);
      (list[index] as Record<string, unknown>).network = value;
      return `nics[${index}].network`;
    },
  ),
  mutation(
    'name with a control character',
    fc.tuple(
      validName,
      fc
        .integer({ min: 0, max: 0x1f })
        .chain((code) => fc.constantFrom(String.fromCharCode(code), '\u007f')),
      fc.nat(),
    ),
    (spec, [name, control, at]: [string, string, number]) => {
      const base = name.slice(0, 79);
      const position = at % (base.length + 1);
      spec.name = `${base.slice(0, position)}${control}${base.slice(position)}`;
      return 'name';
    },
  ),
  mutation(
    'name with outer white space',
    fc.tuple(validName, fc.constantFrom(' ', '\u00a0', '\u3000'), fc.boolean()),
    (spec, [name, space, leading]: [string, string, boolean]) => {
      spec.name = leading ? `${space}${name}` : `${name}${space}`;
      return 'name';
    },
  ),
  mutation('name too long or empty', fc.integer({ min: 81, max: 300 }), (spec, length: number) => {
    spec.name = length % 7 === 0 ? '' : 'n'.repeat(length);
    return 'name';
  }),
  mutation(
    'unknown top-level key',
    fc
      .stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,15}$/)
      .filter((key) => !KNOWN_KEYS.has(key) && key !== '__proto__'),
    (spec, key: string) => {
      spec[key] = 'surprise';
      return key;
    },
  ),
  mutation(
    'unknown cpu key',
    fc.constantFrom('sockets', 'threads', 'Count'),
    (spec, key: string) => {
      spec.cpu[key] = 2;
      return `cpu.${key}`;
    },
  ),
  mutation(
    'secureBoot without efi',
    fc.constantFrom('bios', undefined),
    (spec, firmware: string | undefined) => {
      spec.secureBoot = true;
      if (firmware === undefined) delete spec.firmware;
      else spec.firmware = firmware;
      return 'secureBoot';
    },
  ),
  mutation(
    'image.url',
    fc.constantFrom('ftp://host/x.img', 'not a url', 'file:///x'),
    (spec, url: string) => {
      spec.image = { kind: 'url', url };
      return 'image.url';
    },
  ),
  mutation(
    'image.sha256',
    fc.stringMatching(/^[0-9A-F]{64}$/).filter((v) => /[A-F]/.test(v)),
    (spec, sha256: string) => {
      spec.image = { kind: 'url', url: 'https://example.com/a.qcow2', sha256 };
      return 'image.sha256';
    },
  ),
  mutation('tag key', fc.constantFrom('has space', 'ä', ''), (spec, key: string) => {
    spec.tags = { ok: 'v', [key]: 'value' };
    return `tags.${key}`;
  }),
  mutation(
    'customization.hostname',
    fc.constantFrom('-x', 'x-', 'a_b', 'x'.repeat(64), ''),
    (spec, hostname: string) => {
      spec.customization = { hostname };
      return 'customization.hostname';
    },
  ),
  mutation('description with NUL', validName, (spec, text: string) => {
    spec.description = `${text}\u0000`;
    return 'description';
  }),
  mutation('cloudInit.userData with NUL', validName, (spec, text: string) => {
    spec.cloudInit = { userData: `#cloud-config\n${text}\u0000` };
    return 'cloudInit.userData';
  }),
  mutation('too many disks', fc.integer({ min: 61, max: 70 }), (spec, count: number) => {
    spec.disks = Array.from({ length: count }, () => ({ sizeGiB: 1 }));
    return 'disks';
  }),
  mutation('powerState', fc.constantFrom('suspended', 'ON', 1), (spec, value: unknown) => {
    spec.powerState = value;
    return 'powerState';
  }),
];

const invalidSpec = fc.oneof(...MUTATIONS);

describe('VmSpecSchema on specs with one broken field', () => {
  it('rejects every mutation with an issue at the broken path', () => {
    fc.assert(
      fc.property(invalidSpec, ({ spec, path, label }) => {
        const result = VmSpecSchema.safeParse(spec);
        expect(result.success, label).toBe(false);
        if (result.success) return;
        const error = InvalidSpecError.fromZod(result.error);
        expect(
          error.issues.map((issue) => issue.path),
          label,
        ).toContain(path);
      }),
      { numRuns: 400 },
    );
  });

  it('create() rejects with InvalidSpecError naming the path, and never calls the driver', async () => {
    await fc.assert(
      fc.asyncProperty(invalidSpec, async ({ spec, path, label }) => {
        const driver = recordingDriver();
        const provider = createProvider(driver);
        const error = await provider.create(spec as unknown as VmSpecInput).then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(InvalidSpecError.isInstance(error), label).toBe(true);
        if (!InvalidSpecError.isInstance(error)) return;
        expect(
          error.issues.map((issue) => issue.path),
          label,
        ).toContain(path);
        expect(error.message).toContain('invalid VM spec');
        expect(error.provider).toBe('fake');
        expect(driver.total(), label).toBe(0);
      }),
      RUNS,
    );
  });

  it('lists every broken field, not only the first', async () => {
    const driver = recordingDriver();
    const provider = createProvider(driver);
    const error = await provider
      .create({
        name: ' bad',
        cpu: { count: 6, coresPerSocket: 4 },
        memory: { sizeMiB: 2 },
        disks: [{ sizeGiB: 1 }, { sizeGiB: 0 }],
        nics: [{ network: 'n', mac: '01:00:00:00:00:00', vlan: 4095 }],
      })
      .then(
        () => undefined,
        (reason: unknown) => reason,
      );
    expect(InvalidSpecError.isInstance(error)).toBe(true);
    const paths = (error as InvalidSpecError).issues.map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'name',
        'cpu.coresPerSocket',
        'memory.sizeMiB',
        'disks[1].sizeGiB',
        'nics[0].mac',
        'nics[0].vlan',
      ]),
    );
    expect(driver.total()).toBe(0);
  });
});
