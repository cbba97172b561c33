/**
 * The reference server of the benchmarks: plain fastify 5 + lmdb 3 doing the same work as
 * tablecast on the benchmark paths and nothing else (no validation, no schema, no auth, no
 * queues, no limits, no versions/ETags, no filtered streams, no retained data). It is the
 * physical limit of this stack, so bench/run.ts reports tablecast as a ratio of it.
 *
 *   GET    /health                            {"status":"ok"}
 *   GET    /bench/:table/:id                  the record (lmdb get → JSON)
 *   GET    /bench/:table?category=X&limit(n)  records whose indexed `category` is X, key order
 *   POST   /bench/:table                      insert (key from the body or a random UUID) with a
 *                                             change-log entry and the head in one transaction
 *   PUT    /bench/:table/:id                  the same, replacing
 *   DELETE /bench/:table?category=X           deletes the matches (one transaction, log entries)
 *   GET    /bench/:table?stream=sse           SSE: connected frame, optional replay after
 *                                             Last-Event-ID / ?lastEventId, then live frames;
 *                                             each event is serialised once and the frames
 *                                             committed in one tick go out as one write per client
 *
 * Run: node --import tsx bench/reference-server.ts --port 0 --host 127.0.0.1 --data /tmp/ref
 * With `--cert cert.pem --key key.pem` it serves HTTPS with HTTP/2 and an HTTP/1.1 fallback, as
 * tablecast does by default (same stream cap per session, 128).
 * Prints `reference listening on http(s)://host:port` and stops on SIGTERM/SIGINT.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import { open, type Database } from 'lmdb';

type Rec = { [k: string]: unknown };
interface Change {
  seq: number;
  time: number;
  table: string;
  op: 'update' | 'delete';
  key: string;
  value?: Rec;
}

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, data: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } },
  strict: true,
});
if (!values.data) throw new Error('--data <dir> is required');
mkdirSync(values.data, { recursive: true });

const root = open({ path: join(values.data, 'reference.mdb'), maxDbs: 16 });
const meta = root.openDB<number, string>('meta', {});
const changes = root.openDB<Change, number>('changes', {});
const TABLES = ['message', 'item'] as const;
const tables = new Map<string, Database<Rec, string>>(TABLES.map((t) => [t, root.openDB<Rec, string>(`t:${t}`, {})]));
/** item.category → keys (dupSort, so one value's keys come back in key order, as in tablecast). */
const categoryIndex = root.openDB<string, string>('i:item:category', { dupSort: true, encoding: 'ordered-binary' });

// ---- fan-out: each event serialised once; the frames of one tick written as one chunk per client.
const subscribers = new Map<string, Set<ServerResponse>>(TABLES.map((t) => [t, new Set()]));
const pending = new Map<string, string[]>();
let flushScheduled = false;
const frameOf = (c: Change) => `event: ${c.op}\nid: ${c.seq}\ndata: ${JSON.stringify(c.op === 'update' ? c.value : { id: c.key })}\n\n`;
function publish(change: Change): void {
  if (subscribers.get(change.table)!.size === 0) return;
  let list = pending.get(change.table);
  if (!list) pending.set(change.table, (list = []));
  list.push(frameOf(change));
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}
function flush(): void {
  flushScheduled = false;
  for (const [table, frames] of pending) {
    const chunk = frames.length === 1 ? frames[0]! : frames.join('');
    for (const res of subscribers.get(table)!) res.write(chunk);
  }
  pending.clear();
}

// ---- writes: record + index + change-log entry + head in one (batched) transaction.
async function write(table: string, key: string, value: Rec): Promise<void> {
  const db = tables.get(table)!;
  const change = await root.transaction(() => {
    const prev = table === 'item' ? db.get(key) : undefined;
    const seq = (meta.get('seq') ?? 0) + 1;
    const entry: Change = { seq, time: Date.now(), table, op: 'update', key, value };
    meta.put('seq', seq);
    changes.put(seq, entry);
    db.put(key, value);
    if (table === 'item' && prev?.category !== value.category) {
      if (typeof prev?.category === 'string') categoryIndex.remove(prev.category, key);
      if (typeof value.category === 'string') categoryIndex.put(value.category, key);
    }
    return entry;
  });
  publish(change);
}

const tls = values.cert && values.key ? { key: readFileSync(values.key), cert: readFileSync(values.cert) } : undefined;
// Typed loosely: fastify's overloads pick the server type from literal options, and this picks at run time.
const app = (tls
  ? Fastify({ logger: false, bodyLimit: 1 << 20, http2: true, https: { allowHTTP1: true, ...tls, settings: { maxConcurrentStreams: 128 } } })
  : Fastify({ logger: false, bodyLimit: 1 << 20 })) as unknown as FastifyInstance;
