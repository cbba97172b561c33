/**
 * Abuse of the HTTP layer itself (issue #11, point 3): connections that never finish their head,
 * one address opening more connections than its share, invented methods growing /metrics, and
 * HTTP/2 sessions past their limits. The attacker connects from 127.0.0.2 (Linux routes all of
 * 127/8 to loopback), so the prober on 127.0.0.1 is another client whose service must go on.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { METHODS } from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { BOUNDS, startAbuseServer } from '../helpers/abuse.ts';
import { MESSAGE_SDL, schemaDir, startServer, httpRequest } from '../helpers/server.ts';
import { eventually } from '../helpers/sse.ts';

const ATTACKER = '127.0.0.2';
const HEADERS_TIMEOUT = 1000;
const PER_ADDRESS = 100;

const server = await startAbuseServer({
  records: 1000,
  server: { headersTimeout: HEADERS_TIMEOUT, requestTimeout: 2000, keepAliveTimeout: 60_000, maxConnectionsPerAddress: PER_ADDRESS },
});
after(() => server.close());
const port = Number(new URL(server.url).port);

/** A raw connection: what it received, and whether (and when) the server closed it. */
interface Raw {
  socket: net.Socket;
  received: () => string;
  closed: Promise<void>;
  isClosed: () => boolean;
}

function connect(localAddress: string, first?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let received = '';
    let isClosed = false;
    const closed = new Promise<void>((res) =>
      socket.once('close', () => {
        isClosed = true;
        res();
      }),
    );
    socket.on('data', (d) => (received += d));
    socket.on('error', () => {});
    socket.once('connect', () => {
      if (first !== undefined) socket.write(first);
      resolve({ socket, received: () => received, closed, isClosed: () => isClosed });
    });
    socket.once('error', reject);
  });
}

