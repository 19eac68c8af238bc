/**
 * hvkit's Proxmox provider against the same HTTP calls made with bare `fetch`, on the project's
 * Proxmox simulator, in one run; and how late each side notices that a task has finished.
 *
 * Fairness by construction: the bench records every request hvkit sends for an operation (as the
 * simulator receives it, through its `onRequest` hook) and the raw side replays exactly
 * those requests — same methods, paths, bodies and count — on a twin VM, with the UPIDs its own
 * POSTs return. The ratio is therefore hvkit's client-side cost: validation, auth handling, task
 * handles, result decoding. A measurement, not a test: it never fails on a slow machine.
 *
 *   pnpm run bench:proxmox          # BENCH_ROUNDS (default 30), BENCH_VERSION (8.4 | 9.1)
 */
import type { Provider, Vm } from '@hvkit/core';
import { createProxmoxProvider } from '@hvkit/proxmox';
import { type ObservedRequest, startProxmoxSimulator } from '@hvkit/proxmox/simulator';
import { Agent, fetch } from 'undici';

const rounds = Number(process.env.BENCH_ROUNDS ?? 30);
const version = (process.env.BENCH_VERSION ?? '9.1') as '8.4' | '9.1';
const token = { tokenid: 'root@pam!hvkit', secret: '5f0c3e0a-8d7b-4c55-9a0e-3b1f2c4d5e6f' };

interface Recorded {
  method: string;
  path: string;
  contentType: string;
  body: string | undefined;
}

/** Records requests as the simulator receives them while `recording` is on. */
function recorder() {
  const state = { recording: false, requests: [] as Recorded[] };
  const onRequest = (request: ObservedRequest) => {
    if (!state.recording) return;
    state.requests.push({
      method: request.method,
      path: request.path,
      contentType: request.contentType,
      body: request.body.length > 0 ? request.body.toString('utf8') : undefined,
    });
  };
  return { state, onRequest };
}

const OPERATIONS = ['list', 'get', 'powerOn', 'powerOff'] as const;
type Operation = (typeof OPERATIONS)[number];

async function runHvkit(provider: Provider, vm: Vm, operation: Operation): Promise<void> {
  if (operation === 'list') await provider.listPage({ limit: 100 });
  else if (operation === 'get') await provider.get(vm);
  else if (operation === 'powerOn') await provider.powerOn(vm);
  else await provider.powerOff(vm);
}

