/**
 * One SSH connection per host, many exec channels on it: the transport every libvirt call rides.
 * The connection is made on first use and re-made on the first call after it drops; calls wait
 * for a channel slot (the concurrency cap) and never share a channel.
 */
import { readFileSync } from 'node:fs';
import type { Duplex, Readable, Writable } from 'node:stream';
import {
  AuthenticationError,
  HvkitError,
  type Logger,
  ProviderApiError,
  redactingLogger,
  silentLogger,
  TimeoutError,
  TransportError,
  transportErrorFrom,
} from '@hvkit/core';
import ssh2 from 'ssh2';
import { ChannelLimit } from './channel-limit.js';
import { checkForwardTarget, type ForwardOutOptions, forwardOpenError } from './forward.js';
import {
  checkKnownHostKey,
  checkPinnedHostKey,
  knownHostsFor,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
} from './host-key.js';
import { SftpHelpers, type SshSftp } from './sftp.js';
import { shellCommand } from './shell-quote.js';
import {
  type ResolvedSshOptions,
  resolveSshOptions,
  type SshTransportOptions,
} from './ssh-options.js';

type Client = ssh2.Client;
type ClientChannel = ssh2.ClientChannel;
type SFTPWrapper = ssh2.SFTPWrapper;

/** Data for a command's standard input. */
export type StdinSource = string | Uint8Array | AsyncIterable<Uint8Array>;

/** Options every remote command takes. */
export interface CommandOptions {
  /**
   * Stops the command: the remote process is sent SIGTERM and the channel closed. `exec` then
   * rejects with the signal's reason; a `spawn`ed process's stdout simply ends.
   */
  signal?: AbortSignal | undefined;
  /**
   * Deadline for the whole command, including the wait for a channel slot and the connect.
   * On expiry the remote process is sent SIGTERM and the call rejects with a TimeoutError.
   * Default: none.
   */
  timeoutMs?: number | undefined;
  /**
   * The command may be run again safely (a read such as `virsh dominfo`, `stat`, `cat`). Only
   * decides the `retryable` flag of a failure whose outcome is unknown (connection lost after the
   * command was sent, timeout). Default false: such a failure is then not retryable.
   */
  idempotent?: boolean | undefined;
}

/** Options of {@link SshConnection.exec}. */
export interface ExecOptions extends CommandOptions {
  /** Sent as the command's standard input, then end of file. Default: end of file at once. */
  stdin?: StdinSource | undefined;
  /**
   * Most bytes of stdout and stderr together kept in memory. Past it the remote process is sent
   * SIGTERM and the call rejects with a ProviderApiError. Default 64 MiB. Use `spawn` to stream.
   */
  maxOutputBytes?: number | undefined;
}

/** Options of {@link SshConnection.spawn}. */
export interface SpawnOptions extends CommandOptions {
  /**
   * Standard input: data or an async iterable, sent then closed; `'pipe'` to write to
   * {@link SshProcess.stdin} yourself (call `end()` when done). Default: end of file at once.
   */
  stdin?: StdinSource | 'pipe' | undefined;
  /** Most bytes of stderr kept for {@link SshExitStatus.stderr}; the rest is read and dropped. Default 1 MiB. */
  maxStderrBytes?: number | undefined;
  /**
   * Called with each chunk of stderr as it arrives, for a caller that must read it while the
   * command runs (a long-lived interactive program). Every chunk is passed, whatever
   * `maxStderrBytes` keeps for `exit`.
   */
  onStderr?: ((chunk: Buffer) => void) | undefined;
}

/** How a remote command ended. */
export interface SshExitStatus {
  /** Exit code; null when the command died of a signal or was ended by hvkit. */
  code: number | null;
  /** Name of the signal that killed the command, as Node names them (`SIGTERM`, `SIGKILL`); else null. */
  signal: string | null;
  /**
   * hvkit stopped the command (kill(), an abort, a timeout, an output limit). `code` and
   * `signal` then say how it ended if the server reported it before the channel closed (usually
   * `SIGTERM`), else both are null.
   */
  killed: boolean;
}

/** The whole result of {@link SshConnection.exec}. A non-zero exit code is not an error. */
export interface ExecResult extends SshExitStatus {
  /** Everything the command wrote to stdout, as bytes (`.toString()` for UTF-8 text). */
  stdout: Buffer;
  /** Everything the command wrote to stderr, as bytes. */
  stderr: Buffer;
}

