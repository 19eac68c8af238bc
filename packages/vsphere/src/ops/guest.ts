/**
 * What a VM's guest reports (VMware Tools): the VM's `guest.*` properties, mapped by the
 * inventory's VM mapper (`toVm(...).guest`) so that `get` and `getGuestInfo` never disagree,
 * plus the VM's uptime.
 */
import type { GuestInfo } from '@hvkit/core';
import { readOne } from '../client/property-reader.js';
import type { CallOptions } from '../client/vim-client.js';
import { toVm } from '../inventory/vm-mapper.js';
import type { ObjectContent } from '../soap/soap-parser.js';
import type { VsphereContext } from '../vsphere-context.js';
import { numberOf } from './values.js';

/** The properties {@link getGuestInfo} reads. */
export const GUEST_PROPERTIES = [
  'guest.toolsRunningStatus',
  'guest.toolsStatus',
  'guest.hostName',
  'guest.guestFullName',
  'guest.ipAddress',
  'guest.net',
  'guest.disk',
  'runtime.powerState',
  'summary.quickStats.uptimeSeconds',
] as const;

/**
 * Maps the {@link GUEST_PROPERTIES} of a VM to core's `GuestInfo`: tools state, host name, OS
 * name, addresses (the primary first, then every NIC's, once each), interfaces by MAC (lower
 * case) and file systems (`guest.disk`: path, capacity and free bytes). `uptimeSeconds` comes
 * from `summary.quickStats.uptimeSeconds` while the VM is powered on. Never throws.
 */
export function toGuestInfo(content: ObjectContent, provider: string): GuestInfo {
  const guest = toVm(content, { provider }).guest;
  const uptime = numberOf(content.properties['summary.quickStats.uptimeSeconds']);
  if (
    content.properties['runtime.powerState'] === 'poweredOn' &&
    uptime !== undefined &&
    uptime >= 0
  ) {
    guest.uptimeSeconds = uptime;
  }
  return guest;
}

/**
 * Guest info of VM `vmId` (moref value). On vcsim the guest reports nothing by itself: addresses
 * appear only through its `SET.guest.*` extraConfig hook or a customization applied at power-on.
 *
 * @throws NotFoundError('vm') when the VM does not exist.
 */
export async function getGuestInfo(
  ctx: VsphereContext,
  vmId: string,
  options: CallOptions = {},
): Promise<GuestInfo> {
  const content = await readOne(
    ctx.client,
    { type: 'VirtualMachine', value: vmId },
    GUEST_PROPERTIES,
    options,
  );
  return toGuestInfo(content, ctx.name);
}
