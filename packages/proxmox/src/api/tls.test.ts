import { InvalidSpecError, type Logger, TransportError } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient } from './client.js';
import {
  createCaSignedCertificate,
  createSelfSignedCertificate,
  replyJson,
  startTestHttpsServer,
  type TestCertificate,
  type TestHttpsServer,
} from './test-https-server.js';
import { createProxmoxDispatcher, fingerprintsEqual, normalizeFingerprint } from './tls.js';

const TOKEN = { type: 'token', tokenId: 'root@pam!t', secret: 'token-secret-1234' } as const;

let selfSigned: TestCertificate;
let other: TestCertificate;
let ca: TestCertificate;
let caSigned: TestHttpsServer;
let server: TestHttpsServer;
const clients: ProxmoxClient[] = [];

function client(
  port: number,
  tls: ConstructorParameters<typeof ProxmoxClient>[0]['tls'],
  logger?: Logger,
) {
  const created = new ProxmoxClient({ host: '127.0.0.1', port, credentials: TOKEN, tls, logger });
  clients.push(created);
  return created;
}

const answerVersion = (_request: unknown, response: Parameters<typeof replyJson>[0]) =>
  replyJson(response, 200, { data: { version: '8.4.1' } });

beforeAll(async () => {
  selfSigned = await createSelfSignedCertificate();
  other = await createSelfSignedCertificate('other');
  server = await startTestHttpsServer(selfSigned, answerVersion);
  const pair = await createCaSignedCertificate();
  ca = pair.ca;
  caSigned = await startTestHttpsServer(pair.leaf, answerVersion);
});

afterAll(async () => {
  await Promise.all(clients.map((item) => item.close()));
  await server.close();
  await caSigned.close();
});

describe('fingerprints', () => {
  it('normalises colon, plain, lower and upper case hex', () => {
    const colon = selfSigned.fingerprint256;
    const plain = colon.replace(/:/g, '').toLowerCase();
    expect(normalizeFingerprint(plain)).toBe(colon);
    expect(fingerprintsEqual(plain, colon)).toBe(true);
    expect(fingerprintsEqual(colon, other.fingerprint256)).toBe(false);
  });

  it('refuses anything that is not 32 bytes of hex', () => {
    for (const bad of ['', 'AB:CD', 'ZZ'.repeat(32), `${selfSigned.fingerprint256}:00`]) {
      expect(() => normalizeFingerprint(bad)).toThrow(InvalidSpecError);
    }
  });

  it('insecure cannot be combined with a pin or a CA', () => {
    expect(() =>
      createProxmoxDispatcher({ insecure: true, fingerprint256: selfSigned.fingerprint256 }),
    ).toThrow(InvalidSpecError);
    expect(() => createProxmoxDispatcher({ insecure: true, ca: ca.certPem })).toThrow(
      InvalidSpecError,
    );
  });
});

describe('TLS trust', () => {
  it('accepts a self-signed certificate whose pin matches (colon or plain hex)', async () => {
    const plain = selfSigned.fingerprint256.replace(/:/g, '').toLowerCase();
    await expect(
      client(server.port, { fingerprint256: selfSigned.fingerprint256 }).request('GET', '/version'),
    ).resolves.toEqual({ version: '8.4.1' });
    await expect(
      client(server.port, { fingerprint256: plain }).request('GET', '/version'),
    ).resolves.toEqual({ version: '8.4.1' });
  });

  it('refuses a certificate whose pin does not match, naming both fingerprints', async () => {
    const before = server.requests.length;
    const error = await client(server.port, { fingerprint256: other.fingerprint256 })
      .request('POST', '/nodes/pve/qemu', { vmid: 100 })
      .catch((caught: unknown) => caught);
    expect(TransportError.isInstance(error)).toBe(true);
    const transport = error as TransportError;
    expect(transport.retryable).toBe(false);
    expect(transport.message).toContain(`expected ${other.fingerprint256}`);
    expect(transport.message).toContain(`got ${selfSigned.fingerprint256}`);
    expect(transport.details).toMatchObject({
      expectedFingerprint256: other.fingerprint256,
      actualFingerprint256: selfSigned.fingerprint256,
    });
    expect(server.requests.length).toBe(before);
  });

  it('refuses an unknown self-signed certificate without a pin or CA', async () => {
    const error = await client(server.port, undefined)
      .request('GET', '/version')
      .catch((caught: unknown) => caught);
    expect(TransportError.isInstance(error)).toBe(true);
    expect((error as TransportError).retryable).toBe(false);
    expect((error as TransportError).message).toMatch(
      /TLS certificate not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT/,
    );
  });

  it('accepts a certificate signed by the given CA, and refuses one the CA did not sign', async () => {
    await expect(
      client(caSigned.port, { ca: ca.certPem }).request('GET', '/version'),
    ).resolves.toEqual({ version: '8.4.1' });
    const error = await client(server.port, { ca: ca.certPem })
      .request('GET', '/version')
      .catch((caught: unknown) => caught);
    expect(TransportError.isInstance(error)).toBe(true);
    expect((error as TransportError).message).toContain('TLS certificate not trusted');
  });

  it('with a CA and a pin, both must hold', async () => {
    const pair = await createCaSignedCertificate();
    const leafServer = await startTestHttpsServer(pair.leaf, answerVersion);
    try {
      await expect(
        client(leafServer.port, {
          ca: pair.ca.certPem,
          fingerprint256: pair.leaf.fingerprint256,
        }).request('GET', '/version'),
      ).resolves.toEqual({ version: '8.4.1' });
      const wrongCa = await client(leafServer.port, {
        ca: ca.certPem,
        fingerprint256: pair.leaf.fingerprint256,
      })
        .request('GET', '/version')
        .catch((caught: unknown) => caught);
      expect(TransportError.isInstance(wrongCa)).toBe(true);
      const wrongPin = await client(leafServer.port, {
        ca: pair.ca.certPem,
        fingerprint256: other.fingerprint256,
      })
        .request('GET', '/version')
        .catch((caught: unknown) => caught);
      expect((wrongPin as TransportError).message).toContain('does not match the pinned');
    } finally {
      await leafServer.close();
    }
  });

  it('insecure: true connects to anything and warns once per client', async () => {
    const warnings: string[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn: (message) => warnings.push(message),
      error() {},
    };
    const insecure = client(server.port, { insecure: true }, logger);
    await insecure.request('GET', '/version');
    await insecure.request('GET', '/version');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('verification is disabled');
    expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBeUndefined();
  });
});
