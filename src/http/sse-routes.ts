/**
 * Event streams on collection and record URLs (SPEC §4). Order matters and follows "check,
 * subscribe, replay, go live": every check that can fail (table, query, cursor, limits) runs before
 * the response is hijacked, so failures are ordinary JSON errors; afterwards the stream either
 * sends retained data or replays the change log, and joins the hub in the same synchronous step as
 * its last read, so no change falls between replay and live and none is sent twice.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../core/app.ts';
import type { TableService } from '../core/table-service.ts';
import { AppError } from '../errors.ts';
import { matches } from '../query/evaluate.ts';
import type { Filter } from '../query/types.ts';
import type { Interest } from '../realtime/events.ts';
import type { SharedChunk } from '../realtime/hub.ts';
import { encodeSseFrame } from '../realtime/sse.ts';
import { createStreamWriter, type StreamWriter } from '../realtime/stream-writer.ts';
import type { OpenStream, StreamRegistry } from '../realtime/streams.ts';
import type { Key, Record } from '../schema/model.ts';
import { rawQuery, type StreamHandler } from './rest-routes.ts';
import { streamHeaders } from './sse-api.ts';

export interface SseOptions {
  app: App;
  streams: StreamRegistry;
  /** `retry:` hint sent first (ms). */
  retry: number;
  maxFrames: number;
  maxBytes: number;
}

/** Replay reads the log in chunks, waiting for the socket between them. */
const REPLAY_CHUNK = 500;
const CONNECTED = JSON.stringify({ type: 'connected', status: 'ok' });

/** A cursor is a change sequence number: a non-negative decimal integer. */
function parseCursor(raw: unknown): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const text = Array.isArray(raw) ? raw[0] : raw;
  if (typeof text !== 'string' || !/^\d{1,15}$/.test(text.trim())) {
    throw new AppError('BAD_REQUEST', 'Last-Event-ID (or lastEventId) must be a change sequence number, the id of an event this server sent', {
      details: [{ path: 'Last-Event-ID', message: 'expected a non-negative integer' }],
    });
  }
  return Number(text.trim());
}

/**
 * Builds the handler REST routes call for `?stream=sse` and `Accept: text/event-stream`.
 * @example registerRestRoutes(fastify, service, { stream: createSseHandler({ app, streams, retry: 3000, maxFrames: 1000, maxBytes: 4 << 20 }) })
 */
