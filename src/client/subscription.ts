/**
 * `subscribe()`: one table or record stream as an async iterator that reconnects and resumes, shared
 * by both entries. Reading is driven by the consumer: a chunk is read from the connection only when
 * `next()` finds nothing parsed left, so a consumer that stops pulling stops the reading, the
 * transport stops taking data from the socket, and the server sees a slow stream (it cuts it; the
 * client then resumes with `Last-Event-ID`). What waits in memory is at most the events of one chunk.
 *
 * Resume: the cursor is the id of the last frame that carried one. Change events at or below the
 * cursor are dropped (no duplicate); a reconnect sends the cursor, and the server replays every
 * change after it (no gap). Retained records all carry the cursor they were read at and have no
 * end marker, so a connection lost before the first change after a snapshot reconnects without a
 * cursor, and the consumer gets a `reset` before the fresh snapshot when it had seen part of the old.
 */
import { readBounded, UNEXPECTED_BODY_LIMIT } from './body.ts';
import { ClientError, errorFromResponse } from './errors.ts';
import { createSseParser, type SseMessage, type SseParser } from './sse-parser.ts';
import type { HttpResponse, KeyOf, TableEvent, TableTypes } from './types.ts';

export interface StreamSource {
  /** Opens the stream, sending `cursor` as `Last-Event-ID` when given. */
  open(cursor: string | undefined, signal: AbortSignal): Promise<HttpResponse>;
  /** Whether the consumer wants retained records (they then need the reset rule above). */
  retained: boolean;
  /** Where to start: a cursor to resume after, or undefined for the current records. */
  since: string | undefined;
  maxRetryDelay: number;
  maxEventSize: number;
  signal: AbortSignal | undefined;
}

/** Statuses worth retrying: the server is busy, restarting or over a limit. */
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);
/** The stream events a subscription reads; others are ignored (forward compatibility). */
const EVENTS = new Set(['message', 'reset', 'update', 'delete', 'publish']);
/** The wait before the first retry until the server has sent its `retry:`. */
const DEFAULT_RETRY = 1000;

/**
 * The iterator behind `table.subscribe()`.
 * @example for await (const e of openSubscription(source)) if (e.type === 'update') render(e.record)
 */
