/**
 * Issue #17: the console in headless Chromium, offline (every request not to the server's origin
 * is aborted) over the default transport (HTTPS, HTTP/2). The page lists the tables, shows the
 * chosen one's schema, pages a
 * table's records and searches them with the query grammar, its live panel shows a record
 * written, published to and deleted over REST, with the change ids, and a record created or
 * deleted in the console is seen over REST, with the server's validation errors shown. Keyboard only; readable at a
 * phone's width. Screenshots are saved in the test's temp directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { browserSuite, offlineBut, pageProblems, skipWithoutChromium } from '../helpers/browser.ts';
import { tmpDir } from '../helpers/server.ts';

const built = existsSync(new URL('../../dist/console/console.js', import.meta.url));
const skip = skipWithoutChromium || (built ? false : 'dist/console/ is missing: run `npm run build` (npm test does)');

const suite = browserSuite();

test('the console lists tables, pages and searches records, shows REST writes live, and creates and deletes, offline', { skip }, async (t) => {
  const shots = tmpDir('tablecast-console-shots-');
  t.after(() => rmSync(shots, { recursive: true, force: true }));
  // 25 records: a first page of 20 and a second of 5.
  const records = Array.from({ length: 25 }, (_, i) => ({ id: `m-${String(i).padStart(2, '0')}`, title: `title ${i}`, content: 'c' }));
  assert.equal((await suite.server.req('POST', '/realtime-demo/message', records)).status, 201);

  const context = await suite.browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block' });
  t.after(() => context.close());
  const origin = new URL(suite.server.url).origin;
  const { blocked } = await offlineBut(context, origin);
  const page = await context.newPage();
  const problems = await pageProblems(page);

  const res = await page.goto(`${suite.server.url}/console`);
  assert.equal(res?.status(), 200);
  assert.equal(await page.title(), 'tablecast console');
  // The table list, from GET /: the database and its table.
  const table = page.getByRole('button', { name: 'message', exact: true });
  await table.waitFor();
  assert.match(await page.locator('nav').innerText(), /realtime-demo[\s\S]*message/);

  // Keyboard only: Tab to the table's button, Enter opens it.
  await table.focus();
  await page.keyboard.press('Enter');
  assert.equal(await table.getAttribute('aria-current'), 'true');
  // The schema, from /console/schema.json: attributes, types, the key, what the caller may do.
  await page.waitForFunction(() => document.querySelectorAll('#schema tbody tr').length === 3);
  assert.deepEqual(await page.locator('#schema tbody tr').first().locator('th, td').allInnerTexts(), ['id', 'ID!', 'primary key']);
  assert.match(await page.locator('#schema-notes').innerText(), /key: id.*you may: read, insert, update, delete, publish/);
  const rows = page.locator('#records tbody tr');
  await page.waitForFunction(() => document.querySelectorAll('#records tbody tr').length === 20);
  assert.deepEqual(await page.locator('#records thead th').allInnerTexts(), ['id', 'title', 'content']);
  assert.equal(await rows.first().locator('td').first().innerText(), 'm-00');
  assert.equal(await page.locator('#prev').isDisabled(), true);
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#records tbody tr').length === 5);
  assert.equal(await rows.first().locator('td').first().innerText(), 'm-20');
  assert.equal(await page.locator('#next').isDisabled(), true);

  // The search box takes the query grammar; a bad query shows the server's message.
  await page.getByLabel(/Query/).fill('title=title 7');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#records tbody tr').length === 1);
  assert.equal(await rows.first().locator('td').first().innerText(), 'm-07');
  await page.getByLabel(/Query/).fill('sort(');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => (document.getElementById('records-error')?.textContent ?? '').length > 0);
  assert.match(await page.locator('#records-error').innerText(), /^[A-Z_]+: /);

  // The live panel: a create, a publish and a delete over REST arrive with their change ids.
  await page.waitForFunction(() => document.getElementById('live-status')?.textContent?.startsWith('connected'));
  assert.equal((await suite.server.req('POST', '/realtime-demo/message', { id: 'live-1', title: 'from REST', content: 'c' })).status, 201);
  const update = page.locator('#live li[data-kind="update"]').filter({ hasText: 'live-1' });
  await update.waitFor();
  assert.match(await update.innerText(), /from REST/);
  assert.equal((await suite.server.req('POST', '/realtime-demo/message/live-1', { typing: true })).status < 300, true);
  await page.locator('#live li[data-kind="publish"]').filter({ hasText: 'typing' }).waitFor();
  assert.equal((await suite.server.req('DELETE', '/realtime-demo/message/live-1')).status < 300, true);
  await page.locator('#live li[data-kind="delete"]').filter({ hasText: 'live-1' }).waitFor();
  const ids = (await page.locator('#live li').evaluateAll((lis) => lis.map((li) => Number((li as HTMLElement).dataset.id)))).reverse();
  assert.equal(ids.length, 3);
  assert.ok(
    ids.every((id, i) => Number.isInteger(id) && (i === 0 || id > ids[i - 1]!)),
    `change ids, increasing: ${ids}`,
  );

  // A record created in the console is there over REST (and in the live panel).
  await page.getByLabel(/New record/).fill('{"id":"c-1","title":"from the console","content":"c"}');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('#create-result').filter({ hasText: 'created' }).waitFor();
  assert.equal((await suite.server.req('GET', '/realtime-demo/message/c-1')).body.title, 'from the console');
  await page.locator('#live li[data-kind="update"]').filter({ hasText: 'c-1' }).waitFor();
  // One the server refuses shows each problem it found, and nothing is written.
  await page.getByLabel(/New record/).fill('{"id":"c-2","title":5}');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('#create-result').filter({ hasText: 'VALIDATION_FAILED' }).waitFor();
  assert.deepEqual(await page.locator('#create-result li').allInnerTexts(), ['title: expected a string, got 5', 'content: is required']);
  assert.equal(await page.getByLabel(/New record/).getAttribute('aria-invalid'), 'true');
  assert.equal((await suite.server.req('GET', '/realtime-demo/message/c-2')).status, 404);
  // Delete by key: gone over REST; an unknown key shows the server's 404.
  await page.getByLabel(/Key of the record/).fill('c-1');
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.locator('#delete-result').filter({ hasText: 'deleted c-1' }).waitFor();
  assert.equal((await suite.server.req('GET', '/realtime-demo/message/c-1')).status, 404);
  await page.getByLabel(/Key of the record/).fill('c-1');
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.locator('#delete-result').filter({ hasText: 'NOT_FOUND' }).waitFor();

  await page.screenshot({ path: join(shots, 'console-wide.png'), fullPage: true });
  assert.ok(existsSync(join(shots, 'console-wide.png')));

  // A phone's width: one column, nothing wider than the screen but the records' own scroller.
  await page.setViewportSize({ width: 360, height: 740 });
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth), true);
  await page.screenshot({ path: join(shots, 'console-narrow.png'), fullPage: true });

  assert.deepEqual(blocked, [], 'no request left the server');
  // Chromium logs the refused query, create and delete (400, 404) as failed loads; nothing else may go wrong.
  assert.deepEqual(
    problems.filter((p) => !/^console: Failed to load resource: the server responded with a status of (400|404) \(\)$/.test(p)),
    [],
  );
});
