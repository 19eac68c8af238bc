/** Connection settings of an SSH transport and their validation (before any I/O). */
import { InvalidSpecError, type Logger, type SpecIssue } from '@hvkit/core';
import ssh2 from 'ssh2';
import { type HostKeyPolicy, normalizeSshFingerprint } from './host-key.js';

/** Settings of {@link createSshTransport}. */
export interface SshTransportOptions {
  /** Host name or address of the SSH server. */
  host: string;
  /** TCP port. Default 22. */
  port?: number | undefined;
  /** User to log in as. */
  username: string;
  /**
   * Private key (OpenSSH, PEM or PPK text, or its bytes). Never logged, never in an error or
   * `toJSON()`. Give this, `agent`, or both (the agent is tried first).
   */
  privateKey?: string | Uint8Array | undefined;
  /** Passphrase of an encrypted `privateKey`. Never logged. */
  passphrase?: string | undefined;
  /**
   * An ssh-agent to authenticate with: its socket path, or `true` for `SSH_AUTH_SOCK` (an
   * InvalidSpecError when that is unset).
   */
  agent?: string | true | undefined;
  /** How the host key is trusted: a pinned fingerprint, a known_hosts file, or explicitly none. Required. */
  hostKey: HostKeyPolicy;
  /**
   * Interval of SSH keep-alive requests, so a dead peer is noticed and a NAT mapping stays
   * open. Default 15 000 ms; 0 turns them off.
   */
  keepaliveIntervalMs?: number | undefined;
  /** Unanswered keep-alives after which the connection is dropped (and re-made on the next call). Default 3. */
  keepaliveCountMax?: number | undefined;
  /** Time allowed for TCP connect, key exchange and authentication. Default 20 000 ms. */
  readyTimeoutMs?: number | undefined;
  /**
   * Most channels (exec commands) open at once on the connection; more calls wait in a FIFO
   * queue. Default 8: OpenSSH's `MaxSessions` defaults to 10, and the SFTP session takes one more.
   */
  maxChannels?: number | undefined;
  /**
   * Disable Nagle's algorithm on the socket. Default true: with Nagle on, every small request
   * waits for the peer's delayed ACK (about 40 ms a call on Linux). `false` exists to measure that.
   */
  noDelay?: boolean | undefined;
  /** Receives connection events (debug) and the `insecure` warning. Redacted; default silent. */
  logger?: Logger | undefined;
  /** Provider instance name put on errors (`provider` field), e.g. `libvirt`. */
  provider?: string | undefined;
}

/** Validated settings with defaults applied. */
export interface ResolvedSshOptions {
  host: string;
  port: number;
  username: string;
  privateKey: Buffer | undefined;
  passphrase: string | undefined;
  agent: string | undefined;
  hostKey: { pin: string } | { knownHosts: string } | { insecure: true };
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  readyTimeoutMs: number;
  maxChannels: number;
  noDelay: boolean;
  provider: string | undefined;
}

function integerIn(
  issues: SpecIssue[],
  path: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    issues.push({
      path,
      message: `expected a whole number from ${min} to ${max}`,
      code: 'invalid_number',
    });
  }
  return value;
}

/**
 * Checks settings and applies defaults. The private key is parsed here (with its passphrase) so
 * a bad key or passphrase is a typed error before any connection is made.
 *
 * @throws InvalidSpecError naming every bad field.
 */
