/**
 * The composition root: compiles the schema, opens the app, and puts fastify in front of it over
 * HTTPS with HTTP/2 (HTTP/1.1 fallback) or plain HTTP. Returns an un-listened server, so tests and
 * embedders choose when and where to listen (fastify's build/listen split). The layers and the walk of
 * a write through them: docs/architecture.md.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config, ConfigInput } from './config.ts';
import { AppError } from './errors.ts';
import { createApp, type App } from './core/app.ts';
import { createAuthenticator } from './auth/authenticate.ts';
import { createPolicy } from './auth/policy.ts';
import { createChannelGrants } from './auth/channel-grants.ts';
import { registerChannelRoutes } from './http/channel-routes.ts';
import type { PasswordStore } from './auth/passwords.ts';
import { loadOrCreateSecret } from './auth/secret.ts';
import { redactUrl } from './http/access-tokens.ts';
import { createRequestTallies, registerMetrics } from './http/metrics.ts';
import { createLogger, flushLog, RequestLogController } from './http/logging.ts';
import { tagRoutes, timedResponses } from './http/response-timing.ts';
import { registerHttp } from './http/plugin.ts';
import { trackHttp2Sessions } from './http/http2-sessions.ts';
import { guardConnections } from './http/connections.ts';
import { createSseHandler } from './http/sse-routes.ts';
import { staticFiles } from './http/static-files.ts';
import { registerConsole } from './http/console-route.ts';
import { lazyGraphqlEndpoints } from './graphql/lazy.ts';
import { mountGraphql } from './server/yoga-in-fastify.ts';
import { createFastify } from './server/fastify.ts';
import { closeInOrder } from './server/shutdown.ts';
import type { ClusterNode } from './cluster/node.ts';
import type { OpenNode } from './server/join-cluster.ts';
import type { IntentWriter } from './core/intents.ts';
import type { StreamRegistry } from './realtime/streams.ts';
import { createChannelHub } from './realtime/channels.ts';
import { createSseApi, type SseApi } from './http/sse-api.ts';
import { buildTablesApi, type TablesApi } from './core/tables-api.ts';
import { loadTls } from './http/tls.ts';
import { prepareStart, SERVER_PATH_PREFIXES } from './server/preflight.ts';
import { VERSION } from './version.ts';
import type { SchemaModel } from './schema/model.ts';
import type { Peers } from './peers/peers.ts';
import { messageOf } from './util/guards.ts';

export interface ServerOptions extends Partial<ConfigInput> {
  /** An already compiled schema; otherwise `schemas` is read. */
  model?: SchemaModel;
  /** Clock for expiry, for tests. */
  now?: () => number;
  /** A pino destination stream for logs (tests capture them). */
  logStream?: NodeJS.WritableStream;
  /** Retained reads that may hold an LMDB snapshot at once (512), for tests of the fallback. */
  maxPinnedReads?: number;
  /** The other processes of the same server (the CLI's `--workers`); absent: this is the only one. */
  peers?: Peers;
}

