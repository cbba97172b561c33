/**
 * HTTP from the orchestrator (itself pinned to the load core): seeding data in parallel batches
 * through each server's REST API, and the timed writers of the SSE scenarios, which put their send
 * time (`sentAt`, epoch ms with a fraction, the same clock as the farm's) into every record.
 */
import { buildConnector, Client, type Dispatcher, Pool } from 'undici';

export const CONTENT = 'SSE is working: a benchmark message of about a hundred bytes, like a chat line or a status.';
export const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Req {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: unknown;
}

/** Sends one request (`options` adds dispatch options, e.g. pipelining hints); throws on a non-2xx answer. */
export async function send(pool: Dispatcher, req: Req, options: Partial<Dispatcher.RequestOptions> = {}): Promise<{ status: number; text: string }> {
  const res = await pool.request({
    ...options,
    method: req.method,
    path: req.path,
    ...(req.body !== undefined ? { body: JSON.stringify(req.body), headers: { 'content-type': 'application/json' } } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${req.method} ${req.path}: ${res.statusCode} ${text.slice(0, 300)}`);
  return { status: res.statusCode, text };
}

export function pool(url: string, connections = 50): Pool {
  // HTTPS servers of the bench have self-signed certificates (HTTP/1.1 over TLS: the ALPN fallback).
  return new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 30_000, connect: { rejectUnauthorized: false } });
}

/** Sends `count` requests built by `make(i)` with `concurrency` in flight; resolves with the time taken (ms). */
export async function seed(url: string, count: number, make: (i: number) => Req, concurrency = 50): Promise<number> {
  const p = pool(url, concurrency);
  const t0 = now();
  let next = 0;
  const worker = async () => {
    while (next < count) await send(p, make(next++));
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await p.close();
  }
  return now() - t0;
}

export interface WriteStats {
  sent: number;
  ok: number;
  failed: number;
  /** performance-clock epoch ms of the first send, and of the last acknowledgement. */
  startedAt: number;
  endedAt: number;
  /** Achieved write rate (acknowledged / s). */
  rate: number;
  /** Largest lag of a send behind its schedule (ms): > a few ms means the writer could not keep the rate. */
  maxLagMs: number;
  firstError?: string;
}

/**
 * POSTs `rate × seconds` messages at a fixed rate (not waiting for answers, at most `inFlight`
 * outstanding), each `{id: tag-n, title, content, sentAt, n}`.
 */
export async function writeAtRate(url: string, rate: number, seconds: number, tag: string, inFlight = 64): Promise<WriteStats> {
  const p = pool(url, Math.min(inFlight, 64));
  try {
    return await writeOn(p, {}, rate, seconds, tag, inFlight);
  } finally {
    await p.close();
  }
}

/** The fixed-rate write loop of writeAtRate, over any dispatcher (a pool, or one connection). */
async function writeOn(d: Dispatcher, options: Partial<Dispatcher.RequestOptions>, rate: number, seconds: number, tag: string, inFlight: number): Promise<WriteStats> {
  const total = Math.round(rate * seconds);
  const pending = new Set<Promise<void>>();
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  let maxLagMs = 0;
  const startedAt = now();
  for (let n = 0; n < total; n++) {
    const due = startedAt + (n * 1000) / rate;
    let wait = due - now();
    if (wait > 1) {
      await sleep(wait - 0.5);
      wait = due - now();
    }
    while (pending.size >= inFlight) await Promise.race(pending);
    maxLagMs = Math.max(maxLagMs, -wait);
    const sentAt = now();
    const task: Promise<void> = send(d, { method: 'POST', path: '/bench/message', body: { id: `${tag}-${n}`, title: 'Hello', content: CONTENT, sentAt, n } }, options).then(
      () => void ok++,
      (err: Error) => {
        failed++;
        firstError ??= err.message;
      },
    );
    const tracked = task.finally(() => pending.delete(tracked));
    pending.add(tracked);
  }
  await Promise.all(pending);
  const endedAt = now();
  return { sent: total, ok, failed, startedAt, endedAt, rate: ok / ((endedAt - startedAt) / 1000), maxLagMs, ...(firstError ? { firstError } : {}) };
}

/** writeAtRate's stats, and the worker that served every write. */
export interface OneConnectionStats extends WriteStats {
  /** `worker` of the `/health` answer on the writer's connection (undefined from a single process). */
  worker: string | undefined;
}

/**
 * Like writeAtRate, but every request goes over one keep-alive connection, whose worker (tablecast
 * with --workers > 1: the cluster hands each connection to one worker) is asked first with
 * `GET /health` on that same connection. A Pool would spread writes over up to 64 connections, and a
 * Client reconnects silently after losing its socket, maybe to another worker: here the connector
 * refuses a second socket, so a lost connection fails the remaining writes instead of moving them.
 * The writes are pipelined (marked idempotent and non-blocking, else undici holds each POST until the
 * answer before it): a write waiting behind a slow answer would count its wait as delivery latency.
 */
export async function writeOnOneConnection(url: string, rate: number, seconds: number, tag: string, inFlight = 64): Promise<OneConnectionStats> {
  const base = buildConnector({ rejectUnauthorized: false });
  let sockets = 0;
  const client = new Client(url, {
    pipelining: 16,
    keepAliveTimeout: 30_000,
    connect: (opts, callback) => {
      if (sockets++ > 0) callback(new Error("the writer's connection closed: not opening another (it could be served by another worker)"), null);
      else base(opts, callback);
    },
  });
  try {
    const health = JSON.parse((await send(client, { method: 'GET', path: '/health' })).text) as { worker?: unknown };
    const worker = health.worker === undefined ? undefined : String(health.worker);
    const stats = await writeOn(client, { idempotent: true, blocking: false }, rate, seconds, tag, inFlight);
    return { ...stats, worker };
  } finally {
    await client.close();
  }
}
