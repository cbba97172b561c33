/**
 * TLS material for the HTTPS/HTTP2 listener: the user's certificate, or a self-signed development
 * certificate generated once into the data directory (EC P-256, SANs localhost/127.0.0.1/::1) and
 * reused on later starts so browsers keep trusting an exception made for it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../errors.ts';
import { messageOf } from '../util/guards.ts';

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
      throw new AppError('CONFIG_INVALID', `cannot read TLS certificate or key: ${messageOf(err)}`, { cause: err });
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
  // Loaded only here: @peculiar/x509 costs ~120 ms of start-up, and its DI container needs
  // `reflect-metadata`, which patches the global `Reflect` of the whole process (an embedder's too).
  const { generateSelfSigned } = await import('./self-signed.ts');
  const { cert, key } = await generateSelfSigned();
  await mkdir(dir, { recursive: true });
  await writeFile(keyPath, key, { mode: 0o600 });
  await writeFile(certPath, cert);
  return { cert, key, source: 'generated', certPath };
}
