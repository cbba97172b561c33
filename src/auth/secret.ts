/**
 * The HMAC key that signs tokens: from the configuration, or generated once into the data
 * directory (mode 0600) so tokens and sessions survive a restart.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Reads `dataDir/auth-secret`, creating it with 32 random bytes when missing.
 * @example const secret = configured ?? (await loadOrCreateSecret('./data'))
 */
export async function loadOrCreateSecret(dataDir: string): Promise<string> {
  const path = join(dataDir, 'auth-secret');
  try {
    const existing = (await readFile(path, 'utf8')).trim();
    if (existing.length >= 32) return existing;
  } catch {
    // none yet
  }
  const secret = randomBytes(32).toString('base64url');
  await mkdir(dataDir, { recursive: true });
  await writeFile(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}
