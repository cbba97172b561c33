/**
 * Every setting of tablecast: one zod schema with each setting's type, bounds and default, and
 * the checks between settings. Where values come from (file, environment, flags): config.ts.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';

/** An integer setting of at least `min` (numbers from env and flags arrive as text). */
const atLeast = (min: number) => z.coerce.number().int().min(min);
const port = atLeast(0).max(65535);
const ms = z.coerce.number().int().positive();
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((s) => ['true', '1', 'yes'].includes(s))]);

/** The five permissions (README › Security). */
export const ACTIONS = ['read', 'insert', 'update', 'delete', 'publish'] as const;
export type Action = (typeof ACTIONS)[number];
/** The two channel permissions (README › Channels over HTTP). */
const CHANNEL_ACTIONS = ['subscribe', 'publish'] as const;
export type ChannelAction = (typeof CHANNEL_ACTIONS)[number];

/** `true`, or `{ "filter": "<query>" }` restricting the action to matching records. */
const Permission = z.union([z.boolean(), z.object({ filter: z.string().min(1) }).strict()]);
/** Per table: a list of actions, or an object of action → permission. */
const TablePermissions = z.union([
  z.array(z.enum(ACTIONS)),
  z
    .object({
      read: Permission.optional(),
      insert: Permission.optional(),
      update: Permission.optional(),
      delete: Permission.optional(),
      publish: Permission.optional(),
    } satisfies { [A in Action]: unknown })
    .strict(),
]);
export const AuthSchema = z
  .object({
    /** user name → scrypt hash (`tablecast hash-password`), roles, and whether it may change its password (POST /auth/password). */
    users: z
      .record(
        z.string().min(1).max(200),
        z
          .object({ password: z.string().regex(/^scrypt\$/, 'must be a hash from `tablecast hash-password`'), roles: z.array(z.string().min(1)).min(1), changePassword: z.boolean().optional() })
          .strict(),
      )
      .default({}),
    /** role → table (`database/name`, `database/*` or `*`) → permissions. `anonymous` applies without credentials. */
    roles: z
      .record(
        z.string().min(1),
        z
          .object({
            tables: z.record(z.string().min(1), TablePermissions).default({}),
            /** Channel pattern (`user:$user`, `item:*`) → `subscribe` and/or `publish` (auth/channel-grants.ts). */
            channels: z.record(z.string().min(1), z.array(z.enum(CHANNEL_ACTIONS)).min(1)).default({}),
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
    maxQueuedLogins: atLeast(0).default(32),
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
    maxAge: atLeast(0).default(600),
  })
  .strict()
  .refine((c) => !(c.credentials && c.origins === '*'), { message: 'credentials cannot be allowed for every origin (*); list the origins', path: ['credentials'] });
export type CorsConfig = z.output<typeof CorsSchema>;

/**
 * A cluster (SPEC §10): NATS servers and the JetStream stream every node shares. Given as
 * `nats://host:port[,…]` (flag, environment) or as an object (config file, JSON in the environment).
 */
const ClusterSchema = z
  .object({
    servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s/,]+$/, 'must be a NATS URL like nats://127.0.0.1:4222')).min(1),
    /** The JetStream stream (created by the first node when missing); every node of one cluster names the same. */
    stream: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only')
      .default('tablecast'),
    /** Copies JetStream keeps of each write (created streams only). Default: 3 with three or more servers listed, else 1. */
    replicas: z.union([z.literal(1), z.literal(3), z.literal(5)]).optional(),
    /** Most time a write may wait for JetStream to store it; past it, 503 CLUSTER_UNAVAILABLE. */
    timeout: ms.default(10_000),
    user: z.string().min(1).optional(),
    pass: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
  })
  .strict();
export type ClusterConfig = z.output<typeof ClusterSchema>;

/** `nats://a:4222,nats://b:4222` → `{ servers: [...] }`; JSON objects as they are. */
const clusterInput = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const text = v.trim();
  if (text.startsWith('{')) return parseJson(text);
  return {
    servers: text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  };
}, ClusterSchema);

/**
 * `--static DIR`: an app's files served from the API's origin (README › Same-origin pages). Given as
 * a directory (flag, environment) or as an object (config file, JSON in the environment).
 */
const StaticSchema = z
  .object({
    dir: z.string().min(1),
    /** Unknown GET paths outside the API that ask for HTML get the directory's index.html (single-page apps). */
    fallback: bool.default(false),
    /** Seconds browsers may keep files other than HTML without asking again; 0: always revalidate (ETag, 304). */
    maxAge: atLeast(0).max(31_536_000).default(0),
  })
  .strict();
