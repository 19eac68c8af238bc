/**
 * TCP forwarding through an {@link SshConnection}: what `ssh -L` does. A local listener on a
 * loopback address hands every accepted socket its own SSH `direct-tcpip` channel to
 * `remoteHost:remotePort` as seen from the SSH server, and copies bytes both ways with
 * backpressure (the SSH window on one side, the socket's buffer on the other). Used to reach a
 * VM's VNC display that the hypervisor serves on its own loopback only.
 */
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { InvalidSpecError, type SpecIssue, TransportError } from '@hvkit/core';
import type { SshConnection } from './ssh-connection.js';

/** Options of {@link SshConnection.forwardOut}. */
export interface ForwardOutOptions {
  /** Gives up waiting for the channel (and the connect under it); rejects with the reason. */
  signal?: AbortSignal | undefined;
  /** Deadline for the connect and the channel open; a TimeoutError past it. Default none. */
  timeoutMs?: number | undefined;
  /**
   * Originator address and port sent in the channel request (the server logs them; OpenSSH
   * does not check them). Default `127.0.0.1` and 0.
   */
  originHost?: string | undefined;
  originPort?: number | undefined;
}

/** What {@link openLocalForward} needs of a connection: `SshConnection` (tests may give a fake). */
export type ForwardingTransport = Pick<SshConnection, 'forwardOut'>;

/** Options of {@link openLocalForward}. */
export interface LocalForwardOptions {
  /** Host the SSH server connects to, as the server resolves it (`127.0.0.1` = the server itself). */
  remoteHost: string;
  /** TCP port on `remoteHost`, 1–65535. */
  remotePort: number;
  /**
   * Local address to listen on. Only loopback addresses are accepted (`127.0.0.0/8`, `::1`):
   * whoever reaches the port reaches the remote service without any SSH credentials, so it
   * must not be exposed to the network. Default `127.0.0.1`.
   */
  localHost?: string | undefined;
  /** Local port; 0 (the default) picks a free one, read it from the result. */
  localPort?: number | undefined;
  /**
   * Closes the whole forward once it has had no open connection for this long: counted from the
   * listen, and again from the moment its last connection closed. An open connection, busy or
   * quiet, keeps it alive. Default: no idle limit (close it yourself).
   */
  idleTimeoutMs?: number | undefined;
  /** Most local connections open at once; a connection past it is closed at once. Default 16. */
  maxConnections?: number | undefined;
  /** Closes the forward when aborted (before the listen: the call rejects with the reason). */
  signal?: AbortSignal | undefined;
  /**
   * Run for every accepted connection before its channel is opened; when it rejects, that
   * connection is closed (and the error goes to `onConnectionError`). E.g. check that the service
   * behind the port is still the one the forward was opened for. Its signal aborts when the
   * local client leaves or the forward closes.
   */
  beforeConnect?: ((signal: AbortSignal) => Promise<void>) | undefined;
  /**
   * Receives why a local connection was refused or its channel could not be opened (there is no
   * caller to throw to). Default: dropped.
   */
  onConnectionError?: ((error: unknown) => void) | undefined;
}

/** Counters of a {@link LocalForward}. */
export interface LocalForwardStats {
  /** Local connections open now (each with its channel, or waiting for it). */
  open: number;
  /** Local connections accepted so far. */
  accepted: number;
  /** Connections closed because the channel could not be opened, `beforeConnect` refused, or the cap was reached. */
  refused: number;
}

/** A listening forward from {@link openLocalForward}. */
export interface LocalForward {
  /** The local address it listens on (loopback). */
  readonly host: string;
  /** The local port it listens on (the chosen one when `localPort` was 0). */
  readonly port: number;
  /** Counters; for tests and diagnostics. */
  readonly stats: LocalForwardStats;
  /** True once closing started (close(), the idle timeout, the signal). */
  readonly closing: boolean;
  /** Resolves when the forward has stopped listening and every connection is closed. */
  readonly closed: Promise<void>;
  /**
   * Stops listening and closes every open connection and its channel (idempotent); resolves
   * when all are closed.
   */
  close(): Promise<void>;
}

const DEFAULT_MAX_CONNECTIONS = 16;
/**
 * How long a channel whose local client has gone may take to pass on what the client sent
 * before it is closed anyway (a target that stopped reading would hold it open for ever).
 */
