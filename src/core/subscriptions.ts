/**
 * The one subscription path of every transport (SSE streams, GraphQL subscriptions, the
 * programmatic `subscribe()`): who may subscribe to what, from which cursor, within which limits,
 * and the lifecycle after that. Transports only encode what it hands them.
 *
 * `prepare` runs every check that can fail (read permission and row filter, cursor, stream limits,
 * a cursor the log no longer covers) before anything opens, so a refusal is an ordinary error
 * response. `start` then registers the subscriber (limits, `/admin/connections`, metrics, shutdown),
 * arms the credential's expiry, and runs: retained data (read in chunks from one snapshot, with the
 * change-log head of that snapshot), then a replay of the log from the cursor in chunks paced by the
 * consumer with a turn of the event loop between them, then the live feed, joined in the same
 * synchronous step as the last replayed read, so nothing falls between replay and live and nothing
 * is sent twice. Pruning is held at the cursor until then.
 *
 * Mercure has one subscriber type with one replay-then-live path; this is that, with the pacing
 * and the admission limits moved below the transports so a rule added here holds on all of them.
 */
import type { Principal } from '../auth/policy.ts';
import { allOf } from '../query/evaluate.ts';
import type { Filter, Query } from '../query/types.ts';
import type { HubEvent, Interest } from '../realtime/events.ts';
import type { Hub, Subscriber } from '../realtime/hub.ts';
import type { CloseReason, StreamWriter } from '../realtime/stream-writer.ts';
import type { OpenStream, StreamRegistry, Transport } from '../realtime/streams.ts';
import type { Key, Record } from '../schema/model.ts';
import type { Store } from '../store/store.ts';
import { parseCursor, staleCursorError } from './cursor.ts';
import { createPins, openRetained } from './retained.ts';
import type { TableService } from './table-service.ts';

export interface SubscriptionRequest {
  service: TableService;
  /** One record's changes only. */
  key?: Key;
  /** The subscriber's own filter (the role's row filter is added here). */
  filter?: Filter;
  /** Who asks; absent: trusted code in this process. */
  principal?: Principal;
  /** Resume after this cursor (raw: header, argument or number); absent: from now. */
  cursor?: unknown;
  /** Client address, for the per-address limit (`local` for code in this process). */
  address: string;
  transport: Transport;
  /** Without a cursor, send the current records first (SSE's retained data), honouring `limit`. */
  retained?: { limit?: Query['limit'] } | false;
  /**
   * A cursor the log no longer covers (pruned, or ahead of it): `reset` starts over from the
   * current records (SSE's `event: reset`); `error` refuses with CURSOR_EXPIRED (iterators).
   */
  staleCursor: 'reset' | 'error';
}

/** How a subscription begins, told to the transport before anything else. */
export interface Start {
  /** `live`: from now; `resume`: replaying after the cursor; `reset`: the cursor is stale, starting over. */
  kind: 'live' | 'resume' | 'reset';
  /** The cursor of the retained data and of the subscription's start (the change-log head read). */
  head: number;
  /** `reset` only: `expired` (pruned) or `unknown` (ahead of the log). */
  reason?: 'expired' | 'unknown';
}

/** What a transport implements to receive a subscription. */
export interface SubscriptionSink {
  /** First call, once the start is known. */
  begin(start: Start): void;
  /** A chunk of retained data (current records), all read at `start.head`. */
  records(records: readonly Record[], head: number): void;
  /** A chunk of replayed events, in order. */
  events(events: readonly HubEvent[]): void;
  /** Resolves when the consumer has taken what it was given (socket drained, queue consumed). */
  ready(): Promise<void>;
  /** Live delivery, from the hub (synchronous, in commit order). */
  live: Pick<Subscriber, 'deliver' | 'flush' | 'deliverShared'>;
  /** The server ends the subscription (shutdown, expired credential, failure): end the transport. */
  end(reason: CloseReason): void;
  /** Events waiting (iterators without a byte writer), for metrics. */
  queued?(): number;
  /**
   * Change-log entries to read per replay step (default 500). A consumer that handles events
   * slowly asks for fewer: what waits for it survives young-generation GCs and is promoted, so a
   * large step grew the heap of a GraphQL replay by ~80 MiB before a major GC reclaimed it.
   */
  readonly step?: number;
}

export interface ActiveSubscription {
  /** Called by the transport once it has ended (client left, cut as slow, after `end`). */
  close(reason: CloseReason, dropped?: number): void;
  readonly closed: boolean;
}

export interface PreparedSubscription {
  readonly interest: Interest;
  readonly cursor: number | undefined;
  /** Registers the subscriber and starts delivering; `writer`: byte streams get heartbeats. */
  start(sink: SubscriptionSink, options?: { writer?: StreamWriter }): ActiveSubscription;
}

export interface SubscriptionsOptions {
  store: Store;
  hub: Hub;
  registry: StreamRegistry;
  now?: () => number;
  onError?: (err: unknown, context: string) => void;
  /**
   * Retained reads that may hold an LMDB snapshot (a reader slot) at once (default 512, a quarter
   * of the store's reader slots); the rest read without one. See core/retained.ts.
   */
  maxPinnedReads?: number;
}

export interface Subscriptions {
  /** Every check that can refuse; throws the refusal. Nothing is held or registered yet. */
  prepare(request: SubscriptionRequest): PreparedSubscription;
  /** Retained reads holding an LMDB snapshot right now. */
  readonly pinnedReads: number;
  /** Retained reads that found every snapshot taken and read without one, since start. */
  readonly unpinnedReads: number;
}

