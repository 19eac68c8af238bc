// TCP forwarding against a real OpenSSH server (test/sshd-bed.ts): forwardOut channels and
// openLocalForward, to TCP servers this test runs on 127.0.0.1 (the sshd runs on this machine,
// so its 127.0.0.1 is ours). Bytes both ways, half-close, backpressure, many sockets at once,
// close(), idle timeout, refusals (nothing listening, permitopen) and a dropped connection.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HvkitError } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSshTransport, openLocalForward, type SshConnection } from '../src/index.js';
import { type SshdBed, startSshdBed } from './sshd-bed.js';

const bed = await startSshdBed();

function connect(target: SshdBed): SshConnection {
  return createSshTransport({
    host: target.host,
    port: target.port,
    username: target.username,
    privateKey: target.privateKey,
    hostKey: { fingerprint256: target.hostKeyFingerprint256 },
  });
}

interface TestServer {
  server: Server;
  port: number;
  /** Sockets the server holds open now. */
  open: Set<Socket>;
  /** Most sockets open at once so far. */
  peak: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 running `handler` for each connection; tracks open sockets. */
async function tcpServer(handler: (socket: Socket) => void): Promise<TestServer> {
  const open = new Set<Socket>();
  const state = { peak: 0 };
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    open.add(socket);
    state.peak = Math.max(state.peak, open.size);
    socket.on('error', () => {});
    socket.once('close', () => open.delete(socket));
    handler(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address ? address.port : 0,
    open,
    get peak() {
      return state.peak;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Echoes everything and ends its side when the client ends its own (after the echo). */
const echo = (socket: Socket): void => {
  socket.pipe(socket);
};

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Connects to 127.0.0.1:port, writes `data`, ends, and collects what comes back until the end. */
async function roundTrip(port: number, data: Uint8Array): Promise<Buffer> {
  const socket = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('end', () => resolve());
    socket.end(data);
  });
  socket.destroy();
  return Buffer.concat(chunks);
}

/** Resolves with the error a connect to 127.0.0.1:port fails with, or 'connected'. */
function tryConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
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

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe.skipIf(!bed)('TCP forwarding over a real sshd', () => {
  const target = bed as SshdBed;
  const ssh = connect(target);
  let echoServer: TestServer;

  beforeAll(async () => {
    echoServer = await tcpServer(echo);
  });

  afterAll(async () => {
    await ssh.close();
    await echoServer?.close();
    await target.stop();
  });

  it('forwardOut: a stream to the target, bytes both ways, end of file passed on', async () => {
    const stream = await ssh.forwardOut('127.0.0.1', echoServer.port);
    expect(ssh.stats.forwardedChannels).toBe(1);
    expect(ssh.stats.activeChannels).toBe(0);
    const data = randomBytes(300_000);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise<void>((resolve) => stream.once('end', () => resolve()));
    stream.end(data);
    await ended;
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
    await until(() => ssh.stats.forwardedChannels === 0, 'the channel to close');
  });

  it('a local forward carries bytes both ways, byte-exact, with a half-close', async () => {
    const forward = await openLocalForward(ssh, {
      remoteHost: '127.0.0.1',
      remotePort: echoServer.port,
    });
    try {
      expect(forward.host).toBe('127.0.0.1');
      expect(forward.port).toBeGreaterThan(0);
      const data = randomBytes(8 * 1024 * 1024);
      // roundTrip ends its side first and still gets every byte back: the half-close reached the
      // echo server through the channel, and its end came back.
      const back = await roundTrip(forward.port, data);
      expect(back.length).toBe(data.length);
      expect(sha256(back)).toBe(sha256(data));
      expect(forward.stats).toMatchObject({ accepted: 1, refused: 0 });
    } finally {
      await forward.close();
    }
  });

  it('serves several sockets at once, each on its own channel, more than MaxSessions, outside the exec cap', async () => {
    const counting = await tcpServer(echo);
    // The bed's sshd has MaxSessions 30 and the transport maxChannels 8 (default).
    const sockets = 36;
    const forward = await openLocalForward(ssh, {
      remoteHost: '127.0.0.1',
      remotePort: counting.port,
      maxConnections: 64,
    });
    try {
      const clients = Array.from({ length: sockets }, () =>
        createConnection({ host: '127.0.0.1', port: forward.port }),
      );
      for (const client of clients) client.on('error', () => {});
      // Each is connected through to the target before any is closed.
      await until(() => counting.open.size === sockets, `${sockets} connections at the target`);
      // sshd connects to the target before its confirmation reaches us.
      await until(() => ssh.stats.forwardedChannels === sockets, `${sockets} channels open`);
      // The exec cap is untouched: a command runs while all those channels are open.
      expect((await ssh.exec(['echo', 'still here'])).stdout.toString()).toBe('still here\n');
      const payloads = clients.map((_, index) => randomBytes(10_000 + index));
      const echoed = await Promise.all(
        clients.map(
          (client, index) =>
            new Promise<Buffer>((resolve, reject) => {
              const chunks: Buffer[] = [];
              client.on('data', (chunk: Buffer) => chunks.push(chunk));
              client.once('end', () => resolve(Buffer.concat(chunks)));
              client.once('error', reject);
              client.end(payloads[index] as Buffer);
            }),
        ),
      );
      echoed.forEach((bytes, index) => {
        expect(sha256(bytes)).toBe(sha256(payloads[index] as Buffer));
      });
      for (const client of clients) client.destroy();
      expect(counting.peak).toBe(sockets);
      await until(() => ssh.stats.forwardedChannels === 0, 'every channel to close');
      await until(() => forward.stats.open === 0, 'every local socket to close');
    } finally {
      await forward.close();
      await counting.close();
    }
  });

  it('backpressure: a client that does not read stops the remote writer, and gets every byte later', async () => {
    const total = 64 * 1024 * 1024;
    const payload = randomBytes(total);
    let written = 0;
    const flood = await tcpServer((socket) => {
      const chunk = 64 * 1024;
      const pump = (): void => {
        while (written < total) {
          const part = payload.subarray(written, written + chunk);
          written += part.length;
          if (!socket.write(part)) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.end();
      };
      pump();
    });
    const forward = await openLocalForward(ssh, {
      remoteHost: '127.0.0.1',
      remotePort: flood.port,
    });
    try {
      const client = createConnection({ host: '127.0.0.1', port: forward.port });
      client.pause();
      await until(() => written > 0, 'the server to start writing');
      await sleep(1500);
      const stalledAt = written;
      // Kernel socket buffers on both hops, the SSH window (2 MiB) and stream buffers: measured,
      // the writer stalls after 11.1 MiB of the 64.
      expect(stalledAt).toBeLessThan(24 * 1024 * 1024);
      await sleep(500);
      expect(written).toBe(stalledAt);
      const hash = createHash('sha256');
      let received = 0;
      await new Promise<void>((resolve, reject) => {
        client.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          received += chunk.length;
        });
        client.once('end', () => resolve());
        client.once('error', reject);
        client.resume();
      });
      client.destroy();
      expect(received).toBe(total);
      expect(hash.digest('hex')).toBe(sha256(payload));
    } finally {
      await forward.close();
      await flood.close();
    }
  });

  it('close() stops listening and ends the open sockets and their channels', async () => {
    const forward = await openLocalForward(ssh, {
      remoteHost: '127.0.0.1',
      remotePort: echoServer.port,
    });
    const client = createConnection({ host: '127.0.0.1', port: forward.port });
    client.on('error', () => {});
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await until(() => echoServer.open.size === 1, 'the connection at the target');
    expect(forward.stats.open).toBe(1);
    await forward.close();
    expect(forward.closing).toBe(true);
    await clientClosed;
    expect(await tryConnect(forward.port)).toBe('ECONNREFUSED');
    await until(() => echoServer.open.size === 0, 'the target to see the close');
    await until(() => ssh.stats.forwardedChannels === 0, 'the channel to close');
    // Idempotent.
    await forward.close();
  });

  it('listens on loopback only: a non-loopback localHost is refused before any I/O', async () => {
    for (const localHost of ['0.0.0.0', '::', '192.168.1.10', 'localhost', 'example.com']) {
      const error = await failure(
        openLocalForward(ssh, { remoteHost: '127.0.0.1', remotePort: 1, localHost }),
      );
      expect(error.code).toBe('INVALID_SPEC');
      expect(error.details.issues).toEqual([expect.objectContaining({ path: 'localHost' })]);
    }
    const bad = await failure(
      openLocalForward(ssh, {
        remoteHost: 'a b',
        remotePort: 70_000,
        localPort: -1,
        idleTimeoutMs: 0,
      }),
    );
    expect(bad.code).toBe('INVALID_SPEC');
    expect((bad.details.issues as { path: string }[]).map((issue) => issue.path).sort()).toEqual([
      'idleTimeoutMs',
      'localPort',
      'remoteHost',
      'remotePort',
    ]);
    // The default is 127.0.0.1; ::1 is loopback too.
    const v6 = await openLocalForward(ssh, {
      remoteHost: '127.0.0.1',
      remotePort: echoServer.port,
      localHost: '::1',
    });
    try {
      expect(v6.host).toBe('::1');
      const data = randomBytes(1000);
      const socket = createConnection({ host: '::1', port: v6.port, allowHalfOpen: true });
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      await new Promise<void>((resolve) => {
        socket.once('end', () => resolve());
        socket.end(data);
      });
      expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
      // Not on the IPv4 loopback, nor on any other address.
      expect(await tryConnect(v6.port, '127.0.0.1')).toBe('ECONNREFUSED');
    } finally {
      await v6.close();
    }
  });

  it('nothing listening at the target: forwardOut is a connect-failed TransportError; the local socket is closed', async () => {
    const spare = await tcpServer(echo);
    const deadPort = spare.port;
    await spare.close();
    const error = await failure(ssh.forwardOut('127.0.0.1', deadPort));
    expect(error.code).toBe('TRANSPORT');
    expect(error.details).toMatchObject({ reason: 'connect-failed', port: deadPort });
    // OpenSSH 9.2's text for it.
    expect(error.message).toContain('Connection refused');

    const errors: unknown[] = [];
    const forward = await openLocalForward(ssh, {
      remoteHost: '127.0.0.1',
      remotePort: deadPort,
      onConnectionError: (caught) => errors.push(caught),
    });
    try {
      const client = createConnection({ host: '127.0.0.1', port: forward.port });
      client.on('error', () => {});
      await new Promise<void>((resolve) => client.once('close', () => resolve()));
      expect(forward.stats).toMatchObject({ accepted: 1, refused: 1, open: 0 });
      expect(errors).toHaveLength(1);
      expect((errors[0] as HvkitError).details).toMatchObject({ reason: 'connect-failed' });
      // The forward itself stays up for the next client.
      expect(forward.closing).toBe(false);
    } finally {
      await forward.close();
    }
  });

  it('beforeConnect can refuse a connection before any channel is opened', async () => {
    const errors: unknown[] = [];
    let allow = false;
    const forward = await openLocalForward(ssh, {
      remoteHost: '127.0.0.1',
      remotePort: echoServer.port,
      beforeConnect: async () => {
        if (!allow) throw new Error('not now');
      },
      onConnectionError: (caught) => errors.push(caught),
    });
    try {
      const refused = createConnection({ host: '127.0.0.1', port: forward.port });
      refused.on('error', () => {});
      await new Promise<void>((resolve) => refused.once('close', () => resolve()));
      expect((errors[0] as Error).message).toBe('not now');
      expect(echoServer.open.size).toBe(0);
      allow = true;
      const data = randomBytes(100);
      expect(sha256(await roundTrip(forward.port, data))).toBe(sha256(data));
    } finally {
      await forward.close();
    }
  });

  it('idle timeout: closes after that long without a connection, never while one is open', async () => {
    const forward = await openLocalForward(ssh, {
      remoteHost: '127.0.0.1',
      remotePort: echoServer.port,
      idleTimeoutMs: 600,
    });
    const client = createConnection({ host: '127.0.0.1', port: forward.port });
    client.on('error', () => {});
    await until(() => forward.stats.open === 1, 'the connection');
    // Held well past the idle limit, quiet: still open.
    await sleep(1500);
    expect(forward.closing).toBe(false);
    expect(await tryConnect(forward.port)).toBe('connected');
    const closedAt = Date.now();
    client.destroy();
    await forward.closed;
    const waited = Date.now() - closedAt;
    expect(waited).toBeGreaterThanOrEqual(500);
    expect(waited).toBeLessThan(5000);
    expect(await tryConnect(forward.port)).toBe('ECONNREFUSED');
  });

  it('an abort signal closes the forward; an aborted signal refuses to open one', async () => {
    const controller = new AbortController();
    const forward = await openLocalForward(ssh, {
      remoteHost: '127.0.0.1',
      remotePort: echoServer.port,
      signal: controller.signal,
    });
    expect(await tryConnect(forward.port)).toBe('connected');
    controller.abort(new Error('stop'));
    await forward.closed;
    expect(await tryConnect(forward.port)).toBe('ECONNREFUSED');
    await expect(
      openLocalForward(ssh, {
        remoteHost: '127.0.0.1',
        remotePort: echoServer.port,
        signal: controller.signal,
      }),
    ).rejects.toThrow('stop');
  });

  it('a dropped connection ends the open sockets; the next client reconnects', async () => {
    const forward = await openLocalForward(ssh, {
      remoteHost: '127.0.0.1',
      remotePort: echoServer.port,
    });
    try {
      const client = createConnection({ host: '127.0.0.1', port: forward.port });
      client.on('error', () => {});
      const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      // The channel open confirmed, not only the target connected (sshd connects first): a drop
      // during the open would rightly be retried on a new connection, and this client kept.
      await until(() => ssh.stats.forwardedChannels === 1, 'the channel');
      const connects = ssh.stats.connects;
      ssh.dropConnection();
      await clientClosed;
      const data = randomBytes(5000);
      expect(sha256(await roundTrip(forward.port, data))).toBe(sha256(data));
      expect(ssh.stats.connects).toBe(connects + 1);
    } finally {
      await forward.close();
    }
  });

  it('a server that forbids the target (permitopen) is a non-retryable "prohibited" TransportError', async () => {
    const keys = `${target.dir}/authorized_keys`;
    const original = readFileSync(keys, 'utf8');
    // sshd reads authorized_keys at each login: this restriction holds for a new connection only.
    writeFileSync(keys, `permitopen="127.0.0.1:1" ${original}`);
    const restricted = connect(target);
    try {
      const error = await failure(restricted.forwardOut('127.0.0.1', echoServer.port));
      expect(error.code).toBe('TRANSPORT');
      expect(error.retryable).toBe(false);
      expect(error.details).toMatchObject({ reason: 'prohibited' });
      // OpenSSH 9.2 sends reason 1 (administratively prohibited) with the text "open failed".
      expect(error.message).toContain('open failed');
    } finally {
      writeFileSync(keys, original);
      await restricted.close();
    }
  });

  it('closing the SSH connection ends forwarded channels; later ones fail as closed', async () => {
    const own = connect(target);
    const forward = await openLocalForward(own, {
      remoteHost: '127.0.0.1',
      remotePort: echoServer.port,
    });
    const errors: unknown[] = [];
    try {
      const client = createConnection({ host: '127.0.0.1', port: forward.port });
      client.on('error', () => {});
      const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      await until(() => own.stats.forwardedChannels === 1, 'the channel');
      await own.close();
      await clientClosed;
      const error = await failure(own.forwardOut('127.0.0.1', echoServer.port));
      expect(error.code).toBe('TRANSPORT');
      expect(error.message).toContain('the transport was closed');
      errors.length = 0;
    } finally {
      await forward.close();
    }
  });
});
