/**
 * A bulk create on a cluster (SPEC §10) as a run of log entries. The log numbers each change with
 * its entry's sequence, the same on every node, so N records need N sequences: the writing node
 * appends a head (the intent, its first record and the run's length N) and N-1 parts (one record
 * each), each part stored only right after the one before it (log.ts, `appendRun`). Every node
 * collects a head's parts and applies the whole run in ONE transaction numbered from the head's
 * sequence on, all or nothing. If any other entry comes between, the run is void on every node
 * alike (nothing applied, its sequences skipped, like a refused intent) and the writer tries again.
 * What a node decides depends on the log's contents only, so every node decides alike.
 */
import type { CreateManyIntent } from '../core/intents.ts';

type BulkRecord = CreateManyIntent['records'][number];

/** The first entry of a run: a createMany intent holding its first record, and the run's length. */
export interface RunHead {
  id: string;
  /** The sending node's clock (epoch ms). */
  now: number;
  intent: CreateManyIntent;
  run: number;
}

/** Entry `index` (1…N-1) of the run whose head has the id `part`. */
interface RunPart {
  id: string;
  part: string;
  index: number;
  record: BulkRecord;
}

/** Marks the run `end` as over: a run still open there is void (its writer found it broken). */
export interface RunEnd {
  id: string;
  end: string;
}

/** The entries of a bulk create as a run: payloads with their ids, head first. */
export function runEntries(id: string, now: number, intent: CreateManyIntent): Array<{ payload: string; id: string }> {
  const [first, ...rest] = intent.records;
  const head: RunHead = { id, now, intent: { ...intent, records: [first!] }, run: intent.records.length };
  return [
    { payload: JSON.stringify(head), id },
    ...rest.map((record, i) => ({ payload: JSON.stringify({ id: `${id}.${i + 1}`, part: id, index: i + 1, record } satisfies RunPart), id: `${id}.${i + 1}` })),
  ];
}

/** Whether a parsed entry is a run's part. */
export function isPart(entry: object): entry is RunPart {
  return 'part' in entry;
}

/** A run whose every entry has arrived: apply `intent` numbered `seq`…`seq + intent.records.length - 1`. */
export interface CompleteRun {
  id: string;
  now: number;
  seq: number;
  intent: CreateManyIntent;
}

/**
 * The open run of one follower, at most one at a time (a run's entries are contiguous).
 * @example const runs = new RunCollector(); runs.start(seq, head); runs.part(seq, part)
 */
export class RunCollector {
  #open: { head: RunHead; seq: number; records: BulkRecord[] } | undefined;

  /** Opens a head's run (after `interrupt`). */
  start(seq: number, head: RunHead): void {
    this.#open = { head, seq, records: [...head.intent.records] };
  }

  /** The next part of the open run (`continues` said so): the complete run once it is the last. */
  part(part: RunPart): CompleteRun | undefined {
    const open = this.#open;
    if (!open) return undefined;
    open.records.push(part.record);
    if (open.records.length < open.head.run) return undefined;
    this.#open = undefined;
    return { id: open.head.id, now: open.head.now, seq: open.seq, intent: { ...open.head.intent, records: open.records } };
  }

  /** Whether `part` continues the open run. */
  continues(seq: number, part: RunPart): boolean {
    const open = this.#open;
    return open !== undefined && part.part === open.head.id && part.index === open.records.length && seq === open.seq + part.index;
  }

  /** Ends the open run, void; resolves to its head's id (undefined: none was open). */
  interrupt(): string | undefined {
    const id = this.#open?.head.id;
    this.#open = undefined;
    return id;
  }
}
