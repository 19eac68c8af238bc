/**
 * Contract overhead on the Mock: 1,000 VMs created, powered on, snapshotted and deleted through
 * the public contract (validation, capability gates, Task handles, result decoding) versus the same
 * work on the Mock's internals (MockBackend methods, no validation, no tasks), in one run.
 *
 * Prints ops/s for both and the ratio. Goals (issue 2): contract ≤ 1.3× internals and ≥ 5,000
 * ops/s on a 2-core machine. This is a measurement, not a test: it never fails on a slow machine.
 *
 *   pnpm run bench            # N=1000, 7 rounds
 *   BENCH_VMS=5000 BENCH_ROUNDS=3 pnpm run bench
 */
import {
  SnapshotOptionsSchema,
  SnapshotSchema,
  TaskSnapshotSchema,
  VmSchema,
  type VmSpecInput,
  VmSpecSchema,
} from '@hvkit/core';
import { createMockBackend, createMockProvider } from '@hvkit/mock';

const vmCount = Number(process.env.BENCH_VMS ?? 1_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const opsPerRound = vmCount * 4;

const spec = (index: number): VmSpecInput => ({
  name: `bench-${index}`,
  cpu: { count: 2 },
  memory: { sizeMiB: 2048 },
  disks: [{ sizeGiB: 10 }],
  nics: [{ network: 'VM Network' }],
});

/** The same four steps straight on the backend: the floor any contract adds to. */
function internalsRound(): number {
  const backend = createMockBackend({ seed: 7 });
  // Internals take validated specs; validating them is the contract's work, so it is not timed here.
  const specs = Array.from({ length: vmCount }, (_, index) => VmSpecSchema.parse(spec(index)));
  const started = performance.now();
  const ids: string[] = [];
  for (const parsed of specs) ids.push(backend.createVm(parsed).id);
  for (const id of ids) backend.powerOn(id);
  for (const id of ids) backend.createSnapshot(id, { name: 'before-change' });
  for (const id of ids) backend.deleteVm(id);
  const elapsed = performance.now() - started;
  backend.dispose();
  return elapsed;
}

/** The same steps through the Provider contract, awaiting every Task. */
async function contractRound(): Promise<number> {
  const provider = createMockProvider({ seed: 7, taskDurationMs: 0 });
  const started = performance.now();
  const refs = [];
  for (let index = 0; index < vmCount; index++) refs.push((await provider.create(spec(index))).ref);
  for (const ref of refs) await provider.powerOn(ref);
  for (const ref of refs) await provider.createSnapshot(ref, { name: 'before-change' });
  for (const ref of refs) await provider.delete(ref);
  const elapsed = performance.now() - started;
  await provider.close();
  provider.backend.dispose();
  return elapsed;
}

/**
 * The schema work the contract must do per round, alone: each spec and snapshot request parsed on
 * the way in, each VM and snapshot result and one task snapshot per operation checked on the way
 * out. It sets a floor under the ratio that no amount of plumbing work can remove.
 */
async function validationRound(): Promise<number> {
  const provider = createMockProvider({ seed: 7, taskDurationMs: 0 });
  const vm = await provider.create(spec(0));
  const snapshot = await provider.createSnapshot(vm, { name: 'before-change' });
  const task = await provider.getTask(await provider.powerOn(vm).submitted());
  await provider.close();
  provider.backend.dispose();
  const started = performance.now();
  for (let index = 0; index < vmCount; index++) {
    VmSpecSchema.parse(spec(index));
    VmSchema.parse(vm);
    SnapshotOptionsSchema.parse({ name: 'before-change' });
    SnapshotSchema.parse(snapshot);
    for (let step = 0; step < 4; step++) TaskSnapshotSchema.parse(task);
  }
  return performance.now() - started;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function main(): Promise<void> {
  // Warm both paths up so the JIT and zod's compiled schemas are hot for both.
  internalsRound();
  await contractRound();
  await validationRound();
  const internals: number[] = [];
  const contract: number[] = [];
  const validation: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate so drift on a shared machine hits both sides alike.
    internals.push(internalsRound());
    contract.push(await contractRound());
    validation.push(await validationRound());
  }
  const internalsMs = median(internals);
  const contractMs = median(contract);
  const internalsOps = (opsPerRound / internalsMs) * 1000;
  const contractOps = (opsPerRound / contractMs) * 1000;
  const ratio = contractMs / internalsMs;
  const validationMs = median(validation);
  const line = (label: string, ms: number, ops: number) =>
    `${label.padEnd(28)} ${ms.toFixed(1).padStart(9)} ms   ${Math.round(ops).toLocaleString('en-US').padStart(9)} ops/s`;
  process.stdout.write(
    [
      `bench/mock: ${vmCount} VMs × (create, power on, snapshot, delete) = ${opsPerRound} ops; median of ${rounds} rounds`,
      line('Mock internals (MockBackend)', internalsMs, internalsOps),
      line('hvkit contract (Provider)', contractMs, contractOps),
      `  of which schema validation alone: ${validationMs.toFixed(1)} ms = ${(validationMs / internalsMs).toFixed(2)}× the internals (floor: ${((internalsMs + validationMs) / internalsMs).toFixed(2)}×)`,
      `ratio contract/internals: ${ratio.toFixed(2)}×  (goal ≤ 1.30×: ${ratio <= 1.3 ? 'met' : 'missed'}); contract ops/s goal ≥ 5,000: ${contractOps >= 5_000 ? 'met' : 'missed'}`,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
