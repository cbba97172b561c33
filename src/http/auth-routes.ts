/**
 * Authentication over HTTP: one `onRequest` hook that gives every request its principal before any
 * route runs (so REST, SSE and GraphQL share one check), and the `/auth/*` routes that issue bearer
 * tokens and session cookies. `?access_token=` is honoured on stream requests only, since that is
 * the one place a client (EventSource) cannot send a header; it is redacted from logs.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
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
 * Registers the principal hook and the auth routes.
 * @example registerAuth(fastify, { authenticator, enabled: true, secure: true })
 */
export function registerAuth(fastify: FastifyInstance, options: AuthRouteOptions): void {
  const { authenticator } = options;
  fastify.decorateRequest('principal', null as unknown as Principal);

  fastify.addHook('onRequest', async (request) => {
    request.principal = ANONYMOUS;
    if (!options.enabled) return;
    const [path = '', search = ''] = request.url.split('?', 2);
    if (OPEN_PATHS.has(path)) return;
    const accessToken = search ? new URLSearchParams(search).get('access_token') ?? undefined : undefined;
    if (accessToken !== undefined && !isStreamRequest(request, search)) {
      throw new AppError('BAD_REQUEST', 'access_token is accepted on stream URLs only; send Authorization: Bearer <token> instead');
    }
    request.principal = await authenticator.authenticate({
      authorization: request.headers.authorization,
      cookie: request.headers.cookie,
      accessToken,
      address: request.ip,
    });
  });

  if (!options.enabled) return;

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

function cookie(value: string, maxAge: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

/** A GET that opens an event stream (REST `?stream=sse`, or an `Accept: text/event-stream` GET). */
function isStreamRequest(request: FastifyRequest, search: string): boolean {
  if (request.method !== 'GET') return false;
  const accept = request.headers.accept;
  return /(^|&)stream=sse(&|$)/.test(search) || (typeof accept === 'string' && accept.includes('text/event-stream'));
}

/** The URL with `access_token` values replaced, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&]*/g, '$1[redacted]');
}
