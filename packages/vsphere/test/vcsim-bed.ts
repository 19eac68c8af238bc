// A private vcsim for tests that cannot share the run's bed: session expiry
// (`-idle`), kill and restart, a 5,000-VM inventory. Each bed has its own temp
// state directory (TLS key pair, readiness file, log), its own datastore temp
// directory and a free port; the binary is the one testbeds/vcsim/build.sh
// builds, so this and start.sh always run the same vcsim.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, rmSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readVcsimReady, type VcsimReady } from './vcsim.js';

const VCSIM_DIR = fileURLToPath(new URL('../../../testbeds/vcsim/', import.meta.url));
const VCSIM_BIN = resolve(VCSIM_DIR, '.build/vcsim-hvkit');

/** Settings of a private bed; the defaults match testbeds/vcsim/start.sh. */
export interface StartVcsimOptions {
  /** VMs in the inventory (`-vms`); default 4, vcsim's VPX model. */
  vms?: number;
  /** Session idle timeout in seconds (`-idle`), fractions allowed; default 0 = never expire. */
  idleSeconds?: number;
  /** Serve the vAPI REST endpoints under `/rest` (`-api`); default true. */
  api?: boolean;
  /** More flags for vcsim-hvkit (see main.go); later flags win, so these override the defaults. */
  extraArgs?: string[];
  /** How long to wait for the readiness file, per start and restart; default 120,000 ms. */
  startTimeoutMs?: number;
}

/** A running private bed. */
export interface VcsimBed {
  /** The current readiness file; `pid` and `startupMs` change on restart, the rest stays. */
  readonly ready: VcsimReady;
  /** The bed's state directory (TLS key pair, readiness file, log); removed by stop(). */
  readonly stateDir: string;
  /** The directory vcsim's datastores live in (under /dev/shm when writable); removed by stop(). */
  readonly datastoreDir: string;
  /** SIGTERM (SIGKILL after 15 s), then removes both temp directories. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; keeps the temp directories so restart() can follow. */
  kill(): Promise<void>;
  /**
   * Starts the bed again on the same port with the same certificate (so the
   * same fingerprint), after kill() or stop(); a running bed is stopped first.
   * Rejects like startVcsim() when it does not come up.
   */
  restart(): Promise<void>;
}

let built: Promise<void> | undefined;

function runBedScript(script: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile('bash', [resolve(VCSIM_DIR, script)], { timeout: 15 * 60_000 }, (error, _out, err) => {
      if (error) {
        reject(new Error(`testbeds/vcsim/${script} failed:\n${tailOf(err, 20)}`, { cause: error }));
      } else {
        resolvePromise();
      }
    });
  });
}

/** install.sh and build.sh are no-ops (0.03 s) when nothing changed; once per process is enough. */
function ensureBuilt(): Promise<void> {
  built ??= runBedScript('install.sh')
    .then(() => runBedScript('build.sh'))
    .catch((error: unknown) => {
      built = undefined; // let a later call try again
      throw error;
    });
  return built;
}

function tailOf(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

async function logTail(file: string): Promise<string> {
  try {
    return tailOf(await readFile(file, 'utf8'), 20) || '(empty log)';
  } catch {
    return '(no log)';
  }
}

function isWritableDir(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

const delay = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms));

// Beds a test forgot to stop must not outlive the test process: a leftover
// vcsim holds a port and, with 5,000 VMs, 200 MiB.
const live = new Set<{ child?: ChildProcess; dirs: string[] }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const bed of live) {
      bed.child?.kill('SIGKILL');
      for (const dir of bed.dirs) rmSync(dir, { recursive: true, force: true });
    }
  });
}

/**
 * Starts a private vcsim on 127.0.0.1 and a free port and waits for its
 * readiness file. Installs and builds the binary when needed (as
 * testbeds/vcsim/start.sh does). Rejects, with the tail of vcsim's log, when
 * the binary exits early or is not ready within `startTimeoutMs`; the temp
 * directories are removed then. Always stop() the bed, e.g. in afterAll.
 */
