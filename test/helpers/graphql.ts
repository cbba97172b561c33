/**
 * Test helpers for GraphQL: a JSON POST helper, a small SSE frame reader over undici's streaming
 * bodies (independent of the server's own encoder, so it checks the wire format), the official
 * graphql-sse client wired to the test agent (self-signed https, HTTP/2), and bounded waits.
 */
import { createClient, type Client } from 'graphql-sse';
import { fetch as undiciFetch, request as undiciRequest } from 'undici';
import { agent, httpRequest, type Res } from './server.ts';

/** POSTs a GraphQL request as JSON; `accept` defaults to `application/json`. */
export function gql(url: string, query: string, variables?: Record<string, unknown>, accept = 'application/json'): Promise<Res> {
  return httpRequest(url, 'POST', { query, ...(variables ? { variables } : {}) }, { accept });
}

/** One parsed SSE frame (comments and `retry:` lines are dropped). */
export interface SseFrame {
  event: string;
  id?: string;
  data: string;
}

/**
 * Splits an SSE byte stream into frames, following the event-stream interpretation rules
 * (`\n`, `\r\n` or `\r` line ends; `data:` lines joined with `\n`; one optional space after `:`).
 */
export async function* sseFrames(body: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>): AsyncGenerator<SseFrame> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let id: string | undefined;
  let data: string[] = [];
  let hasField = false;
  for await (const chunk of body) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      if (!m) break;
      // A lone `\r` at the end of the buffer may be the first half of `\r\n`: wait for more.
      if (m[0] === '\r' && m.index === buffer.length - 1) break;
      const line = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      if (line === '') {
        if (hasField && (data.length > 0 || event)) yield { event: event || 'message', ...(id !== undefined ? { id } : {}), data: data.join('\n') };
        event = '';
        id = undefined;
        data = [];
        hasField = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
      else continue;
      hasField = true;
    }
  }
}

/** An open SSE response read frame by frame. */
export interface SseStream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The next frame matching `pred` (others are skipped and kept in `seen`); rejects after `timeoutMs`. */
  next(pred?: (f: SseFrame) => boolean, timeoutMs?: number): Promise<SseFrame>;
  /** Every frame read so far. */
  seen: SseFrame[];
  close(): void;
}

/**
 * Opens a streaming GET (or POST when `body` is given) and reads it as SSE.
 * @example const s = await openSse(`${url}/realtime-demo/message?stream=sse`); await s.next((f) => f.event === 'update')
 */
export async function openSse(url: string, options: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {}): Promise<SseStream> {
  const controller = new AbortController();
  const res = await undiciRequest(url, {
    method: options.method ?? 'GET',
    dispatcher: agent,
    signal: controller.signal,
    headers: { accept: 'text/event-stream', ...options.headers },
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const frames = sseFrames(res.body as AsyncIterable<Uint8Array>);
  const seen: SseFrame[] = [];
  let closed = false;
  return {
    status: res.statusCode,
    headers: res.headers as SseStream['headers'],
    seen,
    async next(pred = () => true, timeoutMs = 5000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no matching SSE frame within ${timeoutMs} ms; seen: ${JSON.stringify(seen)}`)), timeoutMs);
      });
      try {
        for (;;) {
          const r = await Promise.race([frames.next(), timeout]);
          if (r.done) throw new Error(`SSE stream ended without a matching frame; seen: ${JSON.stringify(seen)}`);
          seen.push(r.value);
          if (pred(r.value)) return r.value;
        }
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      controller.abort();
      res.body.destroy();
    },
  };
}

/**
 * The official graphql-sse client in distinct connections mode, fetching through undici with the
 * test agent (Node's global fetch rejects the dev certificate). No retries: a failure is a failure.
 */
export function sseClient(url: string): Client<false> {
  return createClient({
    url,
    singleConnection: false,
    retryAttempts: 0,
    fetchFn: (input: string, init?: Record<string, unknown>) => undiciFetch(input, { ...init, dispatcher: agent } as never),
  });
}

/** The next value of an async iterator, or a rejection naming `what` after `timeoutMs`. */
export async function nextWithin<T>(it: AsyncIterator<T>, what: string, timeoutMs = 5000): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([it.next(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` until true; throws with `what` after `timeoutMs` (a bound, not a timing assertion). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
