/**
 * The order in which `server.close()` (and so SIGTERM/SIGINT) takes the server down. Open streams
 * and idle HTTP/2 sessions would keep fastify's close waiting (streams forever, sessions until
 * their 72 s timeout), so they are ended first and clients reconnect, elsewhere if there is
 * somewhere else; then fastify stops, and last the app closes LMDB after the writes in flight.
 */
import type { FastifyInstance } from 'fastify';
import type { App } from '../core/app.ts';
import type { LazyGraphql } from '../graphql/lazy.ts';
import type { ConnectionGuard } from '../http/connections.ts';
import type { Http2Sessions } from '../http/http2-sessions.ts';

export function closeInOrder(
  fastify: FastifyInstance,
  parts: { app: App; graphql: LazyGraphql; sessions: Http2Sessions | undefined; connections: ConnectionGuard; cluster?: { close(): Promise<void> } },
): void {
  const { app, graphql, sessions } = parts;
  fastify.addHook('preClose', async () => {
    // GraphQL subscriptions first, dropped without `complete`: graphql-sse clients would take a
    // `complete` as the end for good, and ending them below would send one.
    graphql.dropStreams();
    app.streams.closeAll();
    app.endSubscriptions();
    // GOAWAY to every HTTP/2 session; a peer that never closes its side loses its socket.
    sessions?.closeAll();
    parts.connections.closeWaiting();
  });
  // A cluster node stops applying the log before the store closes under it.
  fastify.addHook('onClose', async () => {
    await parts.cluster?.close();
    await app.close();
  });
}
