/**
 * Everything start-up can refuse, checked before anything is opened or listened on, and reported
 * together: the settings (each with where it was set), the schema files (`file:line:column`), and
 * the settings against the schema and the machine (role patterns, row filters, password hashes,
 * table URLs the server's own routes own, TLS files, the data directory). `tablecast check` and
 * `createServer` both call {@link prepareStart}, so a configuration `check` passes is one `start`
 * accepts. Light on purpose: no fastify, GraphQL Yoga or LMDB, so `check` stays fast.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isPasswordHash } from '../auth/password.ts';
import { channelGrantProblems } from '../auth/channel-grants.ts';
import { policyProblems } from '../auth/policy.ts';
import { inspectConfig, settingLocation, type Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { SchemaModel } from '../schema/model.ts';
import { loadSchemaDir } from '../schema/parse.ts';
import { formatLocation, type SchemaProblem } from '../schema/problems.ts';
import { codeOf, messageOf } from '../util/guards.ts';

/** One reason not to start. */
export interface StartupProblem {
  /** `config` for settings (and what they name on disk), `schema` for the schema files. */
  kind: 'config' | 'schema';
  /** Where to fix it: `file:line:column`, `TABLECAST_PORT`, `--port`, `config.json: auth.users.bob.password`. */
  where: string;
  message: string;
}

/**
 * First path segments the server's own routes use (`/auth/login`, `/admin/connections`, `/health`,
 * `/metrics`): a database of that name would put its tables among them.
 */
const RESERVED_DATABASES: ReadonlyMap<string, string> = new Map<string, string>([
  ['auth', '/auth/* (login, token, logout, me)'],
  ['admin', '/admin/*'],
  ['health', '/health'],
  ['metrics', '/metrics'],
  ['channels', '/channels/{name}'],
  ['console', '/console (README › Console)'],
]);

/** Those first path segments: the server's own, whether or not their routes are on (`--static` serves no file under them). */
export const SERVER_PATH_PREFIXES: readonly string[] = [...RESERVED_DATABASES.keys()];

/** What the store and start-up keep in the data directory (LMDB's file and lock, the auth secret, the generated certificate). */
const DATA_FILES = ['tablecast.mdb', 'tablecast.mdb-lock', 'auth-secret', 'tls/cert.pem', 'tls/key.pem'];

/**
 * Validates the settings, loads the schema (unless given), and runs every start-up check.
 * @param input merged settings (`mergeConfig`, or createServer's options)
 * @throws AppError `CONFIG_INVALID` (or `SCHEMA_INVALID` when only the schema is at fault) listing every problem, one per line
 * @example const { config, model } = await prepareStart(mergeConfig({ env, flags }))
 */
export async function prepareStart(input: unknown, options: { model?: SchemaModel; cwd?: string } = {}): Promise<{ config: Config; model: SchemaModel }> {
  const report = inspectConfig(input, options.cwd);
  const { settings } = report;
  const where = (path: readonly PropertyKey[]) => settingLocation(settings, path);
  const problems: StartupProblem[] = report.problems.map((p) => ({ kind: 'config', where: p.where, message: p.message }));

  let model = options.model;
  if (!model && settings.schemas) {
    try {
      model = await loadSchemaDir(settings.schemas);
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'SCHEMA_INVALID') throw err;
      // SCHEMA_INVALID carries the schema loader's problems as its details (schema/parse.ts).
      const found = Array.isArray(err.details) ? (err.details as SchemaProblem[]) : [];
      if (found.length === 0) problems.push({ kind: 'schema', where: where(['schemas']), message: err.message });
      // A directory that is missing or empty is the `schemas` setting's problem: say where it was set.
      for (const p of found) {
        problems.push(
          p.file === settings.schemas && p.line === 0 ? { kind: 'config', where: where(['schemas']), message: p.message } : { kind: 'schema', where: formatLocation(p), message: p.message },
        );
      }
    }
  }
  if (model) problems.push(...routeProblems(model));
  if (settings.auth) {
    for (const [name, user] of Object.entries(settings.auth.users)) {
      if (!isPasswordHash(user.password)) {
        problems.push({ kind: 'config', where: where(['auth', 'users', name, 'password']), message: 'is not a whole hash from `tablecast hash-password` (scrypt$N$r$p$salt$hash)' });
      }
    }
    if (model) for (const p of policyProblems(settings.auth, model.tables)) problems.push({ kind: 'config', where: where(['auth', ...p.path]), message: p.message });
    for (const p of channelGrantProblems(settings.auth)) problems.push({ kind: 'config', where: where(['auth', ...p.path]), message: p.message });
  }
  if (settings.tls && settings.cert && settings.key) problems.push(...tlsProblems(settings.cert, settings.key, where));
  if (settings.data) {
    const unusable = dataDirProblem(settings.data);
    if (unusable) problems.push({ kind: 'config', where: where(['data']), message: unusable });
  }

  if (settings.static) {
    const unusable = staticDirProblem(settings.static.dir);
    if (unusable) problems.push({ kind: 'config', where: where(['static']), message: unusable });
  }

  if (problems.length > 0) throw startupError(problems);
  return { config: report.config!, model: model! };
}

