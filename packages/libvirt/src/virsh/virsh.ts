/**
 * The virsh wire layer: every libvirt call of the provider is virsh on the host, through one
 * `@hvkit/ssh` connection: a line to one of a few long-lived interactive virsh sessions, or a
 * virsh process of its own. One {@link Virsh} per provider.
 */
import { randomBytes } from 'node:crypto';
import { type HvkitError, InvalidSpecError, TransportError } from '@hvkit/core';
import {
  quoteShellArgument,
  type SpawnOptions,
  type SshConnection,
  type SshProcess,
  type StdinSource,
} from '@hvkit/ssh';
import { mapVirshError } from '../libvirt-errors.js';
import { sleep } from '../sleep.js';
import { virshCommandLine } from './virsh-quote.js';
import { sessionLine, VirshSessionPool } from './virsh-session.js';

/**
 * What {@link Virsh} needs of an SSH connection: `@hvkit/ssh`'s `SshConnection` (tests give a
 * fake). The connection's owner opens and closes it.
 */
export type VirshTransport = Pick<SshConnection, 'exec' | 'spawn'>;

/** Settings of a {@link Virsh}. */
export interface VirshOptions {
  /**
   * libvirt connection URI passed as `-c` to every virsh. Default `qemu:///system`: as a
   * non-root user virsh would otherwise pick `qemu:///session`, a private per-user daemon.
   */
  uri?: string | undefined;
  /** Provider instance name put on errors (`provider` field). Default `libvirt`. */
  provider?: string | undefined;
  /**
   * Most long-lived interactive virsh processes kept on the host, each on one SSH channel (see
   * `virsh-session.ts`). A call whose commands are printable ASCII runs in an idle session: one
   * write and read instead of a new virsh process and libvirt connection (0.5 ms against about
   * 14 ms on the test bed). Other calls, and calls while every session is busy, run as their own
   * virsh process. 0 turns sessions off. Default 4.
   */
  sessions?: number | undefined;
}

/** Options of {@link Virsh.run} and {@link Virsh.runMany}. */
export interface VirshCallOptions {
  /** Stops the call: the remote virsh is sent SIGTERM and the call rejects with the abort reason. */
  signal?: AbortSignal | undefined;
  /** Deadline for the whole call (channel wait and connect included); a TimeoutError past it. Default none. */
  timeoutMs?: number | undefined;
  /**
   * The command may be repeated safely (a read). Decides only whether a failure of unknown
   * outcome (connection lost mid-call, timeout) is marked retryable. Default false.
   */
  idempotent?: boolean | undefined;
}

/** Options of {@link Virsh.run}. */
export interface VirshRunOptions extends VirshCallOptions {
  /** Standard input of the command, e.g. domain XML for `define /dev/stdin`. Default: empty. */
  stdin?: StdinSource | undefined;
}

/** What one command of {@link Virsh.runMany} did. */
export type VirshCommandResult =
  | {
      readonly ok: true;
      /** The command's standard output, UTF-8. */
      readonly stdout: string;
    }
  | {
      readonly ok: false;
      /**
       * The command's `error: …` text mapped to a core error (see `mapVirshError`); a
       * TransportError (`details.outcome: 'unknown'`) when virsh ended before
       * the command finished.
       */
      readonly error: HvkitError;
      /** Whatever the command wrote to standard output before failing. */
      readonly stdout: string;
    };

// LC_ALL=C.UTF-8 on every remote virsh: untranslated messages (the error mapping reads them),
// whatever the host's locale.
const ENV = ['env', 'LC_ALL=C.UTF-8'] as const;
// Linux limits one argv element to 128 KiB (MAX_ARG_STRLEN), and the remote login shell gets the
// whole command line as one (`$SHELL -c '<line>'`): batches are cut well below that.
const MAX_BATCH_BYTES = 100_000;
// A failing command that costs no libvirt call: in a one-shot virsh `cd` only says
// `error: cd: command valid only in interactive mode`. Run after each command, that fixed line
// closes the command's stderr; no other command prints it.
const STDERR_MARKER_COMMAND = 'cd';
const STDERR_MARKER = 'error: cd: command valid only in interactive mode\n';

