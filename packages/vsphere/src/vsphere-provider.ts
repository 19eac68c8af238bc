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
import { createVsphereDispatcher, type VsphereTlsOptions } from './client/tls.js';
import { VimClient } from './client/vim-client.js';
import { type VsphereDefaults, VsphereDriver } from './vsphere-driver.js';

/** Settings of {@link createVsphereProvider}. */
export interface VsphereProviderSettings {
  /** Instance name, carried by every VM ref. Default `vsphere`. */
  name?: string | undefined;
  /** `https://vcenter.example.com/sdk` (a URL without a path gets `/sdk`). */
  url: string;
  /** vCenter SSO user, e.g. `administrator@vsphere.local`. */
  username: string;
  /** Redacted from every error and log line. */
  password: string;
  /**
   * TLS trust. Verified against the system CAs by default; `ca` (the vCenter's VMCA root
   * certificate), `fingerprint256` (pin the server certificate) or `insecure` (test beds only).
   */
  tls?: VsphereTlsOptions | undefined;
  /** Where new VMs go when a spec does not say (names or moref values). */
  defaults?: VsphereDefaults | undefined;
  /** Per-request time limit in ms. Default 60 000. */
  timeoutMs?: number | undefined;
  /** Time source for tasks. Default the system clock. */
  clock?: Clock | undefined;
  /** Receives redacted debug lines. Default silent. */
  logger?: Logger | undefined;
}

function endpointOf(settings: VsphereProviderSettings): string {
  let url: URL | undefined;
  try {
    url = new URL(settings.url);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new InvalidSpecError(
      [{ path: 'url', code: 'invalid_url', message: 'must be https://host[:port][/sdk]' }],
      { subject: 'vSphere provider settings' },
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidSpecError(
      [
        {
          path: 'url',
          code: 'invalid_url',
          message: 'must not carry credentials; use username and password',
        },
      ],
      { subject: 'vSphere provider settings' },
    );
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/sdk';
  return url.toString();
}

/**
 * A vSphere provider (vCenter 6.5–8.x, tested against VMware's vcsim) on the vim25 SOAP API.
 *
 * Makes no request until the first operation; logs in then, and again once when the session
 * expires. Throws `InvalidSpecError` for malformed settings (URL, credentials, TLS options).
 */
export function createVsphereProvider(settings: VsphereProviderSettings): Provider {
  const name = settings.name ?? 'vsphere';
  const url = endpointOf(settings);
  const issues = [];
  if (typeof settings.username !== 'string' || settings.username === '')
    issues.push({ path: 'username', code: 'required', message: 'must not be empty' });
  if (typeof settings.password !== 'string' || settings.password === '')
    issues.push({ path: 'password', code: 'required', message: 'must not be empty' });
  if (issues.length > 0)
    throw new InvalidSpecError(issues, { subject: 'vSphere provider settings' });
  // One array: secrets the driver learns later (console tickets) are scrubbed from then on.
  const secrets = [settings.password];
  const redact = { secrets };
  const logger = redactingLogger(settings.logger ?? silentLogger, redact);
  const clock = settings.clock ?? systemClock;
  const dispatcher = createVsphereDispatcher({ ...settings.tls, logger });
  const client = new VimClient({
    url,
    username: settings.username,
    password: settings.password,
    dispatcher,
    provider: name,
    logger,
    redact,
    timeoutMs: settings.timeoutMs,
  });
  return createProvider(
    new VsphereDriver({
      name,
      client,
      clock,
      logger,
      redact,
      secrets,
      credentials: { username: settings.username, password: settings.password },
      defaults: settings.defaults,
    }),
  );
}
