// vitest globalSetup of the vsphere project: finds or starts the shared vcsim
// bed once per run and hands its readiness file to the tests through
// `provide('vcsim', …)` (tests read it with requireVcsim() from vcsim.ts).
//
// - HVKIT_VCSIM_READY names an existing readiness file (scripts/test-all.sh
//   started the bed): use it; whoever started it stops it.
// - Otherwise run testbeds/vcsim/start.sh (installs, builds, starts; reuses a
//   bed already running with the same settings) and stop the bed at teardown
//   if this run started it.
// - The bed cannot start: with CI=true throw, which fails the run; on a
//   developer machine warn loudly and provide null, so the vcsim tests skip.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { isCi, readVcsimReady, type VcsimReady } from './vcsim.js';

const VCSIM_DIR = fileURLToPath(new URL('../../../testbeds/vcsim/', import.meta.url));

// A fresh CI machine installs two Debian packages and builds cold (about a
// minute measured); this only bounds a hang (apt lock, stuck mirror).
const START_TIMEOUT_MS = 15 * 60_000;

interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a bed script, mirroring its stderr (install/build progress) to ours. */
function runScript(script: string, timeoutMs: number): Promise<ScriptResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [resolve(VCSIM_DIR, script)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGTERM',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      process.stderr.write(chunk);
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

async function startBed(): Promise<{ ready: VcsimReady; startedHere: boolean }> {
  const result = await runScript('start.sh', START_TIMEOUT_MS);
  const file = result.stdout.trim().split('\n').pop() ?? '';
  if (result.code !== 0 || !isAbsolute(file) || !existsSync(file)) {
    throw new Error(
      `testbeds/vcsim/start.sh failed (exit ${result.code ?? 'killed after timeout'}):\n${tail(result.stderr, 30)}`,
    );
  }
  // start.sh says so when it reused a running bed; that bed belongs to
  // whoever started it, so teardown must leave it alone.
  const startedHere = !result.stderr.includes('already running');
  return { ready: readVcsimReady(file), startedHere };
}

/** Provides the shared vcsim bed to the vsphere project; returns the teardown. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.HVKIT_VCSIM_READY;
  if (given && existsSync(given)) {
    project.provide('vcsim', readVcsimReady(given));
    return async () => {};
  }
  if (given) {
    console.warn(`vcsim: HVKIT_VCSIM_READY=${given} does not exist; starting the bed here`);
  }

  let bed: { ready: VcsimReady; startedHere: boolean };
  try {
    bed = await startBed();
  } catch (error) {
    if (isCi()) {
      throw new Error('CI=true: the vcsim test bed must start; failing the run', { cause: error });
    }
    const reason = error instanceof Error ? error.message : String(error);
    console.warn(
      [
        '',
        '*'.repeat(78),
        '*** vcsim test bed UNAVAILABLE: the vSphere tests that need it are SKIPPED.',
        '*** (In CI, CI=true, this fails the run.) Reason:',
        reason,
        '*** Fix: run testbeds/vcsim/start.sh as root or with passwordless sudo on Debian 12.',
        '*'.repeat(78),
        '',
      ].join('\n'),
    );
    project.provide('vcsim', null);
    return async () => {};
  }

  project.provide('vcsim', bed.ready);
  return async () => {
    if (!bed.startedHere) return;
    const stopped = await runScript('stop.sh', 60_000);
    if (stopped.code !== 0) {
      console.warn(`vcsim: testbeds/vcsim/stop.sh failed:\n${tail(stopped.stderr, 10)}`);
    }
  };
}
