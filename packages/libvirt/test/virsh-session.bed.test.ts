// Long-lived interactive virsh sessions (src/virsh/virsh-session.ts) against the real bed:
// the same answers as a virsh process per call, reuse, what falls back to a process, a session
// killed on the host, an abort, and the per-call cost (printed, not asserted).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { NotFoundError, ProviderApiError } from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Virsh, type VirshCommandResult } from '../src/virsh/virsh.js';
import { parseNameList } from '../src/virsh/virsh-parse.js';
import { connectToBed, requireLibvirtBed } from './libvirt-bed.js';

const bed = requireLibvirtBed();
const runId = randomBytes(4).toString('hex');
const prefix = `hvkit-lvs-${runId}`;
// The session virsh's exact command line on the host (`env` execs it).
const SESSION_PATTERN = (uri: string) => `^virsh -q -c ${uri}$`;

function tinyDomainXml(name: string, description: string): string {
  const escaped = description.replaceAll('&', '&amp;').replaceAll('<', '&lt;');
  return `<domain type='qemu'><name>${name}</name><description>${escaped}</description><memory unit='MiB'>16</memory><os><type arch='x86_64'>hvm</type></os></domain>`;
}

/** A result in comparable form: stdout, or the error's class and message. */
function shape(result: VirshCommandResult): string {
  return result.ok ? `ok:${result.stdout}` : `${result.error.name}:${result.error.message}`;
}

