// Trust and credentials against a real sshd: pinned fingerprint, known_hosts (plain and hashed by
// OpenSSH's own ssh-keygen -H), a changed host key, a wrong client key, the insecure warning,
// and secrets kept out of logs, errors and inspection.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { HvkitError, type Logger } from '@hvkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createSshTransport, type SshTransportOptions, sshFingerprint256 } from '../src/index.js';
import { extraClientKey, type SshdBed, startSshdBed } from './sshd-bed.js';

const bed = await startSshdBed();

function options(target: SshdBed, extra: Partial<SshTransportOptions> = {}): SshTransportOptions {
  return {
    host: target.host,
    port: target.port,
    username: target.username,
    privateKey: target.privateKey,
    hostKey: { fingerprint256: target.hostKeyFingerprint256 },
    ...extra,
  };
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

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const record =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    };
  return {
    lines,
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
}

describe.skipIf(!bed)('host keys and credentials against a real sshd', () => {
  const target = bed as SshdBed;
  afterAll(async () => {
    await target.stop();
  });

  it('computes the fingerprint exactly as ssh-keygen -l does', () => {
    const blob = Buffer.from(target.hostKeyLine.split(' ')[1] ?? '', 'base64');
    expect(sshFingerprint256(blob)).toBe(target.hostKeyFingerprint256);
  });

  it('connects with the pinned fingerprint', async () => {
    const ssh = createSshTransport(options(target));
    try {
      expect((await ssh.exec(['id', '-un'])).stdout.toString().trim()).toBe(target.username);
    } finally {
      await ssh.close();
    }
  });

  it('refuses a wrong pin before authenticating, naming both fingerprints', async () => {
    const wrong = `SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`;
    const authAttempts = (): number => target.log().split('Accepted key').length;
    const before = authAttempts();
    const ssh = createSshTransport(options(target, { hostKey: { fingerprint256: wrong } }));
    const error = await failure(ssh.exec(['true']));
    expect(error.code).toBe('TRANSPORT');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(wrong);
    expect(error.message).toContain(target.hostKeyFingerprint256);
    expect(error.details).toMatchObject({
      expectedFingerprint256: wrong,
      actualFingerprint256: target.hostKeyFingerprint256,
      outcome: 'not-sent',
    });
    // The server saw no authentication attempt: the key was refused during key exchange, before
    // the client offered its key.
    expect(authAttempts()).toBe(before);
  });

  it('connects with a known_hosts file, plain and hashed by ssh-keygen -H', async () => {
    const plain = createSshTransport(
      options(target, { hostKey: { knownHosts: target.knownHostsPath } }),
    );
    try {
      expect((await plain.exec(['echo', 'plain'])).stdout.toString()).toBe('plain\n');
    } finally {
      await plain.close();
    }
    const hashedPath = join(target.dir, 'known_hosts_hashed');
    // A decoy line for another host first, then the real entry, hashed by OpenSSH itself.
    writeFileSync(
      hashedPath,
      `other.example.com ssh-ed25519 ${Buffer.alloc(51, 1).toString('base64')}\n${readFileSync(target.knownHostsPath, 'utf8')}`,
    );
    execFileSync('ssh-keygen', ['-H', '-f', hashedPath], { stdio: 'ignore' });
    const hashedText = readFileSync(hashedPath, 'utf8');
    expect(hashedText).toMatch(/^\|1\|/m);
    expect(hashedText).not.toContain('127.0.0.1');
    const hashed = createSshTransport(options(target, { hostKey: { knownHosts: hashedPath } }));
    try {
      expect((await hashed.exec(['echo', 'hashed'])).stdout.toString()).toBe('hashed\n');
    } finally {
      await hashed.close();
    }
  });

  it('refuses a host missing from known_hosts (port matters: [host]:port)', async () => {
    const path = join(target.dir, 'known_hosts_port22');
    // The right key, but filed under port 22: OpenSSH would not use it for another port.
    writeFileSync(path, `127.0.0.1 ${target.hostKeyLine}\n`);
    const ssh = createSshTransport(options(target, { hostKey: { knownHosts: path } }));
    const error = await failure(ssh.exec(['true']));
    expect(error.code).toBe('TRANSPORT');
    expect(error.message).toContain('is not in');
    expect(error.message).toContain(`[127.0.0.1]:${target.port}`);
  });

  it('refuses a changed host key (pin and known_hosts), then a new pin works', async () => {
    const oldKnownHosts = join(target.dir, 'known_hosts_old');
    copyFileSync(target.knownHostsPath, oldKnownHosts);
    const oldPin = target.hostKeyFingerprint256;
    const pinned = createSshTransport(options(target));
    try {
      await pinned.exec(['true']);
      await target.restart({ rotateHostKey: true });
      expect(target.hostKeyFingerprint256).not.toBe(oldPin);
      // The restart dropped the connection; the reconnect meets the new key and refuses it.
      const error = await failure(pinned.exec(['true']));
      expect(error.code).toBe('TRANSPORT');
      expect(error.retryable).toBe(false);
      expect(error.message).toContain(`expected ${oldPin}, got ${target.hostKeyFingerprint256}`);
    } finally {
      await pinned.close();
    }
    const known = createSshTransport(options(target, { hostKey: { knownHosts: oldKnownHosts } }));
    const changed = await failure(known.exec(['true']));
    expect(changed.message).toContain('CHANGED');
    expect(changed.message).toContain(oldPin);
    expect(changed.message).toContain(target.hostKeyFingerprint256);
    expect(changed.details.expectedFingerprints256).toEqual([oldPin]);
    const renewed = createSshTransport(options(target));
    try {
      expect((await renewed.exec(['true'])).code).toBe(0);
    } finally {
      await renewed.close();
    }
  });

  it('a key the server does not accept is an AuthenticationError, not retryable', async () => {
    const wrongKey = extraClientKey(target.dir, 'id_wrong');
    const ssh = createSshTransport(options(target, { privateKey: wrongKey }));
    const error = await failure(ssh.exec(['true']));
    expect(error.code).toBe('AUTHENTICATION');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(target.username);
  });

  it('authenticates through an ssh-agent (agent: socket path) with no key given', async () => {
    const socket = join(target.dir, 'agent.sock');
    // -D: the agent stays our child, so it is stopped by its pid.
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let attempt = 0; attempt < 100 && !existsSync(socket); attempt++) await sleep(20);
      execFileSync('ssh-add', ['-q', target.privateKeyPath], {
        env: { ...process.env, SSH_AUTH_SOCK: socket },
        stdio: 'ignore',
      });
      const ssh = createSshTransport({ ...options(target), privateKey: undefined, agent: socket });
      try {
        expect((await ssh.exec(['id', '-un'])).stdout.toString().trim()).toBe(target.username);
      } finally {
        await ssh.close();
      }
    } finally {
      agent.kill('SIGTERM');
    }
  });

  it('insecure: connects, warns once per transport, and needs to be explicit', async () => {
    const logger = recordingLogger();
    const ssh = createSshTransport(options(target, { hostKey: { insecure: true }, logger }));
    try {
      await ssh.exec(['true']);
      ssh.dropConnection();
      await ssh.exec(['true']);
      expect(ssh.stats.connects).toBe(2);
      expect(logger.lines.filter((line) => line.startsWith('warn'))).toHaveLength(1);
      expect(logger.lines.find((line) => line.startsWith('warn'))).toContain('OFF');
    } finally {
      await ssh.close();
    }
    expect(() =>
      createSshTransport({ ...options(target), hostKey: {} as SshTransportOptions['hostKey'] }),
    ).toThrow(/hostKey/);
  });

  it('never shows the private key or passphrase in logs, errors, JSON or inspect', async () => {
    const encryptedPath = join(target.dir, 'id_encrypted');
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      'correct horse battery',
      '-f',
      encryptedPath,
    ]);
    const encrypted = readFileSync(encryptedPath, 'utf8');
    const logger = recordingLogger();
    const secretOptions = options(target, {
      privateKey: encrypted,
      passphrase: 'correct horse battery',
      logger,
    });
    // Wrong passphrase: refused before any I/O, naming the field, not the secret.
    const bad = (() => {
      try {
        createSshTransport({ ...secretOptions, passphrase: 'wrong horse battery' });
      } catch (error) {
        return error as HvkitError;
      }
      throw new Error('expected InvalidSpecError');
    })();
    expect(bad.code).toBe('INVALID_SPEC');
    expect(bad.message).toContain('privateKey');
    const ssh = createSshTransport(secretOptions);
    // The encrypted key is not authorised: authentication fails after decrypting it.
    const error = await failure(ssh.exec(['true']));
    expect(error.code).toBe('AUTHENTICATION');
    const body = encrypted.split('\n')[1] ?? '';
    expect(body.length).toBeGreaterThan(20);
    for (const text of [
      logger.lines.join('\n'),
      error.message,
      JSON.stringify(error),
      JSON.stringify(ssh),
      inspect(ssh, { depth: 10, showHidden: true }),
      bad.message,
      JSON.stringify(bad),
    ]) {
      expect(text).not.toContain('correct horse battery');
      expect(text).not.toContain('wrong horse battery');
      expect(text).not.toContain(body);
    }
  });
});
