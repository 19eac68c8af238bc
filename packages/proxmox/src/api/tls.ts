/**
 * TLS for one Proxmox client: an undici `Agent` whose connector decides trust. Verified against
 * the system CAs by default; `ca` replaces them with a PEM bundle (the cluster's
 * `pve-root-ca.pem`); `fingerprint256` pins the leaf certificate (what `pvenode cert info` shows),
 * which also accepts Proxmox's default self-signed certificate; `insecure` turns checks off, only
 * when asked, with a warning. Nothing here touches process-wide settings.
 */
import { timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { InvalidSpecError, type Logger, silentLogger, TransportError } from '@hvkit/core';
import { Agent, buildConnector } from 'undici';

/** Trust settings for the HTTPS connection to Proxmox. */
export interface ProxmoxTlsOptions {
  /**
   * PEM certificate(s) to trust instead of the system CAs, e.g. `/etc/pve/pve-root-ca.pem`.
   * The host name is still checked against the certificate.
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

/** Options of {@link createProxmoxDispatcher} beyond trust. */
export interface ProxmoxDispatcherOptions extends ProxmoxTlsOptions {
  /** Time allowed to open the TCP and TLS connection. Default 10 000 ms. */
  connectTimeoutMs?: number | undefined;
  /** Receives the `insecure` warning. Default: silent. */
  logger?: Logger | undefined;
}

/**
 * Normalises a SHA-256 fingerprint to upper-case colon hex (`AB:CD:…`, 32 bytes).
 *
 * @throws InvalidSpecError when `text` is not 64 hex digits (colons optional).
 */
export function normalizeFingerprint(text: string): string {
  const digits = text.trim().replace(/:/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(digits)) {
    throw new InvalidSpecError(
      [
        {
          path: 'tls.fingerprint256',
          message: 'expected a SHA-256 fingerprint: 64 hex digits, colons optional',
          code: 'invalid_fingerprint',
        },
      ],
      { subject: 'TLS options' },
    );
  }
  return digits.match(/../g)?.join(':') ?? digits;
}

/** Compares two fingerprints (any accepted notation) in constant time. */
export function fingerprintsEqual(expected: string, actual: string): boolean {
  const left = Buffer.from(normalizeFingerprint(expected).replace(/:/g, ''), 'hex');
  const right = Buffer.from(normalizeFingerprint(actual).replace(/:/g, ''), 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Builds the undici dispatcher one client uses for every request. Close it with `close()` when
 * the client is done.
 *
 * A pinned certificate is checked in the connector, once the handshake is done: Node calls
 * `checkServerIdentity` only after the chain verified, so a pin could never accept a self-signed
 * certificate there. A mismatch fails the connection with a {@link TransportError} (not
 * retryable) naming the expected and the actual fingerprint.
 *
 * @throws InvalidSpecError for a malformed fingerprint or `insecure` combined with `ca`/`fingerprint256`.
 */
export function createProxmoxDispatcher(options: ProxmoxDispatcherOptions = {}): Agent {
  const pin =
    options.fingerprint256 === undefined ? undefined : normalizeFingerprint(options.fingerprint256);
  const ca = options.ca === undefined ? undefined : [options.ca].flat();
  if (options.insecure && (pin !== undefined || ca !== undefined)) {
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
  const timeout = options.connectTimeoutMs ?? 10_000;
  if (options.insecure) {
    (options.logger ?? silentLogger).warn(
      'proxmox: TLS certificate verification is disabled (insecure: true); use ca or fingerprint256 instead',
    );
    return new Agent({ connect: { rejectUnauthorized: false, timeout } });
  }
  if (pin === undefined) {
    return new Agent({ connect: { timeout, ...(ca ? { ca } : {}) } });
  }
  const connector = buildConnector({
    timeout,
    // With a CA the chain and host name must verify too; with a pin alone the pin is the trust.
    ...(ca ? { ca, rejectUnauthorized: true } : { rejectUnauthorized: false }),
    // Every connection must present its certificate to be checked: no session resumption.
    maxCachedSessions: 0,
  });
  return new Agent({
    connect: (connectOptions, callback) => {
      connector(connectOptions, (error, socket) => {
        if (error || !socket) {
          callback(error ?? new Error('connection failed'), null);
          return;
        }
        const actual = (socket as TLSSocket).getPeerCertificate?.()?.fingerprint256;
        if (typeof actual === 'string' && actual !== '' && fingerprintsEqual(pin, actual)) {
          callback(null, socket);
          return;
        }
        socket.destroy();
        callback(
          new TransportError(
            `TLS certificate of ${connectOptions.hostname}:${connectOptions.port} does not match the pinned SHA-256 fingerprint: expected ${pin}, got ${actual || 'no certificate'}`,
            {
              retryable: false,
              details: {
                host: connectOptions.hostname,
                expectedFingerprint256: pin,
                actualFingerprint256: actual || undefined,
              },
            },
          ),
          null,
        );
      });
    },
  });
}
