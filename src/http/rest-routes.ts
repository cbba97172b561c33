/**
 * The REST routes (README › REST), generated for every exported table with `rest: true`. Handlers only
 * translate HTTP to table-service calls and back; all rules live in core.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';
import { project } from '../query/evaluate.ts';
import type { Precondition, SnapshotCursor, TableService } from '../core/table-service.ts';
import type { Key } from '../schema/model.ts';
import { opensStream } from './stream-request.ts';

const COLLECTION_METHODS = ['GET', 'HEAD', 'POST', 'DELETE'] as const;
const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** The raw query string of a request (undecoded), or ''. */
export function rawQuery(request: FastifyRequest): string {
  const i = request.url.indexOf('?');
  return i < 0 ? '' : request.url.slice(i + 1);
}

/** True when a GET asks for an event stream rather than JSON; a `stream=` other than `sse` is refused. */
function wantsStream(request: FastifyRequest, query: { reserved: { [name: string]: string } }): boolean {
  const stream = query.reserved.stream;
  if (request.method === 'GET' && stream !== undefined && stream !== 'sse') {
    throw new AppError('QUERY_INVALID', `stream=${stream} is not a stream type; use stream=sse`);
  }
  return opensStream(request, stream);
}

/** `If-None-Match` holds this version's ETag (or `*`)? */
function notModified(request: FastifyRequest, etag: string): boolean {
  const header = request.headers['if-none-match'];
  if (typeof header !== 'string') return false;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

/** `application/json` and any `application/*+json`, with parameters. */
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Bodies must be JSON (README). fastify also parses `text/plain` out of the box, which handed the
 * validators a string and answered a misleading 400 "must be a JSON object" instead of a 415.
 * Called first in each handler that takes a body (a `preValidation` hook cost every write one more
 * promise and hook chain).
 */
export function requireJson(request: FastifyRequest): void {
  if (request.body === undefined) return;
  const type = request.headers['content-type'];
  if (typeof type !== 'string' || !JSON_TYPE.test(type)) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `request bodies must be JSON (send Content-Type: application/json), not ${typeof type === 'string' ? type : 'an untyped body'}`);
  }
}

/**
 * `If-Match` (strong ETags only, as RFC 9110 requires for it) and `If-None-Match: *` as a
 * precondition for PUT, PATCH and DELETE. A tag that is not one of ours matches nothing.
 */
function preconditionOf(request: FastifyRequest): Precondition | undefined {
  const ifMatch = request.headers['if-match'];
  const ifNoneMatch = request.headers['if-none-match'];
  const out: Precondition = {};
  if (typeof ifMatch === 'string') {
    const tags = ifMatch.split(',').map((t) => t.trim());
    out.ifMatch = tags.includes('*')
      ? '*'
      : tags
          .map((t) => /^"(\d+)"$/.exec(t)?.[1])
          .filter((v): v is string => v !== undefined)
          .map(Number);
  }
  if (typeof ifNoneMatch === 'string' && ifNoneMatch.trim() === '*') out.ifNoneMatch = '*';
  return out.ifMatch !== undefined || out.ifNoneMatch !== undefined ? out : undefined;
}

const JSON_UTF8 = 'application/json; charset=utf-8';

/**
 * The rest of a JSON array whose first chunk is already read: each chunk is produced when the
 * response has drained the previous one (Readable.from pulls on demand), so a large answer never
 * sits in memory at once and the event loop is free between chunks.
 */
export async function* jsonArray(cursor: SnapshotCursor, first: unknown[]): AsyncGenerator<string> {
  try {
    // JSON.stringify of the chunk, brackets dropped: `undefined` (an absent selected value) is
    // `null`, exactly as serializing the whole array did. The first chunk may be empty.
    let open = first.length > 0;
    yield `[${JSON.stringify(first).slice(1, -1)}`;
    for (let chunk = await cursor.next(); chunk; chunk = await cursor.next()) {
      yield `${open ? ',' : ''}${JSON.stringify(chunk).slice(1, -1)}`;
      open = true;
    }
    yield ']';
  } finally {
    cursor.close();
  }
}

/** The routes of one record, `/:id`. */
interface RecordRoute {
  Params: { id: string };
}

/** Hooks the SSE layer supplies; REST hands a GET that asks for a stream to it. */
export type StreamHandler = (request: FastifyRequest, reply: FastifyReply, service: TableService, key: Key | undefined) => Promise<void> | void;

/**
 * Registers collection and record routes for one table.
 * @example registerRestRoutes(fastify, service, { stream })
 */
