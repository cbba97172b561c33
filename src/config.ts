/**
 * Configuration: one zod schema with every setting's default, and the pure `loadConfig` that merges
 * the config file, `TABLECAST_*` environment variables and command-line flags (in that order of
 * strength), validates once, lists every problem, and freezes the result.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { AppError } from './errors.ts';

const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().positive();
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((s) => ['true', '1', 'yes'].includes(s))]);

/** The five permissions (README › Security). */
export const ACTIONS = ['read', 'insert', 'update', 'delete', 'publish'] as const;
export type Action = (typeof ACTIONS)[number];

/** `true`, or `{ "filter": "<query>" }` restricting the action to matching records. */
const Permission = z.union([z.boolean(), z.object({ filter: z.string().min(1) }).strict()]);
/** Per table: a list of actions, or an object of action → permission. */
const TablePermissions = z.union([
  z.array(z.enum(ACTIONS)),
  z.object(Object.fromEntries(ACTIONS.map((a) => [a, Permission.optional()])) as { [A in Action]: z.ZodOptional<typeof Permission> }).strict(),
]);
export const AuthSchema = z
  .object({
    /** user name → scrypt hash (`tablecast hash-password`) and roles. */
    users: z
      .record(z.string().min(1).max(200), z.object({ password: z.string().regex(/^scrypt\$/, 'must be a hash from `tablecast hash-password`'), roles: z.array(z.string().min(1)).min(1) }).strict())
      .default({}),
    /** role → table (`database/name`, `database/*` or `*`) → permissions. `anonymous` applies without credentials. */
    roles: z
      .record(
        z.string().min(1),
        z
          .object({
            tables: z.record(z.string().min(1), TablePermissions).default({}),
            /** May read /metrics and /admin/connections. */
            admin: z.boolean().default(false),
          })
          .strict(),
      )
      .default({}),
    /** HMAC key for tokens; generated into the data directory when absent. */
    secret: z.string().min(32, 'must be at least 32 characters').optional(),
    /** Lifetime of bearer tokens (seconds). */
    tokenTtl: z.coerce.number().int().positive().default(3600),
    /** Lifetime of session cookies (seconds). */
    sessionTtl: z.coerce.number().int().positive().default(86_400),
    /**
     * Password checks (token, login, Basic) per client address per minute, reserved before hashing;
     * a successful check gives its reservation back, so this counts failed and running checks.
     */
    loginRate: z.coerce.number().int().positive().default(10),
    /**
     * Password checks hashing at once, server-wide (each is ~16 MiB and a libuv threadpool thread
     * for tens of ms). Default: half the CPU cores, at least 1 and at most 2 (of libuv's 4 threads).
     */
    maxConcurrentLogins: z.coerce.number().int().positive().optional(),
    /** Password checks waiting for a turn, server-wide; beyond it: 503 with Retry-After. */
    maxQueuedLogins: z.coerce.number().int().min(0).default(32),
  })
  .strict()
  .superRefine((a, ctx) => {
    for (const [name, user] of Object.entries(a.users)) {
      for (const role of user.roles) {
        if (!a.roles[role]) ctx.addIssue({ code: 'custom', path: ['users', name, 'roles'], message: `role "${role}" is not defined in auth.roles` });
      }
    }
  });
export type AuthConfig = z.output<typeof AuthSchema>;

const CorsSchema = z
  .object({
    /** Allowed origins (`https://app.example`), or `*` for any (then without credentials). */
    origins: z.union([z.literal('*'), z.array(z.string().regex(/^https?:\/\/[^/]+$/, 'must be an origin like https://app.example'))]),
    credentials: z.boolean().default(false),
    maxAge: z.coerce.number().int().min(0).default(600),
  })
  .strict()
  .refine((c) => !(c.credentials && c.origins === '*'), { message: 'credentials cannot be allowed for every origin (*); list the origins', path: ['credentials'] });
export type CorsConfig = z.output<typeof CorsSchema>;

/** JSON given through an environment variable. */
const json = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (typeof v === 'string' ? parseJson(v) : v), schema);
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // left for the schema to reject with a clear message
  }
}

