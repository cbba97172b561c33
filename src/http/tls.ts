/**
 * TLS material for the HTTPS/HTTP2 listener: the user's certificate, or a self-signed development
 * certificate generated once into the data directory (EC P-256, SANs localhost/127.0.0.1/::1) and
 * reused on later starts so browsers keep trusting an exception made for it.
 */
import { webcrypto } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
// @peculiar/x509's DI container (tsyringe) needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { AppError } from '../errors.ts';

export interface TlsMaterial {
  key: string;
  cert: string;
  /** Where they came from, for the start-up line. */
  source: 'provided' | 'generated' | 'reused';
  certPath: string;
}

/**
 * Reads the given key and certificate, or makes (or reuses) a self-signed pair under `dataDir/tls`.
 * @example const tls = await loadTls({ dataDir: './data' })
 */
export async function loadTls(options: { dataDir: string; cert?: string; key?: string }): Promise<TlsMaterial> {
  if (options.cert && options.key) {
    try {
      const [cert, key] = await Promise.all([readFile(options.cert, 'utf8'), readFile(options.key, 'utf8')]);
      return { cert, key, source: 'provided', certPath: options.cert };
    } catch (err) {
      throw new AppError('CONFIG_INVALID', `cannot read TLS certificate or key: ${(err as Error).message}`, { cause: err });
    }
  }
  const dir = join(options.dataDir, 'tls');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  try {
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    return { cert, key, source: 'reused', certPath };
  } catch {
    // none yet: generate below
  }
  const { cert, key } = await generateSelfSigned();
  await mkdir(dir, { recursive: true });
  await writeFile(keyPath, key, { mode: 0o600 });
  await writeFile(certPath, cert);
  return { cert, key, source: 'generated', certPath };
}

/** A self-signed certificate for localhost, valid for ten years. */
export async function generateSelfSigned(): Promise<{ cert: string; key: string }> {
  // @peculiar/x509 is typed against the DOM's Crypto; Node's webcrypto is the same API.
  const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1] & typeof webcrypto;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Date.now().toString(16),
      name: 'CN=localhost, O=tablecast development certificate',
      notBefore,
      notAfter: new Date(notBefore.getTime() + 10 * 365 * 86_400_000),
      keys: keys as never,
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
  const key = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8).toString('base64').replace(/(.{64})/g, '$1\n').trim()}\n-----END PRIVATE KEY-----\n`;
  return { cert: certificate.toString('pem') + '\n', key };
}
