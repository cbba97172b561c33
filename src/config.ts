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

/** The five permissions of SPEC §6. */
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
    /** Password checks hashing at once, server-wide (each is ~16 MiB and a libuv threadpool thread for tens of ms). */
    maxConcurrentLogins: z.coerce.number().int().positive().default(2),
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

export const CorsSchema = z
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

export const ConfigSchema = z
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
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    auth: json(AuthSchema).optional(),
    cors: json(CorsSchema).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.cert === undefined) !== (c.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.cert ? 'key' : 'cert'], message: '--cert and --key go together' });
    }
  });

export type Config = Readonly<z.output<typeof ConfigSchema>>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Environment variable → config key: the one table of names scripts can rely on. */
export const ENV_NAMES: Readonly<Record<string, keyof ConfigInput>> = {
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
  TABLECAST_GRAPHQL_MAX_TOKENS: 'graphqlMaxTokens',
  TABLECAST_GRAPHQL_MAX_DEPTH: 'graphqlMaxDepth',
  TABLECAST_GRAPHQL_MAX_ALIASES: 'graphqlMaxAliases',
  TABLECAST_GRAPHQL_MAX_RESULTS: 'graphqlMaxResults',
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

/**
 * Merges and validates configuration; throws `CONFIG_INVALID` listing every problem.
 * @example const config = loadConfig({ env: { TABLECAST_PORT: '8080' }, flags: { data: './data' } })
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const cwd = sources.cwd ?? '.';
  const fromFile = readConfigFile(sources.configFile, cwd);
  const fromEnv: Record<string, string> = {};
  for (const [name, key] of Object.entries(ENV_NAMES)) {
    const value = sources.env?.[name];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  return validateConfig({ ...fromFile, ...fromEnv, ...stripUndefined(sources.flags ?? {}) }, cwd);
}

/**
 * Validates already merged settings, resolves paths against `cwd`, and freezes the result;
 * throws `CONFIG_INVALID` listing every problem.
 * @example validateConfig({ port: 0, tls: false })
 */
export function validateConfig(input: unknown, cwd = '.'): Config {
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    // One problem per unknown key, named (zod reports them together, at the object's own path).
    const problems = parsed.error.issues.flatMap((i) =>
      i.code === 'unrecognized_keys'
        ? i.keys.map((k) => ({ path: [...i.path, k].join('.'), message: 'is not a setting' }))
        : [{ path: i.path.join('.') || '(config)', message: i.message }],
    );
    // The cert/key refinement does not run once any field failed; check the pair here as well,
    // so that every problem is listed at once, as promised.
    const raw = (input && typeof input === 'object' ? input : {}) as { cert?: unknown; key?: unknown };
    if ((raw.cert === undefined) !== (raw.key === undefined) && !problems.some((p) => p.path === 'cert' || p.path === 'key')) {
      problems.push({ path: raw.cert === undefined ? 'cert' : 'key', message: '--cert and --key go together' });
    }
    throw new AppError('CONFIG_INVALID', `invalid configuration:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`, {
      details: problems,
    });
  }
  const c = parsed.data;
  return Object.freeze({
    ...c,
    schemas: resolve(cwd, c.schemas),
    data: resolve(cwd, c.data),
    ...(c.cert ? { cert: resolve(cwd, c.cert) } : {}),
    ...(c.key ? { key: resolve(cwd, c.key) } : {}),
  });
}

function readConfigFile(path: string | undefined, cwd: string): Record<string, unknown> {
  const file = resolve(cwd, path ?? 'tablecast.config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (path === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new AppError('CONFIG_INVALID', `cannot read config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('the file must hold a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new AppError('CONFIG_INVALID', `config file ${file} is not valid: ${(err as Error).message}`, { cause: err });
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
