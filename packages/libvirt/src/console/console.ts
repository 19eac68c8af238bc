/**
 * A running domain's graphical console (VNC, else SPICE) as core `ConsoleAccess`, reached through
 * the provider's SSH connection: QEMU serves the display on the host's loopback (the domain XML
 * hvkit builds says `<graphics type='vnc' autoport='yes' listen='127.0.0.1'>`), which nobody off
 * the host can reach, so {@link getConsole} opens a local forward (`@hvkit/ssh`
 * `openLocalForward`, one SSH `direct-tcpip` channel per viewer connection) and returns
 * `vnc://127.0.0.1:<local port>` on the caller's machine.
 *
 * **Lifetime of a forward.** It listens until one of: no viewer has been connected for
 * `idleTimeoutMs` (default {@link DEFAULT_CONSOLE_IDLE_MS}; counted from the call and again from
 * each viewer's disconnect, so `expiresAt` = call + idleTimeoutMs is the time to connect by); the
 * domain is found stopped or its display moved when a viewer connects (see below);
 * {@link ConsoleForwards.closeDomain} (the driver's power-off/delete of that VM);
 * {@link ConsoleForwards.closeAll} (the provider's close, before the SSH connection is closed).
 * A connected viewer is never cut by the idle timer.
 *
 * **Each viewer connection is checked first**: QEMU's autoport hands a stopped domain's port
 * (5900 + n) to the next domain started, so a stale forward would show another VM's screen.
 * Before a viewer's channel is opened the domain's live XML is read again (by UUID) and the
 * connection refused, and the forward closed, unless the domain still runs with the same
 * display address and port. Cost: one `virsh dumpxml` per viewer connection (measured on the
 * bed: a viewer's first bytes arrive 90–115 ms after it connects, check included; `getConsole`
 * itself takes 100–150 ms, one virsh process and the local listen).
 *
 * **Why `dumpxml --security-info` rather than `domdisplay`/`vncdisplay`**: one call gives the
 * state (a live document has `id='…'`), the listen address, port and password. `domdisplay
 * --include-password` prints the password raw inside its URI (measured on libvirt 9.0:
 * `vnc+unix://:s3cr&t@/var/lib/libvirt/qemu/domain-20-…/vnc.sock` for `passwd='s3cr&amp;t'`), so
 * a password with `@` or `:` cannot be read back from it; `vncdisplay` has no password and no
 * SPICE. The password (`passwd`) is returned as `ticket`, a secret: it never appears in a log
 * line or error of this module, and the driver must add it to its redaction list (as vSphere's
 * does with its ticket).
 *
 * **Not served**: a display on a UNIX socket (`<listen type='socket'>`): libvirt 9.0 puts it in
 * `/var/lib/libvirt/qemu/domain-<id>-<name>/` (measured: root-owned, mode 0750), which the
 * non-root SSH user cannot open; a display with no listen (`type='none'`); a domain with neither
 * VNC nor SPICE. Those are ConflictError `invalid-state`.
 *
 * Security: whoever can connect to the local port gets the console (QEMU's VNC has no password
 * unless the domain sets one). The listener is loopback-only (`localHost` accepts nothing else),
 * which still admits every local user of the caller's machine.
 */
import {
  ConflictError,
  type ConsoleAccess,
  InvalidSpecError,
  type Logger,
  ProviderApiError,
  type SpecIssue,
  silentLogger,
} from '@hvkit/core';
import {
  type ForwardingTransport,
  isLoopbackAddress,
  type LocalForward,
  openLocalForward,
} from '@hvkit/ssh';
import type { Virsh } from '../virsh/virsh.js';
import {
  attributeOf,
  childOf,
  childrenOf,
  parseXml,
  textOf,
  type XmlElement,
} from '../xml/xml-reader.js';