export async function startVcsim(options: StartVcsimOptions = {}): Promise<VcsimBed> {
  const vms = options.vms ?? 4;
  const idleSeconds = options.idleSeconds ?? 0;
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  if (!Number.isInteger(vms) || vms < 0) throw new RangeError(`vms must be an integer >= 0`);
  if (!Number.isFinite(idleSeconds) || idleSeconds < 0) {
    throw new RangeError(`idleSeconds must be a number >= 0`);
  }
  await ensureBuilt();

  const stateDir = await mkdtemp(join(tmpdir(), 'hvkit-vcsim-bed-'));
  // On tmpfs a 5,000-VM start takes about 4 s; on this disk it took 5-24 s.
  const datastoreDir = isWritableDir('/dev/shm')
    ? await mkdtemp('/dev/shm/hvkit-vcsim-bed-')
    : join(stateDir, 'datastores');
  const entry: { child?: ChildProcess; dirs: string[] } = { dirs: [stateDir, datastoreDir] };
  live.add(entry);
  installExitHook();

  const certFile = join(stateDir, 'tls', 'cert.pem');
  const keyFile = join(stateDir, 'tls', 'key.pem');
  const readyFile = join(stateDir, 'ready.json');
  const logFile = join(stateDir, 'vcsim.log');
  const flags = (listen: string) => [
    '-listen',
    listen,
    '-vms',
    String(vms),
    '-idle',
    `${Math.round(idleSeconds * 1000)}ms`,
    `-api=${options.api ?? true}`,
    '-tls=true',
    '-tls-cert',
    certFile,
    '-tls-key',
    keyFile,
    '-ready',
    readyFile,
    ...(options.extraArgs ?? []),
  ];

  let exited: Promise<void> = Promise.resolve();
  let running = false;

  async function launch(listen: string): Promise<VcsimReady> {
    await mkdir(join(stateDir, 'tls'), { recursive: true });
    await mkdir(datastoreDir, { recursive: true });
    await rm(readyFile, { force: true });
    const log = openSync(logFile, 'w');
    let child: ChildProcess;
    try {
      child = spawn(VCSIM_BIN, flags(listen), {
        stdio: ['ignore', log, log],
        env: { ...process.env, TMPDIR: datastoreDir },
      });
    } finally {
      closeSync(log);
    }
    entry.child = child;
    running = true;
    let exitInfo: string | undefined;
    exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        running = false;
        exitInfo = signal ? `signal ${signal}` : `code ${code}`;
        resolveExit();
      });
      child.once('error', (error) => {
        running = false;
        exitInfo = error.message;
        resolveExit();
      });
    });

    const deadline = Date.now() + timeoutMs;
    // main.go writes the file atomically (rename), so existing means complete.
    while (!existsSync(readyFile)) {
      if (exitInfo !== undefined) {
        throw new Error(
          `vcsim-hvkit exited (${exitInfo}) before it was ready; log tail:\n${await logTail(logFile)}`,
        );
      }
      if (Date.now() >= deadline) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(
          `vcsim-hvkit not ready after ${timeoutMs} ms; log tail:\n${await logTail(logFile)}`,
        );
      }
      await delay(25);
    }
    return readVcsimReady(readyFile);
  }

  async function terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    if (!running) return;
    entry.child?.kill(signal);
    const killer = setTimeout(() => entry.child?.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  }

  async function removeDirs(): Promise<void> {
    await rm(stateDir, { recursive: true, force: true });
    await rm(datastoreDir, { recursive: true, force: true });
  }

  let ready: VcsimReady;
  try {
    ready = await launch('127.0.0.1:0');
  } catch (error) {
    await terminate('SIGKILL');
    await removeDirs();
    live.delete(entry);
    throw error;
  }
  // stop() removes the state directory; the key pair is kept here so that a
  // restart after stop() serves the same certificate.
  const keyPair = { cert: await readFile(certFile), key: await readFile(keyFile) };
  const listen = `127.0.0.1:${ready.port}`;

  return {
    get ready() {
      return ready;
    },
    stateDir,
    datastoreDir,
    async stop() {
      await terminate('SIGTERM');
      await removeDirs();
      live.delete(entry);
    },
    async kill() {
      await terminate('SIGKILL');
    },
    async restart() {
      await terminate('SIGTERM');
      live.add(entry);
      await mkdir(join(stateDir, 'tls'), { recursive: true });
      await writeFile(certFile, keyPair.cert);
      await writeFile(keyFile, keyPair.key, { mode: 0o600 });
      try {
        ready = await launch(listen);
      } catch (error) {
        await terminate('SIGKILL');
        throw error;
      }
    },
  };
}
