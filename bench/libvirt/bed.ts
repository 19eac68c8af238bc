/**
 * The libvirt test bed as the bench sees it: its readiness file, an `@hvkit/ssh` connection with
 * the pinned host key, a transport wrapper that counts SSH execs, the small domains the bench
 * defines and the clean-up of everything named `hvkit-bench-`.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SshConnection } from '@hvkit/ssh';
import type { Virsh, VirshTransport } from '../../packages/libvirt/src/virsh/virsh.js';
import { element, field, renderXml } from '../../packages/libvirt/src/xml/xml-writer.js';
import {
  connectToBed,
  type LibvirtReady,
  readLibvirtReady,
} from '../../packages/libvirt/test/libvirt-bed.js';

/** Every domain, volume and host file the bench makes starts with this. */
export const BENCH_PREFIX = 'hvkit-bench-';

/** The running bed, as its readiness file (`testbeds/libvirt/.state/ready.json`) describes it. */
export type BedReady = LibvirtReady;

/**
 * Reads the readiness file of the running bed, checked field by field as the tests read it; a
 * missing bed is an error naming start.sh (the bench needs the bed).
 */
export function readBed(repo: string): BedReady {
  const file = join(repo, 'testbeds', 'libvirt', '.state', 'ready.json');
  if (!existsSync(file))
    throw new Error(`no libvirt bed: ${file} does not exist; run testbeds/libvirt/start.sh`);
  return readLibvirtReady(file);
}

/** An SSH connection to the bed's non-root user, host key pinned (never `insecure`): the tests' own. */
export { connectToBed };

/** A transport that counts execs and spawns and keeps the argv and exit code of each exec. */
export interface CountingTransport extends VirshTransport {
  readonly execs: string[][];
  /** Exit code of each exec, by index in {@link execs} (set when it ends). */
  readonly codes: (number | null)[];
  spawns: number;
  reset(): void;
}

/** Wraps `ssh` so the bench can prove how many SSH round trips a call took. */
export function countingTransport(ssh: VirshTransport): CountingTransport {
  const counter: CountingTransport = {
    execs: [],
    codes: [],
    spawns: 0,
    reset() {
      counter.execs.length = 0;
      counter.codes.length = 0;
      counter.spawns = 0;
    },
    async exec(argv, options) {
      const index = counter.execs.push([...argv]) - 1;
      const result = await ssh.exec(argv, options);
      counter.codes[index] = result.code;
      return result;
    },
    spawn(argv, options) {
      counter.spawns++;
      return ssh.spawn(argv, options);
    },
  };
  return counter;
}

/**
 * A small domain that is only ever defined, never started: 64 MiB, one vCPU, one virtio NIC on
 * the bed's network, no disk. TCG (`type='qemu'`): the bed has no KVM. Values through the
 * xml-writer.
 */
export function smallDomainXml(name: string, network: string): string {
  return renderXml(
    element(
      'domain',
      { type: 'qemu' },
      element('name', {}, field(name, 'name')),
      element('memory', { unit: 'MiB' }, '64'),
      element('vcpu', {}, '1'),
      element('os', {}, element('type', { arch: 'x86_64', machine: 'pc' }, 'hvm')),
      element(
        'devices',
        {},
        element(
          'interface',
          { type: 'network' },
          element('source', { network: field(network, 'network') }),
          element('model', { type: 'virtio' }),
        ),
      ),
    ),
    { subject: 'bench domain' },
  );
}

/**
 * Defines `names` with ONE runMany of `define` (one virsh process): the XML files go to a
 * temporary directory on the host over SFTP first (virsh's `define` reads a file), which is
 * removed afterwards.
 *
 * @throws when any define fails (listing the first failure).
 */
