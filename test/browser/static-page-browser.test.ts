/**
 * The order-feed example's page (examples/order-feed/public), served by the server itself with
 * `static`, in headless Chromium: the page logs in with the session cookie, lists the orders through
 * its EventSource's retained data, and shows an order written by the test while it watches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { createOrderFeed, PUBLIC_DIR } from '../../examples/order-feed/server.ts';
import { launchChromium, skipWithoutChromium } from '../helpers/browser.ts';
import { httpRequest, tmpDir } from '../helpers/server.ts';

const skip = skipWithoutChromium;
const { auth } = JSON.parse(readFileSync(new URL('../../examples/order-feed/tablecast.config.json', import.meta.url), 'utf8'));
const line = { productId: 'p1', quantity: 2, unitPrice: 4.5 };

test('the order-feed page, served from the API origin, logs in with the cookie and shows orders live', { skip }, async (t) => {
  const data = tmpDir();
  const { server } = await createOrderFeed({ port: 0, host: '127.0.0.1', tls: true, logLevel: 'silent', data, auth, static: { dir: PUBLIC_DIR } });
  const url = await server.listen();
  const browser = await launchChromium();
  t.after(async () => {
    // The browser first: its HTTP/2 session would hold the server's close.
    await browser.close();
    await server.close();
    rmSync(data, { recursive: true, force: true });
  });
  const orders = server.tables.shop!.order!;
  await orders.create({ customerEmail: 'before@example.com', lines: [line], total: 9 });

  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(new URL(r.url()).origin));
  const opened = await page.goto(`${url}/`);
  assert.equal(opened?.status(), 200);
  assert.match(String(opened?.headers()['content-type']), /^text\/html/);
  assert.equal(await page.title(), 'Order feed');

  // A wrong password is shown on the page; the right one logs in.
  await page.fill('input[name=password]', 'wrong');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => (document.getElementById('login-error')?.textContent ?? '').length > 0);
  await page.fill('input[name=password]', 'orders-demo');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live');
  assert.equal(await page.textContent('#user'), 'clerk');
  const cookies = await context.cookies(url);
  assert.ok(
    cookies.some((c) => c.httpOnly && c.secure),
    'the session is an HttpOnly, Secure cookie the page itself cannot read',
  );

  // The order from before the page opened is listed (the stream's retained data).
  await page.waitForFunction(() => document.getElementById('orders')?.textContent?.includes('before@example.com'));
  // One written now, through the table API, arrives over the page's EventSource.
  const created = await orders.create({ customerEmail: 'ann@example.com', lines: [line, line], total: 18 });
  await page.waitForFunction((id) => document.querySelector(`#orders tr[data-id="${id}"]`)?.textContent?.includes('ann@example.com'), created.id);
  const row = await page.textContent(`#orders tr[data-id="${created.id}"]`);
  assert.match(String(row), /ann@example\.com.*4.*18\.00/);
  // And one written over REST by another client (HTTP Basic) shows too.
  const basic = `Basic ${Buffer.from('clerk:orders-demo').toString('base64')}`;
  const posted = await httpRequest(`${url}/shop/order`, 'POST', { customerEmail: 'bo@example.com', lines: [line], total: 9 }, { authorization: basic });
  assert.equal(posted.status, 201, posted.text);
  await page.waitForFunction(() => document.getElementById('orders')?.textContent?.includes('bo@example.com'));

  // Every request the page made went to the one origin.
  assert.deepEqual([...new Set(requests)], [new URL(url).origin]);
});
