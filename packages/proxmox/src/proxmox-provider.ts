import {
  type Clock,
  createProvider,
  InvalidSpecError,
  type Logger,
  type Provider,
  redactingLogger,
  silentLogger,
  systemClock,
} from '@hvkit/core';
import { ProxmoxClient, type ProxmoxCredentials, type ProxmoxTlsOptions } from './api/index.js';
import { ProxmoxDriver } from './proxmox-driver.js';

/** API token (recommended) or user and password (ticket auth, renewed before it expires). */
export type ProxmoxAuth =
  | {
      /** `USER@REALM!TOKENID`, e.g. `automation@pve!hvkit`. */
      tokenId: string;
      /** The token secret. Redacted from every error and log line. */
      tokenSecret: string;
    }
  | {
      /** `USER@REALM`, e.g. `root@pam`. */
      username: string;
      /** Redacted from every error and log line. */
      password: string;
    };

/** Settings of {@link createProxmoxProvider}. */
export interface ProxmoxProviderSettings {
  /** Instance name, carried by every VM ref. Default `proxmox`. */
  name?: string | undefined;
  /** Host name or IP of any cluster node. Either this or `baseUrl`. */
  host?: string | undefined;
  /** API port. Default 8006. */
  port?: number | undefined;
  /** `https://host:port` (a trailing `/api2/json` is accepted). Either this or `host`. */
  baseUrl?: string | undefined;
  auth: ProxmoxAuth;
  /**
   * TLS trust. Verified against the system CAs by default; `ca` (the cluster's
   * `pve-root-ca.pem`), `fingerprint256` (pin the node certificate) or `insecure` (test beds only).
   */
  tls?: ProxmoxTlsOptions | undefined;
  /** Node for new VMs, images and listings. Default: the first online node. */
  node?: string | undefined;
  /** Storage for disks that name none. Default `local-lvm`. */
  storage?: string | undefined;
  /** Storage with `import` content for image downloads and disk uploads. Default `local`. */
  importStorage?: string | undefined;
  /** Per-request time limit in ms. Default 60 000. */
  timeoutMs?: number | undefined;
  /** Time source for tickets and tasks. Default the system clock. */
  clock?: Clock | undefined;
  /** Receives redacted debug lines. Default silent. */
  logger?: Logger | undefined;
}

function endpointOf(settings: ProxmoxProviderSettings): { host: string; port?: number } {
  if (settings.baseUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(settings.baseUrl);
    } catch {
      url = new URL('invalid://x');
    }
    if (url.protocol !== 'https:' || !/^\/?(api2\/json\/?)?$/.test(url.pathname.replace(/^\//, '')))
      throw new InvalidSpecError(
        [{ path: 'baseUrl', code: 'invalid_url', message: 'must be https://host[:port]' }],
        { subject: 'Proxmox provider settings' },
      );
    return {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      ...(url.port === '' ? {} : { port: Number(url.port) }),
    };
  }
  if (settings.host === undefined)
    throw new InvalidSpecError(
      [{ path: 'host', code: 'required', message: 'give host (and port) or baseUrl' }],
      { subject: 'Proxmox provider settings' },
    );
  return { host: settings.host, ...(settings.port === undefined ? {} : { port: settings.port }) };
}

/**
 * A Proxmox VE provider on the REST API (`/api2/json`), for PVE 8.4 and 9.1.
 *
 * Makes no request until the first operation. Throws `InvalidSpecError` for malformed settings
 * (host, port, credentials, TLS options).
 */
export function createProxmoxProvider(settings: ProxmoxProviderSettings): Provider {
  const name = settings.name ?? 'proxmox';
  const credentials: ProxmoxCredentials =
    'tokenId' in settings.auth
      ? { type: 'token', tokenId: settings.auth.tokenId, secret: settings.auth.tokenSecret }
      : { type: 'password', username: settings.auth.username, password: settings.auth.password };
  const secret = credentials.type === 'token' ? credentials.secret : credentials.password;
  const redact = { secrets: [secret] };
  const logger = redactingLogger(settings.logger ?? silentLogger, redact);
  const clock = settings.clock ?? systemClock;
  const client = new ProxmoxClient({
    ...endpointOf(settings),
    credentials,
    tls: settings.tls,
    clock,
    logger,
    timeoutMs: settings.timeoutMs,
    provider: name,
  });
  const driver = new ProxmoxDriver({
    name,
    client,
    node: settings.node,
    storage: settings.storage,
    importStorage: settings.importStorage,
    clock,
    logger,
    redact,
  });
  return createProvider(driver);
}
