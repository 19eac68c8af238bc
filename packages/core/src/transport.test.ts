import { describe, expect, it } from 'vitest';
import { InvalidSpecError, NotFoundError, TransportError } from './errors.js';
import {
  causeChain,
  fingerprintsEqual,
  normalizeFingerprint,
  pinnedConnectCheck,
  tlsConnectSettings,
  transportErrorFrom,
} from './transport.js';

const HEX = 'ab'.repeat(32);

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('fingerprints', () => {
  it('normalises plain and colon hex of any case to upper-case colon hex', () => {
    const colon = normalizeFingerprint(HEX);
    expect(colon).toBe(Array(32).fill('AB').join(':'));
    expect(normalizeFingerprint(colon.toLowerCase())).toBe(colon);
    expect(fingerprintsEqual(HEX, colon)).toBe(true);
    expect(fingerprintsEqual(HEX, 'cd'.repeat(32))).toBe(false);
  });

  it('refuses anything but 32 bytes of hex, naming the field', () => {
    for (const bad of ['', 'ab', `${HEX}ab`, 'zz'.repeat(32)]) {
      const error = (() => {
        try {
          normalizeFingerprint(bad, 'tls.pin');
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(InvalidSpecError.isInstance(error)).toBe(true);
      expect((error as InvalidSpecError).issues[0]?.path).toBe('tls.pin');
    }
  });
});

describe('tlsConnectSettings', () => {
  it('verifies against the system CAs, or the given CA, when nothing is pinned', () => {
    expect(tlsConnectSettings({}, 1000)).toEqual({
      pin: undefined,
      insecure: false,
      connect: { timeout: 1000 },
    });
    expect(tlsConnectSettings({ ca: 'PEM' }, 1000).connect).toEqual({ timeout: 1000, ca: ['PEM'] });
  });

  it('with a pin alone skips chain checks (the pin is the trust); with a CA keeps them', () => {
    const pinned = tlsConnectSettings({ fingerprint256: HEX }, 1000);
    expect(pinned.pin).toBe(normalizeFingerprint(HEX));
    expect(pinned.connect).toEqual({
      timeout: 1000,
      rejectUnauthorized: false,
      maxCachedSessions: 0,
    });
    expect(tlsConnectSettings({ fingerprint256: HEX, ca: ['A', 'B'] }, 1000).connect).toEqual({
      timeout: 1000,
      ca: ['A', 'B'],
      rejectUnauthorized: true,
      maxCachedSessions: 0,
    });
  });

  it('turns checks off only when asked, and never together with a CA or pin', () => {
    expect(tlsConnectSettings({ insecure: true }, 1000)).toEqual({
      pin: undefined,
      insecure: true,
      connect: { timeout: 1000, rejectUnauthorized: false },
    });
    for (const options of [
      { insecure: true, ca: 'PEM' },
      { insecure: true, fingerprint256: HEX },
    ]) {
      expect(() => tlsConnectSettings(options, 1000)).toThrow(InvalidSpecError);
    }
    expect(() => tlsConnectSettings({ fingerprint256: 'ab' }, 1000)).toThrow(InvalidSpecError);
  });
});

describe('pinnedConnectCheck', () => {
  const pin = normalizeFingerprint(HEX);
  const target = { hostname: 'pve.example', port: '8006' };

  it('accepts the pinned certificate in any notation', () => {
    expect(pinnedConnectCheck(pin, HEX.toUpperCase(), target)).toBeUndefined();
  });

  it('refuses another certificate or none, naming both fingerprints, not retryable', () => {
    const other = normalizeFingerprint('cd'.repeat(32));
    const error = pinnedConnectCheck(pin, other, target);
    expect(TransportError.isInstance(error)).toBe(true);
    expect(error?.retryable).toBe(false);
    expect(error?.message).toContain(`pve.example:8006`);
    expect(error?.message).toContain(`expected ${pin}, got ${other}`);
    expect(error?.details).toMatchObject({
      host: 'pve.example',
      expectedFingerprint256: pin,
      actualFingerprint256: other,
    });
    expect(pinnedConnectCheck(pin, undefined, target)?.message).toContain('got no certificate');
    expect(pinnedConnectCheck(pin, '', target)?.message).toContain('got no certificate');
  });
});

describe('transportErrorFrom', () => {
  const fetchFailed = (cause: Error) => new TypeError('fetch failed', { cause });

  it('says a refused connection was not sent and may be retried', () => {
    const error = transportErrorFrom(
      fetchFailed(withCode('connect ECONNREFUSED', 'ECONNREFUSED')),
      {
        where: 'vSphere PowerOnVM_Task',
        safe: false,
      },
    );
    expect(TransportError.isInstance(error)).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('the request was not sent');
    expect(error.details).toMatchObject({ outcome: 'not-sent', code: 'ECONNREFUSED' });
  });

  it('says a lost answer to a mutation has an unknown outcome and is not retryable', () => {
    const error = transportErrorFrom(fetchFailed(withCode('other side closed', 'UND_ERR_SOCKET')), {
      where: 'vSphere PowerOnVM_Task',
      safe: false,
    });
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('may or may not have been applied');
    expect(error.details).toMatchObject({ outcome: 'unknown' });
  });

  it('lets a read be retried after a lost answer', () => {
    const error = transportErrorFrom(fetchFailed(withCode('other side closed', 'UND_ERR_SOCKET')), {
      where: 'vSphere RetrievePropertiesEx',
      safe: true,
    });
    expect(error.retryable).toBe(true);
    expect(error.details).toMatchObject({ outcome: 'not-applied' });
  });

  it('names a TLS failure, is not retryable and carries the hint', () => {
    const error = transportErrorFrom(
      fetchFailed(withCode('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT')),
      { where: 'vSphere Login', safe: true, tlsHint: 'pass tls.ca' },
    );
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(
      /TLS certificate not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT.*pass tls\.ca$/,
    );
  });

  it('reports a deadline with the time allowed', () => {
    const error = transportErrorFrom(new Error('aborted'), {
      where: 'vSphere Login',
      safe: true,
      timeoutMs: 5000,
    });
    expect(error.message).toContain('within 5000 ms');
    expect(error.retryable).toBe(true);
  });

  it('returns an hvkit error found in the cause chain unchanged', () => {
    const pinned = new NotFoundError('vm', 'vm-1');
    expect(transportErrorFrom(fetchFailed(pinned), { where: 'x', safe: true })).toBe(pinned);
    expect(causeChain(fetchFailed(pinned))).toHaveLength(2);
  });
});