async function main(): Promise<void> {
  const tape = recorder();
  const simulator = await startProxmoxSimulator({
    version,
    taskDurationMs: 0,
    tokens: [{ ...token, privsep: false }],
    onRequest: tape.onRequest,
  });
  const origin = new URL(simulator.url).origin;
  const provider = createProxmoxProvider({
    name: 'bench',
    baseUrl: simulator.url,
    auth: { tokenId: token.tokenid, tokenSecret: token.secret },
    tls: { fingerprint256: simulator.fingerprint256 },
    node: 'pve1',
  });
  const spec = (name: string) => ({
    name,
    cpu: { count: 2 },
    memory: { sizeMiB: 2048 },
    disks: [{ sizeGiB: 8 }],
    nics: [{ network: 'vmbr0' }],
  });
  const mine = await provider.create(spec('bench-hvkit'));
  const twin = await provider.create(spec('bench-raw'));
  const vmidOf = (vm: Vm) => vm.ref.id.split('/').pop() as string;
  const [mineId, twinId] = [vmidOf(mine), vmidOf(twin)];

  // Record what hvkit sends for each operation once (after a warm-up pass).
  for (const operation of OPERATIONS) await runHvkit(provider, mine, operation);
  const scripts = new Map<Operation, Recorded[]>();
  for (const operation of OPERATIONS) {
    tape.state.requests = [];
    tape.state.recording = true;
    await runHvkit(provider, mine, operation);
    tape.state.recording = false;
    scripts.set(operation, tape.state.requests);
  }

  const agent = new Agent({ connect: { ca: simulator.certificatePem } });
  const headers = { authorization: `PVEAPIToken=${token.tokenid}=${token.secret}` };
  const swap = (text: string) =>
    text
      .replaceAll(`/${mineId}/`, `/${twinId}/`)
      .replace(new RegExp(`/${mineId}$`), `/${twinId}`)
      .replace(`vmid=${mineId}`, `vmid=${twinId}`);
  /**
   * Replays a recorded script on the twin VM. Task polls follow the UPID our own POST got and, like
   * any client that waits for a task, repeat every 25 ms (hvkit's first backoff step) until the
   * task has stopped; the recorded number of polls depends on timing and is not replayed as such.
   */
  async function runRaw(script: Recorded[]): Promise<void> {
    let upid: string | undefined;
    let polled = false;
    for (const request of script) {
      if (upid && /\/tasks\/[^/]+\/status/.test(request.path)) {
        if (polled) continue;
        polled = true;
        const [, node] = /\/nodes\/([^/]+)\//.exec(request.path) ?? [];
        for (;;) {
          const status = await fetch(
            `${origin}/api2/json/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`,
            {
              headers,
              dispatcher: agent,
            },
          );
          const answer = (await status.json()) as { data: { status: string } | null };
          if (!status.ok || answer.data === null)
            throw new Error(`raw task status: ${status.status}`);
          if (answer.data.status === 'stopped') break;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        continue;
      }
      let path = swap(request.path);
      if (upid && /\/tasks\/[^/]+\/status/.test(path))
        path = path.replace(/\/tasks\/[^/]+\/status/, `/tasks/${encodeURIComponent(upid)}/status`);
      const response = await fetch(`${origin}${path}`, {
        method: request.method,
        headers:
          request.body === undefined
            ? headers
            : { ...headers, 'content-type': request.contentType },
        body: request.body === undefined ? undefined : swap(request.body),
        dispatcher: agent,
      });
      const json = (await response.json()) as { data?: unknown };
      if (!response.ok)
        throw new Error(
          `raw ${request.method} ${path} ${JSON.stringify(request.body)}: ${response.status} ${response.statusText} ${JSON.stringify(json)}`,
        );
      if (
        request.method === 'POST' &&
        typeof json.data === 'string' &&
        json.data.startsWith('UPID:')
      )
        upid = json.data;
    }
  }

  const totals = { hvkit: new Map<Operation, number>(), raw: new Map<Operation, number>() };
  for (let round = 0; round < rounds; round++) {
    for (const operation of OPERATIONS) {
      let started = performance.now();
      await runHvkit(provider, mine, operation);
      totals.hvkit.set(operation, (totals.hvkit.get(operation) ?? 0) + performance.now() - started);
      started = performance.now();
      await runRaw(scripts.get(operation) ?? []);
      totals.raw.set(operation, (totals.raw.get(operation) ?? 0) + performance.now() - started);
    }
  }

  const out: string[] = [
    `bench/proxmox: simulator PVE ${version}, ${rounds} rounds; raw = the same requests with bare fetch`,
  ];
  const sum = (side: Map<Operation, number>, operations: readonly Operation[]) =>
    operations.reduce((total, operation) => total + (side.get(operation) ?? 0), 0) / rounds;
  for (const operation of OPERATIONS) {
    const hvkitMs = (totals.hvkit.get(operation) ?? 0) / rounds;
    const rawMs = (totals.raw.get(operation) ?? 0) / rounds;
    const calls = scripts.get(operation)?.length ?? 0;
    out.push(
      `  ${operation.padEnd(9)} hvkit ${hvkitMs.toFixed(2).padStart(7)} ms   raw ${rawMs.toFixed(2).padStart(7)} ms   ${(hvkitMs / rawMs).toFixed(2)}×   (${calls} requests)`,
    );
  }
  // Client overhead is what list and get show: the same requests, nothing to wait for. Task
  // operations also wait for the task, and whichever side polls a 0 ms task a moment too early
  // waits one backoff step more, so their ratio measures timing luck as much as code.
  const requestOnly = ['list', 'get'] as const;
  const withTasks = ['powerOn', 'powerOff'] as const;
  const overhead = sum(totals.hvkit, requestOnly) / sum(totals.raw, requestOnly);
  out.push(
    `  client overhead (list + get): ${overhead.toFixed(2)}× (goal ≤ 1.20×: ${overhead <= 1.2 ? 'met' : 'missed'})`,
    `  with task waits (powerOn + powerOff, end to end): ${(sum(totals.hvkit, withTasks) / sum(totals.raw, withTasks)).toFixed(2)}×`,
  );
  await provider.close();
  await agent.close();
  await simulator.close();

  // Task observation latency: how long after a 300 ms task ends each side knows.
  const slow = await startProxmoxSimulator({
    version,
    taskDurationMs: 300,
    tokens: [{ ...token, privsep: false }],
  });
  const slowProvider = createProxmoxProvider({
    name: 'bench-latency',
    baseUrl: slow.url,
    auth: { tokenId: token.tokenid, tokenSecret: token.secret },
    tls: { fingerprint256: slow.fingerprint256 },
    node: 'pve1',
  });
  const vm = await slowProvider.create(spec('bench-latency'));
  const slowAgent = new Agent({ connect: { ca: slow.certificatePem } });
  const lateness = { hvkit: [] as number[], raw: [] as number[] };
  for (let round = 0; round < 5; round++) {
    let started = performance.now();
    await slowProvider.powerOn(vm);
    lateness.hvkit.push(performance.now() - started - 300);
    await slowProvider.powerOff(vm);
    // A hand-written loop polling every 100 ms, the usual script.
    started = performance.now();
    const node = vm.placement.host ?? 'pve1';
    const vmid = vmidOf(vm);
    const start = await fetch(
      `${new URL(slow.url).origin}/api2/json/nodes/${node}/qemu/${vmid}/status/start`,
      { method: 'POST', headers, dispatcher: slowAgent },
    );
    const started_ = (await start.json()) as { data: string | null; message?: string };
    if (!start.ok || typeof started_.data !== 'string')
      throw new Error(`raw start: ${start.status} ${JSON.stringify(started_)}`);
    const upid = started_.data;
    for (;;) {
      const status = await fetch(
        `${new URL(slow.url).origin}/api2/json/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`,
        { headers, dispatcher: slowAgent },
      );
      const answer = (await status.json()) as { data: { status: string } | null };
      if (!status.ok || answer.data === null)
        throw new Error(`raw task status: ${status.status} ${JSON.stringify(answer)}`);
      if (answer.data.status === 'stopped') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    lateness.raw.push(performance.now() - started - 300);
    await slowProvider.powerOff(vm);
  }
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  out.push(
    `task observation (300 ms task, 5 runs): hvkit notices ${mean(lateness.hvkit).toFixed(0)} ms after it ends on average (backoff 25 ms ×1.5 → 1 s with jitter); a 100 ms polling loop ${mean(lateness.raw).toFixed(0)} ms`,
  );
  await slowProvider.close();
  await slowAgent.close();
  await slow.close();
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
