/**
 * hvkit's libvirt layers against virsh driven through the OpenSSH client, on the running libvirt
 * bed, all in ONE run (so the shared 2-core machine's load hits every side alike): ratios, never
 * pass/fail. See README.md for what each side does exactly.
 *
 *   pnpm run bench:libvirt                      # all three parts
 *   pnpm run bench:libvirt -- --only ops,describe
 *   pnpm run bench:libvirt -- --only ops --via-provider   # ops through provider.get/list
 *
 * 1. `ops`: BENCH_OPS (100) cheap operations (domstate, dominfo, domuuid, list --all --name) through
 *    hvkit's `Virsh.run` vs the same remote command lines as `ssh` children over one ControlMaster
 *    (goal ≤ 1.0×) and with a new `ssh` each (BENCH_NEW_SSH_OPS, 20, scaled per operation; goal
 *    hvkit ≥ 10× faster); plus a BENCH_CONCURRENCY (8) in flight variant. BENCH_OPS_ROUNDS (5).
 * 2. `describe`: BENCH_DOMAINS (200) defined domains described by `listDomains`/`describeDomains`
 *    vs one `virsh list --all` over the ControlMaster (goal: one round trip, ≤ 2×).
 *    BENCH_DESCRIBE_ROUNDS (7).
 * 3. `transfer`: BENCH_TRANSFER_MIB (1024) up and down with SHA-256 through
 *    `uploadVolume`/`downloadVolume` vs `cat` over the ControlMaster (goal ≥ 0.8×, flat memory).
 *    BENCH_TRANSFER_ROUNDS (3).
 *
 * Needs the bed (testbeds/libvirt/start.sh). Everything it makes is named `hvkit-bench-<run>-…`
 * and removed at the end, on error and on Ctrl-C; what a killed run left (no live pid file
 * `$TMPDIR/hvkit-bench-libvirt-<run>.pid` on this machine) is removed at the start. Results:
 * results/<timestamp>.json and .md.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Virsh } from '../../packages/libvirt/src/virsh/virsh.js';
import {
  BENCH_PREFIX,
  connectToBed,
  countingTransport,
  defineDomains,
  markRunAlive,
  readBed,
  removeBenchObjects,
  removeDeadRuns,
} from './bed.js';
import { benchDescribe, type DescribeResult } from './describe.js';
import { OpenSsh } from './openssh.js';
import { benchOps, type OpsResult, virshOp } from './ops.js';
import { markdownTable, ratio } from './stats.js';
import { benchTransfer, type TransferResult } from './transfer.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const PARTS = ['ops', 'describe', 'transfer'] as const;
type Part = (typeof PARTS)[number];

const env = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`${name} must be a whole number ≥ 1`);
  return value;
};

function selectedParts(): Part[] {
  const at = process.argv.indexOf('--only');
  if (at < 0) return [...PARTS];
  const wanted = (process.argv[at + 1] ?? '').split(',');
  const unknown = wanted.filter((part) => !PARTS.includes(part as Part));
  if (unknown.length > 0) throw new Error(`--only: unknown part ${unknown.join(', ')}`);
  return wanted as Part[];
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Cleanups to run once, whether the run ends, fails or is interrupted. */
const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error: unknown) =>
        log(`bench/libvirt: clean-up failed: ${String(error)}`),
      );
  })();
  return cleaning;
}

function opsTable(ops: OpsResult): string {
  const rows = Object.entries(ops.sides).map(([side, figures]) => [
    side,
    String(figures.ops),
    `${figures.medianMs.toFixed(0)} ms`,
    `${figures.minMs.toFixed(0)}–${figures.maxMs.toFixed(0)} ms`,
    `${figures.perOpMs.toFixed(2)} ms`,
  ]);
  const what =
    ops.via === 'provider'
      ? 'hvkit side: provider.get of a bench domain 3 of 4 times, provider.list({ namePrefix }) the 4th, in virsh sessions; the OpenSSH sides replay the virsh processes a session-less Virsh runs for each call.'
      : 'hvkit side: Virsh.run of domstate, dominfo, domuuid, list --all --name in turn, in virsh sessions; the OpenSSH sides run the same virsh commands, a virsh process each (the remote lines of a session-less Virsh).';
  return [
    what,
    '',
    markdownTable(['side', 'ops/round', 'median', 'min–max', 'per op'], rows),
    '',
    `hvkit / ControlMaster, sequential: **${ratio(ops.ratioToMux)}** (median of the per-round ratios ${ratio(ops.pairedRatioToMux)}; goal ≤ 1.0×); ${ops.settings.concurrency} in flight: ${ratio(ops.ratioToMuxConcurrent)}. ` +
      `New ssh per op / hvkit per op: **${ops.speedupOverNewSsh.toFixed(1)}×** faster (goal ≥ 10×). ` +
      `The same virsh commands run by one shell on the host (host-floor, no transport per command): ${ops.sides['host-floor'].perOpMs.toFixed(2)} ms per op. ` +
      `hvkit round trips per op: ${ops.hvkitRoundTripsPerOp} (${Math.round(ops.hvkitSessionShare * 100)}% answered by a session); output mismatches between sides: ${ops.mismatches}; load per round: ${ops.loadPerRound.join(', ')}.`,
  ].join('\n');
}