export function createSseHandler(options: SseOptions): StreamHandler {
  const { app, streams } = options;
  const { store, hub } = app;

  return async (request: FastifyRequest, reply: FastifyReply, service: TableService, key: Key | undefined) => {
    const query = service.parseQuery(rawQuery(request));
    const cursor = parseCursor(request.headers['last-event-id'] ?? query.reserved.lastEventId);
    const retained = query.reserved.retained !== 'false';
    const address = request.ip;
    // 401/403 before anything opens; a role's row filter narrows every event of the stream.
    const roleFilter = service.readFilter(request.principal);
    streams.admit(address);

    const filter: Filter | undefined = query.filter && roleFilter ? { type: 'and', items: [query.filter, roleFilter] } : (query.filter ?? roleFilter);
    const interest: Interest = { table: service.handle.id, ...(key !== undefined ? { key } : {}), ...(filter ? { filter } : {}) };
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, streamHeaders(request, reply));

    let unsubscribe: (() => void) | undefined;
    let release: (() => void) | undefined;
    const stream: OpenStream = { writer: undefined as unknown as StreamWriter, address, table: service.handle.id };
    // A stream lives no longer than the credential that opened it; the client reconnects with a fresh one.
    // (Capped: setTimeout fires at once for delays beyond 2^31-1 ms, about 24.8 days.)
    const expiresAt = request.principal?.expiresAt;
    const expiry = expiresAt === undefined ? undefined : setTimeout(() => writer.close('shutdown'), Math.min(2 ** 31 - 1, Math.max(0, expiresAt - Date.now())));
    expiry?.unref();
    const writer = createStreamWriter(res, { maxFrames: options.maxFrames, maxBytes: options.maxBytes }, (reason, dropped) => {
      if (expiry) clearTimeout(expiry);
      unsubscribe?.();
      release?.();
      streams.remove(stream, reason, dropped);
      if (reason === 'slow') request.log.info({ table: stream.table }, 'stream cut: the client did not keep up; it resumes with Last-Event-ID');
    });
    stream.writer = writer;
    streams.add(stream);
    res.on('close', () => writer.close('client'));
    res.on('error', () => writer.close('error'));
    // HTTP/2: when a client resets a stream whose writes wait on flow control (it stopped reading,
    // then left) with RST_STREAM NO_ERROR, as undici does, Node emits 'aborted' but never 'close':
    // it keeps the stream waiting for an end that never comes, with its buffered frames. Without
    // this the stream, its subscription and its buffers were never freed.
    request.raw.on('aborted', () => writer.close('error'));

    const subscriber = {
      ...interest,
      after: 0,
      deliver: (event: { frame(): string }) => writer.send(event.frame()),
      flush: () => writer.flush(),
      deliverShared: (chunk: SharedChunk) => writer.sendShared(chunk),
    };
    const goLive = (after: number) => {
      subscriber.after = after;
      unsubscribe = hub.subscribe(subscriber);
    };

    /** Retained data read in the same synchronous step as the cursor it carries. */
    const sendSnapshot = (prefix: string) => {
      const head = store.changeLog.head();
      let out = prefix;
      if (retained) for (const record of snapshot(service, interest, key, query.limit)) out += encodeSseFrame({ event: 'message', id: head, data: JSON.stringify(record) });
      writer.write(out);
      goLive(head);
    };

    const hello = encodeSseFrame({ retry: options.retry });
    if (cursor === undefined) {
      const head = store.changeLog.head();
      sendSnapshot(hello + encodeSseFrame({ event: 'message', id: head, data: CONNECTED }));
      return;
    }
    writer.write(hello + encodeSseFrame({ event: 'message', data: CONNECTED }));
    // Held before the check, so pruning cannot pass the cursor between the check and the replay.
    release = hub.hold(cursor);
    const head = store.changeLog.head();
    if (cursor < store.changeLog.prunedThrough() || cursor > head) {
      // The log no longer holds (or never held) what follows this cursor: start over from state.
      release();
      release = undefined;
      const reason = cursor > head ? 'unknown' : 'expired';
      sendSnapshot(encodeSseFrame({ event: 'reset', data: JSON.stringify({ reason, cursor: String(head) }) }));
      return;
    }
    let at = cursor;
    // Replay is paced by the socket: each chunk goes out as one write, then the loop waits for
    // drain. It uses write(), not send(): the queue bound cuts live subscribers that fall behind,
    // and a replaying client is behind by design. (With send(), a chunk larger than the bound cut
    // every resuming client at once, so with a small streamQueueFrames a client cut as slow could
    // never resume.) A chunk holds at most the frame bound, and the last one is written in the same
    // synchronous step as its read and goLive, so live frames queue behind it in order.
    const chunk = Math.max(1, Math.min(REPLAY_CHUNK, options.maxFrames));
    while (!writer.closed) {
      const { events, last, complete } = hub.replay(interest, at, chunk);
      if (events.length > 0) writer.write(events.map((event) => event.frame()).join(''));
      at = last;
      if (complete) {
        goLive(at);
        release();
        release = undefined;
        return;
      }
      await writer.drained();
    }
  };
}

/** The current records a new stream starts with: the record, or the matching records in key order. */
function snapshot(service: TableService, interest: Interest, key: Key | undefined, limit: { offset: number; count: number } | undefined): Record[] {
  if (key !== undefined) {
    const found = service.find(key);
    if (!found) return [];
    return !interest.filter || matches(interest.filter, found.record) ? [found.record] : [];
  }
  // Trusted search: the interest's filter already holds the caller's role filter.
  return service.search({ reserved: {}, ...(interest.filter ? { filter: interest.filter } : {}), ...(limit ? { limit } : {}) }) as Record[];
}
