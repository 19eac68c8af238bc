/**
 * A core VmSpec → cloud-init's NoCloud documents (`meta-data`, `user-data`, optional
 * `network-config` and `vendor-data`), the files of the seed ISO the libvirt driver attaches as a
 * read-only cdrom. Pure: no I/O, every refusal before the driver touches the host.
 *
 * Semantics, matched to the other providers:
 * - `cloudInit.userData` is written as it is (an empty `user-data` when absent: NoCloud needs the
 *   file to exist; cloud-init's `pathprefix2dict` lists `user-data` and `meta-data` as required).
 * - `meta-data`: `cloudInit.metaData` (object, or JSON text, merged; YAML text kept as it is, like
 *   vSphere) plus `instance-id` (the caller's, stable per VM: the domain UUID) and
 *   `local-hostname`, unless the metadata has them. The host name is `customization.hostname`,
 *   else the VM name when it is a valid host name (what Proxmox's cloud-init drive does), with
 *   `.customization.domain` appended: cloud-init splits `local-hostname` at the first dot into
 *   host name and domain (`DataSource.get_hostname`).
 * - `network-config`: `cloudInit.networkConfig` as it is (objects as JSON, which YAML reads);
 *   else network config version 2 generated from the NICs that ask for addressing (`ipv4`,
 *   `ipv6`, `dns`), each matched by MAC address — interface names differ between guests (eth0,
 *   ens3, enp1s0) — the same entries vSphere's guestinfo metadata carries. No `set-name`: the guest
 *   keeps its own interface names (cloud-init ≥ 20.1 names a v2 entry after the interface that
 *   has its MAC, LP #1855945; measured with 22.4.2 in cloud-init-oracle.test.ts; older cloud-init
 *   would use the entry key `nic<i>`). NICs that ask for nothing are left
 *   out (as on vSphere): cloud-init then leaves them to the image's own configuration. When no
 *   NIC asks for anything, no `network-config` is written and cloud-init's fallback applies
 *   (DHCP on the first NIC).
 * - `customization.timeZone` goes into `vendor-data` (`#cloud-config` with `timezone:`): cloud-init
 *   merges vendor-data under user-data, so the user's own config is never rewritten.
 * Documents are JSON where hvkit writes them: JSON is YAML, and needs no YAML library to be exact.
 */
import {
  type CloudInit,
  InvalidSpecError,
  type NicSpec,
  netplanEthernet,
  type SpecIssue,
  type VmSpec,
  type Warning,
} from '@hvkit/core';

/** The files of a NoCloud seed, by content. */
export interface NoCloudDocuments {
  /** `meta-data` (YAML; hvkit writes JSON). */
  readonly metaData: string;
  /** `user-data`, as given (empty when the spec has none). */
  readonly userData: string;
  /**
   * `network-config`: `cloudInit.networkConfig` as given, else version 2 generated from the NICs'
   * addressing; absent when the spec has neither.
   */
  readonly networkConfig?: string | undefined;
  /** `vendor-data`, when hvkit has settings that are not the user's (the time zone). */
  readonly vendorData?: string | undefined;
}

/** Options of {@link buildNoCloudDocuments}. */
export interface NoCloudOptions {
  /**
   * The `instance-id`, stable for the VM's life: give the domain UUID. cloud-init runs its
   * per-instance modules again whenever this changes.
   */
  readonly instanceId: string;
  /**
   * MAC of each NIC by index where `nics[i].mac` is not given (the driver assigns them before
   * defining the domain, see {@link randomMac}); `nics[i].mac` wins.
   */
  readonly macs?: readonly (string | undefined)[] | undefined;
}

/** The documents and what was not honoured exactly. */
export interface NoCloudPlan {
  readonly documents: NoCloudDocuments;
  readonly warnings: Warning[];
}

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
const INSTANCE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function addressed(nic: NicSpec): boolean {
  return nic.ipv4 !== undefined || nic.ipv6 !== undefined || nic.dns !== undefined;
}

