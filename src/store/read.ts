/**
 * Runs a query over a table in chunks: filter, sort, `limit(offset, count)`, select. Each call to
 * `next()` works synchronously for at most one slice of event-loop time (`sliceMs`) and then
 * yields (`setImmediate`) before the next slice, so no read of any size holds the loop; memory is
 * one chunk of results, except for a sort, which holds the records it sorts (at most
 * `maxSortRecords`; with a small limit only the best `offset + count` of them).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { project } from '../query/evaluate.ts';
import type { Query } from '../query/types.ts';
import type { Key, Record } from '../schema/model.ts';
import type { TableHandle } from './open.ts';
import { CHECK_EVERY, CHECKPOINT, candidates, type ReadOptions } from './scan.ts';
import { sorter } from './sorter.ts';

/** Bounds of one read. */
export interface ReadLimits {
  /** Most records held in memory to sort one query (QUERY_TOO_COMPLEX past it). */
  maxSortRecords: number;
  /** Most results per chunk. */
  chunkSize: number;
  /** Event-loop time one step of a read may take before it yields (ms). */
  sliceMs: number;
}

/**
 * Defaults. 100,000 sorted records of ~100 bytes (the abuse table) grow the heap by ~40 MiB, under
 * the 64 MiB bound of one request; 256 results per chunk keep a chunk's JSON near 25 KB for such
 * records; 8 ms slices leave the loop free over 90% of the time during a long read.
 */
const DEFAULT_READ_LIMITS: Readonly<ReadLimits> = Object.freeze({ maxSortRecords: 100_000, chunkSize: 256, sliceMs: 8 });

/**
 * How long a resumable read keeps its cursors after handing out a chunk (ms): a consumer that comes
 * back sooner (a socket that drains at once) reads on without reopening them; a slower one gives
 * its snapshot back.
 */
const RESUME_IDLE_MS = 20;

/** The results of a query, chunk by chunk. Call `next()` again only after the last call settled. */
export interface ResultCursor {
  /** True once every result has been handed out (the last chunk may carry it). */
  readonly done: boolean;
  /** The next results (non-empty), or `undefined` when there are no more. */
  next(): Promise<unknown[] | undefined>;
  /**
   * The first results, read at once in one slice, without a promise: what an answer that fits one
   * chunk needs (most answers; a promise and a turn per request cost the indexed-filter benchmark a
   * good share of its throughput). `undefined` when the read sorts or has started; the chunk may be
   * empty when the slice ended first, and `next()` goes on from there.
   */
  first(): unknown[] | undefined;
  /** Stops the read and releases what it holds (also done automatically at the end or on an error). */
  close(): void;
}

/** How a read is run. */
export interface ResultOptions extends ReadOptions {
  limits?: Partial<ReadLimits>;
  /**
   * Runs once, when the read no longer needs LMDB: at the end, on an error or close, or as soon as
   * a sort has collected its records (the store ends its read transaction there).
   */
  onClose?: () => void;
  /**
   * Hold no LMDB cursor while the consumer has a chunk: each `next()` reads on from the key after
   * the last one examined, in lmdb's current state, instead of keeping one snapshot open. For
   * consumers paced by a client (a streamed HTTP answer): every snapshot kept open takes one of
   * LMDB's reader slots (126) for as long as the client takes, and past them every read fails.
   */
  resumable?: boolean;
}

/**
 * Opens a chunked read of `query` over `table`.
 * @example const c = openResults(handle, query, Date.now(), { transaction }); for (let r; (r = await c.next()); ) send(r)
 */
