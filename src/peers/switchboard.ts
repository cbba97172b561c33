/**
 * The supervisor's side of `Peers`: routes messages between worker processes and keeps what a
 * worker that starts later, or the server after a worker's death, must know (every process's
 * entries, the reservation windows, which worker runs the background jobs). Pure: the CLI's
 * supervisor hands it each worker's IPC `send` and every message it receives.
 */
import { giveBackToWindow, takeFromWindow } from './peers.ts';

/** Worker → supervisor. */
export type Upward =
  | { tc: 'join' }
  | { tc: 'send'; topic: string; data: unknown }
  | { tc: 'set'; topic: string; key: string; value?: unknown; keepUntil?: number }
  | { tc: 'ask'; id: number; topic: string; data?: unknown; timeoutMs: number }
  | { tc: 'reply'; id: number; data: unknown }
  | { tc: 'reserve'; id: number; key: string; limit: number; windowMs: number }
  | { tc: 'giveBack'; key: string; window: number };

/** Supervisor → worker. */
export type Downward =
  | { tc: 'hello'; self: number; entries: Array<[topic: string, key: string, from: number, value: unknown, lasting: boolean]>; background: boolean }
  | { tc: 'msg'; topic: string; data: unknown; from: number }
  | { tc: 'set'; topic: string; key: string; value?: unknown; lasting?: boolean; from: number }
  | { tc: 'gone'; from: number }
  | { tc: 'ask'; id: number; topic: string; data?: unknown }
  | { tc: 'answers'; id: number; list: unknown[] }
  | { tc: 'reserved'; id: number; ok: boolean; retryAfterMs: number; window: number }
  | { tc: 'role'; background: boolean };

/** Whether an IPC message is ours (cluster and prom-client use the same channel). */
export function isPeerMessage(m: unknown): m is Upward & Downward {
  return typeof m === 'object' && m !== null && typeof (m as { tc?: unknown }).tc === 'string';
}

interface Entry {
  value: unknown;
  /** Kept after its process died, until this time (epoch ms); 0: dies with its process. */
  keepUntil: number;
}

/** How often entries kept past their process are looked at (dropped once their time has come). */
const SWEEP_MS = 60_000;

interface Gathering {
  asker: number;
  askerId: number;
  waiting: Set<number>;
  list: unknown[];
  timer: NodeJS.Timeout;
}

export class Switchboard {
  readonly #workers = new Map<number, (m: Downward) => void>();
  /** topic → key → from → entry. */
  readonly #entries = new Map<string, Map<string, Map<number, Entry>>>();
  readonly #windows = new Map<string, { count: number; since: number; id: number }>();
  readonly #gatherings = new Map<number, Gathering>();
  readonly #now: () => number;
  #windowIds = 0;
  #gatherIds = 0;
  #background = 0;

