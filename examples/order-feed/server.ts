/**
 * Example: a live order feed for a shop dashboard, built on tablecast's programmatic API.
 *
 * - `GET /dashboard/live` is a custom fastify route that opens an SSE stream with `server.sse`
 *   and subscribes the client to the `orders` channel (and `alerts`, for admins' notices).
 * - A background loop follows the `shop/order` table's change feed with `server.tables` and
 *   broadcasts a compact `new_order` event plus a running `stats` event on the channel.
 * - `POST /dashboard/alert` broadcasts a one-off notice; `GET /dashboard/clients` shows who listens.
 * - `public/` is a page served from the same origin (`static`): it logs in with the session cookie
 *   and follows `/shop/order?stream=sse` with EventSource (README.md next to this file).
 *
 * Run it: `node --import tsx examples/order-feed/server.ts`, open https://localhost:9996/ (user
 * `clerk`, password `orders-demo`), or
 *   curl -sk https://localhost:9996/dashboard/live
 *   curl -sk -X POST https://localhost:9996/shop/order -H 'Content-Type: application/json' \
 *     -d '{"customerEmail":"ann@example.com","lines":[{"productId":"p1","quantity":2,"unitPrice":4.5}],"total":9}'
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer, type ServerOptions, type TablecastServer } from '../../src/index.ts';

export interface OrderFeed {
  server: TablecastServer;
  /** Stops following the change feed (the server's own close() does too). */
  stop(): Promise<void>;
}

/**
 * Builds the shop server with the dashboard routes; call `server.listen()` to serve.
 * @example const { server } = await createOrderFeed({ port: 0, data: './data' }); await server.listen()
 */
export async function createOrderFeed(options: ServerOptions = {}): Promise<OrderFeed> {
  const server = await createServer({ schemas: new URL('../../schemas', import.meta.url).pathname, ...options });
  const orders = server.tables['shop']!['order']!;
  const channel = server.sse.channel('orders');
  let count = 0;
  let revenue = 0;

  server.fastify.get('/dashboard/live', (request, reply) => {
    server.sse.addClient(request, reply, { channels: ['orders', 'alerts'] });
  });
  server.fastify.post('/dashboard/alert', async (request) => {
    const body = request.body as { message?: unknown };
    const delivered = server.sse.broadcast('alerts', 'alert', { message: String(body?.message ?? '') });
    return { delivered };
  });
  server.fastify.get('/dashboard/clients', async () => ({ ...server.sse.stats(), listening: channel.count() }));

  // Follow committed orders from now on; every write path (REST, GraphQL, this API) lands here.
  const feed = orders.subscribe();
  const loop = (async () => {
    for await (const event of feed) {
      if (event.type !== 'update' || event.record === undefined) continue;
      const order = event.record as { id: number; customerEmail: string; total: number; lines: unknown[] };
      count++;
      revenue += order.total;
      channel.send({ type: 'new_order', id: String(event.seq), data: { id: order.id, customer: order.customerEmail, total: order.total, items: order.lines.length } });
      channel.send({ type: 'stats', data: { orders: count, revenue } });
    }
  })();
  const stop = async () => {
    await feed.return?.();
    await loop;
  };
  server.fastify.addHook('preClose', stop);
  return { server, stop };
}

/** The page's directory, for the `static` setting. */
export const PUBLIC_DIR = fileURLToPath(new URL('./public', import.meta.url));

if (import.meta.url === `file://${process.argv[1]}`) {
  // The demo user and role (tablecast.config.json next to this file), and the page.
  const { auth } = JSON.parse(readFileSync(new URL('./tablecast.config.json', import.meta.url), 'utf8'));
  const { server } = await createOrderFeed({ auth, static: { dir: PUBLIC_DIR } });
  const url = await server.listen();
  server.log.info(`order feed: the page on ${url}/, the dashboard stream on ${url}/dashboard/live`);
}