/** Default `idleTimeoutMs`: 5 minutes to connect a viewer, and again after each disconnect. */
export const DEFAULT_CONSOLE_IDLE_MS = 5 * 60_000;
/** Default cap of {@link ConsoleForwards}: forwards listening at once per provider. */
export const DEFAULT_MAX_CONSOLE_FORWARDS = 32;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Where a running domain's display is served on the host, from its live XML. */
export interface DisplayTarget {
  readonly protocol: 'vnc' | 'spice';
  /** Address the SSH server connects to (a wildcard listen becomes the loopback). */
  readonly host: string;
  /** TCP port on the host. */
  readonly port: number;
  /** The display password (`passwd`), a secret; undefined when the domain sets none. */
  readonly password?: string | undefined;
  /** When the password stops working (`passwdValidTo`, UTC), ISO 8601. */
  readonly passwordValidTo?: string | undefined;
}

/** A domain's live display and identity, from `dumpxml --security-info`. */
export interface LiveDisplay {
  readonly uuid: string;
  /** False when the document is the inactive definition (no `id` attribute: not running). */
  readonly active: boolean;
  /** The display, or why there is none that can be forwarded. */
  readonly display: DisplayTarget | Unavailable;
}

/** Why a domain has no display that can be forwarded: a kind for `details.display`, and a text. */
export interface Unavailable {
  readonly unavailable: 'unix-socket' | 'no-listen' | 'no-display';
  readonly why: string;
}

/** The listen address a domain's `<graphics>` element serves on, or why it has none usable. */
function listenOf(graphics: XmlElement): string | Unavailable {
  const listens = childrenOf(graphics, 'listen');
  for (const listen of listens) {
    const type = attributeOf(listen, 'type');
    if (type === 'address' || type === 'network') {
      const address = attributeOf(listen, 'address');
      if (address !== undefined && address !== '') return address;
    }
  }
  const attribute = attributeOf(graphics, 'listen');
  if (attribute !== undefined && attribute !== '') return attribute;
  const socket = listens.find((listen) => attributeOf(listen, 'type') === 'socket');
  if (socket !== undefined || attributeOf(graphics, 'socket') !== undefined) {
    return {
      unavailable: 'unix-socket',
      why: 'its display is served on a UNIX socket in a root-only directory (/var/lib/libvirt/qemu/domain-*), which the SSH user cannot reach; give it a TCP listen address',
    };
  }
  if (listens.some((listen) => attributeOf(listen, 'type') === 'none')) {
    return {
      unavailable: 'no-listen',
      why: 'its display has no listen address (listen type none)',
    };
  }
  // No listen at all: QEMU's default for VNC is the host's loopback (vnc_listen in qemu.conf).
  return '127.0.0.1';
}

/** The host address the SSH server should connect to for a listen address. */
function connectAddress(listen: string): string {
  if (listen === '0.0.0.0') return '127.0.0.1';
  if (listen === '::' || listen === '[::]') return '::1';
  return listen.replace(/^\[(.*)\]$/, '$1');
}

