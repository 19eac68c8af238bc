/**
 * TLS for one vSphere client: an undici `Agent` whose connector decides trust. Verified against
 * the system CAs by default; `ca` replaces them with a PEM bundle (the vCenter's VMCA root);
 * `fingerprint256` pins the leaf certificate, which also accepts an ESXi host's self-signed
 * certificate; `insecure` turns checks off, only when asked, with a warning. Nothing here touches
 * process-wide settings.
 */
import type { TLSSocket } from 'node:tls';
import {
  pinnedConnectCheck,
  silentLogger,
  type TlsAgentOptions,
  type TlsTrustOptions,
  tlsConnectSettings,
} from '@hvkit/core';
import { Agent, buildConnector } from 'undici';

/**
 * Trust settings for the HTTPS connection to vCenter or ESXi: `ca` is typically the vCenter's
 * VMCA root, `fingerprint256` also accepts an ESXi host's self-signed certificate. Core's type:
 * every provider trusts alike.
 */
export type VsphereTlsOptions = TlsTrustOptions;

/** Options of {@link createVsphereDispatcher}: trust, connect timeout, and the logger for the `insecure` warning. */
export type VsphereDispatcherOptions = TlsAgentOptions;

/**
 * Builds the undici dispatcher one client uses for every request (SOAP, datastore HTTP, vAPI).
 *
 * Trust options are validated and turned into socket options by core's `tlsConnectSettings`. A
 * pin is checked in the connector once the handshake is done (core's `pinnedConnectCheck`),
 * because Node only calls `checkServerIdentity` after the chain verified, so a pin there could
 * never accept a self-signed certificate. A mismatch fails the connection with a non-retryable
 * `TransportError` naming both fingerprints.
 *
 * The undici part stays here rather than in core (which does no I/O); the Proxmox provider has
 * its own ten-line twin of it, without the pool settings.
 *
 * @throws InvalidSpecError for a malformed fingerprint or `insecure` combined with `ca`/`fingerprint256`.
 */
export function createVsphereDispatcher(options: VsphereDispatcherOptions = {}): Agent {
  const { pin, insecure, connect } = tlsConnectSettings(
    options,
    options.connectTimeoutMs ?? 10_000,
  );
  // Keep-alive sockets are reused for every SOAP call; a long-poll holds one of its own.
  const pool = { keepAliveTimeout: 30_000, connections: 16 };
  if (insecure) {
    (options.logger ?? silentLogger).warn(
      'vsphere: TLS certificate verification is disabled (insecure: true); use tls.ca or tls.fingerprint256 instead',
    );
  }
  if (pin === undefined) return new Agent({ ...pool, connect });
  const connector = buildConnector(connect);
  return new Agent({
    ...pool,
    connect: (target, callback) => {
      connector(target, (error, socket) => {
        if (error || !socket) return callback(error ?? new Error('connection failed'), null);
        const fingerprint = (socket as TLSSocket).getPeerCertificate?.()?.fingerprint256;
        const refused = pinnedConnectCheck(pin, fingerprint, target);
        if (!refused) return callback(null, socket);
        socket.destroy();
        callback(refused, null);
      });
    },
  });
}
