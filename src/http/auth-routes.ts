/**
 * Authentication over HTTP: one `onRequest` hook that gives every request its principal before any
 * route runs (so REST, SSE and GraphQL share one check), and the `/auth/*` routes that issue bearer
 * tokens and session cookies. `?access_token=` is honoured on stream requests only, since that is
 * the one place a client (EventSource) cannot send a header; it is redacted from logs.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_COOKIE, type Authenticator } from '../auth/authenticate.ts';
import { ANONYMOUS, type Principal } from '../auth/policy.ts';
import { AppError } from '../errors.ts';
import type { TableDef } from '../schema/model.ts';
import { opensStream, streamParamOf } from './stream-request.ts';
import { findAccessTokens } from './access-tokens.ts';
import { CHANNEL_ROUTE } from './channel-routes.ts';
import { CONSOLE_FILES } from './console-route.ts';
import { isObject } from '../util/guards.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking; the anonymous principal when no credentials were given. */
    principal: Principal;
  }
}

export interface AuthRouteOptions {
  authenticator: Authenticator;
  /** The tables served: their stream URLs (and their databases' GraphQL URLs) take `?access_token=`. */
  tables?: readonly TableDef[];
  /** Auth configured: the `/auth/*` routes exist and credentials are checked. */
  enabled: boolean;
  /** Mark the session cookie `Secure` (served over TLS). */
  secure: boolean;
}

/** Paths that never need credentials. */
const OPEN_PATHS = new Set(['/health', ...Object.keys(CONSOLE_FILES)]);
/**
 * Where a stale session cookie or bearer token must not get in the way: logging in again (or out)
 * is how a client gets rid of one. Only Basic credentials are checked here (they are how
 * /auth/token and /auth/login accept a password); logout reads its token from the headers itself.
 * Before, a revoked or expired cookie (or one signed with a rotated secret) answered 401 to
 * POST /auth/login, so a browser still holding it could not log in until the cookie expired.
 */
const LOGIN_PATHS = new Set(['/auth/login', '/auth/token', '/auth/logout']);
/** Methods that cannot change anything, so need no cross-site request check. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Registers the principal hook and the auth routes.
 * @example registerAuth(fastify, { authenticator, enabled: true, secure: true })
 */
export function registerAuth(fastify: FastifyInstance, options: AuthRouteOptions): void {
  const { authenticator } = options;
  // A getter, not a per-request hook: with auth off every request is anonymous at no cost.
  const assigned = new WeakMap<FastifyRequest, Principal>();
  fastify.decorateRequest('principal', {
    getter(this: FastifyRequest) {
      return assigned.get(this) ?? ANONYMOUS;
    },
    setter(this: FastifyRequest, value: Principal) {
      assigned.set(this, value);
    },
  });
  if (!options.enabled) return;

  const routes = streamRoutesOf(options.tables ?? []);
  fastify.addHook('onRequest', async (request, reply) => {
    const q = request.url.indexOf('?');
    const path = q < 0 ? request.url : request.url.slice(0, q);
    if (OPEN_PATHS.has(path)) return;
    const accessToken = q < 0 ? undefined : accessTokenOf(request, request.url.slice(q + 1), routes);
    const authorization = request.headers.authorization;
    if (LOGIN_PATHS.has(path.length > 1 ? path.replace(/\/$/, '') : path)) {
      request.principal = await authenticator.authenticate({
        authorization: authorization && /^basic\s/i.test(authorization) ? authorization : undefined,
        address: request.ip,
      });
      return;
    }
    // `/` and paths no route takes guard nothing: a stale cookie must not keep an app's page (--static) from loading.
    if (path === '/' || request.is404) return;
    request.principal = await authenticator.authenticate({ authorization, cookie: request.headers.cookie, accessToken, address: request.ip });
    if (request.principal.via === 'cookie' && !SAFE_METHODS.has(request.method)) checkOrigin(request, reply);
  });

  const credentialsOf = async (request: FastifyRequest): Promise<Principal> => {
    const body = request.body;
    if (isObject(body) && (body.username !== undefined || body.password !== undefined)) {
      if (typeof body.username !== 'string' || typeof body.password !== 'string') {
        throw new AppError('VALIDATION_FAILED', 'username and password must be strings', { details: [{ path: 'username', message: 'string' }] });
      }
      return authenticator.login(body.username, body.password, request.ip);
    }
    if (request.principal.user !== null && request.principal.via === 'basic') return request.principal;
    throw new AppError('UNAUTHORIZED', 'send {"username","password"} as JSON, or HTTP Basic credentials', {
      headers: { 'www-authenticate': 'Basic realm="tablecast"' },
    });
  };

  fastify.post('/auth/token', async (request) => {
    const principal = await credentialsOf(request);
    const { token, expiresIn } = authenticator.issue(principal, 'bearer');
    return { access_token: token, token_type: 'Bearer', expires_in: expiresIn, user: principal.user, roles: principal.roles };
  });

  fastify.post('/auth/login', async (request, reply) => {
    const principal = await credentialsOf(request);
    const { token, expiresIn } = authenticator.issue(principal, 'session');
    reply.header('set-cookie', cookie(token, expiresIn, options.secure));
    return { user: principal.user, roles: principal.roles, expires_in: expiresIn };
  });

  fastify.post('/auth/logout', async (request, reply) => {
    await authenticator.logout({ authorization: request.headers.authorization, cookie: request.headers.cookie, address: request.ip });
    reply.header('set-cookie', cookie('', 0, options.secure));
    return reply.code(204).send();
  });

  // The caller's own password; every token and session of the user ends, the request's own too.
  fastify.post('/auth/password', async (request, reply) => {
    await authenticator.changePassword(request.principal, request.body, request.ip);
    if (request.principal.via === 'cookie') reply.header('set-cookie', cookie('', 0, options.secure));
    return reply.code(204).send();
  });

  fastify.get('/auth/me', async (request) => {
    const p = request.principal;
    return { user: p.user, roles: p.roles, via: p.via, ...(p.expiresAt ? { expires_at: new Date(p.expiresAt).toISOString() } : {}) };
  });
}

