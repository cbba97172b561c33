/**
 * The cluster's ordered log (src/cluster/log.ts) against a real JetStream cluster: three
 * nats-server processes (R3, loopback, temporary stores), killed and restarted by PID. SPEC §10:
 * one total order for every node, the same sequences everywhere, a write survives a NATS minority,
 * and without a quorum it fails within its bound and works again when NATS is back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { openClusterLog, type ClusterLog, type LogEntry } from '../../src/cluster/log.ts';
import { AppError } from '../../src/errors.ts';
import { startNats, type NatsCluster } from '../helpers/nats.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Follows `log` from `after` into an array; `until(n)` waits for n entries. */
function collect(log: ClusterLog, after = 0) {
  const entries: LogEntry[] = [];
  const errors: Error[] = [];
  const follower = log.follow(
    after,
    (e) => {
      entries.push(e);
    },
    (err) => errors.push(err),
  );
  return {
    entries,
    errors,
    follower,
    async until(n: number, ms = 20_000) {
      const end = Date.now() + ms;
      while (entries.length < n && errors.length === 0 && Date.now() < end) await sleep(20);
      assert.deepEqual(errors, [], 'the follower reported no error');
      assert.ok(entries.length >= n, `${entries.length} of ${n} entries within ${ms} ms`);
    },
  };
}

const text = (e: LogEntry) => Buffer.from(e.payload).toString();

