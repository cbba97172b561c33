/**
 * The client's public types: options, the transport both entries implement, the events a
 * subscription yields, and the schema map that `tablecast types` generates so that
 * `createClient<Schema>(…).table(db, table)` is typed per table.
 */

/** One table's types in a schema map (`tablecast types` writes these). */
export interface TableTypes {
  /** A stored record. */
  record: object;
  /** What `create` takes (the key optional when the server generates it). */
  create: object;
  /** What `patch` takes. */
  patch: object;
  /** The primary key's value. */
  key: string | number;
  /** The primary key attribute's name. */
  keyField: string;
}

/** Databases → tables → their types. */
export type SchemaMap = { [database: string]: { [table: string]: TableTypes } };

/** The types of a table when the client is not given a schema: any attributes. */
export interface LooseTable {
  record: { [attribute: string]: unknown };
  create: { [attribute: string]: unknown };
  patch: { [attribute: string]: unknown };
  key: string | number;
  keyField: string;
}

/** The schema of a client created without one: every name is accepted, every record is loose. */
export type LooseSchema = { [database: string]: { [table: string]: LooseTable } };

/** `{ id: 'msg-1' }`: the key of a deleted record, or of a published message's record. */
export type KeyOf<T extends TableTypes> = { [F in T['keyField']]: T['key'] };

/**
 * What a subscription yields. `cursor` is the event's SSE id (the change sequence number). A
 * `reset` says: forget what this subscription gave you; the current records (`retained`) follow.
 */
export type TableEvent<T extends TableTypes = LooseTable> =
  | { type: 'retained'; cursor: string; record: T['record'] }
  | { type: 'update'; cursor: string; record: T['record'] }
  | { type: 'delete'; cursor: string; key: KeyOf<T> }
  | { type: 'publish'; cursor: string; key: KeyOf<T>; message: unknown }
  | { type: 'reset'; cursor: string; reason: string };

/** Credentials: a bearer token (or a function giving the current one), HTTP Basic, or the session cookie of `login()`. */
export type ClientAuth = { bearer: string | (() => string | Promise<string>) } | { basic: { user: string; pass: string } } | 'cookie';

/** Options of both entries. */
export interface BaseClientOptions {
  /** The server's origin, e.g. `https://localhost:9996`. */
  url: string;
  auth?: ClientAuth;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Aborts every request and subscription of this client. */
  signal?: AbortSignal;
  /** Longest wait between reconnection attempts of a subscription, ms (30000). */
  maxRetryDelay?: number;
  /** Largest stream event accepted, in characters (16 MiB). */
  maxEventSize?: number;
}

/** Search parameters: `{ category: 'books' }` is `category=books`; a string is sent as written. */
export type SearchQuery = string | { [attribute: string]: string | number | boolean };

/** What `subscribe` takes. */
export interface SubscribeOptions {
  /** One record's stream; otherwise the table's. */
  key?: string | number;
  /** A query in the REST grammar (`category=sw=a`, or as an object) for a collection stream. */
  filter?: SearchQuery;
  /** Resume after this cursor (an event's `cursor`): no retained records, every change since. */
  since?: string;
  /** Same as `since` (the SSE name). */
  lastEventId?: string;
  /** Send the current records first (true, the server's default) unless resuming. */
  retained?: boolean;
  signal?: AbortSignal;
}

/** An HTTP request as the client core makes it. */
export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** An answer whose body is read only when asked: `read()` pulls the next chunk (undefined at the end). */
export interface HttpResponse {
  status: number;
  header(name: string): string | undefined;
  /** Cookies the answer set (Node; browsers keep them in their own jar). */
  setCookies(): string[];
  read(): Promise<Uint8Array | undefined>;
  text(): Promise<string>;
  /** Stops reading and releases the connection. */
  cancel(): Promise<void>;
}

/** How an entry sends requests: undici in Node, fetch in browsers. */
export interface Transport {
  send(request: HttpRequest): Promise<HttpResponse>;
  /** Whether the session cookie is kept by the platform (browsers) rather than by the client. */
  readonly cookieJar: boolean;
  close(): Promise<void>;
}
