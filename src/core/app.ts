/**
 * The table engine without HTTP: the compiled schema, the open store, one service per table and
 * the background jobs (expiry). `createServer` puts the web front ends on top of it.
 */
import type { SchemaModel, TableDef } from '../schema/model.ts';
import { createHub, type Hub } from '../realtime/hub.ts';
import { createStore, type Store } from '../store/store.ts';
import { createPolicy, type Policy, type Principal } from '../auth/policy.ts';
import type { Filter } from '../query/types.ts';
import type { HubEvent } from '../realtime/events.ts';
import type { Key } from '../schema/model.ts';
import { subscribeChanges, type SubscribeOptions } from './subscribe.ts';
import { createTableService, type TableService } from './table-service.ts';

export interface AppOptions {
  model: SchemaModel;
  dataDir: string;
  durability?: 'commit' | 'sync';
  /** How often expired records are swept (ms). */
  expirySweepInterval?: number;
  /** How long the change log is kept (ms); default 24 h. */
  retention?: number;
  /** Clock, so tests can move time for expiry. */
  now?: () => number;
  /** Permissions (from `config.auth`); absent: everything open. */
  policy?: Policy;
  /** Where background failures are reported. */
  onError?: (err: unknown, context: string) => void;
}

export interface App {
  readonly model: SchemaModel;
  readonly store: Store;
  /** The change feed: every committed change, fanned out to subscribers. */
  readonly hub: Hub;
  readonly policy: Policy;
  /** Every table's service, by `database/table`. */
  readonly services: ReadonlyMap<string, TableService>;
  /** Exported tables by `database` then export name (the URL path). */
  exported(database: string, name: string): TableService | undefined;
  /** The databases that have at least one exported table. */
  databases(): string[];
  /**
   * The changes of a table (optionally one record, optionally filtered) as an async iterable,
   * resuming after `after` when given.
   */
  subscribe(service: TableService, options?: { key?: Key; filter?: Filter; principal?: Principal } & SubscribeOptions): AsyncIterableIterator<HubEvent>;
  /** Sweeps expired records now (also runs on a timer). */
  sweepExpired(): Promise<number>;
  /** Completes every open subscription (shutdown: GraphQL clients get `complete`). */
  endSubscriptions(): void;
  close(): Promise<void>;
}

/**
 * Opens the store for a compiled schema and starts the expiry sweeper.
 * @example const app = createApp({ model: await loadSchemaDir('./schemas'), dataDir: './data' })
 */
export function createApp(options: AppOptions): App {
  const store = createStore({
    dataDir: options.dataDir,
    tables: options.model.tables,
    ...(options.durability ? { durability: options.durability } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const hub = createHub(store, {
    retention: options.retention ?? 86_400_000,
    ...(options.now ? { now: options.now } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });
  const policy = options.policy ?? createPolicy(undefined, options.model.tables);
  const services = new Map<string, TableService>();
  const byPath = new Map<string, TableService>();
  for (const def of options.model.tables) {
    const service = createTableService(store, def, policy);
    services.set(`${def.database}/${def.table}`, service);
    if (def.export) byPath.set(`${def.database}/${def.export.name}`, service);
  }

  const openSubscriptions = new Set<() => void>();
  let sweeping: Promise<number> | undefined;
  const sweepExpired = (): Promise<number> => {
    // One sweep at a time: a slow sweep must not pile up timers' work behind it.
    sweeping ??= store.sweepExpired().finally(() => (sweeping = undefined));
    return sweeping;
  };
  const hasExpiry = options.model.tables.some((t: TableDef) => t.expiration !== undefined);
  const timer = hasExpiry
    ? setInterval(() => {
        sweepExpired().catch((err) => options.onError?.(err, 'expiry sweep'));
      }, options.expirySweepInterval ?? 1000)
    : undefined;
  timer?.unref();

  return {
    model: options.model,
    store,
    hub,
    policy,
    services,
    exported: (database, name) => byPath.get(`${database}/${name}`),
    databases: () => [...new Set(options.model.tables.filter((t) => t.export).map((t) => t.database))],
    sweepExpired,
    subscribe(service, options = {}) {
      const { key, filter: asked, principal, ...rest } = options;
      // A role's read filter narrows every event, live and replayed (enter/leave included).
      const roleFilter = service.readFilter(principal);
      const filter = asked && roleFilter ? ({ type: 'and', items: [asked, roleFilter] } as Filter) : (asked ?? roleFilter);
      const interest = { table: service.handle.id, ...(key !== undefined ? { key } : {}), ...(filter ? { filter } : {}) };
      return subscribeChanges(store, hub, interest, { ...rest, open: openSubscriptions });
    },
    endSubscriptions() {
      for (const end of [...openSubscriptions]) end();
    },
    async close() {
      for (const end of [...openSubscriptions]) end();
      if (timer) clearInterval(timer);
      await sweeping?.catch(() => 0);
      hub.close();
      await store.close();
    },
  };
}
