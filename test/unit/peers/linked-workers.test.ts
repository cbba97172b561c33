/**
 * Several workers' `Peers` linked in one process to a real Switchboard (as the supervisor links
 * worker processes, with every message delivered on a later turn, as IPC delivers it), and the
 * parts that use them: channel clients and events, stream limits, token revocation. The CLI test
 * (test/integration/workers.test.ts) covers the same across real processes where the CLI can reach
 * it; channels need application code in each worker, which only this test can give them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkPeers } from '../../../src/peers/link.ts';
import type { Peers } from '../../../src/peers/peers.ts';
import { Switchboard, type Downward, type Upward } from '../../../src/peers/switchboard.ts';
import { createChannelHub } from '../../../src/realtime/channels.ts';
import { createStreamRegistry } from '../../../src/realtime/streams.ts';
import { createTokenSigner } from '../../../src/auth/tokens.ts';

const turn = () => new Promise((r) => setImmediate(r));
/** Enough turns for a message to go worker → switchboard → worker, and an answer back. */
const settle = async () => {
  for (let i = 0; i < 6; i++) await turn();
};

async function linked(n: number): Promise<{ board: Switchboard; peers: Peers[] }> {
  const board = new Switchboard();
  const peers: Peers[] = [];
  for (let id = 1; id <= n; id++) {
    let deliver: (m: unknown) => void = () => {};
    const link = linkPeers({
      send: (m: Upward) => setImmediate(() => (m.tc === 'join' ? board.join(id, (d: Downward) => setImmediate(() => deliver(d))) : board.receive(id, m))),
      onMessage: (listener) => {
        deliver = listener;
      },
    });
    peers.push(await link);
  }
  return { board, peers };
}

/** A sink that keeps what it was sent. */
function sink() {
  const chunks: string[] = [];
  let ended = false;
  return {
    chunks,
    text: () => chunks.join(''),
    get ended() {
      return ended;
    },
    write(c: string | Uint8Array) {
      chunks.push(String(c));
      return true;
    },
    once() {},
    end() {
      ended = true;
    },
    destroy() {
      ended = true;
    },
  };
}

const limits = { maxStreams: 100, maxStreamsPerAddress: 2, pingInterval: 60_000 };

test('channels: a client of one worker is counted, listed, reached and removed from the other', async (t) => {
  const { board, peers } = await linked(2);
  t.after(() => board.close());
  const hubs = peers.map((p) => createChannelHub({ streams: createStreamRegistry(limits, Date.now, p), peers: p, retry: 1000, maxFrames: 100, maxBytes: 1 << 20 }));
  const out = sink();
  const client = hubs[0]!.addClient({ sink: out, address: '10.0.0.1', channels: ['orders'] });
  await settle();
  assert.equal(hubs[1]!.channel('orders').count(), 1);
  assert.deepEqual(
    hubs[1]!.getClientsByChannel('orders').map((c) => c.id),
    [client.id],
  );
  assert.equal(hubs[1]!.broadcast('orders', 'created', { n: 1 }), 1, 'counted where it is sent');
  assert.equal(hubs[1]!.sendTo(client.id, 'direct', 'hi'), true);
  await settle();
  assert.match(out.text(), /event: created\ndata: \{"n":1\}/);
  assert.match(out.text(), /event: direct\ndata: hi/);
  assert.equal(hubs[1]!.subscribe(client.id, 'news'), true);
  await settle();
  hubs[1]!.channel('news').send({ type: 'headline', data: 'x' });
  await settle();
  assert.match(out.text(), /event: headline/);
  hubs[1]!.removeClient(client.id);
  await settle();
  assert.equal(out.ended, true);
  assert.equal(hubs[1]!.channel('orders').count(), 0);
});

test('stream limits: the streams of every worker count against one address', async (t) => {
  const { board, peers } = await linked(2);
  t.after(() => board.close());
  const regs = peers.map((p) => createStreamRegistry(limits, Date.now, p));
  t.after(() => {
    for (const r of regs) r.closeAll();
  });
  const open = (i: number) => regs[i]!.add({ address: '10.0.0.9', table: 'd/m', transport: 'sse', end() {} });
  open(0);
  open(1);
  await settle();
  assert.throws(() => regs[0]!.admit('10.0.0.9'), /too many open streams from 10\.0\.0\.9 \(limit 2\)/);
  assert.throws(() => regs[1]!.admit('10.0.0.9'), /too many open streams/);
  regs[1]!.admit('10.0.0.10');
});

test('revocation: once revoke() resolves on one worker, every worker refuses the token', async (t) => {
  const { board, peers } = await linked(3);
  t.after(() => board.close());
  const signers = peers.map((p) => createTokenSigner('s'.repeat(40), p));
  const { token, claims } = signers[0]!.sign('ann', 'bearer', 3600);
  for (const s of signers) assert.ok(s.verify(token));
  await signers[1]!.revoke(claims);
  for (const s of signers) assert.equal(s.verify(token), undefined);
});
