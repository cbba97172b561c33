/**
 * What one server process needs from the other processes of the same server (`--workers N`, SPEC
 * §9): the contract only, with the single-process form. The processes share the LMDB environment,
 * so data, the change log, ids and order are shared already; what crosses processes here is small:
 * wake-ups, channel frames, counts for limits, revocations, answers to "what do you hold?", and
 * which process runs the background jobs. The supervisor's side is `switchboard.ts`; the transport
 * (Node's IPC channel) is the CLI's (`cli/worker-peers.ts`), since only the CLI touches `process`.
 *
 * Why not Harper's way (worker threads, SharedArrayBuffer counters): Node 20 shares a port between
 * processes only through `cluster`, and a process is the unit the operating system restarts and
 * accounts (a worker killed with -9 takes nothing else down). lmdb-js's user shared buffers are per
 * process (checked), so counters cannot live in shared memory; they live in every process as
 * replicated entries instead, which keeps every admission check synchronous.
 */

/** A process's entries of one topic, by key, then by the process that set them. */
export type Entries = ReadonlyMap<string, ReadonlyMap<number, unknown>>;

export interface Peers {
  /** This process's number (1, 2, …; 0 when it is the only one). */
  readonly self: number;
  /** Whether other processes exist (false: every call below is local and free). */
  readonly clustered: boolean;
  /** A message to every other process; fire-and-forget, in order per sender. */
  send(topic: string, data: unknown): void;
  /** Messages other processes sent on `topic`. */
  on(topic: string, listener: (data: unknown, from: number) => void): void;
  /**
   * Sets (or with `undefined` deletes) this process's entry `key` of `topic`; every process sees it
   * through `entries`. Entries die with the process that set them, unless `keepUntil` (epoch ms) is
   * given: then they stay until deleted or until that time (a revocation must outlive the worker
   * that made it, and no longer than the token it revokes).
   */
  set(topic: string, key: string, value: unknown, keepUntil?: number): void;
  /** The other processes' entries of `topic` (this process's own are not in it). */
  entries(topic: string): Entries;
  /** Called after another process's entry of `topic` changed (set, deleted, or its process died). */
  onEntries(topic: string, listener: () => void): void;
  /** Asks every process, this one included, and resolves to their answers (those that answer within `timeoutMs`). */
  gather(topic: string, data?: unknown, timeoutMs?: number): Promise<unknown[]>;
  /** How this process answers `gather(topic)`. */
  answer(topic: string, fn: (data: unknown) => unknown): void;
  /**
   * Takes one of `limit` uses of `key` in the current `windowMs` window, server-wide; false when
   * none is left. `giveBack` returns one to the window it came from.
   */
  reserve(key: string, limit: number, windowMs: number): Promise<{ ok: boolean; retryAfterMs: number; window: number }>;
  giveBack(key: string, window: number): void;
  /** Whether this process runs the server's background jobs (expiry sweeps, log pruning): exactly one does. */
  readonly background: boolean;
  onBackground(listener: (on: boolean) => void): void;
}

/** A server of one process: every call is local. */
export function soloPeers(): Peers {
  const windows = new Map<string, { count: number; since: number; id: number }>();
  let windowIds = 0;
  const none: Entries = new Map();
  return {
    self: 0,
    clustered: false,
    send() {},
    on() {},
    set() {},
    entries: () => none,
    onEntries() {},
    ...localGathering(),
    async reserve(key, limit, windowMs) {
      return takeFromWindow(windows, key, limit, windowMs, Date.now(), () => ++windowIds);
    },
    giveBack(key, window) {
      giveBackToWindow(windows, key, window);
    },
    background: true,
    onBackground() {},
  };
}

/** `gather` and `answer` of a process that asks only itself (one process, or one cluster node). */
export function localGathering(): Pick<Peers, 'gather' | 'answer'> {
  const answers = new Map<string, (data: unknown) => unknown>();
  return {
    async gather(topic, data) {
      const fn = answers.get(topic);
      return fn ? [await fn(data)] : [];
    },
    answer(topic, fn) {
      answers.set(topic, fn);
    },
  };
}

/**
 * One use of a fixed window's budget (shared by the single process and the supervisor). Windows
 * are swept when the map grows, so it stays small under a storm of addresses.
 */
export function takeFromWindow(
  windows: Map<string, { count: number; since: number; id: number }>,
  key: string,
  limit: number,
  windowMs: number,
  now: number,
  newId: () => number,
): { ok: boolean; retryAfterMs: number; window: number } {
  let w = windows.get(key);
  if (!w || now - w.since >= windowMs) {
    if (windows.size > 10_000) for (const [k, v] of windows) if (now - v.since >= windowMs) windows.delete(k);
    w = { count: 0, since: now, id: newId() };
    windows.set(key, w);
  }
  if (w.count >= limit) return { ok: false, retryAfterMs: w.since + windowMs - now, window: w.id };
  w.count++;
  return { ok: true, retryAfterMs: 0, window: w.id };
}

/** Returns one use to `key`'s window, if that window (`id`) is still the current one. */
export function giveBackToWindow(windows: Map<string, { count: number; id: number }>, key: string, id: number): void {
  const w = windows.get(key);
  if (w && w.id === id && w.count > 0) w.count--;
}