/** True when the spec needs a NoCloud seed: cloud-init documents, customization or NIC addressing. */
export function needsNoCloudSeed(spec: VmSpec): boolean {
  const customization = spec.customization;
  return (
    spec.cloudInit !== undefined ||
    customization?.hostname !== undefined ||
    customization?.domain !== undefined ||
    customization?.timeZone !== undefined ||
    (spec.nics ?? []).some(addressed)
  );
}

/**
 * A random locally administered MAC in QEMU's `52:54:00` range, as libvirt picks when a NIC has
 * none. The driver assigns these before defining the domain, so the network config can match
 * NICs by MAC.
 */
export function randomMac(random: (bytes: number) => Uint8Array = defaultRandom): string {
  const tail = [...random(3)].map((byte) => byte.toString(16).padStart(2, '0'));
  return ['52', '54', '00', ...tail].join(':');
}

function defaultRandom(bytes: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(bytes));
}

// ---- addresses --------------------------------------------------------------------------------

function ipv4Number(address: string): number {
  return address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

/** An IPv6 address as a bigint (the text already passed core's `isIpv6`). */
function ipv6Number(address: string): bigint {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4Number(tail);
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = Array<string>(8 - headGroups.length - restGroups.length).fill('0');
  const groups = rest === undefined ? headGroups : [...headGroups, ...zeros, ...restGroups];
  return groups.reduce((sum, group) => (sum << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}

function sameNetwork(a: bigint, b: bigint, prefix: number, bits: number): boolean {
  const shift = BigInt(bits - prefix);
  return a >> shift === b >> shift;
}

/** Issues of a static IPv4 setting: the gateway must be another address on the same subnet. */
function checkIpv4(
  ipv4: { address: string; gateway?: string | undefined },
  path: string,
  issues: SpecIssue[],
): void {
  const [address = '', prefixText = ''] = ipv4.address.split('/');
  const prefix = Number(prefixText);
  const host = BigInt(ipv4Number(address));
  if (prefix <= 30) {
    const hostBits = BigInt(32 - prefix);
    const hostPart = host & ((1n << hostBits) - 1n);
    if (hostPart === 0n || hostPart === (1n << hostBits) - 1n)
      issues.push({
        path: `${path}.address`,
        code: 'invalid',
        message: `${address} is the network or broadcast address of /${prefix}`,
      });
  }
  if (ipv4.gateway === undefined) return;
  const gateway = BigInt(ipv4Number(ipv4.gateway));
  if (gateway === host || !sameNetwork(gateway, host, prefix, 32))
    issues.push({
      path: `${path}.gateway`,
      code: 'invalid',
      message: `must be another address inside ${ipv4.address}`,
    });
}

/** Issues of a static IPv6 setting: a link-local gateway, or another address of the prefix. */
function checkIpv6(
  ipv6: { address: string; gateway?: string | undefined },
  path: string,
  issues: SpecIssue[],
): void {
  if (ipv6.gateway === undefined) return;
  const [address = '', prefixText = ''] = ipv6.address.split('/');
  const host = ipv6Number(address);
  const gateway = ipv6Number(ipv6.gateway);
  const linkLocal = gateway >> 118n === 0x3fan; // fe80::/10
  if (gateway === host || (!linkLocal && !sameNetwork(gateway, host, Number(prefixText), 128)))
    issues.push({
      path: `${path}.gateway`,
      code: 'invalid',
      message: `must be a link-local address or another address inside ${ipv6.address}`,
    });
}

// ---- network config ---------------------------------------------------------------------------

/** Checks one addressed NIC; returns its MAC (lower case) or undefined after recording why. */
function checkNic(
  nic: NicSpec,
  index: number,
  macs: readonly (string | undefined)[],
  issues: SpecIssue[],
): string | undefined {
  const path = `nics[${index}]`;
  if (typeof nic.ipv4 === 'object') checkIpv4(nic.ipv4, `${path}.ipv4`, issues);
  if (typeof nic.ipv6 === 'object') checkIpv6(nic.ipv6, `${path}.ipv6`, issues);
  const mac = (nic.mac ?? macs[index])?.toLowerCase();
  if (mac === undefined)
    issues.push({
      path: `${path}.mac`,
      code: 'libvirt-cloud-init-mac',
      message:
        'cloud-init matches the network config to NICs by MAC: give one (or let the driver assign one before building the seed)',
    });
  return mac;
}

/** Only one NIC may carry each default route: two would compete in the guest. */
function checkDefaultRoutes(nics: readonly NicSpec[], issues: SpecIssue[]): void {
  for (const family of ['ipv4', 'ipv6'] as const) {
    let first: number | undefined;
    nics.forEach((nic, index) => {
      const setting = nic[family];
      if (typeof setting !== 'object' || setting.gateway === undefined) return;
      if (first === undefined) first = index;
      else
        issues.push({
          path: `nics[${index}].${family}.gateway`,
          code: 'invalid',
          message: `nics[${first}] already has the ${family === 'ipv4' ? 'IPv4' : 'IPv6'} default gateway`,
        });
    });
  }
}

/** Network config v2 from the NICs' addressing, or undefined when no NIC asks for any. */
function generatedNetworkConfig(
  nics: readonly NicSpec[],
  macs: readonly (string | undefined)[],
  issues: SpecIssue[],
): Record<string, unknown> | undefined {
  if (!nics.some(addressed)) return undefined;
  checkDefaultRoutes(nics, issues);
  const ethernets: Record<string, unknown> = {};
  nics.forEach((nic, index) => {
    if (!addressed(nic)) return;
    const mac = checkNic(nic, index, macs, issues);
    if (mac !== undefined) ethernets[`nic${index}`] = netplanEthernet(nic, { macaddress: mac });
  });
  return { version: 2, ethernets };
}

// ---- meta-data --------------------------------------------------------------------------------

/** The metadata as an object to merge into, or 'text' for YAML text (used as it is). */
function metadataObject(metaData: CloudInit['metaData']): Record<string, unknown> | 'text' {
  if (metaData === undefined) return {};
  if (typeof metaData !== 'string') return { ...metaData };
  try {
    const parsed: unknown = JSON.parse(metaData);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // YAML: not merged.
  }
  return 'text';
}

/** `host[.domain]` for `local-hostname`, or undefined; records why a domain cannot be used. */
function localHostname(spec: VmSpec, issues: SpecIssue[]): string | undefined {
  const customization = spec.customization;
  const host = customization?.hostname ?? (HOST_LABEL.test(spec.name) ? spec.name : undefined);
  const domain = customization?.domain?.replace(/\.$/, '');
  if (domain === undefined) return host;
  if (host === undefined) {
    issues.push({
      path: 'customization.hostname',
      code: 'required',
      message: `customization.domain needs a host name, and the VM name ${JSON.stringify(spec.name)} is not one`,
    });
    return undefined;
  }
  const fqdn = `${host}.${domain}`;
  if (fqdn.length > 253 || domain.split('.').some((label) => !HOST_LABEL.test(label))) {
    issues.push({
      path: 'customization.domain',
      code: 'invalid',
      message: `${JSON.stringify(fqdn)} is not a valid fully qualified name (labels of letters, digits and inner hyphens, at most 253 in all)`,
    });
    return undefined;
  }
  return fqdn;
}

function metaDataDocument(
  spec: VmSpec,
  instanceId: string,
  issues: SpecIssue[],
  warnings: Warning[],
): string {
  const hostname = localHostname(spec, issues);
  const metadata = metadataObject(spec.cloudInit?.metaData);
  if (metadata === 'text') {
    const customized =
      spec.customization?.hostname !== undefined || spec.customization?.domain !== undefined;
    if (customized)
      warnings.push({
        type: 'other',
        feature: 'customization.hostname',
        details:
          'not merged into YAML metadata: set local-hostname in cloudInit.metaData, or give it as an object or JSON',
      });
    return spec.cloudInit?.metaData as string;
  }
  metadata['instance-id'] ??= instanceId;
  if (hostname !== undefined) metadata['local-hostname'] ??= hostname;
  return yamlJson(metadata);
}

// ---- documents --------------------------------------------------------------------------------

/** A JSON string (kept as it is), or a number in exponent form without a dot (given one). */
const NUMBER_TOKEN = /("(?:[^"\\]|\\.)*")|(?<![\d.])(-?\d+)(e[+-]\d+)/g;
/**
 * What JSON.stringify leaves raw (only ever inside strings) and PyYAML does not read back as
 * itself: DEL, C1 controls and U+FFFE/U+FFFF are refused, NEL is a line break folded to a space,
 * U+2028/U+2029 are line breaks too.
 */
const YAML_UNPRINTABLE = /[\u007f-\u009f\u2028\u2029\ufffe\uffff]/g;

/**
 * JSON that YAML 1.1 (PyYAML, which cloud-init uses) reads back as the same value. Two gaps are
 * closed. PyYAML's float needs a dot, so JSON's `1e+21` would load as a string: numbers in
 * exponent form are written `1.0e+21`. Some characters JSON leaves raw PyYAML refuses (DEL, C1
 * controls, U+FFFE/U+FFFF: "unacceptable character") or reads as line breaks (NEL, U+2028,
 * U+2029: NEL is folded to a space): they are written as `\uXXXX`, which both read. Checked against PyYAML 6.0 (`yaml.safe_load` equals `json.loads`) in
 * nocloud.test.ts, including control characters, U+2028, astral characters and strings like
 * `no`, `on`, `~`, `0777` or dates (quoted in JSON, so never booleans, nulls or numbers).
 */
export function yamlJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2)
    .replace(
      NUMBER_TOKEN,
      (_token, string: string | undefined, mantissa: string, exponent: string) =>
        string ?? `${mantissa}.0${exponent}`,
    )
    .replace(
      YAML_UNPRINTABLE,
      (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  return `${text}\n`;
}

function documentText(document: string | Record<string, unknown>): string {
  return typeof document === 'string' ? document : yamlJson(document);
}

function networkConfigDocument(
  spec: VmSpec,
  macs: readonly (string | undefined)[],
  issues: SpecIssue[],
  warnings: Warning[],
): string | undefined {
  const nics = spec.nics ?? [];
  const given = spec.cloudInit?.networkConfig;
  if (given === undefined) {
    const generated = generatedNetworkConfig(nics, macs, issues);
    return generated === undefined ? undefined : documentText(generated);
  }
  nics.forEach((nic, index) => {
    if (addressed(nic))
      warnings.push({
        type: 'other',
        feature: `nics[${index}]`,
        details: 'addressing ignored: cloudInit.networkConfig is given and used as it is',
      });
  });
  return documentText(given);
}

/**
 * The NoCloud documents for a validated spec, or undefined when it needs no seed (no cloud-init
 * documents, no customization, no NIC addressing: see {@link needsNoCloudSeed}).
 *
 * @throws InvalidSpecError (every issue, by path) for what cannot be written: an addressed NIC
 *   without a known MAC (`nics[i].mac`), a static gateway outside the address's subnet or equal to
 *   it, a network/broadcast address (`nics[i].ipv4.address`), a second default gateway of a family
 *   (`nics[j].ipv4.gateway`), a domain without a host name (`customization.hostname`) or making an
 *   invalid FQDN (`customization.domain`).
 * @throws TypeError for an `instanceId` that is not 1-128 of `[A-Za-z0-9._:-]` (a caller bug).
 */
export function buildNoCloudDocuments(
  spec: VmSpec,
  options: NoCloudOptions,
): NoCloudPlan | undefined {
  if (!INSTANCE_ID.test(options.instanceId))
    throw new TypeError('buildNoCloudDocuments: instanceId must be 1-128 of [A-Za-z0-9._:-]');
  if (!needsNoCloudSeed(spec)) return undefined;
  const issues: SpecIssue[] = [];
  const warnings: Warning[] = [];
  const metaData = metaDataDocument(spec, options.instanceId, issues, warnings);
  const networkConfig = networkConfigDocument(spec, options.macs ?? [], issues, warnings);
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'spec' });
  const timeZone = spec.customization?.timeZone;
  return {
    documents: {
      metaData,
      userData: spec.cloudInit?.userData ?? '',
      networkConfig,
      vendorData:
        timeZone === undefined ? undefined : `#cloud-config\n${yamlJson({ timezone: timeZone })}`,
    },
    warnings,
  };
}
