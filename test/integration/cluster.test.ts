/**
 * Three tablecast nodes (real servers, each with its own LMDB in a temp dir) joined through a real
 * three-server JetStream cluster (R3): SPEC §10. One order for every node (same ids everywhere, a
 * stream resumes on another node exactly), the same decisions everywhere (one 201 and one 409 for a
 * key created on two nodes at once, one winner of an If-Match race, integer keys counted alike),
 * expiry deleted once, and writes refused with 503 CLUSTER_UNAVAILABLE, not lost, without NATS.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer, type ServerOptions } from '../../src/server.ts';
import { hashPassword } from '../../src/auth/password.ts';
import { httpRequest, MESSAGE_SDL, schemaDir, startServer, tmpDir, type TestServer } from '../helpers/server.ts';
import { json, openSse } from '../helpers/sse.ts';
import { clusterNodes, settled } from '../helpers/cluster-nodes.ts';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

const COUNTER_SDL = `type Counter @table(database: "c") @export(name: "counter") {
  id: Int! @primaryKey
  name: String!
}
type Note @table(database: "c", expiration: 1) @export(name: "note") {
  id: ID! @primaryKey
  text: String!
}
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a cluster of three tablecast nodes on a 3-server JetStream cluster', { timeout: 240_000 }, () => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL, 'counter.graphql': COUNTER_SDL });
  const cluster = clusterNodes(schemas, 's');
  /** Starts `n` nodes on a fresh stream (each test its own, so sequences start at 1). */
  let nodes: TestServer[] = [];
  const startNodes = async (n = 3, timeout = 10_000, extra: Partial<ServerOptions> = {}) => (nodes = await cluster.start(n, timeout, { expirySweepInterval: 200, ...extra }));
  const stopNodes = () => cluster.stop();
  after(() => rmSync(schemas, { recursive: true, force: true }));

  test('writes on every node reach streams on every node with the same ids, in one order; a stream resumes on another node exactly', async () => {
    const [a, b, c] = await startNodes();
    try {
      const sa = await openSse(`${a!.url}/realtime-demo/message?stream=sse`);
      const sc = await openSse(`${c!.url}/realtime-demo/message?stream=sse`);
      await sa.next(2); // retry hint, connected
      await sc.next(2);
      const writes = [];
      for (let i = 0; i < 30; i++) {
        const node = nodes[i % 3]!;
        writes.push(node.req('PUT', `/realtime-demo/message/m${i}`, { title: `t${i}`, content: `from node ${i % 3}` }));
      }
      const answers = await Promise.all(writes);
      for (const r of answers) assert.equal(r.status, 201, r.text);
      const fa = await sa.next(30);
      const fc = await sc.next(30);
      const ids = fa.map((f) => Number(f.id));
      assert.deepEqual(
        fc.map((f) => Number(f.id)),
        ids,
        'node C saw the same ids as node A, in the same order',
      );
      assert.deepEqual(
        fc.map((f) => json(f).id),
        fa.map((f) => json(f).id),
      );
      assert.deepEqual(
        [...ids].sort((x, y) => x - y),
        ids,
        'ids rise',
      );
      assert.equal(new Set(fa.map((f) => json(f).id)).size, 30, 'every write once');
      // The version each node answered is the event's id everywhere (the ETag is the change seq).
      const versionOf = new Map(fa.map((f) => [json(f).id, f.id]));
      for (let i = 0; i < 30; i++) assert.equal(answers[i]!.headers.etag, `"${versionOf.get(`m${i}`)}"`);
      // Read-your-writes on the answering node; the others within the apply lag.
      const last = await b!.req('GET', '/realtime-demo/message/m29');
      assert.equal(last.status, 200);
      sa.close();
      // Resume on node B from the 10th event seen on A: exactly the 20 after it.
      const resumed = await openSse(`${b!.url}/realtime-demo/message?stream=sse`, { headers: { 'last-event-id': fa[9]!.id! } });
      const frames = await resumed.next(22);
      const events = frames.filter((f) => f.event === 'update');
      assert.deepEqual(
        events.map((f) => f.id),
        fa.slice(10).map((f) => f.id),
      );
      resumed.close();
      sc.close();
      // Every node holds the same records at the same versions.
      const lists = await Promise.all(
        nodes.map((n) =>
          settled(
            () => n.req('GET', '/realtime-demo/message/'),
            (r) => r.body.length === 30,
          ),
        ),
      );
      for (const l of lists) assert.equal(l.body.length, 30);
      // Each node says where it stands in the log: /health and /metrics.
      const lastSeq = Math.max(...ids);
      for (const n of nodes) {
        const health = await settled(
          () => n.req('GET', '/health'),
          (r) => r.body.cluster?.applied === lastSeq,
        );
        assert.deepEqual(health.body, { status: 'ok', cluster: { connected: true, applied: lastSeq, lagEntries: 0, lagMs: 0 } });
        const metrics = (await n.req('GET', '/metrics')).text;
        assert.match(metrics, new RegExp(`^tablecast_cluster_applied_sequence ${lastSeq}$`, 'm'));
        assert.match(metrics, /^tablecast_cluster_connected 1$/m);
        assert.match(metrics, /^tablecast_cluster_apply_lag_entries 0$/m);
      }
    } finally {
      await stopNodes();
    }
  });

  test('the same decisions on every node: one 201 and one 409 for a key created twice at once, one If-Match winner, integer keys counted alike', async () => {
    const [a, b, c] = await startNodes();
    try {
      for (let round = 0; round < 5; round++) {
        const body = { id: `k${round}`, title: 'race', content: 'x' };
        const [ra, rb] = await Promise.all([a!.req('POST', '/realtime-demo/message/', body), b!.req('POST', '/realtime-demo/message/', body)]);
        assert.deepEqual([ra.status, rb.status].sort(), [201, 409], `round ${round}: ${ra.text} / ${rb.text}`);
      }
      const created = await a!.req('PUT', '/realtime-demo/message/race', { title: 'v1', content: 'x' });
      const etag = String(created.headers.etag);
      await settled(
        () => c!.req('GET', '/realtime-demo/message/race'),
        (r) => r.status === 200,
      );
      const [ua, uc] = await Promise.all([
        a!.req('PUT', '/realtime-demo/message/race', { title: 'from a', content: 'x' }, { 'if-match': etag }),
        c!.req('PUT', '/realtime-demo/message/race', { title: 'from c', content: 'x' }, { 'if-match': etag }),
      ]);
      assert.deepEqual([ua.status, uc.status].sort(), [200, 412]);
      const winner = ua.status === 200 ? 'from a' : 'from c';
      for (const n of nodes) {
        const r = await settled(
          () => n.req('GET', '/realtime-demo/message/race'),
          (x) => x.body.title === winner,
        );
        assert.equal(r.body.title, winner);
      }
      // Integer keys are counted where applied: every node gives the same key to the same record.
      const posts = await Promise.all(nodes.flatMap((n, i) => [0, 1, 2].map((j) => n.req('POST', '/c/counter/', { name: `n${i}-${j}` }))));
      for (const p of posts) assert.equal(p.status, 201, p.text);
      assert.deepEqual(
        posts.map((p) => p.body.id).sort((x: number, y: number) => x - y),
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
      for (const n of nodes) {
        const list = await settled(
          () => n.req('GET', '/c/counter/'),
          (r) => r.body.length === 9,
        );
        const byId = Object.fromEntries(list.body.map((r: { id: number; name: string }) => [r.id, r.name]));
        assert.deepEqual(byId, Object.fromEntries(posts.map((p) => [p.body.id, p.body.name])));
      }
      // A refused write changes nothing anywhere and emits nothing.
      const refused = await c!.req('PATCH', '/realtime-demo/message/nope', { title: 'x' });
      assert.equal(refused.status, 404);
    } finally {
      await stopNodes();
    }
  });

  test('an expired record is deleted once, by one entry of the log, on every node', async () => {
    const [a, b] = await startNodes(2);
    try {
      const s = await openSse(`${b!.url}/c/note?stream=sse`);
      await s.next(2);
      assert.equal((await a!.req('PUT', '/c/note/n1', { text: 'soon gone' })).status, 201);
      const [created] = await s.next(1);
      assert.equal(created!.event, 'update');
      // Both nodes sweep every 200 ms and both find the deadline: one delete in the log.
      const [gone] = await s.next(1, 10_000);
      assert.equal(gone!.event, 'delete');
      await sleep(1_500);
      assert.deepEqual(s.pending(), [], 'no second delete');
      for (const n of nodes) assert.equal((await n.req('GET', '/c/note/n1')).status, 404);
      s.close();
    } finally {
      await stopNodes();
    }
  });

  test('with one NATS server killed during writes on every node, every write succeeds and every node ends with all of them', async () => {
    // The bound covers a JetStream leader election when the killed server led (cluster-log.test.ts).
    await startNodes(3, 15_000);
    try {
      const statuses: number[] = [];
      const writer = async (n: number) => {
        for (let i = 0; i < 40; i++) {
          const r = await nodes[n]!.req('PUT', `/realtime-demo/message/w${n}-${i}`, { title: 'x', content: String(i) });
          statuses.push(r.status);
          if (i === 10 && n === 0) await cluster.nats.kill(0);
        }
      };
      await Promise.all([writer(0), writer(1), writer(2)]);
      assert.deepEqual([...new Set(statuses)], [201], 'every write answered 201');
      for (const n of nodes) {
        const list = await settled(
          () => n.req('GET', '/realtime-demo/message/'),
          (r) => r.body.length === 120,
          20_000,
        );
        assert.equal(list.body.length, 120);
      }
    } finally {
      await stopNodes();
      await cluster.nats.restart(0);
    }
  });

  test('with NATS down, writes answer 503 CLUSTER_UNAVAILABLE within the bound while reads and open streams go on; when NATS is back, writes work again', async () => {
    const [a, b] = await startNodes(2, 1_500);
    try {
      assert.equal((await a!.req('PUT', '/realtime-demo/message/before', { title: 'x', content: 'y' })).status, 201);
      await settled(
        () => b!.req('GET', '/realtime-demo/message/before'),
        (r) => r.status === 200,
      );
      const s = await openSse(`${b!.url}/realtime-demo/message?stream=sse&retained=false`);
      await s.next(2);
      await cluster.nats.killAll();
      const t0 = Date.now();
      const refused = await a!.req('PUT', '/realtime-demo/message/during', { title: 'x', content: 'y' });
      const took = Date.now() - t0;
      assert.equal(refused.status, 503, refused.text);
      assert.equal(refused.body.code, 'CLUSTER_UNAVAILABLE');
      assert.equal(refused.headers['retry-after'], '1');
      assert.ok(took < 1_500 + 1_500, `answered after ${took} ms`);
      // Reads go on from the applied data; the open stream stays open; /health says degraded.
      assert.equal((await b!.req('GET', '/realtime-demo/message/before')).status, 200);
      const health = await settled(
        () => b!.req('GET', '/health'),
        (r) => r.body.status === 'degraded',
      );
      assert.equal(health.status, 200);
      assert.equal(health.body.cluster.connected, false);
      assert.equal(s.isEnded, false);
      await cluster.nats.restartAll();
      let back = 0;
      for (let i = 0; back !== 201 && i < 60; i++) {
        back = (await a!.req('PUT', '/realtime-demo/message/after', { title: 'x', content: 'y' })).status;
        if (back !== 201) await sleep(250);
      }
      assert.equal(back, 201);
      const [event] = await s.next(1, 15_000);
      assert.equal(json(event!).id, 'after', 'the open stream on the other node got the write made after NATS came back');
      s.close();
    } finally {
      await stopNodes();
    }
  });

  test('a token from one node works on every node, a logout on one node is refused by all, and the login rate is the cluster’s', async () => {
    const auth = {
      secret: 'a-secret-every-node-of-this-cluster-shares',
      loginRate: 4,
      roles: { reader: { tables: { '*': ['read'] } } },
      users: { ann: { password: await hashPassword('right-password'), roles: ['reader'] } },
    };
    const [a, b, c] = await startNodes(3, 10_000, { auth });
    try {
      const issued = await a!.req('POST', '/auth/token', { username: 'ann', password: 'right-password' });
      assert.equal(issued.status, 200, issued.text);
      const bearer = { authorization: `Bearer ${issued.body.access_token}` };
      for (const n of nodes) assert.equal((await n.req('GET', '/realtime-demo/message/', undefined, bearer)).status, 200);
      assert.equal((await b!.req('POST', '/auth/logout', undefined, bearer)).status, 204);
      // Refused at once where it was revoked, and on the others once they applied the entry.
      assert.equal((await b!.req('GET', '/realtime-demo/message/', undefined, bearer)).status, 401);
      for (const n of [a!, c!]) {
        const r = await settled(
          () => n.req('GET', '/realtime-demo/message/', undefined, bearer),
          (x) => x.status === 401,
        );
        assert.equal(r.status, 401);
      }
      // The login rate is the cluster's: four wrong passwords from this address over two nodes,
      // then the next check is refused on the third.
      const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`ann:${password}`).toString('base64')}` });
      for (let i = 0; i < 4; i++) assert.equal((await nodes[i % 2]!.req('GET', '/realtime-demo/message/', undefined, basic(`wrong-${i}`))).status, 401);
      await sleep(200); // the last use reaches the other nodes (NATS, a few ms)
      const limited = await c!.req('GET', '/realtime-demo/message/', undefined, basic('wrong-again'));
      assert.equal(limited.status, 429, limited.text);
      assert.ok(Number(limited.headers['retry-after']) > 0);
    } finally {
      await stopNodes();
    }
  });

  test('channel events reach the channel clients of every node, and counts are the cluster’s', async () => {
    cluster.nextStream();
    const servers: Array<Awaited<ReturnType<typeof createServer>>> = [];
    const dirs: string[] = [];
    try {
      const urls: string[] = [];
      for (let i = 0; i < 2; i++) {
        const data = tmpDir();
        dirs.push(data);
        const server = await createServer({
          port: 0,
          host: '127.0.0.1',
          tls: false,
          logLevel: 'silent',
          data,
          schemas,
          cluster: { servers: cluster.nats.servers, stream: cluster.stream, replicas: 3 },
        });
        server.fastify.get('/events', (request, reply) => {
          server.sse.addClient(request, reply, { channels: ['orders'] });
        });
        servers.push(server);
        urls.push(await server.listen());
      }
      const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]];
      const onA = await openSse(`${urls[0]}/events`);
      const onB = await openSse(`${urls[1]}/events`);
      await onA.next(2);
      await onB.next(2);
      // The directory reaches the other node: each counts both clients.
      for (const server of servers) {
        const end = Date.now() + 10_000;
        while (server.sse.channel('orders').count() < 2 && Date.now() < end) await sleep(50);
        assert.equal(server.sse.channel('orders').count(), 2);
        assert.equal(server.sse.getClientsByChannel('orders').length, 2);
      }
      // Sent from node B's code: both clients get it, the one on node A through NATS.
      assert.equal(b.sse.broadcast('orders', 'new_order', { id: 7 }), 2);
      for (const s of [onA, onB]) assert.deepEqual(json(await s.until((f) => f.event === 'new_order')), { id: 7 });
      // A client that leaves node A leaves node B's count too.
      onA.close();
      const end = Date.now() + 10_000;
      while (b.sse.channel('orders').count() > 1 && Date.now() < end) await sleep(50);
      assert.equal(b.sse.channel('orders').count(), 1);
      assert.equal(a.sse.channel('orders').send({ type: 'note', data: 'one left' }), 1);
      assert.equal((await onB.until((f) => f.event === 'note')).data, 'one left');
      // Channels over HTTP are the same channels: subscribed on node A, published on node B.
      const httpOnA = await openSse(`${urls[0]}/channels/orders?stream=sse`);
      await httpOnA.next(2);
      const end2 = Date.now() + 10_000;
      while (b.sse.channel('orders').count() < 2 && Date.now() < end2) await sleep(50);
      const posted = await httpRequest(`${urls[1]}/channels/orders`, 'POST', { event: 'bid', data: { amount: 5 } });
      assert.equal(posted.status, 202, posted.text);
      assert.equal(posted.body.subscribers, 2);
      for (const s of [onB, httpOnA]) assert.deepEqual(json(await s.until((f) => f.event === 'bid')), { amount: 5 });
      httpOnA.close();
      onB.close();
    } finally {
      for (const server of servers) await server.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });

  test('a node joining after the log was trimmed fills its empty data directory from another node’s snapshot, then follows the log', async () => {
    const [a, b] = await startNodes(2);
    try {
      for (let i = 0; i < 30; i++) assert.equal((await nodes[i % 2]!.req('PUT', `/realtime-demo/message/j${i}`, { title: `t${i}`, content: 'x' })).status, 201);
      for (let i = 0; i < 5; i++) assert.equal((await a!.req('POST', '/c/counter/', { name: `c${i}` })).status, 201);
      assert.equal((await b!.req('DELETE', '/realtime-demo/message/j3')).status, 204);
      await settled(
        () => b!.req('GET', '/c/counter/'),
        (r) => r.body.length === 5,
      );
      // Retention took all but the last 3 entries of the log.
      const nc = await connect({ servers: cluster.nats.servers });
      await (await jetstreamManager(nc)).streams.purge(cluster.stream, { keep: 3 });
      await nc.close();

      const c = await startServer({ schemas, expirySweepInterval: 200, cluster: { servers: cluster.nats.servers, stream: cluster.stream, replicas: 3 } });
      nodes.push(c);
      const want = async (n: TestServer) => ({
        messages: (await n.req('GET', '/realtime-demo/message/?sort(+id)')).body,
        counters: (await n.req('GET', '/c/counter/?sort(+id)')).body,
      });
      assert.deepEqual(await want(c), await want(a!), 'the newcomer holds what the others hold');
      assert.equal((await c.req('GET', '/realtime-demo/message/j3')).status, 404);
      // The same versions (ETags) as on the node that sent the snapshot.
      assert.equal((await c.req('GET', '/realtime-demo/message/j7')).headers.etag, (await a!.req('GET', '/realtime-demo/message/j7')).headers.etag);
      // It follows the log from there: a write on another node reaches it, with the next key counted alike.
      const next = await a!.req('POST', '/c/counter/', { name: 'after' });
      assert.equal(next.body.id, 6);
      const seen = await settled(
        () => c.req('GET', '/c/counter/6'),
        (r) => r.status === 200,
      );
      assert.equal(seen.body.name, 'after');
      const own = await c.req('POST', '/c/counter/', { name: 'from c' });
      assert.equal(own.body.id, 7, own.text);
    } finally {
      await stopNodes();
    }
  });

  test('a data directory with changes of its own cannot join a cluster', async () => {
    cluster.nextStream();
    const data = tmpDir();
    try {
      const alone = await startServer({ schemas, data });
      await alone.req('PUT', '/realtime-demo/message/local', { title: 'x', content: 'y' });
      await alone.close();
      await assert.rejects(
        startServer({ schemas, data, cluster: { servers: cluster.nats.servers, stream: cluster.stream } }),
        /did not come from a cluster's log: start a cluster node on an empty data directory/,
      );
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
