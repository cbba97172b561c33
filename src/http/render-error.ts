/**
 * Renders any error as the one JSON error body, from fastify's error and not-found handlers alike,
 * and logs it at the level its status deserves (4xx: the client's problem; 5xx: ours, with cause).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toAppError, type AppError } from '../errors.ts';

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
