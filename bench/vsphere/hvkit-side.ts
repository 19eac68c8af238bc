/**
 * The hvkit side of bench/vsphere: the same list and power rounds as `govmomi/main.go`, through
 * `@hvkit/vsphere`, with the same command line and the same JSON lines out. `run.ts` starts it as
 * a child process so that `process.resourceUsage().maxRSS` is this client's peak alone, not the
 * harness's (run.ts runs a copy compiled to `.build/hvkit-side.mjs` on bare node, without tsx).
 *
 *   node --import tsx bench/vsphere/hvkit-side.ts --url https://127.0.0.1:8989/sdk \
 *     --username U --password P --ca-file cert.pem --mode list --rounds 8 [--step]
 *
 * With `--step` it prints {"event":"ready"} once connected, then runs one round per line read on
 * stdin and prints {"event":"round", …} after each; the end of stdin ends the run early. The last
 * line is always the summary {mode, rounds: [ms…], count, maxRssKiB, …}.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { VmRef } from '@hvkit/core';

// The runtime's own footprint before hvkit is loaded (bare node about 40 MiB; the tsx loader adds
// about 35 more), so a reader can tell the client's memory from the floor every Node program pays.
const floorRssKiB = process.resourceUsage().maxRSS;

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    'ca-file': { type: 'string' },
    mode: { type: 'string', default: 'list' },
    rounds: { type: 'string', default: '1' },
    count: { type: 'string', default: '200' },
    step: { type: 'boolean', default: false },
  },
});

const emit = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const elapsedMs = (started: number) => Math.round((performance.now() - started) * 1000) / 1000;

async function main(): Promise<void> {
  const { url, username, password, mode } = values;
  if (url === undefined || username === undefined || password === undefined)
    throw new Error('--url, --username and --password are required');
  if (mode !== 'list' && mode !== 'power') throw new Error(`--mode ${mode}: want list or power`);
  const rounds = Number(values.rounds);
  const taskCount = Number(values.count);
  const ca = values['ca-file'] === undefined ? undefined : readFileSync(values['ca-file'], 'utf8');

  // Loaded here, after the floor was measured, and with a message that says what to do when the
  // package is missing or not built yet.
  let createVsphereProvider: typeof import('@hvkit/vsphere').createVsphereProvider;
  try {
    ({ createVsphereProvider } = await import('@hvkit/vsphere'));
  } catch (error) {
    throw new Error(
      `cannot load @hvkit/vsphere (is it a dependency of bench/ and built? pnpm turbo run build --filter=@hvkit/vsphere): ${String(error)}`,
    );
  }
  if (typeof createVsphereProvider !== 'function')
    throw new Error('@hvkit/vsphere does not export createVsphereProvider yet');

  let started = performance.now();
  const provider = createVsphereProvider({
    url,
    username,
    password,
    ...(ca === undefined ? {} : { tls: { ca } }),
  });
  // Session set-up (service content, login) is not part of a round, as in the Go program.
  await provider.validate();
  const connectMs = elapsedMs(started);

  try {
    let targets: { ref: VmRef; name: string }[] = [];
    if (mode === 'power') {
      // The first count/2 VMs by name, in byte order like Go's sort: the same VMs govmomi picks.
      const all: { ref: VmRef; name: string }[] = [];
      for await (const vm of provider.list()) all.push({ ref: vm.ref, name: vm.name });
      all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      if (all.length < taskCount / 2) throw new Error(`${all.length} VMs, need ${taskCount / 2}`);
      targets = all.slice(0, taskCount / 2);
    }

    const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
    if (values.step) emit({ event: 'ready', connectMs });
    const roundsMs: number[] = [];
    const taskMs: number[] = [];
    // Checksums over the last listing, compared by run.ts with govmomi's.
    const checks = { withIp: 0, poweredOn: 0, cpuTotal: 0, memoryMiBTotal: 0 };
    let count = 0;
    for (let round = 0; round < rounds; round++) {
      if (values.step && (await lines.next()).done) break;
      started = performance.now();
      if (mode === 'list') {
        count = 0;
        Object.assign(checks, { withIp: 0, poweredOn: 0, cpuTotal: 0, memoryMiBTotal: 0 });
        for await (const vm of provider.list()) {
          count++;
          if (vm.guest.ipAddresses.length > 0) checks.withIp++;
          if (vm.powerState === 'on') checks.poweredOn++;
          checks.cpuTotal += vm.cpu.count;
          checks.memoryMiBTotal += vm.memory.sizeMiB;
        }
      } else {
        count = 0;
        for (const target of targets) {
          for (const operation of ['powerOff', 'powerOn'] as const) {
            const taskStarted = performance.now();
            await provider[operation](target.ref);
            taskMs.push(elapsedMs(taskStarted));
            count++;
          }
        }
      }
      const ms = elapsedMs(started);
      roundsMs.push(ms);
      if (values.step) emit({ event: 'round', ms, count });
    }
    emit({
      mode,
      rounds: roundsMs,
      count,
      connectMs,
      floorRssKiB,
      maxRssKiB: process.resourceUsage().maxRSS,
      ...(mode === 'list' ? { checks } : { taskMs }),
    });
  } finally {
    await provider.close();
  }
  // stdin may still be open (the harness ends it, but a person at a terminal may not).
  process.stdin.destroy();
}

main().catch((error: unknown) => {
  process.stderr.write(
    `hvkit-side failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
