/**
 * Parsers of virsh's text outputs, as printed by `virsh -q` (no table headers, no banners) of
 * libvirt 9.0. Recorded outputs are in `__fixtures__/`. Where a value can be any text (a domain
 * or volume name in a table), the table form is ambiguous and the doc comment says so: prefer
 * `--name` lists or XML for such values.
 */
import { ProviderApiError } from '@hvkit/core';

function parseFailure(what: string, detail: string): ProviderApiError {
  return new ProviderApiError(`virsh ${what}: unexpected output: ${detail}`, {
    fault: 'virsh-output',
  });
}

function outputLines(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  return lines;
}

// virsh's tables (vshTable) pad every column and put three spaces between columns.
const COLUMN_GAP = / {3,}/;

function tableRows(text: string): string[][] {
  return outputLines(text)
    .filter((line) => line.trim() !== '')
    .map((line) => line.trim().split(COLUMN_GAP));
}

/** `list --all --name` (or any `--name` list): one name per line, in virsh's order. Names are exact, spaces included. */
export function parseNameList(text: string): string[] {
  // `--name` prints the bare name; only the empty last line is not one.
  return outputLines(text).filter((line) => line !== '');
}

/** Key/value lines of the `Key:   value` form (`dominfo`, `nodeinfo`, `pool-info`, `vol-info`, `net-info`). */
export type KeyValueOutput = Readonly<Record<string, string>>;

/**
 * `Key:  value` lines → an object keyed by the text before the first `: `. A line starting with
 * a blank continues the previous value (dominfo's `Messages:` is multi-line, continuation lines
 * indented), joined with `\n`.
 */
export function parseKeyValues(text: string): KeyValueOutput {
  const out: Record<string, string> = {};
  let last: string | undefined;
  for (const line of outputLines(text)) {
    if (line.trim() === '') continue;
    if (/^\s/.test(line) && last !== undefined) {
      out[last] = `${out[last]}\n${line.trim()}`;
      continue;
    }
    const at = line.indexOf(':');
    if (at <= 0) throw parseFailure('key/value', JSON.stringify(line));
    last = line.slice(0, at).trim();
    out[last] = line.slice(at + 1).trim();
  }
  return out;
}

/** libvirt's domain states as `dominfo`/`domstate` name them. */
export type DomainStateName =
  | 'running'
  | 'idle'
  | 'paused'
  | 'in shutdown'
  | 'shut off'
  | 'crashed'
  | 'pmsuspended'
  | 'no state';

const DOMAIN_STATES: readonly DomainStateName[] = [
  'running',
  'idle',
  'paused',
  'in shutdown',
  'shut off',
  'crashed',
  'pmsuspended',
  'no state',
];

function domainState(text: string, what: string): DomainStateName {
  const state = DOMAIN_STATES.find((candidate) => candidate === text);
  if (!state) throw parseFailure(what, `unknown state ${JSON.stringify(text)}`);
  return state;
}

/** `dominfo <domain>`, the fields the provider reads. */
export interface DomInfo {
  /** Running domain id; undefined when shut off (`-`). */
  readonly id: number | undefined;
  readonly name: string;
  readonly uuid: string;
  readonly osType: string;
  readonly state: DomainStateName;
  /** Current vCPUs. */
  readonly cpus: number;
  /** CPU time used, seconds; undefined when shut off. */
  readonly cpuTimeSeconds: number | undefined;
  readonly maxMemoryKiB: number;
  readonly usedMemoryKiB: number;
  readonly persistent: boolean;
  readonly autostart: boolean;
  readonly managedSave: boolean;
  /** `Messages:` lines (taints), one per entry; empty when none. */
  readonly messages: readonly string[];
}

function kib(value: string | undefined, what: string): number {
  const match = /^(\d+) KiB$/.exec(value ?? '');
  if (!match) throw parseFailure(what, `expected "<n> KiB", got ${JSON.stringify(value)}`);
  return Number(match[1]);
}

