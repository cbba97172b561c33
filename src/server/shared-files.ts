/**
 * Files every worker of one server reads and the first start writes: the self-signed certificate
 * and the auth secret. The supervisor makes them before it forks, so N workers starting at once do
 * not each generate their own (the last writer would win, and a worker could serve a certificate
 * or verify tokens with a secret that is no longer on disk).
 */
import { loadOrCreateSecret } from '../auth/secret.ts';
import { createPolicy } from '../auth/policy.ts';
import type { Config } from '../config.ts';
import { loadTls } from '../http/tls.ts';
import type { SchemaModel } from '../schema/model.ts';

export async function prepareSharedFiles(config: Config, model: SchemaModel): Promise<void> {
  if (config.tls) await loadTls({ dataDir: config.data, ...(config.cert ? { cert: config.cert } : {}), ...(config.key ? { key: config.key } : {}) });
  if (createPolicy(config.auth, model.tables).enabled && !config.auth?.secret) await loadOrCreateSecret(config.data);
}