/** Change-log entries read per replay chunk (and records per retained chunk). */
const CHUNK = 500;
/** setTimeout fires at once for delays past 2^31-1 ms (about 24.8 days). */
const MAX_TIMER = 2 ** 31 - 1;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Creates the subscription path over the store, the hub and the subscriber registry.
 * @example const s = createSubscriptions({ store, hub, registry }); s.prepare({ service, address, transport: 'api', staleCursor: 'error' }).start(sink)
 */
export function createSubscriptions(options: SubscriptionsOptions): Subscriptions {
  const { store, hub, registry } = options;
  const now = options.now ?? Date.now;
  const log = store.changeLog;
  const pins = createPins(options.maxPinnedReads ?? 512);

  return {
    get pinnedReads() {
      return pins.held;
    },
    get unpinnedReads() {
      return pins.refused;
    },
    prepare(request) {
      const { service, key, principal } = request;
      // 401/403 first: a caller who may not read learns nothing else, not even about its cursor.
      const roleFilter = service.readFilter(principal);
      const cursor = parseCursor(request.cursor);
      registry.admit(request.address);
      const filter = allOf(request.filter, roleFilter);
      const interest: Interest = { table: service.handle.id, ...(key !== undefined ? { key } : {}), ...(filter ? { filter } : {}) };
      let stale: 'expired' | 'unknown' | undefined;
      if (cursor !== undefined) {
        const head = log.head();
        if (cursor > head) stale = 'unknown';
        else if (cursor < log.prunedThrough()) stale = 'expired';
        if (stale && request.staleCursor === 'error') throw staleCursorError(cursor, stale, head);
      }
      return {
        interest,
        cursor,
        start(sink, startOptions = {}) {
          return run(request, interest, cursor, stale, sink, startOptions.writer);
        },
      };
    },
  };

  function run(
    request: SubscriptionRequest,
    interest: Interest,
    cursor: number | undefined,
    stale: 'expired' | 'unknown' | undefined,
    sink: SubscriptionSink,
    writer?: StreamWriter,
  ): ActiveSubscription {
    let closed = false;
    let unsubscribe: (() => void) | undefined;
    // Held from the first read: pruning must not pass what the replay still has to read. A
    // pruning that ran between `prepare` and here is caught by the check below.
    let release: (() => void) | undefined = hub.hold(cursor ?? log.head());
    const stream: OpenStream = {
      address: request.address,
      table: interest.table,
      transport: request.transport,
      end: (reason) => sink.end(reason),
      ...(writer ? { writer } : {}),
      ...(sink.queued ? { queued: sink.queued } : {}),
      ...(request.principal?.lapsed ? { lapsed: request.principal.lapsed } : {}),
    };
    registry.add(stream);
    // A subscription lives no longer than the credential that opened it, whatever its transport.
    const expiresAt = request.principal?.expiresAt;
    const expiry = expiresAt === undefined ? undefined : setTimeout(() => sink.end('expired'), Math.min(MAX_TIMER, Math.max(0, expiresAt - now())));
    expiry?.unref();

    const active: ActiveSubscription = {
      close(reason, dropped = 0) {
        if (closed) return;
        closed = true;
        if (expiry) clearTimeout(expiry);
        unsubscribe?.();
        release?.();
        unsubscribe = release = undefined;
        registry.remove(stream, reason, dropped);
      },
      get closed() {
        return closed;
      },
    };

    const goLive = (after: number) => {
      unsubscribe = hub.subscribe({ ...interest, after, ...sink.live });
      release?.();
      release = undefined;
    };

    const main = async () => {
      let at: number;
      if (cursor !== undefined && !stale && cursor >= log.prunedThrough()) {
        sink.begin({ kind: 'resume', head: cursor });
        at = cursor;
      } else {
        const reason = stale ?? (cursor !== undefined ? 'expired' : undefined);
        at = await sendRetained(
          request,
          interest,
          reason,
          sink,
          () => closed,
          (head) => {
            // Hold at the snapshot's head before the cursor's hold goes: the replay starts there.
            // (Not once closed: close() has released already, and nothing would release this one.)
            if (closed) return;
            const previous = release;
            release = hub.hold(head);
            previous?.();
          },
        );
      }
      // Replay from `at`, a chunk at a time; the last read and joining the hub share one step.
      // Nothing after `at` in the log (a new stream, a client that was up to date): live at once,
      // without a range read (it made opening a stream ~0.3 ms dearer).
      if (!closed && at >= log.head()) {
        goLive(at);
        return;
      }
      while (!closed) {
        const { events, last, complete } = hub.replay(interest, at, sink.step ?? CHUNK);
        if (events.length > 0) sink.events(events);
        at = last;
        if (complete) {
          goLive(at);
          return;
        }
        await sink.ready();
        await nextTurn();
      }
    };
    // Started a microtask later, so the transport holds the handle before anything reaches it.
    Promise.resolve()
      .then(main)
      .catch((err: unknown) => {
        if (closed) return;
        options.onError?.(err, `${request.transport} subscription`);
        sink.end('error');
      });
    return active;
  }

  /** Sends the start and the retained data; resolves to the cursor they were read at. */
  async function sendRetained(
    request: SubscriptionRequest,
    interest: Interest,
    reason: 'expired' | 'unknown' | undefined,
    sink: SubscriptionSink,
    isClosed: () => boolean,
    holdAt: (head: number) => void,
  ): Promise<number> {
    const reader = request.retained ? openRetained(store, request.service, interest, request.retained.limit, pins) : undefined;
    const head = reader ? reader.head : log.head();
    holdAt(head);
    sink.begin(reason ? { kind: 'reset', head, reason } : { kind: 'live', head });
    if (!reader) return head;
    try {
      while (!isClosed()) {
        const records = await reader.next();
        if (!records) break;
        if (records.length > 0) sink.records(records, head);
        await sink.ready();
      }
    } finally {
      reader.close();
    }
    return head;
  }
}
