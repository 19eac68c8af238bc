/**
 * TLS for one vSphere client: an undici `Agent` whose connector decides trust. Verified against
 * the system CAs by default; `ca` replaces them with a PEM bundle (the vCenter's VMCA root);
 * `fingerprint256` pins the leaf certificate, which also accepts an ESXi host's self-signed
 * certificate; `insecure` turns checks off, only when asked, with a warning. Nothing here touches
 * process-wide settings.
 */
import type { TLSSocket } from 'node:tls';
import {
  fingerprintsEqual,
  InvalidSpecError,
  type Logger,
  normalizeFingerprint,
  silentLogger,
  TransportError,
} from '@hvkit/core';
import { Agent, buildConnector } from 'undici';

/** Trust settings for the HTTPS connection to vCenter or ESXi. */
export interface VsphereTlsOptions {
  /** PEM certificate(s) to trust instead of the system CAs. The host name is still checked. */
  ca?: string | readonly string[] | undefined;
  /**
   * SHA-256 fingerprint of the server's leaf certificate, colon-separated or plain hex. A
   * certificate with this fingerprint is trusted even if self-signed; any other is refused.
   * Combined with `ca`, both must hold.
   */
  fingerprint256?: string | undefined;
  /**
   * Skip every certificate check. Only for throwaway test beds: anyone on the path can read the
   * credentials. Logs one warning per client. Cannot be combined with `ca` or `fingerprint256`.
   */
  insecure?: boolean | undefined;
}

/** Options of {@link createVsphereDispatcher} beyond trust. */
export interface VsphereDispatcherOptions extends VsphereTlsOptions {
  /** Time allowed to open the TCP and TLS connection. Default 10 000 ms. */
  connectTimeoutMs?: number | undefined;
  /** Receives the `insecure` warning. Default: silent. */
  logger?: Logger | undefined;
}

/**
 * Builds the undici dispatcher one client uses for every request (SOAP, datastore HTTP, vAPI).
 *
 * A pin is checked in the connector once the handshake is done, because Node only calls
 * `checkServerIdentity` after the chain verified, so a pin there could never accept a self-signed
 * certificate. A mismatch fails the connection with a non-retryable {@link TransportError} naming
 * both fingerprints.
 *
 * @throws InvalidSpecError for a malformed fingerprint or `insecure` combined with `ca`/`fingerprint256`.
 */
export function createVsphereDispatcher(options: VsphereDispatcherOptions = {}): Agent {
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
  // Keep-alive sockets are reused for every SOAP call; a long-poll holds one of its own.
  const pool = { keepAliveTimeout: 30_000, connections: 16 };
  if (options.insecure) {
    (options.logger ?? silentLogger).warn(
      'vsphere: TLS certificate verification is disabled (insecure: true); use tls.ca or tls.fingerprint256 instead',
    );
    return new Agent({ ...pool, connect: { rejectUnauthorized: false, timeout } });
  }
  if (pin === undefined) return new Agent({ ...pool, connect: { timeout, ...(ca ? { ca } : {}) } });
  const connector = buildConnector({
    timeout,
    ...(ca ? { ca, rejectUnauthorized: true } : { rejectUnauthorized: false }),
    // Every connection presents its certificate to be checked: no session resumption.
    maxCachedSessions: 0,
  });
  return new Agent({
    ...pool,
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
