/**
 * `tablecast/client` for Node: requests go through an undici Agent (keep-alive connections reused
 * across calls; HTTP/2 when the server offers it over TLS, as tablecast does; `ca` to trust a
 * self-signed certificate such as the one `tablecast start` writes to `<data>/tls/`). A response
 * body is an undici stream that stops taking data from the socket while nobody reads it.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { createClientWith, type Client } from './client.ts';
import { createFetchTransport, type FetchLike } from './fetch-transport.ts';
import type { BaseClientOptions, HttpResponse, LooseSchema, SchemaMap, Transport } from './types.ts';

export { ClientError } from './errors.ts';
export type { CallOptions, Client, TableClient } from './client.ts';
export type { BaseClientOptions, ClientAuth, KeyOf, LooseSchema, LooseTable, SchemaMap, SearchQuery, SubscribeOptions, TableEvent, TableTypes } from './types.ts';

export interface ClientOptions extends BaseClientOptions {
  /** Certificate authorities to trust (PEM), e.g. the server's self-signed `cert.pem`. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Accept any certificate (development only). */
  insecure?: boolean;
  /** An undici dispatcher to send through instead of the client's own Agent. */
  dispatcher?: Dispatcher;
  /** Send with this `fetch` instead of undici. */
  fetch?: FetchLike;
}

/**
 * A client for a tablecast server.
 * @example const messages = createClient({ url: 'https://localhost:9996', ca: readFileSync('data/tls/cert.pem') }).table('realtime-demo', 'message')
 */
export function createClient<S extends SchemaMap = LooseSchema>(options: ClientOptions): Client<S> {
  // Node's fetch keeps no cookies: the client sends the session cookie of login() itself.
  if (options.fetch) return createClientWith<S>(createFetchTransport(options.fetch, { jar: false, include: false }), options);
  return createClientWith<S>(createUndiciTransport(options), options);
}

function createUndiciTransport(options: ClientOptions): Transport {
  const own = options.dispatcher
    ? undefined
    : new Agent({
        allowH2: true,
        connect: { ...(options.ca ? { ca: options.ca } : {}), ...(options.insecure ? { rejectUnauthorized: false } : {}) },
      });
  const dispatcher = options.dispatcher ?? own!;
  return {
    cookieJar: false,
    async send(req) {
      const res = await request(req.url, {
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        dispatcher,
        ...(req.body === undefined ? {} : { body: req.body }),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      const chunks = res.body[Symbol.asyncIterator]();
      const response: HttpResponse = {
        status: res.statusCode,
        header(name) {
          const value = res.headers[name.toLowerCase()];
          return Array.isArray(value) ? value.join(', ') : value;
        },
        setCookies() {
          const value = res.headers['set-cookie'];
          return value === undefined ? [] : Array.isArray(value) ? value : [value];
        },
        async read() {
          const { done, value } = await chunks.next();
          return done ? undefined : (value as Uint8Array);
        },
        text: () => res.body.text(),
        async cancel() {
          res.body.destroy();
        },
      };
      return response;
    },
    async close() {
      // Every request and stream was aborted first (Client.close): nothing is left to wait for.
      await own?.destroy().catch(() => undefined);
    },
  };
}
