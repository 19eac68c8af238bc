// Offline checks of the forward's input validation and of the channel-open error mapping (the
// behaviour against a real sshd is in test/forward.test.ts).
import { HvkitError } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { checkForwardTarget, forwardOpenError, isLoopbackAddress } from './forward.js';

describe('isLoopbackAddress', () => {
  it('accepts 127.0.0.0/8 and ::1 in its spellings, nothing else', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '127.255.255.255', '::1', '0:0:0:0:0:0:0:1'])
      expect(isLoopbackAddress(address)).toBe(true);
    for (const address of [
      '0.0.0.0',
      '::',
      '128.0.0.1',
      '10.0.0.1',
      '::2',
      '::ffff:127.0.0.1',
      'localhost',
      '127.0.0.1.example.com',
      '',
    ])
      expect(isLoopbackAddress(address)).toBe(false);
  });
});

describe('checkForwardTarget', () => {
  it('names remoteHost and remotePort', () => {
    let caught: unknown;
    try {
      checkForwardTarget('bad host\n', 0);
    } catch (error) {
      caught = error;
    }
    expect(HvkitError.hasCode(caught, 'INVALID_SPEC')).toBe(true);
    const issues = (caught as HvkitError).details.issues as { path: string }[];
    expect(issues.map((issue) => issue.path)).toEqual(['remoteHost', 'remotePort']);
    expect(() => checkForwardTarget('127.0.0.1', 5900)).not.toThrow();
    expect(() => checkForwardTarget('kvm1.example.com', 65_535)).not.toThrow();
    expect(() => checkForwardTarget('', 1)).toThrow(/remoteHost: required/);
    expect(() => checkForwardTarget('h', 1.5)).toThrow(/remotePort/);
  });
});

describe('forwardOpenError', () => {
  const context = { sshHost: 'h', sshPort: 22, host: '127.0.0.1', port: 5900, provider: 'lv' };
  it('maps RFC 4254 open failures 1 and 2; leaves others to the caller', () => {
    const prohibited = forwardOpenError(
      Object.assign(new Error('(SSH) Channel open failure: open failed'), { reason: 1 }),
      context,
    );
    expect(prohibited?.retryable).toBe(false);
    expect(prohibited?.details).toMatchObject({ reason: 'prohibited', outcome: 'not-sent' });
    const refused = forwardOpenError(
      Object.assign(new Error('(SSH) Channel open failure: Connection refused'), { reason: 2 }),
      context,
    );
    expect(refused?.retryable).toBe(true);
    expect(refused?.details).toMatchObject({ reason: 'connect-failed', port: 5900 });
    expect(refused?.provider).toBe('lv');
    expect(forwardOpenError(new Error('No response from server'), context)).toBeUndefined();
  });
});
