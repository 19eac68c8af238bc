/**
 * Goal 1: many cheap virsh operations through hvkit against the same commands through OpenSSH,
 * once over a ControlMaster connection and once with a new connection per command.
 *
 * The operations cycle through `domstate`, `dominfo`, `domuuid` (on a few defined, never started
 * bench domains) and `list --all --name`. hvkit's side runs them with `Virsh.run` on one
 * `@hvkit/ssh` connection, as the provider does: in its long-lived virsh sessions. The OpenSSH
 * sides run the same virsh commands as one `ssh` child per command, each its own virsh process:
 * the exact remote lines a process-only `Virsh` (`sessions: 0`) sends, recorded from its
 * transport in the warm-up pass.
 */

import { shellCommand } from '@hvkit/ssh';
import type { Virsh, VirshTransport } from '../../packages/libvirt/src/virsh/virsh.js';
import type { CountingTransport } from './bed.js';
import type { OpenSsh, SshMode } from './openssh.js';
import { load1, pairedRatio, type Spread, spread } from './stats.js';

const KINDS = ['domstate', 'dominfo', 'domuuid', 'list'] as const;

/** The virsh argv of operation `index`: kinds in turn, domains in turn every four operations. */
export function opArgs(index: number, domains: readonly string[]): string[] {
  const kind = KINDS[index % KINDS.length] ?? 'list';
  if (kind === 'list') return ['list', '--all', '--name'];
  return [kind, '--', domains[Math.floor(index / KINDS.length) % domains.length] ?? ''];
}

/**
 * One operation through hvkit, returning virsh's stdout to compare with the OpenSSH sides', or
 * undefined when it returns something else (a Vm: see provider-side.ts). Whatever it does, the
 * OpenSSH sides replay the SSH execs it made, in order.
 */
export type HvkitOp = (index: number) => Promise<string | undefined>;

/** {@link HvkitOp} through `Virsh.run` (what the provider's `get`/power calls are built on). */
export function virshOp(virsh: Virsh, domains: readonly string[]): HvkitOp {
  return (index) => virsh.run(opArgs(index, domains), { idempotent: true });
}

/** Settings of {@link benchOps}. */
export interface OpsSettings {
  /** Operations per round through hvkit and the ControlMaster. */
  ops: number;
  /** Operations per round with a new ssh each (slow: scaled to per-operation figures). */
  newSshOps: number;
  rounds: number;
  /** Operations in flight in the concurrent variant. */
  concurrency: number;
}

type Side = 'hvkit' | 'mux' | 'new' | 'hvkit-concurrent' | 'mux-concurrent' | 'host-floor';

/** What each side did: per-round totals and per-operation medians. */
export interface OpsResult {
  settings: OpsSettings;
  /** What hvkit's side called: `Virsh.run`, or `provider.get`/`list` (`--via provider`). */
  via: 'virsh' | 'provider';
  /** The bench domains the operations address. */
  domains: string[];
  sides: Record<Side, Spread & { ops: number; perOpMs: number }>;
  /** hvkit sequential / ControlMaster sequential (goal ≤ 1.0). */
  ratioToMux: number;
  /** Median of the per-round ratios hvkit / ControlMaster (rounds are interleaved pairs). */
  pairedRatioToMux: number;
  /** hvkit concurrent / ControlMaster concurrent. */
  ratioToMuxConcurrent: number;
  /** new-ssh per op / hvkit per op (goal ≥ 10). */
  speedupOverNewSsh: number;
  /** Round trips hvkit made per operation: session requests plus virsh processes (1 expected). */
  hvkitRoundTripsPerOp: number;
  /** Of those, the share answered by a session. */
  hvkitSessionShare: number;
  /** Operations whose output differed between the sides (see {@link normalize}). */
  mismatches: number;
  loadPerRound: number[];
}

/**
 * An operation's output for comparison across sides: `list --all --name` keeps only the bench's
 * domains (other helpers define and undefine theirs on the shared bed at any time).
 */
function normalize(args: readonly string[], stdout: string, prefix: string): string {
  if (args[0] !== 'list') return stdout;
  return stdout
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .sort()
    .join('\n');
}

/** Runs `count` operations with at most `limit` in flight; returns the outputs in order. */
async function pool(
  count: number,
  limit: number,
  run: (index: number) => Promise<string | undefined>,
): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      out[index] = await run(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return out;
}

/**
 * Measures the sides in interleaved rounds (the starting side rotates each round), after one
 * warm-up pass of each. Throws when an OpenSSH command fails: a failed command is not a result.
 */
