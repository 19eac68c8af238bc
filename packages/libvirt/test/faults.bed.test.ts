/**
 * Faults and hostile input against the real libvirt bed:
 * - names, descriptions, tags, disk labels and host paths full of shell and XML metacharacters
 *   execute nothing on the host (a marker file the payloads would create never appears) and
 *   round-trip exactly;
 * - the SSH session killed mid-run (its sshd processes, SIGKILL) costs no failed read;
 * - a changed host key is refused before any command runs;
 * - libvirtd restarted mid-run: reads go on, the next operations work.
 *
 * The libvirt project runs its files one at a time (vitest.config.ts), so killing the session
 * or restarting libvirtd here cannot hit another file's work.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  AuthenticationError,
  createProvider,
  HvkitError,
  type Provider,
  systemClock,
  TransportError,
  type Vm,
} from '@hvkit/core';
import { createSshTransport, type SshConnection } from '@hvkit/ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLibvirtProvider } from '../src/index.js';
import { LibvirtDriver } from '../src/libvirt-driver.js';
import { Virsh } from '../src/virsh/virsh.js';
import { childOf, parseXml, textOf } from '../src/xml/xml-reader.js';
import { type LibvirtReady, requireLibvirtBed } from './libvirt-bed.js';

const bed = requireLibvirtBed();
const PREFIX = `hvkit-fault-${process.pid}-`;
// A relative path, because domain names cannot hold `/`: an injected `touch` would create it in
// the working directory of whatever ran it — the SSH user's home (the remote shell), or `/`.
const MARKER = `hvkit-fault-marker-${process.pid}`;
const execFileAsync = promisify(execFile);
const START_SH = fileURLToPath(new URL('../../../testbeds/libvirt/start.sh', import.meta.url));

/** Shell payloads that create MARKER if any layer ever hands them to a shell unquoted. */
const PAYLOADS = [
  `$(touch ${MARKER})`,
  `\`touch ${MARKER}\``,
  `'; touch ${MARKER}; '`,
  `"; touch ${MARKER}; "`,
  `| touch ${MARKER}`,
  `&& touch ${MARKER} &&`,
  `\\$(touch ${MARKER})`,
];
const XML_METAS = `<&>"' ]]> <!-- --> &amp; &#x41;`;

function bedProvider(ready: LibvirtReady): {
  provider: Provider;
  ssh: SshConnection;
} {
  const ssh = createSshTransport({
    host: ready.host,
    port: ready.port,
    username: ready.username,
    privateKey: readFileSync(ready.privateKeyPath),
    hostKey: { fingerprint256: ready.hostKeyFingerprint256 },
    provider: 'libvirt-faults',
  });
  const driver = new LibvirtDriver({
    name: 'libvirt-faults',
    virsh: new Virsh(ssh, { provider: 'libvirt-faults' }),
    host: ready.host,
    endpoint: `faults@${ready.host}:${ready.port}`,
    defaults: { domainType: ready.kvm ? 'kvm' : 'qemu', pool: ready.pool },
    clock: systemClock,
    ssh,
    close: () => ssh.close(),
  });
  return { provider: createProvider(driver), ssh };
}

/** Where a stray `touch` would land: the SSH user's home, `/`, libvirt's working directories. */
function markerDirs(ready: LibvirtReady): string[] {
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith(`${ready.username}:`));
  const home = entry?.split(':')[5];
  return [...(home ? [home] : []), '/', '/tmp', '/var/lib/libvirt', ready.poolPath];
}

/** True while `pid` is a live (not zombie) sshd process. */
function sshdAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && stat.includes('(sshd');
  } catch {
    return false;
  }
}

