/**
 * Configuration: where settings come from, and the pure `loadConfig` that merges the config file,
 * `TABLECAST_*` environment variables and command-line flags (in that order of strength),
 * validates once against the settings schema (config/settings.ts), lists every problem, and freezes
 * the result.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { AppError } from './errors.ts';
import { ConfigSchema, type ConfigInput, type Config } from './config/settings.ts';
import { codeOf, isObject, messageOf } from './util/guards.ts';

export { ACTIONS, AuthSchema, type Action, type AuthConfig, type ChannelAction, type ClusterConfig, type Config, type ConfigInput, type CorsConfig, type StaticConfig } from './config/settings.ts';

/** Environment variable → config key: the one table of names scripts can rely on. */
const ENV_NAMES: Readonly<Record<string, keyof ConfigInput>> = {
  TABLECAST_PORT: 'port',
  TABLECAST_HOST: 'host',
  TABLECAST_SCHEMAS: 'schemas',
  TABLECAST_DATA: 'data',
  TABLECAST_TLS: 'tls',
  TABLECAST_CERT: 'cert',
  TABLECAST_KEY: 'key',
  TABLECAST_DURABILITY: 'durability',
  TABLECAST_WORKERS: 'workers',
  TABLECAST_CLUSTER: 'cluster',
  TABLECAST_BODY_LIMIT: 'bodyLimit',
  TABLECAST_PING_INTERVAL: 'pingInterval',
  TABLECAST_RETENTION: 'retention',
  TABLECAST_EXPIRY_SWEEP_INTERVAL: 'expirySweepInterval',
  TABLECAST_MAX_STREAMS: 'maxStreams',
  TABLECAST_MAX_STREAMS_PER_ADDRESS: 'maxStreamsPerAddress',
  TABLECAST_STREAM_QUEUE_FRAMES: 'streamQueueFrames',
  TABLECAST_STREAM_QUEUE_BYTES: 'streamQueueBytes',
  TABLECAST_SSE_RETRY: 'sseRetry',
  TABLECAST_MAX_CHANNEL_SUBSCRIBERS: 'maxChannelSubscribers',
  TABLECAST_MAX_CHANNEL_MESSAGE_BYTES: 'maxChannelMessageBytes',
  TABLECAST_MAX_QUERY_TERMS: 'maxQueryTerms',
  TABLECAST_MAX_SORT_RECORDS: 'maxSortRecords',
  TABLECAST_MAX_RECORD_VALUES: 'maxRecordValues',
  TABLECAST_MAX_BULK_RECORDS: 'maxBulkRecords',
  TABLECAST_GRAPHQL_MAX_TOKENS: 'graphqlMaxTokens',
  TABLECAST_GRAPHQL_MAX_DEPTH: 'graphqlMaxDepth',
  TABLECAST_GRAPHQL_MAX_ALIASES: 'graphqlMaxAliases',
  TABLECAST_GRAPHQL_MAX_RESULTS: 'graphqlMaxResults',
  TABLECAST_HEADERS_TIMEOUT: 'headersTimeout',
  TABLECAST_REQUEST_TIMEOUT: 'requestTimeout',
  TABLECAST_KEEP_ALIVE_TIMEOUT: 'keepAliveTimeout',
  TABLECAST_MAX_HEADER_SIZE: 'maxHeaderSize',
  TABLECAST_MAX_CONNECTIONS: 'maxConnections',
  TABLECAST_MAX_CONNECTIONS_PER_ADDRESS: 'maxConnectionsPerAddress',
  TABLECAST_HTTP2_MAX_CONCURRENT_STREAMS: 'http2MaxConcurrentStreams',
  TABLECAST_HTTP2_MAX_SESSION_MEMORY: 'http2MaxSessionMemory',
  TABLECAST_AUTH: 'auth',
  TABLECAST_CORS: 'cors',
  TABLECAST_STATIC: 'static',
  TABLECAST_CONSOLE: 'console',
  TABLECAST_LOG_LEVEL: 'logLevel',
};

export interface ConfigSources {
  /** Values from command-line flags (already parsed). */
  flags?: Partial<ConfigInput>;
  env?: Readonly<Record<string, string | undefined>>;
  /** Path of `tablecast.config.json`; when absent, `./tablecast.config.json` is read if it exists. */
  configFile?: string;
  /** The directory relative paths are resolved against. */
  cwd?: string;
}

/** Where a setting was given: a config file, an environment variable, or a command-line flag. */
export type ConfigOrigin = { file: string } | { env: string } | { flag: string };

