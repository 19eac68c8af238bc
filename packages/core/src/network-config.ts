import type { NicSpec } from './model/vm-spec.js';

/**
 * One `ethernets` entry of a cloud-init / netplan network config version 2 for a NIC's addressing:
 * DHCP or static addresses with default routes per family, SLAAC, and nameservers. `match` picks
 * the guest interface (by MAC, or by name where the provider knows it). Shared by every provider
 * that hands cloud-init a network config (vSphere guestinfo, libvirt NoCloud), so the same spec
 * gives the same guest configuration everywhere.
 */
export function netplanEthernet(
  nic: NicSpec,
  match: Readonly<Record<string, string>>,
): Record<string, unknown> {
  const entry: Record<string, unknown> = { match: { ...match } };
  const addresses: string[] = [];
  const routes: { to: string; via: string }[] = [];
  if (nic.ipv4 === 'dhcp') entry.dhcp4 = true;
  else if (nic.ipv4 !== undefined) {
    entry.dhcp4 = false;
    if (typeof nic.ipv4 === 'object') {
      addresses.push(nic.ipv4.address);
      if (nic.ipv4.gateway !== undefined) routes.push({ to: '0.0.0.0/0', via: nic.ipv4.gateway });
    }
  }
  if (nic.ipv6 === 'dhcp') entry.dhcp6 = true;
  else if (nic.ipv6 === 'slaac') {
    entry.dhcp6 = false;
    entry['accept-ra'] = true;
  } else if (nic.ipv6 !== undefined) {
    entry.dhcp6 = false;
    if (typeof nic.ipv6 === 'object') {
      addresses.push(nic.ipv6.address);
      if (nic.ipv6.gateway !== undefined) routes.push({ to: '::/0', via: nic.ipv6.gateway });
    }
  }
  if (addresses.length > 0) entry.addresses = addresses;
  if (routes.length > 0) entry.routes = routes;
  if (nic.dns !== undefined) {
    const nameservers: Record<string, string[]> = { addresses: nic.dns.servers };
    if (nic.dns.search !== undefined) nameservers.search = nic.dns.search;
    entry.nameservers = nameservers;
  }
  return entry;
}
