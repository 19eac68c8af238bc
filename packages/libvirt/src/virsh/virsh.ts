/**
 * The virsh wire layer: every libvirt call of the provider is a `virsh` process on the host,
 * started through one `@hvkit/ssh` connection. One {@link Virsh} per provider.
 */
import { randomBytes } from 'node:crypto';
import { type HvkitError, InvalidSpecError, ProviderApiError, TransportError } from '@hvkit/core';
import type { SpawnOptions, SshConnection, SshProcess, StdinSource } from '@hvkit/ssh';
import { mapVirshError } from '../libvirt-errors.js';
import { virshCommandLine } from './virsh-quote.js';

/** Settings of a {@link Virsh}. */
export interface VirshOptions {
  /**
   * libvirt connection URI passed as `-c` to every virsh. Default `qemu:///system`: as a
   * non-root user virsh would otherwise pick `qemu:///session`, a private per-user daemon.
   */
  uri?: string | undefined;
  /** Provider instance name put on errors (`provider` field). Default `libvirt`. */
  provider?: string | undefined;
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

// Fixed environment of every remote virsh:
// - LC_ALL=C.UTF-8: untranslated messages (the error mapping reads them) and UTF-8 text, so
//   readline in runMany takes non-ASCII input as characters (in the C locale it turns bytes ≥ 0x80
//   into meta keys).
// - For runMany's readline only: TERM=dumb, INPUTRC=/dev/null (no user key bindings),
//   COLUMNS=1000000 (readline echoes each line it reads; with the default 80 columns a longer line
//   is echoed with horizontal-scroll redraws, `\r<…`, which no parser should have to undo),
//   VIRSH_HISTSIZE=0 (no history kept of the commands).
const BASE_ENV = ['LC_ALL=C.UTF-8'] as const;
const STDIN_ENV = [
  'TERM=dumb',
  'INPUTRC=/dev/null',
  'COLUMNS=1000000',
  'VIRSH_HISTSIZE=0',
] as const;
// Readline redraws lines longer than the screen width; stay well under COLUMNS.
const MAX_LINE_CHARS = 900_000;
// Interactive virsh's prompt, printed (and flushed) before each line it reads.
const PROMPT = 'virsh # ';

function transcriptError(message: string, provider: string): ProviderApiError {
  return new ProviderApiError(`virsh: ${message}`, { provider, fault: 'virsh-transcript' });
}

/**
 * Runs virsh on a libvirt host over an SSH connection: always `virsh -q -c <uri>`, every argument
 * passed through `@hvkit/ssh`'s shell quoting (a single command) or virsh's own grammar
 * (`quoteVirshArgument`, for the commands of {@link runMany}).
 */
export class Virsh {
  /** The libvirt URI every call connects to. */
  readonly uri: string;
  readonly #ssh: SshConnection;
  readonly #provider: string;

  /**
   * @param ssh The connection to the host; the caller owns it (opens and closes it).
   * @param options URI (default `qemu:///system`) and provider name.
   */
  constructor(ssh: SshConnection, options: VirshOptions = {}) {
    this.#ssh = ssh;
    this.uri = options.uri ?? 'qemu:///system';
    this.#provider = options.provider ?? 'libvirt';
  }

  /** The remote argv of one virsh command. `-q` drops banners and the extra newline `vol-download` adds to /dev/stdout. */
  #argv(args: readonly string[]): string[] {
    return ['env', ...BASE_ENV, 'virsh', '-q', '-c', this.uri, ...args];
  }

