/**
 * Named channels for custom SSE endpoints (seeds 003 and 004): application code adds a client for
 * a request, subscribes it to channels, and broadcasts from anywhere. Channel clients are ordinary
 * streams of the registry, so they share its limits, heartbeat, slow-consumer cut-off, metrics and
 * shutdown with table streams. Channel events are not stored: they are for this moment's listeners
 * (table changes, which must survive disconnects, go through the change log instead).
 */
import { randomUUID } from 'node:crypto';
import { encodeSseFrame } from './sse.ts';
import { createStreamWriter, type CloseReason, type Sink, type StreamWriter } from './stream-writer.ts';
import type { OpenStream, StreamRegistry } from './streams.ts';
import { soloPeers, type Peers } from '../peers/peers.ts';

export interface ChannelClient {
  id: string;
  channels: Set<string>;
  createdAt: Date;
  /** The `Last-Event-ID` the client reconnected with, if any. */
  lastEventId?: string;
  /** Client address. */
  address: string;
}

/** A seed-003 style handle on one channel. */
export interface Channel {
  readonly name: string;
  /** Sends `{ type, data, id? }` to every subscriber; objects are sent as JSON. */
  send(event: { type: string; data: unknown; id?: string }): number;
  /** Subscribers right now. */
  count(): number;
}

export interface AddClientOptions {
  sink: Sink;
  address: string;
  lastEventId?: string;
  /** Channels to join at once. */
  channels?: readonly string[];
  /** When the credential that opened the stream expires (epoch ms): the stream ends then. */
  expiresAt?: number;
  /** True once that credential no longer holds (revoked, password changed): the stream ends at the next heartbeat. */
  lapsed?: () => boolean;
}

export interface ChannelHub {
  /** Throws TOO_MANY_REQUESTS when the stream limits are reached (call before opening a response). */
  admit(address: string): void;
  /** Registers an open SSE response as a client; writes `retry:` and a connected frame. */
  addClient(options: AddClientOptions): ChannelClient;
  /** Ends a client's stream; `reason` (default `shutdown`) is what metrics count it under. */
  removeClient(clientId: string, reason?: CloseReason): void;
  getClient(clientId: string): ChannelClient | undefined;
  subscribe(clientId: string, channel: string): boolean;
  unsubscribe(clientId: string, channel: string): boolean;
  /** Sends to every subscriber of a channel; returns how many got it. */
  broadcast(channel: string, event: string, data: unknown, id?: string): number;
  broadcastAll(event: string, data: unknown, id?: string): number;
  sendTo(clientId: string, event: string, data: unknown, id?: string): boolean;
  getClients(): ChannelClient[];
  getClientsByChannel(channel: string): ChannelClient[];
  channel(name: string): Channel;
  /** Counts for admins: clients, and clients per channel. */
  stats(): { clients: number; channels: { [channel: string]: number } };
  shutdown(): void;
}

export interface ChannelHubOptions {
  streams: StreamRegistry;
  /** The server's other processes: channel events and the client directory cross them (default: none). */
  peers?: Peers;
  retry: number;
  maxFrames: number;
  maxBytes: number;
}

/**
 * Creates the channel hub.
 * @example const sse = createChannelHub({ streams, retry: 3000, maxFrames: 1000, maxBytes: 4 << 20 })
 */
