/**
 * The hub: learns of commits from the store, reads the change log after the last sequence it
 * dispatched (so a merged or missed signal loses nothing), and fans each entry out in commit order
 * to the subscriptions interested in it. It also prunes the log by retention, never past a cursor a
 * replay still needs. The ordering and resume rules it keeps for clients: docs/protocol.md.
 */
import type { Record } from '../schema/model.ts';
import type { Store, TableHandle } from '../store/store.ts';
import type { ChangeEntry } from '../store/types.ts';
import { eventCache, eventTypeFor, type HubEvent, type Interest } from './events.ts';

/** The frames of one dispatch round for one table, serialised and encoded once for every stream. */
export interface SharedChunk {
  text: string;
  /** UTF-8 bytes, encoded on first use, then the same Buffer for every socket. */
  bytes(): Buffer;
  /** Events in the chunk. */
  count: number;
}

/** A live subscriber. `deliver` is called synchronously in commit order; `flush` once per round. */
export interface Subscriber extends Interest {
  /** Entries at or below this sequence were already seen (snapshot or replay). */
  after: number;
  deliver(event: HubEvent): void;
  /** Called after a dispatch round that delivered to this subscriber (to batch socket writes). */
  flush?(): void;
  /**
   * Streams that only need bytes (SSE) and see a whole table unfiltered get each round as one
   * shared chunk instead of event by event: the fan-out then costs one write per stream per round.
   */
  deliverShared?(chunk: SharedChunk): void;
}

export interface HubOptions {
  /** How long the change log is kept (ms). */
  retention: number;
  /** How often pruning runs (ms); default a tenth of retention, at most a minute. */
  pruneInterval?: number;
  now?: () => number;
  onError?: (err: unknown, context: string) => void;
  /** Whether this process prunes the log (one process of a server does: peers/). Default: always. */
  isBackground?: () => boolean;
  /** The lowest sequence other processes' replays hold (Infinity: none), asked before each prune. */
  otherHolds?: () => number | Promise<number>;
  /** Called when the hub gets its first live subscriber (true) and loses its last (false). */
  onActive?: (active: boolean) => void;
  /**
   * With other processes committing to the same log: how often (ms) a hub with subscribers looks
   * at the log head itself, in case a wake-up did not come (another process may commit before it
   * learns this one has subscribers). Default: never.
   */
  pollInterval?: number;
}

export interface Hub {
  /** Registers a live subscriber; returns the function that removes it. */
  subscribe(sub: Subscriber): () => void;
  /** The change events for `interest` after `after`, read from the log, at most `limit`. */
  replay(interest: Interest, after: number, limit: number): { events: HubEvent[]; last: number; complete: boolean };
  /** Holds pruning at `seq` while a replay from it is in flight; returns the release. */
  hold(seq: number): () => void;
  /** The lowest sequence held by this process's replays (Infinity: none). */
  lowestHold(): number;
  /** Number of live subscribers (all, or of one table). */
  count(table?: string): number;
  /**
   * Another process committed up to `head` (its wake-up, peers/): dispatch from the shared log as
   * for a commit of this process.
   */
  wake(head: number): void;
  /** Highest sequence dispatched. */
  readonly dispatched: number;
  /** Events handed to live subscribers since start (metrics). */
  readonly delivered: number;
  close(): void;
}

/** Most change-log entries dispatched in one turn of the event loop. */
const ROUND = 2000;
/** Longest a dispatch round holds the event loop before the rest waits for the next turn (ms). */
const SLICE_MS = 10;

/** A table's subscribers: plain (unfiltered, byte-only), the rest of the table, and per record. */
interface Group {
  plain: Set<Subscriber>;
  all: Set<Subscriber>;
  byKey: Map<unknown, Set<Subscriber>>;
}

/** A table's frames in one dispatch round, for its plain subscribers. */
interface Round {
  frames: string[];
  seqs: number[];
  events: HubEvent[];
}

/**
 * Creates the hub over a store.
 * @example const hub = createHub(store, { retention: 86_400_000 })
 */