function integer(value: string | undefined, what: string): number {
  if (value === undefined || !/^-?\d+$/.test(value)) {
    throw parseFailure(what, `expected an integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function field(values: KeyValueOutput, key: string, what: string): string {
  const value = values[key];
  if (value === undefined) throw parseFailure(what, `no "${key}" field`);
  return value;
}

/** Parses `dominfo`. @throws ProviderApiError when a field is missing or malformed. */
export function parseDomInfo(text: string): DomInfo {
  const values = parseKeyValues(text);
  const what = 'dominfo';
  const id = field(values, 'Id', what);
  const cpuTime = values['CPU time'];
  return {
    id: id === '-' ? undefined : integer(id, what),
    name: field(values, 'Name', what),
    uuid: field(values, 'UUID', what),
    osType: field(values, 'OS Type', what),
    state: domainState(field(values, 'State', what), what),
    cpus: integer(field(values, 'CPU(s)', what), what),
    cpuTimeSeconds: cpuTime === undefined ? undefined : Number.parseFloat(cpuTime),
    maxMemoryKiB: kib(values['Max memory'], what),
    usedMemoryKiB: kib(values['Used memory'], what),
    persistent: field(values, 'Persistent', what) === 'yes',
    autostart: field(values, 'Autostart', what) === 'enable',
    managedSave: field(values, 'Managed save', what) === 'yes',
    messages: (values.Messages ?? '').split('\n').filter((line) => line !== ''),
  };
}

/** `domstate --reason`: the state and libvirt's reason for it (`running (booted)`, `shut off (saved)`). */
export interface DomStateReason {
  readonly state: DomainStateName;
  readonly reason: string;
}

/** Parses `domstate --reason`. */
export function parseDomStateReason(text: string): DomStateReason {
  const line = outputLines(text)[0] ?? '';
  const match = /^(.+?) \((.*)\)$/.exec(line.trim());
  if (!match) throw parseFailure('domstate --reason', JSON.stringify(line));
  return { state: domainState(match[1] ?? '', 'domstate'), reason: match[2] ?? '' };
}

/** One domain's block of `domstats`: its name and its `key=value` fields as text. */
export interface DomStats {
  readonly name: string;
  /** Every `key=value` line, value as printed (numbers stay text: some exceed 2^53). */
  readonly fields: Readonly<Record<string, string>>;
}

/**
 * Parses `domstats`: blocks starting `Domain: '<name>'` followed by indented `key=value` lines.
 * The name is taken between the first `'` and the last `'` of the header (virsh does not escape
 * quotes in it).
 */
export function parseDomStats(text: string): DomStats[] {
  const out: { name: string; fields: Record<string, string> }[] = [];
  for (const line of outputLines(text)) {
    if (line.trim() === '') continue;
    if (line.startsWith("Domain: '") && line.endsWith("'")) {
      out.push({ name: line.slice("Domain: '".length, -1), fields: {} });
      continue;
    }
    const current = out[out.length - 1];
    const at = line.indexOf('=');
    if (!current || at <= 0) throw parseFailure('domstats', JSON.stringify(line));
    current.fields[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return out;
}

/** One address of `domifaddr`. */
export interface DomIfAddress {
  /** Interface name in the guest (agent) or on the host (lease: `vnetN`). */
  readonly interface: string;
  readonly mac: string;
  readonly protocol: 'ipv4' | 'ipv6';
  readonly address: string;
  readonly prefix: number;
}

/**
 * Parses `domifaddr --source agent|lease` (columns Name, MAC address, Protocol, Address/prefix;
 * `-` in the first two columns means "same interface as the line before").
 */
export function parseDomIfAddr(text: string): DomIfAddress[] {
  const out: DomIfAddress[] = [];
  let name = '';
  let mac = '';
  for (const row of tableRows(text)) {
    const [rowName, rowMac, protocol, cidr] = row;
    if (row.length !== 4 || (protocol !== 'ipv4' && protocol !== 'ipv6') || !cidr) {
      throw parseFailure('domifaddr', JSON.stringify(row));
    }
    if (rowName !== '-') name = rowName ?? '';
    if (rowMac !== '-') mac = rowMac ?? '';
    const slash = cidr.lastIndexOf('/');
    if (slash <= 0) throw parseFailure('domifaddr', `address ${JSON.stringify(cidr)}`);
    out.push({
      interface: name,
      mac,
      protocol,
      address: cidr.slice(0, slash),
      prefix: integer(cidr.slice(slash + 1), 'domifaddr'),
    });
  }
  return out;
}

/** A snapshot and its parent, from `snapshot-list --tree`. */
export interface SnapshotTreeNode {
  readonly name: string;
  /** Undefined for a root. */
  readonly parent: string | undefined;
}

/**
 * Parses `snapshot-list --tree` (virsh's vshTreePrint): roots at column 0; a child line is its
 * parent's indent plus `+- name`, where the indent is two spaces under a root and grows by four
 * (`| ` or two spaces, then two spaces) per level; lines of only `|` and spaces are connectors.
 * Returned in printed (depth-first) order.
 */
export function parseSnapshotTree(text: string): SnapshotTreeNode[] {
  const out: SnapshotTreeNode[] = [];
  // Names on the path from the root to the last node printed, by depth.
  const stack: string[] = [];
  for (const line of outputLines(text)) {
    const child = /^([ |]{2,})\+- (.*)$/.exec(line);
    if (child) {
      const indent = (child[1] ?? '').length;
      const parent = stack[(indent - 2) / 4];
      if ((indent - 2) % 4 !== 0 || parent === undefined) {
        throw parseFailure('snapshot-list --tree', JSON.stringify(line));
      }
      const depth = (indent - 2) / 4 + 1;
      const name = child[2] ?? '';
      stack.length = depth;
      stack.push(name);
      out.push({ name, parent });
      continue;
    }
    if (/^[ |]*$/.test(line)) continue;
    if (/^[ |]/.test(line)) throw parseFailure('snapshot-list --tree', JSON.stringify(line));
    stack.length = 0;
    stack.push(line);
    out.push({ name: line, parent: undefined });
  }
  return out;
}

/** One row of `vol-list <pool> --details`. */
export interface VolListEntry {
  readonly name: string;
  readonly path: string;
  /** `file`, `block`, `dir`, … */
  readonly type: string;
  /** As printed, e.g. `64.00 MiB` (rounded; read `vol-info --bytes` for exact sizes). */
  readonly capacity: string;
  readonly allocation: string;
}

/**
 * Parses `vol-list --details` (Name, Path, Type, Capacity, Allocation). Columns are split at
 * runs of three or more spaces, so a name or path containing three spaces in a row is not
 * representable here: read such volumes from XML.
 */
export function parseVolListDetails(text: string): VolListEntry[] {
  return tableRows(text).map((row) => {
    const [name, path, type, capacity, allocation] = row;
    if (row.length !== 5 || !name || !path || !type || !capacity || !allocation) {
      throw parseFailure('vol-list --details', JSON.stringify(row));
    }
    return { name, path, type, capacity, allocation };
  });
}

/** One row of `pool-list --all --details`. */
export interface PoolListEntry {
  readonly name: string;
  /** `running`, `inactive`, `building`, `degraded`, `inaccessible`. */
  readonly state: string;
  readonly autostart: boolean;
  readonly persistent: boolean;
  /** As printed (`251.97 GiB`); `-` for an inactive pool. */
  readonly capacity: string;
  readonly allocation: string;
  readonly available: string;
}

/** Parses `pool-list --details` (Name, State, Autostart, Persistent, Capacity, Allocation, Available). */
export function parsePoolListDetails(text: string): PoolListEntry[] {
  return tableRows(text).map((row) => {
    const [name, state, autostart, persistent, capacity, allocation, available] = row;
    if (row.length !== 7 || !name || !state || !capacity || !allocation || !available) {
      throw parseFailure('pool-list --details', JSON.stringify(row));
    }
    return {
      name,
      state,
      autostart: autostart === 'yes',
      persistent: persistent === 'yes',
      capacity,
      allocation,
      available,
    };
  });
}

/** One row of `net-list --all`. */
export interface NetListEntry {
  readonly name: string;
  readonly active: boolean;
  readonly autostart: boolean;
  readonly persistent: boolean;
}

/** Parses `net-list --all` (Name, State, Autostart, Persistent). */
export function parseNetList(text: string): NetListEntry[] {
  return tableRows(text).map((row) => {
    const [name, state, autostart, persistent] = row;
    if (row.length !== 4 || !name || (state !== 'active' && state !== 'inactive')) {
      throw parseFailure('net-list', JSON.stringify(row));
    }
    return {
      name,
      active: state === 'active',
      autostart: autostart === 'yes',
      persistent: persistent === 'yes',
    };
  });
}

/** `vncdisplay`: where QEMU's VNC server listens on the host. */
export interface VncDisplay {
  readonly host: string;
  /** Display number; the TCP port is 5900 + display. */
  readonly display: number;
  readonly port: number;
}

/** Parses `vncdisplay` (`127.0.0.1:1`, `[::1]:0`, `:0` = all addresses). */
export function parseVncDisplay(text: string): VncDisplay {
  const line = (outputLines(text)[0] ?? '').trim();
  const match = /^(.*):(\d+)$/.exec(line);
  if (!match) throw parseFailure('vncdisplay', JSON.stringify(line));
  const host = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  const display = Number(match[2]);
  return { host: host === '' ? '0.0.0.0' : host, display, port: 5900 + display };
}

/** `nodeinfo` of the host. */
export interface NodeInfo {
  readonly cpuModel: string;
  readonly cpus: number;
  readonly cpuMHz: number;
  readonly sockets: number;
  readonly coresPerSocket: number;
  readonly threadsPerCore: number;
  readonly numaCells: number;
  readonly memoryKiB: number;
}

/** Parses `nodeinfo`. */
export function parseNodeInfo(text: string): NodeInfo {
  const values = parseKeyValues(text);
  const what = 'nodeinfo';
  const mhz = /^(\d+) MHz$/.exec(field(values, 'CPU frequency', what));
  if (!mhz) throw parseFailure(what, 'CPU frequency');
  return {
    cpuModel: field(values, 'CPU model', what),
    cpus: integer(field(values, 'CPU(s)', what), what),
    cpuMHz: Number(mhz[1]),
    sockets: integer(field(values, 'CPU socket(s)', what), what),
    coresPerSocket: integer(field(values, 'Core(s) per socket', what), what),
    threadsPerCore: integer(field(values, 'Thread(s) per core', what), what),
    numaCells: integer(field(values, 'NUMA cell(s)', what), what),
    memoryKiB: kib(values['Memory size'], what),
  };
}

/** `version`: libvirt library, daemon and hypervisor versions. */
export interface VirshVersion {
  /** libvirt library virsh runs with (`9.0.0`). */
  readonly library: string;
  /** libvirtd's version (`Running against daemon:`), when it differs from the library's or is printed. */
  readonly daemon: string | undefined;
  /** Hypervisor name and version (`QEMU`, `7.2.22`). */
  readonly hypervisor: { readonly name: string; readonly version: string };
}

/** Parses `version`. */
export function parseVersion(text: string): VirshVersion {
  const values = parseKeyValues(text);
  const what = 'version';
  const library = /^libvirt (\S+)$/.exec(field(values, 'Using library', what));
  const hypervisor = /^(\S+) (\S+)$/.exec(field(values, 'Running hypervisor', what));
  if (!library || !hypervisor) throw parseFailure(what, JSON.stringify(text));
  const daemon = values['Running against daemon'];
  return {
    library: library[1] ?? '',
    daemon: daemon?.replace(/^libvirt /, ''),
    hypervisor: { name: hypervisor[1] ?? '', version: hypervisor[2] ?? '' },
  };
}
