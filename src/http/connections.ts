/**
 * Limits on every connection, for both server flavours (plain HTTP/1.1, and HTTPS with HTTP/2 and
 * an HTTP/1.1 fallback): a total and a per-address connection cap enforced when the socket is
 * accepted, before a byte of it is parsed; deadlines for a connection's first request, a request
 * head, a whole request and an idle connection; and the HTTP/2 session settings.
 *
 * Node gives most of these only to `http.Server`: on `Http2SecureServer` the HTTP/1.1 fallback has
 * no keep-alive timeout and checks header deadlines every 30 s, TLS handshakes may take 120 s, and
 * no server closes a connection that never sends a byte. The guard fills those gaps.
 */
import { readFileSync } from 'node:fs';
import { constants as h2, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { Server, Socket } from 'node:net';
import type { Config } from '../config.ts';

/** The settings of config.ts this module applies. */
export type ConnectionSettings = Pick<
  Config,
  'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout' | 'maxHeaderSize' | 'maxConnections' | 'maxConnectionsPerAddress' | 'http2MaxConcurrentStreams' | 'http2MaxSessionMemory'
>;

/** What the guard counted, for /metrics and /admin/connections. */
export interface ConnectionStats {
  open: number;
  /** Client addresses (IPv6: /64 prefixes) with a connection open. */
  addresses: number;
  /** The caps in force (`maxConnections` resolved). */
  limit: number;
  perAddressLimit: number;
  /** Connections closed on accept: over the per-address cap, over the total cap. */
  refused: { address: number; total: number };
  /** Connections (HTTP/2 sessions) closed because no request arrived within `headersTimeout`. */
  idleClosed: number;
  /** HTTP/2 streams reset because their body did not arrive within `requestTimeout`. */
  streamsTimedOut: number;
}

export interface ConnectionGuard {
  stats(): ConnectionStats;
  /**
   * Closes the connections that have not sent a request yet (at shutdown). Node's
   * `closeIdleConnections`, which fastify calls as it closes, counts them as busy: one a client
   * opened ahead (undici does after a stream it dropped; browsers preconnect) held the close until
   * the client gave it up (8 s for undici, minutes for browsers).
   */
  closeWaiting(): void;
}

const DEADLINE = Symbol('tablecast.firstRequestDeadline');
type Watched = Socket & { [DEADLINE]?: NodeJS.Timeout | undefined };

/** Node's checker of header and request deadlines runs on an interval; keep it a fraction of the deadline. */
const checkInterval = (s: ConnectionSettings) => Math.max(50, Math.min(1000, Math.floor(s.headersTimeout / 4)));

/**
 * Options for `http.createServer` (fastify's `http` option): the few Node reads only at construction.
 * @example Fastify({ http: { ...http1Options(config) } })
 */
export function http1Options(s: ConnectionSettings): Record<string, number> {
  return { headersTimeout: s.headersTimeout, requestTimeout: s.requestTimeout, keepAliveTimeout: s.keepAliveTimeout, maxHeaderSize: s.maxHeaderSize, connectionsCheckingInterval: checkInterval(s) };
}

/**
 * Options for `http2.createSecureServer` (fastify's `https` option): TLS handshake deadline and the
 * HTTP/2 session limits. Node has no SETTINGS-acknowledgement timeout; a session that opens no
 * stream is closed after `headersTimeout` by the guard instead.
 * @example Fastify({ http2: true, https: { allowHTTP1: true, key, cert, ...http2Options(config) } })
 */
export function http2Options(s: ConnectionSettings): Record<string, unknown> {
  return {
    handshakeTimeout: s.headersTimeout,
    maxSessionMemory: s.http2MaxSessionMemory,
    settings: { maxConcurrentStreams: s.http2MaxConcurrentStreams, maxHeaderListSize: s.maxHeaderSize },
  };
}

/**
 * The soft limit on open file descriptors of this process (Linux `/proc/self/limits`; Node raises
 * it to the hard limit at start), or undefined where it cannot be read.
 */
function fileDescriptorLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return undefined;
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * `maxConnections` as configured, or (0) the descriptor limit less a reserve of a tenth (at least
 * 128) for the store, logs, the listening socket and outgoing connections; 1,024 is assumed where
 * the limit cannot be read.
 * @example resolveMaxConnections(0, 20_000) // 18000
 */
function resolveMaxConnections(configured: number, fdLimit = fileDescriptorLimit() ?? 1024): number {
  if (configured > 0) return configured;
  return Math.max(16, fdLimit - Math.max(128, Math.floor(fdLimit / 10)));
}

/**
 * The key a connection is counted under: the IPv4 address (IPv4-mapped IPv6 included), or the /64
 * prefix of an IPv6 address, since one IPv6 client is usually given a whole /64.
 * @example addressKey('2001:db8::1') // '2001:db8:0:0::/64'
 */
function addressKey(ip: string | undefined): string {
  if (!ip) return '';
  if (ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7);
  if (!ip.includes(':')) return ip;
  const bare = ip.split('%')[0]!;
  const [head = '', tail] = bare.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

/**
 * Applies the caps and deadlines to a node server (fastify.server) before it listens.
 * @example const connections = guardConnections(fastify.server, config)
 */
export function guardConnections(server: Server, s: ConnectionSettings): ConnectionGuard {
  const limit = resolveMaxConnections(s.maxConnections);
  const perAddress = Math.min(s.maxConnectionsPerAddress, limit);
  // net.Server refuses past `maxConnections` in its accept callback, before a socket object exists.
  // The rest are read per connection (Http2SecureServer's HTTP/1.1 fallback has them as properties only).
  Object.assign(server, {
    maxConnections: limit,
    headersTimeout: s.headersTimeout,
    requestTimeout: s.requestTimeout,
    keepAliveTimeout: s.keepAliveTimeout,
    maxHeaderSize: s.maxHeaderSize,
    connectionsCheckingInterval: checkInterval(s),
  });
  const byAddress = new Map<string, number>();
  const counts = { open: 0, refusedAddress: 0, refusedTotal: 0, idleClosed: 0, streamsTimedOut: 0 };
  const secure = 'setSecureContext' in server;
  /** Connections (HTTP/1.1) whose first request has not come yet. */
  const waiting = new Set<Watched>();

  const expectRequest = (socket: Watched) => {
    const start = socket.bytesRead;
    waiting.add(socket);
    // A millisecond ahead of Node's own header deadline, which also covers a connection that sent
    // nothing and would answer it 408: due in the same millisecond, either timer could run first.
    socket[DEADLINE] = setTimeout(
      () => {
        // A head has begun: Node's header deadline owns it from here, and answers 408.
        if (socket.bytesRead > start) return;
        counts.idleClosed++;
        socket.destroy();
      },
      Math.max(1, s.headersTimeout - 1),
    );
    socket.once('close', () => {
      clearTimeout(socket[DEADLINE]);
      waiting.delete(socket);
    });
  };

  server.on('drop', () => counts.refusedTotal++);
  // First among the listeners, so a refused socket is closed before HTTP or TLS looks at it.
  server.prependListener('connection', (socket: Socket) => {
    const key = addressKey(socket.remoteAddress);
    const n = byAddress.get(key) ?? 0;
    if (n >= perAddress) {
      counts.refusedAddress++;
      socket.destroy();
      return;
    }
    byAddress.set(key, n + 1);
    counts.open++;
    socket.once('close', () => {
      counts.open--;
      const left = (byAddress.get(key) ?? 1) - 1;
      if (left === 0) byAddress.delete(key);
      else byAddress.set(key, left);
    });
    // Before a TLS handshake completes, `handshakeTimeout` is the deadline.
    if (!secure) expectRequest(socket);
  });
  if (secure) {
    server.on('secureConnection', (socket: Socket & { alpnProtocol?: string | false }) => {
      if (socket.alpnProtocol !== 'h2') expectRequest(socket);
    });
  }
  // A connection's first request lifts its deadline; from then on Node's header, request and
  // keep-alive timeouts apply.
  server.on('request', (request: IncomingMessage) => {
    // HTTP/2 sessions have their own deadline; `socket` there would build a proxy per stream.
    if (request.httpVersionMajor === 2) return;
    const socket: Watched = request.socket;
    if (socket[DEADLINE]) {
      clearTimeout(socket[DEADLINE]);
      socket[DEADLINE] = undefined;
      waiting.delete(socket);
    }
  });
  server.on('session', (session: Http2Session) => {
    const timer = setTimeout(() => {
      counts.idleClosed++;
      session.destroy();
    }, s.headersTimeout);
    const clear = () => clearTimeout(timer);
    session.once('stream', clear);
    session.once('close', clear);
  });
  // Node bounds only HTTP/1.1 requests by `requestTimeout`; an HTTP/2 request body gets the same deadline.
  server.on('stream', (stream: ServerHttp2Stream) => {
    if (stream.endAfterHeaders) return;
    const timer = setTimeout(() => {
      if (stream.destroyed || stream.readableEnded) return;
      counts.streamsTimedOut++;
      stream.close(h2.NGHTTP2_CANCEL);
    }, s.requestTimeout);
    const clear = () => clearTimeout(timer);
    stream.once('end', clear);
    stream.once('close', clear);
  });

  return {
    closeWaiting() {
      // A head that has begun is a request on its way: Node answers it (503 while closing).
      for (const socket of waiting) if (socket.bytesRead === 0) socket.destroy();
    },
    stats: () => ({
      open: counts.open,
      addresses: byAddress.size,
      limit,
      perAddressLimit: perAddress,
      refused: { address: counts.refusedAddress, total: counts.refusedTotal },
      idleClosed: counts.idleClosed,
      streamsTimedOut: counts.streamsTimedOut,
    }),
  };
}