const DRAIN_MS = 10_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** SSH channel-open failure codes (RFC 4254 §5.1) as ssh2 reports them on `error.reason`. */
const OPEN_ADMINISTRATIVELY_PROHIBITED = 1;
const OPEN_CONNECT_FAILED = 2;

/** True for an IPv4 address in 127.0.0.0/8 or the IPv6 loopback `::1`. */
export function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith('127.');
  if (isIP(address) === 6) return /^(0{0,4}:){2,7}0{0,3}1$|^::1$/i.test(address);
  return false;
}

function checkPort(
  issues: SpecIssue[],
  path: string,
  value: number | undefined,
  min: number,
): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > 65_535) {
    issues.push({
      path,
      message: `expected a whole number from ${min} to 65535`,
      code: 'invalid_number',
    });
  }
}

function checkWhole(
  issues: SpecIssue[],
  path: string,
  value: number | undefined,
  max: number,
): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    issues.push({
      path,
      message: `expected a whole number from 1 to ${max}`,
      code: 'invalid_number',
    });
  }
}

/** True when `text` holds a space, a C0 control character or DEL. */
function hasSpaceOrControl(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code <= 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * Checks a forward target (host and port) before any I/O.
 *
 * @throws InvalidSpecError naming `remoteHost` / `remotePort`.
 */
export function checkForwardTarget(host: string, port: number): void {
  const issues: SpecIssue[] = [];
  if (typeof host !== 'string' || host === '') {
    issues.push({ path: 'remoteHost', message: 'required', code: 'required' });
  } else if (host.length > 255 || hasSpaceOrControl(host)) {
    issues.push({
      path: 'remoteHost',
      message:
        'expected a host name or address (at most 255 characters, no spaces or control characters)',
      code: 'invalid_string',
    });
  }
  if (port === undefined)
    issues.push({ path: 'remotePort', message: 'required', code: 'required' });
  checkPort(issues, 'remotePort', port, 1);
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'SSH forward' });
}

interface ResolvedForward {
  remoteHost: string;
  remotePort: number;
  localHost: string;
  localPort: number;
  idleTimeoutMs: number | undefined;
  maxConnections: number;
}

function resolveForwardOptions(options: LocalForwardOptions): ResolvedForward {
  const issues: SpecIssue[] = [];
  try {
    checkForwardTarget(options.remoteHost, options.remotePort);
  } catch (error) {
    if (!InvalidSpecError.isInstance(error)) throw error;
    issues.push(...error.issues);
  }
  const localHost = options.localHost ?? '127.0.0.1';
  if (typeof localHost !== 'string' || !isLoopbackAddress(localHost)) {
    issues.push({
      path: 'localHost',
      message:
        'expected a loopback address (127.0.0.0/8 or ::1): the forwarded port has no authentication of its own',
      code: 'invalid_string',
    });
  }
  checkPort(issues, 'localPort', options.localPort, 0);
  checkWhole(issues, 'idleTimeoutMs', options.idleTimeoutMs, MAX_TIMER_MS);
  checkWhole(issues, 'maxConnections', options.maxConnections, 10_000);
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'SSH forward' });
  return {
    remoteHost: options.remoteHost,
    remotePort: options.remotePort,
    localHost,
    localPort: options.localPort ?? 0,
    idleTimeoutMs: options.idleTimeoutMs,
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
  };
}

/** What a failed `direct-tcpip` open is called, for {@link forwardOpenError}. */
export interface ForwardOpenContext {
  sshHost: string;
  sshPort: number;
  host: string;
  port: number;
  provider: string | undefined;
}

/**
 * The error for a channel open the SSH server refused: `administratively prohibited`
 * (AllowTcpForwarding no, a `permitopen` restriction) is a non-retryable TransportError with
 * `details.reason: 'prohibited'`; `connect failed` (nothing listens at the target, or it is
 * unreachable from the server) a retryable one with `reason: 'connect-failed'`. Undefined for
 * other failures (the caller treats them as connection failures).
 */
