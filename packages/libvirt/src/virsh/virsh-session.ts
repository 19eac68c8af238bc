/**
 * A long-lived interactive `virsh` on the host, fed command lines on stdin: a call then costs one
 * write and one read on an open SSH channel, instead of a new virsh process that loads its
 * libraries and connects to libvirtd (about 14 ms on the bed against 0.5 ms).
 *
 * Interactive virsh reads its commands through GNU readline, even from a pipe. That shapes what
 * may travel this way and how output is cut apart:
 * - readline echoes each line after the prompt (`virsh # dominfo a\n`) on stdout, and takes
 *   control characters as editing keys (tab completes, ^U kills the line) and bytes above 0x7f
 *   by the locale. Only lines of printable ASCII go through a session ({@link sessionLine});
 *   anything else runs as its own virsh process. `INPUTRC=/dev/null` keeps the user's key
 *   bindings out, `TERM=dumb` and a huge `COLUMNS` keep readline from scrolling long lines.
 * - after each command come two markers with a random nonce: `echo @@hvkit-<nonce>-<i>@@`
 *   ends the command's stdout, and the same token as a command name, which virsh refuses with
 *   `error: unknown command: '…'` without calling libvirt, ends its stderr. Each line is parsed
 *   on its own, so a command virsh cannot parse fails alone.
 * - the echo of every command line is checked byte for byte; anything unexpected ends the
 *   session (a protocol error) rather than guessing.
 *
 * virsh reconnects to libvirtd by itself and says so on stderr (`error: Disconnected from … due
 * to end of file`), at any time: stderr while no call runs retires the session, and such a line
 * inside a call is dropped from that command's errors (it is about the connection before it).
 */
import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { type HvkitError, TimeoutError, TransportError } from '@hvkit/core';
import type { SshConnection, SshProcess } from '@hvkit/ssh';

/** Output of one command run in a session. */
export interface SessionOutput {
  readonly stdout: string;
  /** The command's stderr, without virsh's asynchronous `Disconnected from …` notices. */
  readonly stderr: string;
}

/** What {@link VirshSession.request} returns: every command's output, or as many as finished and why the rest did not. */
export interface SessionReply {
  readonly outputs: SessionOutput[];
  /** Set when the session ended or broke before every command finished (outcome of the rest unknown). */
  readonly error?: HvkitError;
}

// Longest command line sent through a session. readline reads one byte per system call, so a
// long line costs more than it saves; such commands (large XML is passed on stdin anyway) run
// as their own process.
const MAX_LINE = 16 * 1024;
// Wider than any line readline will get: no horizontal scrolling of long lines.
const COLUMNS = '1000000';
// Most output kept for one request (as `exec`'s default maxOutputBytes).
const MAX_OUTPUT_CHARS = 64 * 1024 * 1024;
// How long the handshake waits for the echo on stdout once virsh answered on stderr.
const HANDSHAKE_GRACE_MS = 1_000;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const DISCONNECTED = /^error: Disconnected from .* due to .*\n/gm;

// Commands that change the session itself (`connect`, `cd`, `quit`), talk to the terminal
// (`console`, editors) or stream data on virsh's stdin or stdout: always a process of their own.
const NOT_IN_SESSION = new Set([
  'connect',
  'cd',
  'quit',
  'exit',
  'console',
  'event',
  'qemu-monitor-event',
  'vol-upload',
  'vol-download',
  'edit',
  'net-edit',
  'pool-edit',
  'iface-edit',
  'nwfilter-edit',
  'nwfilter-binding-edit',
  'snapshot-edit',
  'checkpoint-edit',
  'save-image-edit',
]);

/**
 * The session form of a command: its virsh command line when it may run in a session, else
 * undefined. Refused: lines that are not printable ASCII or longer than 16 KiB, the commands of
 * `NOT_IN_SESSION`, any argument naming a path under `/dev/` or `/proc/` (a command given
 * `/dev/stdin` would read the session's next commands as its input), and a lone argument that
 * needed quoting: a one-shot `virsh '<text>'` parses a single argument as a command string,
 * which a session line would not.
 */
