import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '@hvkit/core';

/** A user the simulator knows. */
export interface SimulatorUser {
  /** `user@realm`, e.g. `root@pam`. */
  userid: string;
  password: string;
  /** Privileges granted on `/`; default: all (as root@pam has). */
  privileges?: string[] | 'all';
}

/** An API token: `Authorization: PVEAPIToken=<tokenid>=<secret>`. */
export interface SimulatorToken {
  /** `user@realm!tokenid`. */
  tokenid: string;
  /** UUID secret. */
  secret: string;
  /** Privilege separation (default true): the token has only `privileges`, within its user's. */
  privsep?: boolean;
  /** Privileges of a privilege-separated token (default none). */
  privileges?: string[] | 'all';
}

/** Who made a request. */
export interface Principal {
  userid: string;
  /** Set for API-token requests: `user@realm!tokenid`. */
  tokenid?: string;
  privileges: Set<string> | 'all';
  kind: 'ticket' | 'token';
}

/** Ticket lifetime (`$ticket_lifetime = 3600*2`) and clock-skew grace, in seconds. */
export const TICKET_LIFETIME_S = 7200;
const TICKET_GRACE_S = 300;

function hex8(seconds: number): string {
  return seconds.toString(16).toUpperCase().padStart(8, '0');
}

/** Issues and checks `PVE:` tickets and CSRF tokens (HMAC stands in for the RSA signature). */
export class TicketAuthority {
  /** Signing key; rotated to expire every ticket at once (as a rotated pve authkey does). */
  #secret = randomBytes(32);

  constructor(readonly clock: Clock) {}

  #sign(text: string): string {
    return createHmac('sha256', this.#secret).update(text).digest('base64');
  }

  /** `PVE:<userid>:<8 hex epoch>::<base64 signature>` and its CSRF token. */
  issue(userid: string): { ticket: string; csrf: string } {
    const stamp = hex8(Math.floor(this.clock.now() / 1000));
    const plain = `PVE:${userid}:${stamp}`;
    const csrf = `${stamp}:${this.#sign(`csrf:${stamp}:${userid}`).replace(/=+$/, '')}`;
    return { ticket: `${plain}::${this.#sign(plain)}`, csrf };
  }

  /** The ticket's user when it is authentic and within its lifetime. */
  verify(ticket: string): string | undefined {
    const match = /^(PVE:([^:\s]+):([0-9A-F]{8}))::(.+)$/.exec(ticket);
    if (!match) return undefined;
    const expected = Buffer.from(this.#sign(match[1] as string));
    const given = Buffer.from(match[4] as string);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    const issued = Number.parseInt(match[3] as string, 16);
    const age = Math.floor(this.clock.now() / 1000) - issued;
    if (age < -TICKET_GRACE_S || age > TICKET_LIFETIME_S) return undefined;
    return match[2];
  }

  verifyCsrf(userid: string, token: string | undefined): boolean {
    if (!token) return false;
    const match = /^([0-9A-F]{8}):(.+)$/.exec(token);
    if (!match) return false;
    const expected = this.#sign(`csrf:${match[1]}:${userid}`).replace(/=+$/, '');
    const issued = Number.parseInt(match[1] as string, 16);
    const age = Math.floor(this.clock.now() / 1000) - issued;
    return expected === match[2] && age >= -TICKET_GRACE_S && age <= TICKET_LIFETIME_S;
  }

  /** Invalidates every ticket issued up to now. */
  expireAll(): void {
    this.#secret = randomBytes(32);
  }
}

/** Parses `PVEAPIToken=user@realm!id=secret` (a space may replace the first `=`). */
export function parseTokenHeader(header: string): { tokenid: string; secret: string } | undefined {
  const match = /^PVEAPIToken[= ]([^=\s]+@[^=\s!]+![^=\s]+)=(\S+)$/.exec(header.trim());
  if (!match) return undefined;
  return { tokenid: match[1] as string, secret: match[2] as string };
}

export function privilegeSet(privileges: string[] | 'all' | undefined): Set<string> | 'all' {
  if (privileges === undefined || privileges === 'all') return 'all';
  return new Set(privileges);
}

/** A token's effective privileges: its own (privsep) intersected with its user's. */
export function tokenPrivileges(user: SimulatorUser, token: SimulatorToken): Set<string> | 'all' {
  const userPrivileges = privilegeSet(user.privileges);
  if (token.privsep === false) return userPrivileges;
  const own = privilegeSet(token.privileges ?? []);
  if (own === 'all') return userPrivileges;
  if (userPrivileges === 'all') return own;
  return new Set([...own].filter((privilege) => userPrivileges.has(privilege)));
}

export function hasPrivilege(principal: Principal, privilege: string): boolean {
  return principal.privileges === 'all' || principal.privileges.has(privilege);
}