/** One `GET path` on a fresh connection from `localAddress`: the status, or 0 when the connection was closed unanswered. */
async function freshGet(localAddress: string, path = '/health'): Promise<number> {
  const c = await connect(localAddress, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  await c.closed;
  const m = /^HTTP\/1\.1 (\d{3})/.exec(c.received());
  return m ? Number(m[1]) : 0;
}

async function admin(): Promise<any> {
  return (await httpRequest(`${server.url}/admin/connections`)).body;
}

test('connections that never finish their head, or never send one, are closed after headersTimeout', async () => {
  const m = await server.measure(async () => {
    const silent = await Promise.all(Array.from({ length: 20 }, () => connect(ATTACKER)));
    const partial = await Promise.all(Array.from({ length: 20 }, () => connect(ATTACKER, 'GET /health HTTP/1.1\r\nHost: x\r\n')));
    // A header line every 200 ms: the connection is never idle, its head never ends.
    const trickle = await Promise.all(Array.from({ length: 20 }, () => connect(ATTACKER, 'GET /health HTTP/1.1\r\n')));
    const drip = setInterval(
      () =>
        trickle.forEach((c, i) => {
          c.isClosed() || c.socket.write(`X-Drip-${i}: 1\r\n`);
        }),
      200,
    );
    try {
      const all = [...silent, ...partial, ...trickle];
      // Generous: the deadline is 1 s; a server without one keeps them open for good.
      await eventually(() => all.every((c) => c.isClosed()), `all 60 slow connections closed (${all.filter((c) => !c.isClosed()).length} open)`, 15_000);
    } finally {
      clearInterval(drip);
    }
    return { silent, partial, trickle };
  });
  const { silent, partial, trickle } = m.result;
  for (const c of silent) assert.equal(c.received(), '', 'a silent connection is closed without an answer');
  for (const c of [...partial, ...trickle]) {
    assert.match(c.received(), /^HTTP\/1\.1 408 /);
    const body = JSON.parse(c.received().slice(c.received().indexOf('\r\n\r\n') + 4));
    assert.equal(body.code, 'REQUEST_TIMEOUT');
    assert.equal(body.statusCode, 408);
  }
  const stats = (await admin()).connections;
  assert.ok(stats.idleClosed >= 20, `silent connections counted: ${JSON.stringify(stats)}`);
  console.log(`slow headers: 60 closed, maxProbeMs ${m.maxProbeMs}, rss +${m.rssGrowthMiB} MiB, failures ${m.failures}`);
  assert.equal(m.failures, 0);
  assert.ok(m.maxProbeMs <= BOUNDS.maxProbeMs, `probe ${m.maxProbeMs} ms`);
});

test('one address gets at most maxConnectionsPerAddress connections; others, and /health, are still served', async () => {
  const EXTRA = 50;
  const m = await server.measure(async () => {
    const held = await Promise.all(Array.from({ length: PER_ADDRESS + EXTRA }, () => connect(ATTACKER, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n')));
    await eventually(() => held.every((c) => c.isClosed() || c.received().includes('"ok"')), 'every connection answered or closed', 10_000);
    const answered = held.filter((c) => c.received().startsWith('HTTP/1.1 200'));
    const refused = held.filter((c) => c.isClosed() && c.received() === '');
    const fromOther = await freshGet('127.0.0.1');
    const fromAttacker = await freshGet(ATTACKER);
    const stats = (await admin()).connections;
    for (const c of held) c.socket.destroy();
    await eventually(() => held.every((c) => c.isClosed()), 'held connections closed');
    return { answered: answered.length, refused: refused.length, fromOther, fromAttacker, stats };
  });
  const r = m.result;
  assert.equal(r.answered, PER_ADDRESS, 'the first maxConnectionsPerAddress connections are served');
  assert.equal(r.refused, EXTRA, 'the excess is closed before a byte is read');
  assert.equal(r.fromOther, 200, '/health from another address answers on a fresh connection');
  assert.equal(r.fromAttacker, 0, 'a fresh connection from the capped address is refused');
  assert.ok(r.stats.refused.address >= EXTRA + 1, JSON.stringify(r.stats));
  assert.equal(r.stats.perAddressLimit, PER_ADDRESS);
  // The address's slots are given back as its connections close.
  let status = 0;
  for (let i = 0; i < 20 && status !== 200; i++) {
    status = await freshGet(ATTACKER);
    if (status !== 200) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(status, 200, 'the address may connect again once its connections closed');
  console.log(`per-address cap: ${r.answered} served, ${r.refused} refused, maxProbeMs ${m.maxProbeMs}, failures ${m.failures}`);
  assert.equal(m.failures, 0, 'the prober (another address) never failed');
  assert.ok(m.maxProbeMs <= BOUNDS.maxProbeMs, `probe ${m.maxProbeMs} ms`);
});

test('the default total cap stays below the file-descriptor limit, with a reserve', async () => {
  const stats = (await admin()).connections;
  const fds = Number(/^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${server.pid}/limits`, 'utf8'))![1]);
  assert.ok(stats.limit < fds - 100, `limit ${stats.limit} vs ${fds} descriptors`);
  assert.ok(stats.limit >= fds / 2, `limit ${stats.limit} is not needlessly low for ${fds} descriptors`);
});

test('over HTTP/1.1, invented and unrouted methods fold into one metrics series', async () => {
  const before = (await httpRequest(`${server.url}/metrics`)).text;
  // Unknown tokens are refused by Node's parser (400 in our shape); known but unrouted ones reach the router.
  const unrouted = METHODS.filter((x) => !['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT'].includes(x));
  for (let i = 0; i < 500; i++) {
    const method = i < unrouted.length ? unrouted[i]! : `X${i}INVENTED`;
    const c = await connect('127.0.0.1', `${method} /abuse/big/r000001 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await c.closed;
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(c.received())?.[1]);
    assert.ok(status >= 400 && status < 500, `${method}: ${c.received().slice(0, 200)}`);
    assert.match(c.received(), /"code":"[A-Z_]+"/, `${method}: one error shape`);
  }
  const metrics = (await httpRequest(`${server.url}/metrics`)).text;
  assert.doesNotMatch(metrics, /INVENTED|PROPFIND|MKCOL/);
  assert.match(metrics, /method="OTHER"/);
  console.log(`/metrics: ${before.length} → ${metrics.length} bytes after 500 odd methods`);
  assert.ok(metrics.length - before.length < 8192, `/metrics grew by ${metrics.length - before.length} bytes`);
});

test('over HTTP/2: invented methods fold into one series; stream, header and session limits hold', async (t) => {
  const s = await startServer({
    schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }),
    tls: true,
    headersTimeout: HEADERS_TIMEOUT,
    requestTimeout: 1500,
    http2MaxConcurrentStreams: 4,
    maxHeaderSize: 4096,
  });
  t.after(() => s.close());
  const session = http2.connect(s.url, { rejectUnauthorized: false });
  t.after(() => session.destroy());
  session.on('error', () => {});
  await new Promise<void>((res) => session.once('remoteSettings', () => res()));
  assert.equal(session.remoteSettings.maxConcurrentStreams, 4);
  assert.equal(session.remoteSettings.maxHeaderListSize, 4096);

  const ask = (headers: http2.OutgoingHttpHeaders, body?: string) =>
    new Promise<{ status: number; body: string; rst: number }>((res) => {
      const req = session.request(headers, { endStream: body === undefined });
      let status = 0;
      let text = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (d) => (text += d));
      req.on('error', () => {});
      req.on('close', () => res({ status, body: text, rst: req.rstCode ?? 0 }));
      if (body !== undefined) req.end(body);
    });

  const before = (await ask({ ':path': '/metrics' })).body;
  for (let i = 0; i < 500; i += 4) {
    const answers = await Promise.all([0, 1, 2, 3].map((j) => ask({ ':path': '/realtime-demo/message', ':method': `INVENTED${i + j}` })));
    for (const a of answers) assert.ok(a.status >= 400 && a.status < 500 && JSON.parse(a.body).code, `${a.status} ${a.body}`);
  }
  const metrics = (await ask({ ':path': '/metrics' })).body;
  assert.doesNotMatch(metrics, /INVENTED/);
  assert.match(metrics, /tablecast_http_requests_total\{method="OTHER",route="[^"]+",status="404"\} 500/);
  console.log(`/metrics over HTTP/2: ${before.length} → ${metrics.length} bytes after 500 invented methods`);
  assert.ok(metrics.length - before.length < 8192, `/metrics grew by ${metrics.length - before.length} bytes`);

  // A header list over maxHeaderSize never reaches a route.
  const big = await ask({ ':path': '/health', 'x-big': 'x'.repeat(6000) });
  assert.notEqual(big.status, 200, `oversized headers refused (${big.status}, rst ${big.rst})`);

  // A body that never ends is cut after requestTimeout; the session goes on.
  const stuck = session.request({ ':path': '/realtime-demo/message', ':method': 'POST', 'content-type': 'application/json', 'content-length': '100' }, { endStream: false });
  stuck.on('error', () => {});
  stuck.write('{"id":');
  const cut = await new Promise<number>((res) => stuck.on('close', () => res(stuck.rstCode ?? 0)));
  assert.equal(cut, http2.constants.NGHTTP2_CANCEL, 'the stuck stream is reset');
  assert.equal((await ask({ ':path': '/health' })).status, 200, 'the session still serves');

  // A session that never opens a stream is closed after headersTimeout.
  const idle = http2.connect(s.url, { rejectUnauthorized: false });
  idle.on('error', () => {});
  await new Promise<void>((res) => idle.once('close', () => res()));
  const stats = (await httpRequest(`${s.url}/admin/connections`)).body.connections;
  assert.ok(stats.idleClosed >= 1, JSON.stringify(stats));
  assert.ok(stats.streamsTimedOut >= 1, JSON.stringify(stats));
});

test('the total cap refuses connections from every address once reached', async (t) => {
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), maxConnections: 20, maxConnectionsPerAddress: 8 });
  t.after(() => s.close());
  const sPort = Number(new URL(s.url).port);
  const open = (localAddress: string) =>
    new Promise<{ socket: net.Socket; answered: Promise<boolean> }>((resolve) => {
      const socket = net.connect({ port: sPort, host: '127.0.0.1', localAddress });
      socket.on('error', () => {});
      let text = '';
      const answered = new Promise<boolean>((res) => {
        socket.on('data', (d) => (text += d) && text.includes('"ok"') && res(true));
        socket.on('close', () => res(text.includes('"ok"')));
      });
      socket.once('connect', () => {
        socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
        resolve({ socket, answered });
      });
    });
  const held: Array<{ socket: net.Socket; answered: Promise<boolean> }> = [];
  for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) for (let i = 0; i < 8; i++) held.push(await open(address));
  const answers = await Promise.all(held.map((h) => h.answered));
  t.after(() =>
    held.forEach((h) => {
      h.socket.destroy();
    }),
  );
  assert.equal(answers.filter(Boolean).length, 20, 'no more than maxConnections are served at once');
  for (const h of held) h.socket.destroy();
  await eventually(() => held.every((h) => h.socket.destroyed), 'released');
  let stats: any;
  for (let i = 0; i < 20 && !stats; i++) {
    const res = await s.req('GET', '/admin/connections').catch(() => undefined);
    if (res?.status === 200) stats = res.body.connections;
    else await new Promise((r) => setTimeout(r, 100));
  }
  // At least the 4 past the cap (a first retry above may have come before the closes were seen).
  assert.ok(stats.limit === 20 && stats.refused.total >= 4 && stats.refused.address === 0, JSON.stringify(stats));
});

