import { execFileSync } from 'node:child_process';
import { type VmSpec, type VmSpecInput, VmSpecSchema } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { issuesOf } from '../../test/issues-of.js';
import { buildNoCloudDocuments, needsNoCloudSeed, randomMac, yamlJson } from './nocloud.js';

const UUID = '6f1c1a3e-9a53-4d8e-8f0e-0a1b2c3d4e5f';
const MAC0 = '52:54:00:AA:BB:01';
const MAC1 = '52:54:00:aa:bb:02';

function spec(input: Partial<VmSpecInput> = {}): VmSpec {
  return VmSpecSchema.parse({
    name: 'web1',
    cpu: { count: 1 },
    memory: { sizeMiB: 256 },
    ...input,
  });
}

function build(input: Partial<VmSpecInput>, macs?: (string | undefined)[]) {
  const plan = buildNoCloudDocuments(spec(input), { instanceId: UUID, macs });
  if (plan === undefined) throw new Error('expected documents');
  return plan;
}

const json = (text: string | undefined): unknown => JSON.parse(text ?? 'null');

describe('buildNoCloudDocuments', () => {
  it('needs no seed for a spec without cloud-init, customization or addressing', () => {
    const plain = spec({ nics: [{ network: 'default' }] });
    expect(needsNoCloudSeed(plain)).toBe(false);
    expect(buildNoCloudDocuments(plain, { instanceId: UUID })).toBeUndefined();
  });

  it('static IPv4 + user-data: user-data as given, meta-data, v2 network config matched by MAC', () => {
    const userData =
      '#cloud-config\nusers:\n  - name: ops\n    ssh_authorized_keys: ["ssh-ed25519 AAAA ops"]\n';
    const { documents, warnings } = build({
      cloudInit: { userData },
      nics: [
        {
          network: 'default',
          mac: MAC0,
          ipv4: { address: '192.168.122.50/24', gateway: '192.168.122.1' },
          dns: { servers: ['192.168.122.1', '2001:db8::53'], search: ['example.test'] },
        },
      ],
    });
    expect(warnings).toEqual([]);
    expect(documents.userData).toBe(userData);
    expect(json(documents.metaData)).toEqual({ 'instance-id': UUID, 'local-hostname': 'web1' });
    expect(json(documents.networkConfig)).toEqual({
      version: 2,
      ethernets: {
        nic0: {
          match: { macaddress: '52:54:00:aa:bb:01' },
          dhcp4: false,
          addresses: ['192.168.122.50/24'],
          routes: [{ to: '0.0.0.0/0', via: '192.168.122.1' }],
          nameservers: { addresses: ['192.168.122.1', '2001:db8::53'], search: ['example.test'] },
        },
      },
    });
    expect(documents.vendorData).toBeUndefined();
  });

  it('DHCP, SLAAC and static IPv6; MACs from the driver where the spec has none, the spec MAC wins', () => {
    const { documents } = build(
      {
        nics: [
          { network: 'default', ipv4: 'dhcp', ipv6: 'slaac' },
          {
            network: 'default',
            mac: MAC1,
            ipv4: 'none',
            ipv6: { address: '2001:db8::5/64', gateway: 'fe80::1' },
          },
          { network: 'default' },
        ],
      },
      ['52:54:00:00:00:0A', '52:54:00:00:00:0b', '52:54:00:00:00:0c'],
    );
    expect(json(documents.networkConfig)).toEqual({
      version: 2,
      ethernets: {
        nic0: {
          match: { macaddress: '52:54:00:00:00:0a' },
          dhcp4: true,
          dhcp6: false,
          'accept-ra': true,
        },
        nic1: {
          match: { macaddress: MAC1 },
          dhcp4: false,
          dhcp6: false,
          addresses: ['2001:db8::5/64'],
          routes: [{ to: '::/0', via: 'fe80::1' }],
        },
      },
    });
  });

  it('writes an empty user-data when none is given (NoCloud needs the file)', () => {
    const { documents } = build({ customization: { hostname: 'db' } });
    expect(documents.userData).toBe('');
    expect(documents.networkConfig).toBeUndefined();
    expect(json(documents.metaData)).toEqual({ 'instance-id': UUID, 'local-hostname': 'db' });
  });

  it('host name: customization.hostname, else the VM name when it is one; the domain is appended', () => {
    const meta = (input: Partial<VmSpecInput>) => json(build(input).documents.metaData);
    expect(meta({ customization: { hostname: 'db', domain: 'corp.example.' } })).toMatchObject({
      'local-hostname': 'db.corp.example',
    });
    expect(meta({ customization: { domain: 'corp.example' } })).toMatchObject({
      'local-hostname': 'web1.corp.example',
    });
    expect(meta({ name: 'My VM', cloudInit: { userData: '' } })).toEqual({ 'instance-id': UUID });
    expect(
      issuesOf(() => build({ name: 'My VM', customization: { domain: 'corp.example' } })),
    ).toEqual([
      {
        path: 'customization.hostname',
        message: 'customization.domain needs a host name, and the VM name "My VM" is not one',
      },
    ]);
    expect(
      issuesOf(() => build({ customization: { hostname: 'db', domain: 'a..b' } }))[0]?.path,
    ).toBe('customization.domain');
  });

  it('merges into metaData given as an object or JSON (theirs wins), keeps YAML text as it is', () => {
    const object = build({
      customization: { hostname: 'db' },
      cloudInit: { metaData: { 'instance-id': 'mine', region: 'lab' } },
    });
    expect(json(object.documents.metaData)).toEqual({
      'instance-id': 'mine',
      region: 'lab',
      'local-hostname': 'db',
    });
    const text = build({ cloudInit: { metaData: '{"local-hostname":"theirs"}' } });
    expect(json(text.documents.metaData)).toEqual({
      'local-hostname': 'theirs',
      'instance-id': UUID,
    });
    const yaml = 'instance-id: keep\nlocal-hostname: yaml-host\n';
    const kept = build({ customization: { hostname: 'db' }, cloudInit: { metaData: yaml } });
    expect(kept.documents.metaData).toBe(yaml);
    expect(kept.warnings).toEqual([expect.objectContaining({ feature: 'customization.hostname' })]);
    expect(build({ cloudInit: { metaData: yaml } }).warnings).toEqual([]);
  });

  it('uses cloudInit.networkConfig as it is and warns that NIC addressing is ignored', () => {
    const given = 'version: 2\nethernets: {}\n';
    const plan = build({
      cloudInit: { networkConfig: given },
      nics: [{ network: 'default', ipv4: 'dhcp' }],
    });
    expect(plan.documents.networkConfig).toBe(given);
    expect(plan.warnings).toEqual([expect.objectContaining({ feature: 'nics[0]' })]);
    const object = build({ cloudInit: { networkConfig: { version: 1, config: [] } } });
    expect(json(object.documents.networkConfig)).toEqual({ version: 1, config: [] });
  });

  it('puts the time zone in vendor-data, leaving user-data untouched', () => {
    const { documents } = build({
      cloudInit: { userData: '#!/bin/sh\necho hi\n' },
      customization: { timeZone: 'Europe/Paris' },
    });
    expect(documents.userData).toBe('#!/bin/sh\necho hi\n');
    expect(documents.vendorData?.startsWith('#cloud-config\n')).toBe(true);
    expect(json(documents.vendorData?.slice('#cloud-config\n'.length))).toEqual({
      timezone: 'Europe/Paris',
    });
  });

  it('refuses, all at once and by field, what the guest could not apply', () => {
    expect(
      issuesOf(() =>
        build({
          nics: [
            {
              network: 'default',
              mac: MAC0,
              ipv4: { address: '10.0.0.5/24', gateway: '10.0.1.1' },
            },
            { network: 'default', ipv4: 'dhcp' },
            { network: 'default', mac: '52:54:00:00:00:03', ipv4: { address: '10.0.2.255/24' } },
            {
              network: 'default',
              mac: '52:54:00:00:00:04',
              ipv4: { address: '10.0.3.7/24', gateway: '10.0.3.7' },
            },
            {
              network: 'default',
              mac: '52:54:00:00:00:05',
              ipv6: { address: '2001:db8::5/64', gateway: '2001:db9::1' },
            },
          ],
        }),
      ),
    ).toEqual([
      { path: 'nics[3].ipv4.gateway', message: 'nics[0] already has the IPv4 default gateway' },
      { path: 'nics[0].ipv4.gateway', message: 'must be another address inside 10.0.0.5/24' },
      {
        path: 'nics[1].mac',
        message:
          'cloud-init matches the network config to NICs by MAC: give one (or let the driver assign one before building the seed)',
      },
      {
        path: 'nics[2].ipv4.address',
        message: '10.0.2.255 is the network or broadcast address of /24',
      },
      { path: 'nics[3].ipv4.gateway', message: 'must be another address inside 10.0.3.7/24' },
      {
        path: 'nics[4].ipv6.gateway',
        message: 'must be a link-local address or another address inside 2001:db8::5/64',
      },
    ]);
  });

  it('accepts gateways inside the subnet in any textual form, /31 and /32 hosts without one', () => {
    const { documents } = build({
      nics: [
        { network: 'a', mac: MAC0, ipv4: { address: '10.0.0.0/31', gateway: '10.0.0.1' } },
        {
          network: 'b',
          mac: MAC1,
          ipv6: { address: '2001:db8:0:0::5/64', gateway: '2001:db8::ffff:1.2.3.4' },
        },
        { network: 'c', mac: '52:54:00:00:00:03', ipv4: { address: '10.9.9.9/32' } },
      ],
    });
    expect(Object.keys((json(documents.networkConfig) as { ethernets: object }).ethernets)).toEqual(
      ['nic0', 'nic1', 'nic2'],
    );
  });

  it('refuses a malformed instanceId as a caller bug', () => {
    expect(() => buildNoCloudDocuments(spec(), { instanceId: 'a b' })).toThrow(TypeError);
  });

  it('property: user-data comes back unchanged and every generated document is JSON', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 2000 }).filter((value) => !value.includes('\u0000')),
        fc.constantFrom('dhcp' as const, { address: '10.1.2.3/16', gateway: '10.1.0.1' }),
        (userData, ipv4) => {
          const { documents } = build({
            cloudInit: { userData },
            nics: [{ network: 'n', mac: MAC0, ipv4 }],
          });
          expect(documents.userData).toBe(userData);
          expect(() => JSON.parse(documents.metaData)).not.toThrow();
          expect(() => JSON.parse(documents.networkConfig ?? '')).not.toThrow();
        },
      ),
    );
  });
});