const ConfigSchema = z
  .object({
    port: port.default(9996),
    host: z.string().min(1).default('localhost'),
    schemas: z.string().min(1).default('./schemas'),
    data: z.string().min(1).default('./data'),
    tls: bool.default(true),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    durability: z.enum(['commit', 'sync']).default('commit'),
    bodyLimit: z.coerce.number().int().min(1024).default(1024 * 1024),
    pingInterval: ms.default(15_000),
    retention: ms.default(86_400_000),
    expirySweepInterval: ms.default(1000),
    maxStreams: z.coerce.number().int().min(1).default(20_000),
    maxStreamsPerAddress: z.coerce.number().int().min(1).default(1000),
    streamQueueFrames: z.coerce.number().int().min(1).default(1000),
    streamQueueBytes: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
    sseRetry: z.coerce.number().int().min(0).default(3000),
    /** Most conditions in one query (REST, GraphQL filter arguments); QUERY_TOO_COMPLEX past it. */
    maxQueryTerms: z.coerce.number().int().min(1).default(100),
    /** Most records held in memory to sort one query; QUERY_TOO_COMPLEX past it. */
    maxSortRecords: z.coerce.number().int().min(1).default(100_000),
    /** Most values (attributes, list elements, nested values) in one record, message or JSON body; VALIDATION_FAILED past it. */
    maxRecordValues: z.coerce.number().int().min(10).default(5_000),
    /**
     * Most tokens in one GraphQL document. Validation compares same-named fields pairwise, so its cost
     * grows with the square of the document: ~10 ms at 1,000 tokens, ~60 ms at 2,000. GraphiQL's
     * introspection query has 184.
     */
    graphqlMaxTokens: z.coerce.number().int().min(1).default(1000),
    /** Deepest nesting of selections, spread fragments and literal values; GraphiQL's introspection needs 15. */
    graphqlMaxDepth: z.coerce.number().int().min(1).default(20),
    /** Most aliases in one GraphQL operation (each aliased root field is one more read or write). */
    graphqlMaxAliases: z.coerce.number().int().min(0).default(20),
    /**
     * Most records one GraphQL operation returns. graphql-js completes a list without yielding, at
     * ~1.5 µs per value: 2,000 records of 5 attributes hold the loop ~10 ms, 10,000 ~90 ms.
     */
    graphqlMaxResults: z.coerce.number().int().min(1).default(2000),
    /** A request head must arrive within this many ms of its first byte; so must a new connection's first request (and its TLS handshake). */
    headersTimeout: ms.default(20_000),
    /** The whole request, head and body, must arrive within this many ms (responses, streams included, are not bounded). */
    requestTimeout: ms.default(60_000),
    /** An idle connection is closed after this many ms: HTTP/1.1 between requests, an HTTP/2 session without frames. */
    keepAliveTimeout: ms.default(72_000),
    /** Largest request head (HTTP/1.1) or header list (HTTP/2), in bytes. */
    maxHeaderSize: z.coerce.number().int().min(1024).default(16_384),
    /** Open connections in total; 0: the process's file-descriptor limit less a reserve (a tenth, at least 128). */
    maxConnections: z.coerce.number().int().min(0).default(0),
    /** Open connections from one client address (IPv6: one /64). */
    maxConnectionsPerAddress: z.coerce.number().int().min(1).default(2000),
    /** Streams open at once on one HTTP/2 connection. */
    http2MaxConcurrentStreams: z.coerce.number().int().min(1).default(128),
    /** Memory one HTTP/2 session may use for its frames and header tables, in MiB. */
    http2MaxSessionMemory: z.coerce.number().int().min(1).default(10),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    auth: json(AuthSchema).optional(),
    cors: json(CorsSchema).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.cert === undefined) !== (c.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.cert ? 'key' : 'cert'], message: '--cert and --key go together' });
    }
    // Node refuses a server whose head may take longer than the whole request.
    if (c.headersTimeout > c.requestTimeout) {
      ctx.addIssue({ code: 'custom', path: ['headersTimeout'], message: `must not be longer than requestTimeout (${c.requestTimeout} ms)` });
    }
  });

