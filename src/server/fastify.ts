/**
 * The fastify instance, over HTTPS with HTTP/2 and an HTTP/1.1 fallback or over plain HTTP, with
 * tablecast's logging, response classes, limits and error shape wired in before any route.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { redactUrl } from '../http/access-tokens.ts';
import { http1Options, http2Options } from '../http/connections.ts';
import { honourRouteLogOptions, type RequestLogController } from '../http/logging.ts';
import { schemaController } from '../http/no-schemas.ts';
import { clientErrorHandler, sendError } from '../http/render-error.ts';
import type { timedResponses } from '../http/response-timing.ts';
import type { TlsMaterial } from '../http/tls.ts';

export interface FastifyParts {
  log: Logger;
  logController: RequestLogController;
  /** The response classes that time every response and report its head (http/response-timing.ts). */
  responses: ReturnType<typeof timedResponses>;
}

export function createFastify(config: Config, tls: TlsMaterial | undefined, { log, logController, responses }: FastifyParts): FastifyInstance {
  const base = {
    // No fastify logger: it would time every response with listeners (see http/logging.ts).
    logger: false,
    logController,
    bodyLimit: config.bodyLimit,
    schemaController,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
    return503OnClosing: true,
    // Idle HTTP/2 sessions close like idle HTTP/1.1 connections; the rest of the limits: http/connections.ts.
    http2SessionTimeout: config.keepAliveTimeout,
    // What Node's HTTP/1.1 parser refuses (or times out) is answered in our shape too.
    clientErrorHandler: clientErrorHandler(log, config.maxHeaderSize),
    // Errors fastify raises before routing (bad %-escapes, over-long parameters) get our one JSON
    // shape too, instead of fastify's own body.
    // (Typed per server flavour by fastify; one handler serves both.)
    frameworkErrors: ((error: Error, request: FastifyRequest, reply: FastifyReply) => {
      // fastify quotes the whole URL in these messages: keep an access_token out of logs and bodies.
      error.message = redactUrl(error.message);
      sendError(request, reply, error);
    }) as never,
  };
  // fastify's overloads pick the server type from literal options; these pick it at run time, and
  // its option types have no field for a custom response class (Node's own option).
  const fastify = (tls
    ? Fastify({
        ...base,
        http2: true,
        https: { allowHTTP1: true, key: tls.key, cert: tls.cert, Http1ServerResponse: responses.http1, Http2ServerResponse: responses.http2, ...http2Options(config) } as never,
      })
    : Fastify({ ...base, http: { ServerResponse: responses.http1, ...http1Options(config) } as never })) as unknown as FastifyInstance;
  honourRouteLogOptions(fastify, log);
  return fastify;
}
