// Dropped connections against a real sshd: the sshd processes serving the session are killed
// (SIGKILL, found with pgrep under our listener) while a command runs; that call fails with a
// TransportError saying it may have run, and the next call reconnects by itself.
import { setTimeout as sleep } from 'node:timers/promises';
import { HvkitError } from '@hvkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createSshTransport } from '../src/index.js';
import { type SshdBed, startSshdBed } from './sshd-bed.js';

const bed = await startSshdBed();

async function failure(promise: Promise<unknown>): Promise<HvkitError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!HvkitError.isInstance(error))
    throw new Error(`expected an hvkit error, got ${String(error)}`);
  return error;
}

/** Waits until the listener has a session child (the connection is being served). */
async function sessionChildren(target: SshdBed): Promise<number[]> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const pids = target.descendants();
    if (pids.length > 0) return pids;
    await sleep(20);
  }
  throw new Error('no sshd child serving the session');
}

describe.skipIf(!bed)('dropped connections against a real sshd', () => {
  const target = bed as SshdBed;
  const ssh = createSshTransport({
    host: target.host,
    port: target.port,
    username: target.username,
    privateKey: target.privateKey,
    hostKey: { fingerprint256: target.hostKeyFingerprint256 },
    keepaliveIntervalMs: 1000,
  });
  afterAll(async () => {
    await ssh.close();
    await target.stop();
  });

  it('fails the in-flight call as "may have run", then reconnects for the next call', async () => {
    expect((await ssh.exec(['echo', 'before'])).stdout.toString()).toBe('before\n');
    expect(ssh.stats.connects).toBe(1);
    const inFlight = ssh.exec(['sleep', '30']);
    await sleep(200);
    const killed = target.killChildren();
    expect(killed.length).toBeGreaterThan(0);
    const error = await failure(inFlight);
    expect(error.code).toBe('TRANSPORT');
    expect(error.details).toMatchObject({ outcome: 'unknown', program: 'sleep' });
    expect(error.message).toContain('may have run');
    // Not marked idempotent: the caller must not retry blindly.
    expect(error.retryable).toBe(false);

    const after = await ssh.exec(['echo', 'after']);
    expect(after.stdout.toString()).toBe('after\n');
    expect(ssh.stats.connects).toBe(2);
  });

  it('an idempotent call lost in flight is retryable, and retrying it succeeds', async () => {
    const inFlight = ssh.exec(['sh', '-c', 'sleep 30; echo done'], { idempotent: true });
    await sessionChildren(target);
    await sleep(200);
    target.killChildren();
    const error = await failure(inFlight);
    expect(error.retryable).toBe(true);
    expect(error.details.outcome).toBe('unknown');
    const retried = await ssh.exec(['echo', 'retried'], { idempotent: true });
    expect(retried.code).toBe(0);
  });

  it('survives an sshd restart; an unreachable host fails as not sent (retryable)', async () => {
    await ssh.exec(['true']);
    const connectsBefore = ssh.stats.connects;
    await target.restart(); // drops the connection; restarted at once
    expect((await ssh.exec(['echo', 'up'])).stdout.toString()).toBe('up\n');
    expect(ssh.stats.connects).toBe(connectsBefore + 1);

    const stopped = createSshTransport({
      host: target.host,
      port: 1, // nothing listens on port 1 here
      username: target.username,
      privateKey: target.privateKey,
      hostKey: { fingerprint256: target.hostKeyFingerprint256 },
    });
    const refused = await failure(stopped.exec(['true']));
    expect(refused.code).toBe('TRANSPORT');
    expect(refused.retryable).toBe(true);
    expect(refused.details.outcome).toBe('not-sent');
  });

  it('many concurrent calls across a drop: each either succeeds or fails honestly', async () => {
    const calls = Array.from({ length: 12 }, (_, index) =>
      ssh.exec(['sh', '-c', `sleep 0.${(index % 5) + 5}; echo ${index}`]).then(
        (result) => ({ ok: true as const, result }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
    );
    // Kill once commands are running (a loaded machine may take a while to open the channels),
    // while each still sleeps at least 0.5 s.
    for (let waited = 0; ssh.stats.activeChannels === 0 && waited < 5_000; waited += 10)
      await sleep(10);
    await sleep(50);
    target.killChildren();
    const outcomes = await Promise.all(calls);
    for (const outcome of outcomes) {
      if (outcome.ok) {
        expect(outcome.result.code).toBe(0);
      } else {
        expect(HvkitError.hasCode(outcome.error, 'TRANSPORT')).toBe(true);
        expect(['unknown', 'not-sent']).toContain((outcome.error as HvkitError).details.outcome);
      }
    }
    expect(outcomes.some((outcome) => !outcome.ok)).toBe(true);
    expect((await ssh.exec(['echo', 'fine'])).stdout.toString()).toBe('fine\n');
    expect(ssh.stats.activeChannels).toBe(0);
  });

  it('keep-alive notices a peer that stopped answering (SIGSTOP) and the next call reconnects', async () => {
    await ssh.exec(['true']);
    const connectsBefore = ssh.stats.connects;
    const inFlight = ssh.exec(['sleep', '30']);
    await sleep(200);
    const frozen = target.descendants();
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    const started = Date.now();
    try {
      const error = await failure(inFlight);
      // keepaliveIntervalMs 1000 × keepaliveCountMax 3, plus scheduling slack.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(error.code).toBe('TRANSPORT');
      expect(error.details.outcome).toBe('unknown');
    } finally {
      for (const pid of frozen) {
        try {
          process.kill(pid, 'SIGKILL');
          process.kill(pid, 'SIGCONT');
        } catch {}
      }
    }
    expect((await ssh.exec(['echo', 'alive'])).stdout.toString()).toBe('alive\n');
    expect(ssh.stats.connects).toBe(connectsBefore + 1);
  });
});