export interface TablecastServer {
  readonly config: Config;
  readonly app: App;
  readonly fastify: FastifyInstance;
  /** The server's pino logger (`request.log` in routes is its child, with the request's reqId). */
  readonly log: Logger;
  /** Open SSE streams: counts, limits, heartbeat. */
  readonly streams: StreamRegistry;
  /** Typed CRUD per table, `tables.<database>.<name>`: same validation and events as REST. */
  readonly tables: TablesApi;
  /** Channels and clients for custom SSE routes (README › Channels for custom SSE routes). */
  readonly sse: SseApi;
  /** The changes of a table as an async iterable (see `tables.<db>.<name>.subscribe`). */
  subscribe: App['subscribe'];
  /** Sends a custom message to a record's subscribers: `publish('realtime-demo', 'message', 'msg-1', {…})`. */
  publish(database: string, name: string, id: string | number, message: unknown): Promise<number>;
  /** `https://localhost:9996` once listening. */
  readonly url: string | undefined;
  /** How TLS was set up: `provided`, `generated`, `reused`, or `off`. */
  readonly tls: 'provided' | 'generated' | 'reused' | 'off';
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * Builds a server from options (validated like the config file and env). Does not listen.
 * @example const server = await createServer({ port: 0, data: tmp, tls: false }); await server.listen()
 */
export async function createServer(options: ServerOptions = {}): Promise<TablecastServer> {
  const { model: givenModel, now, logStream, maxPinnedReads, peers, ...input } = options;
  // The checks `tablecast check` runs, every problem listed at once, before anything is opened.
  const { config, model } = await prepareStart(input, givenModel ? { model: givenModel } : {});
  const tls = config.tls ? await loadTls({ dataDir: config.data, ...(config.cert ? { cert: config.cert } : {}), ...(config.key ? { key: config.key } : {}) }) : undefined;

  const log = createLogger({ level: config.logLevel, redactUrl, sharedOutput: peers?.clustered === true, ...(logStream ? { stream: logStream } : {}) });
  const tallies = createRequestTallies();
  const logController = new RequestLogController(log, redactUrl);
  // Every response reports its head once: request metrics and its access line.
  const responses = timedResponses((head) => {
    tallies.count(head);
    logController.completed(head);
  });
  const fastify = createFastify(config, tls, { log, logController, responses });

  const policy = createPolicy(config.auth, model.tables);
  const channelGrants = createChannelGrants(config.auth, policy.enabled);
  const secret = policy.enabled ? (config.auth?.secret ?? (await loadOrCreateSecret(config.data))) : 'unused: auth is off';
  // A cluster node's writes go to the cluster's log (SPEC §10); the node needs the app's store and
  // services, the app needs somewhere to send writes: the node is bound once both exist. Its log is
  // open before, and gives the other nodes as peers (channels, login rate, revocations; a cluster
  // node is one process, so it has no workers' peers). Loaded only for a cluster node: a single
  // server starts without the NATS client.
  let node: ClusterNode | undefined;
  let opened: OpenNode | undefined;
  let beginNode: typeof import('./server/join-cluster.ts').startNode | undefined;
  if (config.cluster) {
    const { openNode, startNode } = await import('./server/join-cluster.ts');
    opened = await openNode(config.cluster);
    beginNode = startNode;
  }
  const nodePeers: Peers | undefined = opened?.peers;
  const intents: IntentWriter | undefined = config.cluster
    ? {
        write: (intent, id) => {
          if (!node) throw new AppError('SERVICE_UNAVAILABLE', 'the server is starting');
          return node.write(intent, id);
        },
        state: () => node?.state() ?? { connected: false, applied: 0, lagEntries: 0, lagMs: 0 },
      }
    : undefined;
  // A logout on a cluster node goes through the log too, so every node refuses the token.
  const relay = intents ? async (claims: { jti: string; exp: number }) => void (await intents.write({ op: 'revoke', jti: claims.jti, exp: claims.exp })) : undefined;
  const app = createAppOrClose(opened, {
    model,
    policy,
    dataDir: config.data,
    durability: config.durability,
    expirySweepInterval: config.expirySweepInterval,
    retention: config.retention,
    queryLimits: { maxQueryTerms: config.maxQueryTerms, maxSortRecords: config.maxSortRecords, maxRecordValues: config.maxRecordValues, maxBulkRecords: config.maxBulkRecords },
    ...(now ? { now } : {}),
    onError: (err, context) => log.error({ err }, `${context} failed`),
    streams: { maxStreams: config.maxStreams, maxStreamsPerAddress: config.maxStreamsPerAddress, pingInterval: config.pingInterval },
    maxQueue: config.streamQueueFrames,
    ...(maxPinnedReads ? { maxPinnedReads } : {}),
    ...(peers ? { peers } : {}),
    ...(intents ? { intents } : {}),
  });
  // Changed passwords live in the store, so every worker sees them; a cluster node sends the
  // change through the log, so every node stores it (and answers once it applied it here).
  const passwords: PasswordStore = {
    get: (user) => app.store.credential(user),
    set: async (user, hash, base, expect) => void (await (intents ? intents.write({ op: 'password', user, hash, base, expect }) : app.store.setCredential(user, { hash, base, expect }))),
  };
  const authenticator = createAuthenticator(config.auth, secret, now, nodePeers ?? peers, relay, passwords);
  if (opened && beginNode) {
    try {
      node = await beginNode(opened, app, { refuse: (jti, exp) => authenticator.refuse(jti, exp) }, (err, context) => log.error({ err }, `${context} failed`));
    } catch (err) {
      await opened.close();
      await app.close();
      throw err;
    }
  }
  const streams = app.streams;
  const stream = createSseHandler({ app, retry: config.sseRetry, maxFrames: config.streamQueueFrames, maxBytes: config.streamQueueBytes });
  const channelPeers = nodePeers ?? peers;
  const channels = createChannelHub({ streams, ...(channelPeers ? { peers: channelPeers } : {}), retry: config.sseRetry, maxFrames: config.streamQueueFrames, maxBytes: config.streamQueueBytes });
  const sse = createSseApi(channels);
  const graphql = lazyGraphqlEndpoints(app, {
    onError: (err) => log.error({ err }, 'GraphQL resolver failed'),
    limits: { maxTokens: config.graphqlMaxTokens, maxDepth: config.graphqlMaxDepth, maxAliases: config.graphqlMaxAliases, maxResults: config.graphqlMaxResults },
  });
  // The app's own files, never under the API's prefixes: the server's own routes and every database.
  const apiPrefixes = new Set([...SERVER_PATH_PREFIXES.filter((p) => p !== 'console' || config.console), ...app.databases()]);
  const files = config.static ? await staticFiles(config.static, (first) => apiPrefixes.has(first)) : undefined;
  // Limits on connections, set on the Node server itself: HTTP/1.1 and HTTP/2 alike.
  const connections = guardConnections(fastify.server, config);

  // What the server puts in front of the app, in order. Each is one file's plugin or adapter.
  const mounts: ReadonlyArray<readonly [string, (f: FastifyInstance) => void]> = [
    // Before any route: each route handler tells its response its route pattern (for metrics and logs).
    ['route tags', tagRoutes],
    // (fastify types `server` as an HTTP/1.1 server whatever the flavour; with TLS it is the HTTP/2 one.)
    ['shutdown order', (f) => closeInOrder(f, { app, graphql, connections, sessions: tls ? trackHttp2Sessions(f.server as never) : undefined, ...(node ? { cluster: node } : {}) })],
    [
      'CORS, auth, errors, health, REST and SSE routes',
      (f) =>
        registerHttp(f, {
          app,
          maxRecordValues: config.maxRecordValues,
          maxBulkRecords: config.maxBulkRecords,
          version: VERSION,
          stream,
          auth: { authenticator, enabled: policy.enabled, secure: tls !== undefined, tables: model.tables },
          ...(config.cors ? { cors: config.cors } : {}),
          ...(files ? { static: files } : {}),
        }),
    ],
    [
      'channels over HTTP',
      (f) =>
        registerChannelRoutes(f, {
          sse,
          grants: channelGrants,
          maxSubscribers: config.maxChannelSubscribers,
          maxMessageBytes: config.maxChannelMessageBytes,
          retryAfter: Math.max(1, Math.ceil(config.pingInterval / 1000)),
          ...(app.peers.clustered ? { worker: app.peers.self } : {}),
        }),
    ],
    ['metrics', (f) => registerMetrics(f, { app, tallies, streams, channels, connections, ...(peers ? { peers } : {}), isAdmin: (request) => policy.isAdmin(request.principal) })],
    ['GraphQL', (f) => mountGraphql(f, graphql)],
    // dist/console/ sits next to this file's own folder in src/ (a clone), dist/ and the CLI bundle alike.
    [
      'console',
      (f) => {
        if (config.console) registerConsole(f, { app, dir: new URL('../dist/console/', import.meta.url) });
      },
    ],
  ];
  for (const [what, mount] of mounts) {
    try {
      mount(fastify);
    } catch (err) {
      throw new AppError('INTERNAL', `could not mount ${what}: ${messageOf(err)}`, { cause: err });
    }
  }

  const tables = buildTablesApi(app);
  let url: string | undefined;
  return {
    config,
    app,
    fastify,
    log,
    streams,
    tables,
    sse,
    subscribe: app.subscribe,
    publish(database, name, id, message) {
      const api = tables[database]?.[name];
      if (!api) throw new AppError('TABLE_NOT_FOUND', `no table ${database}/${name}`);
      return api.publish(id, message);
    },
    get url() {
      return url;
    },
    tls: tls?.source ?? 'off',
    async listen() {
      // Once per server: with several workers, the first says it for all (they share the config).
      if (!policy.enabled && (!peers?.clustered || peers.self === 1)) {
        log.warn('no auth configured: every table is open to anyone who can reach this port (see README, Security)');
      }
      await fastify.listen({ port: config.port, host: config.host });
      const address = fastify.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
      url = `${tls ? 'https' : 'http'}://${host}:${port}`;
      return url;
    },
    async close() {
      await fastify.close();
      // Access lines to stdout wait up to 10 ms to be written together (http/logging.ts): all are out when close resolves.
      await flushLog(log);
    },
  };
}

/** The app, or, when it cannot be made, the cluster's connection closed before the error goes on. */
function createAppOrClose(opened: { close(): Promise<void> } | undefined, options: Parameters<typeof createApp>[0]): App {
  try {
    return createApp(options);
  } catch (err) {
    void opened?.close();
    throw err;
  }
}