  /**
   * Runs one virsh command (`args[0]` is the command, e.g. `['dominfo', '--', name]`) and returns
   * its standard output as UTF-8 text. Any argument may contain anything but NUL: it reaches
   * virsh as a real argv element.
   *
   * @throws The mapped core error (see `mapVirshError`) when virsh exits non-zero; a
   *   TransportError when the SSH connection fails; a TimeoutError past `timeoutMs`; the abort
   *   reason when `signal` aborts.
   */
  async run(args: readonly string[], options: VirshRunOptions = {}): Promise<string> {
    const result = await this.#ssh.exec(this.#argv(args), {
      stdin: options.stdin,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      idempotent: options.idempotent,
    });
    if (result.code === 0) return result.stdout.toString('utf8');
    throw mapVirshError(result.stderr.toString('utf8'), {
      command: args,
      provider: this.#provider,
      exitCode: result.code,
    });
  }

  /**
   * Runs many virsh commands in ONE remote virsh process (one SSH round trip, one libvirt
   * connection), fed the commands on stdin, and returns one result per command in order. A
   * failing command does not stop the others (virsh goes on after an error).
   *
   * Each command is followed by two markers carrying a random nonce: `echo` of a token (closes
   * the command's stdout) and an unknown command (its `error: unknown command: '…'` closes the
   * command's stderr). Interactive virsh echoes each line it reads after its prompt on stdout;
   * that echo is known exactly and cut away, and anything else is reported as a ProviderApiError
   * rather than guessed at.
   *
   * Arguments must be printable text (see `quoteVirshArgument`); commands must not read stdin
   * (it carries the commands). Pass XML through a file or {@link run}.
   *
   * @throws InvalidSpecError when an argument cannot travel this way (control character, NUL) or
   *   a command line is too long; a TransportError when the SSH call itself fails; a
   *   ProviderApiError when virsh's output is not the expected transcript.
   */
  async runMany(
    commands: readonly (readonly string[])[],
    options: VirshCallOptions = {},
  ): Promise<VirshCommandResult[]> {
    if (commands.length === 0) return [];
    // base64url: letters, digits, `-` and `_`, all plain words for virsh's tokenizer.
    const nonce = randomBytes(12).toString('base64url');
    const lines = commands.map((command, index) => {
      const line = virshCommandLine(command);
      if (line.length > MAX_LINE_CHARS) {
        throw new InvalidSpecError(
          [
            {
              path: `commands[${index}]`,
              message: `is ${line.length} characters long; at most ${MAX_LINE_CHARS} fit on virsh's command input`,
              code: 'too_long',
            },
          ],
          { subject: 'virsh command' },
        );
      }
      return line;
    });
    // The printed marker is `@@hvkit-<nonce>-<i>@@`; it is typed with an empty '' inside, so
    // the echoed command line never contains the printed form.
    const printedMarker = (index: number) => `@@hvkit-${nonce}-${index}@@`;
    const echoLine = (index: number) => `echo @@hvkit-${nonce}''-${index}@@`;
    // Not a virsh command (they never start with `hvkit-`): virsh prints
    // `error: unknown command: '<it>'` on stderr, without any call to libvirtd.
    const errorLine = (index: number) => `hvkit-${nonce}-e${index}`;
    const input = `${lines.map((line, index) => `${line}\n${echoLine(index)}\n${errorLine(index)}\n`).join('')}`;

    const result = await this.#ssh.exec(
      ['env', ...BASE_ENV, ...STDIN_ENV, 'virsh', '-q', '-c', this.uri],
      {
        stdin: input,
        signal: options.signal,
        timeoutMs: options.timeoutMs,
        idempotent: options.idempotent,
      },
    );
    const stdout = result.stdout.toString('utf8');
    const stderr = result.stderr.toString('utf8');

    const results: VirshCommandResult[] = [];
    let outAt = 0;
    let errAt = 0;
    for (let index = 0; index < commands.length; index++) {
      const command = commands[index] ?? [];
      const marker = printedMarker(index);
      const markerAt = stdout.indexOf(marker, outAt);
      const errorMarker = `error: unknown command: '${errorLine(index)}'\n`;
      const errorMarkerAt = stderr.indexOf(errorMarker, errAt);
      if (markerAt < 0 || errorMarkerAt < 0) {
        // virsh ended (or never connected) before this command finished: its outcome is
        // unknown. Whatever virsh said last is the best explanation there is.
        const rest = stderr.slice(errAt).trim();
        const cause = rest.includes('error:')
          ? mapVirshError(rest, { command, provider: this.#provider, exitCode: result.code })
          : undefined;
        const error =
          cause && !ProviderApiError.isInstance(cause)
            ? cause
            : new TransportError(
                `virsh ended (exit ${result.code ?? result.signal ?? 'unknown'}) before command ${index} (${command[0] ?? ''}) finished${rest ? `: ${rest}` : ''}`,
                {
                  provider: this.#provider,
                  cause,
                  retryable: options.idempotent === true,
                  details: { outcome: 'unknown' },
                },
              );
        for (let rest = index; rest < commands.length; rest++) {
          results.push({ ok: false, error, stdout: '' });
        }
        break;
      }
      const segment = stdout.slice(outAt, markerAt);
      outAt = markerAt + marker.length;
      const commandStderr = stderr.slice(errAt, errorMarkerAt);
      errAt = errorMarkerAt + errorMarker.length;

      const prefix = `${index > 0 ? `${PROMPT}${errorLine(index - 1)}\n` : ''}${PROMPT}${lines[index]}\n`;
      const suffix = `${PROMPT}${echoLine(index)}\n`;
      if (
        !segment.startsWith(prefix) ||
        !segment.endsWith(suffix) ||
        segment.length < prefix.length + suffix.length
      ) {
        throw transcriptError(
          `unexpected output around command ${index} (${command[0] ?? ''}): ${JSON.stringify(segment.slice(0, 200))}`,
          this.#provider,
        );
      }
      const commandStdout = segment.slice(prefix.length, segment.length - suffix.length);
      if (/^error: /m.test(commandStderr)) {
        results.push({
          ok: false,
          error: mapVirshError(commandStderr, { command, provider: this.#provider }),
          stdout: commandStdout,
        });
      } else {
        results.push({ ok: true, stdout: commandStdout });
      }
    }
    return results;
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
