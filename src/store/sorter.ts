/**
 * The sort step of a read (read.ts): matches are collected in sorted runs, each sort one short step
 * of the event loop, and merged at the end; with a small `limit` only a running top list is kept.
 */
import { AppError } from '../errors.ts';
import { compareRecords } from '../query/evaluate.ts';
import type { Query } from '../query/types.ts';
import type { Record } from '../schema/model.ts';
import { mergeSorted } from './merge-keys.ts';
import type { ReadLimits } from './read.ts';

/** Records sorted at once (a few ms for 2,048); runs are merged afterwards. */
const RUN = 2048;
/** Largest `offset + count` kept as one running top list; a larger limit sorts runs like no limit. */
const TOP_K_MAX = 16_384;

/**
 * Collects matches for a sort: sorted runs of {@link RUN} records (each sort is one short step),
 * merged stably at the end. With `offset + count` up to {@link TOP_K_MAX}, each run is merged into
 * a running top list cut at that length instead, so memory stays at the limit.
 */
export function sorter(query: Query, limits: ReadLimits) {
  const compare = compareRecords(query.sort!);
  const k = query.limit ? query.limit.offset + query.limit.count : Infinity;
  const topMode = k <= Math.min(TOP_K_MAX, limits.maxSortRecords);
  const runSize = topMode ? Math.max(1, Math.min(RUN, limits.maxSortRecords - k)) : RUN;
  const runs: Record[][] = [];
  let top: Record[] = [];
  let held = 0;
  let pending: Record[] = [];

  const tooMany = () =>
    new AppError(
      'QUERY_TOO_COMPLEX',
      `sorting this query would hold more than ${limits.maxSortRecords} records (the maxSortRecords setting, TABLECAST_MAX_SORT_RECORDS); add a smaller limit(), a narrower filter, or raise the setting`,
      { details: [{ message: `more than ${limits.maxSortRecords} records to sort`, limit: limits.maxSortRecords, setting: 'maxSortRecords' }] },
    );

  const flush = () => {
    if (pending.length === 0) return;
    pending.sort(compare); // stable: ties keep key order
    if (topMode) top = mergeTop(top, pending, k, compare);
    else {
      runs.push(pending);
      held += pending.length;
    }
    pending = [];
  };

  return {
    /** Adds a match; true when it completed a run (a sort just ran). */
    add(record: Record): boolean {
      pending.push(record);
      if (!topMode && held + pending.length > limits.maxSortRecords) throw tooMany();
      if (pending.length < runSize) return false;
      flush();
      return true;
    },
    /** Every match in order (ties in key order). */
    result(): Iterator<Record> {
      flush();
      if (topMode) return top[Symbol.iterator]();
      return mergeSorted(
        runs.map((run) => run[Symbol.iterator]()),
        compare,
        false,
      );
    },
  };
}

/** The first `k` of two sorted lists merged, ties from `a` (the earlier records) first. */
function mergeTop(a: Record[], b: Record[], k: number, compare: (x: Record, y: Record) => number): Record[] {
  const out: Record[] = [];
  let i = 0;
  let j = 0;
  while (out.length < k && (i < a.length || j < b.length)) {
    if (j >= b.length || (i < a.length && compare(a[i]!, b[j]!) <= 0)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}
