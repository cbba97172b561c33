/**
 * Named channels for custom SSE endpoints (seeds 003 and 004): application code adds a client for
 * a request, subscribes it to channels, and broadcasts from anywhere. Channel clients are ordinary
 * streams of the registry, so they share its limits, heartbeat, slow-consumer cut-off, metrics and
 * shutdown with table streams. Channel events are not stored: they are for this moment's listeners
 * (table changes, which must survive disconnects, go through the change log instead).
 */
import { randomUUID } from 'node:crypto';
import { encodeSseFrame } from './sse.ts';
import { createStreamWriter, type Sink, type StreamWriter } from './stream-writer.ts';
import type { OpenStream, StreamRegistry } from './streams.ts';

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
}

export interface ChannelHub {
  /** Throws TOO_MANY_REQUESTS when the stream limits are reached (call before opening a response). */
  admit(address: string): void;
  /** Registers an open SSE response as a client; writes `retry:` and a connected frame. */
  addClient(options: AddClientOptions): ChannelClient;
  removeClient(clientId: string): void;
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
  retry: number;
  maxFrames: number;
  maxBytes: number;
}

/**
 * Creates the channel hub.
 * @example const sse = createChannelHub({ streams, retry: 3000, maxFrames: 1000, maxBytes: 4 << 20 })
 */
export function createChannelHub(options: ChannelHubOptions): ChannelHub {
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

  const hub: ChannelHub = {
    admit: (address) => options.streams.admit(address),
    addClient({ sink, address, lastEventId, channels = [] }) {
      options.streams.admit(address);
      const client: ChannelClient = { id: randomUUID(), channels: new Set(), createdAt: new Date(), address, ...(lastEventId ? { lastEventId } : {}) };
      const stream: OpenStream = { address, table: 'channels', transport: 'channel', end: (reason) => writer.close(reason) };
      const writer = createStreamWriter(sink, { maxFrames: options.maxFrames, maxBytes: options.maxBytes }, (reason, dropped) => {
        for (const ch of client.channels) members.get(ch)?.delete(client.id);
        clients.delete(client.id);
        options.streams.remove(stream, reason, dropped);
      });
      stream.writer = writer;
      options.streams.add(stream);
      clients.set(client.id, { client, writer, stream });
      for (const ch of channels) hub.subscribe(client.id, ch);
      writer.write(encodeSseFrame({ retry: options.retry }) + frameOf('message', { type: 'connected', status: 'ok', clientId: client.id }));
      return client;
    },
    removeClient(clientId) {
      clients.get(clientId)?.writer.close('shutdown');
    },
    getClient: (clientId) => clients.get(clientId)?.client,
    subscribe(clientId, channel) {
      const entry = clients.get(clientId);
      if (!entry) return false;
      entry.client.channels.add(channel);
      let set = members.get(channel);
      if (!set) members.set(channel, (set = new Set()));
      set.add(clientId);
      return true;
    },
    unsubscribe(clientId, channel) {
      const entry = clients.get(clientId);
      if (!entry?.client.channels.delete(channel)) return false;
      const set = members.get(channel);
      set?.delete(clientId);
      if (set?.size === 0) members.delete(channel);
      return true;
    },
    broadcast: (channel, event, data, id) => deliver(members.get(channel) ?? [], frameOf(event, data, id)),
    broadcastAll: (event, data, id) => deliver(clients.keys(), frameOf(event, data, id)),
    sendTo: (clientId, event, data, id) => deliver([clientId], frameOf(event, data, id)) === 1,
    getClients: () => [...clients.values()].map((e) => e.client),
    getClientsByChannel: (channel) => [...(members.get(channel) ?? [])].map((id) => clients.get(id)!.client),
    channel(name) {
      return {
        name,
        send: ({ type, data, id }) => hub.broadcast(name, type, data, id),
        count: () => members.get(name)?.size ?? 0,
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
  return hub;
}
