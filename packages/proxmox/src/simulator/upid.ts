/**
 * Proxmox task identifiers for the simulator: the client's codec (pve-common PVE/UPID.pm, checked
 * against real UPID vectors on both sides), under the names the simulator has always exported.
 * `parseUpid` here returns undefined for a malformed UPID, as the simulator's handlers expect.
 */
export { formatUpid, tryParseUpid as parseUpid, type Upid } from '../api/upid.js';
