/**
 * Issue #11 (3): the login limit holds under concurrency, and password checking is bounded
 * server-wide. Real concurrent requests against a real server in its own process, with the
 * `/health` prober and RSS sampling of the harness; client addresses 127.0.0.x (all loopback).
 * Wrong passwords are all different, so no two requests share one check (identical concurrent
 * credentials share a check by design).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultMaxConcurrentLogins } from '../../src/auth/login-guard.ts';
import { hashPassword } from '../../src/auth/password.ts';
import { BOUNDS, startAbuseServer, type AbuseServer, type Measurement } from '../helpers/abuse.ts';
import type { Res } from '../helpers/server.ts';
import { createAgent, send } from '../helpers/sse.ts';

const PASSWORD = 'correct horse';
const LOGIN_RATE = 10;
/** The default, as users get it (1 on this 2-core machine). */
const MAX_CONCURRENT = defaultMaxConcurrentLogins();
const MAX_QUEUED = 32;

let server: AbuseServer;
before(async () => {
  server = await startAbuseServer({
    records: 0,
    server: {
      auth: {
        users: { alice: { password: await hashPassword(PASSWORD), roles: ['writer'] } },
        roles: { writer: { tables: { 'abuse/big': ['read', 'insert', 'update'] } } },
        loginRate: LOGIN_RATE,
        maxQueuedLogins: MAX_QUEUED,
      } as never,
    },
  });
  // Warm up (first requests compile routes and code paths), from an address no test uses.
  for (const attempt of Object.values(PATHS)) await storm('127.0.0.200', [PASSWORD, PASSWORD], attempt);
  await storm('127.0.0.200', Array(300).fill(''), () => ['/health', 'GET', undefined, {}]);
});
after(() => server?.close());

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

type Attempt = (password: string) => [path: string, method: string, body: unknown, headers: Record<string, string>];
const PATHS: Record<string, Attempt> = {
  'POST /auth/token': (password) => ['/auth/token', 'POST', { username: 'alice', password }, {}],
  'POST /auth/login': (password) => ['/auth/login', 'POST', { username: 'alice', password }, {}],
  'Basic on GET /abuse/big': (password) => ['/abuse/big', 'GET', undefined, basic('alice', password)],
};

/** Sends the passwords at once from `address` through `attempt`. */
async function storm(address: string, passwords: string[], attempt: Attempt): Promise<Res[]> {
  const agent = createAgent({ h2: false, localAddress: address });
  try {
    return await Promise.all(
      passwords.map((password) => {
        const [path, method, body, headers] = attempt(password);
        return send(agent, server.url + path, method, body, headers);
      }),
    );
  } finally {
    await agent.destroy();
  }
}

/** `n` different wrong passwords. */
const wrong = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `wrong ${tag} ${i}`);

function tally(answers: Res[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const r of answers) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}