export function createChannelHub(options: ChannelHubOptions): ChannelHub {
  const peers = options.peers ?? soloPeers();
  const clients = new Map<string, { client: ChannelClient; writer: StreamWriter; stream: OpenStream }>();
  const members = new Map<string, Set<string>>();

  const frameOf = (event: string, data: unknown, id?: string) => encodeSseFrame({ event, data: typeof data === 'string' ? data : JSON.stringify(data ?? null), ...(id !== undefined ? { id } : {}) });

  const deliver = (ids: Iterable<string>, frame: string): number => {
    let n = 0;
    for (const id of ids) {
      const entry = clients.get(id);
      if (!entry || entry.writer.closed) continue;
      entry.writer.write(frame);
      n++;
    }
    return n;
  };

  // ---- the other workers' clients (peers/): a directory of them, and their events by message.
  /** Tells the other workers what this one's client is (or that it is gone). */
  const publish = (client: ChannelClient | undefined, id: string) => {
    if (!peers.clustered) return;
    peers.set(
      DIRECTORY,
      id,
      client ? { address: client.address, createdAt: client.createdAt.getTime(), channels: [...client.channels], ...(client.lastEventId ? { lastEventId: client.lastEventId } : {}) } : undefined,
    );
  };
  const remote = (id: string): ChannelClient | undefined => {
    for (const v of peers.entries(DIRECTORY).get(id)?.values() ?? []) {
      const d = v as SharedClient;
      return { id, address: d.address, createdAt: new Date(d.createdAt), channels: new Set(d.channels), ...(d.lastEventId ? { lastEventId: d.lastEventId } : {}) };
    }
    return undefined;
  };
  const remoteClients = (): ChannelClient[] => [...peers.entries(DIRECTORY).keys()].map((id) => remote(id)!).filter(Boolean);
  const remoteIn = (channel: string): ChannelClient[] => remoteClients().filter((c) => c.channels.has(channel));
  // Subscribers per channel, shared apart from the directory so that counting one channel (the
  // per-channel limit, checked on every subscribe) costs a look-up per worker, not a walk of every client.
  const shareCount = (channel: string) => {
    if (peers.clustered) peers.set(COUNTS, channel, members.get(channel)?.size || undefined);
  };
  const elsewhere = (channel: string): number => {
    let n = 0;
    for (const v of peers.entries(COUNTS).get(channel)?.values() ?? []) n += v as number;
    return n;
  };
  peers.on(EVENTS, (data) => {
    const m = data as RemoteEvent;
    if (m.to === 'channel') deliver(members.get(m.channel!) ?? [], m.frame);
    else if (m.to === 'all') deliver(clients.keys(), m.frame);
    else if (m.to === 'client') deliver([m.client!], m.frame);
  });
  peers.on(CONTROL, (data) => {
    const m = data as RemoteControl;
    if (!clients.has(m.client)) return;
    if (m.op === 'remove') hub.removeClient(m.client);
    else if (m.op === 'subscribe') hub.subscribe(m.client, m.channel!);
    else hub.unsubscribe(m.client, m.channel!);
  });

  const hub: ChannelHub = {
    admit: (address) => options.streams.admit(address),
    addClient({ sink, address, lastEventId, channels = [], expiresAt, lapsed }) {
      options.streams.admit(address);
      const client: ChannelClient = { id: randomUUID(), channels: new Set(), createdAt: new Date(), address, ...(lastEventId ? { lastEventId } : {}) };
      const stream: OpenStream = { address, table: 'channels', transport: 'channel', end: (reason) => writer.close(reason), ...(lapsed ? { lapsed } : {}) };
      // A stream lives no longer than the credential that opened it (SPEC §4), whatever its route.
      const expiry = expiresAt === undefined ? undefined : setTimeout(() => writer.close('expired'), Math.min(MAX_TIMER, Math.max(0, expiresAt - Date.now())));
      expiry?.unref();
      const writer = createStreamWriter(sink, { maxFrames: options.maxFrames, maxBytes: options.maxBytes }, (reason, dropped) => {
        if (expiry) clearTimeout(expiry);
        for (const ch of client.channels) leave(client.id, ch);
        clients.delete(client.id);
        publish(undefined, client.id);
        options.streams.remove(stream, reason, dropped);
      });
      stream.writer = writer;
      options.streams.add(stream);
      clients.set(client.id, { client, writer, stream });
      for (const ch of channels) join(client, ch);
      publish(client, client.id);
      writer.write(encodeSseFrame({ retry: options.retry }) + frameOf('message', { type: 'connected', status: 'ok', clientId: client.id }));
      return client;
    },
    removeClient(clientId, reason = 'shutdown') {
      const local = clients.get(clientId);
      if (local) local.writer.close(reason);
      else if (remote(clientId)) peers.send(CONTROL, { op: 'remove', client: clientId } satisfies RemoteControl);
    },
    getClient: (clientId) => clients.get(clientId)?.client ?? remote(clientId),
    subscribe(clientId, channel) {
      const entry = clients.get(clientId);
      if (!entry) return sendControl(clientId, 'subscribe', channel);
      join(entry.client, channel);
      publish(entry.client, clientId);
      return true;
    },
    unsubscribe(clientId, channel) {
      const entry = clients.get(clientId);
      if (!entry) return sendControl(clientId, 'unsubscribe', channel);
      if (!entry.client.channels.delete(channel)) return false;
      leave(clientId, channel);
      publish(entry.client, clientId);
      return true;
    },
    broadcast(channel, event, data, id) {
      const frame = frameOf(event, data, id);
      if (peers.clustered) peers.send(EVENTS, { to: 'channel', channel, frame } satisfies RemoteEvent);
      return deliver(members.get(channel) ?? [], frame) + elsewhere(channel);
    },
    broadcastAll(event, data, id) {
      const frame = frameOf(event, data, id);
      if (peers.clustered) peers.send(EVENTS, { to: 'all', frame } satisfies RemoteEvent);
      return deliver(clients.keys(), frame) + (peers.clustered ? peers.entries(DIRECTORY).size : 0);
    },
    sendTo(clientId, event, data, id) {
      const frame = frameOf(event, data, id);
      if (clients.has(clientId)) return deliver([clientId], frame) === 1;
      if (!remote(clientId)) return false;
      peers.send(EVENTS, { to: 'client', client: clientId, frame } satisfies RemoteEvent);
      return true;
    },
    getClients: () => [...[...clients.values()].map((e) => e.client), ...remoteClients()],
    getClientsByChannel: (channel) => [...[...(members.get(channel) ?? [])].map((id) => clients.get(id)!.client), ...remoteIn(channel)],
    channel(name) {
      return {
        name,
        send: ({ type, data, id }) => hub.broadcast(name, type, data, id),
        count: () => (members.get(name)?.size ?? 0) + elsewhere(name),
      };
    },
    stats() {
      const channels: { [channel: string]: number } = {};
      for (const [name, set] of members) if (set.size > 0) channels[name] = set.size;
      return { clients: clients.size, channels };
    },
    shutdown() {
      for (const { writer } of [...clients.values()]) writer.close('shutdown');
    },
  };

  function join(client: ChannelClient, channel: string): void {
    client.channels.add(channel);
    let set = members.get(channel);
    if (!set) members.set(channel, (set = new Set()));
    set.add(client.id);
    shareCount(channel);
  }

  function leave(clientId: string, channel: string): void {
    const set = members.get(channel);
    if (!set?.delete(clientId)) return;
    if (set.size === 0) members.delete(channel);
    shareCount(channel);
  }

  /** Asks the worker holding a client to change its channels; false when no worker holds it. */
  function sendControl(clientId: string, op: 'subscribe' | 'unsubscribe', channel: string): boolean {
    const other = remote(clientId);
    if (!other) return false;
    if (op === 'unsubscribe' && !other.channels.has(channel)) return false;
    peers.send(CONTROL, { op, client: clientId, channel } satisfies RemoteControl);
    return true;
  }

  return hub;
}

/** Peers topics: the client directory, events for other workers' clients, and changes to their channels. */
const DIRECTORY = 'channel-clients';
const EVENTS = 'channel-events';
const CONTROL = 'channel-control';
const COUNTS = 'channel-counts';
/** setTimeout's longest delay (24.8 days): a credential valid longer ends its stream then, early rather than never. */
const MAX_TIMER = 2 ** 31 - 1;

/** A client of another worker, as the directory holds it (IPC carries JSON: no Set, no Date). */
interface SharedClient {
  address: string;
  createdAt: number;
  channels: string[];
  lastEventId?: string;
}

/** A frame (encoded once, by the sender) for other workers' clients. */
interface RemoteEvent {
  to: 'channel' | 'all' | 'client';
  channel?: string;
  client?: string;
  frame: string;
}

interface RemoteControl {
  op: 'remove' | 'subscribe' | 'unsubscribe';
  client: string;
  channel?: string;
}
