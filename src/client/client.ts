/**
 * The client core both entries share: credentials, URLs, JSON in and out, errors, and one handle
 * per table. It sends through a {@link Transport} (undici in Node, fetch in browsers) and knows
 * nothing of either.
 */
import { readBounded, UNEXPECTED_BODY_LIMIT } from './body.ts';
import { ClientError, errorFromResponse } from './errors.ts';
import { openSubscription } from './subscription.ts';
import type { BaseClientOptions, HttpResponse, LooseSchema, SchemaMap, SearchQuery, SubscribeOptions, TableEvent, TableTypes, Transport } from './types.ts';

/** One table's operations. */
export interface TableClient<T extends TableTypes> {
  /** The record with this key; `NOT_FOUND` when there is none. */
  get(key: T['key'], options?: CallOptions): Promise<T['record']>;
  /** Records matching a query in the REST grammar (`{ category: 'a' }`, `'price=gt=20&sort(-price)&limit(10)'`). */
  search(query?: SearchQuery, options?: CallOptions): Promise<Array<T['record']>>;
  /** Stores a new record (the key generated when absent); `CONFLICT` when the key exists. */
  create(record: T['create'], options?: CallOptions): Promise<T['record']>;
  /** Stores the whole record under `key`, created or replaced. */
  put(key: T['key'], record: T['create'], options?: CallOptions): Promise<T['record']>;
  /** Merges attributes into the record; `NOT_FOUND` when there is none. */
  patch(key: T['key'], partial: T['patch'], options?: CallOptions): Promise<T['record']>;
  /** Deletes the record; `NOT_FOUND` when there is none. */
  delete(key: T['key'], options?: CallOptions): Promise<void>;
  /** Sends `message` to the record's subscribers (nothing is stored); resolves to its cursor. */
  publish(key: T['key'], message: unknown, options?: CallOptions): Promise<{ cursor: string }>;
  /** The table's (or one record's) events; see {@link SubscribeOptions}. */
  subscribe(options?: SubscribeOptions): AsyncIterableIterator<TableEvent<T>>;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** A client; `S` is the schema map `tablecast types` generates (loose without one). */
export interface Client<S extends SchemaMap = LooseSchema> {
  table<D extends keyof S & string, N extends keyof S[D] & string>(database: D, table: N): TableClient<S[D][N]>;
  /** Logs in with a password (`POST /auth/login`): the session cookie is kept (in the browser's jar, or by the client in Node). */
  login(username: string, password: string, options?: CallOptions): Promise<{ user: string; roles: string[] }>;
  /** Logs out (`POST /auth/logout`) and forgets the session cookie. */
  logout(options?: CallOptions): Promise<void>;
  /** Ends every request and subscription and releases the connections. */
  close(): Promise<void>;
}

const SESSION = /^\s*([^=;\s]+)=([^;]*)/;

/**
 * A client over a transport; the entries (`tablecast/client`) call this.
 * @example const client = createClientWith(createFetchTransport(fetch, { jar: true, include: true }), { url: location.origin, auth: 'cookie' })
 */
export function createClientWith<S extends SchemaMap = LooseSchema>(transport: Transport, options: BaseClientOptions): Client<S> {
  const origin = options.url.replace(/\/+$/, '');
  const closing = new AbortController();
  const base = options.signal ? AbortSignal.any([closing.signal, options.signal]) : closing.signal;
  let session: string | undefined;

  const headers = async (extra: Record<string, string>): Promise<Record<string, string>> => {
    const out: Record<string, string> = { ...options.headers, ...extra };
    const auth = options.auth;
    if (auth === 'cookie') {
      if (session && !transport.cookieJar) out.cookie = session;
    } else if (auth && 'bearer' in auth) {
      out.authorization = `Bearer ${typeof auth.bearer === 'function' ? await auth.bearer() : auth.bearer}`;
    } else if (auth && 'basic' in auth) {
      out.authorization = `Basic ${base64(`${auth.basic.user}:${auth.basic.pass}`)}`;
    }
    return out;
  };

  const signalOf = (call?: AbortSignal) => (call ? AbortSignal.any([base, call]) : base);

  /** Sends a request and reads the whole answer: JSON (or nothing for 204), or a {@link ClientError}. */
  const call = async (method: string, path: string, body: unknown, opts?: CallOptions): Promise<{ res: HttpResponse; json: unknown }> => {
    const signal = signalOf(opts?.signal);
    let res: HttpResponse;
    try {
      res = await transport.send({
        method,
        url: origin + path,
        headers: await headers(body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' }),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal,
      });
    } catch (err) {
      signal.throwIfAborted();
      throw new ClientError('NETWORK_ERROR', 0, `${method} ${origin}${path} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    // An error's body is read up to a bound (a proxy's page may be any size); a success is read
    // whole, as a search may legitimately answer megabytes.
    if (res.status >= 400) throw errorFromResponse(res.status, await readBounded(res, UNEXPECTED_BODY_LIMIT));
    const text = await res.text();
    if (!text) return { res, json: undefined };
    try {
      return { res, json: JSON.parse(text) };
    } catch (err) {
      throw new ClientError('HTTP_ERROR', res.status, `${method} ${path} answered something other than JSON`, { cause: err });
    }
  };

  const table = <T extends TableTypes>(database: string, name: string): TableClient<T> => {
    const collection = `/${encodeURIComponent(database)}/${encodeURIComponent(name)}`;
    const record = (key: string | number) => `${collection}/${encodeURIComponent(String(key))}`;
    return {
      get: async (key, o) => (await call('GET', record(key), undefined, o)).json as T['record'],
      search: async (query, o) => (await call('GET', `${collection}/${queryString(query)}`, undefined, o)).json as Array<T['record']>,
      create: async (value, o) => (await call('POST', collection, value, o)).json as T['record'],
      put: async (key, value, o) => (await call('PUT', record(key), value, o)).json as T['record'],
      patch: async (key, partial, o) => (await call('PATCH', record(key), partial, o)).json as T['record'],
      delete: async (key, o) => {
        await call('DELETE', record(key), undefined, o);
      },
      publish: async (key, message, o) => {
        const { json } = await call('POST', record(key), message, o);
        return { cursor: String((json as { id?: unknown }).id) };
      },
      subscribe(sub: SubscribeOptions = {}) {
        const retained = sub.retained !== false;
        const params = [sub.filter === undefined ? '' : queryString(sub.filter).slice(1), retained ? '' : 'retained=false'].filter(Boolean).join('&');
        const path = `${sub.key === undefined ? `${collection}/` : record(sub.key)}${params ? `?${params}` : ''}`;
        return openSubscription<T>({
          retained,
          since: sub.since ?? sub.lastEventId,
          maxRetryDelay: options.maxRetryDelay ?? 30_000,
          maxEventSize: options.maxEventSize ?? 16 * 1024 * 1024,
          signal: signalOf(sub.signal),
          open: async (cursor, signal) => {
            try {
              return await transport.send({
                method: 'GET',
                url: origin + path,
                headers: await headers({ accept: 'text/event-stream', ...(cursor === undefined ? {} : { 'last-event-id': cursor }) }),
                signal,
              });
            } catch (err) {
              signal.throwIfAborted();
              throw new ClientError('NETWORK_ERROR', 0, `GET ${origin}${path} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
            }
          },
        });
      },
    };
  };

  return {
    table: (database, name) => table(database, name),
    async login(username, password, o) {
      const { res, json } = await call('POST', '/auth/login', { username, password }, o);
      const cookie = res.setCookies().find((c) => SESSION.test(c));
      if (cookie) session = SESSION.exec(cookie)!.slice(1, 3).join('=');
      return json as { user: string; roles: string[] };
    },
    async logout(o) {
      await call('POST', '/auth/logout', undefined, o);
      session = undefined;
    },
    async close() {
      closing.abort();
      await transport.close();
    },
  };
}

/** `?a=1&b=x` from an object (names and values encoded), or the string as written. */
function queryString(query: SearchQuery | undefined): string {
  if (query === undefined) return '';
  if (typeof query === 'string') return query === '' || query === '?' ? '' : `?${query.replace(/^\?/, '')}`;
  const pairs = Object.entries(query).map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`);
  return pairs.length ? `?${pairs.join('&')}` : '';
}

/** Base64 of the UTF-8 bytes (btoa alone takes Latin-1 only). */
function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}
