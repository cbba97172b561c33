/**
 * The one answer to "does this request open an event stream?": the REST routes ask it to stream
 * instead of answering JSON, and authentication asks it because only such requests may carry an
 * `access_token` in their URL (an `EventSource` cannot send headers). Both must agree, or a token
 * would be accepted on a request that then answers JSON.
 */
import type { FastifyRequest } from 'fastify';

/**
 * A GET whose `stream` parameter is `sse`, or, without that parameter, whose `Accept` names
 * `text/event-stream`. `stream`: the parameter's decoded value, when the URL has one.
 */
export function opensStream(request: FastifyRequest, stream: string | undefined): boolean {
  if (request.method !== 'GET') return false;
  if (stream !== undefined) return stream === 'sse';
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.includes('text/event-stream');
}

/** The decoded value of a top-level `stream=` in a raw query string, for checks made before the query is parsed. */
export function streamParamOf(search: string): string | undefined {
  const m = /(?:^|&)stream=([^&]*)/.exec(search);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return m[1];
  }
}
