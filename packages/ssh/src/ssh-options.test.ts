import { InvalidSpecError } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { createSshTransport, type SshTransportOptions } from './index.js';

const base = {
  host: 'kvm1',
  username: 'hvkit',
  agent: '/run/agent.sock',
  hostKey: { insecure: true },
} satisfies SshTransportOptions;

function issues(options: unknown): string[] {
  try {
    createSshTransport(options as SshTransportOptions);
  } catch (error) {
    if (InvalidSpecError.isInstance(error)) return error.issues.map((issue) => issue.path);
    throw error;
  }
  return [];
}

describe('SSH options', () => {
  it('accepts a minimal agent setup and makes no connection', () => {
    const ssh = createSshTransport(base);
    expect(ssh.stats).toMatchObject({ connects: 0, connected: false });
    expect(JSON.stringify(ssh)).toBe('{"host":"kvm1","port":22,"username":"hvkit"}');
  });

  it('names every bad field at once', () => {
    expect(
      issues({
        host: '',
        username: '',
        port: 70_000,
        maxChannels: 0,
        hostKey: { fingerprint256: 'nope' },
      }).sort(),
    ).toEqual(['host', 'hostKey.fingerprint256', 'maxChannels', 'port', 'privateKey', 'username']);
  });

  it('wants exactly one host-key policy and insecure only as true', () => {
    expect(issues({ ...base, hostKey: {} })).toEqual(['hostKey']);
    expect(issues({ ...base, hostKey: { insecure: true, knownHosts: '/k' } })).toEqual(['hostKey']);
    expect(issues({ ...base, hostKey: { insecure: false } })).toEqual(['hostKey.insecure']);
    expect(issues({ ...base, hostKey: undefined })).toEqual(['hostKey']);
  });

  it('refuses a private key that does not parse, without echoing it', () => {
    const key =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----';
    try {
      createSshTransport({ ...base, agent: undefined, privateKey: key });
      expect.unreachable();
    } catch (error) {
      expect(InvalidSpecError.isInstance(error)).toBe(true);
      expect((error as Error).message).toContain('privateKey');
      expect((error as Error).message).not.toContain('bm90IGEga2V5');
    }
  });

  it('agent: true needs SSH_AUTH_SOCK', () => {
    const saved = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      expect(issues({ ...base, agent: true })).toEqual(['agent']);
    } finally {
      if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
    }
  });
});
