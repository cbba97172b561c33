/**
 * The self-signed development certificate (EC P-256, SANs localhost/127.0.0.1/::1). Its own module
 * so that `tls.ts` loads it, and the `reflect-metadata` polyfill @peculiar/x509 needs, only when a
 * certificate must be made: the polyfill patches the process-wide `Reflect`.
 */
import { webcrypto } from 'node:crypto';
// @peculiar/x509's DI container (tsyringe) needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

/** A self-signed certificate for localhost, valid for ten years. */
export async function generateSelfSigned(): Promise<{ cert: string; key: string }> {
  // @peculiar/x509 is typed against the DOM's Crypto; Node's webcrypto is the same API.
  const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1] & typeof webcrypto;
  const alg: webcrypto.EcKeyGenParams & { hash: string } = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - 60_000);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Date.now().toString(16),
      name: 'CN=localhost, O=tablecast development certificate',
      notBefore,
      notAfter: new Date(notBefore.getTime() + 10 * 365 * 86_400_000),
      keys,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: 'localhost' },
          { type: 'ip', value: '127.0.0.1' },
          { type: 'ip', value: '::1' },
        ]),
      ],
    },
    crypto,
  );
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const key = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim()}\n-----END PRIVATE KEY-----\n`;
  return { cert: `${certificate.toString('pem')}\n`, key };
}