export function forwardOpenError(
  error: Error & { reason?: unknown },
  context: ForwardOpenContext,
): TransportError | undefined {
  const where = `SSH ${context.sshHost}:${context.sshPort}`;
  const target = `${context.host}:${context.port}`;
  const details = { host: context.host, port: context.port, outcome: 'not-sent' as const };
  if (error.reason === OPEN_ADMINISTRATIVELY_PROHIBITED) {
    return new TransportError(
      `${where}: the server refuses to forward to ${target} (${error.message}); check AllowTcpForwarding / permitopen`,
      {
        provider: context.provider,
        cause: error,
        retryable: false,
        details: { ...details, reason: 'prohibited' },
      },
    );
  }
  if (error.reason === OPEN_CONNECT_FAILED) {
    return new TransportError(
      `${where}: the server could not connect to ${target} (${error.message})`,
      {
        provider: context.provider,
        cause: error,
        retryable: true,
        details: { ...details, reason: 'connect-failed' },
      },
    );
  }
  return undefined;
}

/**
 * Listens on a local loopback port and forwards every connection to `remoteHost:remotePort`
 * through `connection` (one SSH channel per connection, opened when it is accepted). Bytes flow
 * both ways with backpressure; a half-close is passed on (end of file on one side ends that
 * direction only). A connection whose channel cannot be opened is closed.
 *
 * Lifetime: until `close()`, `signal`, or `idleTimeoutMs` without any connection. The forward
 * does not own the SSH connection: closing the connection ends its channels (and so their local
 * sockets) and makes later connections fail, but the listener stays until closed.
 *
 * ```ts
 * const forward = await openLocalForward(ssh, { remoteHost: '127.0.0.1', remotePort: 5900 });
 * // vncviewer 127.0.0.1::<forward.port>
 * await forward.close();
 * ```
 *
 * @throws InvalidSpecError for bad options (a non-loopback `localHost`, a bad port) before any
 *   I/O; TransportError when the local port cannot be bound (`details.code`, e.g. EADDRINUSE);
 *   the signal's reason when aborted first.
 */
export async function openLocalForward(
  connection: ForwardingTransport,
  options: LocalForwardOptions,
): Promise<LocalForward> {
  const settings = resolveForwardOptions(options);
  options.signal?.throwIfAborted();
  const forwarder = new LocalForwarder(connection, settings, options);
  await forwarder.listen();
  return forwarder;
}

interface Link {
  /** Aborts the channel open (or `beforeConnect`) when the client leaves or the forward closes. */
  readonly abort: AbortController;
  channel?: Duplex | undefined;
}

class LocalForwarder implements LocalForward {
  readonly #connection: ForwardingTransport;
  readonly #settings: ResolvedForward;
  readonly #options: LocalForwardOptions;
  readonly #server: Server;
  readonly #links = new Map<Socket, Link>();
  /** Channels whose client has gone, still passing on its last bytes. */
  readonly #draining = new Set<Duplex>();
  #idle: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #resolveClosed!: () => void;
  #accepted = 0;
  #refused = 0;
  readonly host: string;
  #port = 0;
  readonly closed: Promise<void>;

