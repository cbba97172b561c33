/**
 * The HTTP front end as one fastify plugin: body parsing, the error and not-found handlers that
 * render the one error shape, the open service routes, and the REST routes of every exported table.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../core/app.ts';
import { DEFAULT_MAX_BULK_RECORDS } from '../core/table-service.ts';
import { AppError } from '../errors.ts';
import type { CorsConfig } from '../config.ts';
import { registerAuth, type AuthRouteOptions } from './auth-routes.ts';
import { registerCors } from './cors.ts';
import { registerJsonBody } from './json-body.ts';
import { MAX_RECORD_VALUES } from '../schema/validators.ts';
import { sendError } from './render-error.ts';
import { registerRestRoutes, type StreamHandler } from './rest-routes.ts';
import type { StaticFiles } from './static-files.ts';

export interface HttpOptions {
  app: App;
  /** Most values a JSON body may hold (`maxRecordValues`); more is refused before parsing. */
  maxRecordValues?: number;
  /** Most records in a bulk create's array; more is refused before parsing. */
  maxBulkRecords?: number;
  auth: AuthRouteOptions;
  cors?: CorsConfig;
  version: string;
  /** Serves `?stream=sse` GETs; absent, such GETs are answered as JSON. */
  stream?: StreamHandler;
  /** An app's files (`--static`), for GET and HEAD requests no route took, and for a browser's `GET /`. */
  static?: StaticFiles;
}

/**
 * Registers everything HTTP on a fastify instance.
 * @example registerHttp(fastify, { app, version: '0.1.0' })
 */
export function registerHttp(fastify: FastifyInstance, options: HttpOptions): void {
  const { app } = options;

  // JSON bodies, `+json` types included, counted before they are parsed (http/json-body.ts).
  registerJsonBody(fastify, options.maxRecordValues ?? MAX_RECORD_VALUES, options.maxBulkRecords ?? DEFAULT_MAX_BULK_RECORDS);

  // Order matters: CORS first, so preflights and 401s carry its headers; then who is asking.
  if (options.cors) registerCors(fastify, options.cors);
  registerAuth(fastify, options.auth);

  fastify.addHook('onRequest', refuseUnreadable);
  fastify.setErrorHandler((err, request, reply) => sendError(request, reply, err));
  const files = options.static;
  fastify.setNotFoundHandler((request, reply) => {
    // Only paths no route took reach the files: API routes always win (README › Same-origin pages).
    if (files && (request.method === 'GET' || request.method === 'HEAD')) return files.serve(request, reply, () => notFound(app, request));
    return sendError(request, reply, notFound(app, request));
  });

  // With several workers, which one answered: a load balancer's health check sees the server, an operator the worker.
  const health = app.peers.clustered ? { status: 'ok', worker: app.peers.self } : { status: 'ok' };
  // A cluster node also says where it stands in the cluster's log. Without NATS it still serves
  // reads and streams (200), but writes fail: `degraded`.
  fastify.get('/health', async () => {
    const cluster = app.cluster();
    return cluster ? { status: cluster.connected ? 'ok' : 'degraded', cluster } : health;
  });
  fastify.get('/', async (request, reply) => {
    // A browser opening the server gets the app's page; every other client the server's description.
    if (files && (await files.serveIndex(request, reply))) return reply;
    return {
      name: 'tablecast',
      version: options.version,
      databases: Object.fromEntries(app.databases().map((db) => [db, app.model.tables.filter((t) => t.database === db && t.export).map((t) => `/${db}/${t.export!.name}`)])),
    };
  });

  for (const service of app.services.values()) {
    if (service.def.export?.rest) registerRestRoutes(fastify, service, options.stream ? { stream: options.stream } : {});
  }
}

// Outside 0x21–0x7E a URL character must be percent-encoded. Node's HTTP/1.1 parser refuses such
// bytes itself; HTTP/2 hands them over as they came.
const UNENCODED = /[^\x21-\x7e]/;

/**
 * Refuses, before routing, what would otherwise be read wrongly: a compressed body (fastify would
 * parse the compressed bytes as JSON; RFC 7694 asks for 415 naming what is accepted) and a URL with
 * raw bytes that must be percent-encoded. Synchronous: it runs on every request.
 */
function refuseUnreadable(request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  const encoding = request.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    done(
      new AppError('UNSUPPORTED_MEDIA_TYPE', `request bodies are not decoded: send the body without Content-Encoding (got "${encoding.slice(0, 40)}")`, {
        headers: { 'accept-encoding': 'identity' },
      }),
    );
    return;
  }
  if (request.raw.httpVersionMajor === 2 && UNENCODED.test(request.raw.url ?? '')) {
    done(new AppError('BAD_REQUEST', 'the URL holds a character that must be percent-encoded (RFC 3986)'));
    return;
  }
  done();
}

/** A 404 that says whether the database, the table or the whole path is unknown. */
function notFound(app: App, request: FastifyRequest): AppError {
  const path = request.url.split('?')[0] ?? '';
  const [database, table, ...rest] = path.split('/').filter(Boolean).map(safeDecode);
  if (database && table === 'graphql' && rest.length === 0 && app.databases().includes(database)) {
    if (app.model.tables.some((t) => t.database === database && t.export?.graphql)) {
      return new AppError('METHOD_NOT_ALLOWED', `${request.method} is not a GraphQL transport; use GET or POST`, { headers: { allow: 'GET, POST, OPTIONS' } });
    }
    return new AppError('ROUTE_NOT_FOUND', `database "${database}" has no tables exported to GraphQL (@export(graphql: false) on all of them)`);
  }
  if (database && table && app.databases().includes(database)) {
    const known = app.model.tables.filter((t) => t.database === database && t.export?.rest).map((t) => t.export!.name);
    // A table that exists, with a path below its record URL: the route, not the table, is missing.
    if (known.includes(table)) return new AppError('ROUTE_NOT_FOUND', `${request.method} ${path}: records have no sub-resources (use /${database}/${table}/<id>)`);
    return new AppError('TABLE_NOT_FOUND', `no table "${table}" in database "${database}" (exported: ${known.join(', ') || 'none'})`);
  }
  return new AppError('ROUTE_NOT_FOUND', `${request.method} ${path} is not a route of this server`);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
