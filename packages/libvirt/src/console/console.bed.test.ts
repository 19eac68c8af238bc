// Consoles against the REAL bed (libvirt 9.0, QEMU 7.2 under TCG): domains built by
// buildDomainXml (VNC on the host's 127.0.0.1, autoport) are started without a kernel (SeaBIOS
// runs, which is all a display needs), getConsole opens a local forward over the bed's SSH
// connection, and a plain TCP client reads QEMU's RFB banner through it. Everything made here is
// named `hvkit-con-<random>-…` and removed in afterAll.
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { networkInterfaces } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { HvkitError, type Logger, VmSpecSchema } from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToBed, requireLibvirtBed } from '../../test/libvirt-bed.js';
import { buildDomainXml } from '../domain/domain-xml.js';
import { Virsh } from '../virsh/virsh.js';
import { parseVncDisplay } from '../virsh/virsh-parse.js';
import { element, renderXml } from '../xml/xml-writer.js';
import { ConsoleForwards, getConsole } from './console.js';

const bed = requireLibvirtBed();
const prefix = `hvkit-con-${randomBytes(3).toString('hex')}-`;
// A password with characters a URI would need escaped, and XML too. libvirt 9.0 allows 8 at
// most (measured: `unsupported configuration: VNC password is 9 characters long, only 8 permitted`).
const PASSWORD = 'p@s:w&<d';

/** What a TCP client sees on 127.0.0.1:port (or `host`) within `timeoutMs`. */
function readBanner(
  port: number,
  host = '127.0.0.1',
  timeoutMs = 15_000,
): Promise<{ outcome: 'data' | 'closed' | 'error' | 'timeout'; data: Buffer; code?: string }> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const chunks: Buffer[] = [];
    const done = (outcome: 'data' | 'closed' | 'error' | 'timeout', code?: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, data: Buffer.concat(chunks), ...(code ? { code } : {}) });
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (Buffer.concat(chunks).length >= 12) done('data');
    });
    socket.once('close', () => done('closed'));
    socket.once('error', (error: NodeJS.ErrnoException) => done('error', error.code));
  });
}

/**
 * The RFB 3.8 handshake up to the server's list of security types (RFC 6143 §7.1.2): 1 = None,
 * 2 = VNC Authentication.
 */
function securityTypes(port: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    let sentVersion = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no RFB security types within 15 s'));
    }, 15_000);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!sentVersion && buffer.length >= 12) {
        sentVersion = true;
        buffer = buffer.subarray(12);
        socket.write('RFB 003.008\n');
      }
      if (sentVersion && buffer.length >= 1) {
        const count = buffer[0] ?? 0;
        if (buffer.length >= 1 + count) {
          clearTimeout(timer);
          socket.destroy();
          resolve([...buffer.subarray(1, 1 + count)]);
        }
      }
    });
    socket.once('error', reject);
  });
}

async function failure(promise: Promise<unknown>): Promise<HvkitError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!HvkitError.isInstance(error))
    throw new Error(`expected an hvkit error, got ${String(error)}`);
  return error;
}

/** A non-loopback IPv4 address of this machine, if it has one. */
function otherAddress(): string | undefined {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address;
    }
  }
  return undefined;
}

