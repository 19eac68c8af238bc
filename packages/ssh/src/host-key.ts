/**
 * Host-key trust: OpenSSH-style SHA-256 fingerprints and `known_hosts` files (plain, wildcard,
 * negated and hashed host entries, `[host]:port`, `@revoked`). Pure functions; the connection
 * reads the file and applies the verdict.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidSpecError, TransportError } from '@hvkit/core';

/** How the server's host key is trusted. Exactly one form; there is no default. */
export type HostKeyPolicy =
  | {
      /**
       * The host key's SHA-256 fingerprint as OpenSSH prints it (`ssh-keygen -lf key.pub`,
       * `ssh-keyscan host | ssh-keygen -lf -`): `SHA256:` followed by unpadded base64 (padding is
       * accepted). Any other key is refused.
       */
      fingerprint256: string;
    }
  | {
      /**
       * Path of a `known_hosts` file, read at every connect. Entries are looked up under `host`
       * for port 22 and `[host]:port` otherwise, like OpenSSH; hashed entries (`|1|…`), wildcards
       * and `!negations` match too, `@revoked` keys are refused, `@cert-authority` lines are
       * ignored (host certificates are not supported).
       */
      knownHosts: string;
    }
  | {
      /**
       * Accept any host key. Only for throwaway test beds: anyone on the path can impersonate the
       * host and read what is sent. Logs one warning per connection object.
       */
      insecure: true;
    };

/** OpenSSH's fingerprint of a host key blob: `SHA256:` + unpadded base64 of its SHA-256. */
export function sshFingerprint256(key: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Checks and normalises a pinned fingerprint to `SHA256:<unpadded base64>`.
 *
 * @param path Field named in the error. Default `hostKey.fingerprint256`.
 * @throws InvalidSpecError unless `text` is `SHA256:` + the base64 of 32 bytes.
 */
export function normalizeSshFingerprint(text: string, path = 'hostKey.fingerprint256'): string {
  const match = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(text.trim());
  if (!match?.[1]) {
    throw new InvalidSpecError(
      [
        {
          path,
          message:
            'expected an OpenSSH SHA-256 fingerprint: "SHA256:" and 43 base64 characters (ssh-keygen -lf)',
          code: 'invalid_fingerprint',
        },
      ],
      { subject: 'SSH options' },
    );
  }
  return `SHA256:${match[1]}`;
}

/** True when two normalised fingerprints are equal, compared in constant time. */
export function sshFingerprintsEqual(expected: string, actual: string): boolean {
  const left = Buffer.from(expected);
  const right = Buffer.from(actual);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** One key line of a `known_hosts` file. */
export interface KnownHostsEntry {
  /** 1-based line number, for messages. */
  line: number;
  /** `@revoked` or `@cert-authority` before the host field, if any. */
  marker: 'revoked' | 'cert-authority' | undefined;
  /** The host field as written: comma-separated patterns, or one hashed `|1|salt|hash`. */
  hosts: string;
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, … */
  keyType: string;
  /** The decoded key blob (what the server presents). */
  key: Buffer;
}

/**
 * Parses a `known_hosts` file. Comments, blank lines and lines that do not have a host field, a
 * key type and a base64 key are skipped (OpenSSH skips them too).
 */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const fields = (lines[index] ?? '').trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) continue;
    let marker: KnownHostsEntry['marker'];
    if (fields[0].startsWith('@')) {
      const name = fields.shift();
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else continue;
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) continue;
    entries.push({ line: index + 1, marker, hosts, keyType, key: Buffer.from(base64, 'base64') });
  }
  return entries;
}

/** The name OpenSSH looks a host up under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function wildcardMatch(pattern: string, name: string): boolean {
  // OpenSSH's match_pattern: `*` any run, `?` one character, case-insensitive for host names.
  const source = pattern
    .split('')
    .map((character) =>
      character === '*'
        ? '.*'
        : character === '?'
          ? '.'
          : character.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`, 'is').test(name);
}

/**
 * True when a `known_hosts` host field names `name` (from {@link knownHostsName}): a hashed
 * `|1|salt|hmac` entry whose HMAC-SHA1 of the name matches, or a comma list of patterns with at
 * least one match and no negated (`!pattern`) match.
 */
