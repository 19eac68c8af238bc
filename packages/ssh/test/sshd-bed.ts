// A private OpenSSH server for one test file: a generated host key and client key in a temp
// dir, key-only auth for a dedicated user (TEST_USER, made once with useradd; the tests run as
// root) through an AuthorizedKeysFile in that dir, `UsePAM no`, listening on a free 127.0.0.1 port, started as `sshd -D -e` so it stays our
// child. Faults are made by killing what serves a session (killChildren) or restarting it with
// a new host key (restart).
//
// Under CI=true a missing or unstartable sshd fails the run; elsewhere the tests skip loudly
// (the house pattern of packages/vsphere/test/vcsim.ts requireVcsim).
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SSHD = '/usr/sbin/sshd';
const SFTP_SERVER = '/usr/lib/openssh/sftp-server';
/**
 * Not root on purpose: OpenSSH refuses `signal` channel requests in a root session ("session
 * signalling requires privilege separation" — root sessions run without it), so kill() could not
 * be proven as root. Its login shell is /bin/sh (dash on Debian), the strictest POSIX shell here.
 */
export const TEST_USER = 'hvkit-ssh-test';

/** A running sshd and what a client needs to reach it. */
export interface SshdBed {
  host: string;
  port: number;
  username: string;
  /** The authorised client key (OpenSSH format, unencrypted: a test key of nobody's). */
  privateKey: string;
  privateKeyPath: string;
  /** As `ssh-keygen -lf` prints it for the current host key (an oracle independent of hvkit). */
  hostKeyFingerprint256: string;
  /** A known_hosts file with `[127.0.0.1]:port` and the current host key. */
  knownHostsPath: string;
  /** The public host key line (`ssh-ed25519 AAAA…`). */
  hostKeyLine: string;
  dir: string;
  /** Pid of the listening sshd. */
  pid(): number;
  /** Pids of every process under the listener: per-connection sshd processes and the commands they run. */
  descendants(): number[];
  /** SIGKILLs every process under the listener (drops every connection); returns the pids. */
  killChildren(): number[];
  /** Stops and starts sshd on the same port; `rotateHostKey` makes a new host key first. */
  restart(options?: { rotateHostKey?: boolean }): Promise<void>;
  stop(): Promise<void>;
  /** sshd's own log (-e), for failure messages. */
  log(): string;
}

/** True when the run is CI (`CI=true` or `CI=1`), where a missing bed fails instead of skipping. */
export function isCi(): boolean {
  const ci = process.env.CI?.toLowerCase();
  return ci === 'true' || ci === '1';
}

function ensureSshd(): string | undefined {
  if (existsSync(SSHD)) return undefined;
  if (process.getuid?.() !== 0) return `${SSHD} is missing and installing needs root`;
  // Debian's package; the lock timeout waits for another worker's apt run instead of failing.
  const result = spawnSync(
    'apt-get',
    ['-o', 'DPkg::Lock::Timeout=900', 'install', '-y', '--no-install-recommends', 'openssh-server'],
    {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      encoding: 'utf8',
      timeout: 15 * 60_000,
    },
  );
  if (result.status !== 0 || !existsSync(SSHD))
    return `apt-get install openssh-server failed: ${(result.stderr ?? '').slice(-500)}`;
  return undefined;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function ensureUser(): string | undefined {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (spawnSync('id', [TEST_USER]).status === 0) {
      // '*' = no password but not locked: OpenSSH refuses a locked account even for keys.
      spawnSync('usermod', ['-p', '*', TEST_USER]);
      return undefined;
    }
    if (process.getuid?.() !== 0) return `user ${TEST_USER} is missing and making it needs root`;
    // Test files start in parallel: a concurrent useradd holds /etc/passwd's lock; try again.
    const made = spawnSync('useradd', ['-m', '-s', '/bin/sh', '-p', '*', TEST_USER], {
      encoding: 'utf8',
    });
    if (made.status === 0) return undefined;
    sleepSync(100);
  }
  return `useradd ${TEST_USER} kept failing`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function keygen(path: string, comment: string): void {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
}

/** Fingerprint of a public key file as OpenSSH's own ssh-keygen prints it. */
export function sshKeygenFingerprint(publicKeyPath: string): string {
  const line = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyPath], {
    encoding: 'utf8',
  });
  const match = /SHA256:[A-Za-z0-9+/]+/.exec(line);
  if (!match) throw new Error(`unexpected ssh-keygen -l output: ${line}`);
  return match[0];
}

/** Makes a fresh client key pair in `dir` (for wrong-key tests); returns the private key text. */
export function extraClientKey(dir: string, name: string): string {
  const path = join(dir, name);
  keygen(path, name);
  return readFileSync(path, 'utf8');
}

