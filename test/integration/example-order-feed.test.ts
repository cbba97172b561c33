/**
 * The example app (examples/order-feed): a custom fastify route streaming with `server.sse`,
 * fed by `server.tables` change events, seen through a real SSE client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createOrderFeed } from '../../examples/order-feed/server.ts';
import { httpRequest, tmpDir } from '../helpers/server.ts';
import { eventually, json, openSse } from '../helpers/sse.ts';

test('orders written through REST and the table API reach dashboard clients on the channel', async (t) => {
  const data = tmpDir();
  const { server } = await createOrderFeed({ port: 0, host: '127.0.0.1', tls: false, logLevel: 'silent', data });
  const url = await server.listen();
  t.after(async () => {
    await server.close();
    rmSync(data, { recursive: true, force: true });
  });

  const live = await openSse(`${url}/dashboard/live`);
  assert.equal(live.status, 200);
  assert.match(String(live.headers['content-type']), /^text\/event-stream/);
  const [retry, hello] = await live.next(2);
  assert.equal(retry!.retry, 3000);
  assert.equal(json(hello!).type, 'connected');
  await eventually(() => server.sse.channel('orders').count() === 1, 'the client joined the orders channel');

  const clients = await httpRequest(`${url}/dashboard/clients`);
  assert.deepEqual(clients.body, { clients: 1, channels: { orders: 1, alerts: 1 }, listening: 1 });

  const line = { productId: 'p1', quantity: 2, unitPrice: 4.5 };
  const created = await httpRequest(`${url}/shop/order`, 'POST', { customerEmail: 'ann@example.com', lines: [line], total: 9 });
  assert.equal(created.status, 201);
  const order = await live.until((f) => f.event === 'new_order');
  assert.deepEqual(json(order), { id: created.body.id, customer: 'ann@example.com', total: 9, items: 1 });
  assert.ok(Number(order.id) > 0, 'the channel event carries the change sequence number as its id');
  assert.deepEqual(json(await live.until((f) => f.event === 'stats')), { orders: 1, revenue: 9 });

  await server.tables.shop!.order!.create({ customerEmail: 'bo@example.com', lines: [line, line], total: 18 });
  assert.equal(json(await live.until((f) => f.event === 'new_order')).customer, 'bo@example.com');
  assert.deepEqual(json(await live.until((f) => f.event === 'stats')), { orders: 2, revenue: 27 });

  const alert = await httpRequest(`${url}/dashboard/alert`, 'POST', { message: 'restock soon' });
  assert.deepEqual(alert.body, { delivered: 1 });
  assert.deepEqual(json(await live.until((f) => f.event === 'alert')), { message: 'restock soon' });

  live.close();
  // The example's own table subscription (transport `api`) stays open; the channel client is gone.
  await eventually(() => server.sse.getClients().length === 0 && (server.streams.stats().byTransport.channel ?? 0) === 0, 'the client was removed on disconnect');
});
