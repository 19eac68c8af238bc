import { createHmac } from 'node:crypto';
import { HvkitError } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import {
  checkKnownHostKey,
  checkPinnedHostKey,
  hostFieldMatches,
  knownHostsName,
  normalizeSshFingerprint,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  sshFingerprint256,
} from './host-key.js';

// Real OpenSSH-shaped key blobs are not needed: the checks compare bytes and hash them.
const keyA = Buffer.from('0000000b7373682d6564323535313900000020aa', 'hex');
const keyB = Buffer.from('0000000b7373682d6564323535313900000020bb', 'hex');
const target = { host: 'kvm1.example.com', port: 2222, file: '/k' };

describe('fingerprints', () => {
  it('is SHA256: and unpadded base64, like ssh-keygen -l', () => {
    const fingerprint = sshFingerprint256(keyA);
    expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(normalizeSshFingerprint(`${fingerprint}=`)).toBe(fingerprint);
  });

  it('refuses hex or truncated pins with an InvalidSpecError naming the field', () => {
    for (const bad of ['AB:CD', 'SHA256:short', 'MD5:00:11', `sha256:${'A'.repeat(43)}`]) {
      expect(() => normalizeSshFingerprint(bad)).toThrow(/hostKey\.fingerprint256/);
    }
  });

  it('a pin mismatch names expected and actual and is not retryable', () => {
    const pin = sshFingerprint256(keyA);
    expect(checkPinnedHostKey(pin, keyA, target)).toBeUndefined();
    const error = checkPinnedHostKey(pin, keyB, target);
    expect(HvkitError.hasCode(error, 'TRANSPORT')).toBe(true);
    expect(error?.retryable).toBe(false);
    expect(error?.message).toContain(`expected ${pin}, got ${sshFingerprint256(keyB)}`);
  });
});

describe('known_hosts', () => {
  const line = (hosts: string, key: Buffer, marker = ''): string =>
    `${marker ? `${marker} ` : ''}${hosts} ssh-ed25519 ${key.toString('base64')} comment`;

  it('looks a non-22 port up as [host]:port, 22 as the bare host', () => {
    expect(knownHostsName('h', 22)).toBe('h');
    expect(knownHostsName('h', 2222)).toBe('[h]:2222');
  });

  it('matches lists, wildcards, negations and hashed names (case-insensitively)', () => {
    expect(hostFieldMatches('a,[KVM1.example.com]:2222', '[kvm1.example.com]:2222')).toBe(true);
    expect(hostFieldMatches('*.example.com', 'kvm1.example.com')).toBe(true);
    expect(hostFieldMatches('kvm?.example.com', 'kvm1.example.com')).toBe(true);
    expect(hostFieldMatches('*.example.com,!kvm1.example.com', 'kvm1.example.com')).toBe(false);
    expect(hostFieldMatches('kvm1.example.com', 'kvm1xexample.com')).toBe(false);
    const salt = Buffer.alloc(20, 3);
    const hash = createHmac('sha1', salt).update('[kvm1.example.com]:2222').digest();
    const hashed = `|1|${salt.toString('base64')}|${hash.toString('base64')}`;
    expect(hostFieldMatches(hashed, '[kvm1.example.com]:2222')).toBe(true);
    expect(hostFieldMatches(hashed, 'kvm1.example.com')).toBe(false);
  });

  it('skips comments, junk and unknown markers; keeps line numbers', () => {
    const entries = parseKnownHosts(
      ['# comment', '', 'only-host', line('[kvm1.example.com]:2222', keyA), '@weird h k x'].join(
        '\n',
      ),
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ line: 4, keyType: 'ssh-ed25519', marker: undefined });
  });

  it('accepts a listed key, refuses a changed one naming both, an unknown host, a revoked key', () => {
    const hosts = '[kvm1.example.com]:2222';
    const entries = parseKnownHosts(line(hosts, keyA));
    expect(checkKnownHostKey(entries, keyA, target)).toBeUndefined();
    const changed = checkKnownHostKey(entries, keyB, target);
    expect(changed?.message).toContain('CHANGED');
    expect(changed?.details.expectedFingerprints256).toEqual([sshFingerprint256(keyA)]);
    expect(changed?.details.actualFingerprint256).toBe(sshFingerprint256(keyB));
    const unknown = checkKnownHostKey(entries, keyA, { ...target, port: 22 });
    expect(unknown?.message).toContain('is not in');
    const revoked = parseKnownHosts([line(hosts, keyA), line('*', keyA, '@revoked')].join('\n'));
    expect(checkKnownHostKey(revoked, keyA, target)?.message).toContain('@revoked');
    // A certificate authority line is not a host key.
    const authority = parseKnownHosts(line(hosts, keyA, '@cert-authority'));
    expect(checkKnownHostKey(authority, keyA, target)?.message).toContain('is not in');
  });

  it('prefers the key types known_hosts holds (RSA under its SHA-2 names too)', () => {
    const entries = parseKnownHosts(
      `h ssh-rsa ${keyA.toString('base64')}\nh ssh-ed25519 ${keyB.toString('base64')}`,
    );
    expect(preferredHostKeyAlgorithms(entries)).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
    ]);
  });
});
