/**
 * Proxmox task identifiers: `UPID:node:pid:pstart:starttime:type:id:user:` with upper-case hex
 * numbers (pve-common PVE/UPID.pm).
 */
export interface Upid {
  node: string;
  pid: number;
  pstart: number;
  /** Seconds since the epoch. */
  starttime: number;
  type: string;
  id: string;
  /** `user@realm`, or `user@realm!tokenid` for a task started with an API token. */
  user: string;
}

const UPID_PATTERN =
  /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$/;

function hex(value: number): string {
  return value.toString(16).toUpperCase().padStart(8, '0');
}

/** Formats a UPID the way PVE::UPID::encode does. */
export function formatUpid(upid: Upid): string {
  return `UPID:${upid.node}:${hex(upid.pid)}:${hex(upid.pstart)}:${hex(upid.starttime)}:${upid.type}:${upid.id}:${upid.user}:`;
}

/** Parses a UPID; returns undefined when it does not match PVE::UPID::decode's pattern. */
export function parseUpid(text: string): Upid | undefined {
  const match = UPID_PATTERN.exec(text);
  if (!match) return undefined;
  return {
    node: match[1] as string,
    pid: Number.parseInt(match[3] as string, 16),
    pstart: Number.parseInt(match[4] as string, 16),
    starttime: Number.parseInt(match[5] as string, 16),
    type: match[6] as string,
    id: match[7] as string,
    user: match[8] as string,
  };
}
