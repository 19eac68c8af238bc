/**
 * Goal 2: describing many defined domains in one round trip, against one `virsh list --all`.
 *
 * Sides, each timed per round (rounds interleaved, starting side rotating):
 * - `list --all (mux)`: `virsh list --all` as one `ssh` child over the ControlMaster — the peer;
 * - `list --all (hvkit)`: the same command through `Virsh.run`;
 * - `listDomains`: summary Vms of every domain (one runMany: uuid list, managed-save list, domstats);
 * - `describeDomains(names)`: full Vms of the bench's domains (one runMany with a dumpxml each);
 * - `describeDomains(all)`: full Vms of every domain (`list --all --name` first: two round trips).
 * hvkit's round trips (session requests plus virsh processes) are counted per call.
 */
import type { Vm } from '@hvkit/core';
import { shellCommand } from '@hvkit/ssh';
import { describeDomains, listDomains } from '../../packages/libvirt/src/inventory/inventory.js';
import type { Virsh } from '../../packages/libvirt/src/virsh/virsh.js';
import type { CountingTransport } from './bed.js';
import type { OpenSsh } from './openssh.js';
import { load1, pairedRatio, type Spread, spread } from './stats.js';

type Side =
  | 'list --all (mux)'
  | 'list --all (hvkit)'
  | 'listDomains'
  | 'describeDomains(names)'
  | 'describeDomains(all)';

/** What one side returned and cost on hvkit's transport. */
interface Outcome {
  /** Domains in the answer (all of the bed's for lists, the named ones otherwise). */
  count: number;
  /** Bench domains found in the answer. */
  ours: number;
  /** Round trips hvkit made: session requests plus virsh processes (0 for the OpenSSH side). */
  execs: number;
}

/** Figures of one side. */
export type DescribeSide = Spread &
  Outcome & {
    ratioToMuxList: number;
    /** Median of the per-round ratios to that round's `list --all (mux)`. */
    pairedRatioToMuxList: number;
  };

/** Result of {@link benchDescribe}. */
export interface DescribeResult {
  domains: number;
  rounds: number;
  sides: Record<Side, DescribeSide>;
  loadPerRound: number[];
}

const CONTEXT = { provider: 'libvirt', host: 'bed' };

function countOurs(vms: readonly Vm[], names: ReadonlySet<string>): number {
  return vms.filter((vm) => names.has(vm.name)).length;
}

/**
 * Times the sides over `rounds` interleaved rounds after one warm-up of each. Checks every round
 * that each side saw all of `names` (a side that lost domains is not a result) and records the
 * SSH execs of hvkit's calls.
 */
export async function benchDescribe(options: {
  virsh: Virsh;
  /** A process-only Virsh on `counter`: gives the remote `list --all` line the peer sends. */
  recorder: Virsh;
  counter: CountingTransport;
  openssh: OpenSsh;
  names: readonly string[];
  rounds: number;
  log: (line: string) => void;
}): Promise<DescribeResult> {
  const { virsh, recorder, counter, openssh, names, rounds } = options;
  const wanted = new Set(names);
  // The remote line of hvkit's `list --all`, sent as is by the OpenSSH side.
  counter.reset();
  await recorder.run(['list', '--all'], { idempotent: true });
  const listArgv = counter.execs[0];
  if (!listArgv) throw new Error('hvkit made no SSH exec');
  const remoteList = shellCommand(listArgv);
  const countListed = (stdout: string) => {
    const rows = stdout.split('\n').filter((line) => line.trim() !== '');
    // `virsh -q list --all` rows: ` <id|-> <name> <state…>`.
    const listed = rows.map((row) => row.trim().split(/\s+/)[1] ?? '');
    return { count: rows.length, ours: listed.filter((name) => wanted.has(name)).length };
  };

  const sides: Record<Side, () => Promise<Omit<Outcome, 'execs'>>> = {
    'list --all (mux)': async () => {
      const result = await openssh.run('mux', remoteList);
      if (result.code !== 0) throw new Error(`ssh list --all exited ${result.code}`);
      return countListed(result.stdout);
    },
    'list --all (hvkit)': async () =>
      countListed(await virsh.run(['list', '--all'], { idempotent: true })),
    listDomains: async () => {
      const vms = await listDomains(virsh, CONTEXT);
      return { count: vms.length, ours: countOurs(vms, wanted) };
    },
    'describeDomains(names)': async () => {
      const vms = await describeDomains(virsh, { names }, CONTEXT);
      return { count: vms.length, ours: countOurs(vms, wanted) };
    },
    'describeDomains(all)': async () => {
      const vms = await describeDomains(virsh, {}, CONTEXT);
      return { count: vms.length, ours: countOurs(vms, wanted) };
    },
  };
  const order = Object.keys(sides) as Side[];
  const times = new Map<Side, number[]>(order.map((side) => [side, []]));
  const outcomes = new Map<Side, Outcome>();
  const loadPerRound: number[] = [];
  for (let round = -1; round < rounds; round++) {
    if (round >= 0) loadPerRound.push(load1());
    for (let step = 0; step < order.length; step++) {
      const side = order[(Math.max(round, 0) + step) % order.length] as Side;
      const trips = () => virsh.stats().sessionRequests + virsh.stats().processes;
      const tripsBefore = trips();
      const started = performance.now();
      const outcome = await sides[side]();
      const ms = performance.now() - started;
      const roundTrips = trips() - tripsBefore;
      if (outcome.ours !== names.length)
        throw new Error(`${side} saw ${outcome.ours} of the ${names.length} bench domains`);
      if (round < 0) continue; // warm-up
      times.get(side)?.push(ms);
      outcomes.set(side, { ...outcome, execs: roundTrips });
    }
    if (round >= 0)
      options.log(
        `  describe round ${round + 1}/${rounds}: ${order.map((side) => `${side} ${(times.get(side)?.at(-1) ?? 0).toFixed(0)} ms`).join(', ')} (load ${loadPerRound.at(-1)})`,
      );
  }
  const peer = spread(times.get('list --all (mux)') ?? []).medianMs;
  const result = Object.fromEntries(
    order.map((side) => {
      const figures = spread(times.get(side) ?? []);
      const outcome = outcomes.get(side) as Outcome;
      return [
        side,
        {
          ...figures,
          ...outcome,
          ratioToMuxList: figures.medianMs / peer,
          pairedRatioToMuxList: pairedRatio(
            times.get(side) ?? [],
            times.get('list --all (mux)') ?? [],
          ),
        },
      ];
    }),
  ) as Record<Side, DescribeSide>;
  return { domains: names.length, rounds, sides: result, loadPerRound };
}