export function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (!salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64');
    const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  let matched = false;
  for (const pattern of hosts.split(',')) {
    if (pattern.startsWith('!')) {
      if (wildcardMatch(pattern.slice(1), name)) return false;
    } else if (wildcardMatch(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

/** The host-key algorithms to offer first for the key types `known_hosts` holds for a host. */
export function preferredHostKeyAlgorithms(entries: readonly KnownHostsEntry[]): string[] {
  const algorithms: string[] = [];
  for (const entry of entries) {
    // An RSA key is offered under the SHA-2 signature names as well as its key type.
    const names =
      entry.keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [entry.keyType];
    for (const name of names) if (!algorithms.includes(name)) algorithms.push(name);
  }
  return algorithms;
}

/** Where the connection went, for messages. */
export interface HostKeyTarget {
  host: string;
  port: number;
  /** Put on the error's `provider` field. */
  provider?: string | undefined;
}

/** The entries of `known_hosts` that apply to a host (certificate authorities left out). */
export function knownHostsFor(
  entries: readonly KnownHostsEntry[],
  target: HostKeyTarget,
): KnownHostsEntry[] {
  const name = knownHostsName(target.host, target.port);
  return entries.filter(
    (entry) => entry.marker !== 'cert-authority' && hostFieldMatches(entry.hosts, name),
  );
}

/**
 * Checks a presented host key against a pin. Returns `undefined` when it matches, else the
 * non-retryable {@link TransportError} to fail the connection with, naming both fingerprints.
 */
export function checkPinnedHostKey(
  pin: string,
  key: Uint8Array,
  target: HostKeyTarget,
): TransportError | undefined {
  const actual = sshFingerprint256(key);
  if (sshFingerprintsEqual(pin, actual)) return undefined;
  return new TransportError(
    `SSH host key of ${target.host}:${target.port} does not match the pinned fingerprint: expected ${pin}, got ${actual}. The host was reinstalled, its key rotated, or someone is in the middle; check the key out of band before changing the pin`,
    {
      provider: target.provider,
      retryable: false,
      details: {
        host: target.host,
        port: target.port,
        expectedFingerprint256: pin,
        actualFingerprint256: actual,
        outcome: 'not-sent',
      },
    },
  );
}

/**
 * Checks a presented host key against the parsed `known_hosts` file. Returns `undefined` when an
 * entry for the host holds this key and it is not `@revoked`; else the non-retryable
 * {@link TransportError} saying whether the key changed (naming the expected and actual
 * fingerprints), is revoked, or the host is unknown.
 */
export function checkKnownHostKey(
  entries: readonly KnownHostsEntry[],
  key: Uint8Array,
  target: HostKeyTarget & { file: string },
): TransportError | undefined {
  const actual = sshFingerprint256(key);
  const presented = Buffer.from(key);
  const applicable = knownHostsFor(entries, target);
  const same = (entry: KnownHostsEntry): boolean =>
    entry.key.length === presented.length && timingSafeEqual(entry.key, presented);
  const details = {
    host: target.host,
    port: target.port,
    knownHosts: target.file,
    actualFingerprint256: actual,
    outcome: 'not-sent',
  };
  const where = `${target.host}:${target.port}`;
  const revoked = entries.find((entry) => entry.marker === 'revoked' && same(entry));
  if (revoked) {
    return new TransportError(
      `SSH host key of ${where} (${actual}) is marked @revoked in ${target.file} line ${revoked.line}`,
      { provider: target.provider, retryable: false, details },
    );
  }
  const trusted = applicable.filter((entry) => entry.marker === undefined);
  if (trusted.some(same)) return undefined;
  const name = knownHostsName(target.host, target.port);
  if (trusted.length === 0) {
    return new TransportError(
      `SSH host ${where} is not in ${target.file} (looked up as ${name}); its key is ${actual}. Add the host's key (ssh-keyscan, checked out of band) or pin its fingerprint`,
      { provider: target.provider, retryable: false, details },
    );
  }
  const expected = [...new Set(trusted.map((entry) => sshFingerprint256(entry.key)))];
  return new TransportError(
    `SSH host key of ${where} has CHANGED: ${target.file} expects ${expected.join(' or ')} (line ${trusted
      .map((entry) => entry.line)
      .join(
        ', ',
      )}), the server presented ${actual}. The host was reinstalled, its key rotated, or someone is in the middle; check the key out of band before editing known_hosts`,
    {
      provider: target.provider,
      retryable: false,
      details: { ...details, expectedFingerprints256: expected },
    },
  );
}
