/**
 * Seed 000's JavaScript client in a real browser: headless Debian Chromium opens eight
 * `new EventSource(...)` at once on collection and record URLs of the tablecast origin over HTTPS
 * and HTTP/2 (over HTTP/1.1 a browser would stall the seventh), and receives `update`, `publish`
 * and `delete` through addEventListener for writes made over REST.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startSseServer } from '../helpers/sse.ts';
import { launchChromium, skipWithoutChromium } from '../helpers/browser.ts';

const skip = skipWithoutChromium;

const URLS = [
  '/realtime-demo/message?stream=sse', // seed 000's collection URL
  '/realtime-demo/message', // EventSource's own Accept: text/event-stream suffices
  '/realtime-demo/message/?stream=sse&retained=false',
  '/realtime-demo/message?title=b&stream=sse', // filtered
  '/realtime-demo/message/msg-1?stream=sse', // record-level
  '/realtime-demo/message/msg-2?stream=sse',
  '/realtime-demo/message/msg-3?stream=sse',
  '/realtime-demo/message/msg-4?stream=sse',
];

interface Got {
  type: string;
  id: string;
  data: any;
}

test('8 EventSources at once over HTTPS/HTTP2 in Chromium receive update, publish and delete', { skip }, async (t) => {
  const s = await startSseServer(t, { tls: true });
  for (let i = 1; i <= 4; i++) await s.req('POST', '/realtime-demo/message', { id: `msg-${i}`, title: i % 2 ? 'a' : 'b', content: 'before' }); // 1-4

  const browser = await launchChromium();
  // Closed before the server: the browser's HTTP/2 session would hold the server's close().
  s.defer(() => browser.close());
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const health = await page.goto(`${s.url}/health`); // same origin as the streams
  assert.equal(health?.status(), 200);
  const protocol = await page.evaluate(() => (globalThis as any).performance.getEntriesByType('navigation')[0].nextHopProtocol);
  assert.equal(protocol, 'h2');

  await page.evaluate((urls) => {
    const w = globalThis as any;
    w.got = urls.map(() => []);
    w.opened = 0;
    w.errors = 0;
    w.sources = urls.map((url: string, i: number) => {
      const source = new w.EventSource(url);
      source.addEventListener('open', () => w.opened++);
      source.addEventListener('error', () => w.errors++);
      for (const type of ['message', 'update', 'delete', 'publish']) {
        source.addEventListener(type, (e: any) => w.got[i].push({ type, id: e.lastEventId, data: JSON.parse(e.data) }));
      }
      return source;
    });
  }, URLS);
  await page.waitForFunction(() => (globalThis as any).opened === 8, undefined, { timeout: 5000 });
  assert.equal(s.server.streams.size, 8, 'all eight streams are open at the same time');
  assert.equal(s.server.app.hub.count(), 8);

  for (let i = 1; i <= 4; i++) {
    await s.req('PATCH', `/realtime-demo/message/msg-${i}`, { content: 'live' }); // 5, 8, 11, 14
    await s.req('POST', `/realtime-demo/message/msg-${i}`, { text: `hi ${i}` }); // 6, 9, 12, 15
    await s.req('DELETE', `/realtime-demo/message/msg-${i}`); // 7, 10, 13, 16
  }
  const state = async () => (await page.evaluate(() => ({ got: (globalThis as any).got, errors: (globalThis as any).errors }))) as { got: Got[][]; errors: number };
  try {
    // Each stream's last expected event is a delete: of msg-4 on the collections, of its record on the others.
    await page.waitForFunction(() => (globalThis as any).got.every((g: any[], i: number) => g.at(-1)?.type === 'delete' && (i >= 4 || g.at(-1).data.id === 'msg-4')), undefined, { timeout: 5000 });
  } catch (err) {
    throw new Error(`${(err as Error).message}; the page has ${JSON.stringify(await state())}`);
  }
  const { got, errors } = await state();
  assert.equal(errors, 0);

  const live = (i: number): Got[] => {
    const base = 5 + (i - 1) * 3;
    return [
      { type: 'update', id: String(base), data: { id: `msg-${i}`, title: i % 2 ? 'a' : 'b', content: 'live' } },
      { type: 'publish', id: String(base + 1), data: { id: `msg-${i}`, message: { text: `hi ${i}` } } },
      { type: 'delete', id: String(base + 2), data: { id: `msg-${i}` } },
    ];
  };
  const connected: Got = { type: 'message', id: '4', data: { type: 'connected', status: 'ok' } };
  const retained = (i: number): Got => ({ type: 'message', id: '4', data: { id: `msg-${i}`, title: i % 2 ? 'a' : 'b', content: 'before' } });
  const all = [1, 2, 3, 4].flatMap(live);

  for (const n of [0, 1]) assert.deepEqual(got[n], [connected, ...[1, 2, 3, 4].map(retained), ...all], URLS[n]);
  assert.deepEqual(got[2], [connected, ...all], URLS[2]);
  assert.deepEqual(got[3], [connected, retained(2), retained(4), ...live(2), ...live(4)], URLS[3]);
  for (let i = 1; i <= 4; i++) assert.deepEqual(got[3 + i], [connected, retained(i), ...live(i)], URLS[3 + i]);

  // Closing them in the page frees every stream on the server.
  await page.evaluate(() =>
    (globalThis as any).sources.forEach((source: any) => {
      source.close();
    }),
  );
  await eventually(() => s.server.streams.size === 0 && s.server.app.hub.count() === 0, 'the server freed the browser streams');
  await context.close();
});
