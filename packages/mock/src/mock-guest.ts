/**
 * What the simulated guest reports through its tools: state, hostname, OS, addresses, uptime and
 * file systems. Only a running VM with tools installed answers; `guestOs: 'other'` has no tools.
 */
import type { CloudInit, GuestInfo, ToolsState } from '@hvkit/core';
import { unitHash } from './mock-random.js';
import type { MockNicRecord, MockVmRecord } from './mock-state.js';

/** `running` while on with tools; `not-installed` for `guestOs: 'other'`; else `not-running`. */
export function toolsStateOf(vm: Pick<MockVmRecord, 'guestOs' | 'powerState'>): ToolsState {
  if (vm.guestOs === 'other') return 'not-installed';
  return vm.powerState === 'on' ? 'running' : 'not-running';
}

/** The VM name made into a host name: lower case, letters, digits and inner hyphens, ≤ 63. */
export function sanitiseHostname(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
  return cleaned === '' ? 'localhost' : cleaned;
}

function documentValue(document: unknown, key: string): string | undefined {
  if (typeof document === 'string') {
    const pattern = new RegExp(`^\\s*${key}\\s*:\\s*["']?([A-Za-z0-9.-]+)["']?\\s*$`, 'm');
    return pattern.exec(document)?.[1];
  }
  if (document !== null && typeof document === 'object') {
    const value = (document as Record<string, unknown>)[key];
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

/**
 * The host name cloud-init would set: user-data `hostname` (or the first label of `fqdn`) wins
 * over meta-data `local-hostname`, as in cloud-init itself.
 */
export function cloudInitHostname(cloudInit: CloudInit | undefined): string | undefined {
  if (!cloudInit) return undefined;
  const fqdn = documentValue(cloudInit.userData, 'fqdn');
  return (
    documentValue(cloudInit.userData, 'hostname') ??
    fqdn?.split('.')[0] ??
    documentValue(cloudInit.metaData, 'local-hostname') ??
    documentValue(cloudInit.metaData, 'hostname')
  );
}

const OS_NAMES: Record<MockVmRecord['guestOs'], string> = {
  linux: 'Ubuntu 24.04 LTS',
  windows: 'Microsoft Windows Server 2022',
  other: 'Other',
};

function withoutPrefix(cidr: string): string {
  return cidr.split('/')[0] as string;
}

function slaacAddress(mac: string): string {
  const bytes = mac.split(':').map((part) => Number.parseInt(part, 16));
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0] = bytes;
  const group = (high: number, low: number) => ((high << 8) | low).toString(16);
  return `fd00::${group(a ^ 0x02, b)}:${group(c, 0xff)}:${group(0xfe, d)}:${group(e, f)}`;
}

/**
 * Addresses the guest has on one NIC: the static address when given, else the simulated DHCP
 * lease (IPv4 omitted or `dhcp`), none for `none`; IPv6 static, or a ULA from the MAC for
 * `dhcp`/`slaac`.
 */
export function nicAddresses(nic: MockNicRecord): string[] {
  const output: string[] = [];
  if (typeof nic.ipv4 === 'object') output.push(withoutPrefix(nic.ipv4.address));
  else if (nic.ipv4 !== 'none') output.push(nic.dhcpAddress);
  if (typeof nic.ipv6 === 'object') output.push(withoutPrefix(nic.ipv6.address));
  else if (nic.ipv6 === 'dhcp' || nic.ipv6 === 'slaac') output.push(slaacAddress(nic.mac));
  return output;
}

/**
 * Guest info at `nowMs`. A VM whose tools do not run reports no addresses. The host name is the
 * customization's, else cloud-init's, else the VM name made into a host name.
 */
export function guestInfoOf(vm: MockVmRecord, seed: number, nowMs: number): GuestInfo {
  const toolsState = toolsStateOf(vm);
  if (toolsState !== 'running') return { toolsState, ipAddresses: [] };
  const interfaces = vm.nics.map((nic, index) => ({
    mac: nic.mac,
    name: vm.guestOs === 'windows' ? `Ethernet${index}` : `ens${192 + index * 32}`,
    ipAddresses: nicAddresses(nic),
  }));
  return {
    toolsState,
    hostname:
      vm.customization?.hostname ?? cloudInitHostname(vm.cloudInit) ?? sanitiseHostname(vm.name),
    osName: OS_NAMES[vm.guestOs],
    ipAddresses: interfaces.flatMap((item) => item.ipAddresses),
    interfaces,
    uptimeSeconds: Math.max(0, Math.floor((nowMs - (vm.poweredOnAtMs ?? nowMs)) / 1000)),
    filesystems: vm.disks.map((disk, index) => ({
      mountPoint:
        vm.guestOs === 'windows'
          ? index < 24
            ? `${String.fromCharCode(67 + index)}:\\`
            : `C:\\data${index}`
          : index === 0
            ? '/'
            : `/data${index}`,
      capacityBytes: disk.sizeBytes,
      freeBytes: Math.round(disk.sizeBytes * (0.3 + 0.6 * unitHash(seed, disk.id, 'free'))),
    })),
  };
}