/**
 * Cross-site request forgery guard for the session cookie. Browsers attach it to requests from any
 * page of the same *site* (SameSite=Lax stops other sites, not other ports or sibling subdomains),
 * including HTML form posts, which need no CORS preflight: GraphQL accepts
 * `application/x-www-form-urlencoded` and `multipart/form-data` bodies, so such a page could run
 * mutations as the logged-in user. A cookie-authenticated write is therefore accepted only from
 * this server's own origin, from an origin the CORS config lets send credentials, or without an
 * `Origin` header (not a browser's cross-origin request: curl, server-side clients).
 */
function checkOrigin(request: FastifyRequest, reply: FastifyReply): void {
  const origin = request.headers.origin;
  if (typeof origin !== 'string') return;
  // Compared by host only: behind a TLS-terminating proxy the request arrives as http.
  if (hostOf(origin) === request.host) return;
  // Set by the CORS hook (registered first) only for listed origins.
  if (reply.getHeader('access-control-allow-origin') === origin && reply.getHeader('access-control-allow-credentials') === 'true') return;
  throw new AppError(
    'FORBIDDEN',
    `a request authenticated by the session cookie from origin ${origin} is refused: list the origin in cors.origins with cors.credentials, or send Authorization instead`,
  );
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined; // `null` (sandboxed frames, some redirects) and anything malformed
  }
}

function cookie(value: string, maxAge: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

/** Route patterns (as fastify names them) on which `?access_token=` is accepted, when they stream. */
interface StreamRoutes {
  /** `/{db}/{export}` and `/{db}/{export}/:id` of tables served over REST with SSE. */
  table: ReadonlySet<string>;
  /** `/{db}/graphql` of databases with a table exported to GraphQL. */
  graphql: ReadonlySet<string>;
}

function streamRoutesOf(tables: readonly TableDef[]): StreamRoutes {
  const table = new Set<string>();
  const graphql = new Set<string>();
  for (const def of tables) {
    if (!def.export) continue;
    if (def.export.rest && def.export.sse) table.add(`/${def.database}/${def.export.name}`).add(`/${def.database}/${def.export.name}/:id`);
    if (def.export.graphql) graphql.add(`/${def.database}/graphql`);
  }
  return { table, graphql };
}

/**
 * The `access_token` of a request, checked: a bearer token in a URL ends up in proxy logs, browser
 * history and caches, so it is accepted only where a client cannot send a header (an `EventSource`
 * opening a table stream or a GraphQL stream), once, and spelled plainly as a top-level parameter.
 * Names are compared decoded, and an encoded spelling is refused: URLSearchParams decodes names, so
 * `access%5Ftoken` would authenticate while the REST query parser, which compares the name as
 * written, took it for a filter. Every other place or spelling is a 400.
 */
function accessTokenOf(request: FastifyRequest, search: string, routes: StreamRoutes): string | undefined {
  const found = findAccessTokens(search, false);
  if (found.length === 0) return undefined;
  if (found.length > 1) throw new AppError('BAD_REQUEST', 'access_token is given more than once; send it once');
  const token = found[0]!;
  if (token.name !== 'access_token' || (token.start > 0 && search[token.start - 1] !== '&')) {
    throw new AppError('BAD_REQUEST', 'send access_token as a plain top-level parameter (&access_token=<token>), not percent-encoded and not inside a condition or group');
  }
  if (!isStreamRequest(request, search, routes)) {
    throw new AppError(
      'BAD_REQUEST',
      'access_token is accepted on table, channel and GraphQL stream requests only (GET with ?stream=sse or Accept: text/event-stream); send Authorization: Bearer <token> instead',
    );
  }
  return new URLSearchParams(`t=${search.slice(token.valueStart, token.valueEnd)}`).get('t') ?? '';
}

/** A request that opens a table's or a channel's event stream, or a GraphQL one (which only the `Accept` header asks for). */
function isStreamRequest(request: FastifyRequest, search: string, routes: StreamRoutes): boolean {
  const route = request.routeOptions.url ?? '';
  if (routes.table.has(route) || route === CHANNEL_ROUTE) return opensStream(request, streamParamOf(search));
  return routes.graphql.has(route) && opensStream(request, undefined);
}