export function sessionLine(argv: readonly string[], line: string): string | undefined {
  if (line.length > MAX_LINE || !PRINTABLE_ASCII.test(line)) return undefined;
  if (argv.length === 1 && line !== argv[0]) return undefined;
  if (NOT_IN_SESSION.has(argv[0] ?? '')) return undefined;
  if (argv.some((arg) => arg.startsWith('/dev/') || arg.startsWith('/proc/'))) return undefined;
  return line;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

interface Pending {
  readonly lines: readonly string[];
  readonly tokens: readonly string[];
  readonly finish: (reply: SessionReply) => void;
  readonly fail: (error: unknown) => void;
}

/** One interactive virsh process on the host; one request at a time (see {@link VirshSessionPool}). */
export class VirshSession {
  #out = '';
  #err = '';
  readonly #outText = new StringDecoder('utf8');
  readonly #errText = new StringDecoder('utf8');
  #process: SshProcess | undefined;
  #prompt = '';
  #pending: Pending | undefined;
  #ended: HvkitError | undefined;
  #provider: string;
  #handshakeGrace: NodeJS.Timeout | undefined;
  /** Set when virsh reported on its own (a reconnect): finish the call, then retire. */
  #stale = false;
  /** Requests answered so far. */
  requests = 0;
  /** When the last request ended (ms, `performance.now()`). */
  idleSince = performance.now();

  private constructor(provider: string) {
    this.#provider = provider;
  }

  /**
   * Starts `virsh -q -c <uri>` in interactive mode and checks, with one marker round trip, that
   * it speaks the protocol this class parses (readline echo, prompt) and is connected.
   *
   * @throws TransportError when the channel cannot be opened, the handshake fails (output of
   *   another shape, no readline) or virsh reports an error on start (libvirtd unreachable).
   */
  static async open(
    ssh: Pick<SshConnection, 'spawn'>,
    uri: string,
    provider: string,
    timeoutMs = 10_000,
  ): Promise<VirshSession> {
    const session = new VirshSession(provider);
    await session.#start(ssh, uri, timeoutMs);
    return session;
  }

  async #start(ssh: Pick<SshConnection, 'spawn'>, uri: string, timeoutMs: number): Promise<void> {
    const process = await ssh.spawn(
      [
        'env',
        'LC_ALL=C.UTF-8',
        'INPUTRC=/dev/null',
        'TERM=dumb',
        `COLUMNS=${COLUMNS}`,
        // readline's in-memory history would grow with every command of a long-lived session.
        'VIRSH_HISTSIZE=0',
        'virsh',
        '-q',
        '-c',
        uri,
      ],
      {
        stdin: 'pipe',
        maxStderrBytes: 64 * 1024,
        onStderr: (chunk) => this.#onStderr(chunk),
      },
    );
    this.#process = process;
    process.stdout.on('data', (chunk: Buffer) => this.#onStdout(chunk));
    process.stdin.on('error', () => {});
    process.stdout.on('error', () => {});
    process.exit.then(
      (status) =>
        this.#end(
          new TransportError(
            `virsh session ended (exit ${status.code ?? status.signal ?? 'unknown'})`,
            { provider: this.#provider, retryable: false, details: { outcome: 'unknown' } },
          ),
        ),
      (error: unknown) =>
        this.#end(
          TransportError.isInstance(error)
            ? error
            : new TransportError('virsh session lost its channel', {
                provider: this.#provider,
                cause: error,
                details: { outcome: 'unknown' },
              }),
        ),
    );

    // Handshake: the prompt is whatever precedes the echo of the first line.
    const token = `@@hvkit-${randomBytes(9).toString('base64url')}-0@@`;
    const ready = new Promise<void>((resolve, reject) => {
      this.#pending = {
        lines: [],
        tokens: [token],
        finish: () => resolve(),
        fail: reject,
      };
    });
    process.stdin.write(`echo ${token}\n${token}\n`);
    const timer = setTimeout(
      () =>
        this.#pending?.fail(
          new TransportError(`virsh session did not answer within ${timeoutMs} ms`, {
            provider: this.#provider,
            details: { outcome: 'not-sent' },
          }),
        ),
      timeoutMs,
    );
    try {
      await ready;
    } catch (error) {
      this.close();
      throw error;
    } finally {
      clearTimeout(timer);
      clearTimeout(this.#handshakeGrace);
      this.#pending = undefined;
    }
    const echo = `echo ${token}\n${token}`;
    const at = this.#out.indexOf(echo);
    const prompt = this.#out.slice(0, at);
    const errorMarker = `error: unknown command: '${token}'\n`;
    const before = this.#err.slice(0, this.#err.indexOf(errorMarker));
    if (!/^[^\n]*[#>] $/.test(prompt) || before !== '') {
      this.close();
      throw new TransportError(
        before !== ''
          ? `virsh session could not start: ${before.trim()}`
          : 'virsh session: unexpected output shape (no readline prompt and echo); using a virsh process per call',
        {
          provider: this.#provider,
          retryable: before !== '',
          details: { outcome: 'not-sent', protocol: before === '' },
        },
      );
    }
    this.#prompt = prompt;
    this.#out = this.#out.slice(at + echo.length);
    this.#err = '';
  }

  /** The session can take a request (alive, not retired, idle). */
  get usable(): boolean {
    return this.#ended === undefined && !this.#stale && this.#pending === undefined;
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** No further requests: the pool ends the session when it is given back. */
  retire(): void {
    this.#stale = true;
  }

  /**
   * Runs command lines (each from {@link sessionLine}) in order and returns each one's output.
   * Commands that finished before the session broke are returned with `error` set for the rest.
   *
   * @throws The abort reason when `signal` aborts, a TimeoutError past `timeoutMs`: the session
   *   is then killed (virsh cannot stop one command) and the commands' outcome is unknown.
   */
  async request(
    lines: readonly string[],
    options: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined } = {},
  ): Promise<SessionReply> {
    const process = this.#process;
    if (!process || !this.usable) throw new Error('virsh session is busy or ended');
    options.signal?.throwIfAborted();
    if (lines.length === 0) return { outputs: [] };
    const nonce = randomBytes(9).toString('base64url');
    const tokens = lines.map((_, index) => `@@hvkit-${nonce}-${index}@@`);
    let onAbort: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<SessionReply>((resolve, reject) => {
        this.#pending = { lines, tokens, finish: resolve, fail: reject };
        onAbort = () => {
          reject(options.signal?.reason);
          this.close();
        };
        options.signal?.addEventListener('abort', onAbort, { once: true });
        if (options.timeoutMs !== undefined) {
          const timeoutMs = options.timeoutMs;
          timer = setTimeout(() => {
            reject(
              new TimeoutError(
                `virsh did not finish within ${timeoutMs} ms; its session was ended and the command may have run`,
                timeoutMs,
                { provider: this.#provider },
              ),
            );
            this.close();
          }, timeoutMs);
        }
        process.stdin.write(
          lines.map((line, index) => `${line}\necho ${tokens[index]}\n${tokens[index]}\n`).join(''),
        );
      });
    } finally {
      options.signal?.removeEventListener('abort', onAbort as () => void);
      clearTimeout(timer);
      this.#pending = undefined;
      this.requests++;
      this.idleSince = performance.now();
    }
  }

  /** Ends the remote virsh (SIGTERM to the session) and fails a request still waiting. */
  close(): void {
    this.#endWith('virsh session closed');
  }

  #end(error: HvkitError): void {
    if (this.#ended) return;
    this.#ended = error;
    this.#check();
  }

  #onStdout(chunk: Buffer): void {
    this.#out += this.#outText.write(chunk);
    this.#check();
  }

  #onStderr(chunk: Buffer): void {
    this.#err += this.#errText.write(chunk);
    // Nothing asked: virsh speaks on its own (its libvirtd connection dropped).
    if (this.#pending === undefined) this.#stale = true;
    this.#check();
  }

  /** Settles the pending request once both markers of its last command arrived, or the session ended. */
  #check(): void {
    const pending = this.#pending;
    if (!pending) return;
    if (this.#out.length + this.#err.length > MAX_OUTPUT_CHARS)
      this.#endWith('virsh session: more than 64 MiB of output for one request');
    const last = pending.tokens[pending.tokens.length - 1] ?? '';
    const complete =
      this.#out.includes(`echo ${last}\n${last}`) &&
      this.#err.includes(`error: unknown command: '${last}'\n`);
    if (pending.lines.length === 0) {
      // The handshake (parsed by #start): virsh answered once the unknown-command marker is on
      // stderr; its echo on stdout should be there too, or come within a second.
      const answered = this.#err.includes(`error: unknown command: '${last}'\n`);
      if (complete) pending.finish({ outputs: [] });
      else if (this.#ended) pending.fail(this.#ended);
      else if (answered && this.#handshakeGrace === undefined) {
        this.#handshakeGrace = setTimeout(
          () =>
            pending.fail(
              new TransportError(
                'virsh session: unexpected output shape (no readline prompt and echo); using a virsh process per call',
                {
                  provider: this.#provider,
                  retryable: false,
                  details: { outcome: 'not-sent', protocol: true },
                },
              ),
            ),
          HANDSHAKE_GRACE_MS,
        );
      }
      return;
    }
    if (!complete && !this.#ended) return;
    pending.finish(this.#parse(pending));
  }

  /** Cuts the buffered output into one output per command, as far as it is complete. */
  #parse(pending: Pending): SessionReply {
    const outputs: SessionOutput[] = [];
    const prompt = this.#prompt;
    const leftover = new RegExp(`^(?:${escapeRegExp(prompt)}@@hvkit-[A-Za-z0-9_-]+-\\d+@@\\n)*$`);
    let outAt = 0;
    let errAt = 0;
    for (let index = 0; index < pending.lines.length; index++) {
      const token = pending.tokens[index] ?? '';
      const echo = `${prompt}${pending.lines[index]}\n`;
      const echoAt = this.#out.indexOf(echo, outAt);
      const markerEcho = `${prompt}echo ${token}\n${token}`;
      const markerAt = echoAt < 0 ? -1 : this.#out.indexOf(markerEcho, echoAt + echo.length);
      const errorMarker = `error: unknown command: '${token}'\n`;
      const errorAt = this.#err.indexOf(errorMarker, errAt);
      if (markerAt < 0 || errorAt < 0) {
        return {
          outputs,
          error:
            this.#ended ??
            this.#broken(`no end markers for command ${index} (${pending.lines[index]})`),
        };
      }
      if (!leftover.test(this.#out.slice(outAt, echoAt))) {
        return { outputs, error: this.#broken(`unexpected output before command ${index}`) };
      }
      const stderr = this.#err.slice(errAt, errorAt);
      const cleaned = stderr.replace(DISCONNECTED, '');
      if (cleaned !== stderr) this.#stale = true;
      outputs.push({ stdout: this.#out.slice(echoAt + echo.length, markerAt), stderr: cleaned });
      outAt = markerAt + markerEcho.length;
      errAt = errorAt + errorMarker.length;
    }
    this.#out = this.#out.slice(outAt);
    this.#err = this.#err.slice(errAt);
    return { outputs };
  }

  /** A protocol error: the session is killed, the unfinished commands' outcome is unknown. */
  #broken(what: string): HvkitError {
    return this.#endWith(`virsh session: ${what}; the session was ended`);
  }

  /** Ends the session with `message` (a request still waiting gets it, outcome unknown) and kills the remote virsh. */
  #endWith(message: string): HvkitError {
    const error = new TransportError(message, {
      provider: this.#provider,
      retryable: false,
      details: { outcome: 'unknown' },
    });
    this.#end(error);
    this.#process?.kill();
    return this.#ended ?? error;
  }
}

/** Settings of a {@link VirshSessionPool}. */
export interface VirshSessionPoolOptions {
  /** Most sessions open at once (each holds one SSH channel). */
  max: number;
  /** A session idle this long is ended. Default 30 s. */
  idleMs?: number | undefined;
  /** A session is replaced after this many requests (bounds anything that grows in virsh). Default 1000. */
  maxRequests?: number | undefined;
}

/**
 * Up to `max` sessions for one {@link Virsh}: a call takes an idle session, or opens one while
 * fewer than `max` are open; when all are busy the call runs as its own virsh process (so a long
 * command never holds up others). If a session cannot speak the protocol (no readline), the
 * pool stops trying for good.
 */
export class VirshSessionPool {
  readonly #ssh: Pick<SshConnection, 'spawn'>;
  readonly #uri: string;
  readonly #provider: string;
  readonly #max: number;
  readonly #idleMs: number;
  readonly #maxRequests: number;
  readonly #idle: VirshSession[] = [];
  #open = 0;
  #disabled = false;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(
    ssh: Pick<SshConnection, 'spawn'>,
    uri: string,
    provider: string,
    options: VirshSessionPoolOptions,
  ) {
    this.#ssh = ssh;
    this.#uri = uri;
    this.#provider = provider;
    this.#max = options.max;
    this.#idleMs = options.idleMs ?? 30_000;
    this.#maxRequests = options.maxRequests ?? 1000;
  }

  /** Sessions open now (idle or busy). */
  get size(): number {
    return this.#open;
  }

  /**
   * An idle session, a new one, or undefined when the pool is full, disabled, or a session
   * cannot start now (the caller then runs its command as a process, which reports why).
   */
  async acquire(): Promise<VirshSession | undefined> {
    while (this.#idle.length > 0) {
      const session = this.#idle.pop() as VirshSession;
      if (session.usable) return session;
      this.#discard(session);
    }
    if (this.#disabled || this.#open >= this.#max) return undefined;
    this.#open++;
    try {
      return await VirshSession.open(this.#ssh, this.#uri, this.#provider);
    } catch (error) {
      this.#open--;
      const details = (error as { details?: { protocol?: unknown } }).details;
      if (!TransportError.isInstance(error) || details?.protocol === true) this.#disabled = true;
      return undefined;
    }
  }

  /** Gives a session back after a request: kept while healthy, else ended. */
  release(session: VirshSession): void {
    if (!session.usable || session.requests >= this.#maxRequests || this.#open > this.#max) {
      this.#discard(session);
      return;
    }
    this.#idle.push(session);
    this.#sweep();
  }

  /** Ends every idle session (busy ones end when released). */
  close(): void {
    for (const session of this.#idle.splice(0)) this.#discard(session);
    clearTimeout(this.#sweeper);
    this.#sweeper = undefined;
  }

  #discard(session: VirshSession): void {
    this.#open--;
    session.close();
  }

  /** Ends sessions idle for `idleMs`; the timer never keeps Node running. */
  #sweep(): void {
    if (this.#sweeper) return;
    this.#sweeper = setTimeout(() => {
      this.#sweeper = undefined;
      const now = performance.now();
      for (let index = this.#idle.length - 1; index >= 0; index--) {
        const session = this.#idle[index] as VirshSession;
        if (now - session.idleSince >= this.#idleMs || !session.usable) {
          this.#idle.splice(index, 1);
          this.#discard(session);
        }
      }
      if (this.#idle.length > 0) this.#sweep();
    }, this.#idleMs);
    this.#sweeper.unref();
  }
}
