/**
 * Event streams on collection and record URLs: the SSE transport of the one subscription path
 * (core/subscriptions.ts). Every check that can fail (table, query, cursor, permissions, limits)
 * runs in `prepare` before the response is hijacked, so failures are ordinary JSON errors; then
 * this only encodes what the subscription hands it: the connected frame, retained data or a
 * `reset`, replayed events, live events, into one bounded stream writer per client.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../core/app.ts';
import type { TableService } from '../core/table-service.ts';
import type { SubscriptionSink } from '../core/subscriptions.ts';
import type { HubEvent } from '../realtime/events.ts';
import type { SharedChunk } from '../realtime/hub.ts';
import { encodeSseFrame } from '../realtime/sse.ts';
import { createStreamWriter } from '../realtime/stream-writer.ts';
import type { Key } from '../schema/model.ts';
import { rawQuery, type StreamHandler } from './rest-routes.ts';
import { streamHeaders } from './sse-api.ts';

export interface SseOptions {
  app: App;
  /** `retry:` hint sent first (ms). */
  retry: number;
  maxFrames: number;
  maxBytes: number;
}

const CONNECTED = JSON.stringify({ type: 'connected', status: 'ok' });

/**
 * Builds the handler REST routes call for `?stream=sse` and `Accept: text/event-stream`.
 * @example registerRestRoutes(fastify, service, { stream: createSseHandler({ app, retry: 3000, maxFrames: 1000, maxBytes: 4 << 20 }) })
 */
export function createSseHandler(options: SseOptions): StreamHandler {
  const { app } = options;
  return (request: FastifyRequest, reply: FastifyReply, service: TableService, key: Key | undefined) => {
    const query = service.parseQuery(rawQuery(request));
    const prepared = app.subscriptions.prepare({
      service,
      address: request.ip,
      transport: 'sse',
      staleCursor: 'reset',
      cursor: request.headers['last-event-id'] ?? query.reserved.lastEventId,
      retained: query.reserved.retained === 'false' ? false : { ...(query.limit ? { limit: query.limit } : {}) },
      ...(key !== undefined ? { key } : {}),
      ...(query.filter ? { filter: query.filter } : {}),
      ...(request.principal ? { principal: request.principal } : {}),
    });
    // With several workers, the stream's worker (for operators, and the bench's cross-worker latency).
    if (app.peers.clustered) reply.header('x-tablecast-worker', String(app.peers.self));
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, streamHeaders(request, reply));
    const writer = createStreamWriter(res, { maxFrames: options.maxFrames, maxBytes: options.maxBytes }, (reason, dropped) => {
      subscription.close(reason, dropped);
      if (reason === 'slow') request.log.info({ table: service.handle.id }, 'stream cut: the client did not keep up; it resumes with Last-Event-ID');
    });
    // Frames of one step (start, a retained or replayed chunk) go out as one write.
    const hello = encodeSseFrame({ retry: options.retry });
    const sink: SubscriptionSink = {
      begin(start) {
        if (start.kind === 'resume') writer.write(hello + encodeSseFrame({ event: 'message', data: CONNECTED }));
        else if (start.kind === 'reset') {
          // With the head as its id: the client's place is now the head, so a reconnect before the
          // next matching change resumes from there instead of from the stale cursor again.
          const reset = encodeSseFrame({ event: 'reset', id: start.head, data: JSON.stringify({ reason: start.reason, cursor: String(start.head) }) });
          writer.write(hello + encodeSseFrame({ event: 'message', data: CONNECTED }) + reset);
        } else writer.write(hello + encodeSseFrame({ event: 'message', id: start.head, data: CONNECTED }));
      },
      records(records, head) {
        let out = '';
        for (const record of records) out += encodeSseFrame({ event: 'message', id: head, data: JSON.stringify(record) });
        writer.write(out);
      },
      // write(), not send(): the queue bound cuts live subscribers that fall behind, and a
      // replaying client is behind by design; the subscription waits for the socket instead.
      events(events) {
        writer.write(events.map((event) => event.frame()).join(''));
      },
      ready: () => writer.drained(),
      live: {
        deliver: (event: HubEvent) => writer.send(event.frame()),
        flush: () => writer.flush(),
        deliverShared: (chunk: SharedChunk) => writer.sendShared(chunk),
      },
      end: (reason) => writer.close(reason),
    };
    const subscription = prepared.start(sink, { writer });
    res.on('close', () => writer.close('client'));
    res.on('error', () => writer.close('error'));
    // HTTP/2: when a client resets a stream whose writes wait on flow control (it stopped reading,
    // then left) with RST_STREAM NO_ERROR, as undici does, Node emits 'aborted' but never 'close':
    // it keeps the stream waiting for an end that never comes, with its buffered frames. Without
    // this the stream, its subscription and its buffers were never freed.
    request.raw.on('aborted', () => writer.close('error'));
  };
}
