// End to end on the REAL bed: the bed's guest applies the NoCloud seed hvkit builds. Documents from
// buildNoCloudDocuments → ISO volume (buildSeedVolume) → a domain from buildDomainXml with the seed
// as its SATA cdrom on q35 → boot (TCG) → what the guest agent reports. The guest's consumer is
// testbeds/libvirt/guest/rootfs/usr/libexec/nocloud/nocloud.sh (busybox: host name and network
// config version 2; the real cloud-init cannot run there).
//
// Two guests boot at once (≤ 2 on the shared 2-core bed, 256 MiB each):
// - static: customization.hostname + domain, and a NIC on `default` with a static IPv4, gateway and
//   DNS. The agent must report the host name (the part before the first dot of `local-hostname`)
//   and exactly that address on the NIC with that MAC; the guest routes by that gateway, and
//   dnsmasq never leased anything to that MAC (so the address did not come from DHCP).
// - dhcp: `ipv4: 'dhcp'` and user-data `#cloud-config` `hostname:` next to a different meta-data
//   `local-hostname` (cloud-init's order: user-data wins). The agent must report the user-data
//   name and an address in 192.168.122.0/24 that dnsmasq leased to that MAC.
// Everything made here is named `hvkit-gn-<random>-…` and removed in afterAll.
//
// Without the bed (but with the host's busybox, a bed package): the guest's YAML flattener
// (yamlflat.awk, run by busybox awk as in the guest) reads the documents buildNoCloudDocuments
// writes, and any JSON yamlJson writes, as the same values.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type VmSpec, type VmSpecInput, VmSpecSchema } from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToBed, type LibvirtReady, requireLibvirtBed } from '../../test/libvirt-bed.js';
import { buildDomainXml } from '../domain/domain-xml.js';
import { Virsh } from '../virsh/virsh.js';
import { buildNoCloudDocuments, yamlJson } from './nocloud.js';
import { buildSeedVolume, deleteSeedVolume } from './seed-volume.js';

const bed = requireLibvirtBed();
const run = randomBytes(2).toString('hex');
const prefix = `hvkit-gn-${run}`;
/** Under TCG the guest is READY in ~10-15 s alone; with other helpers' guests it can take longer. */
const BOOT_MS = 240_000;

/** A MAC unique to this run: QEMU's 52:54:00, this run's two bytes, then `last`. */
function mac(last: number): string {
  return `52:54:00:${run.slice(0, 2)}:${run.slice(2)}:${last.toString(16).padStart(2, '0')}`;
}

interface AgentInterface {
  name: string;
  'hardware-address'?: string;
  'ip-addresses'?: { 'ip-address-type': string; 'ip-address': string; prefix: number }[];
}

async function agent(virsh: Virsh, domain: string, command: object): Promise<unknown> {
  const out = await virsh.run(['qemu-agent-command', domain, JSON.stringify(command)], {
    timeoutMs: 30_000,
  });
  return (JSON.parse(out) as { return: unknown }).return;
}

/** Polls `probe` every 2 s until it returns a value; fails naming `what` after BOOT_MS. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (const until = Date.now() + BOOT_MS; ; ) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`${what}: not within ${BOOT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/** The IPv4 addresses (`a.b.c.d/nn`) the agent reports on the NIC with `nicMac`. */
async function agentIpv4(virsh: Virsh, domain: string, nicMac: string): Promise<string[]> {
  const interfaces = (await agent(virsh, domain, {
    execute: 'guest-network-get-interfaces',
  })) as AgentInterface[];
  const nic = interfaces.find((item) => item['hardware-address']?.toLowerCase() === nicMac);
  return (nic?.['ip-addresses'] ?? [])
    .filter((address) => address['ip-address-type'] === 'ipv4')
    .map((address) => `${address['ip-address']}/${address.prefix}`);
}

/** Runs `/bin/sh -c script` in the guest through the agent; its stdout. */
async function guestShell(virsh: Virsh, domain: string, script: string): Promise<string> {
  const { pid } = (await agent(virsh, domain, {
    execute: 'guest-exec',
    arguments: { path: '/bin/sh', arg: ['-c', script], 'capture-output': true },
  })) as { pid: number };
  const status = await eventually('guest-exec', async () => {
    const current = (await agent(virsh, domain, {
      execute: 'guest-exec-status',
      arguments: { pid },
    })) as { exited: boolean; 'out-data'?: string };
    return current.exited ? current : undefined;
  });
  return Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8');
}

