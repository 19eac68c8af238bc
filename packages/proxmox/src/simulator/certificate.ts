import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** A self-signed server certificate for 127.0.0.1 and localhost. */
export interface SimulatorCertificate {
  certificatePem: string;
  privateKeyPem: string;
  /** SHA-256 of the DER certificate, upper-case colon hex (Node's `cert.fingerprint256`). */
  fingerprint256: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Generates an ECDSA P-256 certificate valid from a day ago for a year. */
export async function generateCertificate(
  nowMs: number = Date.now(),
): Promise<SimulatorCertificate> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: createHash('sha256').update(String(nowMs)).digest('hex').slice(0, 16),
    name: 'CN=pve-simulator.hvkit.invalid, O=hvkit Proxmox VE simulator',
    notBefore: new Date(nowMs - 86_400_000),
    notAfter: new Date(nowMs + 365 * 86_400_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    ],
  });
  const privateKey = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const digest = createHash('sha256')
    .update(Buffer.from(certificate.rawData))
    .digest('hex')
    .toUpperCase();
  return {
    certificatePem: certificate.toString('pem'),
    privateKeyPem: pem('PRIVATE KEY', privateKey),
    fingerprint256: digest.match(/.{2}/g)?.join(':') ?? digest,
  };
}