/** libvirt's `passwdValidTo` (`2026-11-21T18:00:00`, UTC) as ISO 8601, or undefined. */
function validTo(value: string | undefined): string | undefined {
  if (value === undefined || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(value)) return undefined;
  const time = Date.parse(`${value}Z`);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/**
 * Reads the display from a domain document (`virsh dumpxml [--security-info]`): the first VNC
 * `<graphics>`, else the first SPICE one; its listen address, TCP port and password.
 *
 * @throws ProviderApiError when the document is not well-formed (the parser's text is left out:
 *   with `--security-info` the document holds the password) or a live display has no valid port.
 */
export function parseLiveDisplay(xml: string, domain: string): LiveDisplay {
  let root: XmlElement;
  try {
    root = parseXml(xml, { what: 'dumpxml' });
  } catch {
    // Neither the parser's text nor its error as cause: they may quote the password.
    throw new ProviderApiError(
      `virsh dumpxml of ${JSON.stringify(domain)} is not well-formed XML`,
      {
        fault: 'xml-parse',
      },
    );
  }
  const active = attributeOf(root, 'id') !== undefined;
  const uuid = textOf(root, 'uuid') ?? '';
  const graphics = childrenOf(childOf(root, 'devices'), 'graphics');
  const chosen =
    graphics.find((element) => attributeOf(element, 'type') === 'vnc') ??
    graphics.find((element) => attributeOf(element, 'type') === 'spice');
  if (chosen === undefined) {
    return {
      uuid,
      active,
      display: { unavailable: 'no-display', why: 'it has no VNC or SPICE display' },
    };
  }
  const listen = listenOf(chosen);
  if (typeof listen !== 'string') return { uuid, active, display: listen };
  const portText = attributeOf(chosen, 'port') ?? '';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (active && !(port >= 1 && port <= 65_535)) {
    throw new ProviderApiError(
      `the running domain ${JSON.stringify(domain)} reports no TCP port for its display (port=${JSON.stringify(portText)})`,
      { fault: 'no-display-port' },
    );
  }
  const protocol = attributeOf(chosen, 'type') === 'spice' ? 'spice' : 'vnc';
  const password = attributeOf(chosen, 'passwd');
  return {
    uuid,
    active,
    display: {
      protocol,
      host: connectAddress(listen),
      port,
      password: password === undefined || password === '' ? undefined : password,
      passwordValidTo: validTo(attributeOf(chosen, 'passwdValidTo')),
    },
  };
}

/** libvirt states in which the guest runs (core `on`): the console is served. */
const RUNNING_STATES = new Set(['running', 'idle', 'in shutdown']);

/** Options of {@link getConsole}. */
export interface ConsoleOptions {
  /** Where the forward is registered, so the driver can close it (required: a forward is a listening port). */
  forwards: ConsoleForwards;
  /** Stops the lookup (not the forward once returned). */
  signal?: AbortSignal | undefined;
  /** See the module comment. Default {@link DEFAULT_CONSOLE_IDLE_MS}. */
  idleTimeoutMs?: number | undefined;
  /** Local loopback address to listen on (`127.0.0.0/8` or `::1`). Default `127.0.0.1`. */
  localHost?: string | undefined;
  /** Local port; default 0 (a free one). */
  localPort?: number | undefined;
  /** Viewer connections refused or failed go here (debug level). Default silent. */
  logger?: Logger | undefined;
  /** Provider instance name put on errors. Default `libvirt`. */
  provider?: string | undefined;
}

function checkOptions(domain: string, options: ConsoleOptions): void {
  const issues: SpecIssue[] = [];
  if (typeof domain !== 'string' || domain === '') {
    issues.push({ path: 'id', message: 'required', code: 'required' });
  }
  const { idleTimeoutMs, localHost, localPort } = options;
  if (
    idleTimeoutMs !== undefined &&
    (!Number.isInteger(idleTimeoutMs) || idleTimeoutMs < 1 || idleTimeoutMs > MAX_TIMER_MS)
  ) {
    issues.push({
      path: 'idleTimeoutMs',
      message: `expected a whole number of milliseconds from 1 to ${MAX_TIMER_MS}`,
      code: 'invalid_number',
    });
  }
  if (localHost !== undefined && !isLoopbackAddress(localHost)) {
    issues.push({
      path: 'localHost',
      message:
        'expected a loopback address (127.0.0.0/8 or ::1): the console port has no authentication of its own',
      code: 'invalid_string',
    });
  }
  if (
    localPort !== undefined &&
    (!Number.isInteger(localPort) || localPort < 0 || localPort > 65_535)
  ) {
    issues.push({
      path: 'localPort',
      message: 'expected a whole number from 0 to 65535',
      code: 'invalid_number',
    });
  }
  if (issues.length > 0)
    throw new InvalidSpecError(issues, { subject: 'console request', provider: options.provider });
}

/**
 * Reads the domain's state and live display in one virsh process (`domstate`, `dumpxml
 * --security-info`).
 *
 * @throws NotFoundError('vm') for a missing domain; ConflictError `invalid-power-state` when it
 *   is not running, `invalid-state` when its display cannot be forwarded.
 */
export async function readLiveDisplay(
  virsh: Virsh,
  domain: string,
  options: { signal?: AbortSignal | undefined; provider?: string | undefined } = {},
): Promise<{ uuid: string; display: DisplayTarget }> {
  const provider = options.provider ?? 'libvirt';
  const [state, dump] = await virsh.runMany(
    [
      ['domstate', '--', domain],
      ['dumpxml', '--security-info', '--', domain],
    ],
    { signal: options.signal, idempotent: true },
  );
  if (!state?.ok)
    throw state?.error ?? new ProviderApiError('virsh domstate gave no result', { provider });
  const stateName = state.stdout.trim();
  if (!RUNNING_STATES.has(stateName)) {
    throw new ConflictError(
      'invalid-power-state',
      `VM ${JSON.stringify(domain)} is ${stateName || 'not running'}; a console needs it running`,
      { provider, details: { state: stateName } },
    );
  }
  if (!dump?.ok)
    throw dump?.error ?? new ProviderApiError('virsh dumpxml gave no result', { provider });
  const live = parseLiveDisplay(dump.stdout, domain);
  if (!live.active) {
    // Stopped between the two commands.
    throw new ConflictError(
      'invalid-power-state',
      `VM ${JSON.stringify(domain)} is not running; a console needs it running`,
      { provider },
    );
  }
  if ('unavailable' in live.display) {
    throw new ConflictError(
      'invalid-state',
      `VM ${JSON.stringify(domain)} has no console hvkit can forward: ${live.display.why}`,
      { provider, details: { display: live.display.unavailable } },
    );
  }
  return { uuid: live.uuid, display: live.display };
}

/** `vnc://127.0.0.1:5901`, `spice://[::1]:5901` (the TCP port, as RFC 7869 has it for VNC). */
function consoleUrl(protocol: 'vnc' | 'spice', host: string, port: number): string {
  return `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Opens a console on running domain `domain` (UUID, name or id): a local loopback port forwarded
 * over `connection` to the domain's display on the host, registered in `options.forwards`.
 * Returns `vnc://127.0.0.1:<port>` (or `spice://…`), `expiresAt` (connect a viewer before it; see
 * the module comment for the lifetime) and `ticket` = the domain's display password when it has
 * one (a secret: redact it).
 *
 * Each call opens its own forward (its own port and idle timer).
 *
 * @throws InvalidSpecError (`id`, `idleTimeoutMs`, `localHost`, `localPort`) before any I/O;
 *   NotFoundError('vm'); ConflictError `invalid-power-state` when the domain is not running,
 *   `invalid-state` when its display cannot be forwarded (UNIX socket, none), `in-use` when
 *   `forwards` is full of forwards with viewers connected; TransportError when the local port
 *   cannot be bound or SSH fails.
 */
export async function getConsole(
  virsh: Virsh,
  connection: ForwardingTransport,
  domain: string,
  options: ConsoleOptions,
): Promise<ConsoleAccess> {
  checkOptions(domain, options);
  const provider = options.provider ?? 'libvirt';
  const logger = options.logger ?? silentLogger;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_CONSOLE_IDLE_MS;
  const { uuid, display } = await readLiveDisplay(virsh, domain, {
    signal: options.signal,
    provider,
  });
  options.signal?.throwIfAborted();
  await options.forwards.makeRoom(provider);

  let forward: LocalForward | undefined;
  const checkStillServed = async (signal: AbortSignal): Promise<void> => {
    const dump = await virsh.run(['dumpxml', '--', uuid], { signal, idempotent: true });
    const now = parseLiveDisplay(dump, uuid);
    const same =
      now.active &&
      !('unavailable' in now.display) &&
      now.display.port === display.port &&
      now.display.host === display.host;
    if (!same) {
      // The domain stopped or restarted elsewhere: this forward will never be right again.
      logger.debug('libvirt console closed: the domain stopped or its display moved', { vm: uuid });
      void forward?.close();
      throw new ConflictError(
        'invalid-power-state',
        `VM ${uuid}'s display is no longer at the forwarded port (the domain stopped or restarted); get a new console`,
        { provider },
      );
    }
  };
  const started = Date.now();
  forward = await openLocalForward(connection, {
    remoteHost: display.host,
    remotePort: display.port,
    localHost: options.localHost,
    localPort: options.localPort,
    idleTimeoutMs,
    beforeConnect: checkStillServed,
    onConnectionError: (error) =>
      logger.debug('libvirt console connection refused', {
        vm: uuid,
        error: error instanceof Error ? error.message : String(error),
      }),
  });
  options.forwards.add(uuid, forward);
  let expires = started + idleTimeoutMs;
  if (display.passwordValidTo !== undefined) {
    expires = Math.min(expires, Date.parse(display.passwordValidTo));
  }
  return {
    protocol: display.protocol,
    url: consoleUrl(display.protocol, forward.host, forward.port),
    ...(display.password === undefined ? {} : { ticket: display.password }),
    expiresAt: new Date(expires).toISOString(),
  };
}

/**
 * The console forwards of one provider: the driver makes one, passes it to every
 * {@link getConsole}, closes a VM's forwards when it stops or deletes that VM
 * ({@link closeDomain}) and all of them in its own close ({@link closeAll}), before closing the
 * SSH connection. A forward that closes by itself (idle, domain gone) leaves the registry.
 */
export class ConsoleForwards {
  readonly #byDomain = new Map<LocalForward, string>();
  readonly #max: number;
  #closed = false;

  /** @param options.max Forwards listening at once (default {@link DEFAULT_MAX_CONSOLE_FORWARDS}). */
  constructor(options: { max?: number | undefined } = {}) {
    this.#max = options.max ?? DEFAULT_MAX_CONSOLE_FORWARDS;
  }

  /** Forwards listening now. */
  get size(): number {
    return this.#byDomain.size;
  }

  /** The forwards of domain `uuid` listening now (for tests and diagnostics). */
  forwardsOf(uuid: string): LocalForward[] {
    return [...this.#byDomain].filter(([, domain]) => domain === uuid).map(([forward]) => forward);
  }

  /**
   * Frees a place for one more forward: at the cap, closes the oldest forward without a viewer.
   *
   * @throws ConflictError `in-use` when every forward has a viewer connected, `invalid-state`
   *   once {@link closeAll} was called.
   */
  async makeRoom(provider: string): Promise<void> {
    if (this.#closed) {
      throw new ConflictError('invalid-state', 'the provider is closed: no new console forwards', {
        provider,
      });
    }
    if (this.#byDomain.size < this.#max) return;
    const idle = [...this.#byDomain.keys()].find((forward) => forward.stats.open === 0);
    if (idle === undefined) {
      throw new ConflictError(
        'in-use',
        `${this.#max} consoles are open with viewers connected; close one first`,
        { provider, details: { max: this.#max } },
      );
    }
    this.#byDomain.delete(idle);
    await idle.close();
  }

  /** Registers `forward` for domain `uuid`; it leaves when it closes. Closed at once after {@link closeAll}. */
  add(uuid: string, forward: LocalForward): void {
    if (this.#closed) {
      void forward.close();
      return;
    }
    this.#byDomain.set(forward, uuid);
    void forward.closed.then(() => this.#byDomain.delete(forward));
  }

  /** Closes the forwards of domain `uuid` (its viewers are disconnected). */
  async closeDomain(uuid: string): Promise<void> {
    await Promise.all(this.forwardsOf(uuid).map((forward) => forward.close()));
  }

  /** Closes every forward and refuses new ones: the provider is closing. */
  async closeAll(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#byDomain.keys()].map((forward) => forward.close()));
  }
}
