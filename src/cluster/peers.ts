/**
 * The other nodes of a cluster as `Peers` (peers/peers.ts), over plain NATS publish and subscribe
 * beside the cluster's log: what the channel hub needs to reach the channel clients of every node
 * (events by message, and the directory of clients as replicated entries), and what the login guard
 * and token revocation need. SPEC §10 asks only this much of NATS for channels: their events are
 * not stored, so they are not in the ordered log.
 *
 * Entries: each node publishes its changes, a heartbeat every second, and its whole set when it
 * sees a node it did not know (a node that just started or came back) or when its own connection
 * returns. A node not heard from for three heartbeats is gone, with its entries. Messages are at
 * most once, like the channel events they carry.
 *
 * Also the login rate (`reserve`), counted over every node's entries. Not served here (a cluster
 * node is one process): `gather` answers for this node only, and this node runs its own background
 * jobs (its store is its own).
 */
import { randomInt } from 'node:crypto';
import { localGathering, type Entries, type Peers } from '../peers/peers.ts';
import type { ClusterLog } from './log.ts';

const HEARTBEAT_MS = 1_000;
const GONE_AFTER_MS = 3 * HEARTBEAT_MS;
/** The topic of each node's uses of the login rate's windows. */
const USES = 'reserved';

type Wire =
  | { kind: 'msg'; from: number; topic: string; data: unknown }
  | { kind: 'set'; from: number; topic: string; key: string; value: unknown }
  | { kind: 'beat'; from: number }
  | { kind: 'all'; from: number; entries: Array<[string, string, unknown]> };

export interface NodePeers extends Peers {
  close(): void;
}

/**
 * Peers over the log's NATS connection.
 * @example const peers = nodePeers(log); createChannelHub({ streams, peers, … })
 */
export function nodePeers(log: ClusterLog): NodePeers {
  // A random number: nodes start without knowing each other, and 2^31 makes a clash unlikely.
  const self = randomInt(1, 2 ** 31);
  const own = new Map<string, Map<string, unknown>>();
  const others = new Map<number, { seen: number; entries: Map<string, Map<string, unknown>> }>();
  const listeners = new Map<string, Set<(data: unknown, from: number) => void>>();
  const entryListeners = new Map<string, Set<() => void>>();
  const views = new Map<string, Entries>();

  const send = (m: Wire) => log.publish('peers', JSON.stringify(m));
  const sendAll = () => {
    const entries: Array<[string, string, unknown]> = [];
    for (const [topic, byKey] of own) for (const [key, value] of byKey) entries.push([topic, key, value]);
    send({ kind: 'all', from: self, entries });
  };
  const changed = (topic: string) => {
    views.delete(topic);
    for (const l of entryListeners.get(topic) ?? []) l();
  };
  const forget = (node: number) => {
    const gone = others.get(node);
    if (!gone) return;
    others.delete(node);
    for (const topic of gone.entries.keys()) changed(topic);
  };

  function setEntry(topic: string, key: string, value: unknown): void {
    let byKey = own.get(topic);
    if (!byKey) own.set(topic, (byKey = new Map()));
    if (value === undefined) byKey.delete(key);
    else byKey.set(key, value);
    // JSON has no undefined: a deletion travels as null.
    send({ kind: 'set', from: self, topic, key, value: value ?? null });
  }

  function entriesOf(topic: string): Entries {
    let view = views.get(topic);
    if (!view) {
      const out = new Map<string, Map<number, unknown>>();
      for (const [node, { entries }] of others) {
        for (const [key, value] of entries.get(topic) ?? []) {
          let byNode = out.get(key);
          if (!byNode) out.set(key, (byNode = new Map()));
          byNode.set(node, value);
        }
      }
      views.set(topic, (view = out));
    }
    return view;
  }

  const unsubscribe = log.subscribe('peers', (text) => {
    let m: Wire;
    try {
      m = JSON.parse(text) as Wire;
    } catch {
      return;
    }
    if (m.from === self) return;
    let node = others.get(m.from);
    if (!node) {
      node = { seen: Date.now(), entries: new Map() };
      others.set(m.from, node);
      // A node we did not know: it does not know our entries either.
      sendAll();
    }
    node.seen = Date.now();
    if (m.kind === 'msg') {
      for (const l of listeners.get(m.topic) ?? []) l(m.data, m.from);
    } else if (m.kind === 'set') {
      let byKey = node.entries.get(m.topic);
      if (!byKey) node.entries.set(m.topic, (byKey = new Map()));
      if (m.value === undefined || m.value === null) byKey.delete(m.key);
      else byKey.set(m.key, m.value);
      changed(m.topic);
    } else if (m.kind === 'all') {
      const topics = new Set(node.entries.keys());
      node.entries = new Map();
      for (const [topic, key, value] of m.entries) {
        let byKey = node.entries.get(topic);
        if (!byKey) node.entries.set(topic, (byKey = new Map()));
        byKey.set(key, value);
        topics.add(topic);
      }
      for (const topic of topics) changed(topic);
    }
  });
  log.onReconnect(sendAll);
  const timer = setInterval(() => {
    send({ kind: 'beat', from: self });
    const now = Date.now();
    for (const [node, { seen }] of others) if (now - seen > GONE_AFTER_MS) forget(node);
  }, HEARTBEAT_MS);
  timer.unref();
  send({ kind: 'beat', from: self });

  return {
    self,
    clustered: true,
    send(topic, data) {
      send({ kind: 'msg', from: self, topic, data });
    },
    on(topic, listener) {
      let set = listeners.get(topic);
      if (!set) listeners.set(topic, (set = new Set()));
      set.add(listener);
    },
    set: setEntry,
    entries: entriesOf,
    onEntries(topic, listener) {
      let set = entryListeners.get(topic);
      if (!set) entryListeners.set(topic, (set = new Set()));
      set.add(listener);
    },
    ...localGathering(),
    // The login rate, cluster-wide: windows aligned to the clock (every node agrees which window
    // it is, given clocks in step), each node publishing its own uses of each window as an entry,
    // and a use allowed while all nodes' uses of the window are under the limit. Two nodes taking the
    // last use in the same instant can both pass: at most one over per other node, as with workers.
    async reserve(key, limit, windowMs) {
      const now = Date.now();
      const window = Math.floor(now / windowMs);
      const name = `${key}@${window}`;
      let mine = 0;
      for (const [k, n] of own.get(USES) ?? []) {
        if (k === name) mine = n as number;
        else if (Number(k.slice(k.lastIndexOf('@') + 1)) < window) setEntry(USES, k, undefined); // an old window
      }
      let theirs = 0;
      for (const n of entriesOf(USES).get(name)?.values() ?? []) theirs += n as number;
      if (mine + theirs >= limit) return { ok: false, retryAfterMs: (window + 1) * windowMs - now, window };
      setEntry(USES, name, mine + 1);
      return { ok: true, retryAfterMs: 0, window };
    },
    giveBack(key, window) {
      const name = `${key}@${window}`;
      const mine = own.get(USES)?.get(name) as number | undefined;
      if (mine) setEntry(USES, name, mine > 1 ? mine - 1 : undefined);
    },
    background: true,
    onBackground() {},
    close() {
      clearInterval(timer);
      unsubscribe();
    },
  };
}
