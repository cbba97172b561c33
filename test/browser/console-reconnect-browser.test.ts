/**
 * Issue #17: the console's live panel keeps its place across a reconnect. The server restarts on
 * the same data and port; changes are written before the page's EventSource is back (the server's
 * `retry:` is long enough, and the test checks no stream is open when they are written). A panel
 * that lost its place would reconnect without `Last-Event-ID` and, asking for changes only, never
 * show them; this one shows every change once, in order, after the ones it had.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { offlineBut, pageProblems, restartableServer, skipConsole } from '../helpers/browser.ts';

test('the live panel resumes after a server restart: changes made while it was away appear once, in order', { skip: skipConsole }, async (t) => {
  // The page waits this long before reconnecting: the writes below land well inside it.
  const s = await restartableServer(t, { sseRetry: 3000 });
  const { url, browser } = s;
  const context = await browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block' });
  const { blocked } = await offlineBut(context, new URL(url).origin);
  const page = await context.newPage();
  const problems = await pageProblems(page);
  await page.goto(`${url}/console`);
  await page.getByRole('button', { name: 'message', exact: true }).click();
  await page.locator('#live-status').filter({ hasText: 'connected' }).waitFor();
  const create = (id: string) => s.server.app.services.get('realtime-demo/Message')!.create({ id, title: id, content: 'c' });
  await create('before-1');
  await create('before-2');
  await page.locator('#live li').nth(1).waitFor();

  const restarted = s.restart();
  await page.locator('#live-status').filter({ hasText: 'reconnecting' }).waitFor();
  await restarted;
  for (const id of ['away-1', 'away-2', 'away-3']) await create(id);
  assert.equal(s.server.streams.size, 0, 'written while the page was disconnected');

  await page.locator('#live li').nth(4).waitFor({ timeout: 10_000 });
  await page.locator('#live-status').filter({ hasText: 'connected' }).waitFor();
  const shown = await page.locator('#live li').evaluateAll((lis) => lis.map((li) => [(li as HTMLElement).dataset.id, JSON.parse(li.lastElementChild!.textContent!).id]));
  assert.deepEqual(
    shown.map(([, id]) => id),
    ['away-3', 'away-2', 'away-1', 'before-2', 'before-1'],
    'newest first, each once, the earlier ones kept',
  );
  const ids = shown.map(([id]) => Number(id)).reverse();
  assert.deepEqual(ids, [ids[0]!, ids[0]! + 1, ids[0]! + 2, ids[0]! + 3, ids[0]! + 4], `consecutive change ids: ${ids}`);
  assert.equal(s.server.streams.size, 1, 'one stream again, on the new server');

  assert.deepEqual(blocked, [], 'no request left the server');
  // Chromium reports the refused connections while the server was down.
  assert.deepEqual(
    problems.filter((p) => !/ERR_CONNECTION_REFUSED/.test(p)),
    [],
  );
});
