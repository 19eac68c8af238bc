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
import type { Logger, Vm, VmRef } from '@hvkit/core';

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
    // Diagnostics, off in the bench (a non-silent logger adds redaction work to every request):
    // the vim25 methods of the last round, counted from the client's `vsphere: request` lines.
    'count-requests': { type: 'boolean', default: false },
    // `--mode wire` only: the property paths to ask for, comma-separated.
    properties: { type: 'string' },
  },
});

const emit = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const elapsedMs = (started: number) => Math.round((performance.now() - started) * 1000) / 1000;

async function main(): Promise<void> {
  const { url, username, password, mode } = values;
  if (url === undefined || username === undefined || password === undefined)
    throw new Error('--url, --username and --password are required');
  if (mode !== 'list' && mode !== 'power' && mode !== 'wire')
    throw new Error(`--mode ${mode}: want list, power or wire`);
  const rounds = Number(values.rounds);
  const taskCount = Number(values.count);
  const ca = values['ca-file'] === undefined ? undefined : readFileSync(values['ca-file'], 'utf8');
  if (mode === 'wire') return wire({ url, username, password, ca, rounds });

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

  let requests: Record<string, number> = {};
  const countingLogger: Logger = {
    debug(message, fields) {
      if (message !== 'vsphere: request' || typeof fields?.method !== 'string') return;
      requests[fields.method] = (requests[fields.method] ?? 0) + 1;
    },
    info() {},
    warn() {},
    error() {},
  };

  let started = performance.now();
  const provider = createVsphereProvider({
    url,
    username,
    password,
    ...(ca === undefined ? {} : { tls: { ca } }),
    ...(values['count-requests'] ? { logger: countingLogger } : {}),
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
      requests = {};
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
    const maxRssKiB = process.resourceUsage().maxRSS;
    emit({
      mode,
      rounds: roundsMs,
      count,
      connectMs,
      floorRssKiB,
      maxRssKiB,
      ...(mode === 'list' ? { checks, validate: await timeValidation(provider) } : { taskMs }),
      ...(values['count-requests'] ? { requests } : {}),
    });
  } finally {
    await provider.close();
  }
  // stdin may still be open (the harness ends it, but a person at a terminal may not).
  process.stdin.destroy();
}

/**
 * `--mode wire`: the floor under any Node client's list. The same requests as hvkit's list
 * (CreateContainerView, RetrievePropertiesEx of VM_SUMMARY_PROPERTIES over the view, DestroyView)
 * sent with undici's `fetch` as hand-written envelopes, the response bytes counted and thrown
 * away: vcsim's own time plus the transfer, with no parsing, mapping or validation. hvkit is not
 * loaded. The paths are passed by run.ts (`--properties`), so they are the ones hvkit asks for.
 */
async function wire(options: {
  url: string;
  username: string;
  password: string;
  ca: string | undefined;
  rounds: number;
}): Promise<void> {
  const { Agent, fetch } = await import('undici');
  const dispatcher = new Agent({
    keepAliveTimeout: 30_000,
    connect: options.ca === undefined ? {} : { ca: options.ca },
  });
  const paths = (values.properties ?? 'name').split(',');
  const xml = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
  let cookie: string | undefined;
  const call = async (body: string): Promise<{ text: string; bytes: number }> => {
    const response = await fetch(options.url, {
      method: 'POST',
      dispatcher,
      headers: {
        'content-type': 'text/xml; charset=utf-8',
        soapaction: 'urn:vim25/6.5',
        ...(cookie === undefined ? {} : { cookie }),
      },
      body: `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`,
    });
    const setCookie = response.headers.getSetCookie()[0];
    if (setCookie !== undefined) cookie = setCookie.split(';')[0];
    if (response.status !== 200)
      throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    // Small answers are kept for the morefs in them; the listing is only counted.
    let bytes = 0;
    const kept: Uint8Array[] = [];
    if (response.body)
      for await (const chunk of response.body) {
        bytes += chunk.length;
        if (bytes < 65_536) kept.push(chunk);
      }
    return { text: bytes < 65_536 ? Buffer.concat(kept).toString('utf8') : '', bytes };
  };
  const moref = (text: string, field: string) => {
    const match = new RegExp(`<${field} type="([^"]+)">([^<]+)</${field}>`).exec(text);
    if (match === null) throw new Error(`no ${field} in the answer`);
    return `type="${match[1]}">${match[2]}`;
  };

  let started = performance.now();
  const content = (
    await call(
      '<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>',
    )
  ).text;
  const [rootFolder, viewManager, propertyCollector, sessionManager] = [
    'rootFolder',
    'viewManager',
    'propertyCollector',
    'sessionManager',
  ].map((field) => moref(content, field));
  await call(
    `<Login xmlns="urn:vim25"><_this ${sessionManager}</_this><userName>${xml(options.username)}</userName><password>${xml(options.password)}</password></Login>`,
  );
  const connectMs = elapsedMs(started);

  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  if (values.step) emit({ event: 'ready', connectMs });
  const roundsMs: number[] = [];
  let bytes = 0;
  for (let round = 0; round < options.rounds; round++) {
    if (values.step && (await lines.next()).done) break;
    started = performance.now();
    const view = moref(
      (
        await call(
          `<CreateContainerView xmlns="urn:vim25"><_this ${viewManager}</_this><container ${rootFolder}</container><type>VirtualMachine</type><recursive>true</recursive></CreateContainerView>`,
        )
      ).text,
      'returnval',
    );
    bytes = (
      await call(
        `<RetrievePropertiesEx xmlns="urn:vim25"><_this ${propertyCollector}</_this><specSet><propSet><type>VirtualMachine</type>${paths.map((path) => `<pathSet>${xml(path)}</pathSet>`).join('')}</propSet><objectSet><obj ${view}</obj><skip>true</skip><selectSet xsi:type="TraversalSpec"><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options><maxObjects>1000</maxObjects></options></RetrievePropertiesEx>`,
      )
    ).bytes;
    await call(`<DestroyView xmlns="urn:vim25"><_this ${view}</_this></DestroyView>`);
    const ms = elapsedMs(started);
    roundsMs.push(ms);
    if (values.step) emit({ event: 'round', ms, count: 0 });
  }
  emit({
    mode: 'wire',
    rounds: roundsMs,
    count: 0,
    bytes,
    connectMs,
    floorRssKiB,
    maxRssKiB: process.resourceUsage().maxRSS,
  });
  await dispatcher.close();
  process.stdin.destroy();
}

/**
 * What core's zod check of each listed VM costs, alone: one more listing kept in memory (after
 * the peak RSS was read, so it does not count), then `VmSchema.safeParse` over all of it three
 * times, as core's `#vm` does once per VM. The median of the three, and the list itself, in ms.
 */
async function timeValidation(provider: {
  list(): AsyncIterable<Vm>;
}): Promise<{ vms: number; listMs: number; validateMs: number }> {
  const { VmSchema } = await import('@hvkit/core');
  const started = performance.now();
  const vms: Vm[] = [];
  for await (const vm of provider.list()) vms.push(vm);
  const listMs = elapsedMs(started);
  const times: number[] = [];
  for (let round = 0; round < 3; round++) {
    const begun = performance.now();
    for (const vm of vms) if (!VmSchema.safeParse(vm).success) throw new Error('invalid Vm');
    times.push(elapsedMs(begun));
  }
  times.sort((a, b) => a - b);
  return { vms: vms.length, listMs, validateMs: times[1] as number };
}

main().catch((error: unknown) => {
  process.stderr.write(
    `hvkit-side failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