export async function defineDomains(
  ssh: SshConnection,
  virsh: Virsh,
  names: readonly string[],
  network: string,
): Promise<void> {
  const made = await ssh.exec(['mktemp', '-d', `/tmp/${BENCH_PREFIX}xml-XXXXXX`]);
  const dir = made.stdout.toString('utf8').trim();
  if (made.code !== 0 || !dir.startsWith('/tmp/'))
    throw new Error(`mktemp on the host failed: ${made.stderr.toString('utf8')}`);
  try {
    const sftp = ssh.sftp();
    const encoder = new TextEncoder();
    // A few uploads in flight: one SFTP session, each file a handful of requests.
    for (let at = 0; at < names.length; at += 16) {
      await Promise.all(
        names
          .slice(at, at + 16)
          .map((name, offset) =>
            sftp.upload(`${dir}/${at + offset}.xml`, [
              encoder.encode(smallDomainXml(name, network)),
            ]),
          ),
      );
    }
    const results = await virsh.runMany(names.map((_, index) => ['define', `${dir}/${index}.xml`]));
    const failed = results.findIndex((result) => !result.ok);
    const failure = results[failed];
    if (failure && !failure.ok)
      throw new Error(`define of ${names[failed]} failed: ${failure.error.message}`);
  } finally {
    await ssh.exec(['rm', '-rf', '--', dir]);
  }
}

/** Names of the bed's domains that start with `prefix`. */
export async function domainsNamed(virsh: Virsh, prefix: string): Promise<string[]> {
  const names = await virsh.run(['list', '--all', '--name'], { idempotent: true });
  return names
    .split('\n')
    .map((name) => name.trim())
    .filter((name) => name.startsWith(prefix));
}

/**
 * Removes every domain, pool volume and /tmp file named `prefix…` (this run's, or with
 * {@link BENCH_PREFIX} also those a killed run left). Domains are never started by the bench;
 * `destroy` is there in case one was. Returns what was removed.
 */
export async function removeBenchObjects(
  ssh: SshConnection,
  virsh: Virsh,
  bed: Pick<BedReady, 'pool' | 'username'>,
  prefix: string,
): Promise<{ domains: number; volumes: number }> {
  const pool = bed.pool;
  const domains = await domainsNamed(virsh, prefix);
  if (domains.length > 0)
    await virsh.runMany(
      domains.flatMap((name) => [
        ['destroy', '--', name],
        ['undefine', '--', name],
      ]),
    );
  const volumes = (await virsh.run(['vol-list', '--pool', pool], { idempotent: true }))
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith(prefix));
  if (volumes.length > 0)
    await virsh.runMany(volumes.map((name) => ['vol-delete', '--pool', pool, '--vol', name]));
  // `find -name` matches the prefix itself: no shell glob, every value stays one argument.
  await ssh.exec([
    'find',
    '/tmp',
    '-maxdepth',
    '1',
    '-user',
    bed.username,
    '-name',
    `${prefix}*`,
    '-exec',
    'rm',
    '-rf',
    '--',
    '{}',
    '+',
  ]);
  return { domains: domains.length, volumes: volumes.length };
}

/** The local file that says run `run` is alive: it holds the run's pid. */
function runFile(run: string): string {
  return join(tmpdir(), `${BENCH_PREFIX}libvirt-${run}.pid`);
}

/**
 * Marks run `run` (6 hex digits, part of every name it makes) as alive on this machine, so a run
 * started meanwhile leaves its objects alone. Returns the function that unmarks it.
 */
export function markRunAlive(run: string): () => void {
  writeFileSync(runFile(run), String(process.pid));
  return () => rmSync(runFile(run), { force: true });
}

function runIsAlive(run: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(runFile(run), 'utf8'));
  } catch {
    return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes what earlier runs that are no longer alive left on the bed (a killed run cannot clean
 * up): domains and volumes named `hvkit-bench-<run>-…` of every run without a live pid file.
 */
export async function removeDeadRuns(
  ssh: SshConnection,
  virsh: Virsh,
  bed: Pick<BedReady, 'pool' | 'username'>,
): Promise<{ domains: number; volumes: number }> {
  const volumes = (await virsh.run(['vol-list', '--pool', bed.pool], { idempotent: true }))
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '');
  const names = [...(await domainsNamed(virsh, BENCH_PREFIX)), ...volumes];
  const runs = new Set(
    names.flatMap((name) => /^hvkit-bench-([0-9a-f]{6})-/.exec(name)?.[1] ?? []),
  );
  const removed = { domains: 0, volumes: 0 };
  for (const run of runs) {
    if (runIsAlive(run)) continue;
    const done = await removeBenchObjects(ssh, virsh, bed, `${BENCH_PREFIX}${run}-`);
    removed.domains += done.domains;
    removed.volumes += done.volumes;
  }
  return removed;
}