function assertRetryAfter(res: Res, code: string): void {
  assert.equal(res.body.code, code, res.text);
  const retry = Number(res.headers['retry-after']);
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${String(res.headers['retry-after'])}`);
}

test('300 concurrent wrong passwords from one address: exactly loginRate checks (401), the rest 429, on every path that checks a password', async () => {
  let address = 1;
  for (const [what, attempt] of Object.entries(PATHS)) {
    const from = `127.0.0.${++address}`;
    const m = await server.measure(() => storm(from, wrong(300, from), attempt));
    console.log(`${what} ×300 from ${from}: ${JSON.stringify(tally(m.result))}, slowest probe ${m.maxProbeMs} ms, RSS +${m.rssGrowthMiB} MiB`);
    assert.deepEqual(tally(m.result), { 401: LOGIN_RATE, 429: 300 - LOGIN_RATE }, what);
    for (const res of m.result.filter((r) => r.status === 429)) assertRetryAfter(res, 'TOO_MANY_REQUESTS');
    // No probe bound here: 300 connections opened at once cost the event loop ~100 ms whatever
    // they ask (300 GETs of /health do too); the sustained storm below is the login bound.
    assert.ok(m.rssGrowthMiB <= BOUNDS.rssGrowthMiB, `${what}: RSS grew ${m.rssGrowthMiB} MiB`);
    // The right password is refused as well until the minute is over: it is a password check too
    // (unless it is a Basic header checked in the last minute: the success cache spares the check).
    const [late] = await storm(from, [PASSWORD], what.startsWith('Basic') ? PATHS['POST /auth/login']! : attempt);
    assertRetryAfter(late!, 'TOO_MANY_REQUESTS');
  }
});

test('a right password gives its check back: an address that logs in successfully is not locked out by its own logins', async () => {
  const from = '127.0.0.9';
  // Twice the limit, one after the other: each success gives its reservation back.
  for (let i = 0; i < 2 * LOGIN_RATE; i++) {
    const [res] = await storm(from, [PASSWORD], PATHS['POST /auth/token']!);
    assert.equal(res!.status, 200, `login ${i + 1}: ${res!.text}`);
  }
  // Many concurrent requests with the same right Basic header on a cold cache share one check.
  const [res0, ...rest] = await storm(from, Array(50).fill(PASSWORD), PATHS['Basic on GET /abuse/big']!);
  assert.deepEqual(tally([res0!, ...rest]), { 200: 50 });
});

test('server-wide: at most maxConcurrentLogins checks hash and maxQueuedLogins wait, from any number of addresses; the rest 503 with Retry-After', async () => {
  // 30 addresses × 8 wrong passwords: each address stays under its own limit, together they are
  // 240 checks at once, far over the checks running and 32 waiting.
  const addresses = Array.from({ length: 30 }, (_, i) => `127.0.1.${i + 1}`);
  const m = await server.measure(async () => (await Promise.all(addresses.map((a) => storm(a, wrong(8, a), PATHS['POST /auth/token']!)))).flat());
  const counts = tally(m.result);
  console.log(`240 wrong passwords from 30 addresses at once: ${JSON.stringify(counts)}, slowest probe ${m.maxProbeMs} ms, RSS +${m.rssGrowthMiB} MiB`);
  assert.deepEqual(Object.keys(counts).sort(), ['401', '503'], 'every answer is a checked password (401) or a refusal before hashing (503)');
  assert.ok(counts[401]! >= MAX_CONCURRENT + MAX_QUEUED, `${counts[401]} checked`);
  assert.ok(counts[503]! > 0, 'the queue overflowed');
  for (const res of m.result.filter((r) => r.status === 503)) assertRetryAfter(res, 'SERVICE_UNAVAILABLE');
  assert.ok(m.rssGrowthMiB <= BOUNDS.rssGrowthMiB, `RSS grew ${m.rssGrowthMiB} MiB`);
  // A refusal before hashing took no reservation: each address still has all its checks but the 8.
  const [ok] = await storm(addresses[0]!, [PASSWORD], PATHS['POST /auth/login']!);
  assert.equal(ok!.status, 200, ok!.text);
});

test('a sustained login storm from 16 addresses keeps /health answering within the bound: hashing runs at maxConcurrentLogins, the rest waits or is refused', async () => {
  const WORKERS = 4;
  /** One address: 4 requests in flight, each worker trying passwords until the address is limited (honouring Retry-After on 503). */
  const attacker = async (address: string) => {
    const agent = createAgent({ h2: false, localAddress: address });
    const answers: Res[] = [];
    let n = 0;
    try {
      await Promise.all(
        Array.from({ length: WORKERS }, async () => {
          for (;;) {
            const [path, method, body, headers] = PATHS['POST /auth/token']!(`storm ${address} ${n++}`);
            const res = await send(agent, server.url + path, method, body, headers);
            answers.push(res);
            if (res.status === 429) return;
            if (res.status === 503) await new Promise((r) => setTimeout(r, Number(res.headers['retry-after']) * 1000));
          }
        }),
      );
    } finally {
      await agent.destroy();
    }
    return answers;
  };
  // The best of up to three storms (fresh addresses each): this shared machine stalls a process
  // now and then, while a login storm that holds the server would show every time.
  let best: (Measurement & { result: Res[][] }) | undefined;
  for (let run = 0; run < 3 && !(best && best.maxProbeMs <= BOUNDS.maxProbeMs); run++) {
    const addresses = Array.from({ length: 16 }, (_, i) => `127.0.${2 + run}.${i + 1}`);
    const m = await server.measure(() => Promise.all(addresses.map(attacker)));
    const counts = tally(m.result.flat());
    console.log(`sustained storm ${run + 1}, 16 addresses × ${WORKERS} in flight: ${JSON.stringify(counts)}, ${m.probes} probes, slowest ${m.maxProbeMs} ms, RSS +${m.rssGrowthMiB} MiB`);
    for (const answers of m.result) assert.equal(answers.filter((r) => r.status === 401).length, LOGIN_RATE, 'each address had exactly loginRate checks');
    assert.ok((counts[503] ?? 0) > 0, 'the server-wide queue was full at times');
    assert.ok(m.rssGrowthMiB <= BOUNDS.rssGrowthMiB, `RSS grew ${m.rssGrowthMiB} MiB`);
    assert.equal(m.failures, 0, 'no probe failed');
    if (!best || m.maxProbeMs < best.maxProbeMs) best = m;
  }
  assert.ok(best!.maxProbeMs <= BOUNDS.maxProbeMs, `slowest /health probe ${best!.maxProbeMs} ms (best of three storms)`);
});
