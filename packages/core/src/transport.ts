/**
 * Pure helpers every network provider shares: certificate fingerprints, TLS trust settings, the
 * pin check a connector makes, and the classification of a failed connection into a
 * {@link TransportError}. No I/O here; the providers own their sockets and HTTP agents.
 */
import { timingSafeEqual } from 'node:crypto';
import { HvkitError, type HvkitErrorOptions, InvalidSpecError, TransportError } from './errors.js';
import type { Logger } from './logger.js';

/**
 * Normalises a SHA-256 fingerprint to upper-case colon hex (`AB:CD:…`, 32 bytes).
 *
 * @param path Field named in the error, `tls.fingerprint256` by default.
 * @throws InvalidSpecError when `text` is not 64 hex digits (colons optional).
 */
export function normalizeFingerprint(text: string, path = 'tls.fingerprint256'): string {
  const digits = text.trim().replace(/:/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(digits)) {
    throw new InvalidSpecError(
      [
        {
          path,
          message: 'expected a SHA-256 fingerprint: 64 hex digits, colons optional',
          code: 'invalid_fingerprint',
        },
      ],
      { subject: 'TLS options' },
    );
  }
  return digits.match(/../g)?.join(':') ?? digits;
}

/** Compares two SHA-256 fingerprints (any notation {@link normalizeFingerprint} accepts) in constant time. */
export function fingerprintsEqual(expected: string, actual: string): boolean {
  const left = Buffer.from(normalizeFingerprint(expected).replace(/:/g, ''), 'hex');
  const right = Buffer.from(normalizeFingerprint(actual).replace(/:/g, ''), 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Trust settings a network provider accepts for its HTTPS connections (`tls` in its options). */
export interface TlsTrustOptions {
  /**
   * PEM certificate(s) to trust instead of the system CAs. The host name is still checked
   * against the certificate.
   */
  ca?: string | readonly string[] | undefined;
  /**
   * SHA-256 fingerprint of the server's leaf certificate, as colon-separated or plain hex (any
   * case). When set, a certificate with this fingerprint is trusted even if self-signed and
   * whatever names it carries; any other certificate is refused. Combined with `ca`, both must
   * hold.
   */
  fingerprint256?: string | undefined;
  /**
   * Skip every certificate check. Only for throwaway test beds: anyone on the path can read the
   * credentials. Logs one warning per client. Cannot be combined with `ca` or `fingerprint256`.
   */
  insecure?: boolean | undefined;
}

/** Options of a provider's HTTP agent builder: trust, plus what the connection needs beyond it. */
export interface TlsAgentOptions extends TlsTrustOptions {
  /** Time allowed to open the TCP and TLS connection. Default 10 000 ms. */
  connectTimeoutMs?: number | undefined;
  /** Receives the `insecure` warning. Default: silent. */
  logger?: Logger | undefined;
}

/**
 * Plain connection options for Node's `tls.connect` (and undici's `connect`/`buildConnector`,
 * which take the same fields), derived from {@link TlsTrustOptions}.
 */
export interface TlsConnectOptions {
  timeout: number;
  ca?: string[];
  rejectUnauthorized?: boolean;
  maxCachedSessions?: number;
}

/** What {@link tlsConnectSettings} decided: the options to connect with and what to check after. */
export interface TlsConnectSettings {
  /** The normalised pin to check once the handshake is done ({@link pinnedConnectCheck}), if any. */
  pin: string | undefined;
  /** Every certificate check is off: the caller logs its warning. */
  insecure: boolean;
  connect: TlsConnectOptions;
}

/**
 * Validates trust options and derives the socket options a provider's HTTP agent connects with.
 * The agent itself (undici) stays in the provider: core does no I/O.
 *
 * With a pin, the chain is not verified by Node unless a CA is given too (the pin is the trust,
 * so a self-signed certificate can be accepted), and TLS sessions are not resumed so that every
 * connection presents a certificate to check.
 *
 * @throws InvalidSpecError for a malformed fingerprint or `insecure` combined with `ca`/`fingerprint256`.
 */
export function tlsConnectSettings(
  options: TlsTrustOptions,
  timeoutMs: number,
): TlsConnectSettings {
  const pin =
    options.fingerprint256 === undefined ? undefined : normalizeFingerprint(options.fingerprint256);
  const ca = options.ca === undefined ? undefined : [options.ca].flat();
  const insecure = options.insecure === true;
  if (insecure && (pin !== undefined || ca !== undefined)) {
    throw new InvalidSpecError(
      [
        {
          path: 'tls.insecure',
          message: 'cannot be combined with ca or fingerprint256',
          code: 'invalid_tls',
        },
      ],
      { subject: 'TLS options' },
    );
  }
  if (insecure)
    return { pin, insecure, connect: { timeout: timeoutMs, rejectUnauthorized: false } };
  if (pin === undefined)
    return { pin, insecure, connect: { timeout: timeoutMs, ...(ca ? { ca } : {}) } };
  return {
    pin,
    insecure,
    connect: {
      timeout: timeoutMs,
      // With a CA the chain and host name must verify too; with a pin alone the pin is the trust.
      ...(ca ? { ca, rejectUnauthorized: true } : { rejectUnauthorized: false }),
      maxCachedSessions: 0,
    },
  };
}

/**
 * The check a pinning connector makes once the TLS handshake is done (Node calls
 * `checkServerIdentity` only after the chain verified, so a pin could never accept a self-signed
 * certificate there). Returns `undefined` when the certificate matches the pin, else the
 * non-retryable {@link TransportError} to fail the connection with, naming both fingerprints.
 *
 * @param pin A fingerprint already normalised by {@link normalizeFingerprint} / {@link tlsConnectSettings}.
 * @param actual The socket's `getPeerCertificate().fingerprint256`, if it had one.
 * @param target Where the connection went, for the message.
 */
export function pinnedConnectCheck(
  pin: string,
  actual: string | undefined,
  target: { hostname: string; port: string | number },
): TransportError | undefined {
  if (typeof actual === 'string' && actual !== '' && fingerprintsEqual(pin, actual))
    return undefined;
  return new TransportError(
    `TLS certificate of ${target.hostname}:${target.port} does not match the pinned SHA-256 fingerprint: expected ${pin}, got ${actual || 'no certificate'}`,
    {
      retryable: false,
      details: {
        host: target.hostname,
        expectedFingerprint256: pin,
        actualFingerprint256: actual || undefined,
      },
    },
  );
}

/** Error codes meaning the connection was never made, so the request was certainly not sent. */
export const NOT_SENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const TLS_ERROR_CODE =
  /^(?:ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(?:_LOCALLY)?|CERT_\w+|ERR_SSL_\w+)$/;

/** What the caller knew when the connection failed. */
export interface TransportFailureContext extends Pick<HvkitErrorOptions, 'provider' | 'redact'> {
  /** Names the request, e.g. `vSphere PowerOnVM_Task` or `Proxmox POST /nodes/pve/qemu`. */
  where: string;
  /** The request changes nothing (a read): it may be re-sent, and a lost answer lost nothing. */
  safe: boolean;
  /** Set when the failure was the caller's own deadline. */
  timeoutMs?: number | undefined;
  /** Appended to a TLS verification failure: how to trust the server. */
  tlsHint?: string | undefined;
  /** Extra details for the error (method, path). */
  details?: Record<string, unknown> | undefined;
}

/** Said of a mutating request whose answer was lost. */
export const UNKNOWN_OUTCOME =
  'the request may or may not have been applied; it was not re-sent — check the resulting state before trying again';

/** The error and its causes, outermost first (at most 8). */
export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < 8) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Turns what `fetch` (undici) or a socket threw into a {@link TransportError} that says whether
 * the request was sent: a refused connection was not (retryable); a TLS verification failure is
 * not retryable and says how to fix trust; a connection lost after sending leaves a mutating
 * request's outcome unknown (not retryable) and a read retryable. An hvkit error anywhere in the
 * cause chain (a pin mismatch raised by the connector) is returned as it is.
 */
export function transportErrorFrom(error: unknown, context: TransportFailureContext): HvkitError {
  const chain = causeChain(error);
  const known = chain.find((item) => HvkitError.isInstance(item));
  if (known) return known as HvkitError;
  const options = { provider: context.provider, redact: context.redact, cause: error };
  const { where, safe } = context;
  const outcome = safe ? 'not-applied' : 'unknown';
  if (context.timeoutMs !== undefined) {
    return new TransportError(
      `${where}: no complete answer within ${context.timeoutMs} ms${safe ? '' : `; ${UNKNOWN_OUTCOME}`}`,
      {
        ...options,
        retryable: safe,
        details: { ...context.details, timeoutMs: context.timeoutMs, outcome },
      },
    );
  }
  const codes = chain.map(errorCode).filter((code): code is string => code !== undefined);
  const last = chain[chain.length - 1];
  const detail = last instanceof Error ? last.message : String(last);
  const tlsCode = codes.find((code) => TLS_ERROR_CODE.test(code));
  if (tlsCode) {
    return new TransportError(
      `${where}: TLS certificate not trusted (${tlsCode}: ${detail})${context.tlsHint ? `; ${context.tlsHint}` : ''}`,
      { ...options, retryable: false, details: { ...context.details, code: tlsCode } },
    );
  }
  if (codes.some((code) => NOT_SENT_ERROR_CODES.has(code))) {
    return new TransportError(`${where}: could not connect (${detail}); the request was not sent`, {
      ...options,
      retryable: true,
      details: { ...context.details, code: codes[codes.length - 1], outcome: 'not-sent' },
    });
  }
  return new TransportError(
    `${where}: connection lost (${detail})${safe ? '' : `; ${UNKNOWN_OUTCOME}`}`,
    {
      ...options,
      retryable: safe,
      details: { ...context.details, code: codes[codes.length - 1], outcome },
    },
  );
}
