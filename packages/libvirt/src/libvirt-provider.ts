import {
  type Clock,
  createProvider,
  InvalidSpecError,
  type Logger,
  type Provider,
  systemClock,
} from '@hvkit/core';
import { createSshTransport, type SshConnection, type SshTransportOptions } from '@hvkit/ssh';
import { type LibvirtDefaults, LibvirtDriver } from './libvirt-driver.js';
import { Virsh } from './virsh/virsh.js';

/**
 * Settings of {@link createLibvirtProvider}. The SSH ones (`host`, `port`, `privateKey`,
 * `passphrase`, `agent`, `hostKey`, `maxChannels`, `keepaliveIntervalMs`) are `@hvkit/ssh`'s, with
 * its defaults; `hostKey` is required: there is no trust-on-first-use.
 */
export interface LibvirtProviderSettings
  extends Pick<
    SshTransportOptions,
    | 'host'
    | 'port'
    | 'privateKey'
    | 'passphrase'
    | 'agent'
    | 'hostKey'
    | 'maxChannels'
    | 'keepaliveIntervalMs'
  > {
  /** Instance name, carried by every VM ref. Default `libvirt`. */
  name?: string | undefined;
  /** SSH user; must be allowed to use `qemu:///system` (group `libvirt` on Debian). */
  username: string;
  /** libvirt URI on the host. Default `qemu:///system`. */
  uri?: string | undefined;
  /** Name reported as `placement.host`. Default `host`. */
  hostName?: string | undefined;
  /** Pool and domain type of new domains when a spec does not say. */
  defaults?: LibvirtDefaults | undefined;
  /**
   * Most long-lived interactive `virsh` processes kept on the host, one SSH channel each: a call
   * of printable-ASCII commands then costs one write and read instead of a new virsh process
   * and libvirt connection. 0 runs every call as its own process. Default 4, and never more than
   * `maxChannels` − 2 (a channel stays free for transfers, events and other calls).
   */
  virshSessions?: number | undefined;
  /** Time source for tasks. Default the system clock. */
  clock?: Clock | undefined;
  /** Receives redacted debug lines. Default silent. */
  logger?: Logger | undefined;
}

function invalid(path: string, message: string): InvalidSpecError {
  return new InvalidSpecError([{ path, code: 'invalid', message }], {
    subject: 'libvirt provider settings',
  });
}

/**
 * A libvirt provider: `virsh -c <uri>` over one SSH connection (libvirt 9.0 and QEMU 7.2 tested;
 * KVM or TCG). Connects on the first operation; the host key is verified before any command.
 *
 * @throws InvalidSpecError for malformed settings (host, user, key, host key policy, URI).
 */
export function createLibvirtProvider(settings: LibvirtProviderSettings): Provider {
  const name = settings.name ?? 'libvirt';
  if (typeof settings.host !== 'string' || settings.host === '')
    throw invalid('host', 'must not be empty');
  if (typeof settings.username !== 'string' || settings.username === '')
    throw invalid('username', 'must not be empty');
  const uri = settings.uri ?? 'qemu:///system';
  const virshSessions = settings.virshSessions ?? 4;
  if (!Number.isInteger(virshSessions) || virshSessions < 0 || virshSessions > 64)
    throw invalid('virshSessions', 'must be an integer from 0 to 64');
  if (!/^[a-z0-9+]+:\/\/[^\s]*$/.test(uri))
    throw invalid('uri', 'must be a libvirt URI such as qemu:///system');
  const ssh: SshConnection = createSshTransport({
    host: settings.host,
    port: settings.port,
    username: settings.username,
    privateKey: settings.privateKey,
    passphrase: settings.passphrase,
    agent: settings.agent,
    hostKey: settings.hostKey,
    maxChannels: settings.maxChannels,
    keepaliveIntervalMs: settings.keepaliveIntervalMs,
    logger: settings.logger,
    provider: name,
  });
  const secrets = [settings.passphrase].filter(
    (value): value is string => typeof value === 'string' && value !== '',
  );
  const virsh = new Virsh(ssh, {
    uri,
    provider: name,
    sessions: Math.min(virshSessions, Math.max(0, (settings.maxChannels ?? 8) - 2)),
  });
  const driver = new LibvirtDriver({
    name,
    virsh,
    host: settings.hostName ?? settings.host,
    endpoint: `${settings.username}@${settings.host}:${settings.port ?? 22}/${uri}`,
    defaults: settings.defaults ?? {},
    clock: settings.clock ?? systemClock,
    logger: settings.logger,
    redact: secrets.length > 0 ? { secrets } : undefined,
    ssh,
    close: () => {
      virsh.close();
      return ssh.close();
    },
  });
  return createProvider(driver);
}
