/**
 * hvkit's vSphere provider against govmomi (the Go SDK VMware maintains) on the same vcsim, in one
 * run: listing 5,000 VMs (name, power state, CPU, memory, IP) and 200 power tasks, each awaited.
 *
 * Both clients run as child processes (`govmomi/main.go`, `hvkit-side.ts`) that log in once and
 * then run one round per line the harness sends, so rounds interleave (govmomi, hvkit, govmomi, …)
 * and any slowdown of the shared machine hits both sides alike; each child's peak RSS is its own.
 * The bench starts its own vcsim (its own state dir under `.build/`, a free port) and stops it at
 * the end, also on error; the default bed in `testbeds/vcsim/.state` is left alone. A measurement,
 * not a test: it never fails on a slow machine.
 *
 *   pnpm run bench:vsphere                   # BENCH_VMS (5000), BENCH_ROUNDS (7), BENCH_POWER_ROUNDS (3)
 *   pnpm run bench:vsphere --govmomi-only    # the Go side and the harness alone
 *
 * Goals (the issue): list ≤ 0.6× govmomi's time; power tasks ≤ 1.1×. Result: results/latest.json.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
// The paths hvkit's list asks for, read from the source so the Go side can never drift from them.
import { VM_SUMMARY_PROPERTIES } from '../../packages/vsphere/src/inventory/vm-properties';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const vcsimDir = join(repo, 'testbeds', 'vcsim');

const govmomiOnly = process.argv.includes('--govmomi-only');
const vmCount = Number(process.env.BENCH_VMS ?? 5_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const powerRounds = Number(process.env.BENCH_POWER_ROUNDS ?? 3);
const powerTasks = 200;
const warmups = 1;

// The bench's own bed: a state dir of its own (gitignored), any free port, its own VM count.
const bedEnv = {
  ...process.env,
  VCSIM_STATE_DIR: join(here, '.build', 'vcsim'),
  VCSIM_LISTEN: '127.0.0.1:0',
  VCSIM_VMS: String(vmCount),
};

interface Ready {
  url: string;
  username: string;
  password: string;
  certificateFile: string;
  pid: number;
  vms: number;
  startupMs: number;
}

interface Summary {
  mode: 'list' | 'power' | 'wire';
  rounds: number[];
  count: number;
  connectMs: number;
  maxRssKiB: number;
  floorRssKiB?: number;
  checks?: Record<string, number>;
  validate?: { vms: number; listMs: number; validateMs: number };
  taskMs?: number[];
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
};
const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

/**
 * One client as a child process speaking the line protocol of `govmomi/main.go --step`: a ready
 * line after login, one round per stdin line, a summary line when stdin ends.
 */
