/**
 * TLS for one Proxmox client: an undici `Agent` whose connector decides trust. Verified against
 * the system CAs by default; `ca` replaces them with a PEM bundle (the cluster's
 * `pve-root-ca.pem`); `fingerprint256` pins the leaf certificate (what `pvenode cert info` shows),
 * which also accepts Proxmox's default self-signed certificate; `insecure` turns checks off, only
 * when asked, with a warning. Nothing here touches process-wide settings.
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
 * Trust settings for the HTTPS connection to Proxmox: `ca` is typically the cluster's
 * `/etc/pve/pve-root-ca.pem`, `fingerprint256` what `pvenode cert info` shows (which also
 * accepts Proxmox's default self-signed certificate). Core's type: every provider trusts alike.
 */
export type ProxmoxTlsOptions = TlsTrustOptions;

/** Options of {@link createProxmoxDispatcher}: trust, connect timeout, and the logger for the `insecure` warning. */
export type ProxmoxDispatcherOptions = TlsAgentOptions;

/**
 * Parsing and comparing fingerprints is core's (every network provider pins the same way);
 * re-exported because they were part of this module's interface.
 */
export { fingerprintsEqual, normalizeFingerprint } from '@hvkit/core';

/**
 * Builds the undici dispatcher one client uses for every request. Close it with `close()` when
 * the client is done.
 *
 * Trust options are validated and turned into socket options by core's `tlsConnectSettings`. A
 * pinned certificate is checked in the connector, once the handshake is done (core's
 * `pinnedConnectCheck`): Node calls `checkServerIdentity` only after the chain verified, so a pin
 * could never accept a self-signed certificate there. A mismatch fails the connection with a
 * `TransportError` (not retryable) naming the expected and the actual fingerprint.
 *
 * The undici part stays here rather than in core (which does no I/O); the vSphere provider has
 * its own ten-line twin of it, with its own pool settings.
 *
 * @throws InvalidSpecError for a malformed fingerprint or `insecure` combined with `ca`/`fingerprint256`.
 */
export function createProxmoxDispatcher(options: ProxmoxDispatcherOptions = {}): Agent {
  const { pin, insecure, connect } = tlsConnectSettings(
    options,
    options.connectTimeoutMs ?? 10_000,
  );
  if (insecure) {
    (options.logger ?? silentLogger).warn(
      'proxmox: TLS certificate verification is disabled (insecure: true); use ca or fingerprint256 instead',
    );
  }
  if (pin === undefined) return new Agent({ connect });
  const connector = buildConnector(connect);
  return new Agent({
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
