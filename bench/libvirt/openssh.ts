/**
 * The peer: the OpenSSH client (`ssh`) as a child process of Node, as a script or another tool
 * would drive virsh. Two modes:
 *
 * - `mux`: through one ControlMaster connection started before timing
 *   (`-o ControlMaster=auto -o ControlPath=<dir>/cm -o ControlPersist=600` on every call, so each
 *   call is a multiplexed session on the master's connection: no TCP, no key exchange, no auth);
 * - `new`: a new connection per command (`-o ControlMaster=no -o ControlPath=none`).
 *
 * Host, port, user, key and known_hosts come from the bed's ssh_config (`-F`), which pins the host
 * key (`StrictHostKeyChecking yes`) and sets `BatchMode yes`. The remote command is ONE argument,
 * already quoted by `@hvkit/ssh`'s `shellCommand`: the exact line hvkit's connection sends.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How an OpenSSH call connects. */
export type SshMode = 'mux' | 'new';

/** Exit and output of one OpenSSH call. */
export interface OpenSshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The first `Host` alias of an ssh_config file. */
function hostAlias(configPath: string): string {
  const match = /^\s*Host\s+(\S+)/m.exec(readFileSync(configPath, 'utf8'));
  if (!match?.[1]) throw new Error(`${configPath} has no Host entry`);
  return match[1];
}

/** OpenSSH against the bed: a ControlMaster to start and stop, and commands in either mode. */
export class OpenSsh {
  readonly host: string;
  readonly #config: string;
  readonly #dir: string;
  readonly #controlPath: string;

  constructor(configPath: string) {
    this.#config = configPath;
    this.host = hostAlias(configPath);
    // A short private directory: a unix socket path must stay under about 108 bytes.
    this.#dir = mkdtempSync(join(tmpdir(), 'hvkit-bench-cm-'));
    this.#controlPath = join(this.#dir, 'cm');
  }

  /** The `ssh` arguments before the remote command for `mode`. */
  args(mode: SshMode): string[] {
    const connection =
      mode === 'mux'
        ? [
            '-o',
            'ControlMaster=auto',
            '-o',
            `ControlPath=${this.#controlPath}`,
            '-o',
            'ControlPersist=600',
          ]
        : ['-o', 'ControlMaster=no', '-o', 'ControlPath=none'];
    return ['-F', this.#config, ...connection, this.host];
  }

  /**
   * Starts the ControlMaster (`-N -f`: it backgrounds itself once authenticated) and checks it
   * answers. Returns the time it took and the cipher the master negotiated (from `-v`).
   */
  async startMaster(): Promise<{ ms: number; cipher: string | undefined }> {
    const started = performance.now();
    const stderr = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        'ssh',
        [
          '-v',
          '-F',
          this.#config,
          '-o',
          'ControlMaster=yes',
          '-o',
          `ControlPath=${this.#controlPath}`,
          '-o',
          'ControlPersist=600',
          '-o',
          'LogLevel=DEBUG1',
          '-N',
          '-f',
          this.host,
        ],
        // stderr to a pipe would be held open by the backgrounded master: read it until the
        // foreground process exits, then let go.
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let text = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      child.on('error', reject);
      child.on('exit', (code) => {
        child.stderr?.destroy();
        if (code === 0) resolve(text);
        else reject(new Error(`ssh ControlMaster failed (${code}): ${text.slice(-2000)}`));
      });
    });
    const ms = performance.now() - started;
    const check = await this.control('check');
    if (check.code !== 0) throw new Error(`ControlMaster does not answer: ${check.stderr}`);
    const cipher = /client->server cipher: (\S+)/.exec(stderr)?.[1];
    return { ms, cipher };
  }

  /** `ssh -O <command>` on the master (`check`, `exit`). */
  control(command: 'check' | 'exit'): Promise<OpenSshResult> {
    return this.#execFile([
      '-F',
      this.#config,
      '-o',
      `ControlPath=${this.#controlPath}`,
      '-O',
      command,
      this.host,
    ]);
  }

  /** Stops the master and removes the socket directory. Safe to call twice. */
  async stopMaster(): Promise<void> {
    await this.control('exit').catch(() => undefined);
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** Runs one remote command line (already quoted) and collects its output. */
  run(mode: SshMode, remote: string): Promise<OpenSshResult> {
    return this.#execFile([...this.args(mode), remote]);
  }

  /** Starts one remote command line with piped stdin/stdout, for streams. */
  spawn(mode: SshMode, remote: string): ChildProcess {
    return spawn('ssh', [...this.args(mode), remote], { stdio: ['pipe', 'pipe', 'pipe'] });
  }

  #execFile(args: string[]): Promise<OpenSshResult> {
    return new Promise((resolve, reject) => {
      execFile('ssh', args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        if (error && code === null) reject(error);
        else resolve({ code, stdout, stderr });
      });
    });
  }
}