const tableOf = (params: unknown) => {
  const t = (params as { table: string }).table;
  return tables.has(t) ? t : undefined;
};
const rawQuery = (url: string) => {
  const i = url.indexOf('?');
  return i < 0 ? '' : url.slice(i + 1);
};
const param = (q: string, name: string) => {
  const m = new RegExp(`(?:^|&)${name}=([^&]*)`).exec(q);
  return m ? decodeURIComponent(m[1]!) : undefined;
};

app.get('/health', async () => ({ status: 'ok' }));

app.get('/bench/:table/:id', async (request, reply) => {
  const table = tableOf(request.params);
  if (!table) return reply.code(404).send({ statusCode: 404 });
  const record = tables.get(table)!.get((request.params as { id: string }).id);
  if (record === undefined) return reply.code(404).send({ statusCode: 404 });
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(record));
});

app.get('/bench/:table', async (request, reply) => {
  const table = tableOf(request.params);
  if (!table) return reply.code(404).send({ statusCode: 404 });
  const q = rawQuery(request.url);
  if (param(q, 'stream') === 'sse' || String(request.headers.accept ?? '').includes('text/event-stream')) return openStream(table, q, request.headers['last-event-id'], reply);
  const category = param(q, 'category');
  const limit = Number(/limit\((\d+)\)/.exec(q)?.[1] ?? 100);
  const db = tables.get(table)!;
  const out: Rec[] = [];
  if (category !== undefined) {
    for (const key of categoryIndex.getValues(category)) {
      const record = db.get(key);
      if (record !== undefined) out.push(record);
      if (out.length >= limit) break;
    }
  } else {
    for (const { value } of db.getRange({ limit })) out.push(value);
  }
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(out));
});

app.post('/bench/:table', async (request, reply) => {
  const table = tableOf(request.params);
  if (!table) return reply.code(404).send({ statusCode: 404 });
  const body = request.body as Rec;
  const key = typeof body.id === 'string' ? body.id : randomUUID();
  const record = { ...body, id: key };
  await write(table, key, record);
  return reply.code(201).header('location', `/bench/${table}/${key}`).send(record);
});

app.put('/bench/:table/:id', async (request, reply) => {
  const table = tableOf(request.params);
  if (!table) return reply.code(404).send({ statusCode: 404 });
  const key = (request.params as { id: string }).id;
  const record = { ...(request.body as Rec), id: key };
  await write(table, key, record);
  return reply.send(record);
});

app.delete('/bench/:table', async (request, reply) => {
  const table = tableOf(request.params);
  const category = param(rawQuery(request.url), 'category');
  if (!table || category === undefined) return reply.code(400).send({ statusCode: 400 });
  const db = tables.get(table)!;
  const removed = await root.transaction(() => {
    const keys = [...categoryIndex.getValues(category)];
    const out: Change[] = [];
    for (const key of keys) {
      const seq = (meta.get('seq') ?? 0) + 1;
      const entry: Change = { seq, time: Date.now(), table, op: 'delete', key };
      meta.put('seq', seq);
      changes.put(seq, entry);
      db.remove(key);
      categoryIndex.remove(category, key);
      out.push(entry);
    }
    return out;
  });
  for (const c of removed) publish(c);
  return { deleted: removed.length };
});

function openStream(table: string, q: string, lastEventIdHeader: string | string[] | undefined, reply: import('fastify').FastifyReply): void {
  const raw = (Array.isArray(lastEventIdHeader) ? lastEventIdHeader[0] : lastEventIdHeader) ?? param(q, 'lastEventId');
  const after = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    // HTTP/2 forbids connection-specific headers.
    ...(reply.request.raw.httpVersionMajor === 2 ? {} : { connection: 'keep-alive' }),
  });
  const head = meta.get('seq') ?? 0;
  res.write(`retry: 3000\n\nevent: message\nid: ${head}\ndata: {"type":"connected","status":"ok"}\n\n`);
  if (after !== undefined) {
    // Replay synchronously, then join live in the same tick: nothing is missed or sent twice.
    let chunk: string[] = [];
    for (const { value } of changes.getRange({ start: after, exclusiveStart: true })) {
      if (value.table !== table) continue;
      chunk.push(frameOf(value));
      if (chunk.length === 500) {
        res.write(chunk.join(''));
        chunk = [];
      }
    }
    if (chunk.length) res.write(chunk.join(''));
  }
  const set = subscribers.get(table)!;
  set.add(res);
  res.on('close', () => set.delete(res));
}

app.addHook('preClose', async () => {
  for (const set of subscribers.values()) for (const res of set) res.destroy();
});

await app.listen({ port: Number(values.port), host: values.host });
const address = app.server.address();
process.stdout.write(`reference listening on ${tls ? 'https' : 'http'}://${values.host}:${typeof address === 'object' && address ? address.port : values.port}\n`);

let stopping = false;
const stop = () => {
  if (stopping) process.exit(1);
  stopping = true;
  app
    .close()
    .then(() => root.close())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