/** One problem of the configuration. */
export interface ConfigProblem {
  /** The setting's path in the merged configuration: `port`, `auth.users.bob.password`. */
  path: string;
  /** Where to fix it: `TABLECAST_PORT`, `--port`, `/etc/tablecast.json: auth.users.bob.password`, or the path when it was given in code. */
  where: string;
  message: string;
}

/** What {@link inspectConfig} found. */
export interface ConfigReport {
  /** The configuration, when there are no problems. */
  config?: Config;
  /** Every setting that is valid on its own (defaults included, paths resolved), so later checks can run even when others failed. */
  settings: Partial<Config>;
  problems: ConfigProblem[];
}

// Merged settings, and the configurations validated from them, carry where each setting came from
// under this key. Enumerable, so that copies made with `{ ...config }` (createServer's options)
// keep it and a check at start-up can still name `TABLECAST_PORT` rather than `port`.
const ORIGINS = Symbol('tablecast.config.origins');
type Origins = ReadonlyMap<string, ConfigOrigin>;

/** A lone --cert or --key: the setting that is missing. */
const PAIRED: Readonly<Record<string, string>> = { cert: 'key', key: 'cert' };

/**
 * Merges and validates configuration; throws `CONFIG_INVALID` listing every problem with where it was set.
 * @example const config = loadConfig({ env: { TABLECAST_PORT: '8080' }, flags: { data: './data' } })
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  return validateConfig(mergeConfig(sources), sources.cwd ?? '.');
}

/**
 * Merges the config file, `TABLECAST_*` variables and flags (in that order of strength) without
 * validating, remembering where each setting came from; an empty variable counts as unset.
 * @throws AppError `CONFIG_INVALID` when a named config file is missing, or a config file is unreadable or not a JSON object.
 * @example createServer(mergeConfig({ env: { TABLECAST_PORT: "8080" }, flags: { data: "./data" } }))
 */
