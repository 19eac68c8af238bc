/**
 * Faults and bad input against real vcsim: a session that expires mid-run, vcsim killed and
 * restarted, connections closed without an answer or never answered (a proxy in front of vcsim
 * loses them on cue), names and annotations with markup and non-ASCII characters, characters XML
 * cannot carry, TLS trust (pin, CA, system CAs, insecure) and malformed settings.
 *
 * Session expiry and kill/restart need private beds (startVcsim); everything else that needs
 * vcsim runs on the shared bed (requireVcsim) or behind the proxy on a private bed.
 */
import { countHttpRequests } from '@hvkit/conformance';
import {
  AuthenticationError,
  HvkitError,
  InvalidSpecError,
  type Logger,
  type Provider,
  TransportError,
  type Vm,
  type VmSpecInput,
} from '@hvkit/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createVsphereDispatcher,
  createVsphereProvider,
  VimClient,
  type VsphereProviderSettings,
} from '../src/index.js';
import { type FaultProxy, startFaultProxy } from './faults-proxy.js';
import { requireVcsim, type VcsimReady } from './vcsim.js';
import { startVcsim, type VcsimBed } from './vcsim-bed.js';

const vcsim = requireVcsim();

const RELOGIN = 'vsphere: session not authenticated; logging in again';

interface LogLine {
  level: keyof Logger;
  message: string;
  fields?: Record<string, unknown> | undefined;
}

/** A logger that keeps every line, for counting re-logins, Login requests and warnings. */
function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: keyof Logger) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push({ level, message, fields });
    };
  return {
    lines,
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  };
}

function relogins(lines: readonly LogLine[]): number {
  return lines.filter((line) => line.message === RELOGIN).length;
}

function loginRequests(lines: readonly LogLine[]): number {
  return lines.filter(
    (line) => line.message === 'vsphere: request' && line.fields?.method === 'Login',
  ).length;
}

/** What `promise` rejected with; a sentinel string when it resolved. */
function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => 'resolved instead of rejecting',
    (error: unknown) => error,
  );
}

/** The error's code, message and details, so a failed assertion says what came instead. */
function explain(error: unknown): string {
  if (!HvkitError.isInstance(error)) return `not an hvkit error: ${String(error)}`;
  return `${error.code}: ${error.message} ${JSON.stringify(error.details)}`;
}

/** The secret appears nowhere a caller or a log could see it: message, stack, JSON, cause. */
function expectNoSecret(error: unknown, secret: string): void {
  expect(HvkitError.isInstance(error)).toBe(true);
  const hvkit = error as HvkitError;
  expect(hvkit.message).not.toContain(secret);
  expect(String(hvkit.stack)).not.toContain(secret);
  expect(JSON.stringify(hvkit)).not.toContain(secret);
  expect(JSON.stringify(hvkit.details)).not.toContain(secret);
}

function pinnedSettings(ready: VcsimReady): VsphereProviderSettings {
  return {
    name: 'faults',
    url: ready.url,
    username: ready.username,
    password: ready.password,
    tls: { fingerprint256: ready.fingerprint256 ?? '' },
  };
}

let counter = 0;
function uniqueName(label: string): string {
  counter += 1;
  return `faults-${process.pid}-${label}-${counter}`;
}

function spec(overrides: Partial<VmSpecInput> & { name: string }): VmSpecInput {
  return { cpu: { count: 1 }, memory: { sizeMiB: 64 }, ...overrides };
}

