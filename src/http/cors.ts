/**
 * CORS as one fastify hook for every route (REST, SSE, GraphQL), so there is a single policy:
 * listed origins only (or `*` without credentials), preflights answered before routing decisions,
 * and the headers an EventSource or fetch client needs (`Last-Event-ID`, `Authorization`) allowed.
 */
import type { FastifyInstance } from 'fastify';
import type { CorsConfig } from '../config.ts';

const METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';
const ALLOWED_HEADERS = ['authorization', 'content-type', 'last-event-id', 'accept', 'if-none-match', 'if-match', 'cache-control', 'x-requested-with'];
const EXPOSED = 'ETag, Location, Retry-After, WWW-Authenticate';

/**
 * Registers the CORS hook.
 * @example registerCors(fastify, { origins: ['https://app.example'], credentials: true, maxAge: 600 })
 */
export function registerCors(fastify: FastifyInstance, cors: CorsConfig): void {
  const allowed = cors.origins === '*' ? undefined : new Set(cors.origins);
  fastify.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    // With a list, every answer depends on Origin, also one to a request without it: a shared cache
    // must not hand an answer made without CORS headers to a listed origin (or the reverse).
    // (It was only sent when the request had an Origin header.)
    if (allowed) reply.header('vary', 'Origin');
    if (typeof origin !== 'string') return;
    if (allowed && !allowed.has(origin)) return; // no CORS headers: the browser blocks the response
    reply.header('access-control-allow-origin', allowed ? origin : '*');
    if (cors.credentials) reply.header('access-control-allow-credentials', 'true');
    reply.header('access-control-expose-headers', EXPOSED);
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) {
      const asked = String(request.headers['access-control-request-headers'] ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter((h) => h && ALLOWED_HEADERS.includes(h));
      reply.header('access-control-allow-methods', METHODS);
      if (asked.length) reply.header('access-control-allow-headers', asked.join(', '));
      reply.header('access-control-max-age', String(cors.maxAge));
      // The allowed headers echo the asked ones, so the answer depends on those too.
      reply.header('vary', allowed ? 'Origin, Access-Control-Request-Headers' : 'Access-Control-Request-Headers');
      return reply.code(204).send();
    }
  });
}