  constructor(
    connection: ForwardingTransport,
    settings: ResolvedForward,
    options: LocalForwardOptions,
  ) {
    this.#connection = connection;
    this.#settings = settings;
    this.#options = options;
    this.host = settings.localHost;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    // allowHalfOpen: a client's end of file must not end our side before the remote answered;
    // pauseOnConnect: nothing is read until the channel is there to take it (the kernel buffers).
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) =>
      this.#accept(socket),
    );
  }

  get port(): number {
    return this.#port;
  }

  get stats(): LocalForwardStats {
    return { open: this.#links.size, accepted: this.#accepted, refused: this.#refused };
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /** Binds the listener; on failure nothing is left open. */
  async listen(): Promise<void> {
    const { localHost, localPort } = this.#settings;
    const signal = this.#options.signal;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        this.#server.off('listening', onListening);
        reject(
          new TransportError(
            `cannot listen on ${localHost}:${localPort} for an SSH forward (${error.message})`,
            {
              cause: error,
              retryable: false,
              details: { host: localHost, port: localPort, code: error.code },
            },
          ),
        );
      };
      const onListening = (): void => {
        this.#server.off('error', onError);
        resolve();
      };
      this.#server.once('error', onError);
      this.#server.once('listening', onListening);
      this.#server.listen({ host: localHost, port: localPort, exclusive: true });
    });
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : localPort;
    this.#server.on('error', (error) => this.#options.onConnectionError?.(error));
    if (signal?.aborted) {
      await this.close();
      signal.throwIfAborted();
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#armIdle();
  }

  readonly #onAbort = (): void => {
    void this.close();
  };

  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  async #shutDown(): Promise<void> {
    clearTimeout(this.#idle);
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const sockets = [...this.#links.keys()].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.closed) resolve();
          else socket.once('close', () => resolve());
        }),
    );
    for (const [socket, link] of this.#links) {
      link.abort.abort(new Error('the forward was closed'));
      link.channel?.destroy();
      socket.destroy();
    }
    for (const channel of this.#draining) channel.destroy();
    this.#draining.clear();
    await Promise.all([stopped, ...sockets]);
    this.#resolveClosed();
  }

  /** Starts the idle countdown when nothing is connected (and an idle limit was asked for). */
  #armIdle(): void {
    const idleMs = this.#settings.idleTimeoutMs;
    clearTimeout(this.#idle);
    if (idleMs === undefined || this.#links.size > 0 || this.closing) return;
    this.#idle = setTimeout(() => void this.close(), idleMs);
    // The listener keeps the process alive while the forward is open; the timer need not.
    this.#idle.unref();
  }

  #accept(socket: Socket): void {
    this.#accepted++;
    if (this.closing || this.#links.size >= this.#settings.maxConnections) {
      this.#refused++;
      socket.destroy();
      if (!this.closing) {
        this.#options.onConnectionError?.(
          new Error(
            `a connection to ${this.host}:${this.#port} was refused: ${this.#settings.maxConnections} (maxConnections) are open`,
          ),
        );
      }
      return;
    }
    clearTimeout(this.#idle);
    const link: Link = { abort: new AbortController() };
    this.#links.set(socket, link);
    socket.setNoDelay(true);
    // Errors end up in 'close' (destroy); without a listener one would crash the process.
    socket.on('error', () => {});
    socket.once('close', () => {
      // A spliced channel is closed by splice(), after what the client sent has gone out.
      link.abort.abort(new Error('the local client closed the connection'));
      this.#links.delete(socket);
      this.#armIdle();
    });
    void this.#connect(socket, link);
  }

  async #connect(socket: Socket, link: Link): Promise<void> {
    const { remoteHost, remotePort } = this.#settings;
    let channel: Duplex;
    try {
      await this.#options.beforeConnect?.(link.abort.signal);
      link.abort.signal.throwIfAborted();
      channel = await this.#connection.forwardOut(remoteHost, remotePort, {
        signal: link.abort.signal,
        originHost: socket.remoteAddress,
        originPort: socket.remotePort,
      });
    } catch (error) {
      if (!link.abort.signal.aborted) {
        this.#refused++;
        this.#options.onConnectionError?.(error);
      }
      socket.destroy();
      return;
    }
    if (socket.destroyed) {
      channel.destroy();
      return;
    }
    link.channel = channel;
    this.#splice(socket, channel);
  }

  /**
   * Copies `socket` ⇄ `channel` with backpressure (pipe pauses the reader while the writer's
   * buffer is full: the SSH window stays closed, or the socket is not read). End of file is
   * passed on per direction. When one side closes, the other is given what was already read for
   * it, then closed; when either fails, both are destroyed at once.
   */
  #splice(socket: Socket, channel: Duplex): void {
    const destroyBoth = (): void => {
      socket.destroy();
      channel.destroy();
    };
    channel.on('error', destroyBoth);
    socket.on('error', destroyBoth);
    socket.once('close', () => this.#drain(channel));
    channel.once('close', () => closeAfterFlush(socket));
    socket.pipe(channel);
    channel.pipe(socket);
  }

  /** Sends end of file after what the gone client wrote, then closes the channel (within DRAIN_MS). */
  #drain(channel: Duplex): void {
    if (this.closing) {
      channel.destroy();
      return;
    }
    this.#draining.add(channel);
    const done = (): void => {
      clearTimeout(timer);
      this.#draining.delete(channel);
      channel.destroy();
    };
    const timer = setTimeout(done, DRAIN_MS);
    timer.unref();
    if (channel.writableFinished) {
      done();
      return;
    }
    channel.once('finish', done);
    channel.end();
  }
}

/** Ends `socket`'s writing side, then destroys it once what was written has gone out. */
function closeAfterFlush(socket: Socket): void {
  if (socket.writableFinished) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end();
}