describe('cluster log on a 3-server JetStream cluster (R3)', { timeout: 180_000 }, () => {
  let nats: NatsCluster;
  let stream = 0;
  const open = (servers: string[], extra: { stream?: string; timeout?: number } = {}) =>
    openClusterLog({ servers, stream: extra.stream ?? `t${stream}`, replicas: 3, timeout: extra.timeout ?? 5_000 });

  before(async () => {
    nats = await startNats(3);
  });
  after(async () => {
    await nats?.close();
  });

  test('appends from two nodes form one gapless order, and every follower reads the same sequence', async () => {
    stream++;
    // Two connections through different servers, as two tablecast nodes would have.
    const a = await open([nats.servers[0]!, nats.servers[1]!]);
    const b = await open([nats.servers[2]!, nats.servers[0]!]);
    try {
      const seqs = await Promise.all([...Array.from({ length: 40 }, (_, i) => a.append(`a${i}`, `a-${i}`)), ...Array.from({ length: 40 }, (_, i) => b.append(`b${i}`, `b-${i}`))]);
      assert.deepEqual(
        [...seqs].sort((x, y) => x - y),
        Array.from({ length: 80 }, (_, i) => i + 1),
        'every append got its own sequence, 1…80 with no gap',
      );
      const fa = collect(a);
      const fb = collect(b);
      await fa.until(80);
      await fb.until(80);
      assert.deepEqual(
        fa.entries.map((e) => [e.seq, text(e)]),
        fb.entries.map((e) => [e.seq, text(e)]),
        'both nodes read the same entries at the same sequences',
      );
      // Each append's sequence is where its payload is in the log.
      const at = new Map(fa.entries.map((e) => [e.seq, text(e)]));
      assert.deepEqual(
        seqs.map((seq) => at.get(seq)),
        [...Array.from({ length: 40 }, (_, i) => `a${i}`), ...Array.from({ length: 40 }, (_, i) => `b${i}`)],
      );
      // A follower from a position reads only what comes after it.
      const late = collect(a, 60);
      await late.until(20);
      assert.deepEqual(
        late.entries.map((e) => e.seq),
        Array.from({ length: 20 }, (_, i) => 61 + i),
      );
      await Promise.all([fa.follower.stop(), fb.follower.stop(), late.follower.stop()]);
      assert.deepEqual(await a.bounds(), { first: 1, last: 80 });
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('an id appended twice is stored once, and the second append answers the first sequence', async () => {
    stream++;
    const log = await open(nats.servers);
    try {
      const first = await log.append('once', 'the-id');
      await log.append('other', 'other-id');
      assert.equal(await log.append('once again', 'the-id'), first);
      assert.deepEqual(await log.bounds(), { first: 1, last: 2 });
    } finally {
      await log.close();
    }
  });

  test('with one NATS server killed, appends keep succeeding and followers keep reading in order', async () => {
    stream++;
    // The bound covers a JetStream leader election: when the killed server led the stream (or the
    // JetStream meta group), the others elect a new leader first, which nats-server 2.9 was seen to
    // take over 5 s to do (its Raft election timeouts are randomised over several seconds).
    const log = await open(nats.servers, { timeout: 15_000 });
    const reader = await open([nats.servers[2]!, nats.servers[1]!]);
    const f = collect(reader);
    try {
      const seqs: number[] = [];
      for (let i = 0; i < 10; i++) seqs.push(await log.append(`before ${i}`, `k-${i}`));
      await nats.kill(0);
      // The writer's connection was to the first server: it reconnects, and each append retries
      // with its id until JetStream (which lost a minority) acknowledges.
      for (let i = 10; i < 30; i++) seqs.push(await log.append(`after ${i}`, `k-${i}`));
      assert.deepEqual(
        seqs,
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
      await f.until(30);
      assert.deepEqual(
        f.entries.map((e) => e.seq),
        seqs,
      );
    } finally {
      await f.follower.stop();
      await reader.close();
      await log.close();
      await nats.restart(0);
    }
  });

  test('with every NATS server down, appends fail with CLUSTER_UNAVAILABLE within the bound; when NATS is back, appends and followers go on', async () => {
    stream++;
    const bound = 1_500;
    const log = await open(nats.servers, { timeout: bound });
    const f = collect(log);
    try {
      assert.equal(await log.append('first', 'd-0'), 1);
      await f.until(1);
      await nats.killAll();
      const t0 = Date.now();
      await assert.rejects(log.append('while down', 'd-1'), (err: unknown) => {
        assert.ok(err instanceof AppError, String(err));
        assert.equal(err.code, 'CLUSTER_UNAVAILABLE');
        assert.equal(err.statusCode, 503);
        assert.equal(err.headers?.['retry-after'], '1');
        return true;
      });
      const took = Date.now() - t0;
      assert.ok(took >= bound - 50 && took < bound + 1_000, `failed after ${took} ms (bound ${bound} ms)`);
      assert.equal(log.connected, false, 'the log says it is not connected');

      await nats.restartAll();
      // The same log object, not reopened: the connection comes back by itself.
      let seq = 0;
      for (let i = 0; seq === 0 && i < 40; i++) {
        try {
          seq = await log.append('back', 'd-2');
        } catch (err) {
          assert.equal((err as AppError).code, 'CLUSTER_UNAVAILABLE');
          await sleep(250);
        }
      }
      assert.ok(seq >= 2, `an append succeeded after the restart (seq ${seq})`);
      assert.equal(log.connected, true);
      const { last } = await log.bounds();
      await f.until(last);
      assert.deepEqual(
        f.entries.map((e) => e.seq),
        Array.from({ length: last }, (_, i) => i + 1),
        'the follower read on in order after the restart, nothing twice',
      );
      assert.equal(text(f.entries.at(-1)!), 'back');
    } finally {
      await f.follower.stop();
      await log.close();
    }
  });

  test('a follower whose start the stream no longer holds reports the gap and reads nothing', async () => {
    stream++;
    const name = `t${stream}`;
    const log = await open(nats.servers);
    try {
      for (let i = 0; i < 10; i++) await log.append(`e${i}`, `g-${i}`);
      // Entries 1…7 removed, as retention would remove them.
      const nc = await connect({ servers: nats.servers });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.purge(name, { keep: 3 });
      await nc.close();
      assert.deepEqual(await log.bounds(), { first: 8, last: 10 });
      const f = collect(log, 2);
      const end = Date.now() + 10_000;
      while (f.errors.length === 0 && Date.now() < end) await sleep(20);
      assert.equal(f.errors.length, 1);
      assert.match(f.errors[0]!.message, /no longer holds entries 3…7/);
      assert.deepEqual(f.entries, []);
      // From a position the stream still holds, it reads on.
      const g = collect(log, 7);
      await g.until(3);
      assert.deepEqual(
        g.entries.map((e) => e.seq),
        [8, 9, 10],
      );
      await g.follower.stop();
      await f.follower.stop();
    } finally {
      await log.close();
    }
  });
});

test('no NATS server reachable: opening the log fails with CLUSTER_UNAVAILABLE within its bound', async () => {
  const t0 = Date.now();
  // A port nothing listens on (a NATS default is unlikely to be free of meaning; this one is closed).
  await assert.rejects(openClusterLog({ servers: ['nats://127.0.0.1:1'], stream: 'none', replicas: 1, timeout: 1_000 }), (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.code, 'CLUSTER_UNAVAILABLE');
    assert.match(err.message, /cannot connect to nats:\/\/127\.0\.0\.1:1/);
    return true;
  });
  assert.ok(Date.now() - t0 < 5_000, `failed after ${Date.now() - t0} ms`);
});
