/**
 * A cluster node (SPEC §10): its table writes go to the cluster's log, and it applies the whole log,
 * in order, to its own store, whichever node wrote each entry.
 *
 * - **Write.** The table service has authorized and validated the request and hands over an intent
 *   (core/intents.ts). The node appends it with the node's clock, then waits until its own applier
 *   has reached that entry, and answers with the outcome decided there: read-your-writes on the node
 *   that answered.
 * - **Apply.** Each entry is one LMDB transaction through `TableService.apply`, at the entry's
 *   sequence number and clock, recording the log position with it. So the same change has the same
 *   id on every node, and a restarted node goes on from its position. A refused intent (409, 412,
 *   404 …) changes nothing and emits nothing; its sequence number is skipped by every node alike.
 *   An entry that could not be applied for a reason of this node's own (a full disk) is tried
 *   again, from the position, rather than skipped: skipping would leave this node different.
 * - **Bulk creates** travel as a run of entries, one per record, applied in one transaction or
 *   not at all (runs.ts); a run that another entry broke is void everywhere and written again.
 * - **Other entries.** A logout is applied in memory; a password change is stored in its own
 *   transaction at the entry's position (store.setCredential), with no change entry.
 */
import { randomUUID } from 'node:crypto';
import type { CreateManyIntent, IntentWriter, LogIntent, LogState } from '../core/intents.ts';
import type { TableService } from '../core/table-service.ts';
import { AppError, type ErrorCode } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { ClusterLog, Follower, LogEntry } from './log.ts';
import { isPart, RunCollector, runEntries, type CompleteRun, type RunEnd, type RunHead } from './runs.ts';

/** What travels in the log: the intent, who sent it (to find the waiting request), and when. */
interface Envelope {
  id: string;
  /** The sending node's clock when it took the request (epoch ms): every node applies with it. */
  now: number;
  intent: LogIntent;
}

/** Failures of this node, not of the intent: the entry is applied again once they pass. */
const NODE_TROUBLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['STORAGE_FULL', 'SERVICE_UNAVAILABLE']);
/** Entries handed to LMDB and not yet committed, at most, before the follower waits. */
const MAX_INFLIGHT = 2000;

export interface ClusterNodeOptions {
  log: ClusterLog;
  store: Store;
  /** Most time a write waits for its entry to be applied here, after the log stored it (ms). */
  applyTimeout: number;
  /** Most time a bulk create goes on trying for a run no other entry breaks (ms; the cluster's timeout). */
  runTimeout: number;
  onError?: (err: unknown, context: string) => void;
}

/** What entries that are not table writes do on this node. */
export interface NodeHandlers {
  /** A logout on any node: refuse the token here too. */
  refuse(jti: string, exp: number): void;
}

