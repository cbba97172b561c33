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

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking; the anonymous principal when no credentials were given. */
    principal: Principal;
  }
}

export interface AuthRouteOptions {
  authenticator: Authenticator;
  /** Auth configured: the `/auth/*` routes exist and credentials are checked. */
  enabled: boolean;
  /** Mark the session cookie `Secure` (served over TLS). */
  secure: boolean;
}

/** Paths that never need credentials. */
const OPEN_PATHS = new Set(['/health']);
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
  } as never);
  if (!options.enabled) return;

  fastify.addHook('onRequest', async (request, reply) => {
    const [path = '', search = ''] = request.url.split('?', 2);
    if (OPEN_PATHS.has(path)) return;
    const accessToken = search ? new URLSearchParams(search).get('access_token') ?? undefined : undefined;
    if (accessToken !== undefined && !isStreamRequest(request, search)) {
      throw new AppError('BAD_REQUEST', 'access_token is accepted on stream URLs only; send Authorization: Bearer <token> instead');
    }
    const authorization = request.headers.authorization;
    if (LOGIN_PATHS.has(path.length > 1 ? path.replace(/\/$/, '') : path)) {
      request.principal = await authenticator.authenticate({
        authorization: authorization && /^basic\s/i.test(authorization) ? authorization : undefined,
        address: request.ip,
      });
      return;
    }
    request.principal = await authenticator.authenticate({ authorization, cookie: request.headers.cookie, accessToken, address: request.ip });
    if (request.principal.via === 'cookie' && !SAFE_METHODS.has(request.method)) checkOrigin(request, reply);
  });

  const credentialsOf = async (request: FastifyRequest): Promise<Principal> => {
    const body = request.body as { username?: unknown; password?: unknown } | undefined;
    if (body && typeof body === 'object' && (body.username !== undefined || body.password !== undefined)) {
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
    const { token, expiresIn } = authenticator.issue(principal.user!, 'bearer');
    return { access_token: token, token_type: 'Bearer', expires_in: expiresIn, user: principal.user, roles: principal.roles };
  });

  fastify.post('/auth/login', async (request, reply) => {
    const principal = await credentialsOf(request);
    const { token, expiresIn } = authenticator.issue(principal.user!, 'session');
    reply.header('set-cookie', cookie(token, expiresIn, options.secure));
    return { user: principal.user, roles: principal.roles, expires_in: expiresIn };
  });

  fastify.post('/auth/logout', async (request, reply) => {
    authenticator.logout({ authorization: request.headers.authorization, cookie: request.headers.cookie, address: request.ip });
    reply.header('set-cookie', cookie('', 0, options.secure));
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
  throw new AppError('FORBIDDEN', `a request authenticated by the session cookie from origin ${origin} is refused: list the origin in cors.origins with cors.credentials, or send Authorization instead`);
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

/** A GET that opens an event stream (REST `?stream=sse`, or an `Accept: text/event-stream` GET). */
function isStreamRequest(request: FastifyRequest, search: string): boolean {
  if (request.method !== 'GET') return false;
  const accept = request.headers.accept;
  return /(^|&)stream=sse(&|$)/.test(search) || (typeof accept === 'string' && accept.includes('text/event-stream'));
}

/**
 * The URL with `access_token` values replaced, for logs. Also for a text that quotes a URL (an
 * error message): the value ends at a quote or white space as well as at `&` or `#`.
 */
export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&#'"\s]*/g, '$1[redacted]');
}
