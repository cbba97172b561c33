/**
 * The GraphQL subscription responses open right now, so that shutdown can drop them.
 *
 * A subscription that ends gets `event: complete`, which the graphql-sse client takes as the end
 * for good. A server going away is not the end of a subscription: its connection is dropped
 * instead (HTTP/1.1 socket closed, HTTP/2 stream reset with CANCEL), which graphql-sse retries (a
 * `NetworkError`), as EventSource reconnects when an SSE stream ends. Dropped before the
 * subscriptions are ended, so no `complete` can be written after it.
 *
 * Kept outside yoga.ts: it exists from start, while yoga loads on the first GraphQL request.
 */
import { constants } from 'node:http2';
import type { Plugin } from 'graphql-yoga';

/** A Node response (http1 or http2 compat). */
interface NodeResponse {
  destroy(): unknown;
  once(event: 'close', listener: () => void): unknown;
  /** HTTP/2 only. */
  stream?: { close(code: number): void };
}

export interface OpenStreams {
  /** Yoga plugin that records every `text/event-stream` response while it is open. */
  plugin(): Plugin<object, { reply?: { raw?: NodeResponse } }>;
  /** Drops every open subscription response without `complete`, so clients reconnect. */
  dropAll(): void;
  readonly size: number;
}

export function createOpenStreams(): OpenStreams {
  const open = new Set<NodeResponse>();
  return {
    get size() {
      return open.size;
    },
    plugin: () => ({
      onResponse({ response, serverContext }) {
        if (!response.headers.get('content-type')?.startsWith('text/event-stream')) return;
        const raw = serverContext.reply?.raw;
        if (!raw || open.has(raw)) return;
        open.add(raw);
        raw.once('close', () => open.delete(raw));
      },
    }),
    dropAll() {
      // Closed abruptly rather than ended: graphql-sse takes a clean end for a retryable drop only
      // while it waits for the next event (else it waits forever); an abrupt close fails the read,
      // so at worst the client reports an error. HTTP/1.1: the socket closes mid-chunked-body. HTTP/2: RST_STREAM(CANCEL), where a
      // plain destroy would send NO_ERROR (Node's own clients read either as the body's end).
      for (const raw of [...open]) {
        if (raw.stream) raw.stream.close(constants.NGHTTP2_CANCEL);
        else raw.destroy();
      }
      open.clear();
    },
  };
}