function describeTable(describe: DescribeResult): string {
  const rows = Object.entries(describe.sides).map(([side, figures]) => [
    side,
    `${figures.medianMs.toFixed(1)} ms`,
    `${figures.minMs.toFixed(1)}–${figures.maxMs.toFixed(1)} ms`,
    `${ratio(figures.ratioToMuxList)} (paired ${ratio(figures.pairedRatioToMuxList)})`,
    String(figures.execs),
    String(figures.count),
  ]);
  return [
    markdownTable(
      ['side', 'median', 'min–max', '÷ list --all (mux)', 'round trips', 'domains returned'],
      rows,
    ),
    '',
    `${describe.domains} bench domains defined (plus whatever other helpers had on the bed); goal: one round trip, ≤ 2× one list --all. Load per round: ${describe.loadPerRound.join(', ')}.`,
  ].join('\n');
}

function transferTable(transfer: TransferResult): string {
  const rows = (sides: Record<string, TransferResult['upload'][keyof TransferResult['upload']]>) =>
    Object.entries(sides).map(([side, figures]) => [
      side,
      `${(figures.medianMs / 1000).toFixed(2)} s`,
      `${(figures.minMs / 1000).toFixed(2)}–${(figures.maxMs / 1000).toFixed(2)} s`,
      `${figures.mibPerS.toFixed(0)} MiB/s`,
      `+${figures.rssGrowthMiB.toFixed(0)} MiB`,
    ]);
  const header = ['side', 'median', 'min–max', 'throughput', 'RSS peak − baseline (max)'];
  return [
    markdownTable(header, [...rows(transfer.upload), ...rows(transfer.download)]),
    '',
    `${transfer.sizeMiB} MiB, ${transfer.rounds} rounds, SHA-256 ${transfer.sha256.slice(0, 16)}… checked on every side; hashing alone ${transfer.hashAloneMs} ms. ` +
      `uploadVolume ÷ cat > f: **${ratio(transfer.uploadRatio)}** (paired ${ratio(transfer.pairedUploadRatio)}), downloadVolume ÷ cat f: **${ratio(transfer.downloadRatio)}** (paired ${ratio(transfer.pairedDownloadRatio)}) of the throughput (goal ≥ 0.8×); the bytes went by ${transfer.uploadVia} up and ${transfer.downloadVia} down. Through libvirt's stream (\`transfer: 'libvirt'\`): up ${ratio(transfer.uploadStreamRatio)}, down ${ratio(transfer.downloadStreamRatio)}. Load per round: ${transfer.loadPerRound.join(', ')}.`,
  ].join('\n');
}