  readonly #sweep: NodeJS.Timeout;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#sweep = setInterval(() => this.dropExpired(), SWEEP_MS);
    this.#sweep.unref?.();
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  /** Drops the entries kept past their process whose time has come (every minute, on a timer). */
  dropExpired(): void {
    const t = this.#now();
    for (const [topic, keys] of this.#entries) {
      for (const [key, byFrom] of keys) {
        for (const [from, e] of byFrom) {
          if (e.keepUntil === 0 || e.keepUntil > t) continue;
          byFrom.delete(from);
          // Told as if the process that set it had deleted it (its own copy, if alive, goes too).
          for (const send of this.#workers.values()) send({ tc: 'set', topic, key, from });
        }
        if (byFrom.size === 0) keys.delete(key);
      }
    }
  }

  /** Which worker runs the background jobs (0: none yet). */
  get background(): number {
    return this.#background;
  }

  /** A worker that is ready to listen: it gets everything it must know, then messages as they come. */
  join(id: number, send: (m: Downward) => void): void {
    this.#workers.set(id, send);
    const entries: Array<[string, string, number, unknown, boolean]> = [];
    for (const [topic, keys] of this.#entries) for (const [key, byFrom] of keys) for (const [from, e] of byFrom) entries.push([topic, key, from, e.value, e.keepUntil > 0]);
    if (this.#background === 0) this.#background = id;
    send({ tc: 'hello', self: id, entries, background: this.#background === id });
  }

  /** A worker that died or stopped: its entries go, its gatherings end, its role passes on. */
  leave(id: number): void {
    if (!this.#workers.delete(id)) return;
    for (const keys of this.#entries.values()) {
      for (const [key, byFrom] of keys) {
        const e = byFrom.get(id);
        if (e && e.keepUntil === 0) byFrom.delete(id);
        if (byFrom.size === 0) keys.delete(key);
      }
    }
    this.#broadcast({ tc: 'gone', from: id });
    for (const [gid, g] of this.#gatherings) {
      if (g.asker === id) {
        clearTimeout(g.timer);
        this.#gatherings.delete(gid);
      } else if (g.waiting.delete(id) && g.waiting.size === 0) this.#finish(gid);
    }
    if (this.#background === id) {
      const next = this.#workers.keys().next();
      this.#background = next.done ? 0 : next.value;
      if (this.#background !== 0) this.#workers.get(this.#background)!({ tc: 'role', background: true });
    }
  }

  receive(from: number, m: Upward): void {
    switch (m.tc) {
      case 'join':
        return; // the supervisor calls join() with the worker's send function
      case 'send':
        this.#broadcast({ tc: 'msg', topic: m.topic, data: m.data, from }, from);
        return;
      case 'set': {
        let keys = this.#entries.get(m.topic);
        if (!keys) this.#entries.set(m.topic, (keys = new Map()));
        let byFrom = keys.get(m.key);
        if (m.value === undefined) {
          byFrom?.delete(from);
          if (byFrom?.size === 0) keys.delete(m.key);
        } else {
          if (!byFrom) keys.set(m.key, (byFrom = new Map()));
          byFrom.set(from, { value: m.value, keepUntil: m.keepUntil ?? 0 });
        }
        this.#broadcast({ tc: 'set', topic: m.topic, key: m.key, ...(m.value === undefined ? {} : { value: m.value }), ...(m.keepUntil ? { lasting: true } : {}), from }, from);
        return;
      }
      case 'ask': {
        const id = ++this.#gatherIds;
        const waiting = new Set(this.#workers.keys());
        const timer = setTimeout(() => this.#finish(id), m.timeoutMs);
        timer.unref?.();
        this.#gatherings.set(id, { asker: from, askerId: m.id, waiting, list: [], timer });
        // Sent after every message this supervisor relayed before: an answer reflects them.
        this.#broadcast({ tc: 'ask', id, topic: m.topic, ...(m.data === undefined ? {} : { data: m.data }) });
        return;
      }
      case 'reply': {
        const g = this.#gatherings.get(m.id);
        if (!g?.waiting.delete(from)) return;
        g.list.push(m.data);
        if (g.waiting.size === 0) this.#finish(m.id);
        return;
      }
      case 'reserve': {
        const r = takeFromWindow(this.#windows, m.key, m.limit, m.windowMs, this.#now(), () => ++this.#windowIds);
        this.#workers.get(from)?.({ tc: 'reserved', id: m.id, ...r });
        return;
      }
      case 'giveBack':
        giveBackToWindow(this.#windows, m.key, m.window);
        return;
    }
  }

  #finish(id: number): void {
    const g = this.#gatherings.get(id);
    if (!g) return;
    clearTimeout(g.timer);
    this.#gatherings.delete(id);
    this.#workers.get(g.asker)?.({ tc: 'answers', id: g.askerId, list: g.list });
  }

  #broadcast(m: Downward, except?: number): void {
    for (const [id, send] of this.#workers) if (id !== except) send(m);
  }
}