/** A running remote command from {@link SshConnection.spawn}. */
export interface SshProcess {
  /**
   * Standard output as a byte stream with backpressure: while the consumer does not read, the
   * SSH window closes and the remote writer blocks (about 2 MiB in flight at most). Ends when the
   * command ends, is killed or aborted. Iterate it (`for await`) or pipe it.
   */
  readonly stdout: Readable & AsyncIterable<Buffer>;
  /** Standard input when spawned with `stdin: 'pipe'`; otherwise already ended. */
  readonly stdin: Writable;
  /**
   * Resolves when the command has ended and its channel closed, with stderr (up to
   * `maxStderrBytes`). Rejects with a TransportError when the connection was lost first (the
   * command may have run), a TimeoutError after `timeoutMs`.
   */
  readonly exit: Promise<SshExitStatus & { stderr: Buffer }>;
  /**
   * Sends the remote command a signal (default `SIGTERM`) and closes the channel, so stdout
   * ends. Closing alone would leave a command without a terminal running until its next write.
   * OpenSSH delivers the signal to the session's whole process group (`killpg`), so a compound
   * `sh -c` script and its children go too. It refuses signals in a **root** session ("session
   * signalling requires privilege separation"): log in as an ordinary user, or such a command
   * lingers until its next write fails.
   */
  kill(signal?: 'SIGTERM' | 'SIGKILL' | 'SIGINT' | 'SIGHUP'): void;
}

/** Counters for tests and diagnostics. */
export interface SshConnectionStats {
  /** Successful connects so far (1 + reconnects). */
  connects: number;
  /** Channels open now. */
  activeChannels: number;
  /** Calls waiting for a channel slot. */
  queuedChannels: number;
  /** A connection is up right now. */
  connected: boolean;
  /** Forwarded TCP channels open now ({@link SshConnection.forwardOut}; not counted in `activeChannels`). */
  forwardedChannels: number;
}

interface Live {
  client: Client;
  generation: number;
  /** Set once the client emitted `close`. */
  dead: boolean;
  sftp?: Promise<SFTPWrapper> | undefined;
}

const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_STDERR_BYTES = 1024 * 1024;

/** Failure to open a channel, before the command was sent: safe to try again on a new connection. */
class NotSent extends Error {}

/**
 * An SSH transport to one host: one connection, many exec channels, SFTP. Create it with
 * {@link createSshTransport}; nothing connects until the first call (or {@link connect}).
 * Credentials live in private fields: `util.inspect`, `JSON.stringify` and errors never show them.
 */
export class SshConnection {
  /** The SSH server's host name or address, as given. */
  readonly host: string;
  /** The SSH server's TCP port. */
  readonly port: number;
  /** The user logged in as. */
  readonly username: string;
  readonly #options: ResolvedSshOptions;
  readonly #logger: Logger;
  readonly #limit: ChannelLimit;
  #live: Promise<Live> | undefined;
  #current: Live | undefined;
  #generation = 0;
  #connects = 0;
  #closed = false;
  #warnedInsecure = false;
  /** Commands running now, so close() can stop them instead of orphaning them. */
  readonly #running = new Set<Running>();
  /** Forwarded TCP channels open now, so close() can end them. */
  readonly #forwards = new Set<ClientChannel>();

