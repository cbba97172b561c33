/**
 * HTTP/2 sessions that end, and their sockets that must end with them.
 *
 * Node ends an HTTP/2 session gracefully (`session.close()`: GOAWAY, then the socket's write side)
 * and then waits for the peer to close its side before it lets the socket go. A peer that never
 * does (a half-open client, or one whose FIN the session's native layer read just before the close)
 * keeps the socket open for good: `server.close()` never calls back, so shutdown hangs; and as the
 * socket is no longer referenced, a process with nothing else to do exits in the middle of closing
 * its store. fastify's idle timeout closes sessions the same way, so an idle half-open peer also
 * keeps its file descriptor.
 *
 * Here every session's socket is known, and a socket whose session is already destroyed (no stream
 * left, GOAWAY written) is destroyed after a short grace: enough for the GOAWAY and FIN to leave,
 * not enough for a peer to hold anything. In service a sweep every second finds them; during
 * shutdown a referenced sweep keeps the event loop alive until every session is gone.
 */
import type { Socket } from 'node:net';

interface Session {
  readonly destroyed: boolean;
  close(): void;
  once(event: 'close', listener: () => void): unknown;
}

interface Http2Server {
  readonly listening: boolean;
  on(event: 'session', listener: (session: Session) => void): unknown;
  on(event: 'secureConnection', listener: (socket: Socket) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
}

export interface Http2Sessions {
  /** Sends every open session GOAWAY and sees to it that each one's socket is gone soon after. */
  closeAll(): void;
}

/** How long a destroyed session's socket may stay open for its last bytes to leave. */
const GRACE_MS = 200;
const SERVICE_SWEEP_MS = 1000;
const SHUTDOWN_SWEEP_MS = 25;

export function trackHttp2Sessions(server: Http2Server): Http2Sessions {
  const sessions = new Map<Session, { socket?: Socket; stuckSince: number }>();
  let created: Session | undefined;
  let closing = false;
  server.on('session', (session) => {
    sessions.set(session, { stuckSince: 0 });
    session.once('close', () => sessions.delete(session));
    // A connection that was being accepted as shutdown began: it gets GOAWAY too.
    if (closing) setImmediate(() => session.close());
    // Node emits 'session' from its own 'secureConnection' listener, registered before ours: the
    // listener below receives this session's socket next, synchronously.
    created = session;
  });
  server.on('secureConnection', (socket) => {
    const entry = created && sessions.get(created);
    created = undefined;
    if (entry) entry.socket = socket; // none: HTTP/1.1 over TLS, which fastify closes when idle
  });

  const sweep = (now: number) => {
    for (const [session, entry] of sessions) {
      if (!session.destroyed) continue;
      if (!entry.socket || entry.socket.destroyed) sessions.delete(session);
      else if (entry.stuckSince === 0) entry.stuckSince = now;
      else if (now - entry.stuckSince >= GRACE_MS) {
        entry.socket.destroy();
        sessions.delete(session);
      }
    }
  };
  const service = setInterval(() => sweep(Date.now()), SERVICE_SWEEP_MS).unref();
  let shutdown: NodeJS.Timeout | undefined;
  server.once('close', () => {
    clearInterval(service);
    clearInterval(shutdown);
  });

  return {
    closeAll() {
      closing = true;
      for (const session of sessions.keys()) session.close();
      // Until the server has closed (every connection gone): sessions accepted meanwhile included.
      if (server.listening) shutdown ??= setInterval(() => sweep(Date.now()), SHUTDOWN_SWEEP_MS);
    },
  };
}
