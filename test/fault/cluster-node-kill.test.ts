/**
 * Cluster nodes as users run them (`tablecast start --cluster nats://…`, real processes) on a real
 * three-server JetStream cluster: a node killed with -9 during writes on every node loses no
 * acknowledged write, catches up when it starts again on its data directory, and its stream's client
 * resumes on another node exactly (SPEC §10, issue #15 point 4).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Agent } from 'undici';
import { startChild, waitGone, type Child } from '../helpers/child.ts';
import { startNats, type NatsCluster } from '../helpers/nats.ts';
import { MESSAGE_SDL, httpRequest, schemaDir, tmpDir } from '../helpers/server.ts';
import { json, openSse } from '../helpers/sse.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let nats: NatsCluster;
const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
before(async () => {
  nats = await startNats(3);
});
after(async () => {
  await nats?.close();
  rmSync(schemas, { recursive: true, force: true });
});

const node = (data: string, servers: string[]) => startChild(['--no-tls', '--data', data, '--schemas', schemas, '--cluster', servers.join(',')], {}, 60_000);

/** The next `n` update frames of a stream (other frames skipped). */
async function updates(stream: Awaited<ReturnType<typeof openSse>>, n: number) {
  const out = [];
  while (out.length < n) {
    const [f] = await stream.next(1, 20_000);
    if (f!.event === 'update') out.push(f!);
  }
  return out;
}

/** The ids of a node's records, read every 100 ms until `ok` holds or `tries` reads are spent. */
async function idsOn(url: string, agent: Agent, ok: (ids: Set<string>) => boolean, tries = 100): Promise<Set<string>> {
  let ids = new Set<string>();
  for (let i = 0; i < tries; i++) {
    ids = new Set(((await httpRequest(`${url}/realtime-demo/message/`, 'GET', undefined, {}, agent)).body as Array<{ id: string }>).map((r) => r.id));
    if (ok(ids)) break;
    await sleep(100);
  }
  return ids;
}

async function stop(child: Child): Promise<void> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGTERM');
  await Promise.race([child.exited, sleep(15_000)]);
  await waitGone(child.proc.pid!, 0);
}

test('three nodes; one killed with -9 during writes on every node: nothing acknowledged is lost, it catches up on restart, its stream resumes on another node', { timeout: 180_000 }, async () => {
  const dataA = tmpDir();
  const dataB = tmpDir();
  const dataC = tmpDir();
  let a = await node(dataA, nats.servers);
  const b = await node(dataB, [...nats.servers].reverse());
  const c = await node(dataC, [nats.servers[1]!, nats.servers[2]!, nats.servers[0]!]);
  const agent = new Agent({ connections: 8 });
  try {
    assert.match(a.output(), /cluster node, stream tablecast on nats:\/\/127\.0\.0\.1:\d+/);

    const stream = await openSse(`${a.url}/realtime-demo/message?stream=sse&retained=false`);
    await stream.next(2);
    // Writers on both nodes, one request at a time each, recording what was acknowledged.
    const acked = new Set<string>();
    let running = true;
    const writer = (url: string, prefix: string) =>
      (async () => {
        for (let i = 0; running; i++) {
          try {
            const r = await httpRequest(`${url}/realtime-demo/message/${prefix}${i}`, 'PUT', { title: prefix, content: String(i) }, {}, agent);
            if (r.status === 201) acked.add(`${prefix}${i}`);
          } catch {
            // the killed node's connection: not acknowledged
          }
          // A timer turn, so a writer that fails at once does not starve the test's timers.
          await sleep(1);
        }
      })();
    const writers = [writer(a.url, 'a'), writer(b.url, 'b'), writer(c.url, 'c')];
    // Until node A's stream has seen some of the writes (a loaded machine takes its time).
    for (let i = 0; i < 200 && stream.frames.filter((f) => f.event === 'update').length <= 10; i++) await sleep(100);
    const seen = stream.frames.filter((f) => f.event === 'update');
    assert.ok(seen.length > 10, `${seen.length} events on node A's stream before the kill`);
    a.proc.kill('SIGKILL');
    await a.exited;
    await sleep(1_000);
    running = false;
    await Promise.all(writers);
    stream.close();

    // Every acknowledged write is on node B (the survivor) once it has applied the log.
    const last = seen.at(-1)!;
    const onB = await idsOn(b.url, agent, (ids) => [...acked].every((k) => ids.has(k)));
    const lost = [...acked].filter((k) => !onB.has(k));
    const onC = await idsOn(c.url, agent, (ids) => ids.size === onB.size);
    assert.deepEqual([...onC].sort(), [...onB].sort(), 'the third node holds the same records');
    assert.deepEqual(lost, [], `of ${acked.size} acknowledged writes`);

    // Every change, in order, from node B's log (each write created a record: one change each).
    const everything = await openSse(`${b.url}/realtime-demo/message?stream=sse&retained=false`, { headers: { 'last-event-id': '0' } });
    const all = await updates(everything, onB.size);
    everything.close();
    // The same change has the same id on both nodes.
    const idOnB = new Map(all.map((f) => [json(f).id as string, f.id]));
    for (const f of seen) assert.equal(idOnB.get(json(f).id), f.id, `id of ${json(f).id}`);
    // The stream's client resumes on node B from the last id it saw on A: exactly what came after.
    const resumed = await openSse(`${b.url}/realtime-demo/message?stream=sse`, { headers: { 'last-event-id': last.id! } });
    const after = all.filter((f) => Number(f.id) > Number(last.id));
    const got = await updates(resumed, after.length);
    assert.deepEqual(
      got.map((f) => f.id),
      after.map((f) => f.id),
    );
    await sleep(300);
    assert.equal(resumed.pending().filter((f) => f.event === 'update').length, 0, 'nothing more');
    resumed.close();

    // Node A starts again on its data directory and catches up with everything B has.
    a = await node(dataA, nats.servers);
    const onA = await idsOn(a.url, agent, (ids) => ids.size === onB.size, 200);
    assert.deepEqual([...onA].sort(), [...onB].sort(), 'the restarted node holds the same records');
  } finally {
    await agent.close();
    await stop(a);
    await stop(b);
    await stop(c);
    rmSync(dataA, { recursive: true, force: true });
    rmSync(dataB, { recursive: true, force: true });
    rmSync(dataC, { recursive: true, force: true });
  }
});

test('--cluster with --workers 2 is refused: a cluster node is one process', async () => {
  const data = tmpDir();
  try {
    await assert.rejects(
      startChild(['--no-tls', '--data', data, '--schemas', schemas, '--cluster', nats.servers[0]!, '--workers', '2'], {}, 20_000),
      /a cluster node runs as one process; remove --workers or set it to 1/,
    );
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
