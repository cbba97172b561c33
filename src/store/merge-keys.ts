/**
 * A lazy k-way merge of sorted iterators, for index reads that must come out in primary-key order
 * (the union of several index values) without collecting and sorting every key first.
 */

/**
 * Merges iterators that are each sorted by `compare` into one sorted sequence. With `distinct`
 * (the default), a value equal to the one just produced is dropped (a key found through two index
 * values comes out once); without it, equal values come out in source order (a stable merge of
 * sorted runs). Holds one value per source; closes every source when the consumer stops early.
 * @example [...mergeSorted([[1, 3][Symbol.iterator](), [2, 3][Symbol.iterator]()], (a, b) => a - b)] // [1, 2, 3]
 */
export function* mergeSorted<T>(sources: ReadonlyArray<Iterator<T>>, compare: (a: T, b: T) => number, distinct = true): Generator<T> {
  // A binary min-heap of [head value, source index]; ties keep the lower source first.
  const heap: Array<[T, number]> = [];
  const less = (i: number, j: number): boolean => {
    const a = heap[i]!;
    const b = heap[j]!;
    const c = compare(a[0], b[0]);
    return c < 0 || (c === 0 && a[1] < b[1]);
  };
  const swap = (i: number, j: number) => {
    const t = heap[i]!;
    heap[i] = heap[j]!;
    heap[j] = t;
  };
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(i, parent)) return;
      swap(i, parent);
      i = parent;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(l, m)) m = l;
      if (r < heap.length && less(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  const done = new Set<number>();
  try {
    for (let s = 0; s < sources.length; s++) {
      const r = sources[s]!.next();
      if (r.done) done.add(s);
      else {
        heap.push([r.value, s]);
        up(heap.length - 1);
      }
    }
    let last: { value: T } | undefined;
    while (heap.length > 0) {
      const [value, s] = heap[0]!;
      const r = sources[s]!.next();
      if (r.done) {
        done.add(s);
        const tail = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = tail;
          down(0);
        }
      } else {
        heap[0] = [r.value, s];
        down(0);
      }
      if (distinct) {
        if (last !== undefined && compare(last.value, value) === 0) continue;
        last = { value };
      }
      yield value;
    }
  } finally {
    // Sources still open hold LMDB cursors: release them even when the consumer stopped early.
    for (let s = 0; s < sources.length; s++) if (!done.has(s)) sources[s]!.return?.();
  }
}
