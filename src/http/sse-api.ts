/**
 * The SSE API that custom fastify routes use (`sse.addClient` …, README › Channels for custom SSE routes): it opens the event
 * stream on a fastify reply with the same headers and encoder as table streams, then hands the
 * client to the channel hub.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChannelClient, ChannelHub } from '../realtime/channels.ts';

export interface SseApi extends Omit<ChannelHub, 'addClient'> {
  /**
   * Turns this request into an event stream and registers it as a client (429 JSON, before any
   * stream opens, when a stream limit is reached).
   */
  addClient(request: FastifyRequest, reply: FastifyReply, options?: { channels?: readonly string[] }): ChannelClient;
}

/** Headers of every event stream; `Connection` only on HTTP/1.1 (HTTP/2 forbids it). */
export function streamHeaders(request: FastifyRequest, reply: FastifyReply): Record<string, string | number | string[]> {
  const inherited: Record<string, string | number | string[]> = {};
  // Headers hooks already set (CORS) must survive the hijack, which bypasses fastify's sending.
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) inherited[name] = value;
  return {
    ...inherited,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    ...(request.raw.httpVersionMajor < 2 ? { connection: 'keep-alive' } : {}),
  };
}

/**
 * Wraps the channel hub for fastify routes.
 * @example fastify.get('/orders/live', (req, reply) => { server.sse.addClient(req, reply, { channels: ['orders'] }) })
 */
export function createSseApi(hub: ChannelHub): SseApi {
  return {
    ...hub,
    addClient(request, reply, options = {}) {
      // Checked before the hijack, so a refusal is fastify's ordinary JSON error (429 + Retry-After).
      hub.admit(request.ip);
      const lastEventId = request.headers['last-event-id'];
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, streamHeaders(request, reply));
      const { expiresAt, lapsed } = request.principal;
      const client = hub.addClient({
        sink: res,
        address: request.ip,
        ...(typeof lastEventId === 'string' ? { lastEventId } : {}),
        ...(options.channels ? { channels: options.channels } : {}),
        ...(expiresAt !== undefined ? { expiresAt } : {}),
        ...(lapsed ? { lapsed } : {}),
      });
      res.on('close', () => hub.removeClient(client.id, 'client'));
      res.on('error', () => hub.removeClient(client.id, 'error'));
      // HTTP/2: a client that resets a stream waiting on flow control gets 'aborted' and never
      // 'close' (see sse-routes.ts); without this the client and its queued frames stayed.
      request.raw.on('aborted', () => hub.removeClient(client.id, 'error'));
      return client;
    },
  };
}
