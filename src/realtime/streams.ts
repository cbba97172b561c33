/**
 * The registry of every open subscriber, whatever its transport (SSE streams, GraphQL
 * subscriptions, programmatic subscriptions, channel clients): admission limits (total and per
 * client address), one shared heartbeat timer for byte streams (a `ping` frame serialised once per
 * tick, sent only to streams that were quiet), counters for metrics and `/admin/connections`, and
 * ending every subscriber on shutdown. One registry, so a limit holds across transports.
 */
import { AppError } from '../errors.ts';
import { soloPeers, type Peers } from '../peers/peers.ts';
import { encodeSseFrame } from './sse.ts';
import type { CloseReason, StreamWriter } from './stream-writer.ts';

/** The peers topic of stream counts: per client address, and the total under {@link TOTAL}. */
const SHARED = 'streams';
/** Not an address (addresses have no spaces). */
const TOTAL = 'all streams';

export interface StreamLimits {
  /** Most open streams in total. */
  maxStreams: number;
  /** Most open streams from one client address. */
  maxStreamsPerAddress: number;
  /** Heartbeat interval (ms). */
  pingInterval: number;
}

/** How a subscriber reaches its client. */
export type Transport = 'sse' | 'graphql' | 'api' | 'channel';

export interface OpenStream {
  address: string;
  /** Table id, for per-table counts (`channels` for channel clients). */
  table: string;
  transport: Transport;
  /** Ends the subscriber for a reason of the server's (shutdown, an expired credential). */
  end(reason: CloseReason): void;
  /** Byte streams (SSE, channels): heartbeats and queue depth. */
  writer?: StreamWriter;
  /** Events waiting for a subscriber without a writer (iterators). */
  queued?(): number;
  /** True once the credential that opened it no longer holds (checked each heartbeat; it then ends as `expired`). */
  lapsed?(): boolean;
}

export interface StreamStats {
  open: number;
  opened: number;
  /** Streams cut because their queue overflowed. */
  cutSlow: number;
  /** Heartbeats sent. */
  pings: number;
  /** Frames that were still queued on streams when they ended (cut or closed). */
  framesDropped: number;
  rejected: number;
  /** Subscribers cut when the credential that opened them expired. */
  expired: number;
  byTable: { [table: string]: number };
  byTransport: { [transport in Transport]?: number };
  /** Frames waiting in all stream queues, and in the fullest one. */
  queued: number;
  maxQueued: number;
}

export interface StreamRegistry {
  /** Throws `TOO_MANY_REQUESTS` (with `Retry-After`) when a limit is reached; call before opening. */
  admit(address: string): void;
  add(stream: OpenStream): void;
  /** `dropped`: frames the stream still had queued when it ended. */
  remove(stream: OpenStream, reason: CloseReason, dropped?: number): void;
  /** Closes every stream (shutdown); new ones are refused afterwards. */
  closeAll(): void;
  stats(): StreamStats;
  readonly size: number;
}

/**
 * Creates the registry and starts its heartbeat.
 * @example const streams = createStreamRegistry({ maxStreams: 10_000, maxStreamsPerAddress: 200, pingInterval: 15_000 })
 */
export function createStreamRegistry(limits: StreamLimits, now: () => number = Date.now, peers: Peers = soloPeers()): StreamRegistry {
  const open = new Set<OpenStream>();
  const perAddress = new Map<string, number>();
  // The other workers' counts (peers/): each publishes its count per address and its total, so a
  // limit is the server's, checked here without a round trip. Two workers admitting the last slot
  // in the same instant can both pass: the server may go over by at most workers − 1 streams.
  const others = (key: string): number => {
    let n = 0;
    for (const v of peers.entries(SHARED).get(key)?.values() ?? []) n += v as number;
    return n;
  };
  const publish = (address: string) => {
    if (!peers.clustered) return;
    peers.set(SHARED, address, perAddress.get(address));
    peers.set(SHARED, TOTAL, open.size || undefined);
  };
  const stats = { opened: 0, cutSlow: 0, pings: 0, rejected: 0, framesDropped: 0, expired: 0 };
  let closing = false;

  const retryAfter = String(Math.max(1, Math.ceil(limits.pingInterval / 1000)));
  const refuse = (message: string) => {
    stats.rejected++;
    return new AppError('TOO_MANY_REQUESTS', message, { headers: { 'retry-after': retryAfter } });
  };

  const timer = setInterval(() => {
    const t = now();
    let frame: string | undefined;
    // A revoked token or a changed password ends what it opened within a heartbeat, on every
    // transport (deleting the current entry of a Set while iterating it is safe).
    for (const stream of open) if (stream.lapsed?.()) stream.end('expired');
    for (const { writer } of open) {
      // A stream that carried real traffic recently needs no heartbeat (Mercure's rule).
      if (!writer || t - writer.lastWrite < limits.pingInterval * 0.9) continue;
      frame ??= encodeSseFrame({ event: 'ping', data: JSON.stringify({ time: t }) });
      writer.write(frame);
      stats.pings++;
    }
  }, limits.pingInterval);
  timer.unref();

  return {
    admit(address) {
      if (closing) throw new AppError('SERVICE_UNAVAILABLE', 'the server is shutting down');
      if (open.size + others(TOTAL) >= limits.maxStreams) throw refuse(`too many open streams (limit ${limits.maxStreams})`);
      if ((perAddress.get(address) ?? 0) + others(address) >= limits.maxStreamsPerAddress) {
        throw refuse(`too many open streams from ${address} (limit ${limits.maxStreamsPerAddress})`);
      }
    },
    add(stream) {
      open.add(stream);
      stats.opened++;
      perAddress.set(stream.address, (perAddress.get(stream.address) ?? 0) + 1);
      publish(stream.address);
    },
    remove(stream, reason, dropped = 0) {
      if (!open.delete(stream)) return;
      if (reason === 'slow') stats.cutSlow++;
      if (reason === 'expired') stats.expired++;
      stats.framesDropped += dropped;
      const n = (perAddress.get(stream.address) ?? 1) - 1;
      if (n <= 0) perAddress.delete(stream.address);
      else perAddress.set(stream.address, n);
      publish(stream.address);
    },
    closeAll() {
      closing = true;
      clearInterval(timer);
      for (const s of [...open]) s.end('shutdown');
    },
    stats() {
      const byTable: { [table: string]: number } = {};
      const byTransport: StreamStats['byTransport'] = {};
      let queued = 0;
      let maxQueued = 0;
      for (const s of open) {
        byTable[s.table] = (byTable[s.table] ?? 0) + 1;
        byTransport[s.transport] = (byTransport[s.transport] ?? 0) + 1;
        const q = s.writer ? s.writer.queued : (s.queued?.() ?? 0);
        queued += q;
        if (q > maxQueued) maxQueued = q;
      }
      return { open: open.size, ...stats, byTable, byTransport, queued, maxQueued };
    },
    get size() {
      return open.size;
    },
  };
}