export function createHub(store: Store, options: HubOptions): Hub {
  const now = options.now ?? Date.now;
  const byTable = new Map<string, Group>();
  let total = 0;
  let scheduled = false;
  const holds = new Map<symbol, number>();
  let dispatched = store.changeLog.head();
  let delivered = 0;
  // The highest head another process told of: a read that does not reach it came from a stale snapshot.
  let woken = 0;
  let closed = false;

  const handleOf = (id: string): TableHandle | undefined => store.tables.get(id);

  /**
   * The record as it stood when a publish committed, for filtered streams (a publish carries no
   * record of its own): the `state` the write stored with it. Entries written before publishes
   * carried it have none and are judged by the record as it is now (searching the log for the
   * record's next change instead would make a filtered replay quadratic in its publishes).
   */
  const publishState = (handle: TableHandle, entry: ChangeEntry): Record | undefined => {
    if (entry.state !== undefined) return entry.state ?? undefined;
    return store.get(handle, entry.key)?.record;
  };

  /**
   * Dispatches what was committed since the last round, at most {@link ROUND} entries or
   * {@link SLICE_MS} per turn of the event loop: a commit of 100,000 changes (a bulk delete), or a
   * few changes seen by thousands of filtered streams, is fanned out over many turns, in order,
   * instead of holding the loop for all of it.
   */
  const pump = () => {
    if (closed) return;
    // Nobody listening: nothing to decode. A subscriber that joins later starts after the head it
    // read itself, so skipping ahead here loses nothing.
    if (woken > dispatched) store.refresh();
    if (total === 0) {
      dispatched = store.changeLog.head();
      return;
    }
    const touched = new Set<Subscriber>();
    const rounds = new Map<Group, Round>();
    const entries = store.changeLog.readAfter(dispatched, ROUND);
    // Many filtered subscribers make each entry dear: the round also ends after a time slice.
    const started = performance.now();
    let more = entries.length === ROUND;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      dispatch(entry, touched, rounds);
      dispatched = entry.seq;
      if ((i & 63) === 63 && i < entries.length - 1 && performance.now() - started > SLICE_MS) {
        more = true;
        break;
      }
    }
    for (const [group, round] of rounds) shareRound(group, round, touched);
    for (const sub of touched) {
      try {
        sub.flush?.();
      } catch (err) {
        options.onError?.(err, 'subscriber flush');
      }
    }
    if (more) schedule();
  };

  /** Sends a table's round to its plain streams: one chunk for those that saw all of it. */
  const shareRound = (group: Group, round: Round, touched: Set<Subscriber>) => {
    const text = round.frames.join('');
    let bytes: Buffer | undefined;
    const chunk: SharedChunk = { text, bytes: () => (bytes ??= Buffer.from(text)), count: round.frames.length };
    const first = round.seqs[0]!;
    for (const sub of group.plain) {
      try {
        if (sub.after < first) {
          sub.deliverShared!(chunk);
          delivered += chunk.count;
          continue;
        }
        // Joined during this round (its snapshot already covers the start): only what follows.
        round.events.forEach((event, i) => {
          if (round.seqs[i]! > sub.after) {
            sub.deliver(event);
            delivered++;
            touched.add(sub);
          }
        });
      } catch (err) {
        options.onError?.(err, 'subscriber delivery');
      }
    }
  };

  const dispatch = (entry: ChangeEntry, touched: Set<Subscriber>, rounds: Map<Group, Round>) => {
    const subs = byTable.get(entry.table);
    if (!subs) return;
    const handle = handleOf(entry.table);
    if (!handle) return;
    const events = eventCache(handle.def, entry);
    if (subs.plain.size > 0) {
      // Unfiltered whole-table interest: the event is the entry's own op, decided once for all.
      let round = rounds.get(subs);
      if (!round) rounds.set(subs, (round = { frames: [], seqs: [], events: [] }));
      const event = events(entry.op);
      round.frames.push(event.frame());
      round.seqs.push(entry.seq);
      round.events.push(event);
    }
    let current: Record | undefined | null = null;
    const readCurrent = () => (current === null ? (current = publishState(handle, entry)) : current);
    const deliverTo = (set: Set<Subscriber> | undefined) => {
      if (!set) return;
      for (const sub of set) {
        if (entry.seq <= sub.after) continue;
        const type = eventTypeFor(sub, entry, readCurrent);
        if (!type) continue;
        try {
          sub.deliver(events(type));
          delivered++;
          touched.add(sub);
        } catch (err) {
          options.onError?.(err, 'subscriber delivery');
        }
      }
    };
    deliverTo(subs.all);
    deliverTo(subs.byKey.get(entry.key));
  };

  // Commits that resolve in the same turn share one dispatch round (and one write per stream).
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      runPump();
    });
  };
  const runPump = () => {
    try {
      pump();
    } catch (err) {
      options.onError?.(err, 'dispatch');
    }
  };
  const offCommit = store.onCommit(schedule);

  const pruneEvery = options.pruneInterval ?? Math.min(60_000, Math.max(1000, Math.floor(options.retention / 10)));
  let pruning = false;
  const isBackground = options.isBackground ?? (() => true);
  const lowestHold = () => Math.min(Infinity, ...holds.values());
  const pruneTimer = setInterval(() => {
    if (pruning || !isBackground()) return;
    pruning = true;
    // Other processes' replays hold the log too: asked right before pruning (their answer is
    // their lowest hold; a replay they start after answering begins at or after the log's oldest
    // retained entry, which is older than what this prune may remove only within the retention).
    Promise.resolve(options.otherHolds?.() ?? Infinity)
      .then((others) => {
        // Evaluated inside the prune transaction: entries after any held cursor stay.
        const keepFrom = () => {
          const lowest = Math.min(lowestHold(), others);
          return lowest === Infinity ? Infinity : lowest + 1;
        };
        return store.changeLog.prune(now() - options.retention, keepFrom);
      })
      .catch((err) => options.onError?.(err, 'change-log pruning'))
      .finally(() => (pruning = false));
  }, pruneEvery);
  pruneTimer.unref();
  const pollTimer = options.pollInterval
    ? setInterval(() => {
        if (total === 0 || closed) return;
        store.refresh();
        if (store.changeLog.head() > dispatched) schedule();
      }, options.pollInterval)
    : undefined;
  pollTimer?.unref();

  return {
    subscribe(sub) {
      let entry = byTable.get(sub.table);
      if (!entry) byTable.set(sub.table, (entry = { plain: new Set(), all: new Set(), byKey: new Map() }));
      const group = entry;
      const set = sub.key !== undefined ? (group.byKey.get(sub.key) ?? group.byKey.set(sub.key, new Set()).get(sub.key)!) : sub.deliverShared && !sub.filter ? group.plain : group.all;
      set.add(sub);
      if (total++ === 0) options.onActive?.(true);
      return () => {
        if (!set.delete(sub)) return;
        if (--total === 0) options.onActive?.(false);
        if (sub.key !== undefined && set.size === 0) group.byKey.delete(sub.key);
      };
    },
    replay(interest, after, limit) {
      const handle = handleOf(interest.table);
      const entries = store.changeLog.readAfter(after, limit);
      const events: HubEvent[] = [];
      if (handle) {
        for (const entry of entries) {
          const type = eventTypeFor(interest, entry, () => publishState(handle, entry));
          if (type) events.push(eventCache(handle.def, entry)(type));
        }
      }
      return { events, last: entries.at(-1)?.seq ?? after, complete: entries.length < limit };
    },
    lowestHold,
    hold(seq) {
      const id = Symbol('hold');
      holds.set(id, seq);
      return () => holds.delete(id);
    },
    count(table) {
      const tally = (g: Group) => {
        let n = g.all.size + g.plain.size;
        for (const s of g.byKey.values()) n += s.size;
        return n;
      };
      if (table !== undefined) {
        const g = byTable.get(table);
        return g ? tally(g) : 0;
      }
      let n = 0;
      for (const g of byTable.values()) n += tally(g);
      return n;
    },
    wake(head) {
      if (head <= woken) return;
      woken = head;
      // Dispatched now (a wake-up arrives in its own turn, never inside a round), unless a round is
      // already due: another turn's wait is latency every event from another process would pay.
      if (!scheduled) runPump();
    },
    get dispatched() {
      return dispatched;
    },
    get delivered() {
      return delivered;
    },
    close() {
      closed = true;
      offCommit();
      clearInterval(pruneTimer);
      if (pollTimer) clearInterval(pollTimer);
    },
  };
}