/** The one error for a list of problems: a header line, then `  where: message` per problem. */
function startupError(problems: readonly StartupProblem[]): AppError {
  const schema = problems.some((p) => p.kind === 'schema');
  const config = problems.some((p) => p.kind === 'config');
  const what = schema && config ? 'configuration and schema' : schema ? 'schema' : 'configuration';
  const n = problems.length;
  const lines = problems.map((p) => `  ${p.where}: ${p.message}`);
  return new AppError(config ? 'CONFIG_INVALID' : 'SCHEMA_INVALID', `invalid ${what} (${n} problem${n === 1 ? '' : 's'}):\n${lines.join('\n')}`, { details: problems });
}

/** Exported tables whose URLs the server's own routes own: reserved databases, and `/{db}/graphql`. */
function routeProblems(model: SchemaModel): StartupProblem[] {
  const problems: StartupProblem[] = [];
  for (const def of model.tables) {
    if (!def.export) continue;
    const url = `/${def.database}/${def.export.name}`;
    const owner = RESERVED_DATABASES.get(def.database);
    if (owner)
      problems.push({ kind: 'schema', where: formatLocation(def.loc), message: `table ${def.typeName} would be served at ${url}, among the server's own routes ${owner}: choose another database` });
    if (def.export.name === 'graphql')
      problems.push({
        kind: 'schema',
        where: formatLocation(def.loc),
        message: `table ${def.typeName} would be served at ${url}, the GraphQL endpoint of database ${def.database}: choose another @export(name: …)`,
      });
  }
  return problems;
}

/** The certificate and key must be readable PEM and belong together (fastify would fail on them later, less clearly). */
function tlsProblems(certPath: string, keyPath: string, where: (path: readonly PropertyKey[]) => string): StartupProblem[] {
  const problems: StartupProblem[] = [];
  const read = (setting: 'cert' | 'key', path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      problems.push({ kind: 'config', where: where([setting]), message: `cannot read ${path}: ${messageOf(err)}` });
      return undefined;
    }
  };
  const certPem = read('cert', certPath);
  const keyPem = read('key', keyPath);
  let cert: X509Certificate | undefined;
  let key: KeyObject | undefined;
  try {
    if (certPem !== undefined) cert = new X509Certificate(certPem);
  } catch {
    problems.push({ kind: 'config', where: where(['cert']), message: `${certPath} holds no PEM certificate` });
  }
  try {
    if (keyPem !== undefined) key = createPrivateKey(keyPem);
  } catch {
    problems.push({ kind: 'config', where: where(['key']), message: `${keyPath} holds no unencrypted PEM private key` });
  }
  if (cert && key && !cert.checkPrivateKey(key)) {
    problems.push({ kind: 'config', where: where(['key']), message: `${keyPath} is not the private key of the certificate ${certPath}` });
  }
  return problems;
}

/** Why the `static` directory cannot be served, if it cannot: it must exist, be a directory and be readable. */
function staticDirProblem(dir: string): string | undefined {
  try {
    if (!statSync(dir).isDirectory()) return `cannot serve static files from ${dir}: it is not a directory`;
    accessSync(dir, constants.R_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    return `cannot serve static files from ${dir}: ${codeOf(err) === 'ENOENT' ? 'no such directory' : messageOf(err)}`;
  }
}

/**
 * Why the data directory cannot be used, without opening LMDB: it (or the nearest existing parent,
 * when it is still to be created) must be a directory we may write into.
 */
function dataDirProblem(dir: string): string | undefined {
  for (let probe = dir; ; probe = dirname(probe)) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(probe).isDirectory();
    } catch (err) {
      const code = codeOf(err);
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(probe) !== probe) continue;
      return `cannot open the data directory ${dir}: ${messageOf(err)}`;
    }
    // Worded as the store words its own failure to open, for scripts that look for it.
    if (!isDirectory) return `cannot open the data directory ${dir}: ${probe === dir ? 'it is not a directory' : `${probe} is not a directory`}`;
    try {
      accessSync(probe, constants.W_OK | constants.X_OK);
    } catch {
      return `cannot open the data directory ${dir}: permission denied (${probe === dir ? 'not writable' : `cannot create it in ${probe}`})`;
    }
    if (probe !== dir) return undefined;
    // Files left by another user (a start as root, say) stop LMDB as surely as the directory would.
    for (const name of DATA_FILES) {
      try {
        accessSync(join(dir, name), constants.R_OK | constants.W_OK);
      } catch (err) {
        if (codeOf(err) !== 'ENOENT') return `cannot open the data directory ${dir}: permission denied (${name} is not writable)`;
      }
    }
    return undefined;
  }
}