function waitForBanner(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.setTimeout(1000);
      socket.once('data', (data) => {
        socket.destroy();
        if (data.toString('latin1').startsWith('SSH-')) resolve();
        else retry(new Error(`unexpected banner ${JSON.stringify(data.toString('latin1'))}`));
      });
      const retry = (error: Error): void => {
        socket.destroy();
        if (Date.now() > deadline) reject(error);
        else setTimeout(attempt, 50);
      };
      socket.once('error', retry);
      socket.once('timeout', () => retry(new Error('no banner')));
    };
    attempt();
  });
}

function childrenOf(pid: number): number[] {
  const result = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(Number);
}

function descendantsOf(pid: number): number[] {
  const all: number[] = [];
  for (const child of childrenOf(pid)) all.push(child, ...descendantsOf(child));
  return all;
}

/**
 * Starts a private sshd. Returns null only outside CI when sshd cannot be had (after a loud
 * warning); in CI that throws.
 */
export async function startSshdBed(): Promise<SshdBed | null> {
  const problem = ensureSshd() ?? ensureUser();
  if (problem) {
    if (isCi()) throw new Error(`CI=true but no sshd for the ssh tests: ${problem}`);
    console.warn(
      `\n*** sshd unavailable: SKIPPING the @hvkit/ssh integration tests (${problem})\n`,
    );
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hvkit-sshd-'));
  // sshd reads AuthorizedKeysFile as the user.
  chmodSync(dir, 0o755);
  // sshd's privilege-separation directory; Debian's init scripts make it, we have none.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKeyPath = join(dir, 'ssh_host_ed25519_key');
  const clientKeyPath = join(dir, 'id_ed25519');
  keygen(hostKeyPath, 'hvkit-test-host');
  keygen(clientKeyPath, 'hvkit-test-client');
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKeyPath}.pub`), {
    mode: 0o644,
  });
  const port = await freePort();
  const configPath = join(dir, 'sshd_config');
  writeFileSync(
    configPath,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyPath}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      // The temp dir's modes are not what StrictModes wants for an AuthorizedKeysFile.
      'StrictModes no',
      // Room above the transport's default cap of 8 channels + SFTP, so a cap test sees the cap.
      'MaxSessions 30',
      'MaxStartups 100:30:200',
      `Subsystem sftp ${SFTP_SERVER}`,
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  execFileSync(SSHD, ['-t', '-f', configPath]);

  let child: ChildProcess | undefined;
  let log = '';
  const knownHostsPath = join(dir, 'known_hosts');
  const state = { hostKeyLine: '', fingerprint: '' };
  const writeTrust = (): void => {
    state.hostKeyLine = readFileSync(`${hostKeyPath}.pub`, 'utf8')
      .trim()
      .split(/\s+/)
      .slice(0, 2)
      .join(' ');
    state.fingerprint = sshKeygenFingerprint(`${hostKeyPath}.pub`);
    writeFileSync(knownHostsPath, `[127.0.0.1]:${port} ${state.hostKeyLine}\n`);
  };
  writeTrust();

  const start = async (): Promise<void> => {
    const started = spawn(SSHD, ['-D', '-e', '-f', configPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    started.stderr?.on('data', (data: Buffer) => {
      log = (log + data.toString('utf8')).slice(-200_000);
    });
    child = started;
    try {
      await waitForBanner(port, 10_000);
    } catch (error) {
      throw new Error(`sshd did not start on port ${port}: ${log.slice(-2000)}`, { cause: error });
    }
  };
  const stopListener = async (): Promise<void> => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    for (const pid of descendantsOf(current.pid ?? 0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await new Promise<void>((resolve) => {
      current.once('exit', () => resolve());
      current.kill('SIGTERM');
    });
  };
  await start();

  return {
    host: '127.0.0.1',
    port,
    username: TEST_USER,
    privateKey: readFileSync(clientKeyPath, 'utf8'),
    privateKeyPath: clientKeyPath,
    get hostKeyFingerprint256() {
      return state.fingerprint;
    },
    get hostKeyLine() {
      return state.hostKeyLine;
    },
    knownHostsPath,
    dir,
    pid: () => child?.pid ?? 0,
    descendants: () => descendantsOf(child?.pid ?? 0),
    killChildren: () => {
      const pids = descendantsOf(child?.pid ?? 0);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      return pids;
    },
    restart: async (options = {}) => {
      await stopListener();
      if (options.rotateHostKey) {
        keygen(hostKeyPath, 'hvkit-test-host-rotated');
        writeTrust();
      }
      await start();
    },
    stop: async () => {
      await stopListener();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => log,
  };
}