async function listNamed(
  provider: Provider,
  query: Parameters<Provider['list']>[0],
): Promise<Vm[]> {
  const found: Vm[] = [];
  for await (const vm of provider.list(query)) found.push(vm);
  return found;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- private beds ---------------------------------------------------------------------------

describe('an idle session that expires mid-run (vcsim -idle)', () => {
  // vcsim checks a session once per idle period and drops it when it was idle for longer than
  // that, so a session idle for two periods (plus slack for a loaded machine) is certainly gone,
  // while one step's requests never leave it idle for a whole period.
  const IDLE_SECONDS = 1.5;
  const PAST_EXPIRY_MS = 3_300;
  let bed: VcsimBed;

  beforeAll(async () => {
    bed = await startVcsim({ idleSeconds: IDLE_SECONDS });
  }, 120_000);
  afterAll(async () => bed?.stop());

  // vcsim answers a call on an expired session with a NotAuthenticated fault, except a property
  // read: RetrievePropertiesEx answers HTTP 200 with a NotAuthenticated missingSet entry per
  // property. Both must lead to one new Login, not to a failure or an empty read.
  it('costs no failed operation: get, list, power on, reconfigure and delete each log in again once', async () => {
    const { logger, lines } = recordingLogger();
    const provider = createVsphereProvider({ ...pinnedSettings(bed.ready), logger });
    const name = uniqueName('idle');
    const vm = await provider.create(spec({ name })).wait();
    expect(relogins(lines)).toBe(0);
    expect(loginRequests(lines)).toBe(1);

    const steps: [string, () => Promise<unknown>][] = [
      ['get', async () => expect((await provider.get(vm)).name).toBe(name)],
      ['list', async () => expect(await listNamed(provider, { name })).toHaveLength(1)],
      [
        'powerOn',
        async () => {
          await provider.powerOn(vm).wait();
          expect((await provider.get(vm)).powerState).toBe('on');
        },
      ],
      [
        'reconfigure',
        async () =>
          expect(
            (await provider.reconfigure(vm, { description: 'after expiry' }).wait()).vm.description,
          ).toBe('after expiry'),
      ],
      ['delete', () => provider.delete(vm).wait()],
    ];
    const loginsPerStep: Record<string, number> = {};
    for (const [step, run] of steps) {
      await sleep(PAST_EXPIRY_MS);
      const before = loginRequests(lines);
      await run();
      loginsPerStep[step] = loginRequests(lines) - before;
    }
    // Each step found its session expired, logged in again and succeeded. Normally once; a step
    // slowed past the idle time by a loaded machine may expire (and recover) a second time,
    // which costs nothing either, so the count is bounded rather than exact.
    for (const [step] of steps) {
      expect(loginsPerStep[step], step).toBeGreaterThanOrEqual(1);
      expect(loginsPerStep[step], step).toBeLessThanOrEqual(2);
    }
    // Every Login after expiry was caused by a request that found its session gone. Two requests
    // of one step in flight together may both find it (two log lines) and share one single-flight
    // Login, so there are at least as many detections as logins.
    expect(relogins(lines)).toBeGreaterThanOrEqual(
      Object.values(loginsPerStep).reduce((sum, count) => sum + count, 0),
    );
    expect(await listNamed(provider, { name })).toEqual([]);
    await provider.close();
  }, 40_000);
});

describe('vcsim killed, restarted, and connections lost on the way (private bed)', () => {
  let bed: VcsimBed;
  let proxy: FaultProxy;
  let direct: Provider;

  beforeAll(async () => {
    bed = await startVcsim();
    proxy = await startFaultProxy(bed.ready);
    direct = createVsphereProvider(pinnedSettings(bed.ready));
  }, 120_000);
  afterAll(async () => {
    await direct?.close();
    await proxy?.close();
    await bed?.stop();
  });

  function viaProxy(timeoutMs?: number): Provider {
    return createVsphereProvider({
      name: 'faults', // the same instance name as `direct`, so its VM refs apply here
      url: proxy.url,
      username: bed.ready.username,
      password: bed.ready.password,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  }

  it.each([
    ['vcsim applied it and the answer was lost', 'drop-response', 'on'],
    ['the connection closed before vcsim saw it', 'drop-request', 'off'],
  ] as const)(
    'a PowerOnVM_Task whose connection closes without an answer (%s) is a non-retryable TransportError with an unknown outcome, sent once',
    async (_title, mode, actual) => {
      const provider = viaProxy();
      const vm = await direct.create(spec({ name: uniqueName('lost') })).wait();
      try {
        proxy.fail({ method: 'PowerOnVM_Task', mode });
        const from = proxy.methods.length;
        const started = Date.now();
        const error = await rejection(provider.powerOn(vm).wait());
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(TransportError.isInstance(error), explain(error)).toBe(true);
        const transport = error as TransportError;
        expect(transport.retryable).toBe(false);
        expect(transport.details).toMatchObject({ method: 'PowerOnVM_Task', outcome: 'unknown' });
        expect(transport.message).toContain('may or may not have been applied');
        expect(proxy.count('PowerOnVM_Task', from)).toBe(1);
        // "unknown" was the honest answer: the VM is on in one case and off in the other.
        expect((await direct.get(vm)).powerState).toBe(actual);
        expectNoSecret(error, bed.ready.password);
      } finally {
        proxy.clear();
        if ((await direct.get(vm)).powerState === 'on') await direct.powerOff(vm).wait();
        await direct.delete(vm).wait();
        await provider.close();
      }
    },
  );

  it.each([
    ['the connection closes before any answer', 'drop-request'],
    ['the answer is cut off halfway through its body', 'truncate-response'],
  ] as const)(
    'a read where %s is a retryable TransportError, not a parse error',
    async (_title, mode) => {
      const provider = viaProxy();
      const vm = (await listNamed(direct, { template: false }))[0];
      if (!vm) throw new Error('the bed has no VM');
      await provider.get(vm); // session and service content first, so the next call is the read
      try {
        proxy.fail({ method: 'RetrievePropertiesEx', mode });
        const from = proxy.methods.length;
        const error = await rejection(provider.get(vm));
        expect(TransportError.isInstance(error), explain(error)).toBe(true);
        const transport = error as TransportError;
        expect(transport.retryable).toBe(true);
        expect(transport.details).toMatchObject({
          method: 'RetrievePropertiesEx',
          outcome: 'not-applied',
        });
        expect(proxy.count('RetrievePropertiesEx', from)).toBeGreaterThanOrEqual(1);
        proxy.clear();
        expect((await provider.get(vm)).ref).toEqual(vm.ref);
      } finally {
        proxy.clear();
        await provider.close();
      }
    },
  );

  it('a server that never answers fails after timeoutMs: a read is retryable, a mutation says its outcome is unknown', async () => {
    const provider = viaProxy(500);
    const vm = await direct.create(spec({ name: uniqueName('hang') })).wait();
    try {
      await provider.get(vm);

      proxy.fail({ method: 'RetrievePropertiesEx', mode: 'hang' });
      let started = Date.now();
      const read = await rejection(provider.get(vm));
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(TransportError.isInstance(read), explain(read)).toBe(true);
      expect((read as TransportError).retryable).toBe(true);
      expect((read as TransportError).details).toMatchObject({
        method: 'RetrievePropertiesEx',
        timeoutMs: 500,
        outcome: 'not-applied',
      });
      proxy.clear();

      proxy.fail({ method: 'PowerOnVM_Task', mode: 'hang' });
      started = Date.now();
      const write = await rejection(provider.powerOn(vm).wait());
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(TransportError.isInstance(write), explain(write)).toBe(true);
      expect((write as TransportError).retryable).toBe(false);
      expect((write as TransportError).details).toMatchObject({
        method: 'PowerOnVM_Task',
        timeoutMs: 500,
        outcome: 'unknown',
      });
      expect((await direct.get(vm)).powerState).toBe('off');
    } finally {
      proxy.clear();
      await direct.delete(vm).wait();
      await provider.close();
    }
  });

  it('a request that makes vcsim panic (a disk edit without deviceInfo) ends in a TransportError with an unknown outcome, not a hang', async () => {
    const client = new VimClient({
      url: bed.ready.url,
      username: bed.ready.username,
      password: bed.ready.password,
      dispatcher: createVsphereDispatcher({ fingerprint256: bed.ready.fingerprint256 }),
      provider: 'faults',
      timeoutMs: 10_000,
    });
    const vm = await direct
      .create(spec({ name: uniqueName('panic'), disks: [{ sizeGiB: 1 }] }))
      .wait();
    try {
      const moref = { type: 'VirtualMachine', value: vm.ref.id };
      let devices: Record<string, unknown>[] = [];
      for await (const content of client.retrieve([
        {
          $type: 'PropertyFilterSpec',
          propSet: [
            { $type: 'PropertySpec', type: 'VirtualMachine', pathSet: ['config.hardware.device'] },
          ],
          objectSet: [{ $type: 'ObjectSpec', obj: moref }],
        },
      ])) {
        devices = content.properties['config.hardware.device'] as Record<string, unknown>[];
      }
      const disk = devices.find((device) => device.$type === 'VirtualDisk');
      if (!disk) throw new Error('the VM has no disk');
      const backing = disk.backing as Record<string, unknown>;
      const edit = {
        $type: 'VirtualMachineConfigSpec',
        deviceChange: [
          {
            $type: 'VirtualDeviceConfigSpec',
            operation: 'edit',
            device: {
              $type: 'VirtualDisk',
              key: disk.key as number,
              backing: {
                $type: 'VirtualDiskFlatVer2BackingInfo',
                fileName: backing.fileName as string,
                diskMode: 'persistent',
              },
              controllerKey: disk.controllerKey as number,
              unitNumber: disk.unitNumber as number,
              capacityInKB: 2 * 1024 * 1024,
            },
          },
        ],
      };
      const started = Date.now();
      const error = await rejection(
        client.call('ReconfigVM_Task', moref, [['spec', edit, 'VirtualMachineConfigSpec']]),
      );
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(TransportError.isInstance(error), explain(error)).toBe(true);
      expect((error as TransportError).retryable).toBe(false);
      expect((error as TransportError).details).toMatchObject({
        method: 'ReconfigVM_Task',
        outcome: 'unknown',
      });
      // vcsim recovered from the panic: the same client goes on working.
      expect(
        await client.call('CurrentTime', { type: 'ServiceInstance', value: 'ServiceInstance' }),
      ).toHaveLength(1);
    } finally {
      await client.close();
      await direct.delete(vm).wait();
    }
  });

  // After a restart the old cookie is unknown: the same answers as for an expired session.
  it('killed: the next call is a TransportError saying the request was not sent, without hanging; restarted: the next call succeeds on a new session', async () => {
    const { logger, lines } = recordingLogger();
    const provider = createVsphereProvider({ ...pinnedSettings(bed.ready), logger });
    const vm = (await listNamed(provider, { template: false }))[0];
    if (!vm) throw new Error('the bed has no VM');
    expect((await provider.get(vm)).ref).toEqual(vm.ref);

    await bed.kill();
    for (const call of [() => provider.get(vm), () => provider.powerOn(vm).wait()]) {
      const started = Date.now();
      const error = await rejection(call());
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(TransportError.isInstance(error), explain(error)).toBe(true);
      const transport = error as TransportError;
      expect(transport.retryable).toBe(true);
      expect(transport.details).toMatchObject({ outcome: 'not-sent', code: 'ECONNREFUSED' });
      expect(transport.message).toContain('not sent');
      expectNoSecret(error, bed.ready.password);
    }

    await bed.restart();
    const loginsBefore = loginRequests(lines);
    const again = await provider.get(vm);
    expect(again.ref).toEqual(vm.ref);
    expect(again.name).toBe(vm.name);
    // The old cookie means nothing to the new process: NotAuthenticated, then one new Login.
    expect(relogins(lines)).toBe(1);
    expect(loginRequests(lines) - loginsBefore).toBe(1);
    await provider.close();
  }, 60_000);
});

// ---- the shared bed -------------------------------------------------------------------------

describe.skipIf(!vcsim)('bad input and TLS on the shared bed', () => {
  const ready = vcsim as VcsimReady;
  let provider: Provider;
  let requests: ReturnType<typeof countHttpRequests>;

  beforeAll(() => {
    requests = countHttpRequests(ready.url);
    provider = createVsphereProvider({
      ...pinnedSettings(ready),
      tls: { ca: ready.certificatePem },
    });
  });
  afterAll(async () => provider?.close());

  // No '/' in names: vcsim 0.24 panics on a CreateVM_Task whose name holds one, and every later
  // FindChild in that folder panics too, which would break the shared bed for other files.
  const NAME_TEXTS = [
    `<b>&amp; 'single' "double"`,
    'café Ωmega 日本語 😀 ok',
    ']]> <!-- x --> &#65; %41 \\ back',
    'inner\u00a0nbsp and  two  spaces',
  ];
  const DESCRIPTIONS = [
    `  <p>&nbsp;</p> 'single' "double" `,
    '\tcafé\r\n日本語\n😀\u00a0',
    ']]><![CDATA[ x ]]> &lt; &#0; \\',
  ];
  const TAG_VALUES = [`<v>&'"`, ' é 日本 😀 ', ']]>&#13;\\'];

  it('names, annotations and tags with markup and non-ASCII round-trip exactly through create, get and list', async () => {
    for (const [index, text] of NAME_TEXTS.entries()) {
      const name = `${uniqueName('rt')} ${text}`;
      const description = DESCRIPTIONS[index % DESCRIPTIONS.length] ?? '';
      const tags = {
        'faults.value': TAG_VALUES[index % TAG_VALUES.length] ?? '',
        'faults/key:2': text,
      };
      const vm = await provider.create(spec({ name, description, tags })).wait();
      try {
        expect({ name: vm.name, description: vm.description, tags: vm.tags }).toEqual({
          name,
          description,
          tags,
        });
        const got = await provider.get(vm);
        expect({ name: got.name, description: got.description, tags: got.tags }).toEqual({
          name,
          description,
          tags,
        });
        const byName = await listNamed(provider, { name });
        expect(byName.map((item) => item.name)).toEqual([name]);
        const byTags = await listNamed(provider, { name, tags });
        expect(byTags.map((item) => item.tags)).toEqual([tags]);
      } finally {
        await provider.delete(vm).wait();
      }
    }
  }, 60_000);

  it('a rename and re-annotation with such text reads back exactly, twice (vcsim extraConfig is append-only)', async () => {
    const vm = await provider
      .create(spec({ name: uniqueName('re'), tags: { 'faults.a': 'first' } }))
      .wait();
    try {
      for (const [index, text] of NAME_TEXTS.slice(0, 2).entries()) {
        const name = `${uniqueName('re')} ${text}`;
        const description = DESCRIPTIONS[index] ?? '';
        const tags = { 'faults.a': TAG_VALUES[index] ?? '', 'faults.b': text };
        const result = await provider.reconfigure(vm, { name, description, tags }).wait();
        expect(result.vm.name).toBe(name);
        const got = await provider.get(vm);
        expect({ name: got.name, description: got.description, tags: got.tags }).toEqual({
          name,
          description,
          tags,
        });
        expect((await listNamed(provider, { name, tags })).map((item) => item.ref)).toEqual([
          vm.ref,
        ]);
      }
    } finally {
      await provider.delete(vm).wait();
    }
  }, 30_000);

  it('any mix of markup, quotes, white space and non-ASCII round-trips (property, real creates)', async () => {
    const piece = fc.constantFrom(
      '<',
      '>',
      '&',
      "'",
      '"',
      ' ',
      'a',
      'Z',
      '0',
      'é',
      '日本',
      '😀',
      '\u00a0',
      ']]>',
      '&amp;',
      '\\',
      '%',
    );
    const text = fc.array(piece, { minLength: 1, maxLength: 10 }).map((parts) => parts.join(''));
    const free = fc
      .array(fc.oneof(piece, fc.constantFrom('\n', '\t', '\r\n')), { maxLength: 16 })
      .map((parts) => parts.join(''));
    await fc.assert(
      fc.asyncProperty(text, free, text, async (nameText, description, tagValue) => {
        const name = `${uniqueName('prop')}-${nameText}.`;
        const tags = { 'faults.prop': tagValue };
        const vm = await provider.create(spec({ name, description, tags })).wait();
        try {
          const got = await provider.get(vm);
          expect({ name: got.name, description: got.description ?? '', tags: got.tags }).toEqual({
            name,
            description,
            tags,
          });
          const listed = await listNamed(provider, { name, tags });
          expect(listed.map((item) => [item.name, item.tags])).toEqual([[name, tags]]);
        } finally {
          await provider.delete(vm).wait();
        }
      }),
      { numRuns: 25 },
    );
  }, 60_000);

  it.each<[string, string, Partial<VmSpecInput>]>([
    ['a C0 control character in the description', 'description', { description: 'bell \u0007' }],
    ['U+FFFF in the description', 'description', { description: 'not a character \uFFFF' }],
    ['a lone surrogate in the name', 'name', { name: 'lone \uD800 surrogate' }],
    ['U+FFFE in a tag value', 'tags', { tags: { 'faults.bad': 'not a character \uFFFE' } }],
  ])(
    '%s is an InvalidSpecError naming the field, before any request',
    async (_title, field, overrides) => {
      const name = uniqueName('xml');
      // A new provider: nothing resolved or cached yet, so any lookup before the check shows.
      const cold = createVsphereProvider({
        ...pinnedSettings(ready),
        tls: { ca: ready.certificatePem },
      });
      const before = requests.count;
      const error = await rejection(cold.create(spec({ name, ...overrides })).wait());
      const sent = requests.paths.slice(before);
      await cold.close();
      expect(InvalidSpecError.isInstance(error), explain(error)).toBe(true);
      const paths = (error as InvalidSpecError).issues.map((issue) => issue.path);
      expect(paths.filter((path) => path === field || path.startsWith(`${field}.`))).not.toEqual(
        [],
      );
      expect(sent).toEqual([]);
      expect(await listNamed(provider, { namePrefix: name })).toEqual([]);
    },
  );

  describe('TLS', () => {
    function tlsProvider(tls: VsphereProviderSettings['tls'], logger?: Logger): Provider {
      return createVsphereProvider({ ...pinnedSettings(ready), tls, logger });
    }

    it('the bed certificate pinned by SHA-256 fingerprint (any notation) and given as a CA are trusted', async () => {
      const fingerprint = ready.fingerprint256 ?? '';
      for (const tls of [
        { fingerprint256: fingerprint },
        { fingerprint256: fingerprint.replace(/:/g, '').toLowerCase() },
        { ca: ready.certificatePem },
        { ca: ready.certificatePem, fingerprint256: fingerprint },
      ]) {
        const pinned = tlsProvider(tls);
        expect((await pinned.listPage({ limit: 1 })).items).toHaveLength(1);
        await pinned.close();
      }
    });

    it('a wrong pin is refused: a non-retryable TransportError naming the expected and actual fingerprints', async () => {
      const wrong = Array.from({ length: 32 }, () => 'AB').join(':');
      const pinned = tlsProvider({ fingerprint256: wrong });
      const error = await rejection(pinned.listPage({ limit: 1 }));
      expect(TransportError.isInstance(error), explain(error)).toBe(true);
      const transport = error as TransportError;
      expect(transport.retryable).toBe(false);
      expect(transport.message).toContain(wrong);
      expect(transport.message).toContain(ready.fingerprint256);
      expect(transport.details).toMatchObject({
        expectedFingerprint256: wrong,
        actualFingerprint256: ready.fingerprint256,
      });
      expectNoSecret(error, ready.password);
      await pinned.close();
    });

    it('without tls options (system CAs) the self-signed bed is refused, and the error says how to trust it', async () => {
      const system = tlsProvider(undefined);
      const error = await rejection(system.listPage({ limit: 1 }));
      expect(TransportError.isInstance(error), explain(error)).toBe(true);
      const transport = error as TransportError;
      expect(transport.retryable).toBe(false);
      expect(transport.message).toMatch(/TLS certificate not trusted/);
      expect(transport.message).toContain('tls.ca');
      expect(transport.message).toContain('tls.fingerprint256');
      expectNoSecret(error, ready.password);
      await system.close();
    });

    it('a CA that did not sign the bed certificate is refused the same way', async () => {
      // A certificate the bed did not sign: the readiness file's own, with its body altered,
      // would not parse, so use a well-known public root instead.
      const { rootCertificates } = await import('node:tls');
      const other = tlsProvider({ ca: rootCertificates[0] });
      const error = await rejection(other.listPage({ limit: 1 }));
      expect(TransportError.isInstance(error), explain(error)).toBe(true);
      expect((error as TransportError).retryable).toBe(false);
      expect((error as TransportError).message).toContain('tls.fingerprint256');
      await other.close();
    });

    it('insecure: true works only when asked and logs exactly one warning', async () => {
      const { logger, lines } = recordingLogger();
      const insecure = tlsProvider({ insecure: true }, logger);
      expect((await insecure.listPage({ limit: 1 })).items).toHaveLength(1);
      expect((await insecure.listPage({ limit: 1 })).items).toHaveLength(1);
      const warnings = lines.filter((line) => line.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.message).toMatch(/TLS certificate verification is disabled/);
      await insecure.close();
    });

    it.each<[string, string, VsphereProviderSettings['tls']]>([
      ['insecure with a CA', 'tls.insecure', { insecure: true, ca: 'PEM' }],
      ['insecure with a pin', 'tls.insecure', { insecure: true, fingerprint256: 'AB'.repeat(32) }],
      ['a malformed pin', 'tls.fingerprint256', { fingerprint256: 'AB:CD' }],
    ])('%s is an InvalidSpecError naming %s, before any request', (_title, path, tls) => {
      const before = requests.count;
      let thrown: unknown;
      try {
        tlsProvider(tls);
      } catch (error) {
        thrown = error;
      }
      expect(InvalidSpecError.isInstance(thrown), explain(thrown)).toBe(true);
      expect((thrown as InvalidSpecError).issues.map((issue) => issue.path)).toContain(path);
      expect(requests.count).toBe(before);
    });

    it('a wrong password is an AuthenticationError that never shows the password', async () => {
      const password = `Wr0ng<&>"pässwörd-${process.pid}`;
      const wrong = createVsphereProvider({ ...pinnedSettings(ready), password });
      const error = await rejection(wrong.listPage({ limit: 1 }));
      expect(AuthenticationError.isInstance(error), explain(error)).toBe(true);
      expectNoSecret(error, password);
      expectNoSecret(error, 'pässwörd');
      await wrong.close();
    });
  });
});

// ---- settings -------------------------------------------------------------------------------

describe('malformed settings', () => {
  const base = {
    url: 'https://vcenter.invalid/sdk',
    username: 'administrator@vsphere.local',
    password: 'S3cret-settings!',
  };

  it.each<[string, string, Partial<VsphereProviderSettings>]>([
    ['a URL that does not parse', 'url', { url: 'vcenter.invalid/sdk' }],
    ['a URL that is not http(s)', 'url', { url: 'ftp://vcenter.invalid/sdk' }],
    [
      'a URL carrying credentials',
      'url',
      { url: 'https://root:S3cret-settings!@vcenter.invalid/sdk' },
    ],
    ['an empty username', 'username', { username: '' }],
    ['an empty password', 'password', { password: '' }],
  ])('%s is an InvalidSpecError naming %s, thrown before any I/O', (_title, path, overrides) => {
    const requests = countHttpRequests('https://vcenter.invalid');
    let thrown: unknown;
    try {
      createVsphereProvider({ ...base, ...overrides });
    } catch (error) {
      thrown = error;
    }
    expect(InvalidSpecError.isInstance(thrown), explain(thrown)).toBe(true);
    expect((thrown as InvalidSpecError).issues.map((issue) => issue.path)).toEqual([path]);
    expectNoSecret(thrown, 'S3cret-settings!');
    expect(requests.count).toBe(0);
  });
});