export function resolveSshOptions(options: SshTransportOptions): ResolvedSshOptions {
  const issues: SpecIssue[] = [];
  if (typeof options.host !== 'string' || options.host.trim() === '')
    issues.push({ path: 'host', message: 'required', code: 'required' });
  if (typeof options.username !== 'string' || options.username === '')
    issues.push({ path: 'username', message: 'required', code: 'required' });
  const port = integerIn(issues, 'port', options.port, 22, 1, 65_535);
  const keepaliveIntervalMs = integerIn(
    issues,
    'keepaliveIntervalMs',
    options.keepaliveIntervalMs,
    15_000,
    0,
    3_600_000,
  );
  const keepaliveCountMax = integerIn(
    issues,
    'keepaliveCountMax',
    options.keepaliveCountMax,
    3,
    1,
    1000,
  );
  const readyTimeoutMs = integerIn(
    issues,
    'readyTimeoutMs',
    options.readyTimeoutMs,
    20_000,
    1,
    3_600_000,
  );
  const maxChannels = integerIn(issues, 'maxChannels', options.maxChannels, 8, 1, 1000);

  let agent: string | undefined;
  if (options.agent === true) {
    agent = process.env.SSH_AUTH_SOCK;
    if (!agent)
      issues.push({
        path: 'agent',
        message: 'true means SSH_AUTH_SOCK, which is not set',
        code: 'agent_unset',
      });
  } else if (typeof options.agent === 'string' && options.agent !== '') {
    agent = options.agent;
  } else if (options.agent !== undefined) {
    issues.push({ path: 'agent', message: 'expected a socket path or true', code: 'invalid_type' });
  }

  let privateKey: Buffer | undefined;
  if (options.privateKey !== undefined) {
    privateKey =
      typeof options.privateKey === 'string'
        ? Buffer.from(options.privateKey, 'utf8')
        : Buffer.from(options.privateKey);
    const parsed = ssh2.utils.parseKey(privateKey, options.passphrase);
    if (parsed instanceof Error) {
      // ssh2's messages name the problem ("Bad passphrase", "Unsupported key format"), never the
      // key's content.
      issues.push({
        path: 'privateKey',
        message: `cannot be used: ${parsed.message}`,
        code: 'invalid_key',
      });
    }
  }
  if (privateKey === undefined && options.agent === undefined) {
    issues.push({
      path: 'privateKey',
      message: 'give privateKey or agent: hvkit authenticates with keys only',
      code: 'required',
    });
  }

  let hostKey: ResolvedSshOptions['hostKey'] | undefined;
  const policy = options.hostKey as Partial<
    Record<'fingerprint256' | 'knownHosts' | 'insecure', unknown>
  >;
  const forms =
    policy && typeof policy === 'object'
      ? (['fingerprint256', 'knownHosts', 'insecure'] as const).filter(
          (key) => policy[key] !== undefined,
        )
      : [];
  if (forms.length !== 1) {
    issues.push({
      path: 'hostKey',
      message:
        'give exactly one of { fingerprint256 }, { knownHosts } or { insecure: true }: host keys are always checked unless insecure is explicit',
      code: 'invalid_host_key_policy',
    });
  } else if (forms[0] === 'fingerprint256') {
    try {
      hostKey = { pin: normalizeSshFingerprint(String(policy.fingerprint256)) };
    } catch (error) {
      if (InvalidSpecError.isInstance(error)) issues.push(...error.issues);
      else throw error;
    }
  } else if (forms[0] === 'knownHosts') {
    if (typeof policy.knownHosts === 'string' && policy.knownHosts !== '')
      hostKey = { knownHosts: policy.knownHosts };
    else
      issues.push({
        path: 'hostKey.knownHosts',
        message: 'expected a file path',
        code: 'invalid_type',
      });
  } else if (policy.insecure === true) {
    hostKey = { insecure: true };
  } else {
    issues.push({
      path: 'hostKey.insecure',
      message: 'must be true when given',
      code: 'invalid_type',
    });
  }

  if (issues.length > 0 || !hostKey) {
    throw new InvalidSpecError(issues, {
      subject: 'SSH options',
      provider: options.provider,
      redact: { secrets: options.passphrase ? [options.passphrase] : [] },
    });
  }
  return {
    host: options.host,
    port,
    username: options.username,
    privateKey,
    passphrase: options.passphrase,
    agent,
    hostKey,
    keepaliveIntervalMs,
    keepaliveCountMax,
    readyTimeoutMs,
    maxChannels,
    noDelay: options.noDelay !== false,
    provider: options.provider,
  };
}