export type Config = Readonly<z.output<typeof ConfigSchema>>;
export type ConfigInput = z.input<typeof ConfigSchema>;

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
  TABLECAST_BODY_LIMIT: 'bodyLimit',
  TABLECAST_PING_INTERVAL: 'pingInterval',
  TABLECAST_RETENTION: 'retention',
  TABLECAST_EXPIRY_SWEEP_INTERVAL: 'expirySweepInterval',
  TABLECAST_MAX_STREAMS: 'maxStreams',
  TABLECAST_MAX_STREAMS_PER_ADDRESS: 'maxStreamsPerAddress',
  TABLECAST_STREAM_QUEUE_FRAMES: 'streamQueueFrames',
  TABLECAST_STREAM_QUEUE_BYTES: 'streamQueueBytes',
  TABLECAST_SSE_RETRY: 'sseRetry',
  TABLECAST_MAX_QUERY_TERMS: 'maxQueryTerms',
  TABLECAST_MAX_SORT_RECORDS: 'maxSortRecords',
  TABLECAST_MAX_RECORD_VALUES: 'maxRecordValues',
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
  const raw = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const origins = (raw as { [ORIGINS]?: Origins })[ORIGINS];
  const parsed = ConfigSchema.safeParse(input);
  if (parsed.success) {
    const config = withOrigins(resolvePaths(parsed.data, cwd), origins) as Config;
    return { config: Object.freeze(config), settings: config, problems: [] };
  }
  const problem = (path: readonly PropertyKey[], message: string): ConfigProblem => {
    // A lone --cert (or --key) is reported where the one given was set.
    const pair = path.length === 1 && raw[String(path[0])] === undefined ? ({ cert: 'key', key: 'cert' } as Record<string, string>)[String(path[0])] : undefined;
    return { path: jsonPath(path) || '(config)', where: settingLocation(raw, pair ? [pair] : path), message };
  };
  // One problem per unknown key, named (zod reports them together, at the object's own path).
  const problems = parsed.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' ? i.keys.map((k) => problem([...i.path, k], 'is not a setting')) : [problem(i.path, issueMessage(i))],
  );
  // The cert/key refinement does not run once any field failed; check the pair here as well,
  // so that every problem is listed at once, as promised. It is reported where the one given was set.
  if ((raw.cert === undefined) !== (raw.key === undefined) && !problems.some((p) => p.path === 'cert' || p.path === 'key')) {
    const missing = raw.cert === undefined ? 'cert' : 'key';
    problems.push(problem([missing], '--cert and --key go together'));
  }
  const failed = new Set(parsed.error.issues.map((i) => String(i.path[0] ?? '')));
  const settings: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(ConfigSchema.shape)) {
    if (failed.has(key) || problems.some((p) => p.path === key)) continue;
    const one = (schema as z.ZodType).safeParse(raw[key]);
    if (one.success && one.data !== undefined) settings[key] = one.data;
  }
  return { settings: withOrigins(resolvePaths(settings as Partial<Config>, cwd), origins), problems };
}

/**
 * Where the setting at `path` was given, for messages: `--port`, `TABLECAST_PORT`,
 * `TABLECAST_AUTH: users.bob` (a path inside a JSON variable), `/srv/tablecast.config.json: auth.users.bob`,
 * or the path itself for settings given in code (or not at all).
 * @example settingLocation(mergeConfig({ env: { TABLECAST_PORT: 'abc' } }), ['port']) // 'TABLECAST_PORT'
 */
export function settingLocation(settings: object, path: readonly PropertyKey[]): string {
  const origin = path.length > 0 ? (settings as { [ORIGINS]?: Origins })[ORIGINS]?.get(String(path[0])) : undefined;
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
  };
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
    if (path === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('CONFIG_INVALID', `cannot read config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('the file must hold a JSON object');
    return { path: file, values: value as Record<string, unknown> };
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `config file ${file} is not valid: ${(err as Error).message}`, { cause: err });
  }
}
