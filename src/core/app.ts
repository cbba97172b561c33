/**
 * The table engine without HTTP: the compiled schema, the open store, one service per table and
 * the background jobs (expiry). `createServer` puts the web front ends on top of it.
 */
import type { SchemaModel, TableDef } from '../schema/model.ts';
import { createHub, type Hub } from '../realtime/hub.ts';
import { soloPeers, type Peers } from '../peers/peers.ts';
import { createStore, type Store } from '../store/store.ts';
import { createPolicy, type Policy, type Principal } from '../auth/policy.ts';
import type { Filter } from '../query/types.ts';
import type { HubEvent } from '../realtime/events.ts';
import { createStreamRegistry, type StreamLimits, type StreamRegistry, type Transport } from '../realtime/streams.ts';
import type { Key } from '../schema/model.ts';
import { iterateSubscription } from './subscription-iterator.ts';
import { createSubscriptions, type Subscriptions } from './subscriptions.ts';
import type { IntentWriter, LogState } from './intents.ts';
import { createTableService, type QueryLimits, type TableService } from './table-service.ts';

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
  /** Bounds of every read (`maxQueryTerms`, `maxSortRecords`; defaults 100 and 100,000). */
  queryLimits?: QueryLimits;
  /** Subscriber limits and heartbeat, for every transport (defaults: 20,000 / 1,000 per address / 15 s). */
  streams?: Partial<StreamLimits>;
  /** Live events an iterator subscription may have waiting before it is ended as slow (1,000). */
  maxQueue?: number;
  /** Retained reads that may hold an LMDB snapshot at once (512; see core/retained.ts). */
  maxPinnedReads?: number;
  /** The server's other processes (`--workers`); default: none. */
  peers?: Peers;
  /**
   * Where table writes go instead of local transactions: a cluster node's log (SPEC §10). Expiry
   * sweeps then send each due record's delete there too, named so that nodes finding the same
   * deadline store it once.
   */
  intents?: IntentWriter;
}

/** Options of {@link App.subscribe}. */
export interface SubscribeOptions {
  key?: Key;
  filter?: Filter;
  /** Who subscribes: the role's read permission and row filter apply; absent: trusted. */
  principal?: Principal;
  /** Resume after this cursor (`lastEventId`); malformed: BAD_REQUEST; no longer in the log: CURSOR_EXPIRED. */
  lastEventId?: unknown;
  /** The client address the per-address limit counts against (default `local`). */
  address?: string;
  /** How it is shown in `/admin/connections` and metrics (default `api`). */
  transport?: Transport;
}

/** The change log and the hub as operators see them; each value is read when asked for. */
export interface FeedState {
  /** Last change sequence number committed. */
  readonly head: number;
  /** Change-log entries retained (counted in LMDB on each read). */
  readonly entries: number;
  /** Entries pruned up to this sequence (0: none). */
  readonly prunedThrough: number;
  /** Last sequence the hub dispatched to subscribers. */
  readonly dispatched: number;
  /** Events handed to live subscribers since start. */
  readonly delivered: number;
  /** Live subscribers (SSE streams, GraphQL subscriptions, `subscribe()`), all or of one table id. */
  subscribers(table?: string): number;
}

export interface App {
  readonly model: SchemaModel;
  readonly store: Store;
  /** The change feed: every committed change, fanned out to subscribers. */
  readonly hub: Hub;
  readonly policy: Policy;
  /** The server's other processes (soloPeers() when there are none). */
  readonly peers: Peers;
  /** Every open subscriber of every transport: limits, counts, heartbeats, shutdown. */
  readonly streams: StreamRegistry;
  /** The one subscription path (SSE streams, GraphQL subscriptions, `subscribe()`). */
  readonly subscriptions: Subscriptions;
  /** Every table's service, by `database/table`. */
  readonly services: ReadonlyMap<string, TableService>;
  /** Exported tables by `database` then export name (the URL path). */
  exported(database: string, name: string): TableService | undefined;
  /** The databases that have at least one exported table. */
  databases(): string[];
  /** The change feed's state, for metrics and `/admin/connections` (the HTTP layer reads the store and hub only through here). */
  feed(): FeedState;
  /**
   * The changes of a table (optionally one record, optionally filtered) as an async iterable,
   * resuming after `lastEventId` when given. Counts against the stream limits like any stream.
   */
  subscribe(service: TableService, options?: SubscribeOptions): AsyncIterableIterator<HubEvent>;
  /** A cluster node's log: connection, applied sequence, lag (undefined on a single server). */
  cluster(): LogState | undefined;
  /** Sweeps expired records now (also runs on a timer). */
  sweepExpired(): Promise<number>;
  /** Ends every open subscriber and refuses new ones (shutdown: streams close, iterators complete). */
  endSubscriptions(): void;
  close(): Promise<void>;
}

/**
 * Opens the store for a compiled schema and starts the expiry sweeper.
 * @example const app = createApp({ model: await loadSchemaDir('./schemas'), dataDir: './data' })
 */