export function openSubscription<T extends TableTypes>(source: StreamSource): AsyncIterableIterator<TableEvent<T>> {
  const stop = new AbortController();
  const signal = source.signal ? AbortSignal.any([stop.signal, source.signal]) : stop.signal;
  let cursor = source.since;
  // A snapshot is being delivered and no change has followed it yet (see the module comment).
  let inSnapshot = false;
  let snapshotSeen = 0;
  let retry = DEFAULT_RETRY;
  let failures = 0;
  let response: HttpResponse | undefined;
  let parser: SseParser | undefined;
  let decoder: TextDecoder | undefined;
  let connected = false;
  let opened = false;
  // Whether the current connection delivered a frame: one that ends without any counts as a failure.
  let delivered = false;
  let pending: Array<TableEvent<T>> = [];
  let done = false;
  let chain: Promise<unknown> = Promise.resolve();

  const drop = () => {
    const r = response;
    response = undefined;
    if (r) void r.cancel().catch(() => undefined);
    if (parser?.retry !== undefined) retry = parser.retry;
  };

  const connect = async (): Promise<void> => {
    let wait = 0;
    for (;;) {
      if (wait > 0) await sleep(wait, signal);
      signal.throwIfAborted();
      const restart = inSnapshot && snapshotSeen > 0;
      const from = inSnapshot ? undefined : cursor;
      let res: HttpResponse;
      try {
        res = await source.open(from, signal);
      } catch (err) {
        signal.throwIfAborted();
        // A stream that never opened says why (a wrong address, an untrusted certificate); one
        // that was open retries, as the server may be restarting.
        if (!opened) throw err;
        failures++;
        wait = backoff(retry, failures, source.maxRetryDelay);
        continue;
      }
      if (res.status === 200 && (res.header('content-type') ?? '').startsWith('text/event-stream')) {
        response = res;
        opened = true;
        parser = createSseParser(source.maxEventSize);
        decoder = new TextDecoder();
        connected = false;
        delivered = false;
        if (restart) pending.push({ type: 'reset', cursor: from ?? '', reason: 'reconnected' });
        if (inSnapshot) snapshotSeen = 0;
        inSnapshot = source.retained && from === undefined;
        return;
      }
      // Not a stream (an error, or a proxy's page): its start says why, the rest is not read.
      const error = errorFromResponse(res.status, await readBounded(res, UNEXPECTED_BODY_LIMIT).catch(() => ''));
      if (!RETRYABLE.has(res.status)) throw error;
      failures++;
      const after = Number(res.header('retry-after'));
      wait = Number.isFinite(after) && after > 0 ? Math.min(after * 1000, source.maxRetryDelay) : backoff(retry, failures, source.maxRetryDelay);
    }
  };

  const take = (m: SseMessage) => {
    // `ping`, and event types a later server may add: skipped before their data is read.
    if (!EVENTS.has(m.event)) return;
    let data: unknown;
    try {
      data = JSON.parse(m.data);
    } catch (err) {
      throw new ClientError('BAD_EVENT', 200, `the server sent an event that is not JSON (${m.event})`, { cause: err });
    }
    if (m.event === 'message') {
      // The first message of a connection is its confirmation; it carries the start cursor.
      if (!connected) {
        connected = true;
        if (m.id !== undefined) cursor = m.id;
        return;
      }
      if (m.id !== undefined) cursor = m.id;
      if (inSnapshot) snapshotSeen++;
      pending.push({ type: 'retained', cursor: m.id ?? cursor ?? '', record: data as T['record'] });
      return;
    }
    if (m.event === 'reset') {
      const reset = data as { reason?: unknown; cursor?: unknown };
      cursor = String(reset.cursor);
      inSnapshot = source.retained;
      snapshotSeen = 0;
      pending.push({ type: 'reset', cursor, reason: String(reset.reason) });
      return;
    }
    if (m.id === undefined) throw new ClientError('BAD_EVENT', 200, `the server sent a ${m.event} event without an id`);
    if (cursor !== undefined && !isAfter(m.id, cursor)) return;
    cursor = m.id;
    inSnapshot = false;
    if (m.event === 'update') pending.push({ type: 'update', cursor: m.id, record: data as T['record'] });
    else if (m.event === 'delete') pending.push({ type: 'delete', cursor: m.id, key: data as KeyOf<T> });
    else {
      const { message, ...key } = data as { message: unknown };
      pending.push({ type: 'publish', cursor: m.id, key: key as KeyOf<T>, message });
    }
  };

  const pull = async (): Promise<IteratorResult<TableEvent<T>>> => {
    for (;;) {
      if (done) return { done: true, value: undefined };
      const next = pending.shift();
      if (next) return { done: false, value: next };
      if (opening) {
        const first = opening;
        opening = undefined;
        await first;
      }
      if (!response) await connect();
      let chunk: Uint8Array | undefined;
      try {
        chunk = await response!.read();
      } catch {
        signal.throwIfAborted();
        chunk = undefined;
      }
      if (chunk === undefined) {
        // The server ended the stream (shutdown, slow cut, expired credential) or the connection
        // dropped: wait the server's `retry:` and resume.
        drop();
        failures = delivered ? 0 : failures + 1;
        await sleep(backoff(retry, failures, source.maxRetryDelay), signal);
        continue;
      }
      const messages = parser!.push(decoder!.decode(chunk, { stream: true }));
      if (messages.length > 0) delivered = true;
      for (const m of messages) take(m);
    }
  };

  const finish = async () => {
    done = true;
    pending = [];
    stop.abort();
    drop();
  };

  // The stream opens now, not at the first pull: events written after subscribe() returns reach
  // the consumer (its failure, if any, is reported by the first next()).
  let opening: Promise<void> | undefined = connect();
  opening.catch(() => undefined);

  const iterator: AsyncIterableIterator<TableEvent<T>> = {
    next() {
      // Calls that overlap run one after another: one reader per connection.
      const result = chain.then(pull).catch(async (err: unknown): Promise<IteratorResult<TableEvent<T>>> => {
        // Ended by return() while this call waited: that is the end, not a failure.
        if (done && !source.signal?.aborted) return { done: true, value: undefined };
        await finish();
        throw err;
      });
      chain = result.catch(() => undefined);
      return result;
    },
    async return() {
      await finish();
      return { done: true, value: undefined };
    },
    async throw(err?: unknown) {
      await finish();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/** Whether decimal cursor `a` comes after `b` (they are sequence numbers of any length). */
function isAfter(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}

/** The wait before retry `failures` (0: the first after a clean end): the server's hint, doubled per failure, ±20%. */
function backoff(retry: number, failures: number, max: number): number {
  const base = Math.min(retry * 2 ** Math.min(failures, 16), max);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