export async function benchOps(options: {
  hvkit: HvkitOp;
  /** The same operation through a process-only Virsh on `counter`: records the replayed lines. */
  record: HvkitOp;
  /** hvkit's round trips so far: session requests plus virsh processes. */
  roundTrips: () => { sessionRequests: number; processes: number };
  counter: CountingTransport;
  /** Runs the floor side's script (hvkit's own connection, uncounted). */
  ssh: VirshTransport;
  openssh: OpenSsh;
  domains: readonly string[];
  prefix: string;
  settings: OpsSettings;
  via: OpsResult['via'];
  log: (line: string) => void;
}): Promise<OpsResult> {
  const { hvkit, record, counter, openssh, domains, prefix, settings } = options;
  const { ops, newSshOps, concurrency } = settings;

  // Warm-up of hvkit, counting its round trips the second time.
  for (let index = 0; index < ops; index++) await hvkit(index);
  const before = options.roundTrips();
  for (let index = 0; index < ops; index++) await hvkit(index);
  const after = options.roundTrips();
  const sessionRequests = after.sessionRequests - before.sessionRequests;
  const roundTrips = sessionRequests + after.processes - before.processes;
  const hvkitRoundTripsPerOp = roundTrips / ops;
  const hvkitSessionShare = roundTrips === 0 ? 0 : sessionRequests / roundTrips;
  // The process-only twin (twice: a first call may load state, as the provider's pool list)
  // records the remote command lines of each operation the second time.
  for (let index = 0; index < ops; index++) await record(index);
  // Each exec's remote line and the exit code hvkit saw: a runMany batch exits non-zero by design
  // (its last command is the failing `cd` marker), so the OpenSSH replay must match the code.
  const lines: { line: string; code: number | null }[][] = [];
  for (let index = 0; index < ops; index++) {
    counter.reset();
    await record(index);
    if (counter.execs.length === 0 || counter.spawns > 0)
      throw new Error(
        `recorded op ${index} made ${counter.execs.length} execs, ${counter.spawns} spawns`,
      );
    lines.push(
      counter.execs.map((argv, at) => ({
        line: shellCommand(argv),
        code: counter.codes[at] ?? null,
      })),
    );
  }
  const openSshOp = (mode: SshMode) => async (index: number) => {
    let stdout = '';
    for (const { line, code } of lines[index] ?? []) {
      const result = await openssh.run(mode, line);
      if (result.code !== code)
        throw new Error(
          `ssh (${mode}) ${line} exited ${result.code} (hvkit's exec: ${code}): ${result.stderr}`,
        );
      stdout = result.stdout;
    }
    return stdout;
  };
  for (let index = 0; index < 4; index++) await openSshOp('mux')(index);
  await openSshOp('new')(0);

  // The floor under any per-command transport: the same remote lines run one after the other by
  // ONE shell on the host (one SSH exec for all of them), so each costs only virsh itself.
  const script = lines
    .flat()
    .map(({ line }) => `${line} >/dev/null 2>&1`)
    .join('\n');
  const hostFloor = async () => {
    const result = await options.ssh.exec(['sh', '-c', script]);
    if (result.code === 255 || result.code === null)
      throw new Error(`host-floor script ended with ${result.code ?? result.signal}`);
    return [];
  };
  const sides: Record<Side, { ops: number; run: () => Promise<(string | undefined)[]> }> = {
    hvkit: { ops, run: () => pool(ops, 1, hvkit) },
    mux: { ops, run: () => pool(ops, 1, openSshOp('mux')) },
    new: { ops: newSshOps, run: () => pool(newSshOps, 1, openSshOp('new')) },
    'hvkit-concurrent': { ops, run: () => pool(ops, concurrency, hvkit) },
    'mux-concurrent': { ops, run: () => pool(ops, concurrency, openSshOp('mux')) },
    'host-floor': { ops, run: hostFloor },
  };
  const order = Object.keys(sides) as Side[];
  const times: Record<Side, number[]> = {
    hvkit: [],
    mux: [],
    new: [],
    'hvkit-concurrent': [],
    'mux-concurrent': [],
    'host-floor': [],
  };
  const outputs = new Map<Side, (string | undefined)[]>();
  const loadPerRound: number[] = [];
  for (let round = 0; round < settings.rounds; round++) {
    loadPerRound.push(load1());
    for (let step = 0; step < order.length; step++) {
      const side = order[(round + step) % order.length] as Side;
      const started = performance.now();
      const out = await sides[side].run();
      times[side].push(performance.now() - started);
      if (round === 0) outputs.set(side, out);
    }
    options.log(
      `  ops round ${round + 1}/${settings.rounds}: ${order.map((side) => `${side} ${(times[side].at(-1) ?? 0).toFixed(0)} ms`).join(', ')} (load ${loadPerRound.at(-1)})`,
    );
  }

  // The sides must have printed the same thing for the same command (when hvkit's op returns
  // virsh's stdout).
  let mismatches = 0;
  const reference = outputs.get('hvkit') ?? [];
  for (const [side, out] of outputs) {
    out.forEach((stdout, index) => {
      const args = opArgs(index, domains);
      const expected = reference[index];
      if (expected === undefined || stdout === undefined) return;
      if (normalize(args, stdout, prefix) !== normalize(args, expected, prefix)) {
        mismatches++;
        options.log(`  MISMATCH ${side} op ${index} (${args.join(' ')})`);
      }
    });
  }

  const result = Object.fromEntries(
    order.map((side) => {
      const figures = spread(times[side]);
      return [
        side,
        {
          ...figures,
          ops: sides[side].ops,
          perOpMs: Math.round((figures.medianMs / sides[side].ops) * 100) / 100,
        },
      ];
    }),
  ) as OpsResult['sides'];
  return {
    settings,
    via: options.via,
    domains: [...domains],
    sides: result,
    ratioToMux: result.hvkit.medianMs / result.mux.medianMs,
    pairedRatioToMux: pairedRatio(times.hvkit, times.mux),
    ratioToMuxConcurrent: result['hvkit-concurrent'].medianMs / result['mux-concurrent'].medianMs,
    speedupOverNewSsh: result.new.perOpMs / result.hvkit.perOpMs,
    hvkitRoundTripsPerOp,
    hvkitSessionShare,
    mismatches,
    loadPerRound,
  };
}