export function createApp(options: AppOptions): App {
  const peers = options.peers ?? soloPeers();
  const store = createStore({
    dataDir: options.dataDir,
    tables: options.model.tables,
    shared: peers.clustered,
    ...(options.durability ? { durability: options.durability } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const hub = createHub(store, {
    retention: options.retention ?? 86_400_000,
    isBackground: () => peers.background,
    ...(peers.clustered ? { otherHolds: () => otherHolds(peers), onActive: (active: boolean) => peers.set(LISTENING, 'hub', active ? 1 : undefined), pollInterval: WAKE_POLL_MS } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });
  if (peers.clustered) shareCommits(store, hub, peers);
  const policy = options.policy ?? createPolicy(undefined, options.model.tables);
  const services = new Map<string, TableService>();
  const byPath = new Map<string, TableService>();
  for (const def of options.model.tables) {
    const service = createTableService(store, def, policy, options.queryLimits, options.intents);
    services.set(`${def.database}/${def.table}`, service);
    if (def.export) byPath.set(`${def.database}/${def.export.name}`, service);
  }

  const streams = createStreamRegistry({ maxStreams: 20_000, maxStreamsPerAddress: 1000, pingInterval: 15_000, ...options.streams }, options.now, peers);
  const subscriptions = createSubscriptions({
    store,
    hub,
    registry: streams,
    ...(options.maxPinnedReads ? { maxPinnedReads: options.maxPinnedReads } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });
  const maxQueue = options.maxQueue ?? 1000;
  let sweeping: Promise<number> | undefined;
  const sweepExpired = (): Promise<number> => {
    // One sweep at a time: a slow sweep must not pile up timers' work behind it.
    sweeping ??= (options.intents ? sweepThrough(options.intents, store) : store.sweepExpired()).finally(() => (sweeping = undefined));
    return sweeping;
  };
  const hasExpiry = options.model.tables.some((t: TableDef) => t.expiration !== undefined);
  const timer = hasExpiry
    ? setInterval(() => {
        // One process of a server sweeps (peers/): the others would find the same records and contend for the writer lock.
        if (!peers.background) return;
        sweepExpired().catch((err) => options.onError?.(err, 'expiry sweep'));
      }, options.expirySweepInterval ?? 1000)
    : undefined;
  timer?.unref();

  return {
    model: options.model,
    store,
    hub,
    policy,
    peers,
    services,
    exported: (database, name) => byPath.get(`${database}/${name}`),
    databases: () => [...new Set(options.model.tables.filter((t) => t.export).map((t) => t.database))],
    // Getters: each number is read when asked for, so a gauge that wants the head does not also
    // count the retained log (`size()` counts entries in LMDB).
    feed: () => ({
      get head() {
        return store.changeLog.head();
      },
      get entries() {
        return store.changeLog.size();
      },
      get prunedThrough() {
        return store.changeLog.prunedThrough();
      },
      get dispatched() {
        return hub.dispatched;
      },
      get delivered() {
        return hub.delivered;
      },
      subscribers: (table) => hub.count(table),
    }),
    sweepExpired,
    cluster: () => options.intents?.state?.(),
    streams,
    subscriptions,
    subscribe(service, options = {}) {
      const { key, filter, principal, lastEventId, address = 'local', transport = 'api' } = options;
      const prepared = subscriptions.prepare({
        service,
        address,
        transport,
        staleCursor: 'error',
        cursor: lastEventId,
        ...(key !== undefined ? { key } : {}),
        ...(filter ? { filter } : {}),
        ...(principal ? { principal } : {}),
      });
      return iterateSubscription(prepared, maxQueue);
    },
    endSubscriptions() {
      streams.closeAll();
    },
    async close() {
      streams.closeAll();
      if (timer) clearInterval(timer);
      await sweeping?.catch(() => 0);
      hub.close();
      await store.close();
    },
  };
}

/**
 * An expiry sweep through a log: each due record's delete goes there, with an id made of its table,
 * key and deadline, so the log stores it once however many nodes find it. Batch after batch until
 * nothing is due, as the local sweep does.
 */
async function sweepThrough(intents: IntentWriter, store: Store): Promise<number> {
  let swept = 0;
  for (;;) {
    const due = store.dueExpiries();
    if (due.length === 0) return swept;
    const outcomes = await Promise.all(due.map(({ table, key, at }) => intents.write({ op: 'expire', table: table.id, key, at }, `expire:${table.id}:${JSON.stringify(key)}:${at}`)));
    const deleted = outcomes.filter(Boolean).length;
    swept += deleted;
    // Every one already gone or renewed (another node's deletes, not yet applied here): wait for them.
    if (deleted === 0) return swept;
  }
}

/** The peers topic where a process says its hub has live subscribers. */
const LISTENING = 'listening';
/**
 * How often a hub with subscribers looks at the shared log head itself: the bound on a wake-up that
 * did not come, when a process committed before it learnt that another had begun to listen.
 */
const WAKE_POLL_MS = 100;

/**
 * Commits cross processes as wake-ups only (SPEC §9): the entries are in the shared log, and each
 * process's hub reads them from there in order, so ids, order and resume are the same everywhere.
 * The wake-ups of one turn's commits go out as one message, and only when another process has
 * subscribers: a write-only load sends none (each wake-up costs a message through the supervisor
 * and a log read in every process that gets it).
 */
function shareCommits(store: Store, hub: Hub, peers: Peers): void {
  let head = 0;
  let scheduled = false;
  const send = () => {
    scheduled = false;
    peers.send('commit', head);
  };
  store.onCommit((reached) => {
    if (reached > head) head = reached;
    if (peers.entries(LISTENING).size === 0) return;
    // A microtask, not the next turn: the commits of one LMDB batch resolve in the same microtask
    // drain, so they still share one message, and the message leaves without waiting for the
    // event loop to come round (cross-worker delivery measured +2.3 ms at p50 with setImmediate).
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(send);
    }
  });
  peers.on('commit', (reached) => hub.wake(reached as number));
  // IPC carries JSON: "no hold" travels as null.
  peers.answer('holds', () => {
    const lowest = hub.lowestHold();
    return Number.isFinite(lowest) ? lowest : null;
  });
}

/** The lowest sequence any process's replays hold (Infinity: none). */
async function otherHolds(peers: Peers): Promise<number> {
  let lowest = Infinity;
  for (const held of await peers.gather('holds')) if (typeof held === 'number' && held < lowest) lowest = held;
  return lowest;
}
