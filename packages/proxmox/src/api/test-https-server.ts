/**
 * Test support (not exported by the package): throwaway certificates made with @peculiar/x509 and
 * a loopback HTTPS server that records every request, so the client's tests talk real TLS and
 * real HTTP without a Proxmox host.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the metadata polyfill first.
import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A certificate, its private key (PEM) and its SHA-256 fingerprint (colon hex). */
export interface TestCertificate {
  certPem: string;
  keyPem: string;
  fingerprint256: string;
  keys: webcrypto.CryptoKeyPair;
  cert: x509.X509Certificate;
}

async function privateKeyPem(keys: webcrypto.CryptoKeyPair): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const base64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${base64.trim()}\n-----END PRIVATE KEY-----\n`;
}

async function finish(
  keys: webcrypto.CryptoKeyPair,
  cert: x509.X509Certificate,
): Promise<TestCertificate> {
  const certPem = cert.toString('pem');
  return {
    certPem,
    keyPem: await privateKeyPem(keys),
    fingerprint256: new X509Certificate(certPem).fingerprint256,
    keys,
    cert,
  };
}

const validity = () => ({
  notBefore: new Date(Date.now() - 24 * 3600 * 1000),
  notAfter: new Date(Date.now() + 24 * 3600 * 1000),
});

/** A self-signed leaf for `localhost` and 127.0.0.1, like Proxmox's default certificate. */
export async function createSelfSignedCertificate(
  commonName = 'localhost',
): Promise<TestCertificate> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${commonName}`,
    ...validity(),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    ],
  });
  return finish(keys, cert);
}

/** A CA (like `pve-root-ca.pem`) and a leaf for `localhost`/127.0.0.1 that it signed. */
export async function createCaSignedCertificate(): Promise<{
  ca: TestCertificate;
  leaf: TestCertificate;
}> {
  const caKeys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '02',
    name: 'CN=Test Proxmox Root CA',
    ...validity(),
    signingAlgorithm: ALGORITHM,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    ],
  });
  const leafKeys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const leafCert = await x509.X509CertificateGenerator.create({
    serialNumber: '03',
    subject: 'CN=localhost',
    issuer: caCert.subject,
    ...validity(),
    signingAlgorithm: ALGORITHM,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    ],
  });
  return { ca: await finish(caKeys, caCert), leaf: await finish(leafKeys, leafCert) };
}

/** One request as the server saw it. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Answers one request; may write to `response` directly or destroy the socket. */
export type TestHandler = (
  request: RecordedRequest,
  response: ServerResponse,
) => void | Promise<void>;

/** A running test server. */
export interface TestHttpsServer {
  port: number;
  requests: RecordedRequest[];
  /** Replaces the handler. */
  handle(handler: TestHandler): void;
  close(): Promise<void>;
}

/** Starts an HTTPS server on 127.0.0.1 with the given certificate. */
export async function startTestHttpsServer(
  certificate: Pick<TestCertificate, 'certPem' | 'keyPem'>,
  handler: TestHandler = (_request, response) => {
    response.writeHead(501);
    response.end();
  },
): Promise<TestHttpsServer> {
  let current = handler;
  const requests: RecordedRequest[] = [];
  const server: Server = createServer(
    { cert: certificate.certPem, key: certificate.keyPem },
    (incoming, response) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => {
        const recorded: RecordedRequest = {
          method: incoming.method ?? '',
          url: incoming.url ?? '',
          headers: incoming.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        requests.push(recorded);
        Promise.resolve(current(recorded, response)).catch((error: unknown) => {
          response.writeHead(599, String(error));
          response.end();
        });
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    handle(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Writes a Proxmox-style answer: JSON body, the message in the reason phrase. */
export function replyJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  reason?: string,
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json;charset=UTF-8';
  response.writeHead(status, reason ?? (status === 200 ? 'OK' : 'Error'), headers);
  response.end(text);
}
