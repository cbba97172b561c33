/**
 * An HTTP/2 peer that never closes its side of the connection holds nothing: not shutdown, not its
 * socket after an idle timeout (src/http/http2-sessions.ts). Node alone waits for such a peer for
 * good once it has sent GOAWAY; a shutdown then never finished, and a test whose peer's FIN came at
 * the wrong moment ended with its event loop empty in the middle of `close()`. Likewise an HTTP/1.1
 * connection that never sends a request: Node's idle-connection close at shutdown skips it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { rmSync } from 'node:fs';
import { MESSAGE_SDL, schemaDir, startServer, type TestServer } from '../helpers/server.ts';
import { eventually, within } from '../helpers/sse.ts';

const PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/** A raw HTTP/2 client that opens a session and then ignores everything, GOAWAY and FIN included. */
async function halfOpenPeer(url: string): Promise<{ socket: TLSSocket; ended: Promise<void> }> {
  const { port } = new URL(url);
  const socket = connect({ host: '127.0.0.1', port: Number(port), ALPNProtocols: ['h2'], rejectUnauthorized: false, allowHalfOpen: true } as never);
  await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  assert.equal(socket.alpnProtocol, 'h2');
  socket.on('data', () => {});
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.once('end', resolve));
  socket.write(PREFACE);
  return { socket, ended };
}

/** The server's open connections (sockets it has not destroyed). */
function connections(s: TestServer): Promise<number> {
  return new Promise((resolve, reject) => s.server.fastify.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

test('shutdown ends a session whose peer ignores GOAWAY and never closes: close() resolves, the socket is gone', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  t.after(() => rmSync(schemas, { recursive: true, force: true }));
  const s = await startServer({ schemas, tls: true });
  const peer = await halfOpenPeer(s.url);
  t.after(() => peer.socket.destroy());
  await eventually(async () => (await connections(s)) === 1, 'the server has the session', 2000);
  await within(s.close(), 5000, 'server.close() with a half-open HTTP/2 peer: not within 5000 ms');
  await within(peer.ended, 1000, 'the peer saw the server end its side: not within 1000 ms');
  assert.equal(await connections(s), 0);
});

test('an idle session closed by the keep-alive timeout loses its socket even when the peer never closes', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  t.after(() => rmSync(schemas, { recursive: true, force: true }));
  const s = await startServer({ schemas, tls: true, keepAliveTimeout: 300 });
  t.after(() => s.close());
  const peer = await halfOpenPeer(s.url);
  t.after(() => peer.socket.destroy());
  assert.equal(await connections(s), 1);
  // Timeout at 300 ms, GOAWAY and FIN; then the sweep (every second, after a 200 ms grace). The
  // peer, half-open by choice, cannot tell; the server's count can.
  await within(peer.ended, 3000, 'the idle timeout ended the session: not within 3000 ms');
  await eventually(async () => (await connections(s)) === 0, 'the socket of the timed-out session was destroyed', 3000);
});

test('shutdown closes an HTTP/1.1 connection that never sent a request (one a client opened ahead): close() does not wait for its deadline', async (t) => {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  t.after(() => rmSync(schemas, { recursive: true, force: true }));
  // Its first-request deadline (headersTimeout) far away: only the shutdown can close it in time.
  const s = await startServer({ schemas, headersTimeout: 60_000, requestTimeout: 120_000 });
  const { port } = new URL(s.url);
  const idle = netConnect({ host: '127.0.0.1', port: Number(port) });
  idle.on('error', () => {});
  t.after(() => idle.destroy());
  const closed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
  await eventually(async () => (await connections(s)) === 1, 'the server has the connection', 2000);
  await within(s.close(), 10_000, 'server.close() with a connection that never sent a request: not within 10 s');
  await within(closed, 2000, 'the connection was not closed');
});
