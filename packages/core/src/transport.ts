/**
 * Pure helpers every network provider shares: certificate fingerprints and the classification of
 * a failed connection into a {@link TransportError}. No I/O here; the providers own their sockets.
 */
import { timingSafeEqual } from 'node:crypto';
import { HvkitError, type HvkitErrorOptions, InvalidSpecError, TransportError } from './errors.js';

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