async function errorOf(action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe.skipIf(!bed)('libvirt faults and hostile input on the real bed', () => {
  const ready = bed as LibvirtReady;
  let provider: Provider;
  let ssh: SshConnection;
  const made: Vm[] = [];

  beforeAll(() => {
    for (const dir of markerDirs(ready)) rmSync(`${dir}/${MARKER}`, { force: true });
    ({ provider, ssh } = bedProvider(ready));
  });

  afterAll(async () => {
    for (const vm of made)
      await provider
        .delete(vm)
        .wait()
        .catch(() => undefined);
    await provider.close();
    for (const dir of markerDirs(ready)) rmSync(`${dir}/${MARKER}`, { force: true });
  });

  it('runs nothing from names, descriptions, tags, disk labels and paths, and round-trips them exactly', async () => {
    for (const [index, payload] of PAYLOADS.entries()) {
      // Names are at most 80 characters: the payload and the XML metacharacters take turns.
      const name = `${PREFIX}${index}${payload}${index % 2 === 0 ? '<&>"\'' : ' ü€😀'}`;
      const description = `${payload}\n${XML_METAS}\nline three`;
      const tags = { [`k${index}`]: `${payload} ${XML_METAS}` };
      const kernel = `/tmp/${payload}/vmlinuz ${XML_METAS}`;
      const vm = await provider
        .create({
          name,
          description,
          cpu: { count: 1 },
          memory: { sizeMiB: 64 },
          disks: [{ sizeGiB: 1 / 1024, name: `label ${payload} ${XML_METAS}` }],
          tags,
          providerOptions: { libvirt: { domainType: 'qemu', kernel } },
        })
        .wait({ timeoutMs: 60_000 });
      made.push(vm);
      const again = await provider.get(vm);
      expect(again.name).toBe(name);
      expect(again.tags).toEqual(tags);
      expect(again.disks[0]?.name).toBe(`label ${payload} ${XML_METAS}`);
      const xml = String((again.raw as { domainXml?: string } | undefined)?.domainXml ?? '');
      expect(xml).toContain('<kernel>');
      const listed: Vm[] = [];
      for await (const item of provider.list({ name })) listed.push(item);
      expect(listed.map((item) => item.ref.id)).toEqual([vm.ref.id]);
      // The kernel path and the description reach the XML escaped, and read back exactly.
      const root = parseXml(xml, { what: 'domain XML' });
      expect(textOf(childOf(root, 'os'), 'kernel')).toBe(kernel);
      expect(textOf(root, 'description')).toBe(description);
    }
    // A storage pool and a network named by payloads: NotFoundError, and still nothing ran.
    for (const payload of PAYLOADS.slice(0, 3)) {
      const error = await errorOf(() =>
        provider
          .create({
            name: `${PREFIX}pool`,
            cpu: { count: 1 },
            memory: { sizeMiB: 64 },
            disks: [{ sizeGiB: 1 / 1024, storage: `default${payload}` }],
          })
          .wait(),
      );
      expect(HvkitError.isInstance(error) && error.code).toBe('NOT_FOUND');
    }
    for (const dir of markerDirs(ready))
      expect(existsSync(`${dir}/${MARKER}`), `${dir}/${MARKER} exists: a payload ran`).toBe(false);
    // Control: the same payload given to a remote shell on purpose does create the marker where
    // this test looks, so the check above can fail.
    await ssh.exec(['sh', '-c', `echo ${PAYLOADS[0]}`]);
    const home = markerDirs(ready)[0] as string;
    expect(existsSync(`${home}/${MARKER}`)).toBe(true);
    rmSync(`${home}/${MARKER}`, { force: true });
  }, 240_000);

  it('loses no read when the SSH session is killed mid-run', async () => {
    const vm = await provider
      .create({ name: `${PREFIX}kill`, cpu: { count: 1 }, memory: { sizeMiB: 64 } })
      .wait({ timeoutMs: 60_000 });
    made.push(vm);
    // The sshd processes serving this connection: the shell's parent (session, user-owned) and
    // its parent (the privileged monitor). PIDs are global; only the network is namespaced.
    const { stdout } = await ssh.exec(['sh', '-c', 'echo $PPID; ps -o ppid= -p $PPID']);
    const pids = stdout
      .toString()
      .split(/\s+/)
      .filter((text) => /^\d+$/.test(text))
      .map(Number);
    expect(pids).toHaveLength(2);
    const reads: Promise<unknown>[] = [];
    let failures = 0;
    for (let round = 0; round < 30; round++) {
      if (round === 10) for (const pid of pids) process.kill(pid, 'SIGKILL');
      const read =
        round % 2 === 0
          ? provider.get(vm)
          : (async () => {
              for await (const _ of provider.list({ name: vm.name })) void _;
            })();
      reads.push(read.catch(() => failures++));
      await read.catch(() => undefined);
    }
    await Promise.all(reads);
    expect(failures, 'reads failed after the sshd session was killed').toBe(0);
    // The killed sshd processes are gone (or zombies until their parent reaps them).
    for (const pid of pids) expect(sshdAlive(pid), `sshd ${pid} still runs`).toBe(false);
    // And mutations work again on the new connection.
    await provider.powerOn(vm).wait({ timeoutMs: 60_000 });
    expect((await provider.get(vm)).powerState).toBe('on');
  }, 180_000);

  it('refuses a changed host key before running anything', async () => {
    const wrong = createLibvirtProvider({
      name: 'libvirt-wrong-key',
      host: ready.host,
      port: ready.port,
      username: ready.username,
      privateKey: readFileSync(ready.privateKeyPath),
      hostKey: { fingerprint256: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    });
    try {
      const error = await errorOf(() => wrong.validate());
      expect(
        AuthenticationError.isInstance(error) || TransportError.isInstance(error),
        String(error),
      ).toBe(true);
      expect(String((error as Error).message)).toMatch(/host key/i);
      const other = await errorOf(() => wrong.get({ provider: 'libvirt-wrong-key', id: 'x' }));
      expect(String((other as Error).message)).toMatch(/host key/i);
    } finally {
      await wrong.close();
    }
  });

  it('recovers when libvirtd restarts mid-run', async () => {
    const vm = await provider
      .create({ name: `${PREFIX}restart`, cpu: { count: 1 }, memory: { sizeMiB: 64 } })
      .wait({ timeoutMs: 60_000 });
    made.push(vm);
    const pid = Number(readFileSync('/run/libvirtd.pid', 'utf8').trim());
    let failures = 0;
    const reads = (async () => {
      for (let round = 0; round < 20; round++) {
        await provider.get(vm).catch(() => failures++);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(pid, 'SIGTERM');
    // The bed's start script brings libvirtd back (idempotent; measured 1.2–1.4 s).
    await execFileAsync('bash', [START_SH], { timeout: 120_000 });
    await reads;
    expect(failures, 'reads failed while libvirtd restarted').toBe(0);
    expect(Number(readFileSync('/run/libvirtd.pid', 'utf8').trim())).not.toBe(pid);
    await provider.powerOn(vm).wait({ timeoutMs: 60_000 });
    expect((await provider.get(vm)).powerState).toBe('on');
    await provider.powerOff(vm).wait({ timeoutMs: 60_000 });
  }, 180_000);
});
