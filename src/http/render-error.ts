/**
 * Renders any error as the one JSON error body, from fastify's error and not-found handlers alike,
 * and logs it at the level its status deserves (4xx: the client's problem; 5xx: ours, with cause).
 */
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AppError, toAppError } from '../errors.ts';

/**
 * Sends `err` as `{statusCode, code, error, message, details}`.
 * @example app.setErrorHandler((err, req, reply) => sendError(req, reply, err))
 */
export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const appError: AppError = toAppError(err);
  if (appError.statusCode >= 500) {
    request.log.error({ err: appError.cause ?? appError, code: appError.code }, appError.message);
  } else {
    request.log.info({ code: appError.code, statusCode: appError.statusCode }, appError.message);
  }
  if (appError.headers) reply.headers(appError.headers);
  // fastify marks some client errors `Connection: close`, a header HTTP/2 forbids (Node warns and drops it).
  if (request.raw.httpVersionMajor === 2) reply.removeHeader('connection');
  return reply.code(appError.statusCode).type('application/json; charset=utf-8').send(appError.toJSON());
}

/** Node's HTTP/1.1 parser errors worth a plainer message than llhttp's. */
const PARSE_ERRORS: Record<string, string> = {
  HPE_INVALID_METHOD: 'the request line does not start with a method this server knows (after a request with a body: was its Content-Length shorter than the body?)',
  HPE_INVALID_URL: 'the URL holds a character that must be percent-encoded (RFC 3986)',
  HPE_INVALID_HEADER_TOKEN: 'a header name or value holds a character HTTP does not allow',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'the request has both Content-Length and Transfer-Encoding',
  HPE_INVALID_CONTENT_LENGTH: 'the Content-Length header is not a number',
  HPE_INVALID_TRANSFER_ENCODING: 'the Transfer-Encoding header is not valid',
};

/**
 * fastify's `clientErrorHandler`: answers what Node's HTTP/1.1 parser refused (or timed out) before
 * any route saw it, in the one JSON error shape, logged at info like every other 4xx.
 * @example Fastify({ clientErrorHandler: clientErrorHandler(log, config.maxHeaderSize) })
 */
export function clientErrorHandler(log: Pick<Logger, 'info'>, maxHeaderSize: number): (err: Error & { code?: string; reason?: string }, socket: Duplex) => void {
  return (err, socket) => {
    // A reset or an already closed socket: nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let appError: AppError;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      appError = new AppError('REQUEST_TIMEOUT', 'the request did not arrive in time (headersTimeout for its head, requestTimeout for all of it)');
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      appError = new AppError('HEADERS_TOO_LARGE', `the request head is larger than ${maxHeaderSize} bytes (the maxHeaderSize setting)`);
    } else {
      const known = err.code ? PARSE_ERRORS[err.code] : undefined;
      appError = new AppError('BAD_REQUEST', known ?? `the request is not valid HTTP/1.1 (${err.code ?? 'parse error'}${err.reason ? `: ${err.reason}` : ''})`, {
        ...(err.code ? { details: { reason: err.code } } : {}),
      });
    }
    log.info({ code: appError.code, statusCode: appError.statusCode, reason: err.code }, appError.message);
    // Bytes in the middle of a response already on its way would corrupt it: just close then.
    // `_httpMessage` (the response in progress) is Node's internal field, absent from its types.
    const pending = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !pending?.headersSent) {
      const body = JSON.stringify(appError.toJSON());
      const reason = appError.toJSON().error;
      socket.write(`HTTP/1.1 ${appError.statusCode} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
    socket.destroy();
  };
}
