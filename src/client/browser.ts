/**
 * `tablecast/client` for browsers (and any runtime with `fetch` and web streams): the entry package
 * conditions pick when not in Node. Same API as the Node entry, without the `ca` option.
 */
import { createClientWith, type Client } from './client.ts';
import { createFetchTransport, type FetchLike } from './fetch-transport.ts';
import type { BaseClientOptions, LooseSchema, SchemaMap } from './types.ts';

export { ClientError } from './errors.ts';
export type { CallOptions, Client, TableClient } from './client.ts';
export type { BaseClientOptions, ClientAuth, KeyOf, LooseSchema, LooseTable, SchemaMap, SearchQuery, SubscribeOptions, TableEvent, TableTypes } from './types.ts';

export interface ClientOptions extends BaseClientOptions {
  /** A `fetch` to send with (the global one by default). */
  fetch?: FetchLike;
}

/**
 * A client for a tablecast server; with `auth: 'cookie'` requests carry the browser's cookies.
 * @example const chat = createClient<Schema>({ url: location.origin, auth: 'cookie' }).table('realtime-demo', 'message')
 */
export function createClient<S extends SchemaMap = LooseSchema>(options: ClientOptions): Client<S> {
  const fetchFn = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  return createClientWith<S>(createFetchTransport(fetchFn, { jar: true, include: options.auth === 'cookie' }), options);
}
