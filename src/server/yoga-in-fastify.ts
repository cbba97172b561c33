/**
 * GraphQL Yoga inside fastify: each yoga endpoint (one per database) becomes a fastify route, so
 * GraphQL requests share fastify's connection handling, hooks (authentication, CORS, response
 * timing and access lines) and error shape with REST.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { LazyGraphql } from '../graphql/lazy.ts';
import { sendError } from '../http/render-error.ts';

/**
 * Mounts each yoga endpoint as a fastify route. The handler returns yoga's Response and fastify
 * streams its body, SSE included: no `reply.hijack()`, which would bypass fastify's hooks and error
 * handling. Yoga's SSE response sets `Connection`, which HTTP/2 forbids: it is dropped there.
 */
export function mountGraphql(fastify: FastifyInstance, graphql: LazyGraphql): void {
  // Own encapsulation context: the body reaches yoga as text, so malformed JSON gets a GraphQL
  // error as the GraphQL-over-HTTP spec asks, not the REST error shape.
  fastify.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    for (const path of graphql.paths) {
      scope.route({
        url: path,
        method: ['GET', 'POST', 'OPTIONS'],
        handler: async (request, reply) => {
          const endpoint = await graphql.endpoint(path);
          // Yoga runs Object.keys over a parsed body to see whether there is one: over a string that is
          // one key per character (~60 ms blocked for 200 KB). A stream of the same text has a few.
          if (typeof request.body === 'string' && request.body.length > 0) request.body = Readable.from([request.body]);
          const response = await endpoint.yoga.handleNodeRequestAndResponse(request, reply, { req: request, reply, principal: request.principal, address: request.ip });
          const http2 = request.raw.httpVersionMajor === 2;
          response.headers.forEach((value, key) => {
            const name = key.toLowerCase();
            // `Content-Encoding: none` is not a real coding; the body is never compressed anyway.
            if ((http2 && name === 'connection') || (name === 'content-encoding' && value === 'none')) return;
            reply.header(name, value);
          });
          if (response.headers.get('content-type')?.startsWith('text/event-stream')) reply.header('x-accel-buffering', 'no');
          // Yoga answers some refusals (415, 405) with no body: give them the one JSON error shape.
          if (response.status >= 400 && response.body === null) {
            const message = response.status === 415 ? 'send GraphQL requests as JSON (Content-Type: application/json) or as GET query parameters' : response.statusText || `HTTP ${response.status}`;
            return sendError(request, reply, Object.assign(new Error(message), { statusCode: response.status }));
          }
          reply.status(response.status);
          return reply.send(response.body);
        },
      });
    }
  });
}