describe.skipIf(!bed)('virsh sessions against the libvirt bed', () => {
  let ssh: SshConnection;
  let control: SshConnection;
  let sessions: Virsh;
  let processes: Virsh;
  const names = [`${prefix}-a`, `${prefix}-b`];

  async function sessionPids(): Promise<number[]> {
    if (!bed) return [];
    const result = await control.exec([
      'pgrep',
      '-u',
      bed.username,
      '-f',
      SESSION_PATTERN(bed.libvirtUri),
    ]);
    return result.stdout.toString().split('\n').filter(Boolean).map(Number);
  }

  beforeAll(async () => {
    if (!bed) return;
    ssh = connectToBed(bed);
    control = connectToBed(bed);
    sessions = new Virsh(ssh, { uri: bed.libvirtUri, sessions: 2 });
    processes = new Virsh(ssh, { uri: bed.libvirtUri, sessions: 0 });
    for (const [index, name] of names.entries()) {
      await processes.run(['define', '/dev/stdin'], {
        stdin: tinyDomainXml(name, `desc ${index} with 'quotes' & <angle> \\ $(id) ; # and ü`),
      });
    }
  });

  afterAll(async () => {
    if (!bed) return;
    const listed = parseNameList(await processes.run(['list', '--all', '--name']));
    const ours = listed.filter((name) => name.startsWith(prefix));
    if (ours.length > 0) await processes.runMany(ours.map((name) => ['undefine', '--', name]));
    sessions.close();
    await ssh.close();
    await control.close();
  });

  it('answers exactly as a virsh process per call, errors included', async () => {
    const commands: string[][] = [
      ['dominfo', '--', names[0] as string],
      ['dumpxml', '--', names[1] as string],
      ['desc', '--', names[0] as string],
      ['domstate', '--', `${prefix}-missing`],
      ['list', '--all', '--name'],
      ['nodeinfo'],
      ['domstate', '--nosuchoption', names[0] as string],
      ['pool-list', '--all'],
    ];
    const before = sessions.stats();
    const viaSession = await sessions.runMany(commands);
    const after = sessions.stats();
    expect(after.sessionRequests - before.sessionRequests).toBe(1);
    expect(after.processes).toBe(before.processes);
    const viaProcess = await Promise.all(commands.map((command) => processes.runMany([command])));
    expect(viaSession.map(shape)).toEqual(
      viaProcess.map((results) => shape(results[0] as VirshCommandResult)),
    );
    expect(viaSession[2]).toMatchObject({ ok: true });
    expect(viaSession[3]).toMatchObject({ ok: false });
    expect(NotFoundError.isInstance((viaSession[3] as { error: unknown }).error)).toBe(true);
    // A command virsh cannot parse fails alone in a session (its own line).
    expect(ProviderApiError.isInstance((viaSession[6] as { error: unknown }).error)).toBe(true);
    expect(viaSession[7]).toMatchObject({ ok: true });
    // run() gives the same text as a process.
    expect(await sessions.run(['dumpxml', '--', names[0] as string])).toBe(
      await processes.run(['dumpxml', '--', names[0] as string]),
    );
  });

  it('random printable arguments round-trip through a session as through a process (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.string({
            unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
            maxLength: 40,
          }),
          {
            minLength: 1,
            maxLength: 5,
          },
        ),
        async (words) => {
          const commands = words.map((word) => ['echo', '--', word]);
          const viaSession = await sessions.runMany(commands);
          const viaProcess = await processes.runMany(commands);
          expect(viaSession.map(shape)).toEqual(viaProcess.map(shape));
          expect(viaSession.every((result) => result.ok)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('keeps its sessions: many calls, no new virsh process, at most `sessions` on the host', async () => {
    const before = sessions.stats();
    await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        sessions.run(['domstate', '--', names[index % 2] as string], { idempotent: true }),
      ),
    );
    for (let index = 0; index < 20; index++)
      await sessions.run(['domuuid', '--', names[0] as string]);
    const after = sessions.stats();
    expect(after.sessionsOpen).toBeGreaterThanOrEqual(1);
    expect(after.sessionsOpen).toBeLessThanOrEqual(2);
    // Calls beyond two at once ran as processes; the 20 sequential ones all in a session.
    expect(after.sessionRequests - before.sessionRequests).toBeGreaterThanOrEqual(20 + 2);
    expect(
      after.sessionRequests - before.sessionRequests + after.processes - before.processes,
    ).toBe(32);
    expect((await sessionPids()).length).toBe(after.sessionsOpen);
  });

  it('runs as a process what a session must not take: stdin, /dev paths, non-ASCII, a lone command string', async () => {
    const count = () => sessions.stats().processes;
    let before = count();
    await sessions.run(['desc', '--', names[0] as string, '--new-desc', 'ü plain'], {
      idempotent: false,
    });
    expect(count() - before).toBe(1);
    expect(await sessions.run(['desc', '--', names[0] as string])).toContain('ü plain');
    before = count();
    await sessions.run(['domuuid', '--', names[0] as string], { stdin: '' });
    expect(count() - before).toBe(1);
    before = count();
    await sessions.runMany([['echo', '/dev/stdin']]);
    expect(count() - before).toBe(1);
    before = count();
    await sessions.run([`domuuid ${names[0]}; domuuid ${names[1]}`]);
    expect(count() - before).toBe(1);
  });

  it('a session killed on the host costs a read nothing, and a new one takes over', async () => {
    await sessions.run(['domstate', '--', names[0] as string]);
    const pids = await sessionPids();
    expect(pids.length).toBeGreaterThan(0);
    await control.exec(['kill', '-KILL', ...pids.map(String)]);
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        sessions.run(['domstate', '--', names[0] as string], { idempotent: true }),
      ),
    );
    expect(results.every((state) => state.trim() === 'shut off')).toBe(true);
    // Reads that met a dying session ran as processes; the next one opens a new session.
    await sessions.run(['domstate', '--', names[0] as string]);
    const now = await sessionPids();
    expect(now.length).toBeGreaterThan(0);
    expect(now.some((pid) => pids.includes(pid))).toBe(false);
  });

  it('an aborted call ends its session: the call rejects with the reason and no virsh is left behind', async () => {
    const lone = new Virsh(ssh, { uri: bed?.libvirtUri, sessions: 1 });
    await lone.run(['nodeinfo']);
    const before = await sessionPids();
    const controller = new AbortController();
    // A slow read that still fits one session request: 48 `domcapabilities` (a few ms each).
    const slow = lone.runMany(
      Array.from({ length: 48 }, () => ['domcapabilities']),
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await expect(slow).rejects.toThrow('stop');
    expect(lone.stats()).toMatchObject({ sessionRequests: 2, processes: 0 });
    expect(lone.stats().sessionsOpen).toBe(0);
    await expect
      .poll(async () => (await sessionPids()).length, { timeout: 5_000 })
      .toBe(before.length - 1);
    expect(await lone.run(['domstate', '--', names[0] as string])).toContain('shut off');
    lone.close();
  });

  it('measures: one call through a session against a virsh process (printed, not asserted)', async () => {
    const rounds = 50;
    const time = async (virsh: Virsh) => {
      const started = performance.now();
      for (let index = 0; index < rounds; index++)
        await virsh.run(['domstate', '--', names[0] as string]);
      return (performance.now() - started) / rounds;
    };
    await time(sessions);
    const perSession = await time(sessions);
    const perProcess = await time(processes);
    console.log(
      `\nlibvirt virsh session: ${perSession.toFixed(2)} ms per call, virsh process ${perProcess.toFixed(2)} ms (${(perProcess / perSession).toFixed(1)}×)\n`,
    );
    expect(perSession).toBeGreaterThan(0);
  });
});