// A session costs about 0.7 ms per command (readline reads each byte and echoes it, and each
// command brings two marker lines), a process about 20 ms to start and 0.4 ms per command
// (measured on the bed, 1–128 `domstate`/`dumpxml`): from about 64 commands on a process is
// faster, so larger batches take that path.
const SESSION_MAX_COMMANDS = 48;

// While libvirtd restarts (about 1.2 s on the bed) virsh fails with `failed to connect to the
// hypervisor`: a call is tried again after these pauses.
const LIBVIRTD_RETRY_DELAYS_MS = [300, 1_000, 2_000] as const;

function notSent(error: HvkitError): boolean {
  return (
    TransportError.isInstance(error) &&
    (error.details as { outcome?: unknown } | undefined)?.outcome === 'not-sent'
  );
}

/** Standard input that can be sent again (a stream is consumed by the first try). */
function resendable(stdin: unknown): boolean {
  return stdin === undefined || typeof stdin === 'string' || stdin instanceof Uint8Array;
}

/**
 * Runs virsh on a libvirt host over an SSH connection: always `virsh -q -c <uri>`, every argument
 * passed through `@hvkit/ssh`'s shell quoting, and for {@link runMany} first through virsh's own
 * grammar (`quoteVirshArgument`).
 */
export class Virsh {
  /** The libvirt URI every call connects to. */
  readonly uri: string;
  readonly #ssh: VirshTransport;
  readonly #provider: string;
  readonly #sessions: VirshSessionPool | undefined;
  #counts = { sessionRequests: 0, processes: 0 };

