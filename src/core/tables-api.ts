/**
 * The programmatic table API (`server.tables.<database>.<name>`): the same services REST and
 * GraphQL use, so writes here validate the same way and produce the same events, for trusted code
 * running inside the server process (no permission checks).
 */
import type { Principal } from '../auth/policy.ts';
import { AppError } from '../errors.ts';
import type { HubEvent } from '../realtime/events.ts';
import type { Query } from '../query/types.ts';
import type { Key, Record } from '../schema/model.ts';
import type { App } from './app.ts';
import type { TableService } from './table-service.ts';

/** CRUD and events for one table; `T` is the record type you expect (not checked at compile time). */
export interface TableApi<T extends Record = Record> {
  readonly service: TableService;
  /** The record, or `undefined`. */
  get(id: Key | string): T | undefined;
  /**
   * Records matching a query string in the REST grammar (`"category=tools&limit(10)"`), or all;
   * read in chunks that give the event loop back in between (`service.openSearch` reads chunk by chunk).
   */
  search(query?: string | Query): Promise<unknown[]>;
  create(record: Partial<T>): Promise<T>;
  /** Creates or replaces the record at `id`. */
  put(id: Key | string, record: Partial<T>): Promise<T>;
  patch(id: Key | string, changes: Partial<T>): Promise<T>;
  /** Resolves to false when there was no such record. */
  delete(id: Key | string): Promise<boolean>;
  /** Sends a custom message to the record's subscribers; resolves to its change sequence number. */
  publish(id: Key | string, message: unknown): Promise<number>;
  /**
   * The table's changes (one record with `id`, filtered with `query`, resumed after `lastEventId`),
   * through the same subscription path as SSE and GraphQL: it counts against the stream limits
   * (per `address`, default `local`), shows in `/admin/connections`, ends when the consumer falls
   * behind (SLOW_CONSUMER) and, with a `principal`, when its credential expires. A malformed
   * `lastEventId` throws BAD_REQUEST; one the log no longer holds, CURSOR_EXPIRED.
   */
  subscribe(options?: { id?: Key | string; query?: string; lastEventId?: number | string; address?: string; principal?: Principal }): AsyncIterableIterator<HubEvent>;
}

export type TablesApi = { [database: string]: { [name: string]: TableApi } };

/**
 * Builds `tables.<database>.<name>` (export name for exported tables, table name otherwise).
 * @example await buildTablesApi(app)['realtime-demo'].message.create({ title: 'Hi', content: 'there' })
 */
export function buildTablesApi(app: App): TablesApi {
  const api: TablesApi = {};
  for (const service of app.services.values()) {
    const def = service.def;
    const db = (api[def.database] ??= {});
    db[def.export?.name ?? def.table] = tableApi(app, service);
  }
  return api;
}

function tableApi(app: App, service: TableService): TableApi {
  const key = (id: Key | string) => service.key(id);
  return {
    service,
    get: (id) => service.find(key(id))?.record,
    search: (query = '') => service.search(typeof query === 'string' ? service.parseQuery(query) : query),
    create: async (record) => (await service.create(record)).record,
    put: async (id, record) => (await service.put(key(id), record)).record,
    patch: async (id, changes) => (await service.patch(key(id), changes)).record,
    async delete(id) {
      try {
        await service.delete(key(id));
        return true;
      } catch (err) {
        if (err instanceof AppError && err.code === 'NOT_FOUND') return false;
        throw err;
      }
    },
    publish: (id, message) => service.publish(key(id), message),
    subscribe(options = {}) {
      const filter = options.query ? service.parseQuery(options.query).filter : undefined;
      return app.subscribe(service, {
        ...(options.id !== undefined ? { key: key(options.id) } : {}),
        ...(filter ? { filter } : {}),
        ...(options.lastEventId !== undefined ? { lastEventId: options.lastEventId } : {}),
        ...(options.address !== undefined ? { address: options.address } : {}),
        ...(options.principal ? { principal: options.principal } : {}),
      });
    },
  };
}