  /** @throws InvalidSpecError for bad settings (see {@link resolveSshOptions}). */
  constructor(options: SshTransportOptions) {
    this.#options = resolveSshOptions(options);
    this.host = this.#options.host;
    this.port = this.#options.port;
    this.username = this.#options.username;
    this.#logger = redactingLogger(options.logger ?? silentLogger, {
      secrets: this.#options.passphrase ? [this.#options.passphrase] : [],
    });
    this.#limit = new ChannelLimit(this.#options.maxChannels);
  }

  /** Counters: connects, channels open and queued. */
  get stats(): SshConnectionStats {
    return {
      connects: this.#connects,
      activeChannels: this.#limit.active,
      queuedChannels: this.#limit.queued,
      connected: this.#current !== undefined && !this.#current.dead,
      forwardedChannels: this.#forwards.size,
    };
  }

  /** What a log line or `JSON.stringify` shows: the target, never credentials. */
  toJSON(): { host: string; port: number; username: string } {
    return { host: this.host, port: this.port, username: this.username };
  }

  /**
   * Connects now (if not connected) and verifies the host key and credentials, instead of on the
   * first call.
   *
   * @throws TransportError (host key refused, unreachable, timeout), AuthenticationError.
   */
  async connect(): Promise<void> {
    await this.#connection();
  }

  /**
   * Closes the connection. Commands still running are sent SIGTERM first (closing alone would
   * leave them running until their next write) and end as killed; later calls reject with a
   * non-retryable TransportError.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const channel of this.#forwards) channel.destroy();
    const stopping = [...this.#running].map((run) => {
      run.stop('TERM', 'killed');
      return run.done.catch(() => undefined);
    });
    // The server acknowledges each channel's close within a round trip; do not wait forever on
    // a dead peer.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(stopping),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 2000);
      }),
    ]);
    clearTimeout(timer);
    const pending = this.#live;
    this.#live = undefined;
    // A connect still under way finishes first (its ready handler sees #closed and ends it).
    const live = this.#current ?? (await pending?.catch(() => undefined));
    if (!live || live.dead) return;
    await new Promise<void>((resolve) => {
      live.client.once('close', () => resolve());
      live.client.end();
    });
  }

  /**
   * Drops the current connection without closing the transport, as a network failure would (for
   * tests of reconnect paths). The next call reconnects.
   */
  dropConnection(): void {
    const live = this.#current;
    if (!live) return;
    this.#forget(live);
    live.client.destroy();
  }

  /** Stops handing out `live` to new calls (it closed, or is being torn down). */
  #forget(live: Live): void {
    live.dead = true;
    live.sftp = undefined;
    if (this.#current === live) {
      this.#current = undefined;
      this.#live = undefined;
    }
  }

  /**
   * Runs `argv` (quoted by {@link shellCommand}; `argv[0]` is the program) and collects its
   * output. A non-zero exit is returned, not thrown.
   *
   * @throws InvalidSpecError for an empty argv or an argument with NUL, before any I/O.
   * @throws TransportError when the connection fails; `details.outcome` says `not-sent` (the
   *   command certainly did not run; retryable) or `unknown` (it may have run; retryable only
   *   with `idempotent: true`).
   * @throws AuthenticationError when the key is refused.
   * @throws TimeoutError after `timeoutMs` (the process was sent SIGTERM).
   * @throws ProviderApiError when the output exceeds `maxOutputBytes`.
   * @throws the signal's reason when aborted.
   */
  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const command = shellCommand(argv);
    const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const run = await this.#start(command, argv[0] ?? '', options);
    const { channel } = run;
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let total = 0;
    let overflow = false;
    const take = (target: Buffer[]) => (chunk: Buffer) => {
      if (overflow) return;
      total += chunk.length;
      if (total > maxOutputBytes) {
        overflow = true;
        run.stop('TERM', 'overflow');
        return;
      }
      target.push(chunk);
    };
    channel.on('data', take(stdout));
    channel.stderr.on('data', take(stderr));
    feedStdin(channel, options.stdin, run.fail);
    const [status] = await Promise.all([run.done, readToEnd(channel)]);
    if (overflow) {
      throw new ProviderApiError(
        `SSH ${this.host}:${this.port}: output of \`${argv[0]}\` exceeded maxOutputBytes (${maxOutputBytes} bytes); the command was sent SIGTERM`,
        {
          provider: this.#options.provider,
          details: { program: argv[0], maxOutputBytes },
        },
      );
    }
    return { ...status, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
  }

  /**
   * Starts `argv` and returns at once with its streams; for large or endless output (`virsh
   * event --loop`, `cat` of a volume) and for streaming stdin. Waits for a channel slot and the
   * connection first.
   *
   * @throws as {@link exec} for failures before the command starts; later failures reject `exit`.
   */
  async spawn(argv: readonly string[], options: SpawnOptions = {}): Promise<SshProcess> {
    const command = shellCommand(argv);
    const maxStderrBytes = options.maxStderrBytes ?? DEFAULT_MAX_STDERR_BYTES;
    const run = await this.#start(command, argv[0] ?? '', options);
    const { channel } = run;
    const stderr: Buffer[] = [];
    let stderrBytes = 0;
    // Always drained: stdout and stderr share the channel's window, so unread stderr would stall
    // stdout too.
    const onStderr = options.onStderr;
    channel.stderr.on('data', (chunk: Buffer) => {
      onStderr?.(chunk);
      if (stderrBytes >= maxStderrBytes) return;
      const kept = chunk.subarray(0, maxStderrBytes - stderrBytes);
      stderrBytes += kept.length;
      stderr.push(kept);
    });
    if (options.stdin !== 'pipe') feedStdin(channel, options.stdin, run.fail);
    // Leaving a `for await` over stdout early destroys the stream; ssh2's Channel.destroy only
    // closes the channel, which would leave a command without a terminal running until its next
    // write. Signal it first, as kill() does (not when stdout simply ended: see Running).
    const destroy = channel.destroy.bind(channel);
    channel.destroy = (() => {
      if (channel.readableEnded && channel.writableFinished) return channel;
      run.stop('TERM', 'killed');
      return destroy();
    }) as typeof channel.destroy;
    const exit = run.done.then((status) => ({ ...status, stderr: Buffer.concat(stderr) }));
    // The caller may only care about stdout; an unobserved rejection must not crash the process.
    exit.catch(() => {});
    return {
      stdout: channel as Readable & AsyncIterable<Buffer>,
      stdin: channel,
      exit,
      kill: (signal = 'SIGTERM') => run.stop(signal, 'killed'),
    };
  }

  /**
   * SFTP helpers on this connection (one SFTP session, opened on first use and re-opened after a
   * reconnect; it does not count against `maxChannels`).
   */
  sftp(): SshSftp {
    return new SftpHelpers({
      session: () => this.#sftpSession(),
      target: { host: this.host, port: this.port, provider: this.#options.provider },
    });
  }

  /**
   * Opens a TCP connection from the SSH server to `host:port` (an SSH `direct-tcpip` channel, as
   * `ssh -L` does) and returns it as one byte stream both ways: what is written goes to the
   * target, what the target sends is read. Backpressure both ways (the SSH window). End it with
   * `end()` (end of file, the target may still answer) or `destroy()` (close at once).
   * {@link openLocalForward} serves such streams on a local port.
   *
   * Not counted against `maxChannels`: that cap exists for OpenSSH's `MaxSessions`, which counts
   * session channels (exec, sftp) and not forwarded ones (measured: test/forward.test.ts opens
   * more forwarded channels than the test server's MaxSessions), and a long-lived stream (a
   * console) must not hold a slot every virsh call needs. Cap them yourself
   * (`openLocalForward`'s `maxConnections`). Connects or reconnects like {@link exec}; a channel
   * that failed to open on a connection that had just died is tried once more on a new one
   * (opening a TCP connection is always safe to repeat).
   *
   * @throws InvalidSpecError for a bad host or port, before any I/O.
   * @throws TransportError when the server refuses (`details.reason: 'prohibited'`: forwarding
   *   is off or restricted) or cannot reach the target (`'connect-failed'`), or the connection fails.
   * @throws TimeoutError after `timeoutMs`; the signal's reason when aborted.
   */
  async forwardOut(host: string, port: number, options: ForwardOutOptions = {}): Promise<Duplex> {
    checkForwardTarget(host, port);
    const { signal, timeoutMs } = options;
    signal?.throwIfAborted();
    const program = `forward to ${host}:${port}`;
    const timer = timeoutMs === undefined ? undefined : deadlineTimer(timeoutMs);
    const waitSignal =
      signal && timer ? AbortSignal.any([signal, timer.signal]) : (signal ?? timer?.signal);
    try {
      for (let attempt = 1; ; attempt++) {
        const live = await abortable(this.#connection(), waitSignal);
        const opening = this.#directTcpip(live, host, port, options);
        // Given up while the channel was opening: if it opens after all, close it at once.
        opening.then(
          (late) => {
            if (waitSignal?.aborted) late.destroy();
          },
          () => {},
        );
        try {
          const channel = await abortable(opening, waitSignal);
          this.#forwards.add(channel);
          // ssh2 emits the channel's own 'close' only once its data was read to the end, which
          // the owner of a destroyed stream no longer does. Its (always empty) stderr is drained
          // here, so the stderr's 'close' marks the SSH channel's close in every case.
          channel.stderr.resume();
          channel.stderr.once('close', () => this.#forwards.delete(channel));
          // ssh2 may emit 'error' on a channel; the caller's pipe handles it, never a crash.
          channel.on('error', () => {});
          this.#logger.debug('ssh forward', { host, port, generation: live.generation });
          return channel;
        } catch (error) {
          if (error instanceof NotSent && /Not connected|No response/.test(error.message)) {
            this.#forget(live);
          }
          if (error instanceof NotSent && live.dead && attempt < 2) continue;
          if (error instanceof NotSent) {
            throw this.#channelError(error, live, program, 'not-sent', true);
          }
          throw error;
        }
      }
    } catch (error) {
      if (HvkitError.isInstance(error)) throw error;
      throw this.#waitError(error, signal, timeoutMs, program, 'not-sent', true);
    } finally {
      timer?.cancel();
    }
  }

  #directTcpip(
    live: Live,
    host: string,
    port: number,
    options: ForwardOutOptions,
  ): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      const context = {
        sshHost: this.host,
        sshPort: this.port,
        host,
        port,
        provider: this.#options.provider,
      };
      try {
        live.client.forwardOut(
          options.originHost ?? '127.0.0.1',
          options.originPort ?? 0,
          host,
          port,
          (error, channel) => {
            if (!error) resolve(channel);
            else
              reject(
                forwardOpenError(error, context) ?? new NotSent(error.message, { cause: error }),
              );
          },
        );
      } catch (error) {
        // "Not connected": the client closed between our check and the call.
        reject(new NotSent((error as Error).message, { cause: error }));
      }
    });
  }

  // --- connection -------------------------------------------------------------------------

  #connection(): Promise<Live> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#live) return this.#live;
    const promise = this.#open();
    this.#live = promise;
    promise.catch(() => {
      if (this.#live === promise) this.#live = undefined;
    });
    return promise;
  }

  #closedError(): TransportError {
    return new TransportError(`SSH ${this.host}:${this.port}: the transport was closed`, {
      provider: this.#options.provider,
      retryable: false,
      details: { host: this.host, port: this.port, outcome: 'not-sent' },
    });
  }

  #open(): Promise<Live> {
    const options = this.#options;
    const target = { host: options.host, port: options.port, provider: options.provider };
    let hostKeyError: HvkitError | undefined;
    let verify: (key: Buffer) => HvkitError | undefined;
    let serverHostKey: string[] | undefined;
    if ('pin' in options.hostKey) {
      const pin = options.hostKey.pin;
      verify = (key) => checkPinnedHostKey(pin, key, target);
    } else if ('knownHosts' in options.hostKey) {
      const file = options.hostKey.knownHosts;
      let entries: ReturnType<typeof parseKnownHosts>;
      try {
        entries = parseKnownHosts(readFileSync(file, 'utf8'));
      } catch (error) {
        return Promise.reject(
          new TransportError(
            `SSH ${options.host}:${options.port}: cannot read known_hosts file ${file} (${(error as Error).message}); nothing was sent`,
            {
              provider: options.provider,
              retryable: false,
              cause: error,
              details: { knownHosts: file, outcome: 'not-sent' },
            },
          ),
        );
      }
      verify = (key) => checkKnownHostKey(entries, key, { ...target, file });
      // Like OpenSSH: negotiate a key type known_hosts holds for this host, so a host with an
      // RSA entry is not refused for offering its Ed25519 key first.
      serverHostKey = preferredHostKeyAlgorithms(knownHostsFor(entries, target));
    } else {
      verify = () => undefined;
      if (!this.#warnedInsecure) {
        this.#warnedInsecure = true;
        this.#logger.warn(
          `SSH host key checking is OFF for ${options.host}:${options.port} (hostKey.insecure): anyone on the path can impersonate the host`,
          { host: options.host, port: options.port },
        );
      }
    }

    return new Promise<Live>((resolve, reject) => {
      const client = new ssh2.Client();
      const generation = ++this.#generation;
      const live: Live = { client, generation, dead: false };
      let ready = false;
      let lastError: Error | undefined;
      const started = Date.now();
      client.on('ready', () => {
        ready = true;
        if (this.#closed) {
          // close() was called while connecting: hand this connection to nobody.
          client.end();
          reject(this.#closedError());
          return;
        }
        if (options.noDelay) client.setNoDelay(true);
        this.#connects++;
        // One connect is in flight at a time (#connection), so #live is this connection's promise.
        this.#current = live;
        this.#logger.debug('ssh connected', {
          host: options.host,
          port: options.port,
          generation,
          ms: Date.now() - started,
        });
        resolve(live);
      });
      client.on('error', (error: Error & { level?: string }) => {
        lastError = error;
        if (!ready) {
          reject(this.#connectError(error, hostKeyError));
          client.destroy();
        } else {
          this.#logger.debug('ssh connection error', {
            host: options.host,
            port: options.port,
            generation,
            message: error.message,
          });
        }
      });
      client.on('close', () => {
        this.#forget(live);
        if (!ready) {
          reject(
            hostKeyError ??
              this.#connectError(
                lastError ?? new Error('connection closed during the SSH handshake'),
                undefined,
              ),
          );
        }
        this.#logger.debug('ssh connection closed', {
          host: options.host,
          port: options.port,
          generation,
        });
      });
      try {
        client.connect({
          host: options.host,
          port: options.port,
          username: options.username,
          privateKey: options.privateKey,
          passphrase: options.passphrase,
          agent: options.agent,
          readyTimeout: options.readyTimeoutMs,
          keepaliveInterval: options.keepaliveIntervalMs,
          keepaliveCountMax: options.keepaliveCountMax,
          hostVerifier: (key: Buffer) => {
            hostKeyError = verify(key);
            return hostKeyError === undefined;
          },
          ...(serverHostKey && serverHostKey.length > 0
            ? {
                algorithms: {
                  serverHostKey: {
                    prepend: serverHostKey,
                  } as unknown as ssh2.ServerHostKeyAlgorithm[],
                },
              }
            : {}),
        });
        // Before the handshake too: its first small packets would otherwise wait on delayed ACKs.
        if (options.noDelay) client.setNoDelay(true);
      } catch (error) {
        reject(this.#connectError(error as Error, undefined));
      }
    });
  }

  #connectError(
    error: Error & { level?: string },
    hostKeyError: HvkitError | undefined,
  ): HvkitError {
    if (hostKeyError) return hostKeyError;
    const { host, port, provider, username } = this.#options;
    if (error.level === 'client-authentication') {
      return new AuthenticationError(
        `SSH ${host}:${port}: authentication as ${username} failed (${error.message}); check the key and the server's authorized_keys`,
        { provider, cause: error, retryable: false },
      );
    }
    if (error.level === 'client-timeout') {
      return new TransportError(
        `SSH ${host}:${port}: no SSH handshake within ${this.#options.readyTimeoutMs} ms; nothing was run`,
        {
          provider,
          cause: error,
          retryable: true,
          details: { host, port, timeoutMs: this.#options.readyTimeoutMs, outcome: 'not-sent' },
        },
      );
    }
    if (error.level === 'handshake' || error.level === 'protocol') {
      // No common algorithm, a malformed packet: trying again changes nothing.
      return new TransportError(
        `SSH ${host}:${port}: handshake failed (${error.message}); nothing was run`,
        {
          provider,
          cause: error,
          retryable: false,
          details: { host, port, outcome: 'not-sent' },
        },
      );
    }
    const classified = transportErrorFrom(error, {
      where: `SSH connect to ${host}:${port}`,
      safe: true,
      provider,
      details: { host, port },
    });
    // Nothing runs before authentication, whatever broke the connection.
    if (TransportError.isInstance(classified)) {
      classified.details.outcome = 'not-sent';
    }
    return classified;
  }

  #sftpSession(): Promise<SFTPWrapper> {
    return this.#connection().then((live) => {
      if (live.sftp) return live.sftp;
      const session = new Promise<SFTPWrapper>((resolve, reject) => {
        try {
          live.client.sftp((error, sftp) => {
            if (error) reject(this.#channelError(error, live, 'sftp', 'not-sent', true));
            else {
              sftp.on('close', () => {
                if (live.sftp === session) live.sftp = undefined;
              });
              resolve(sftp);
            }
          });
        } catch (error) {
          reject(this.#channelError(error as Error, live, 'sftp', 'not-sent', true));
        }
      });
      live.sftp = session;
      session.catch(() => {
        if (live.sftp === session) live.sftp = undefined;
      });
      return session;
    });
  }

  // --- commands ---------------------------------------------------------------------------

  #channelError(
    error: Error,
    live: Live,
    program: string,
    outcome: 'not-sent' | 'unknown',
    idempotent: boolean,
  ): TransportError {
    const { host, port, provider } = this.#options;
    const lost = live.dead;
    const text =
      outcome === 'not-sent'
        ? `SSH ${host}:${port}: could not open a channel for \`${program}\` (${error.message}); it did not run`
        : `SSH ${host}:${port}: connection lost while \`${program}\` was running (${error.message}); it may have run, completely or in part${idempotent ? '' : ' — check the resulting state before trying again'}`;
    return new TransportError(text, {
      provider,
      cause: error,
      retryable: outcome === 'not-sent' || idempotent,
      details: { host, port, program, outcome, connectionLost: lost },
    });
  }

  /** Opens an exec channel, reconnecting once when the connection turned out dead before sending. */
  async #start(command: string, program: string, options: CommandOptions): Promise<Running> {
    const { signal, timeoutMs } = options;
    const idempotent = options.idempotent === true;
    signal?.throwIfAborted();
    // Our own timer rather than AbortSignal.timeout: it is cleared when the command ends, and
    // its reason is a class of ours rather than a DOMException recognised by name.
    const timer = timeoutMs === undefined ? undefined : deadlineTimer(timeoutMs);
    const deadline = timer?.signal;
    const waitSignal =
      signal && deadline ? AbortSignal.any([signal, deadline]) : (signal ?? deadline);
    let release: () => void;
    try {
      release = await this.#limit.acquire(waitSignal);
    } catch (error) {
      timer?.cancel();
      throw this.#waitError(error, signal, timeoutMs, program, 'not-sent', idempotent);
    }
    try {
      for (let attempt = 1; ; attempt++) {
        const live = await abortable(this.#connection(), waitSignal);
        const opening = this.#execChannel(live, command, program);
        try {
          const opened = await abortable(opening, waitSignal).catch((error: unknown) => {
            // Given up while the channel was opening: if it opens after all, end it at once.
            opening.then(
              ({ channel: late }) => {
                sendSignal(late, 'TERM');
                late.close();
              },
              () => {},
            );
            // The exec request may already be out: the command may have started (and is now
            // being stopped), so a deadline here is an unknown outcome, not "did not run".
            if (waitSignal?.aborted && error === waitSignal.reason) {
              throw this.#waitError(error, signal, timeoutMs, program, 'unknown', idempotent);
            }
            throw error;
          });
          this.#logger.debug('ssh exec', { program, generation: live.generation });
          const running: Running = new Running(opened, live, {
            release: () => {
              timer?.cancel();
              this.#running.delete(running);
              release();
            },
            program,
            idempotent,
            signal,
            deadline,
            timeoutMs,
            errors: {
              lost: (error) => this.#channelError(error, live, program, 'unknown', idempotent),
              timeout: () =>
                this.#waitError(
                  deadline?.reason,
                  undefined,
                  timeoutMs,
                  program,
                  'unknown',
                  idempotent,
                ),
            },
          });
          this.#running.add(running);
          return running;
        } catch (error) {
          // A channel that failed to open on a connection that just died ran nothing: once, make
          // a new connection and try again, as the caller would have to. ("Not connected" comes
          // before the socket's close event when the peer has just gone.)
          if (error instanceof NotSent && /Not connected|No response/.test(error.message)) {
            this.#forget(live);
          }
          if (error instanceof NotSent && live.dead && attempt < 2) continue;
          if (error instanceof NotSent) {
            throw this.#channelError(error, live, program, 'not-sent', idempotent);
          }
          throw error;
        }
      }
    } catch (error) {
      timer?.cancel();
      release();
      if (HvkitError.isInstance(error)) throw error;
      throw this.#waitError(error, signal, timeoutMs, program, 'not-sent', idempotent);
    }
  }

  #waitError(
    error: unknown,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    program: string,
    outcome: 'not-sent' | 'unknown',
    idempotent: boolean,
  ): unknown {
    if (signal?.aborted) return signal.reason;
    if (HvkitError.isInstance(error)) return error;
    if (timeoutMs !== undefined && error instanceof DeadlinePassed) {
      return new TimeoutError(
        outcome === 'not-sent'
          ? `SSH ${this.host}:${this.port}: \`${program}\` did not start within ${timeoutMs} ms; it did not run`
          : `SSH ${this.host}:${this.port}: \`${program}\` did not finish within ${timeoutMs} ms; it was sent SIGTERM and may have run in part`,
        timeoutMs,
        {
          provider: this.#options.provider,
          retryable: outcome === 'not-sent' || idempotent,
        },
      );
    }
    return error;
  }

  #execChannel(live: Live, command: string, program: string): Promise<Opened> {
    return new Promise((resolve, reject) => {
      try {
        live.client.exec(command, (error, channel) => {
          if (!error) {
            // Listen now, not after the promise settles: a quick command's exit-status often
            // arrives in the same read as the exec reply and would be emitted to nobody.
            const exit: ExitRecord = { exited: false, code: null, signal: null };
            channel.on('exit', (code: number | null, signal?: string) => {
              exit.exited = true;
              exit.code = typeof code === 'number' ? code : null;
              exit.signal = typeof signal === 'string' ? signal : null;
            });
            resolve({ channel, exit });
            return;
          }
          // ssh2 says "Unable to exec" when the exec request got no success reply: refused by
          // the server, or the connection dropped after the request went out (then it may run).
          if (error.message === 'Unable to exec' && live.dead) {
            reject(this.#channelError(error, live, program, 'unknown', false));
          } else if (error.message === 'Unable to exec') {
            reject(
              new TransportError(
                `SSH ${this.host}:${this.port}: the server refused to run \`${program}\`; it did not run`,
                {
                  provider: this.#options.provider,
                  cause: error,
                  retryable: false,
                  details: { program, outcome: 'not-sent' },
                },
              ),
            );
          } else {
            reject(new NotSent(error.message, { cause: error }));
          }
        });
      } catch (error) {
        // "Not connected": the client closed between our check and the call.
        reject(new NotSent((error as Error).message, { cause: error }));
      }
    });
  }
}