  /**
   * @param ssh The connection to the host; the caller owns it (opens and closes it).
   * @param options URI (default `qemu:///system`), provider name and session count.
   */
  constructor(ssh: VirshTransport, options: VirshOptions = {}) {
    this.#ssh = ssh;
    this.uri = options.uri ?? 'qemu:///system';
    this.#provider = options.provider ?? 'libvirt';
    const sessions = options.sessions ?? 4;
    this.#sessions =
      sessions > 0
        ? new VirshSessionPool(ssh, this.uri, this.#provider, { max: sessions })
        : undefined;
  }

  /**
   * How calls ran so far: requests answered by a session and virsh processes started (execs,
   * not counting `spawn`). For diagnostics and the bench.
   */
  stats(): { sessionRequests: number; processes: number; sessionsOpen: number } {
    return { ...this.#counts, sessionsOpen: this.#sessions?.size ?? 0 };
  }

  /**
   * The SSH transport virsh runs on, for the few host commands beside virsh (a volume file's
   * `cat`, `id`, `test`): every argument still goes through `@hvkit/ssh`'s shell quoting.
   */
  get transport(): VirshTransport {
    return this.#ssh;
  }

  /** Ends the idle sessions (the SSH connection's owner closes the rest with the connection). */
  close(): void {
    this.#sessions?.close();
  }

  /**
   * Runs `commands` in a session when every one may travel that way (see `sessionLine`) and a
   * session is free. Undefined means "run them as a process": not eligible, no session, or
   * nothing ran (virsh could not reach libvirtd, which the process path waits out). `broken`
   * is set when the session ended before every command finished.
   */
  async #viaSession(
    commands: readonly (readonly string[])[],
    options: VirshCallOptions,
  ): Promise<{ results: VirshCommandResult[]; broken?: HvkitError } | undefined> {
    if (!this.#sessions || commands.length > SESSION_MAX_COMMANDS) return undefined;
    const lines: string[] = [];
    for (const command of commands) {
      let line: string | undefined;
      try {
        line = sessionLine(command, virshCommandLine(command));
      } catch {
        return undefined; // the process path reports the bad argument
      }
      if (line === undefined) return undefined;
      lines.push(line);
    }
    const session = await this.#sessions.acquire();
    if (!session) return undefined;
    this.#counts.sessionRequests++;
    let reply: Awaited<ReturnType<typeof session.request>>;
    try {
      reply = await session.request(lines, {
        signal: options.signal,
        timeoutMs: options.timeoutMs,
      });
    } catch (error) {
      this.#sessions.release(session);
      throw error;
    }
    const results: VirshCommandResult[] = reply.outputs.map((output, index) =>
      /^error: /m.test(output.stderr)
        ? {
            ok: false,
            error: mapVirshError(output.stderr, {
              command: commands[index] ?? [],
              provider: this.#provider,
            }),
            stdout: output.stdout,
          }
        : { ok: true, stdout: output.stdout },
    );
    // A libvirt connection problem: this session's virsh is retired (a new one connects afresh).
    if (results.some((result) => !result.ok && TransportError.isInstance(result.error)))
      session.retire();
    this.#sessions.release(session);
    if (reply.error) {
      return {
        results,
        broken: new TransportError(reply.error.message, {
          provider: this.#provider,
          cause: reply.error,
          retryable: options.idempotent === true,
          details: { outcome: 'unknown' },
        }),
      };
    }
    if (results.length > 0 && results.every((result) => !result.ok && notSent(result.error)))
      return undefined;
    return { results };
  }

  /**
   * One SSH exec, tried a second time when the first failed with a retryable TransportError: the
   * connection was lost before the command was sent (`outcome: 'not-sent'`), or after, for a call
   * marked idempotent (a read). The SSH layer reconnects on the next call, so a killed sshd child
   * or a restarted sshd costs a read nothing; a mutation whose outcome is unknown is never
   * repeated, its error says so.
   */
  async #exec(
    argv: readonly string[],
    options: Parameters<VirshTransport['exec']>[1] & object,
  ): Promise<Awaited<ReturnType<VirshTransport['exec']>>> {
    try {
      return await this.#ssh.exec(argv, options);
    } catch (error) {
      if (
        !TransportError.isInstance(error) ||
        !error.retryable ||
        options.signal?.aborted ||
        !resendable(options.stdin)
      )
        throw error;
      return this.#ssh.exec(argv, options);
    }
  }

  /** The remote argv of one virsh command. `-q` drops banners and the extra newline `vol-download` adds to /dev/stdout. */
  #argv(args: readonly string[]): string[] {
    return [...ENV, 'virsh', '-q', '-c', this.uri, ...args];
  }

