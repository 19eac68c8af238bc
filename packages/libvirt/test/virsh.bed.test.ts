// The virsh wire layer against the real libvirt test bed (libvirtd 9.0 + QEMU behind OpenSSH):
// round trips, quoting through the real virsh, error mapping of real failures, a streamed
// `event --loop` ended on abort with nothing left on the host, and the 200-domain measurement.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  ConflictError,
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  TransportError,
} from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Virsh } from '../src/virsh/virsh.js';
import { parseDomInfo, parseNameList, parseVersion } from '../src/virsh/virsh-parse.js';
import { connectToBed, requireLibvirtBed } from './libvirt-bed.js';

const bed = requireLibvirtBed();
// Unique per run: other workers and runs share the bed.
const runId = randomBytes(4).toString('hex');
const prefix = `hvkit-lv1-${runId}`;

// Any text virsh can receive (no NUL), with virsh's and the shell's special characters frequent.
const anyText = fc
  .string({
    unit: fc.oneof(
      fc.constantFrom(' ', '\t', '\n', '\r', "'", '"', '\\', ';', '#', '$', '`', '\u001b', '*'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    ),
    maxLength: 30,
  })
  .filter((value) => !value.includes('\0'));

function tinyDomainXml(name: string): string {
  return `<domain type='qemu'><name>${name}</name><memory unit='MiB'>16</memory><os><type arch='x86_64'>hvm</type></os></domain>`;
}

describe.skipIf(!bed)('Virsh against the libvirt bed', () => {
  let ssh: SshConnection;
  let virsh: Virsh;

  beforeAll(async () => {
    if (!bed) return;
    ssh = connectToBed(bed);
    virsh = new Virsh(ssh, { uri: bed.libvirtUri });
    await ssh.connect();
  });

  afterAll(async () => {
    if (!bed) return;
    // Whatever a failed test left behind.
    const names = parseNameList(await virsh.run(['list', '--all', '--name']));
    const ours = names.filter((name) => name.startsWith(prefix));
    if (ours.length > 0) await virsh.runMany(ours.map((name) => ['undefine', '--', name]));
    await ssh.close();
  });

  it('run: one command, parsed output matching the bed', async () => {
    if (!bed) return;
    const version = parseVersion(await virsh.run(['version']));
    expect(version.library).toBe(bed.versions.libvirt);
    expect(version.hypervisor).toEqual({ name: 'QEMU', version: bed.versions.qemu });
  });

  it('run: any argument (control characters too) reaches virsh as one argv element', async () => {
    // virsh -q `echo` prints its arguments joined by spaces, with no newline.
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', maxLength: 40 }).filter((value) => !value.includes('\0')),
        async (value) => {
          expect(await virsh.run(['echo', '--', value])).toBe(value);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('run: a failure is mapped from virsh’s real text', async () => {
    if (!bed) return;
    const missing = `${prefix}-missing`;
    const error = await virsh.run(['dominfo', '--', missing]).catch((caught: unknown) => caught);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).resource).toBe('vm');
    expect((error as NotFoundError).id).toBe(missing);
  });

  it('runMany: quoted arguments round-trip through the real virsh tokenizer', async () => {
    const values = fc.sample(anyText, { numRuns: 300, seed: 42 });
    // Hand-picked edges next to the random ones.
    values.push('', ' ', "'", '"', '\\', '\\\\', ';', '#', '# x', 'a;b', '$(touch x)', '`id`');
    values.push('--all', '-x', 'é€😀', 'it\'s "quoted" \\ here', '   three   spaces   ');
    values.push('a\nb', 'tab\there', '\\\n', "'\n'", 'x\u0001\u001f\u007fy', 'end\\');
    const results = await virsh.runMany(values.map((value) => ['echo', '--', value]));
    expect(results).toHaveLength(values.length);
    results.forEach((result, index) => {
      expect(result).toEqual({ ok: true, stdout: values[index] });
    });
  });

  it('runMany: random batches of random arguments round-trip (fast-check, real virsh)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(anyText, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }),
        async (batch) => {
          const results = await virsh.runMany(batch.map((args) => ['echo', '--', ...args]));
          expect(results.map((result) => result.ok && result.stdout)).toEqual(
            batch.map((args) => args.join(' ')),
          );
        },
      ),
      { numRuns: 25 },
    );
  });

  it('runMany: refuses NUL before sending anything', async () => {
    await expect(virsh.runMany([['echo', 'a\0b']])).rejects.toSatisfy((error: unknown) =>
      InvalidSpecError.isInstance(error),
    );
  });

  it('runMany: a batch over 100 KB is split into several virsh processes, results in order', async () => {
    // 60 commands of ~3 KB each: at least two batches.
    const values = Array.from({ length: 60 }, (_, index) => `${index}:${"'x".repeat(1500)}`);
    const results = await virsh.runMany(values.map((value) => ['echo', '--', value]));
    expect(results.map((result) => result.ok && result.stdout)).toEqual(values);
  });

  it('runMany: a command virsh cannot parse fails its batch without running any of it', async () => {
    if (!bed) return;
    const name = `${prefix}-parse`;
    const results = await virsh.runMany([
      ['define', '/dev/null'],
      ['dominfo', '--no-such-option', name],
      ['echo', 'never'],
    ]);
    expect(results).toHaveLength(3);
    for (const result of results) {
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(ProviderApiError.isInstance(result.error)).toBe(true);
        expect(result.error.message).toContain(
          "command 'dominfo' doesn't support option --no-such-option",
        );
      }
    }
  });

  it('runMany: errors stay with their command, the others succeed', async () => {
    if (!bed) return;
    const results = await virsh.runMany([
      ['dominfo', '--', `${prefix}-nope1`],
      ['nodeinfo'],
      ['pool-info', '--', `${prefix}-nopool`],
      ['start', '--', `${prefix}-nope2`],
      ['net-info', '--', bed.network],
    ]);
    const [first, second, third, fourth, fifth] = results;
    expect(first?.ok).toBe(false);
    if (first && !first.ok) {
      expect(NotFoundError.isInstance(first.error)).toBe(true);
      expect((first.error as NotFoundError).id).toBe(`${prefix}-nope1`);
    }
    expect(second?.ok && second.stdout).toMatch(/^CPU model: /);
    expect(third?.ok === false && (third.error as NotFoundError).resource).toBe('storage');
    expect(fourth?.ok === false && (fourth.error as NotFoundError).id).toBe(`${prefix}-nope2`);
    expect(fifth?.ok && fifth.stdout).toContain(`Name:           ${bed.network}`);
  });

  it('runMany: a state conflict from the real daemon', async () => {
    if (!bed) return;
    const name = `${prefix}-conflict`;
    try {
      await virsh.run(['define', '/dev/stdin'], { stdin: tinyDomainXml(name) });
      const [destroy, state] = await virsh.runMany([
        ['destroy', '--', name],
        ['domstate', '--reason', '--', name],
      ]);
      expect(destroy?.ok === false && ConflictError.isInstance(destroy.error)).toBe(true);
      expect(destroy?.ok === false && (destroy.error as ConflictError).reason).toBe(
        'invalid-power-state',
      );
      expect(state?.ok && state.stdout).toBe('shut off (unknown)\n');
      const again = await virsh
        .run(['define', '/dev/stdin'], { stdin: tinyDomainXml(name) })
        .catch((caught: unknown) => caught);
      // Same name, no <uuid>: libvirt refuses (`already exists with uuid …`).
      expect(ConflictError.isInstance(again)).toBe(true);
      expect((again as ConflictError).reason).toBe('already-exists');
    } finally {
      await virsh.run(['undefine', '--', name]).catch(() => undefined);
    }
  });

  it('runMany: an unreachable libvirtd fails every command as a not-sent TransportError', async () => {
    const broken = new Virsh(ssh, { uri: 'qemu+unix:///system?socket=/nonexistent/hvkit' });
    const results = await broken.runMany([['version'], ['nodeinfo']]);
    expect(results).toHaveLength(2);
    for (const result of results) {
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(TransportError.isInstance(result.error)).toBe(true);
        expect(result.error.details).toMatchObject({ outcome: 'not-sent' });
        expect(result.error.retryable).toBe(true);
      }
    }
    const single = await broken.run(['version']).catch((caught: unknown) => caught);
    expect(TransportError.isInstance(single)).toBe(true);
  });

  it('spawn: `event --loop` streams events and ends on abort with no virsh left on the host', async () => {
    if (!bed) return;
    // A unique --timeout value marks our process for pgrep among other workers' virsh processes.
    const mark = String(900_000 + Math.floor(Math.random() * 90_000));
    const controller = new AbortController();
    const events = await virsh.spawn(['event', '--loop', '--all', '--timeout', mark], {
      signal: controller.signal,
    });
    let received = '';
    events.stdout.setEncoding('utf8');
    events.stdout.on('data', (chunk: string) => {
      received += chunk;
    });
    const pgrep = async () =>
      (
        await ssh.exec([
          'pgrep',
          '-u',
          bed.username,
          '-f',
          `virsh .*event --loop --all --timeout ${mark}`,
        ])
      ).stdout
        .toString()
        .trim();
    // Wait until the remote virsh runs and is subscribed, then cause an event.
    const started = performance.now();
    while ((await pgrep()) === '' && performance.now() - started < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await pgrep()).not.toBe('');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const name = `${prefix}-events`;
    await virsh.run(['define', '/dev/stdin'], { stdin: tinyDomainXml(name) });
    await virsh.run(['undefine', '--', name]);
    const waitFor = performance.now();
    while (!received.includes(`'${name}': Undefined`) && performance.now() - waitFor < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(received).toContain(`event 'lifecycle' for domain '${name}': Defined`);
    expect(received).toContain(`event 'lifecycle' for domain '${name}': Undefined`);

    controller.abort();
    // The SSH layer settles `exit` with the abort reason; stdout has simply ended.
    await expect(events.exit).rejects.toMatchObject({ name: 'AbortError' });
    expect(events.stdout.readableEnded || events.stdout.destroyed).toBe(true);
    // The remote virsh is gone (OpenSSH delivered SIGTERM to the session), not orphaned.
    const gone = performance.now();
    while ((await pgrep()) !== '' && performance.now() - gone < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await pgrep()).toBe('');
  });

  it('run + spawn: vol-upload from stdin and a streamed vol-download are byte-exact (virsh -q)', async () => {
    if (!bed) return;
    const volume = `${prefix}-bytes.raw`;
    // Not a multiple of 512 and ending in a newline: without -q, vol-download to /dev/stdout
    // adds one `\n` at the end (libvirt.md §3).
    const data = Buffer.concat([randomBytes(1024 * 1024 + 333), Buffer.from('\n')]);
    await virsh.run([
      'vol-create-as',
      '--pool',
      bed.pool,
      '--name',
      volume,
      '--capacity',
      String(data.length),
      '--format',
      'raw',
    ]);
    try {
      await virsh.run(['vol-upload', '--pool', bed.pool, '--vol', volume, '--file', '/dev/stdin'], {
        stdin: data,
      });
      const download = await virsh.spawn([
        'vol-download',
        '--pool',
        bed.pool,
        '--vol',
        volume,
        '--file',
        '/dev/stdout',
      ]);
      const chunks: Buffer[] = [];
      for await (const chunk of download.stdout) chunks.push(chunk);
      const exit = await download.exit;
      expect(exit.code).toBe(0);
      const received = Buffer.concat(chunks);
      expect(received.length).toBe(data.length);
      expect(received.equals(data)).toBe(true);
    } finally {
      await virsh.run(['vol-delete', '--pool', bed.pool, '--vol', volume]);
    }
  });

  it('measures: runMany(200 × dominfo) in one virsh vs one `list --all` (printed, not asserted)', async () => {
    if (!bed) return;
    const count = 200;
    const names = Array.from(
      { length: count },
      (_, index) => `${prefix}-m${String(index).padStart(3, '0')}`,
    );
    const dir = (await ssh.exec(['mktemp', '-d'])).stdout.toString().trim();
    try {
      // The XML files are written on the host by one shell loop (names passed as arguments).
      const script =
        'dir=$1; shift; for n in "$@"; do printf "<domain type=\'qemu\'><name>%s</name><memory unit=\'MiB\'>16</memory><os><type arch=\'x86_64\'>hvm</type></os></domain>" "$n" > "$dir/$n.xml"; done';
      const written = await ssh.exec(['sh', '-c', script, 'sh', dir, ...names]);
      expect(written.code).toBe(0);
      let started = performance.now();
      const defined = await virsh.runMany(
        names.map((name) => ['define', '--file', `${dir}/${name}.xml`]),
      );
      const defineMs = performance.now() - started;
      expect(defined.filter((result) => !result.ok)).toEqual([]);

      const timings = {
        list: [] as number[],
        many: [] as number[],
        domstats: [] as number[],
        rawBatch: [] as number[],
        manyDomstate: [] as number[],
        manyDumpxml: [] as number[],
      };
      for (let round = 0; round < 5; round++) {
        started = performance.now();
        const listed = await virsh.run(['list', '--all']);
        timings.list.push(performance.now() - started);
        expect(listed.split('\n').filter((line) => line.includes(prefix))).toHaveLength(count);

        started = performance.now();
        const infos = await virsh.runMany(names.map((name) => ['dominfo', '--', name]));
        timings.many.push(performance.now() - started);
        expect(infos.map((result) => result.ok && parseDomInfo(result.stdout).name)).toEqual(names);

        started = performance.now();
        await virsh.run(['domstats', '--list-inactive', '--state']);
        timings.domstats.push(performance.now() - started);

        // The same 200 dominfo as one plain command string without markers: what markers cost.
        started = performance.now();
        await virsh.run([names.map((name) => `dominfo ${name}`).join('; ')]);
        timings.rawBatch.push(performance.now() - started);

        started = performance.now();
        await virsh.runMany(names.map((name) => ['domstate', '--', name]));
        timings.manyDomstate.push(performance.now() - started);

        started = performance.now();
        await virsh.runMany(names.map((name) => ['dumpxml', '--', name]));
        timings.manyDumpxml.push(performance.now() - started);
      }
      const median = (values: number[]) =>
        [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
      const report = {
        domains: count,
        defineAllInOneVirshMs: Math.round(defineMs),
        listAllMedianMs: Math.round(median(timings.list)),
        runMany200DominfoMedianMs: Math.round(median(timings.many)),
        domstatsInactiveStateMedianMs: Math.round(median(timings.domstats)),
        rawBatch200DominfoNoMarkersMedianMs: Math.round(median(timings.rawBatch)),
        runMany200DomstateMedianMs: Math.round(median(timings.manyDomstate)),
        runMany200DumpxmlMedianMs: Math.round(median(timings.manyDumpxml)),
        ratioManyToList: Number((median(timings.many) / median(timings.list)).toFixed(2)),
      };
      console.log(`\nlibvirt virsh measurement: ${JSON.stringify(report)}\n`);
      expect(report.runMany200DominfoMedianMs).toBeGreaterThan(0);
    } finally {
      const undefined_ = await virsh.runMany(names.map((name) => ['undefine', '--', name]));
      await ssh.exec(['rm', '-rf', dir]);
      expect(
        undefined_.filter((result) => !result.ok && !NotFoundError.isInstance(result.error)),
      ).toEqual([]);
    }
  }, 180_000);

  it('keeps ProviderApiError for texts it does not know', async () => {
    const [result] = await virsh.runMany([['hvkit-lv1-not-a-command']]);
    expect(result?.ok === false && ProviderApiError.isInstance(result.error)).toBe(true);
  });
});