export function registerRestRoutes(fastify: FastifyInstance, service: TableService, options: { stream?: StreamHandler } = {}): void {
  const exp = service.def.export!;
  const base = `/${service.def.database}/${exp.name}`;
  const location = (key: Key) => `${base}/${encodeURIComponent(String(key))}`;
  const keyOf = (request: FastifyRequest<RecordRoute>) => service.key(request.params.id);

  const methodNotAllowed = (allowed: readonly string[]) => async () => {
    throw new AppError('METHOD_NOT_ALLOWED', `allowed methods: ${allowed.join(', ')}`, { headers: { allow: allowed.join(', ') } });
  };

  const stream = options.stream;
  /** The stream handler for this table, or a 406 when streams are off for it. */
  const streamOrRefuse = (): StreamHandler => {
    if (stream && exp.sse) return stream;
    throw new AppError('NOT_ACCEPTABLE', `event streams are switched off for /${service.def.database}/${exp.name} (@export(sse: false))`);
  };
  // A collection read is chunked (store/read.ts): an answer that fits one chunk is sent whole, as
  // before; a longer one streams its JSON array, each chunk read when the socket has drained the
  // last. Errors before the first chunk are ordinary JSON errors; after it the status is sent, so
  // a failure can only cut the connection. A client that goes away stops the read.
  const getCollection = (request: FastifyRequest, reply: FastifyReply) => {
    const query = service.parseQuery(rawQuery(request));
    if (wantsStream(request, query)) return streamOrRefuse()(request, reply, service, undefined);
    if (request.method === 'HEAD') {
      // The headers of the GET, without reading a record: the permission check and the query's
      // syntax are all they depend on (the GET of a long answer has no Content-Length either).
      service.readFilter(request.principal);
      return reply.type(JSON_UTF8).send(Readable.from([]));
    }
    // No snapshot held while the client reads: a slow client must not pin an LMDB reader slot.
    const cursor = service.openSearch(query, request.principal, { snapshot: false });
    // An answer that fits one slice is sent from this synchronous call, with no promise or turn.
    const at = cursor.first();
    if (at !== undefined && cursor.done) {
      reply.type(JSON_UTF8).send(JSON.stringify(at));
      return;
    }
    return sendLong(reply, cursor, at);
  };
  const sendLong = async (reply: FastifyReply, cursor: SnapshotCursor, at: unknown[] | undefined) => {
    const first = at ?? (await cursor.next());
    if (!first || cursor.done) return reply.type(JSON_UTF8).send(JSON.stringify(first ?? []));
    const body = Readable.from(jsonArray(cursor, first), { objectMode: true, highWaterMark: 1 });
    // Closing the cursor here too ends a read waiting between chunks at once.
    body.once('close', () => cursor.close());
    return reply.type(JSON_UTF8).send(body);
  };

  fastify.route({ method: ['GET', 'HEAD'], url: base, handler: getCollection });
  // `config.bulk`: the JSON parser counts an array body's values per record (http/json-body.ts).
  fastify.post(base, { config: { bulk: true } }, async (request, reply) => {
    requireJson(request);
    if (Array.isArray(request.body)) {
      // All or nothing, one transaction: the stored records in the array's order (README › REST).
      const created = await service.createMany(request.body, request.principal);
      reply.code(201);
      return created.map((w) => w.record);
    }
    const written = await service.create(request.body, request.principal);
    reply.code(201).header('location', location(written.key)).header('etag', `"${written.version}"`);
    return written.record;
  });
  fastify.delete(base, async (request) => {
    const deleted = await service.deleteWhere(service.parseQuery(rawQuery(request)), request.principal);
    return { deleted };
  });
  fastify.route({ method: ALL_METHODS.filter((m) => !COLLECTION_METHODS.some((c) => c === m)), url: base, handler: methodNotAllowed(COLLECTION_METHODS) });

  const record = `${base}/:id`;
  fastify.route<RecordRoute>({
    method: ['GET', 'HEAD'],
    url: record,
    handler: (request, reply) => {
      const key = keyOf(request);
      const query = service.parseQuery(rawQuery(request));
      if (wantsStream(request, query)) return streamOrRefuse()(request, reply, service, key);
      const found = service.get(key, request.principal);
      const etag = `"${found.version}"`;
      reply.header('etag', etag);
      if (notModified(request, etag)) {
        reply.code(304).send();
        return;
      }
      // select() projects the record already read (a search here scanned the whole table), and the
      // body is serialized here: fastify sends a string payload as-is, so `select(title)` went out
      // as `Hello` instead of `"Hello"`, and an absent attribute as an empty body instead of `null`.
      const body = query.select ? (project(query.select, found.record) ?? null) : found.record;
      reply.type('application/json; charset=utf-8').send(JSON.stringify(body));
    },
  });
  fastify.put<RecordRoute>(record, async (request, reply) => {
    requireJson(request);
    const written = await service.put(keyOf(request), request.body, request.principal, preconditionOf(request));
    reply.code(written.created ? 201 : 200).header('etag', `"${written.version}"`);
    if (written.created) reply.header('location', location(written.key));
    return written.record;
  });
  fastify.patch<RecordRoute>(record, async (request, reply) => {
    requireJson(request);
    const written = await service.patch(keyOf(request), request.body, request.principal, preconditionOf(request));
    reply.header('etag', `"${written.version}"`);
    return written.record;
  });
  fastify.delete<RecordRoute>(record, async (request, reply) => {
    await service.delete(keyOf(request), request.principal, preconditionOf(request));
    return reply.code(204).send();
  });
  fastify.post<RecordRoute>(record, async (request, reply) => {
    requireJson(request);
    const seq = await service.publish(keyOf(request), request.body, request.principal);
    return reply.code(202).send({ published: true, id: String(seq) });
  });
}