export function mergeConfig(sources: ConfigSources = {}): Record<string, unknown> {
  const origins = new Map<string, ConfigOrigin>();
  const merged: Record<string, unknown> = {};
  const set = (key: string, value: unknown, origin: ConfigOrigin) => {
    merged[key] = value;
    origins.set(key, origin);
  };
  const file = readConfigFile(sources.configFile, sources.cwd ?? '.');
  if (file) for (const [key, value] of Object.entries(file.values)) set(key, value, { file: file.path });
  for (const [name, key] of Object.entries(ENV_NAMES)) {
    const value = sources.env?.[name];
    if (value !== undefined && value !== '') set(key, value, { env: name });
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) {
    if (value !== undefined) set(key, value, { flag: key === 'tls' && value === false ? '--no-tls' : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` });
  }
  return withOrigins(merged, origins);
}

/**
 * Validates already merged settings, resolves paths against `cwd`, and freezes the result;
 * throws `CONFIG_INVALID` listing every problem.
 * @example validateConfig({ port: 0, tls: false })
 */
export function validateConfig(input: unknown, cwd = '.'): Config {
  const report = inspectConfig(input, cwd);
  if (report.config) return report.config;
  const n = report.problems.length;
  throw new AppError('CONFIG_INVALID', `invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${report.problems.map((p) => `  ${p.where}: ${p.message}`).join('\n')}`, {
    details: report.problems,
  });
}

/**
 * Validates merged settings without throwing: the configuration, or every problem (with where it
 * was set) and the settings that are valid nonetheless.
 * @example const { config, problems } = inspectConfig(mergeConfig({ env }))
 */
export function inspectConfig(input: unknown, cwd = '.'): ConfigReport {
  const raw: { [key: string]: unknown } = isObject(input) ? input : {};
  const origins = originsOf(raw);
  const parsed = ConfigSchema.safeParse(input);
  if (parsed.success) {
    const config: Config = withOrigins(resolvePaths(parsed.data, cwd), origins);
    return { config: Object.freeze(config), settings: config, problems: [] };
  }
  const problem = (path: readonly PropertyKey[], message: string): ConfigProblem => {
    // A lone --cert (or --key) is reported where the one given was set.
    const pair = path.length === 1 && raw[String(path[0])] === undefined ? PAIRED[String(path[0])] : undefined;
    return { path: jsonPath(path) || '(config)', where: settingLocation(raw, pair ? [pair] : path), message };
  };
  // One problem per unknown key, named (zod reports them together, at the object's own path).
  const problems = parsed.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => problem([...i.path, k], 'is not a setting')) : [problem(i.path, issueMessage(i))]));
  // The cert/key refinement does not run once any field failed; check the pair here as well,
  // so that every problem is listed at once, as promised. It is reported where the one given was set.
  if ((raw.cert === undefined) !== (raw.key === undefined) && !problems.some((p) => p.path === 'cert' || p.path === 'key')) {
    const missing = raw.cert === undefined ? 'cert' : 'key';
    problems.push(problem([missing], '--cert and --key go together'));
  }
  const failed = new Set(parsed.error.issues.map((i) => String(i.path[0] ?? '')));
  const settings: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries<z.ZodType>(ConfigSchema.shape)) {
    if (failed.has(key) || problems.some((p) => p.path === key)) continue;
    const one = schema.safeParse(raw[key]);
    if (one.success && one.data !== undefined) settings[key] = one.data;
  }
  // Each value passed its own setting's schema just above.
  return { settings: withOrigins(resolvePaths(settings as Partial<Config>, cwd), origins), problems };
}

/**
 * Where the setting at `path` was given, for messages: `--port`, `TABLECAST_PORT`,
 * `TABLECAST_AUTH: users.bob` (a path inside a JSON variable), `/srv/tablecast.config.json: auth.users.bob`,
 * or the path itself for settings given in code (or not at all).
 * @example settingLocation(mergeConfig({ env: { TABLECAST_PORT: 'abc' } }), ['port']) // 'TABLECAST_PORT'
 */
export function settingLocation(settings: object, path: readonly PropertyKey[]): string {
  const origin = path.length > 0 ? originsOf(settings)?.get(String(path[0])) : undefined;
  if (!origin) return jsonPath(path) || '(config)';
  if ('flag' in origin) return origin.flag;
  if ('env' in origin) return path.length > 1 ? `${origin.env}: ${jsonPath(path.slice(1))}` : origin.env;
  return `${origin.file}: ${jsonPath(path)}`;
}

/**
 * A path into JSON as written in JavaScript: `auth.users.bob.password`, `tables["db/*"]`, `origins[0]`.
 * @example jsonPath(['auth', 'roles', 'r', 'tables', 'db/*']) // 'auth.roles.r.tables["db/*"]'
 */
export function jsonPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => {
      if (typeof p === 'number') return `[${p}]`;
      const s = String(p);
      return /^[A-Za-z_$][\w$]*$/.test(s) ? (i === 0 ? s : `.${s}`) : `[${JSON.stringify(s)}]`;
    })
    .join('');
}

/** zod's message, except for a number that did not parse ("expected number, received NaN" for `abc`). */
function issueMessage(issue: z.core.$ZodIssue): string {
  // zod adds `received` to this issue at run time; its issue types do not declare it.
  if (issue.code === 'invalid_type' && issue.expected === 'number' && (issue as { received?: unknown }).received === 'NaN') return 'must be a number';
  return issue.message;
}

function resolvePaths<T extends Partial<Config>>(c: T, cwd: string): T {
  return {
    ...c,
    ...(c.schemas ? { schemas: resolve(cwd, c.schemas) } : {}),
    ...(c.data ? { data: resolve(cwd, c.data) } : {}),
    ...(c.cert ? { cert: resolve(cwd, c.cert) } : {}),
    ...(c.key ? { key: resolve(cwd, c.key) } : {}),
    ...(c.static ? { static: { ...c.static, dir: resolve(cwd, c.static.dir) } } : {}),
  };
}

/** The origins {@link withOrigins} attached to merged settings or a configuration, if any. */
function originsOf(settings: object): Origins | undefined {
  // Attached by defineProperty, outside the declared type of the settings.
  return (settings as { [ORIGINS]?: Origins })[ORIGINS];
}

function withOrigins<T extends object>(target: T, origins: Origins | undefined): T {
  if (origins) Object.defineProperty(target, ORIGINS, { value: origins, enumerable: true });
  return target;
}

function readConfigFile(path: string | undefined, cwd: string): { path: string; values: Record<string, unknown> } | undefined {
  const file = resolve(cwd, path ?? 'tablecast.config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (path === undefined && codeOf(err) === 'ENOENT') return undefined;
    throw new AppError('CONFIG_INVALID', `cannot read config file ${file}: ${messageOf(err)}`, { cause: err });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (!isObject(value) || Array.isArray(value)) throw new Error('the file must hold a JSON object');
    return { path: file, values: value };
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `config file ${file} is not valid: ${messageOf(err)}`, { cause: err });
  }
}
