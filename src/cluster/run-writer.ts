/**
 * The writing side of a bulk create on a cluster (runs.ts has the entries and how every node
 * collects them): a run is appended, and tried again with a fresh id while other entries break it,
 * with a growing random pause, within the cluster's timeout.
 */
import type { CreateManyIntent } from '../core/intents.ts';
import { AppError } from '../errors.ts';
import type { ClusterLog } from './log.ts';
import { runEntries, type RunEnd } from './runs.ts';
import { VOID, type Outcome, type Waiters } from './waiters.ts';

export interface RunWriterOptions {
  log: ClusterLog;
  waiters: Waiters;
  /** A new entry id, unique in the cluster. */
  nextId(): string;
  /** Whether the node is closing (no more tries). */
  closed(): boolean;
  /** Most time a bulk create goes on trying (ms). */
  runTimeout: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const voidless = (outcome: Outcome | undefined) => (outcome === VOID ? undefined : outcome);

/**
 * Writes a bulk create as a run and resolves to what applying it decided here.
 * @example await writeRun({ log, waiters, nextId, closed: () => false, runTimeout: 10_000 }, intent)
 */
export async function writeRun(options: RunWriterOptions, intent: CreateManyIntent): Promise<unknown> {
  const until = Date.now() + options.runTimeout;
  for (let attempt = 0; ; attempt++) {
    const outcome = await tryRun(options, intent);
    if (outcome) {
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    }
    // Random, so two nodes whose runs broke each other do not meet again.
    const pause = Math.min(1000, 10 * 2 ** attempt) * (0.5 + Math.random());
    if (options.closed() || Date.now() + pause > until) {
      const n = intent.records.length;
      const message = `a bulk create of ${n} records found no ${n} consecutive entries in the cluster's log within ${options.runTimeout} ms (other writes came between, ${attempt + 1} tries); nothing was written`;
      throw new AppError('CLUSTER_UNAVAILABLE', message, { headers: { 'retry-after': '1' } });
    }
    await sleep(pause);
  }
}

/** One try of a run: its outcome, or undefined when it was void (nothing applied anywhere). */
async function tryRun({ log, waiters, nextId }: RunWriterOptions, intent: CreateManyIntent): Promise<Outcome | undefined> {
  const id = nextId();
  const decision = waiters.expect(id);
  try {
    if (await log.appendRun(runEntries(id, Date.now(), intent))) return voidless(await decision.wait(`the run from entry ${id}`));
    // Broken, or not acknowledged: an entry saying so ends the run on every node, unless it is
    // complete before it (a part stored whose acknowledgement was lost); either way the run's
    // outcome is heard here before this entry's.
    const endId = nextId();
    const ended = waiters.expect(endId);
    try {
      await log.append(JSON.stringify({ id: endId, end: id } satisfies RunEnd), endId);
      await ended.wait(`the end of run ${id}`);
    } finally {
      waiters.forget(endId);
    }
    return voidless(decision.heard);
  } finally {
    waiters.forget(id);
  }
}