export function openResults(table: TableHandle, query: Query, now: number, options: ResultOptions = {}): ResultCursor {
  const limits: ReadLimits = { ...DEFAULT_READ_LIMITS, ...options.limits };
  const offset = query.limit?.offset ?? 0;
  const count = query.limit?.count ?? Infinity;
  const select = query.select;
  const shape = select ? (r: Record) => project(select, r) : (r: Record) => r;
  const read: ReadOptions = options.transaction ? { transaction: options.transaction } : {};
  const progress: { key?: Key } = {};
  const openSource = () => candidates(table, query.filter, now, options.resumable ? { ...read, progress, ...(progress.key !== undefined ? { after: progress.key } : {}) } : read);
  let source: ReturnType<typeof candidates> | undefined;
  const sort = query.sort && query.sort.length > 0 ? sorter(query, limits) : undefined;
  let sorted: Iterator<Record> | undefined;
  let skipped = 0;
  let emitted = 0;
  let finished = false;
  let released = false;
  let started = false;
  let idle: ReturnType<typeof setTimeout> | undefined;

  /** Closes the LMDB cursors of the current source (a resumable read opens a new one next time). */
  const closeSource = () => {
    if (idle) clearTimeout(idle);
    idle = undefined;
    const s = source;
    source = undefined;
    s?.return(undefined);
  };
  const release = () => {
    if (released) return;
    released = true;
    try {
      closeSource();
    } finally {
      options.onClose?.();
    }
  };
  const finish = () => {
    if (finished) return;
    finished = true;
    try {
      sorted?.return?.(undefined);
    } finally {
      release();
    }
  };
  if (count <= 0) finish();

  /** One slice of the unsorted read: candidates are already in key order. */
  const readSlice = (chunk: unknown[], started: number) => {
    source ??= openSource();
    for (;;) {
      const r = source.next();
      if (r.done) return finish();
      const v = r.value;
      if (v === CHECKPOINT) {
        if (performance.now() - started >= limits.sliceMs) return;
        continue;
      }
      if (skipped < offset) {
        skipped++;
        continue;
      }
      chunk.push(shape(v));
      if (++emitted >= count) return finish();
      if (chunk.length >= limits.chunkSize) return;
    }
  };

  /** One slice of collecting a sort's matches; true when every candidate has been seen. */
  const collectSlice = (started: number): boolean => {
    source ??= openSource();
    for (;;) {
      const r = source.next();
      if (r.done) return true;
      if (r.value === CHECKPOINT) {
        if (performance.now() - started >= limits.sliceMs) return false;
        continue;
      }
      if (sort!.add(r.value) && performance.now() - started >= limits.sliceMs) return false;
    }
  };

  /** One slice of handing out sorted results. */
  const emitSlice = (chunk: unknown[], started: number) => {
    for (;;) {
      const r = sorted!.next();
      if (r.done) return finish();
      if (skipped < offset) {
        // A large offset is skipped over several slices too.
        if (++skipped % CHECK_EVERY === 0 && performance.now() - started >= limits.sliceMs) return;
        continue;
      }
      chunk.push(shape(r.value));
      if (++emitted >= count) return finish();
      if (chunk.length >= limits.chunkSize) return;
    }
  };

  return {
    get done() {
      return finished;
    },
    async next() {
      if (idle) clearTimeout(idle);
      idle = undefined;
      try {
        // A consumer that is never slowed (a fast socket) would otherwise chain every chunk in
        // microtasks and hold the loop for the whole read: each chunk after the first starts on a
        // later turn of the event loop.
        if (started) await nextTurn();
        started = true;
        if (sort && !sorted && !finished) {
          while (!collectSlice(performance.now())) {
            await nextTurn();
            if (finished) return undefined;
          }
          sorted = sort.result();
          release(); // what is left is in memory
        }
        const chunk: unknown[] = [];
        while (!finished) {
          if (sorted) emitSlice(chunk, performance.now());
          else readSlice(chunk, performance.now());
          if (chunk.length > 0) {
            if (options.resumable && source) {
              idle = setTimeout(closeSource, RESUME_IDLE_MS);
              idle.unref();
            }
            return chunk;
          }
          if (finished) break;
          await nextTurn();
        }
        return chunk.length > 0 ? chunk : undefined;
      } catch (err) {
        finish();
        throw err;
      }
    },
    first() {
      if (started || sort || finished) return undefined;
      started = true;
      const chunk: unknown[] = [];
      try {
        readSlice(chunk, performance.now());
      } catch (err) {
        finish();
        throw err;
      }
      if (chunk.length > 0 && options.resumable && source) {
        idle = setTimeout(closeSource, RESUME_IDLE_MS);
        idle.unref();
      }
      return chunk;
    },
    close: finish,
  };
}