export type StaticConfig = z.output<typeof StaticSchema>;
const staticInput = z.preprocess((v) => (typeof v === 'string' ? (v.trim().startsWith('{') ? parseJson(v.trim()) : { dir: v }) : v), StaticSchema);

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
    /**
     * Processes serving the port over the one store (the CLI's supervisor; `createServer` is always
     * one process). Default: the CPUs this process may use. 256 is far past any gain: each worker
     * holds its own memory (~85 MiB) and every write still commits through one LMDB writer lock.
     */
    workers: atLeast(1)
      .max(256)
      .default(() => availableParallelism()),
    bodyLimit: atLeast(1024).default(1024 * 1024),
    pingInterval: ms.default(15_000),
    retention: ms.default(86_400_000),
    expirySweepInterval: ms.default(1000),
    maxStreams: atLeast(1).default(20_000),
    maxStreamsPerAddress: atLeast(1).default(1000),
    streamQueueFrames: atLeast(1).default(1000),
    streamQueueBytes: atLeast(1024).default(4 * 1024 * 1024),
    sseRetry: atLeast(0).default(3000),
    /** Most subscribers of one channel, every worker's (GET /channels/{name}); CHANNEL_FULL past it. */
    maxChannelSubscribers: atLeast(1).default(10_000),
    /** Largest `data` of one channel message published over HTTP, in bytes of its JSON; PAYLOAD_TOO_LARGE past it. */
    maxChannelMessageBytes: atLeast(1).default(65_536),
    /** Most conditions in one query (REST, GraphQL filter arguments); QUERY_TOO_COMPLEX past it. */
    maxQueryTerms: atLeast(1).default(100),
    /** Most records held in memory to sort one query; QUERY_TOO_COMPLEX past it. */
    maxSortRecords: atLeast(1).default(100_000),
    /** Most values (attributes, list elements, nested values) in one record, message or JSON body; VALIDATION_FAILED past it. */
    maxRecordValues: atLeast(10).default(5_000),
    /** Most records in one bulk create (`POST` of a JSON array); PAYLOAD_TOO_LARGE past it. */
    maxBulkRecords: atLeast(1).default(1000),
    /**
     * Most tokens in one GraphQL document. Validation compares same-named fields pairwise, so its cost
     * grows with the square of the document: ~10 ms at 1,000 tokens, ~60 ms at 2,000. GraphiQL's
     * introspection query has 184.
     */
    graphqlMaxTokens: atLeast(1).default(1000),
    /** Deepest nesting of selections, spread fragments and literal values; GraphiQL's introspection needs 15. */
    graphqlMaxDepth: atLeast(1).default(20),
    /** Most aliases in one GraphQL operation (each aliased root field is one more read or write). */
    graphqlMaxAliases: atLeast(0).default(20),
    /**
     * Most records one GraphQL operation returns. graphql-js completes a list without yielding, at
     * ~1.5 µs per value: 2,000 records of 5 attributes hold the loop ~10 ms, 10,000 ~90 ms.
     */
    graphqlMaxResults: atLeast(1).default(2000),
    /** A request head must arrive within this many ms of its first byte; so must a new connection's first request (and its TLS handshake). */
    headersTimeout: ms.default(20_000),
    /** The whole request, head and body, must arrive within this many ms (responses, streams included, are not bounded). */
    requestTimeout: ms.default(60_000),
    /** An idle connection is closed after this many ms: HTTP/1.1 between requests, an HTTP/2 session without frames. */
    keepAliveTimeout: ms.default(72_000),
    /** Largest request head (HTTP/1.1) or header list (HTTP/2), in bytes. */
    maxHeaderSize: atLeast(1024).default(16_384),
    /** Open connections in total; 0: the process's file-descriptor limit less a reserve (a tenth, at least 128). */
    maxConnections: atLeast(0).default(0),
    /** Open connections from one client address (IPv6: one /64). */
    maxConnectionsPerAddress: atLeast(1).default(2000),
    /** Streams open at once on one HTTP/2 connection. */
    http2MaxConcurrentStreams: atLeast(1).default(128),
    /** Memory one HTTP/2 session may use for its frames and header tables, in MiB. */
    http2MaxSessionMemory: atLeast(1).default(10),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    auth: json(AuthSchema).optional(),
    cluster: clusterInput.optional(),
    cors: json(CorsSchema).optional(),
    static: staticInput.optional(),
    /** `/console`, the web page to look at tables and watch their changes (README › Console); `--no-console` turns it off. */
    console: bool.default(true),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.cert === undefined) !== (c.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.cert ? 'key' : 'cert'], message: '--cert and --key go together' });
    }
    // Tokens are signed with the secret: a node that made its own (in its data directory) would
    // refuse every other node's tokens.
    if (c.cluster && c.auth && (Object.keys(c.auth.users).length > 0 || Object.keys(c.auth.roles).length > 0) && !c.auth.secret) {
      ctx.addIssue({ code: 'custom', path: ['auth', 'secret'], message: 'a cluster node with auth needs auth.secret, the same on every node, so a token from one node is valid on all' });
    }
    // Node refuses a server whose head may take longer than the whole request.
    if (c.headersTimeout > c.requestTimeout) {
      ctx.addIssue({ code: 'custom', path: ['headersTimeout'], message: `must not be longer than requestTimeout (${c.requestTimeout} ms)` });
    }
  });

export type Config = Readonly<z.output<typeof ConfigSchema>>;
export type ConfigInput = z.input<typeof ConfigSchema>;
