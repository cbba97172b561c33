/**
 * Joining after the log was trimmed (SPEC §10, "Joining"): a node with an empty data directory whose
 * cluster log no longer starts at its first entry asks the other nodes for a snapshot, over plain
 * NATS beside the log. One node answers (a queue group): it reads all its records from one LMDB
 * snapshot and sends them in parts, with the log position they reflect; the newcomer writes them
 * (store/snapshot.ts) and follows the log from that position. No files are copied by hand.
 *
 * The parts travel at most once, in order (one publisher, one subscriber): a lost part, an error on
 * the answering node or silence past the bound ends the attempt, and the newcomer asks again. A
 * start that fails halfway leaves records in the data directory; start the node again on an empty
 * one (it then refuses to join with changes of its own).
 */
import { randomUUID } from 'node:crypto';
import { AppError } from '../errors.ts';
import type { SnapshotRow, Store } from '../store/store.ts';
import { messageOf } from '../util/guards.ts';
import type { ClusterLog } from './log.ts';

const REQUESTS = 'snapshot';
/** Rows per part: a few hundred KiB of JSON, under NATS's default 1 MiB message limit for most records. */
const ROWS_PER_PART = 200;

type Part = { part: number; rows: SnapshotRow[] } | { part: number; done: true; position: number } | { part: number; error: string };

/**
 * Answers other nodes' snapshot requests from this node's store. Returns the function that stops it.
 * @example const stop = answerSnapshots(log, app.store, onError)
 */
export function answerSnapshots(log: ClusterLog, store: Store, onError: (err: unknown, context: string) => void): () => void {
  return log.subscribe(
    REQUESTS,
    (text) => {
      let reply: string;
      try {
        reply = (JSON.parse(text) as { reply: string }).reply;
      } catch {
        return;
      }
      let part = 0;
      const send = (m: Part) => log.publish(reply, JSON.stringify(m));
      void (async () => {
        try {
          // A node that has applied nothing has nothing to give: the newcomer asks again.
          if (store.logPosition() === 0) return send({ part: part++, error: 'this node has applied nothing yet' });
          const position = await store.exportRows(async (rows) => {
            send({ part: part++, rows });
            // A turn between parts: a large store is sent without holding this node's loop.
            await new Promise((r) => setImmediate(r));
          }, ROWS_PER_PART);
          send({ part: part++, done: true, position });
        } catch (err) {
          onError(err, 'sending a snapshot to a joining node');
          send({ part: part++, error: messageOf(err) });
        }
      })();
    },
    REQUESTS,
  );
}

/** One attempt: the snapshot written into `store`, resolving to its position. */
function fetchOnce(log: ClusterLog, store: Store, silenceMs: number): Promise<number> {
  const reply = `snapshot-reply.${randomUUID()}`;
  return new Promise((resolve, reject) => {
    let expect = 0;
    let writing: Promise<void> = Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const end = (err: Error | undefined, position?: number) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      unsubscribe();
      if (err) reject(err);
      else resolve(position!);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => end(new AppError('CLUSTER_UNAVAILABLE', `no node sent a snapshot (or its next part) within ${silenceMs} ms`)), silenceMs);
    };
    const unsubscribe = log.subscribe(reply, (text) => {
      if (ended) return;
      const m = JSON.parse(text) as Part;
      if (m.part !== expect++) return end(new Error(`part ${expect - 1} of the snapshot was lost`));
      arm();
      if ('error' in m) return end(new Error(`the node asked for a snapshot could not send it: ${m.error}`));
      if ('done' in m) {
        writing
          .then(() => store.finishImport(m.position))
          .then(
            () => end(undefined, m.position),
            (err: unknown) => end(err instanceof Error ? err : new Error(messageOf(err))),
          );
        return;
      }
      writing = writing.then(() => store.importRows(m.rows));
      writing.catch((err: unknown) => end(err instanceof Error ? err : new Error(messageOf(err))));
    });
    // The subscription is sent to NATS before the request on the same connection: no part is missed.
    log.publish(REQUESTS, JSON.stringify({ reply }));
    arm();
  });
}

/**
 * Fills an empty store from another node's snapshot, asking up to `attempts` times; resolves to the
 * log position the snapshot reflects (the node follows the log after it).
 */
export async function fetchSnapshot(log: ClusterLog, store: Store, options: { silenceMs: number; attempts: number; onError: (err: unknown, context: string) => void }): Promise<number> {
  let last: unknown;
  for (let i = 0; i < options.attempts; i++) {
    try {
      return await fetchOnce(log, store, options.silenceMs);
    } catch (err) {
      last = err;
      // Records already written stay: a second snapshot writes them again (the same rows, or newer).
      options.onError(err, `fetching a snapshot to join the cluster (attempt ${i + 1} of ${options.attempts})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  throw new AppError('CLUSTER_UNAVAILABLE', `could not join: the cluster's log no longer starts at its first entry, and no node sent a snapshot (${messageOf(last)})`, { cause: last });
}