async function main(): Promise<void> {
  const parts = selectedParts();
  const bed = readBed(repo);
  const run = randomBytes(3).toString('hex');
  const prefix = `${BENCH_PREFIX}${run}-`;
  const loadAtStart = loadavg().map((value) => Number(value.toFixed(2)));
  const started = new Date();

  const ssh = connectToBed(bed);
  const counter = countingTransport(ssh);
  // hvkit's side, with the provider's default sessions; its process-only twin records the
  // remote lines the OpenSSH sides replay (one virsh process per command, as theirs).
  const virsh = new Virsh(ssh, { uri: bed.libvirtUri });
  const recorder = new Virsh(counter, { uri: bed.libvirtUri, sessions: 0 });
  const plain = new Virsh(ssh, { uri: bed.libvirtUri, sessions: 0 });
  const openssh = new OpenSsh(bed.sshConfigPath);
  cleanups.push(async () => {
    await ssh.close();
  });
  cleanups.push(() => openssh.stopMaster());
  const connectStarted = performance.now();
  await ssh.connect();
  const hvkitConnectMs = performance.now() - connectStarted;
  const master = await openssh.startMaster();
  const unmark = markRunAlive(run);
  cleanups.push(async () => unmark());
  const stale = await removeDeadRuns(ssh, plain, bed);
  if (stale.domains + stale.volumes > 0)
    log(
      `bench/libvirt: removed ${stale.domains} domains, ${stale.volumes} volumes left by an earlier run`,
    );
  cleanups.push(async () => {
    const removed = await removeBenchObjects(ssh, plain, bed, prefix);
    log(
      `bench/libvirt: removed ${removed.domains} domains, ${removed.volumes} volumes of this run`,
    );
  });
  log(
    `bench/libvirt: run ${run}, parts ${parts.join(', ')}; load ${loadAtStart.join(' ')} on ${cpus().length} CPUs; ` +
      `hvkit connect ${hvkitConnectMs.toFixed(0)} ms, ControlMaster ${master.ms.toFixed(0)} ms (${master.cipher ?? 'cipher ?'})`,
  );

  let ops: OpsResult | undefined;
  let describe: DescribeResult | undefined;
  let transfer: TransferResult | undefined;
  if (parts.includes('ops')) {
    const domains = Array.from({ length: 4 }, (_, index) => `${prefix}op-${index}`);
    await defineDomains(ssh, plain, domains, bed.network);
    const via = process.argv.includes('--via-provider') ? 'provider' : 'virsh';
    let hvkit = virshOp(virsh, domains);
    let record = virshOp(recorder, domains);
    if (via === 'provider') {
      const uuids = (await plain.runMany(domains.map((name) => ['domuuid', '--', name]))).map(
        (result) => (result.ok ? result.stdout.trim() : ''),
      );
      // Loaded only here: the provider is optional for the default run.
      const { providerOp } = await import('./provider-side.js');
      hvkit = providerOp({ virsh, ssh, uuids, prefix: `${prefix}op-` });
      record = providerOp({ virsh: recorder, ssh, uuids, prefix: `${prefix}op-` });
    }
    ops = await benchOps({
      hvkit,
      record,
      roundTrips: () => virsh.stats(),
      via,
      counter,
      ssh,
      openssh,
      domains,
      prefix,
      settings: {
        ops: env('BENCH_OPS', 100),
        newSshOps: env('BENCH_NEW_SSH_OPS', 20),
        rounds: env('BENCH_OPS_ROUNDS', 5),
        concurrency: env('BENCH_CONCURRENCY', 8),
      },
      log,
    });
    await removeBenchObjects(ssh, plain, bed, `${prefix}op-`);
  }
  if (parts.includes('describe')) {
    const count = env('BENCH_DOMAINS', 200);
    const names = Array.from(
      { length: count },
      (_, index) => `${prefix}d-${String(index).padStart(3, '0')}`,
    );
    const defineStarted = performance.now();
    await defineDomains(ssh, plain, names, bed.network);
    log(
      `  defined ${count} domains in ${(performance.now() - defineStarted).toFixed(0)} ms (one runMany)`,
    );
    describe = await benchDescribe({
      virsh,
      recorder,
      counter,
      openssh,
      names,
      rounds: env('BENCH_DESCRIBE_ROUNDS', 7),
      log,
    });
    await removeBenchObjects(ssh, plain, bed, `${prefix}d-`);
  }
  if (parts.includes('transfer')) {
    transfer = await benchTransfer({
      virsh: plain,
      ssh,
      openssh,
      pool: bed.pool,
      prefix,
      sizeMiB: env('BENCH_TRANSFER_MIB', 1024),
      rounds: env('BENCH_TRANSFER_ROUNDS', 3),
      log,
    });
  }

  const result = {
    date: started.toISOString(),
    run,
    machine: {
      cpus: cpus().length,
      loadavgAtStart: loadAtStart,
      loadavgAtEnd: loadavg().map((value) => Number(value.toFixed(2))),
    },
    node: process.version,
    bed: bed.versions,
    hvkitConnectMs: Math.round(hvkitConnectMs),
    controlMaster: { startMs: Math.round(master.ms), cipher: master.cipher },
    ops,
    describe,
    transfer,
  };
  const stamp = started.toISOString().replace(/[:]/g, '').replace(/\..*/, '');
  const resultDir = join(here, 'results');
  mkdirSync(resultDir, { recursive: true });
  const jsonPath = join(resultDir, `${stamp}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
  const markdown = [
    `# bench/libvirt run ${run}, ${started.toISOString()}`,
    '',
    `Node ${process.version}, libvirt ${bed.versions.libvirt}, QEMU ${bed.versions.qemu}, OpenSSH ${bed.versions.openssh} (ControlMaster cipher ${master.cipher ?? '?'}); ${cpus().length} CPUs, load at start ${loadAtStart.join(' ')}, at end ${result.machine.loadavgAtEnd.join(' ')}.`,
    ...(ops ? ['', '## Operations', '', opsTable(ops)] : []),
    ...(describe ? ['', '## Describing defined domains', '', describeTable(describe)] : []),
    ...(transfer ? ['', '## Volume transfer', '', transferTable(transfer)] : []),
    '',
  ].join('\n');
  const markdownPath = join(resultDir, `${stamp}.md`);
  writeFileSync(markdownPath, markdown);
  // Committed results must pass the repository's `biome ci` (which formats JSON and markdown).
  spawnSync('npx', ['--no-install', 'biome', 'format', '--write', jsonPath, markdownPath], {
    cwd: repo,
    stdio: 'ignore',
  });
  process.stdout.write(
    `${markdown}\nresults: ${relative(repo, jsonPath)}, ${relative(repo, markdownPath)}\n`,
  );
}

// Ctrl-C or a kill: remove what the run made, stop the ControlMaster, then exit.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    log(`bench/libvirt: ${signal}, cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });

main()
  .then(() => cleanUp())
  // After a --via-provider run something the provider started kept Node alive once the results
  // were written and the connection closed (not investigated): end explicitly.
  .then(() => process.exit(0))
  .catch(async (error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await cleanUp();
    process.exit(1);
  });