/** The spec, with the bed guest's direct kernel boot under TCG. */
function specOf(ready: LibvirtReady, input: Omit<VmSpecInput, 'cpu' | 'memory'>): VmSpec {
  return VmSpecSchema.parse({
    ...input,
    cpu: { count: 1 },
    memory: { sizeMiB: 256 },
    providerOptions: {
      libvirt: {
        domainType: 'qemu',
        kernel: ready.guest.kernel,
        initrd: ready.guest.initrd,
        cmdline: ready.guest.cmdline,
      },
    },
  });
}

describe.skipIf(!bed)('the bed guest applies a NoCloud seed', () => {
  let ssh: SshConnection;
  let virsh: Virsh;
  const pool = bed?.pool ?? 'default';
  const network = bed?.network ?? 'default';
  const domains: string[] = [];
  const seeds: string[] = [];

  /** Seed volume + domain for `spec`, started; returns the domain name. */
  async function boot(spec: VmSpec): Promise<string> {
    const uuid = randomUUID();
    const plan = buildNoCloudDocuments(spec, { instanceId: uuid });
    if (plan === undefined) throw new Error(`${spec.name}: the spec needs a seed`);
    const seedName = `${spec.name}-seed.iso`;
    seeds.push(seedName);
    const seed = await buildSeedVolume(virsh, pool, seedName, plan.documents);
    const { xml, seedTarget } = buildDomainXml(spec, {
      uuid,
      volumes: [],
      networks: new Map([[network, { kind: 'network' }]]),
      seedIso: seed.path,
    });
    expect(seedTarget).toBe('sda');
    domains.push(spec.name);
    await virsh.run(['define', '/dev/stdin'], { stdin: xml });
    await virsh.run(['start', spec.name]);
    return spec.name;
  }

  /** The dnsmasq leases of network `default` for `nicMac` (`virsh net-dhcp-leases --mac`). */
  async function leases(nicMac: string): Promise<string[]> {
    const out = await virsh.run(['net-dhcp-leases', network, '--mac', nicMac]);
    return out.split('\n').filter((line) => line.toLowerCase().includes(nicMac));
  }

  beforeAll(async () => {
    if (!bed) return;
    ssh = connectToBed(bed);
    virsh = new Virsh(ssh, { uri: bed.libvirtUri });
    await ssh.connect();
  });

  afterAll(async () => {
    if (!bed) return;
    for (const domain of domains) {
      await virsh.run(['destroy', domain]).catch(() => {});
      await virsh.run(['undefine', domain]).catch(() => {});
    }
    for (const seed of seeds) await deleteSeedVolume(virsh, pool, seed).catch(() => false);
    await ssh.close();
  });

  it('takes the host name from customization and the static IPv4 from network-config, and the DHCP NIC gets a lease', async () => {
    if (!bed) return;
    // Random in .200-.249: other tests' static guests use .77; dnsmasq's range is .2-.254, and a
    // guest from another run holding the same address would break this test, not pass it.
    const staticIp = `192.168.122.${200 + (Number.parseInt(run, 16) % 50)}`;
    const staticMac = mac(1);
    const dhcpMac = mac(2);
    const staticHost = `gn${run}s`;
    const dhcpHost = `gn${run}d`;

    const staticSpec = specOf(bed, {
      name: `${prefix}-static`,
      nics: [
        {
          network,
          mac: staticMac,
          ipv4: { address: `${staticIp}/24`, gateway: '192.168.122.1' },
          dns: { servers: ['192.168.122.1'], search: ['example.test'] },
        },
      ],
      customization: { hostname: staticHost, domain: 'example.test' },
    });
    const dhcpSpec = specOf(bed, {
      name: `${prefix}-dhcp`,
      nics: [{ network, mac: dhcpMac, ipv4: 'dhcp' }],
      cloudInit: {
        userData: `#cloud-config\nhostname: ${dhcpHost}.example.test\n`,
        metaData: { 'local-hostname': `${dhcpHost}-meta` },
      },
    });
    const [staticDomain, dhcpDomain] = await Promise.all([boot(staticSpec), boot(dhcpSpec)]);

    // The static guest. /etc/rc applies the seed before it starts qemu-ga, so the agent's first
    // answers must already be the final ones: no waiting for a changed name or address.
    const staticName = await eventually('static guest host name', async () => {
      const reply = (await agent(virsh, staticDomain, { execute: 'guest-get-host-name' })) as {
        'host-name': string;
      };
      return reply['host-name'];
    });
    expect(staticName).toBe(staticHost);
    const staticAddresses = await eventually('static guest IPv4', async () => {
      const found = await agentIpv4(virsh, staticDomain, staticMac);
      return found.length > 0 ? found : undefined;
    });
    expect(staticAddresses).toEqual([`${staticIp}/24`]);
    const routes = await guestShell(virsh, staticDomain, 'ip route; cat /etc/resolv.conf');
    expect(routes).toContain('default via 192.168.122.1 dev eth0');
    expect(routes).toContain('nameserver 192.168.122.1');
    expect(routes).toContain('search example.test');
    expect(await leases(staticMac)).toEqual([]);

    // The DHCP guest: user-data's host name over meta-data's, and a lease from dnsmasq.
    const dhcpName = await eventually('dhcp guest host name', async () => {
      const reply = (await agent(virsh, dhcpDomain, { execute: 'guest-get-host-name' })) as {
        'host-name': string;
      };
      return reply['host-name'];
    });
    expect(dhcpName).toBe(dhcpHost);
    const dhcpAddresses = await eventually('dhcp guest IPv4', async () => {
      const found = await agentIpv4(virsh, dhcpDomain, dhcpMac);
      return found.length > 0 ? found : undefined;
    });
    expect(dhcpAddresses).toHaveLength(1);
    expect(dhcpAddresses[0]).toMatch(/^192\.168\.122\.(\d+)\/24$/);
    const leased = await leases(dhcpMac);
    expect(leased.join('\n')).toContain(dhcpAddresses[0]);
  }, 420_000);
});