  /**
   * Runs one virsh command (`args[0]` is the command, e.g. `['dominfo', '--', name]`) and returns
   * its standard output as UTF-8 text. Any argument may contain anything but NUL: a command of
   * printable ASCII without stdin runs in an idle session (see {@link runMany}); any other
   * reaches a virsh process as a real argv element.
   *
   * @throws The mapped core error (see `mapVirshError`) when virsh exits non-zero; a
   *   TransportError when the SSH connection fails; a TimeoutError past `timeoutMs`; the abort
   *   reason when `signal` aborts.
   */
  async run(args: readonly string[], options: VirshRunOptions = {}): Promise<string> {
    if (options.stdin === undefined) {
      const reply = await this.#viaSession([args], options);
      const result = reply?.results[0];
      if (result?.ok) return result.stdout;
      const error = result?.error ?? reply?.broken;
      // A read whose session or libvirt connection broke runs again as a process.
      if (error && !(options.idempotent === true && TransportError.isInstance(error))) throw error;
    }
    for (let attempt = 0; ; attempt++) {
      this.#counts.processes++;
      const result = await this.#exec(this.#argv(args), {
        stdin: options.stdin,
        signal: options.signal,
        timeoutMs: options.timeoutMs,
        idempotent: options.idempotent,
      });
      if (result.code === 0) return result.stdout.toString('utf8');
      const error = mapVirshError(result.stderr.toString('utf8'), {
        command: args,
        provider: this.#provider,
        exitCode: result.code,
      });
      // virsh could not reach libvirtd (restarting): nothing ran, so trying again is safe; a read
      // that lost its libvirtd connection mid-call is safe to repeat too.
      const delay = LIBVIRTD_RETRY_DELAYS_MS[attempt];
      const again =
        notSent(error) || (options.idempotent === true && TransportError.isInstance(error));
      if (delay === undefined || !again || !resendable(options.stdin)) throw error;
      await sleep(delay, options.signal);
    }
  }

  /**
   * Runs many virsh commands in ONE remote virsh (one SSH round trip, one libvirt connection)
   * and returns one result per command, in order. A failing command does not stop the others.
   * Commands run in order, so a later one may use what an earlier one made (`define`, then
   * `start`).
   *
   * When there are at most 48 commands, every one printable ASCII (see `sessionLine`), and a
   * session is free, they go to a long-lived interactive virsh as lines on its stdin (see `virsh-session.ts`): each line is
   * parsed on its own, so a command virsh cannot parse fails alone. A read (`idempotent`) whose
   * session breaks, or that lost libvirtd, is run again as a process.
   *
   * Otherwise one virsh process runs them as virsh's own command string (`virsh 'dominfo a;
   * dominfo b'`), each argument quoted by `quoteVirshArgument`. Each command is followed by two
   * markers: `echo` of a token with a random nonce (ends the command's stdout) and `cd`, which
   * in a one-shot virsh fails with a fixed line and no libvirt call (ends its stderr). So each
   * command gets its own output and error, though virsh's exit status is only the last
   * command's. Batches longer than about 100 KB are split into several virsh processes run one
   * after the other (Linux caps one argument at 128 KiB). A command virsh cannot parse (unknown
   * command or option) makes virsh refuse its whole batch before running any of it: each of
   * that batch's commands then fails with virsh's parse error and later batches are not run.
   *
   * @throws InvalidSpecError when an argument contains NUL or a lone surrogate, or one command
   *   alone is too long; TransportError, TimeoutError or the abort reason when the SSH call
   *   itself fails. Failures of the commands are in the results, not thrown.
   */
  async runMany(
    commands: readonly (readonly string[])[],
    options: VirshCallOptions = {},
  ): Promise<VirshCommandResult[]> {
    const session = await this.#viaSession(commands, options);
    if (session && !session.broken) {
      const failedRead =
        options.idempotent === true &&
        session.results.some((result) => !result.ok && TransportError.isInstance(result.error));
      if (!failedRead) return session.results;
    } else if (session?.broken && options.idempotent !== true) {
      const broken = session.broken;
      return [
        ...session.results,
        ...commands
          .slice(session.results.length)
          .map((): VirshCommandResult => ({ ok: false, error: broken, stdout: '' })),
      ];
    }
    // Here: not for a session, or a read to repeat as a process.
    // base64url: letters, digits, `-` and `_`, a plain word for virsh's tokenizer.
    const nonce = randomBytes(9).toString('base64url');
    const marker = (index: number) => `@@hvkit-${nonce}-${index}@@`;
    const batches: { first: number; parts: string[]; bytes: number }[] = [];
    commands.forEach((command, index) => {
      const part = `${virshCommandLine(command)}; echo ${marker(index)}; ${STDERR_MARKER_COMMAND}`;
      // What the remote shell gets: the part, shell-quoted (a `'` grows to 4 bytes), UTF-8.
      const bytes = Buffer.byteLength(quoteShellArgument(part)) + 2;
      if (bytes > MAX_BATCH_BYTES) {
        throw new InvalidSpecError(
          [
            {
              path: `commands[${index}]`,
              message: `takes ${bytes} bytes on the command line; at most ${MAX_BATCH_BYTES} fit`,
              code: 'too_long',
            },
          ],
          { subject: 'virsh command' },
        );
      }
      const last = batches[batches.length - 1];
      if (last && last.bytes + bytes <= MAX_BATCH_BYTES) {
        last.parts.push(part);
        last.bytes += bytes;
      } else {
        batches.push({ first: index, parts: [part], bytes });
      }
    });

    const results: VirshCommandResult[] = [];
    for (const batch of batches) {
      let done = await this.#runBatch(commands, batch.first, batch.parts, marker, options);
      // Every command failed because virsh could not reach libvirtd (restarting): nothing ran.
      for (const delay of LIBVIRTD_RETRY_DELAYS_MS) {
        if (!done.results.every((result) => !result.ok && notSent(result.error))) break;
        await sleep(delay, options.signal);
        done = await this.#runBatch(commands, batch.first, batch.parts, marker, options);
      }
      results.push(...done.results);
      if (done.stopped) {
        // virsh refused the batch or died in it: later batches may depend on it, so they are
        // not run and fail with the same error.
        for (let index = results.length; index < commands.length; index++) {
          results.push({ ok: false, error: done.stopped, stdout: '' });
        }
        break;
      }
    }
    return results;
  }

  async #runBatch(
    commands: readonly (readonly string[])[],
    first: number,
    parts: readonly string[],
    marker: (index: number) => string,
    options: VirshCallOptions,
  ): Promise<{ results: VirshCommandResult[]; stopped?: HvkitError }> {
    this.#counts.processes++;
    const result = await this.#exec(this.#argv([parts.join('; ')]), {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      idempotent: options.idempotent,
    });
    const stdout = result.stdout.toString('utf8');
    const stderr = result.stderr.toString('utf8');
    const out: VirshCommandResult[] = [];
    let outAt = 0;
    let errAt = 0;
    for (let offset = 0; offset < parts.length; offset++) {
      const index = first + offset;
      const command = commands[index] ?? [];
      const printed = marker(index);
      const markerAt = stdout.indexOf(printed, outAt);
      const errorMarkerAt = stderr.indexOf(STDERR_MARKER, errAt);
      if (markerAt < 0 || errorMarkerAt < 0) {
        const rest = stderr.slice(errAt).trim();
        const mapped = rest.includes('error:')
          ? mapVirshError(rest, { command, provider: this.#provider, exitCode: result.code })
          : undefined;
        let error: HvkitError;
        if (offset === 0 && mapped) {
          // Nothing of the batch ran: virsh could not parse it or could not connect.
          error = mapped;
        } else {
          // virsh ended in the middle: this command's outcome is unknown.
          error = new TransportError(
            `virsh ended (exit ${result.code ?? result.signal ?? 'unknown'}) before command ${index} (${command[0] ?? ''}) finished${rest ? `: ${rest}` : ''}`,
            {
              provider: this.#provider,
              cause: mapped,
              retryable: options.idempotent === true,
              details: { outcome: 'unknown' },
            },
          );
        }
        for (let rest = offset; rest < parts.length; rest++) {
          out.push({ ok: false, error, stdout: '' });
        }
        return { results: out, stopped: error };
      }
      const commandStdout = stdout.slice(outAt, markerAt);
      outAt = markerAt + printed.length;
      const commandStderr = stderr.slice(errAt, errorMarkerAt);
      errAt = errorMarkerAt + STDERR_MARKER.length;
      if (/^error: /m.test(commandStderr)) {
        out.push({
          ok: false,
          error: mapVirshError(commandStderr, { command, provider: this.#provider }),
          stdout: commandStdout,
        });
      } else {
        out.push({ ok: true, stdout: commandStdout });
      }
    }
    return { results: out };
  }

  /**
   * Starts one long-running virsh command and streams its stdout (`event --loop`,
   * `vol-download … /dev/stdout`, `vol-upload … /dev/stdin` with `stdin`). Aborting `signal` or
   * `kill()` sends the remote virsh SIGTERM (OpenSSH signals the session's process group), so
   * nothing is left running on the host. The caller reads `exit` to learn how it ended and maps a
   * non-zero exit with `mapVirshError(stderr)`.
   *
   * @throws A TransportError when the channel cannot be opened.
   */
  spawn(args: readonly string[], options: SpawnOptions = {}): Promise<SshProcess> {
    return this.#ssh.spawn(this.#argv(args), options);
  }
}
