// vitest globalSetup of the libvirt project: finds or starts the shared libvirt bed once per run
// and hands its readiness file to the tests through `provide('libvirt', …)` (tests read it with
// requireLibvirtBed() from libvirt-bed.ts).
//
// - HVKIT_LIBVIRT_READY names an existing readiness file (scripts/test-all.sh started the bed):
//   use it; whoever started it stops it.
// - Otherwise run testbeds/libvirt/start.sh, which is idempotent: it reuses a running bed or
//   starts the missing parts, and prints the readiness file's path.
// - The bed cannot start: with CI=true throw, which fails the run; on a developer machine warn
//   loudly and provide null, so the bed tests skip.
//
// The bed is never stopped here: start.sh cannot say whether this run started it (it reuses
// whatever runs, part by part), and other test runs and workers share it. test-all.sh and CI stop
// it with testbeds/libvirt/stop.sh.
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { startBed } from '../../../testbeds/bed-script.js';
import { isCi, readLibvirtReady } from './libvirt-bed.js';

// A fresh machine installs about 50 Debian packages and builds the guest (tens of seconds
// measured); this only bounds a hang (apt lock, stuck mirror).
const START_TIMEOUT_MS = 15 * 60_000;

/** Provides the shared libvirt bed to the libvirt project. */
export default async function setup(project: TestProject): Promise<void> {
  const given = process.env.HVKIT_LIBVIRT_READY;
  if (given && existsSync(given)) {
    project.provide('libvirt', readLibvirtReady(given));
    return;
  }
  if (given) {
    console.warn(`libvirt: HVKIT_LIBVIRT_READY=${given} does not exist; starting the bed here`);
  }
  try {
    project.provide(
      'libvirt',
      readLibvirtReady((await startBed('libvirt', START_TIMEOUT_MS)).readyFile),
    );
  } catch (error) {
    if (isCi()) {
      throw new Error('CI=true: the libvirt test bed must start; failing the run', {
        cause: error,
      });
    }
    const reason = error instanceof Error ? error.message : String(error);
    console.warn(
      [
        '',
        '*'.repeat(78),
        '*** libvirt test bed UNAVAILABLE: the libvirt tests that need it are SKIPPED.',
        '*** (In CI, CI=true, this fails the run.) Reason:',
        reason,
        '*** Fix: run testbeds/libvirt/start.sh as root or with passwordless sudo on Debian 12.',
        '*'.repeat(78),
        '',
      ].join('\n'),
    );
    project.provide('libvirt', null);
  }
}
