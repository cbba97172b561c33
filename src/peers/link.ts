/**
 * `Peers` for one worker, over any channel to the switchboard: the CLI's is the IPC channel
 * `cluster.fork` opens (cli/worker-peers.ts); tests link several in one process to a real
 * Switchboard. Resolves once the switchboard's hello arrived, so the server starts with every
 * entry the other workers had set.
 */
import type { Entries, Peers } from './peers.ts';
import { isPeerMessage, type Downward, type Upward } from './switchboard.ts';

/** A worker's end of the channel to the switchboard. */
export interface PeerChannel {
  send(m: Upward): void;
  onMessage(listener: (m: unknown) => void): void;
}

export function linkPeers(channel: PeerChannel): Promise<Peers> {
  const send = (m: Upward) => channel.send(m);
  const listeners = new Map<string, Array<(data: unknown, from: number) => void>>();
  const entryListeners = new Map<string, Array<() => void>>();
  const entries = new Map<string, Map<string, Map<number, unknown>>>();
  // Entries that outlive their process (the supervisor keeps them too): `topic\0key\0from`.
  const lasting = new Set<string>();
  const answers = new Map<string, (data: unknown) => unknown>();
  const pending = new Map<number, (m: Downward) => void>();
  const roleListeners: Array<(on: boolean) => void> = [];
  let ids = 0;
  let self = -1;
  let background = false;

  const topicOf = (topic: string) => {
    let keys = entries.get(topic);
    if (!keys) entries.set(topic, (keys = new Map()));
    return keys;
  };
  const setEntry = (topic: string, key: string, from: number, value: unknown, lasts = false) => {
    const keys = topicOf(topic);
    const id = `${topic}\0${key}\0${from}`;
    if (lasts && value !== undefined) lasting.add(id);
    else lasting.delete(id);
    let byFrom = keys.get(key);
    if (value === undefined) {
      byFrom?.delete(from);
      if (byFrom?.size === 0) keys.delete(key);
    } else {
      if (!byFrom) keys.set(key, (byFrom = new Map()));
      byFrom.set(from, value);
    }
  };
  const changed = (topic: string) => {
    for (const l of entryListeners.get(topic) ?? []) l();
  };
  const request = (m: Upward & { id: number }): Promise<Downward> =>
    new Promise((resolve) => {
      pending.set(m.id, resolve);
      send(m);
    });

  const peers: Peers = {
    get self() {
      return self;
    },
    clustered: true,
    send: (topic, data) => send({ tc: 'send', topic, data }),
    on(topic, listener) {
      let list = listeners.get(topic);
      if (!list) listeners.set(topic, (list = []));
      list.push(listener);
    },
    set: (topic, key, value, keepUntil) => send({ tc: 'set', topic, key, ...(value === undefined ? {} : { value }), ...(keepUntil ? { keepUntil } : {}) }),
    entries: (topic): Entries => topicOf(topic),
    onEntries(topic, listener) {
      let list = entryListeners.get(topic);
      if (!list) entryListeners.set(topic, (list = []));
      list.push(listener);
    },
    async gather(topic, data, timeoutMs = 2000) {
      const reply = await request({ tc: 'ask', id: ++ids, topic, ...(data === undefined ? {} : { data }), timeoutMs });
      return reply.tc === 'answers' ? reply.list : [];
    },
    answer(topic, fn) {
      answers.set(topic, fn);
    },
    async reserve(key, limit, windowMs) {
      const reply = await request({ tc: 'reserve', id: ++ids, key, limit, windowMs });
      return reply.tc === 'reserved' ? { ok: reply.ok, retryAfterMs: reply.retryAfterMs, window: reply.window } : { ok: false, retryAfterMs: 1000, window: 0 };
    },
    giveBack: (key, window) => send({ tc: 'giveBack', key, window }),
    get background() {
      return background;
    },
    onBackground(listener) {
      roleListeners.push(listener);
    },
  };

  return new Promise((resolve) => {
    channel.onMessage((m: unknown) => {
      if (!isPeerMessage(m)) return;
      const d = m as Downward;
      switch (d.tc) {
        case 'hello':
          self = d.self;
          background = d.background;
          for (const [topic, key, from, value, lasts] of d.entries) setEntry(topic, key, from, value, lasts);
          resolve(peers);
          return;
        case 'msg':
          for (const l of listeners.get(d.topic) ?? []) l(d.data, d.from);
          return;
        case 'set':
          setEntry(d.topic, d.key, d.from, d.value, d.lasting);
          changed(d.topic);
          return;
        case 'gone':
          for (const [topic, keys] of entries) {
            let touched = false;
            for (const [key, byFrom] of keys) {
              if (!lasting.has(`${topic}\0${key}\0${d.from}`) && byFrom.delete(d.from)) touched = true;
              if (byFrom.size === 0) keys.delete(key);
            }
            if (touched) changed(topic);
          }
          return;
        case 'ask': {
          const fn = answers.get(d.topic);
          Promise.resolve(fn ? fn(d.data) : null).then(
            (data) => send({ tc: 'reply', id: d.id, data }),
            () => send({ tc: 'reply', id: d.id, data: null }),
          );
          return;
        }
        case 'answers':
        case 'reserved': {
          const done = pending.get(d.id);
          pending.delete(d.id);
          done?.(d);
          return;
        }
        case 'role':
          background = d.background;
          for (const l of roleListeners) l(background);
          return;
      }
    });
    send({ tc: 'join' });
  });
}