describe('randomMac', () => {
  it('is in QEMU 52:54:00 with three random bytes, lower case', () => {
    expect(randomMac(() => new Uint8Array([0xab, 0x0c, 0xff]))).toBe('52:54:00:ab:0c:ff');
    expect(randomMac()).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
  });
});

// ---- oracle: cloud-init reads the documents with PyYAML (`yaml.safe_load`) --------------------

const PYTHON_CHECK = `
import json, sys, yaml
docs = json.load(sys.stdin)
def same(d):
    try:
        return yaml.safe_load(d) == json.loads(d)
    except yaml.YAMLError:
        return False
print(json.dumps([i for i, d in enumerate(docs) if not same(d)]))
`;

/** Characters YAML treats specially (breaks, refused, escapes, quotes), to meet often. */
const AWKWARD_CHARACTER = fc.constantFrom(
  ...'\u0085\u2028\u2029\u007f\u0080\u009f\ufffe\uffff\ufeff\u0000\t\n\r"\\:#-? \ud800a'.split(''),
);

function pyYamlMismatches(documents: string[]): number[] {
  const out = execFileSync('python3', ['-c', PYTHON_CHECK], {
    input: JSON.stringify(documents),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as number[];
}

const hasPyYaml = (() => {
  try {
    execFileSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasPyYaml)('yamlJson read by PyYAML (what cloud-init parses with)', () => {
  it('reads the awkward cases as JSON does: exponents, DEL/C1/U+FFFF, YAML 1.1 words', () => {
    const awkward = {
      big: 1e21,
      small: -5e-7,
      mixed: 1.5e300,
      text: 'a\u007fb\u0085c\u009fd\uffffe\u2028f\ud83d\ude00\u0001',
      words: ['no', 'on', 'off', 'y', '~', 'null', '0777', '0x1f', '2001-12-14', '<<', '1e3'],
      lone: '\ud800',
    };
    const text = yamlJson(awkward);
    expect(text).toContain('1.0e+21');
    expect(text).toContain('\\u007f');
    expect(pyYamlMismatches([text, JSON.stringify(awkward)])).toEqual([1]);
  });

  it('property: any JSON object as meta-data loads in PyYAML as it does in JSON', () => {
    const samples = fc.sample(
      fc.dictionary(
        fc.string({ unit: 'binary' }),
        fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ unit: AWKWARD_CHARACTER })),
      ),
      { numRuns: 150, seed: 20261121 },
    );
    const documents = samples.map(
      (metaData) =>
        buildNoCloudDocuments(spec({ cloudInit: { metaData } }), { instanceId: UUID })?.documents
          .metaData ?? '',
    );
    expect(pyYamlMismatches(documents)).toEqual([]);
  });
});
