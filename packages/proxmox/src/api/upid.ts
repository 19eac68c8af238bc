/**
 * Proxmox task ids (UPIDs): `UPID:node:pid:pstart:starttime:type:id:user:`. Mutating VM endpoints
 * answer with one; the task status, log and stop endpoints take it back. The grammar follows
 * pve-common `PVE::UPID` (decode regex and `%08X` encoding); `pstart` may take nine hex digits.
 */
import { InvalidSpecError } from '@hvkit/core';

/** The fields of a UPID. Numbers are decoded from hexadecimal. */
export interface Upid {
  /** Node that runs the task (a host name: letters, digits, inner `-`). */
  node: string;
  /** Worker process id. */
  pid: number;
  /** Process start time in clock ticks since boot (disambiguates reused pids). */
  pstart: number;
  /** Task start, in seconds since the epoch. */
  starttime: number;
  /** Worker type, e.g. `qmstart`, `qmclone`, `vzdump`. */
  type: string;
  /** Object the task works on, often a VM id; may be empty. */
  id: string;
  /** User (`root@pam`) or API token (`user@pve!token`) that started the task. */
  user: string;
}

const UPID_PATTERN =
  /^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$/;
const NODE_PATTERN = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const FIELD_PATTERN = /^[^:\s/]*$/;

/** True when `text` is a well-formed UPID. */
export function isUpid(text: unknown): text is string {
  return typeof text === 'string' && UPID_PATTERN.test(text);
}

/**
 * Decodes a UPID. Returns `undefined` when `text` is not one (use {@link parseUpid} to throw).
 */
export function tryParseUpid(text: string): Upid | undefined {
  const match = UPID_PATTERN.exec(text);
  if (!match) return undefined;
  const [, node, pid, pstart, starttime, type, id, user] = match as unknown as string[];
  return {
    node: node as string,
    pid: Number.parseInt(pid as string, 16),
    pstart: Number.parseInt(pstart as string, 16),
    starttime: Number.parseInt(starttime as string, 16),
    type: type as string,
    id: id as string,
    user: user as string,
  };
}

/**
 * Decodes a UPID.
 *
 * @throws InvalidSpecError when `text` is not a well-formed UPID.
 */
export function parseUpid(text: string): Upid {
  const upid = tryParseUpid(text);
  if (!upid) {
    throw new InvalidSpecError(
      [{ path: 'upid', message: 'not a valid Proxmox UPID', code: 'invalid_upid' }],
      { subject: 'task id' },
    );
  }
  return upid;
}

function hex(value: number, field: string, maxDigits: number): string {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 16 ** maxDigits) {
    throw new InvalidSpecError([
      {
        path: field,
        message: `must be an integer from 0 to ${16 ** maxDigits - 1}`,
        code: 'invalid_upid',
      },
    ]);
  }
  return value.toString(16).toUpperCase().padStart(8, '0');
}

/**
 * Encodes UPID fields the way Proxmox does (`%08X` for the numbers, trailing `:`), so that
 * `formatUpid(parseUpid(u)) === u` for every UPID Proxmox prints.
 *
 * @throws InvalidSpecError when a field cannot be encoded (a node name that is not a host name, a
 * `:`, `/` or whitespace in `type`/`id`/`user`, an empty `type` or `user`, a number out of range).
 */
export function formatUpid(upid: Upid): string {
  const issues: { path: string; message: string; code: string }[] = [];
  if (!NODE_PATTERN.test(upid.node)) {
    issues.push({ path: 'node', message: 'not a valid node name', code: 'invalid_upid' });
  }
  for (const field of ['type', 'id', 'user'] as const) {
    const value = upid[field];
    if (!FIELD_PATTERN.test(value) || (field !== 'id' && value === '')) {
      issues.push({
        path: field,
        message: 'must be non-empty and free of ":", "/" and whitespace',
        code: 'invalid_upid',
      });
    }
  }
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'task id' });
  return `UPID:${upid.node}:${hex(upid.pid, 'pid', 8)}:${hex(upid.pstart, 'pstart', 9)}:${hex(
    upid.starttime,
    'starttime',
    8,
  )}:${upid.type}:${upid.id}:${upid.user}:`;
}
