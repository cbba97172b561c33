/**
 * SSE test clients: a small reader over undici streaming bodies that parses frames the way the
 * WHATWG EventSource parser does (and keeps each frame's exact text), so tests can await "the next
 * N frames" or "the first frame matching a predicate" with a timeout; and a factory for the
 * `eventsource` npm client that talks through an undici agent accepting the dev certificate.
 */
import { rmSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { EventSource } from 'eventsource';
import { Agent, fetch as undiciFetch, request } from 'undici';
import type { ServerOptions } from '../../src/server.ts';
import { MESSAGE_SDL, agent as sharedAgent, httpRequest, schemaDir, startServer, type Res, type TestServer } from './server.ts';

/** One parsed frame. `raw` is its exact text, including the blank line that ends it. */
export interface Frame {
  event?: string;
  id?: string;
  data?: string;
  retry?: number;
  raw: string;
}

/** A frame's data parsed as JSON. */
export function json(frame: Frame): any {
  return JSON.parse(frame.data ?? 'null');
}

/**
 * A new undici agent that accepts the self-signed certificate. HTTP/2 unless `h2: false`.
 * Tests against TLS servers use their own agent and close it before closing the server: an idle
 * HTTP/2 session otherwise keeps the server's `close()` waiting.
 */
export function createAgent(options: { h2?: boolean; localAddress?: string } = {}): Agent {
  return new Agent({
    connect: { rejectUnauthorized: false },
    allowH2: options.h2 ?? true,
    // The client's source address (127.0.0.2, …), so one machine can test per-address limits.
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
}

export interface SseStream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Every complete frame received so far (consumed or not). */
  readonly frames: readonly Frame[];
  /** Every byte of text received so far. */
  text(): string;
  /** The next `n` frames not yet consumed by `next`/`until`. */
  next(n?: number, timeoutMs?: number): Promise<Frame[]>;
  /** Consumes frames up to and including the first that matches; returns that frame. */
  until(predicate: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Consumes frames until one matches; returns every frame consumed (the match last). */
  collectUntil(predicate: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame[]>;
  /** Frames not yet consumed. */
  pending(): Frame[];
  /** Resolves when the response body ends or errors (with the error, if any). */
  readonly ended: Promise<Error | undefined>;
  readonly isEnded: boolean;
  /** Stops reading (backpressure reaches the server once buffers fill). */
  pause(): void;
  resume(): void;
  /** Aborts the request. */
  close(): void;
  /** For a non-stream answer: the body as JSON. */
  json(): Promise<any>;
}

export interface OpenOptions {
  headers?: Record<string, string>;
  /** Default: the shared agent from helpers/server.ts. */
  agent?: Agent;
  timeoutMs?: number;
}

/**
 * Opens a GET and, when the answer is an event stream, reads and parses it as it arrives.
 * @example const s = await openSse(`${url}/realtime-demo/message?stream=sse`); const [retry, hello] = await s.next(2)
 */
export async function openSse(url: string, options: OpenOptions = {}): Promise<SseStream> {
  const controller = new AbortController();
  const res = await request(url, {
    method: 'GET',
    dispatcher: options.agent ?? sharedAgent,
    headers: options.headers ?? {},
    signal: controller.signal,
  });
  const isStream = String(res.headers['content-type'] ?? '').startsWith('text/event-stream');
  const frames: Frame[] = [];
  let consumed = 0;
  let text = '';
  let buffer = '';
  let ended = false;
  let endError: Error | undefined;
  const wakers = new Set<() => void>();
  const wake = () => {
    for (const w of [...wakers]) w();
  };

  let resolveEnded!: (e: Error | undefined) => void;
  const endedPromise = new Promise<Error | undefined>((r) => (resolveEnded = r));
  const finish = (err?: Error) => {
    if (ended) return;
    ended = true;
    endError = err;
    resolveEnded(err);
    wake();
  };

  if (isStream) {
    res.body.setEncoding('utf8');
    res.body.on('data', (chunk: string) => {
      text += chunk;
      buffer += chunk;
      for (const frame of takeFrames()) frames.push(frame);
      wake();
    });
    res.body.on('end', () => finish());
    res.body.on('error', (err: Error) => finish(err));
    res.body.on('close', () => finish());
  }

  /** Cuts complete frames (ended by a blank line) off the buffer; a partial frame stays. */
  function takeFrames(): Frame[] {
    const out: Frame[] = [];
    for (;;) {
      const m = /\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n/.exec(buffer);
      if (!m) return out;
      const raw = buffer.slice(0, m.index + m[0].length);
      buffer = buffer.slice(m.index + m[0].length);
      const frame = parseFrame(raw);
      if (frame) out.push(frame);
    }
  }

  const describe = () => `received so far (${frames.length} frames, ${consumed} consumed, ended=${ended}${endError ? ` (${endError.message})` : ''}):\n${text.slice(-2000)}`;

  /** Waits until `ready()` returns a value, or fails after the timeout. */
  const waitFor = <T>(ready: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        let v: T | undefined;
        try {
          v = ready();
        } catch (err) {
          cleanup();
          reject(err);
          return;
        }
        if (v !== undefined) {
          cleanup();
          resolve(v);
        } else if (ended) {
          cleanup();
          reject(new Error(`stream ended while waiting for ${what}; ${describe()}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${describe()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        wakers.delete(check);
      };
      wakers.add(check);
      check();
    });

  const defaultTimeout = options.timeoutMs ?? 5000;

  const stream: SseStream = {
    status: res.statusCode,
    headers: res.headers as SseStream['headers'],
    frames,
    text: () => text,
    next(n = 1, timeoutMs = defaultTimeout) {
      return waitFor(
        () => {
          if (frames.length - consumed < n) return undefined;
          const out = frames.slice(consumed, consumed + n);
          consumed += n;
          return out;
        },
        timeoutMs,
        `${n} more frame(s)`,
      );
    },
    async until(predicate, timeoutMs = defaultTimeout) {
      const got = await stream.collectUntil(predicate, timeoutMs);
      return got.at(-1)!;
    },
    collectUntil(predicate, timeoutMs = defaultTimeout) {
      return waitFor(
        () => {
          for (let i = consumed; i < frames.length; i++) {
            if (predicate(frames[i]!)) {
              const out = frames.slice(consumed, i + 1);
              consumed = i + 1;
              return out;
            }
          }
          return undefined;
        },
        timeoutMs,
        'a matching frame',
      );
    },
    pending: () => frames.slice(consumed),
    ended: endedPromise,
    get isEnded() {
      return ended;
    },
    pause: () => res.body.pause(),
    resume: () => res.body.resume(),
    close() {
      controller.abort();
      res.body.destroy();
      finish();
    },
    async json() {
      return JSON.parse(await res.body.text());
    },
  };
  return stream;
}

/** Parses one frame's text (WHATWG rules: `field: value`, one leading space dropped, `:` comments). */
export function parseFrame(raw: string): Frame | undefined {
  const frame: Frame = { raw };
  let any = false;
  for (const line of raw.split(/\r\n|\r|\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    any = true;
    if (field === 'event') frame.event = value;
    else if (field === 'id') frame.id = value;
    else if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
    else if (field === 'retry' && /^\d+$/.test(value)) frame.retry = Number(value);
  }
  return any ? frame : undefined;
}

/** Polls `condition` (every 10 ms; it may be async) until it holds; fails with `message` after the timeout. */
export async function eventually(condition: () => boolean | Promise<boolean>, message: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${message}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Races `promise` against a generous deadline: a hang fails with `message` instead of stalling the suite. */
export async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The requests an EventSource made (to check the `Last-Event-ID` it sent on reconnects). */
export interface RecordedRequest {
  url: string;
  headers: Record<string, string>;
}

/**
 * An `eventsource` (npm, v4) client whose fetch goes through an undici agent that accepts the
 * self-signed certificate and speaks HTTP/2; `requests` records every connection attempt.
 * @example const { source, requests } = createEventSource(`${url}/realtime-demo/message?stream=sse`, agent)
 */
export function createEventSource(url: string, agent: Agent = sharedAgent): { source: EventSource; requests: RecordedRequest[] } {
  const requests: RecordedRequest[] = [];
  const source = new EventSource(url, {
    fetch: (input, init) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries((init?.headers ?? {}) as Record<string, string>)) headers[k.toLowerCase()] = v;
      requests.push({ url: String(input), headers });
      return undiciFetch(input, { ...(init as object), dispatcher: agent }) as unknown as ReturnType<typeof globalThis.fetch>;
    },
  });
  return { source, requests };
}

export interface SseServer extends TestServer {
  /** This server's own client agent (closed before the server, so `close()` never waits on it). */
  agent: Agent;
  /** Opens a stream on a path of this server with this server's agent. */
  open(path: string, options?: OpenOptions): Promise<SseStream>;
  /**
   * Runs `fn` at teardown before the server closes (last registered, first run): clients that
   * hold HTTP/2 sessions (browsers, other agents, EventSources) must go first.
   */
  defer(fn: () => unknown): void;
}

/**
 * Starts a server (seed 000's Message schema unless `sdl` is given) whose requests go through a
 * fresh agent, and tears everything down after the test: streams, agent, server, directories.
 * @example const s = await startSseServer(t, { tls: true }); const stream = await s.open('/realtime-demo/message?stream=sse')
 */
export async function startSseServer(t: TestContext, options: ServerOptions & { sdl?: string; h2?: boolean } = {}): Promise<SseServer> {
  const { sdl, h2, ...rest } = options;
  const schemas = schemaDir({ 'schema.graphql': sdl ?? MESSAGE_SDL });
  const base = await startServer({ schemas, ...rest });
  const agent = createAgent({ h2: h2 ?? true });
  const opened: SseStream[] = [];
  const deferred: Array<() => unknown> = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const fn of deferred.reverse()) await fn();
    for (const s of opened) s.close();
    await agent.destroy();
    await base.close();
    rmSync(schemas, { recursive: true, force: true });
  };
  t.after(close);
  return {
    ...base,
    agent,
    req: (method, path, body, headers) => send(agent, base.url + path, method, body, headers),
    async open(path, openOptions = {}) {
      const s = await openSse(base.url + path, { agent, ...openOptions });
      opened.push(s);
      return s;
    },
    defer: (fn) => void deferred.push(fn),
    close,
  };
}

/** One JSON request through `agent` (a non-string body is sent as JSON). */
export function send(agent: Agent, url: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  return httpRequest(url, method, body, headers, agent);
}