// ---- the guest's parser, offline --------------------------------------------------------------

const FLATTENER = fileURLToPath(
  new URL(
    '../../../../testbeds/libvirt/guest/rootfs/usr/libexec/nocloud/yamlflat.awk',
    import.meta.url,
  ),
);
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((path) => existsSync(path));

/** The guest's view of a document: `path<TAB>value` lines from busybox awk -f yamlflat.awk. */
function flatten(document: string): string[] {
  if (BUSYBOX === undefined) throw new Error('no busybox');
  const out = execFileSync(BUSYBOX, ['awk', '-f', FLATTENER], {
    input: document,
    encoding: 'utf8',
  });
  return out.split('\n').filter((line) => line !== '');
}

/** The same lines computed from the parsed JSON. */
function flatOf(value: unknown, path = ''): string[] {
  const join = (key: string | number) => (path === '' ? `${key}` : `${path}/${key}`);
  if (Array.isArray(value)) return value.flatMap((item, index) => flatOf(item, join(index)));
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => flatOf(item, join(key)));
  return [`${path}\t${value === null ? 'null' : String(value)}`];
}

describe.skipIf(BUSYBOX === undefined)("the guest's NoCloud parser (busybox awk)", () => {
  it('reads the documents buildNoCloudDocuments writes', () => {
    const spec = VmSpecSchema.parse({
      name: 'parse-me',
      cpu: { count: 1 },
      memory: { sizeMiB: 256 },
      nics: [
        {
          network: 'default',
          mac: '52:54:00:AA:00:01',
          ipv4: { address: '192.168.122.77/24', gateway: '192.168.122.1' },
          ipv6: { address: 'fd00::77/64', gateway: 'fe80::1' },
          dns: { servers: ['192.168.122.1', 'fd00::1'], search: ['example.test', 'lab.test'] },
        },
        { network: 'default', mac: '52:54:00:aa:00:02', ipv4: 'dhcp' },
        { network: 'default', mac: '52:54:00:aa:00:03', ipv4: 'none' },
      ],
      customization: { hostname: 'web1', domain: 'example.test', timeZone: 'Europe/Paris' },
      cloudInit: {
        userData:
          '#cloud-config\nwrite_files:\n  - path: /etc/x\n    content: |\n      hostname: not-this\n      {\nhostname: from-user-data # the one\n',
        metaData: { 'public-keys': ['ssh-ed25519 AAAA a@b'], tags: { role: 'it\'s "quoted" #1' } },
      },
    });
    const plan = buildNoCloudDocuments(spec, { instanceId: 'i-123' });
    if (plan === undefined) throw new Error('the spec needs a seed');
    const { metaData, networkConfig, userData, vendorData } = plan.documents;
    expect(flatten(metaData)).toEqual(flatOf(JSON.parse(metaData)));
    expect(flatten(metaData)).toContain('local-hostname\tweb1.example.test');
    expect(flatten(networkConfig ?? '')).toEqual(flatOf(JSON.parse(networkConfig ?? '')));
    expect(flatten(networkConfig ?? '')).toEqual(
      expect.arrayContaining([
        'ethernets/nic0/match/macaddress\t52:54:00:aa:00:01',
        'ethernets/nic0/addresses/0\t192.168.122.77/24',
        'ethernets/nic0/addresses/1\tfd00::77/64',
        'ethernets/nic0/routes/0/to\t0.0.0.0/0',
        'ethernets/nic0/routes/0/via\t192.168.122.1',
        'ethernets/nic1/dhcp4\ttrue',
        'ethernets/nic2/dhcp4\tfalse',
      ]),
    );
    // The block scalar's body is skipped: only the top-level hostname is a key.
    expect(flatten(userData).filter((line) => line.startsWith('hostname\t'))).toEqual([
      'hostname\tfrom-user-data',
    ]);
    expect(flatten(userData)).toContain('write_files/0/content\t');
    expect(flatten(vendorData ?? '')).toEqual(['timezone\tEurope/Paris']);
  });

  it('reads YAML text meta-data and network-config as users write them', () => {
    expect(flatten("instance-id: i-1\nlocal-hostname: 'db2.lan'   # comment\n")).toEqual([
      'instance-id\ti-1',
      'local-hostname\tdb2.lan',
    ]);
    const network = [
      'network:',
      '  version: 2',
      '  ethernets:',
      '    id0:',
      '      match: {macaddress: "52:54:00:12:34:56"}',
      '      addresses:',
      '      - 10.0.0.5/24',
      '      gateway4: 10.0.0.1',
      '      nameservers:',
      '        addresses: [10.0.0.1, 10.0.0.2]',
      '    eth1:',
      '      dhcp4: yes',
      '',
    ].join('\n');
    expect(flatten(network)).toEqual([
      'network/version\t2',
      'network/ethernets/id0/match/macaddress\t52:54:00:12:34:56',
      'network/ethernets/id0/addresses/0\t10.0.0.5/24',
      'network/ethernets/id0/gateway4\t10.0.0.1',
      'network/ethernets/id0/nameservers/addresses/0\t10.0.0.1',
      'network/ethernets/id0/nameservers/addresses/1\t10.0.0.2',
      'network/ethernets/eth1/dhcp4\tyes',
    ]);
  });

  it('reads any JSON yamlJson writes as the same values (printable ASCII strings)', () => {
    const key = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,11}$/);
    const scalar = fc.oneof(
      fc
        .string({ unit: fc.constantFrom(...' azAZ09:,#{}[]"\'\\-./|>&*!%@`'.split('')) })
        .map((text) => text.trim() || 'x'),
      fc.integer({ min: -1_000_000, max: 1_000_000 }),
      fc.boolean(),
      fc.constant(null),
    );
    const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        scalar,
        fc.array(tie('tree'), { minLength: 1, maxLength: 4 }),
        fc.dictionary(key, tie('tree'), { minKeys: 1, maxKeys: 4 }),
      ),
    }));
    const document = fc.dictionary(key, tree, { minKeys: 1, maxKeys: 5 });
    fc.assert(
      fc.property(document, (value) => {
        expect(flatten(yamlJson(value))).toEqual(flatOf(value));
      }),
      { numRuns: 80 },
    );
  });
});