class Client {
  private readonly lines: AsyncIterator<string>;
  private stderr = '';
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly side: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4_000);
    });
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  static async start(side: string, command: string, args: string[]): Promise<Client> {
    const client = new Client(side, spawn(command, args, { cwd: repo }));
    const ready = await client.next();
    if (ready.event !== 'ready')
      throw new Error(`${side}: expected ready, got ${JSON.stringify(ready)}`);
    return client;
  }

  private async next(): Promise<Record<string, unknown>> {
    const line = await this.lines.next();
    if (line.done) {
      const code = await this.exited;
      throw new Error(`${this.side} exited (${code}) early:\n${this.stderr.trim()}`);
    }
    try {
      return JSON.parse(line.value) as Record<string, unknown>;
    } catch {
      throw new Error(`${this.side}: not JSON: ${line.value.slice(0, 200)}`);
    }
  }

  /** Runs one round in the child; resolves with its duration in ms. */
  async round(): Promise<number> {
    this.child.stdin.write('round\n');
    const answer = await this.next();
    if (answer.event !== 'round' || typeof answer.ms !== 'number')
      throw new Error(`${this.side}: expected a round, got ${JSON.stringify(answer)}`);
    return answer.ms;
  }

  /** Ends the child's stdin and returns its summary (all rounds, peak RSS). */
  async finish(): Promise<Summary> {
    this.child.stdin.end();
    const summary = (await this.next()) as unknown as Summary;
    const code = await this.exited;
    if (code !== 0) throw new Error(`${this.side} exited with ${code}:\n${this.stderr.trim()}`);
    return summary;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

type Side = 'govmomi' | 'govmomi-5' | 'hvkit' | 'wire';

function clientArgs(
  ready: Ready,
  mode: 'list' | 'power' | 'wire',
  count: number,
  style: '-' | '--',
  properties?: readonly string[],
) {
  // Credentials go on the command line of a child we own; the harness never prints them.
  const flags: [string, string][] = [
    ...(properties === undefined ? [] : [['properties', properties.join(',')] as [string, string]]),
    ['url', ready.url],
    ['username', ready.username],
    ['password', ready.password],
    ['ca-file', ready.certificateFile],
    ['mode', mode],
    ['rounds', String(count)],
    ['count', String(powerTasks)],
  ];
  return [...flags.flatMap(([name, value]) => [`${style}${name}`, value]), `${style}step`];
}

/**
 * hvkit-side.ts compiled to plain JavaScript in `.build/`, so the child runs on bare `node`: under
 * `node --import tsx` the loader alone adds about 35 MiB to the child's peak RSS, which is not
 * hvkit's. Type-only imports are erased; `@hvkit/*` resolves from `.build/` as from the source.
 */
async function compileHvkitSide(): Promise<string> {
  const { default: ts } = await import('typescript');
  const { outputText } = ts.transpileModule(readFileSync(join(here, 'hvkit-side.ts'), 'utf8'), {
    fileName: 'hvkit-side.ts',
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const compiled = join(here, '.build', 'hvkit-side.mjs');
  mkdirSync(dirname(compiled), { recursive: true });
  writeFileSync(compiled, outputText);
  return compiled;
}

/** Warm-up rounds, then `measured` rounds interleaved across the clients; their summaries. */
async function interleave(clients: Client[], measured: number): Promise<Summary[]> {
  for (let round = 0; round < warmups + measured; round++)
    for (const client of clients) await client.round();
  return Promise.all(clients.map((client) => client.finish()));
}

async function main(): Promise<void> {
  const started = performance.now();
  const [govmomiBin, hvkitSide] = await Promise.all([
    run(join(here, 'build-govmomi.sh')).then(({ stdout }) => stdout.trim()),
    govmomiOnly ? undefined : compileHvkitSide(),
    run(join(vcsimDir, 'build.sh')),
  ]);
  const goVersion = (await run('go', ['version'])).stdout.trim();
  process.stderr.write(
    `bench/vsphere: built in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );

  // A bed left by a killed run would be reused by start.sh; a fresh one gives a fair start time.
  await run(join(vcsimDir, 'stop.sh'), [], { env: bedEnv });
  const clients: Client[] = [];
  try {
    const load = loadavg();
    const bedStarted = performance.now();
    const readyPath = (
      await run(join(vcsimDir, 'start.sh'), [], { env: bedEnv, maxBuffer: 1 << 20 })
    ).stdout.trim();
    const bedStartMs = performance.now() - bedStarted;
    const ready = JSON.parse(readFileSync(readyPath, 'utf8')) as Ready;
    process.stderr.write(
      `bench/vsphere: vcsim with ${ready.vms} VMs ready in ${(bedStartMs / 1000).toFixed(2)} s (its own startup ${ready.startupMs} ms)\n`,
    );

    // govmomi lists twice: `govmomi` with exactly hvkit's paths (the headline ratio), and
    // `govmomi-5` with the 5 paths a "name, power, CPU, memory, IP" table needs (its own default).
    // `wire` is the floor under a Node client: hvkit's requests sent with bare fetch, the bytes
    // counted and dropped (vcsim's time plus the transfer; no parsing, mapping or validation).
    const start = (side: Side, mode: 'list' | 'power', count: number) =>
      side === 'hvkit'
        ? Client.start(side, process.execPath, [
            hvkitSide as string,
            ...clientArgs(ready, mode, count, '--'),
          ])
        : side === 'wire'
          ? Client.start(side, process.execPath, [
              hvkitSide as string,
              ...clientArgs(ready, 'wire', count, '--', VM_SUMMARY_PROPERTIES),
            ])
          : Client.start(
              side,
              govmomiBin,
              clientArgs(
                ready,
                mode,
                count,
                '-',
                side === 'govmomi' && mode === 'list' ? VM_SUMMARY_PROPERTIES : undefined,
              ),
            );
    const listSides: Side[] = govmomiOnly
      ? ['govmomi-5', 'govmomi']
      : ['govmomi-5', 'govmomi', 'hvkit', 'wire'];
    const powerSides: Side[] = govmomiOnly ? ['govmomi'] : ['govmomi', 'hvkit'];

    const listClients = [];
    for (const side of listSides) {
      const client = await start(side, 'list', warmups + rounds);
      clients.push(client);
      listClients.push(client);
    }
    const listSummaries = await interleave(listClients, rounds);

    const powerClients = [];
    for (const side of powerSides) {
      const client = await start(side, 'power', warmups + powerRounds);
      clients.push(client);
      powerClients.push(client);
    }
    const powerSummaries = await interleave(powerClients, powerRounds);
    const vcsimPeakRssKiB = Number(
      /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${ready.pid}/status`, 'utf8'))?.[1] ?? Number.NaN,
    );

    const report = (summaries: Summary[], sides: Side[], tasks: boolean) =>
      Object.fromEntries(
        summaries.map((summary, index) => {
          const measuredMs = summary.rounds.slice(warmups);
          const taskMs = (summary.taskMs ?? []).slice(warmups * powerTasks);
          return [
            sides[index],
            {
              medianMs: median(measuredMs),
              roundsMs: measuredMs,
              warmupMs: summary.rounds.slice(0, warmups),
              count: summary.count,
              connectMs: summary.connectMs,
              maxRssKiB: summary.maxRssKiB,
              ...(summary.floorRssKiB === undefined ? {} : { floorRssKiB: summary.floorRssKiB }),
              ...(summary.checks === undefined ? {} : { checks: summary.checks }),
              ...(summary.validate === undefined ? {} : { validate: summary.validate }),
              ...(tasks
                ? {
                    msPerTask: median(measuredMs) / summary.count,
                    taskP50Ms: percentile(taskMs, 50),
                    taskP95Ms: percentile(taskMs, 95),
                    taskMaxMs: Math.max(...taskMs),
                  }
                : {}),
            },
          ];
        }),
      ) as Record<string, Record<string, unknown> & { medianMs: number; maxRssKiB: number }>;
    const list = report(listSummaries, listSides, false);
    const power = report(powerSummaries, powerSides, true);
    const ratio = (side: typeof list, peer: Side = 'govmomi') =>
      side.hvkit === undefined || side[peer] === undefined
        ? null
        : side.hvkit.medianMs / side[peer].medianMs;

    const result = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        loadavgAtStart: load.map((value) => Number(value.toFixed(2))),
      },
      node: process.version,
      go: goVersion,
      govmomiOnly,
      vcsim: {
        vms: ready.vms,
        startMs: Math.round(bedStartMs),
        startupMs: ready.startupMs,
        peakRssKiB: vcsimPeakRssKiB,
      },
      list: {
        rounds,
        warmups,
        goal: 0.6,
        properties: [...VM_SUMMARY_PROPERTIES],
        ratio: ratio(list),
        ratioTo5Paths: ratio(list, 'govmomi-5'),
        ...list,
      },
      power: {
        tasks: powerTasks,
        rounds: powerRounds,
        warmups,
        goal: 1.1,
        ratio: ratio(power),
        ...power,
      },
    };
    mkdirSync(join(here, 'results'), { recursive: true });
    const resultPath = join(here, 'results', 'latest.json');
    writeFileSync(resultPath, `${JSON.stringify(result, null, 2)}\n`);

    const out = [
      `bench/vsphere: vcsim ${ready.vms} VMs (ready in ${(bedStartMs / 1000).toFixed(2)} s, peak RSS ${mib(vcsimPeakRssKiB)}), ${rounds} rounds after ${warmups} warm-up, interleaved; load ${load.map((value) => value.toFixed(2)).join(' ')} on ${cpus().length} CPUs`,
      `  ${'list'.padEnd(6)} ${'side'.padEnd(9)} ${'median'.padStart(10)} ${'min'.padStart(9)} ${'max'.padStart(9)}  ${'VMs'.padStart(5)}  peak RSS`,
    ];
    for (const [side, figures] of Object.entries(list)) {
      const roundsMs = figures.roundsMs as number[];
      out.push(
        `  ${''.padEnd(6)} ${side.padEnd(9)} ${figures.medianMs.toFixed(1).padStart(7)} ms ${Math.min(
          ...roundsMs,
        )
          .toFixed(1)
          .padStart(6)} ms ${Math.max(...roundsMs)
          .toFixed(1)
          .padStart(
            6,
          )} ms  ${String(figures.count).padStart(5)}  ${mib(figures.maxRssKiB)}${typeof figures.floorRssKiB === 'number' ? ` (node floor ${mib(figures.floorRssKiB)})` : ''}`,
      );
    }
    const validate = list.hvkit?.validate as Summary['validate'];
    if (validate !== undefined)
      out.push(
        `  of which core's zod check of ${validate.vms} Vms (VmSchema.safeParse, measured alone after the rounds): ${validate.validateMs.toFixed(1)} ms`,
      );
    const listRatio = ratio(list);
    const listRatio5 = ratio(list, 'govmomi-5');
    out.push(
      listRatio === null
        ? '  list ratio: hvkit not measured (--govmomi-only)'
        : `  list ratio hvkit/govmomi, same ${VM_SUMMARY_PROPERTIES.length} paths: ${listRatio.toFixed(2)}× (goal ≤ 0.60×: ${listRatio <= 0.6 ? 'met' : 'missed'}); against govmomi-5 (5 paths): ${listRatio5?.toFixed(2)}×`,
      `  ${'power'.padEnd(6)} ${'side'.padEnd(9)} ${'median'.padStart(10)} ${'per task'.padStart(9)} ${'p95'.padStart(9)}  tasks  peak RSS`,
    );
    for (const [side, figures] of Object.entries(power)) {
      out.push(
        `  ${''.padEnd(6)} ${side.padEnd(9)} ${figures.medianMs.toFixed(0).padStart(7)} ms ${(figures.msPerTask as number).toFixed(2).padStart(6)} ms ${(figures.taskP95Ms as number).toFixed(2).padStart(6)} ms  ${String(figures.count).padStart(5)}  ${mib(figures.maxRssKiB)}`,
      );
    }
    const powerRatio = ratio(power);
    out.push(
      powerRatio === null
        ? '  power ratio: hvkit not measured (--govmomi-only)'
        : `  power ratio hvkit/govmomi: ${powerRatio.toFixed(2)}× (goal ≤ 1.10×: ${powerRatio <= 1.1 ? 'met' : 'missed'})`,
    );
    // All sides decode the same inventory; differing checksums mean one of them reads it wrong.
    const reference = list.govmomi;
    for (const [side, figures] of Object.entries(list)) {
      if (reference === undefined || side === 'govmomi') continue;
      // Sorted keys: Go's encoding/json sorts map keys, JSON.stringify keeps insertion order.
      const canonical = (checks: unknown) =>
        JSON.stringify(Object.entries(checks ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
      if (side === 'wire') continue; // decodes nothing
      const [ours, theirs] = [canonical(figures.checks), canonical(reference.checks)];
      if (figures.count !== reference.count || ours !== theirs)
        out.push(
          `  WARNING: the sides disagree: ${side} ${figures.count} VMs ${ours}, govmomi ${reference.count} VMs ${theirs}`,
        );
    }
    out.push(`  result: ${relative(repo, resultPath)}`);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    for (const client of clients) client.kill();
    await run(join(vcsimDir, 'stop.sh'), [], { env: bedEnv }).catch((error: unknown) =>
      process.stderr.write(`bench/vsphere: stopping vcsim failed: ${String(error)}\n`),
    );
  }
}

// Ctrl-C or a kill must not leave a 5,000-VM vcsim behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    execFile(join(vcsimDir, 'stop.sh'), [], { env: bedEnv }, () => process.exit(130));
  });

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
