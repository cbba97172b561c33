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
import type { IntentWriter, LogIntent, LogState } from '../core/intents.ts';
import type { TableService } from '../core/table-service.ts';
import { AppError, type ErrorCode } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { ClusterLog, Follower, LogEntry } from './log.ts';
import { writeRun } from './run-writer.ts';
import { isPart, RunCollector, type CompleteRun, type RunEnd, type RunHead } from './runs.ts';
import { VOID, Waiters, type Outcome } from './waiters.ts';

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
  const waiters = new Waiters(options.applyTimeout, () => applied);
  const nextId = () => `${self}.${++counter}`;
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
    if (id !== undefined && outcome) waiters.settle(id, outcome);
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
        if (broken !== undefined) waiters.settle(broken, VOID);
        // A part of a void run, after the entry that broke it: skipped everywhere alike.
        return Promise.resolve(settled(entry, undefined, undefined));
      }
      const complete: CompleteRun | undefined = runs.part(envelope);
      return complete ? applyWrite(entry, complete.id, complete.now, complete.intent, complete.seq, complete.intent.records.length) : Promise.resolve();
    }
    const broken = runs.interrupt();
    if (broken !== undefined) waiters.settle(broken, VOID);
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
    if (intent.op === 'password') return settledBy(entry, id, store.setCredential(intent.user, { hash: intent.hash, base: intent.base, expect: intent.expect }, { now, position: entry.seq }));
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

  return {
    start(tableServices, entryHandlers) {
      services = tableServices;
      handlers = entryHandlers;
      follow();
    },
    async write(intent, givenId) {
      if (closed) throw new AppError('SERVICE_UNAVAILABLE', 'the server is shutting down');
      if (intent.op === 'createMany' && intent.records.length > 1) return writeRun({ log, waiters, nextId, closed: () => closed, runTimeout: options.runTimeout }, intent);
      const id = givenId ?? nextId();
      const decision = waiters.expect(id);
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
        waiters.forget(id);
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
