/**
 * Channels over HTTP (README › Channels over HTTP; seed 002, what Mercure users expect):
 * `GET /channels/{name}` subscribes (an event stream), `POST /channels/{name}` publishes. Both go
 * through the channel hub that `server.sse` is (realtime/channels.ts), so HTTP and code share one
 * set of subscribers, one publish path across workers and cluster nodes, and the stream machinery
 * of table streams. Every check (name, query, permission, per-channel and stream limits) runs before
 * the response is hijacked, so a refusal is an ordinary JSON error. Channel events are not stored.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChannelGrants } from '../auth/channel-grants.ts';
import { checkChannelName } from '../auth/channel-grants.ts';
import { AppError } from '../errors.ts';
import { isObject } from '../util/guards.ts';
import { rawQuery, requireJson } from './rest-routes.ts';
import type { SseApi } from './sse-api.ts';
import { opensStream } from './stream-request.ts';

/** The route pattern, as fastify names it (auth-routes.ts accepts `?access_token=` on its streams). */
export const CHANNEL_ROUTE = '/channels/:name';

export interface ChannelRouteOptions {
  sse: SseApi;
  grants: ChannelGrants;
  /** Most subscribers of one channel (`maxChannelSubscribers`). */
  maxSubscribers: number;
  /** Largest published `data`, in bytes of its JSON (`maxChannelMessageBytes`). */
  maxMessageBytes: number;
  /** The `retry-after` of a full channel (s): the heartbeat's, as for the stream limits. */
  retryAfter: number;
  /** This process's number, with several workers (the `x-tablecast-worker` header of its streams). */
  worker?: number;
}

/** Parameters a subscribe may carry; `lastEventId` is accepted and ignored, as the header is (nothing is stored to resume from). */
const GET_PARAMS = new Set(['stream', 'access_token', 'lastEventId']);
/** An event name: what EventSource's `addEventListener` takes, without the names it gives a meaning of its own. */
const EVENT_NAME = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;
/** `ping` is the heartbeat; `open` and `error` are EventSource's own events, which a frame must not impersonate. */
const RESERVED_EVENTS = new Set(['ping', 'open', 'error']);

/**
 * Registers `GET` and `POST /channels/:name`.
 * @example registerChannelRoutes(fastify, { sse, grants, maxSubscribers: 10_000, maxMessageBytes: 65_536, retryAfter: 15 })
 */
export function registerChannelRoutes(fastify: FastifyInstance, options: ChannelRouteOptions): void {
  const { sse, grants } = options;

  fastify.get(CHANNEL_ROUTE, (request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    const name = checkChannelName(request.params.name);
    const stream = paramsOf(request, GET_PARAMS).get('stream') ?? undefined;
    if (stream !== undefined && stream !== 'sse') throw new AppError('BAD_REQUEST', `stream=${stream.slice(0, 40)} is not a stream type; use stream=sse`);
    grants.require(request.principal, 'subscribe', name);
    const subscribers = sse.channel(name).count();
    // A plain GET describes the channel: how many listen now (what a client may want before it subscribes).
    if (!opensStream(request, stream)) return reply.send({ channel: name, subscribers });
    if (subscribers >= options.maxSubscribers) {
      throw new AppError('CHANNEL_FULL', `channel ${name} has ${options.maxSubscribers} subscribers, its limit (maxChannelSubscribers)`, {
        headers: { 'retry-after': String(options.retryAfter) },
      });
    }
    if (options.worker !== undefined) reply.header('x-tablecast-worker', String(options.worker));
    sse.addClient(request, reply, { channels: [name] });
    return reply;
  });

  // The other methods name the channel's URL, not a missing route: 405 with what it takes.
  fastify.route({
    method: ['PUT', 'PATCH', 'DELETE'],
    url: CHANNEL_ROUTE,
    handler: async () => {
      throw new AppError('METHOD_NOT_ALLOWED', 'a channel takes GET (subscribe, or describe) and POST (publish)', { headers: { allow: 'GET, HEAD, POST' } });
    },
  });

  fastify.post(CHANNEL_ROUTE, async (request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
    requireJson(request);
    const name = checkChannelName(request.params.name);
    paramsOf(request, new Set());
    grants.require(request.principal, 'publish', name);
    const { event, data } = messageOf(request.body, options.maxMessageBytes);
    // Serialised here, once: the hub sends a string as it is, so every subscriber gets JSON.
    const subscribers = sse.broadcast(name, event, data);
    return reply.code(202).send({ channel: name, subscribers });
  });
}

/** The query's parameters, refusing any not in `allowed` (a typo would otherwise be silently ignored). */
function paramsOf(request: FastifyRequest, allowed: ReadonlySet<string>): URLSearchParams {
  const params = new URLSearchParams(rawQuery(request));
  for (const key of params.keys()) {
    if (!allowed.has(key)) {
      const expected = allowed.size ? `it takes ${[...allowed].join(', ')}` : 'it takes none';
      throw new AppError('BAD_REQUEST', `"${key.slice(0, 40)}" is not a parameter of ${request.method} /channels/{name}: ${expected}`);
    }
  }
  return params;
}

/** A publish body, `{ "event"?: name, "data": any JSON }`, checked; `data` comes back serialised. */
function messageOf(body: unknown, maxBytes: number): { event: string; data: string } {
  const issue = (path: string, message: string) => new AppError('VALIDATION_FAILED', `${path ? `${path}: ` : ''}${message}`, { details: [{ path, message }] });
  if (!isObject(body) || Array.isArray(body)) throw issue('', 'the body must be a JSON object: {"event": "name", "data": …}');
  for (const key of Object.keys(body)) if (key !== 'event' && key !== 'data') throw issue(key, 'is not a field of a channel message (event, data)');
  if (!('data' in body)) throw issue('data', 'is required (any JSON value; null for none)');
  const event = body.event ?? 'message';
  if (typeof event !== 'string' || !EVENT_NAME.test(event)) throw issue('event', 'must be a letter then up to 63 letters, digits, _ . : -');
  if (RESERVED_EVENTS.has(event)) throw issue('event', `"${event}" is reserved (ping is the heartbeat; open and error are EventSource's own events)`);
  const data = JSON.stringify(body.data);
  const bytes = Buffer.byteLength(data);
  if (bytes > maxBytes) throw new AppError('PAYLOAD_TOO_LARGE', `data is ${bytes} bytes of JSON, more than maxChannelMessageBytes (${maxBytes})`);
  return { event, data };
}