test('idle connections close after keepAliveTimeout on the TLS server too: HTTP/1.1 fallback and HTTP/2 sessions', async (t) => {
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), tls: true, keepAliveTimeout: 1000 });
  t.after(() => s.close());
  const u = new URL(s.url);
  // Node's HTTP/2 server gives its HTTP/1.1 fallback no keep-alive timeout of its own.
  const h1 = tls.connect({ port: Number(u.port), host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  h1.on('error', () => {});
  let answer = '';
  h1.on('data', (d) => (answer += d));
  h1.once('secureConnect', () => h1.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
  const h1Closed = new Promise<void>((res) => h1.once('close', () => res()));
  const h2 = http2.connect(s.url, { rejectUnauthorized: false });
  h2.on('error', () => {});
  const req = h2.request({ ':path': '/health' });
  req.resume();
  req.on('error', () => {});
  const h2Closed = new Promise<void>((res) => h2.once('close', () => res()));
  // Generous: the timeout is 1 s; without one both stay open for good.
  const outcome = await Promise.race([Promise.all([h1Closed, h2Closed]).then(() => 'closed'), new Promise((res) => setTimeout(() => res('open'), 10_000))]);
  h1.destroy();
  h2.destroy();
  assert.match(answer, /^HTTP\/1\.1 200/, 'the HTTP/1.1 request was answered first');
  assert.equal(outcome, 'closed', 'both idle connections were closed');
});
