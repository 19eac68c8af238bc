import { isIPv4, isIPv6 } from 'node:net';

/**
 * Named-format checks from pve-common PVE/JSONSchema.pm and friends. Each returns an error
 * message (ending in "\n", as the Perl `die` does) or undefined when the value is valid.
 * Formats not listed here are accepted unchecked.
 */
const FORMAT_CHECKS: Record<string, (value: string) => string | undefined> = {
  'pve-vmid': (value) =>
    /^[1-9][0-9]{2,8}$/.test(value) ? undefined : 'value does not look like a valid VM ID\n',
  'pve-node': (value) =>
    /^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)$/.test(value)
      ? undefined
      : 'value does not look like a valid node name\n',
  // $CONFIGID_RE = qr/[a-z][a-z0-9_-]+/i in current pve-common (snapshot names like "pre-upgrade").
  'pve-configid': (value) =>
    /^[a-z][a-z0-9_-]+$/i.test(value) ? undefined : `invalid configuration ID '${value}'\n`,
  'pve-storage-id': (value) =>
    /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i.test(value)
      ? undefined
      : `storage ID '${value}' contains illegal characters\n`,
  'pve-bridge-id': (value) =>
    /^[-_.\w\d]+$/.test(value) ? undefined : 'value does not look like a valid bridge name\n',
  ipv4: (value) => (isIPv4(value) ? undefined : 'value does not look like a valid IPv4 address\n'),
  ipv6: (value) => (isIPv6(value) ? undefined : 'value does not look like a valid IPv6 address\n'),
  'mac-addr': (value) =>
    /^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i.test(value)
      ? undefined
      : 'value does not look like a valid unicast MAC address\n',
  'pve-ipv4-config': (value) =>
    value === 'dhcp' || isCidr(value, 4)
      ? undefined
      : 'value does not look like a valid ipv4 network configuration\n',
  'pve-ipv6-config': (value) =>
    value === 'dhcp' || value === 'auto' || isCidr(value, 6)
      ? undefined
      : 'value does not look like a valid ipv6 network configuration\n',
  urlencoded: (value) =>
    /^[-%a-zA-Z0-9_.!~*'()]*$/.test(value) ? undefined : `invalid urlencoded string: ${value}\n`,
  'dns-name': (value) =>
    /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)\.)*(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)$/.test(
      value,
    )
      ? undefined
      : `value does not look like a valid DNS name\n`,
  'pve-volume-id': (value) =>
    /^[a-z][a-z0-9\-_.]*[a-z0-9]:.+$/i.test(value)
      ? undefined
      : `unable to parse volume ID '${value}'\n`,
  'pve-volume-id-or-qm-path': (value) =>
    value === 'none' ||
    value === 'cdrom' ||
    value.startsWith('/') ||
    /^[a-z][a-z0-9\-_.]*[a-z0-9]:.+$/i.test(value)
      ? undefined
      : `unable to parse volume ID '${value}'\n`,
  'disk-size': (value) =>
    /^\d+(\.\d+)?[KMGT]?$/.test(value) ? undefined : `unable to parse size '${value}'\n`,
  'pve-hotplug-features': (value) => {
    if (/^[01]$/.test(value)) return undefined;
    for (const feature of value.split(',')) {
      if (!['network', 'disk', 'cpu', 'memory', 'usb', 'cloudinit'].includes(feature)) {
        return `invalid hotplug feature '${feature}'\n`;
      }
    }
    return undefined;
  },
  'pve-tag-list': (value) => {
    for (const tag of value.split(/[;, ]/).filter(Boolean)) {
      if (!/^[a-z0-9_][a-z0-9_\-+.]*$/i.test(tag)) return `invalid tag '${tag}'\n`;
    }
    return undefined;
  },
  'pve-ha-resource-or-vm-id': (value) =>
    /^(?:(?:vm|ct):)?[1-9][0-9]{2,8}$/.test(value)
      ? undefined
      : `unable to parse HA resource ID '${value}'\n`,
};

function isCidr(value: string, family: 4 | 6): boolean {
  const match = /^(.+)\/(\d{1,3})$/.exec(value);
  if (!match) return false;
  const prefix = Number(match[2]);
  return family === 4
    ? isIPv4(match[1] as string) && prefix <= 32
    : isIPv6(match[1] as string) && prefix <= 128;
}

/** Checks a value against a named format; `-list` formats check each element. */
export function checkNamedFormat(format: string, value: string): string | undefined {
  const direct = FORMAT_CHECKS[format];
  if (direct) return direct(value);
  const list = /^(.+)-list$/.exec(format);
  if (list) {
    const element = FORMAT_CHECKS[list[1] as string];
    if (!element) return undefined;
    for (const item of value.split(/[,;\s\0]+/).filter(Boolean)) {
      const error = element(item);
      if (error) return error;
    }
  }
  return undefined;
}
