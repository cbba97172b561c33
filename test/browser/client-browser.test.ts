/**
 * `tablecast/client`'s browser entry in headless Chromium: bundled here with esbuild for the
 * browser (nothing of Node may be in it), loaded into a page of the server's own origin (HTTPS,
 * HTTP/2), logged in with the session cookie, then CRUD, search, errors, and a subscription read
 * from a fetch stream that receives writes made from outside the page, resumes after a restart
 * of the server, and ends on abort.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { build } from 'esbuild';
import { hashPassword } from '../../src/auth/password.ts';
import { restartableServer, skipWithoutChromium } from '../helpers/browser.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { eventually } from '../helpers/sse.ts';

const skip = skipWithoutChromium;
const PASSWORD = 'correct horse';

/** The browser entry as one script defining `tablecast` (what a bundler makes of `tablecast/client`). */
async function bundle(): Promise<string> {
  const out = await build({
    entryPoints: [join(ROOT, 'src/client/browser.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'tablecast',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

test('the browser entry in Chromium: cookie login, CRUD, search, errors, subscribe with resume and abort', { skip, timeout: 120_000 }, async (t) => {
  const script = await bundle();
  assert.doesNotMatch(script, /undici|require\(["']node:/, 'the browser bundle holds nothing of Node');
  const s = await restartableServer(t, {
    sseRetry: 50,
    auth: {
      users: { ed: { password: await hashPassword(PASSWORD), roles: ['editor'] } },
      roles: { editor: { tables: { 'realtime-demo/*': ['read', 'insert', 'update', 'delete', 'publish'] } } },
    },
  });
  const { url, browser } = s;
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await page.goto(`${url}/health`); // the server's origin: cookies and streams need no CORS
  await page.addScriptTag({ content: script });

  const crud = await page.evaluate(async (password) => {
    const w = globalThis as any;
    const { createClient, ClientError } = w.tablecast;
    const client = createClient({ url: location.origin, auth: 'cookie' });
    const messages = client.table('realtime-demo', 'message');
    const before = await messages.search().then(
      () => 'read without login',
      (e: any) => `${e instanceof ClientError} ${e.status} ${e.code}`,
    );
    const login = await client.login('ed', password);
    const made = await messages.create({ id: 'b1', title: 'From', content: 'the page' });
    const patched = await messages.patch('b1', { content: 'patched' });
    await messages.put('b2', { id: 'b2', title: 'Two', content: 'put' });
    const found = await messages.search('title=Two&select(id)');
    await messages.delete('b2');
    const missing = await messages.get('b2').catch((e: any) => `${e.status} ${e.code}`);
    const invalid = await messages.create({ id: 'x', title: 1 }).catch((e: any) => `${e.status} ${e.code}`);
    w.client = client;
    return { before, login: login.user, made, patched, found, missing, invalid };
  }, PASSWORD);
  assert.deepEqual(crud, {
    before: 'true 401 UNAUTHORIZED',
    login: 'ed',
    made: { id: 'b1', title: 'From', content: 'the page' },
    patched: { id: 'b1', title: 'From', content: 'patched' },
    found: ['b2'],
    missing: '404 NOT_FOUND',
    invalid: '400 VALIDATION_FAILED',
  });

  // A subscription whose events the page pulls only when told to (w.pull(n)).
  await page.evaluate(() => {
    const w = globalThis as any;
    w.controller = new AbortController();
    w.events = [];
    const iterator = w.client.table('realtime-demo', 'message').subscribe({ signal: w.controller.signal });
    w.pull = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const next = await iterator.next().catch((e: any) => ({ done: true, value: e.name }));
        if (next.done) {
          w.ended = next.value ?? 'done';
          return;
        }
        w.events.push(next.value);
      }
    };
  });
  await eventually(() => s.server.streams.size === 1, 'the page opened its stream', 10_000);
  await page.evaluate(() => (globalThis as any).pull(1));
  assert.deepEqual(await page.evaluate(() => (globalThis as any).events), [{ type: 'retained', cursor: '4', record: { id: 'b1', title: 'From', content: 'patched' } }]);

  // Written from outside: 10 live; then the server restarts on the same data and port, and 10 more
  // are written while the page reconnects: it resumes with Last-Event-ID.
  const write = (from: number, to: number) =>
    Promise.all(Array.from({ length: to - from }, (_, i) => s.server.app.services.get('realtime-demo/Message')!.create({ id: `w${from + i}`, title: 't', content: 'c' })));
  for (let i = 0; i < 10; i++) await write(i, i + 1);
  await page.evaluate(() => (globalThis as any).pull(10));
  await s.restart();
  for (let i = 10; i < 20; i++) await write(i, i + 1);
  await page.evaluate(() => (globalThis as any).pull(10));
  const got: Array<[string, number, string]> = await page.evaluate(() => (globalThis as any).events.slice(1).map((e: any) => [e.type, Number(e.cursor), e.record.id]));
  assert.deepEqual(
    got,
    Array.from({ length: 20 }, (_, i) => ['update', 5 + i, `w${i}`]),
    'every change once, in order, across the disconnect',
  );
  assert.equal(s.server.streams.size, 1, 'the page reconnected to the new server');

  const pending = page.evaluate(() => (globalThis as any).pull(1));
  await page.evaluate(() => (globalThis as any).controller.abort());
  await pending;
  assert.equal(await page.evaluate(() => (globalThis as any).ended), 'AbortError');
  await eventually(() => s.server.streams.size === 0, 'the aborted stream closed on the server');
});