describe.skipIf(!bed)('libvirt console against the bed', () => {
  let ssh: SshConnection;
  let virsh: Virsh;
  const forwards = new ConsoleForwards();
  const logged: string[] = [];
  const logger: Logger = {
    debug: (message, fields) => logged.push(`${message} ${JSON.stringify(fields ?? {})}`),
    info: () => {},
    warn: () => {},
    error: () => {},
  };

  /** Defines a small domain (64 MiB, no disks, SeaBIOS) and returns its UUID. */
  async function define(name: string, graphics?: string): Promise<string> {
    const spec = VmSpecSchema.parse({
      name: `${prefix}${name}`,
      cpu: { count: 1 },
      memory: { sizeMiB: 64 },
      providerOptions: { libvirt: { domainType: 'qemu' } },
    });
    let { xml } = buildDomainXml(spec, { volumes: [], networks: new Map() });
    if (graphics !== undefined) {
      const before = xml;
      xml = xml.replace(/<graphics[\s\S]*?<\/graphics>/, graphics);
      expect(xml).not.toBe(before);
    }
    await virsh.run(['define', '/dev/stdin'], { stdin: xml });
    return (await virsh.run(['domuuid', '--', `${prefix}${name}`])).trim();
  }

  beforeAll(async () => {
    if (!bed) return;
    ssh = connectToBed(bed);
    virsh = new Virsh(ssh, { uri: bed.libvirtUri });
    await ssh.connect();
  });

  afterAll(async () => {
    if (!bed) return;
    await forwards.closeAll();
    const names = (await virsh.run(['list', '--all', '--name']))
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => name.startsWith(prefix));
    for (const name of names) {
      await virsh.run(['destroy', '--', name]).catch(() => {});
      await virsh.run(['undefine', '--nvram', '--', name]).catch(() => {});
    }
    await ssh.close();
  });

  it('a missing domain is NotFoundError(vm); a stopped one ConflictError invalid-power-state', async () => {
    const missing = await failure(getConsole(virsh, ssh, `${prefix}missing`, { forwards, logger }));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.details).toMatchObject({ resource: 'vm' });
    const uuid = await define('stopped');
    const stopped = await failure(getConsole(virsh, ssh, uuid, { forwards, logger }));
    expect(stopped.code).toBe('CONFLICT');
    expect(stopped.details).toMatchObject({ reason: 'invalid-power-state', state: 'shut off' });
    expect(forwards.size).toBe(0);
  });

  it('bad options are InvalidSpecError naming each field, before any virsh call', async () => {
    const refusing = {
      runMany: () => {
        throw new Error('virsh was called');
      },
      run: () => {
        throw new Error('virsh was called');
      },
    } as unknown as Virsh;
    const error = await failure(
      getConsole(refusing, ssh, '', {
        forwards,
        idleTimeoutMs: 0,
        localHost: '0.0.0.0',
        localPort: 70_000,
      }),
    );
    expect(error.code).toBe('INVALID_SPEC');
    expect((error.details.issues as { path: string }[]).map((issue) => issue.path).sort()).toEqual([
      'id',
      'idleTimeoutMs',
      'localHost',
      'localPort',
    ]);
  });

  it('a running domain: vnc://127.0.0.1:<port> reaches its VNC server (RFB banner), only on 127.0.0.1, until closed', async () => {
    const uuid = await define('run');
    await virsh.run(['start', '--', uuid]);
    const before = Date.now();
    const access = await getConsole(virsh, ssh, uuid, {
      forwards,
      logger,
      idleTimeoutMs: 120_000,
    });
    expect(access.protocol).toBe('vnc');
    const match = /^vnc:\/\/127\.0\.0\.1:(\d+)$/.exec(access.url);
    expect(match).not.toBeNull();
    const port = Number(match?.[1]);
    // No password on hvkit's own domains: no ticket.
    expect(access.ticket).toBeUndefined();
    const expires = Date.parse(access.expiresAt ?? '');
    expect(expires).toBeGreaterThanOrEqual(before + 120_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 120_000);

    // End to end: QEMU's VNC server greets with its protocol version.
    const banner = await readBanner(port);
    expect(banner.data.toString('latin1')).toBe('RFB 003.008\n');
    // No password: security type 1 (None) only.
    expect(await securityTypes(port)).toEqual([1]);

    // The forward goes where libvirt says the display is (an oracle besides dumpxml).
    const display = parseVncDisplay(await virsh.run(['vncdisplay', '--', uuid]));
    expect(display.host).toBe('127.0.0.1');
    const [forward] = forwards.forwardsOf(uuid);
    expect(forward?.port).toBe(port);

    // Bound to 127.0.0.1 only: another loopback address and the machine's own address refuse.
    expect((await readBanner(port, '127.0.0.2', 5000)).code).toBe('ECONNREFUSED');
    const other = otherAddress();
    if (other !== undefined)
      expect((await readBanner(port, other, 5000)).code).toBe('ECONNREFUSED');

    // A second viewer at the same time gets its own channel.
    const [first, second] = await Promise.all([readBanner(port), readBanner(port)]);
    expect(first.data.toString('latin1')).toBe('RFB 003.008\n');
    expect(second.data.toString('latin1')).toBe('RFB 003.008\n');

    await forwards.closeDomain(uuid);
    expect(forwards.forwardsOf(uuid)).toEqual([]);
    expect((await readBanner(port)).code).toBe('ECONNREFUSED');
    // The SSH server acknowledges each channel's close within a round trip.
    for (let wait = 0; wait < 100 && ssh.stats.forwardedChannels > 0; wait++) await sleep(50);
    expect(ssh.stats.forwardedChannels).toBe(0);
    await virsh.run(['destroy', '--', uuid]);
  });

  it('a domain stopped after the console was given: the next viewer is refused (even when another domain took its VNC port) and the forward closes', async () => {
    const uuid = await define('stale');
    const next = await define('next');
    await virsh.run(['start', '--', uuid]);
    const access = await getConsole(virsh, ssh, uuid, { forwards, logger });
    const port = Number(/:(\d+)$/.exec(access.url)?.[1]);
    expect((await readBanner(port)).data.toString('latin1')).toBe('RFB 003.008\n');
    const [forward] = forwards.forwardsOf(uuid);
    const oldDisplay = parseVncDisplay(await virsh.run(['vncdisplay', '--', uuid]));
    await virsh.run(['destroy', '--', uuid]);
    // autoport hands out the lowest free port from 5900: the next domain started usually gets
    // the one just freed (unless another test file on the shared bed starts one in between),
    // and a forward without the per-viewer check would show that domain's screen.
    await virsh.run(['start', '--', next]);
    const nextDisplay = parseVncDisplay(await virsh.run(['vncdisplay', '--', next]));
    if (nextDisplay.port !== oldDisplay.port) {
      console.warn(
        `the next domain got port ${nextDisplay.port}, not ${oldDisplay.port}: the port-reuse case was not exercised`,
      );
    }
    const seen = await readBanner(port);
    expect(seen.outcome).toBe('closed');
    expect(seen.data.length).toBe(0);
    await forward?.closed;
    expect(forwards.forwardsOf(uuid)).toEqual([]);
    expect((await readBanner(port)).code).toBe('ECONNREFUSED');
    expect(logged.some((line) => line.includes('the domain stopped or its display moved'))).toBe(
      true,
    );
    await virsh.run(['destroy', '--', next]);
  });

  it('a domain with a VNC password: the password is the ticket, VNC auth is required, and it is never logged', async () => {
    const graphics = renderXml(
      element(
        'graphics',
        { type: 'vnc', port: -1, autoport: 'yes', listen: '127.0.0.1', passwd: PASSWORD },
        element('listen', { type: 'address', address: '127.0.0.1' }),
      ),
    );
    const uuid = await define('passwd', graphics);
    await virsh.run(['start', '--', uuid]);
    const access = await getConsole(virsh, ssh, uuid, { forwards, logger });
    expect(access.ticket).toBe(PASSWORD);
    expect(access.url).not.toContain(PASSWORD);
    const port = Number(/:(\d+)$/.exec(access.url)?.[1]);
    // Security type 2 (VNC Authentication) only: QEMU enforces the password.
    expect(await securityTypes(port)).toEqual([2]);
    // A refused viewer after a stop is logged without the password.
    await virsh.run(['destroy', '--', uuid]);
    await readBanner(port);
    await sleep(100);
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.join('\n')).not.toContain(PASSWORD);
  });

  it('a display on a UNIX socket cannot be forwarded: ConflictError invalid-state', async () => {
    const graphics = renderXml(
      element('graphics', { type: 'vnc' }, element('listen', { type: 'socket' })),
    );
    const uuid = await define('socket', graphics);
    await virsh.run(['start', '--', uuid]);
    const error = await failure(getConsole(virsh, ssh, uuid, { forwards, logger }));
    expect(error.code).toBe('CONFLICT');
    expect(error.details).toMatchObject({ reason: 'invalid-state', display: 'unix-socket' });
    expect(error.message).toContain('UNIX socket');
    await virsh.run(['destroy', '--', uuid]);
  });
});