export interface ClusterNode extends IntentWriter {
  /** Starts applying the log after the store's position, with these tables' services. */
  start(services: ReadonlyMap<string, TableService>, handlers: NodeHandlers): void;
  state(): LogState;
  close(): Promise<void>;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The outcome of a run that another entry broke: applied as nothing on every node; written again. */
const VOID: Outcome = { ok: false, error: new Error('the run was broken') };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Makes a node over an open log and store.
 * @example const node = createClusterNode({ log, store, applyTimeout: 30_000, runTimeout: 10_000 }); node.start(app.services)
 */
export function createClusterNode(options: ClusterNodeOptions): ClusterNode {
  const { log, store } = options;
  if (store.logPosition() === 0 && store.changeLog.head() > 0) {
    throw new AppError(
      'CONFIG_INVALID',
      `the data directory holds ${store.changeLog.head()} changes that did not come from a cluster's log: start a cluster node on an empty data directory (copy the data in through the API)`,
    );
  }
  const self = randomUUID();
  let counter = 0;
  const pending = new Map<string, (outcome: Outcome) => void>();
  const runs = new RunCollector();
  let applied = store.logPosition();
  let appliedTime = 0;
  let lagEntries = 0;
  let services: ReadonlyMap<string, TableService> = new Map();
  let handlers: NodeHandlers | undefined;
  let follower: Follower | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  /** Records that `entry` is applied (in log order) and answers the request that waits for it, if here. */
  const settled = (entry: LogEntry, id: string | undefined, outcome: Outcome | undefined) => {
    if (entry.seq > applied) {
      applied = entry.seq;
      appliedTime = entry.time;
      lagEntries = entry.pending;
    }
    if (id !== undefined && outcome) pending.get(id)?.(outcome);
  };

  // Entries are handed to LMDB as they arrive, without waiting for each commit: lmdb-js runs
  // transactions in the order they were asked for and commits those of one turn together, so a
  // busy log is applied in batches (one transaction per entry, one commit per batch: 220 writes/s
  // applied one commit at a time, measured, against thousands batched). `inflight` keeps their
  // outcomes in log order; at most MAX_INFLIGHT wait before the follower is held back.
  let inflight: Array<Promise<void>> = [];
  let trouble: unknown;

  /** Applies a table write intent in one transaction at `seq` (and on, for a run), recording `entry`'s position. */
  const applyWrite = (entry: LogEntry, id: string, now: number, intent: Exclude<LogIntent, { op: 'revoke' | 'password' }>, seq: number, seqs: number): Promise<void> => {
    const service = services.get(intent.table);
    if (!service) {
      // Nodes with different schemas would decide differently: say so loudly.
      options.onError?.(new Error(`cluster log entry ${entry.seq} writes table ${intent.table}, which this node's schema does not have: nodes of a cluster must share their schemas`), 'cluster apply');
      return Promise.resolve(settled(entry, id, { ok: false, error: new AppError('TABLE_NOT_FOUND', `table ${intent.table} is not in this node's schema`) }));
    }
    return settledBy(
      entry,
      id,
      store.transact((tx) => service.apply(tx, intent), { now, seq, seqs, position: entry.seq }),
    );
  };

  const settledBy = (entry: LogEntry, id: string, applying: Promise<unknown>): Promise<void> =>
    applying.then(
      (value) => settled(entry, id, { ok: true, value }),
      (err: unknown) => {
        // A full disk or a closing store is this node's trouble: the entry is not applied, and the
        // follower starts again from the store's position. Anything the intent's own apply threw
        // was decided by the state it met, the same on every node: applied as nothing.
        if (err instanceof AppError && NODE_TROUBLE.has(err.code)) {
          trouble ??= err;
          return;
        }
        settled(entry, id, { ok: false, error: err });
      },
    );

  /** Every entry goes through here first: a run's part, or what ends an open run. */
  const applyEntry = (entry: LogEntry): Promise<void> => {
    let envelope: Envelope | RunHead | RunEnd;
    try {
      envelope = JSON.parse(Buffer.from(entry.payload).toString('utf8')) as Envelope | RunHead | RunEnd;
    } catch (err) {
      runs.interrupt();
      // Not ours (something else wrote to the stream): every node skips it alike.
      options.onError?.(err, `cluster log entry ${entry.seq} is not a tablecast intent; skipped`);
      return Promise.resolve(settled(entry, undefined, undefined));
    }
    if (isPart(envelope)) {
      if (!runs.continues(entry.seq, envelope)) {
        const broken = runs.interrupt();
        if (broken !== undefined) pending.get(broken)?.(VOID);
        // A part of a void run, after the entry that broke it: skipped everywhere alike.
        return Promise.resolve(settled(entry, undefined, undefined));
      }
      const complete: CompleteRun | undefined = runs.part(envelope);
      return complete ? applyWrite(entry, complete.id, complete.now, complete.intent, complete.seq, complete.intent.records.length) : Promise.resolve();
    }
    const broken = runs.interrupt();
    if (broken !== undefined) pending.get(broken)?.(VOID);
    if ('end' in envelope) {
      // Answered once what was handed to LMDB before it has settled: the writer then knows its run's
      // outcome was heard, if the run was complete before this entry.
      const before = inflight.at(-1) ?? Promise.resolve();
      const id = envelope.id;
      return before.then(() => {
        if (trouble === undefined) settled(entry, id, { ok: true, value: undefined });
      });
    }
    if ('run' in envelope && envelope.run > 1) {
      runs.start(entry.seq, envelope);
      return Promise.resolve();
    }
    return applyIntent(entry, envelope);
  };

  const applyIntent = (entry: LogEntry, envelope: Envelope): Promise<void> => {
    const { id, now, intent } = envelope;
    if (intent.op === 'revoke') {
      // In memory, as a single server keeps it; a node started again re-applies the log from its
      // store's position, and refuses what was revoked after that (a single server forgets all).
      handlers?.refuse(intent.jti, intent.exp);
      return Promise.resolve(settled(entry, id, { ok: true, value: undefined }));
    }
    if (intent.op === 'password') return settledBy(entry, id, store.setCredential(intent.user, { hash: intent.hash, base: intent.base }, { now, position: entry.seq }));
    return applyWrite(entry, id, now, intent, entry.seq, 1);
  };

  const apply = (entry: LogEntry): Promise<void> | undefined => {
    if (trouble !== undefined) throw trouble; // stops the follower: `follow` starts it again
    inflight.push(applyEntry(entry));
    if (inflight.length < MAX_INFLIGHT) return undefined;
    const oldest = inflight;
    inflight = [];
    return Promise.all(oldest).then(() => {
      if (trouble !== undefined) throw trouble;
    });
  };

  const follow = () => {
    if (closed) return;
    applied = store.logPosition();
    // A run open at the position is read again from its head.
    runs.interrupt();
    follower = log.follow(applied, apply, (err) => {
      options.onError?.(err, 'cluster apply (trying again in 1 s)');
      follower = undefined;
      const waiting = inflight;
      inflight = [];
      // Once what was handed to LMDB has settled, from the position the store recorded.
      void Promise.allSettled(waiting).then(() => {
        trouble = undefined;
        if (!closed) retry = setTimeout(follow, 1000);
      });
    });
  };

  /** Waits for the outcome of entry `id` here; `heard` is it once it came. */
  const expect = (id: string) => {
    let heard: Outcome | undefined;
    let settle!: (outcome: Outcome) => void;
    const decided = new Promise<Outcome>((resolve) => (settle = resolve));
    pending.set(id, (outcome) => settle((heard = outcome)));
    return {
      get heard() {
        return heard;
      },
      async wait(what: string): Promise<Outcome> {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new AppError('CLUSTER_UNAVAILABLE', `the write is in the cluster's log (${what}) but this node has not applied it within ${options.applyTimeout} ms (applied through ${applied})`, {
                  headers: { 'retry-after': '1' },
                }),
              ),
            options.applyTimeout,
          );
        });
        try {
          return await Promise.race([decided, late]);
        } finally {
          clearTimeout(timer);
        }
      },
    };
  };

  /** One try of a run: its outcome, or undefined when it was void (nothing applied anywhere). */
  const tryRun = async (intent: CreateManyIntent): Promise<Outcome | undefined> => {
    const id = `${self}.${++counter}`;
    const decision = expect(id);
    try {
      if (await log.appendRun(runEntries(id, Date.now(), intent))) return voidless(await decision.wait(`the run from entry ${id}`));
      // Broken, or not acknowledged: an entry saying so ends the run on every node, unless it is
      // complete before it (a part stored whose acknowledgement was lost); either way the run's
      // outcome is heard here before this entry's.
      const endId = `${self}.${++counter}`;
      const ended = expect(endId);
      try {
        await log.append(JSON.stringify({ id: endId, end: id } satisfies RunEnd), endId);
        await ended.wait(`the end of run ${id}`);
      } finally {
        pending.delete(endId);
      }
      return voidless(decision.heard);
    } finally {
      pending.delete(id);
    }
  };
  const voidless = (outcome: Outcome | undefined) => (outcome === VOID ? undefined : outcome);

  /** A bulk create: runs tried until one is not broken, with a growing pause, within `runTimeout`. */
  const writeRun = async (intent: CreateManyIntent): Promise<unknown> => {
    const until = Date.now() + options.runTimeout;
    for (let attempt = 0; ; attempt++) {
      const outcome = await tryRun(intent);
      if (outcome) {
        if (!outcome.ok) throw outcome.error;
        return outcome.value;
      }
      // Random, so two nodes whose runs broke each other do not meet again.
      const pause = Math.min(1000, 10 * 2 ** attempt) * (0.5 + Math.random());
      if (closed || Date.now() + pause > until) {
        throw new AppError(
          'CLUSTER_UNAVAILABLE',
          `a bulk create of ${intent.records.length} records found no ${intent.records.length} consecutive entries in the cluster's log within ${options.runTimeout} ms (other writes came between, ${attempt + 1} tries); nothing was written`,
          {
            headers: { 'retry-after': '1' },
          },
        );
      }
      await sleep(pause);
    }
  };

  return {
    start(tableServices, entryHandlers) {
      services = tableServices;
      handlers = entryHandlers;
      follow();
    },
    async write(intent, givenId) {
      if (closed) throw new AppError('SERVICE_UNAVAILABLE', 'the server is shutting down');
      if (intent.op === 'createMany' && intent.records.length > 1) return writeRun(intent);
      const id = givenId ?? `${self}.${++counter}`;
      const decision = expect(id);
      try {
        const envelope: Envelope = { id, now: Date.now(), intent };
        const seq = await log.append(JSON.stringify(envelope), id);
        // An id stored before (another node's expiry of the same deadline) answers with the first
        // entry's sequence, which may be applied here already: nothing left to wait for.
        if (seq <= applied && givenId !== undefined) return undefined;
        const outcome = await decision.wait(`entry ${seq}`);
        if (!outcome.ok) throw outcome.error;
        return outcome.value;
      } finally {
        pending.delete(id);
      }
    },
    state: () => ({ connected: log.connected, applied, lagEntries, lagMs: lagEntries > 0 && appliedTime > 0 ? Math.max(0, Date.now() - appliedTime) : 0 }),
    async close() {
      closed = true;
      clearTimeout(retry);
      await follower?.stop();
      await log.close();
    },
  };
}