/** The reason a `timeoutMs` deadline aborts with. */
class DeadlinePassed extends Error {}

function deadlineTimer(timeoutMs: number): { signal: AbortSignal; cancel: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DeadlinePassed('deadline')), timeoutMs);
  return { signal: controller.signal, cancel: () => clearTimeout(timer) };
}

/** Resolves when a readable stream has ended (or closed). */
function readToEnd(stream: Readable): Promise<void> {
  if (stream.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}

/** Races a promise against an abort signal (the promise keeps running; its result is dropped). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** What the exec channel reported about the command's end. */
interface ExitRecord {
  exited: boolean;
  code: number | null;
  signal: string | null;
}

interface Opened {
  channel: ClientChannel;
  exit: ExitRecord;
}

interface RunningSettings {
  release: () => void;
  program: string;
  idempotent: boolean;
  signal: AbortSignal | undefined;
  deadline: AbortSignal | undefined;
  timeoutMs: number | undefined;
  errors: { lost: (error: Error) => TransportError; timeout: () => unknown };
}

/** One exec channel from open to close: exit status, kill, abort and timeout, slot release. */
class Running {
  readonly done: Promise<SshExitStatus>;
  readonly channel: ClientChannel;
  #stopped: 'killed' | 'aborted' | 'timeout' | 'overflow' | undefined;
  #failure: unknown;

  constructor(opened: Opened, live: Live, settings: RunningSettings) {
    const { channel, exit } = opened;
    this.channel = channel;
    // Node's autoDestroy calls destroy() as soon as stdout has ended and stdin is finished, and
    // ssh2's destroy() closes the channel. A command whose stdout ends before it does (`cat >
    // file` with stdout redirected) would lose its exit status that way, or be cut off
    // mid-write. At that point the channel is left for the server to close, after the exit
    // status; any other destroy() goes through.
    const destroy = channel.destroy.bind(channel);
    channel.destroy = (() => {
      if (channel.readableEnded && channel.writableFinished) return channel;
      return destroy();
    }) as typeof channel.destroy;
    const onAbort = (): void => this.stop('TERM', 'aborted');
    const onDeadline = (): void => this.stop('TERM', 'timeout');
    settings.signal?.addEventListener('abort', onAbort, { once: true });
    settings.deadline?.addEventListener('abort', onDeadline, { once: true });
    this.done = new Promise<SshExitStatus>((resolve, reject) => {
      // ssh2 emits the channel's own 'close' only after stdout was read to its end, which a
      // spawn caller may never do; stderr is always drained (see the constructor's callers), so
      // its 'close' marks the SSH channel's close, or the connection's loss, in every case.
      channel.stderr.once('close', () => {
        settings.release();
        settings.signal?.removeEventListener('abort', onAbort);
        settings.deadline?.removeEventListener('abort', onDeadline);
        if (this.#stopped === 'aborted') {
          reject(settings.signal?.reason);
          return;
        }
        if (this.#stopped === 'timeout') {
          reject(settings.errors.timeout());
          return;
        }
        if (this.#failure !== undefined) {
          reject(this.#failure);
          return;
        }
        if (exit.exited || this.#stopped !== undefined) {
          resolve({
            code: exit.code,
            signal: exit.signal,
            killed: this.#stopped !== undefined,
          });
          return;
        }
        // Closed without an exit status and not by us: the connection (or the server side of
        // the session) went away while the command ran.
        reject(
          settings.errors.lost(
            new Error(live.dead ? 'connection closed' : 'channel closed without an exit status'),
          ),
        );
      });
    });
    // A spawn caller reading only stdout sees the stream end on abort; `exit` carries the rest.
    this.done.catch(() => {});
    // ssh2 never emits 'error' on exec channels in normal use; a stray one must not crash us.
    channel.on('error', (error: Error) => this.fail(error));
    // Aborted in the moment between the channel opening and this constructor: the listeners
    // above will never fire for it.
    if (settings.signal?.aborted) onAbort();
    else if (settings.deadline?.aborted) onDeadline();
  }

  /** Feeding stdin failed: end the command and report this error. */
  readonly fail = (error: unknown): void => {
    if (this.#failure === undefined) this.#failure = error;
    this.stop('TERM', 'killed');
  };

  /** Signals the remote process and closes the channel (idempotent). */
  stop(signal: string, why: 'killed' | 'aborted' | 'timeout' | 'overflow'): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = why;
    sendSignal(this.channel, signal);
    this.channel.close();
  }
}

/**
 * Sends an SSH `signal` request. ssh2's `channel.signal()` does nothing once our side of the
 * channel has sent EOF (it checks `writable`), yet stdin is usually closed long before a command
 * is stopped and OpenSSH still accepts the request then; so the request is sent on the protocol
 * object directly while the channel is open in our direction.
 */
function sendSignal(channel: ClientChannel, signal: string): void {
  const internal = channel as unknown as {
    outgoing?: { state?: string; id?: number };
    _client?: { _protocol?: { signal?: (id: number, name: string) => void } };
  };
  const state = internal.outgoing?.state;
  const id = internal.outgoing?.id;
  const protocol = internal._client?._protocol;
  if ((state === 'open' || state === 'eof') && id !== undefined && protocol?.signal) {
    protocol.signal(id, signal);
  } else {
    channel.signal(signal);
  }
}

/** Writes `source` to the channel with backpressure, then sends EOF. */
function feedStdin(
  channel: ClientChannel,
  source: StdinSource | undefined,
  fail: (error: unknown) => void,
): void {
  if (source === undefined) {
    channel.end();
    return;
  }
  if (typeof source === 'string' || source instanceof Uint8Array) {
    channel.end(typeof source === 'string' ? Buffer.from(source, 'utf8') : source);
    return;
  }
  void (async () => {
    for await (const chunk of source) {
      if (!channel.writable) return;
      if (!channel.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            channel.off('drain', done);
            channel.off('close', done);
            resolve();
          };
          channel.on('drain', done);
          channel.on('close', done);
        });
      }
    }
    if (channel.writable) channel.end();
  })().catch(fail);
}

/**
 * Creates an SSH transport to one host. Nothing connects until the first call; settings are
 * checked now.
 *
 * ```ts
 * const ssh = createSshTransport({
 *   host: 'kvm1.example.com', username: 'hvkit',
 *   privateKey: await readFile('id_ed25519', 'utf8'),
 *   hostKey: { fingerprint256: 'SHA256:…' },
 * });
 * const { code, stdout } = await ssh.exec(['virsh', '-c', 'qemu:///system', 'list', '--all']);
 * ```
 *
 * @throws InvalidSpecError naming every bad field (no host key policy, no key or agent, a key
 *   that does not parse or a wrong passphrase, a malformed fingerprint).
 */
export function createSshTransport(options: SshTransportOptions): SshConnection {
  return new SshConnection(options);
}
