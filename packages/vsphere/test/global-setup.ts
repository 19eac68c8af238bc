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
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { runBedScript, startBed, tail } from '../../../testbeds/bed-script.js';
import { isCi, readVcsimReady, type VcsimReady } from './vcsim.js';

// A fresh CI machine installs two Debian packages and builds cold (about a
// minute measured); this only bounds a hang (apt lock, stuck mirror).
const START_TIMEOUT_MS = 15 * 60_000;

async function startVcsim(): Promise<{ ready: VcsimReady; startedHere: boolean }> {
  const { readyFile, stderr } = await startBed('vcsim', START_TIMEOUT_MS);
  // start.sh says so when it reused a running bed; that bed belongs to
  // whoever started it, so teardown must leave it alone.
  const startedHere = !stderr.includes('already running');
  return { ready: readVcsimReady(readyFile), startedHere };
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
    bed = await startVcsim();
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
    const stopped = await runBedScript('vcsim', 'stop.sh', 60_000);
    if (stopped.code !== 0) {
      console.warn(`vcsim: testbeds/vcsim/stop.sh failed:\n${tail(stopped.stderr, 10)}`);
    }
  };
}
