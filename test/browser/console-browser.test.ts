/**
 * Issue #17: the console in headless Chromium, offline (every request not to the server's origin
 * is aborted) over the default transport (HTTPS, HTTP/2). The page lists the tables, shows the
 * chosen one's schema, pages, searches and sorts a table's records, shows REST writes in the
 * table's live panel and a record's own; a record created, edited, published to and deleted in
 * the console through the form generated from the schema is seen over REST, with the server's
 * validation errors shown next to their fields. Keyboard only; readable at a phone's width.
 * Screenshots are saved in the test's temp directory. Auth and reconnects: console-auth-browser
 * and console-reconnect-browser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { axeViolations, browserSuite, offlineBut, pageProblems, screenshots, skipConsole } from '../helpers/browser.ts';
import { MESSAGE_SDL } from '../helpers/server.ts';

const TASK_SDL = `enum Status { open done }
type Task @table(database: "work") @export(name: "task") @sealed {
  id: ID! @primaryKey
  title: String!
  priority: Int @indexed
  done: Boolean
  status: Status
  tags: [String!]
  createdAt: Long @createdTime
}
`;

const suite = browserSuite({ files: { 'message.graphql': MESSAGE_SDL, 'task.graphql': TASK_SDL } });

/** A page of the console, offline but for the server, gathering what goes wrong. */
async function openConsole(t: { after: (fn: () => unknown) => void }): Promise<{ page: Page; problems: string[]; blocked: string[] }> {
  const context = await suite.browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block' });
  t.after(() => context.close());
  const { blocked } = await offlineBut(context, new URL(suite.server.url).origin);
  const page = await context.newPage();
  const problems = await pageProblems(page);
  const res = await page.goto(`${suite.server.url}/console`);
  assert.equal(res?.status(), 200);
  return { page, problems, blocked };
}

/** Chromium logs each refused request (400, 404, 412) as a failed load; nothing else may go wrong. */
function unexpected(problems: string[]): string[] {
  return problems.filter((p) => !/^console: Failed to load resource: the server responded with a status of (400|404|412) \(\)$/.test(p));
}

const rowCount = (page: Page, n: number) => page.waitForFunction((n) => document.querySelectorAll('#records tbody tr').length === n, n);

test('the console lists tables, pages and searches records, shows REST writes live, and creates and deletes, offline', { skip: skipConsole }, async (t) => {
  const shots = screenshots(t, 'tablecast-console-shots-');
  // 25 records: a first page of 20 and a second of 5.
  const records = Array.from({ length: 25 }, (_, i) => ({ id: `m-${String(i).padStart(2, '0')}`, title: `title ${i}`, content: 'c' }));
  assert.equal((await suite.server.req('POST', '/realtime-demo/message', records)).status, 201);
  const { page, problems, blocked } = await openConsole(t);
  assert.equal(await page.title(), 'tablecast console');
  // The table list, by database.
  const table = page.getByRole('button', { name: 'message', exact: true });
  await table.waitFor();
  assert.match(await page.locator('nav').innerText(), /realtime-demo[\s\S]*message[\s\S]*work[\s\S]*task/);
  // Auth is off: the page says so, offers no login, and shows the server's state (everyone is admin).
  assert.match(await page.locator('#session').innerText(), /auth is off/);
  assert.equal(await page.locator('#login-section').isHidden(), true);
  await page
    .locator('#server-summary')
    .filter({ hasText: /change-log head\s*\d+/ })
    .waitFor();

  // Keyboard only: focus the table's button, Enter opens it.
  await table.focus();
  await page.keyboard.press('Enter');
  assert.equal(await table.getAttribute('aria-current'), 'true');
  // The schema, from /console/schema.json: attributes, types, the key, what the caller may do.
  await page.waitForFunction(() => document.querySelectorAll('#schema tbody tr').length === 3);
  assert.deepEqual(await page.locator('#schema tbody tr').first().locator('th, td').allInnerTexts(), ['id', 'ID!', 'primary key']);
  assert.match(await page.locator('#schema-notes').innerText(), /key: id.*you may: read, insert, update, delete, publish/);
  const rows = page.locator('#records tbody tr');
  await rowCount(page, 20);
  assert.deepEqual(await page.locator('#records thead th').allInnerTexts(), ['id', 'title', 'content']);
  assert.equal(await rows.first().locator('td').first().innerText(), 'm-00');
  assert.equal(await page.locator('#prev').isDisabled(), true);
  await page.getByRole('button', { name: 'Next page' }).click();
  await rowCount(page, 5);
  assert.equal(await rows.first().locator('td').first().innerText(), 'm-20');
  assert.equal(await page.locator('#next').isDisabled(), true);

  // The search box takes the query grammar; a bad query shows the server's message.
  await page.getByLabel(/Query/).fill('title=title 7');
  await page.keyboard.press('Enter');
  await rowCount(page, 1);
  assert.equal(await rows.first().locator('td').first().innerText(), 'm-07');
  await page.getByLabel(/Query/).fill('sort(');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => (document.getElementById('records-error')?.textContent ?? '').length > 0);
  assert.match(await page.locator('#records-error').innerText(), /^QUERY_INVALID: /);

  // The live panel: a create, a publish and a delete over REST arrive with their change ids, each within a second.
  await page.waitForFunction(() => document.getElementById('live-status')?.textContent?.startsWith('connected'));
  assert.equal((await suite.server.req('POST', '/realtime-demo/message', { id: 'live-1', title: 'from REST', content: 'c' })).status, 201);
  const update = page.locator('#live li[data-kind="update"]').filter({ hasText: 'live-1' });
  await update.waitFor({ timeout: 1000 });
  assert.match(await update.innerText(), /from REST/);
  assert.equal((await suite.server.req('POST', '/realtime-demo/message/live-1', { typing: true })).status, 202);
  await page.locator('#live li[data-kind="publish"]').filter({ hasText: 'typing' }).waitFor({ timeout: 1000 });
  assert.equal((await suite.server.req('DELETE', '/realtime-demo/message/live-1')).status < 300, true);
  await page.locator('#live li[data-kind="delete"]').filter({ hasText: 'live-1' }).waitFor({ timeout: 1000 });
  const ids = (await page.locator('#live li').evaluateAll((lis) => lis.map((li) => Number((li as HTMLElement).dataset.id)))).reverse();
  assert.equal(ids.length, 3);
  assert.ok(
    ids.every((id, i) => Number.isInteger(id) && (i === 0 || id > ids[i - 1]!)),
    `change ids, increasing: ${ids}`,
  );

  // A record created in the console's form is there over REST (and in the live panel).
  await page.getByRole('button', { name: 'New record' }).click();
  assert.equal(await page.locator('#record-title').innerText(), 'New record in /realtime-demo/message');
  await page.getByLabel(/^id/).fill('c-1');
  await page.getByLabel(/^title/).fill('from the console');
  await page.getByLabel(/^content/).fill('c');
  // The table is not @sealed: undeclared attributes go in their own JSON box, declared ones only in their fields.
  await page.getByLabel(/^Other attributes/).fill('{"title": "twice", "mood": "glad"}');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('#other-attributes-error').filter({ hasText: 'title has its own field above' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'other-attributes', 'the focus goes to the field to fix');
  await page.getByLabel(/^Other attributes/).fill('{"mood": "glad"}');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('#record-result').filter({ hasText: 'created c-1' }).waitFor();
  assert.deepEqual((await suite.server.req('GET', '/realtime-demo/message/c-1')).body, { id: 'c-1', title: 'from the console', content: 'c', mood: 'glad' });
  await page.locator('#live li[data-kind="update"]').filter({ hasText: 'c-1' }).waitFor({ timeout: 1000 });
  // The created record is open for editing: its key read-only.
  assert.equal(await page.locator('#record-title').innerText(), 'Record c-1 of /realtime-demo/message');
  assert.equal(await page.getByLabel(/^id/).isEditable(), false);

  // One the server refuses: each problem next to its field, and nothing is written.
  await page.getByRole('button', { name: 'New record' }).click();
  await page.getByLabel(/^id/).fill('c-2');
  await page.getByLabel(/^title/).fill('no content');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('#record-result').filter({ hasText: 'VALIDATION_FAILED' }).waitFor();
  assert.equal(await page.locator('#field-content-error').innerText(), 'is required');
  assert.equal(await page.getByLabel(/^content/).getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel(/^title/).getAttribute('aria-invalid'), null);
  assert.equal((await suite.server.req('GET', '/realtime-demo/message/c-2')).status, 404);

  // Deleted elsewhere while open: the panel says so and offers nothing more.
  await page.getByLabel(/Query/).fill('id=in=(c-1,m-00)');
  await page.keyboard.press('Enter');
  await rowCount(page, 2);
  await page.getByRole('button', { name: 'open record m-00' }).click();
  await page.locator('#record-live-status').filter({ hasText: 'connected' }).waitFor();
  assert.equal((await suite.server.req('DELETE', '/realtime-demo/message/m-00')).status, 204);
  await page.locator('#record-notice').filter({ hasText: 'm-00 was deleted' }).waitFor({ timeout: 1000 });
  assert.equal(await page.locator('#record-form').isHidden(), true);
  // The list does not pull its rows from under the keyboard: while the focus is on a key it keeps
  // them (c-1 is deleted meanwhile), and opening the gone record says why, outside the hidden form.
  await rowCount(page, 1);
  await page.getByRole('button', { name: 'open record c-1' }).focus();
  await suite.server.req('POST', '/realtime-demo/message', { id: 'c-3', title: 'other', content: 'c' });
  await page.locator('#live li').filter({ hasText: 'c-3' }).waitFor();
  const c1 = (await suite.server.req('GET', '/realtime-demo/message/c-1')).body;
  assert.equal((await suite.server.req('DELETE', '/realtime-demo/message/c-1')).status, 204);
  await page.locator('#live li[data-kind="delete"]').filter({ hasText: 'c-1' }).waitFor();
  await page.locator('#records[data-stale="true"]').waitFor({ state: 'attached' });
  assert.equal(await page.locator('#records tbody tr').count(), 1, 'the rows stay while the focus is on one');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'open record c-1');
  await page.keyboard.press('Enter');
  await page
    .locator('#record-notice')
    .filter({ hasText: /^NOT_FOUND: / })
    .waitFor();
  // The focus left the list: it reads again.
  await rowCount(page, 0);
  assert.equal((await suite.server.req('POST', '/realtime-demo/message', c1)).status, 201);

  // Open a record from the list, delete it (two presses): gone over REST.
  await page.getByLabel(/Query/).fill('id=c-1');
  await page.keyboard.press('Enter');
  await rowCount(page, 1);
  await page.getByRole('button', { name: 'open record c-1' }).click();
  await page.waitForFunction(() => (document.getElementById('field-title') as HTMLInputElement | null)?.value === 'from the console');
  assert.equal(await page.locator('#record-title').innerText(), 'Record c-1 of /realtime-demo/message');
  const deletes: string[] = [];
  page.on('request', (r) => {
    if (r.method() === 'DELETE') deletes.push(r.url());
  });
  await page.getByRole('button', { name: 'Delete this record' }).click();
  await page.locator('#delete-result').filter({ hasText: 'press again to delete c-1' }).waitFor();
  assert.deepEqual(deletes, [], 'the first press only asks');
  await page.getByRole('button', { name: 'Press again to delete c-1' }).click();
  await page.locator('#delete-result').filter({ hasText: 'deleted c-1' }).waitFor();
  assert.equal((await suite.server.req('GET', '/realtime-demo/message/c-1')).status, 404);
  await rowCount(page, 0);

  assert.deepEqual(
    deletes,
    ['/realtime-demo/message/c-1'].map((p) => new URL(p, suite.server.url).href),
  );
  await page.screenshot({ path: shots.path('console-wide.png'), fullPage: true });

  assert.deepEqual(blocked, [], 'no request left the server');
  assert.deepEqual(unexpected(problems), []);
  shots.passed();
});

test('the console sorts by a column, edits with PATCH (typed fields, errors next to them, If-Match), publishes, and shows a record live', { skip: skipConsole }, async (t) => {
  const tasks = [
    { id: 't-1', title: 'write', priority: 2, done: false, status: 'open', tags: ['a'] },
    { id: 't-2', title: 'test', priority: 1 },
    { id: 't-3', title: 'ship', priority: 3, done: true, status: 'done' },
  ];
  assert.equal((await suite.server.req('POST', '/work/task', tasks)).status, 201);
  const shots = screenshots(t, 'tablecast-console-task-shots-');
  const { page, problems, blocked } = await openConsole(t);
  await page.getByRole('button', { name: 'task', exact: true }).click();
  await rowCount(page, 3);
  const firstKeys = () => page.locator('#records tbody tr td:first-child').allInnerTexts();
  assert.deepEqual(await firstKeys(), ['t-1', 't-2', 't-3']);
  assert.deepEqual(await page.locator('#schema tbody tr', { hasText: 'priority' }).locator('th, td').allInnerTexts(), ['priority', 'Int', 'indexed']);
  assert.deepEqual(await page.locator('#schema tbody tr', { hasText: 'status' }).locator('th, td').allInnerTexts(), ['status', 'Status (open | done)', '']);
  // Sorting by a header writes sort() into the query box; again reverses it. Lists are not sortable.
  await page.getByRole('button', { name: 'priority', exact: true }).click();
  await page.waitForFunction(() => document.querySelector('#records tbody tr td')?.textContent === 't-2');
  assert.equal(await page.getByLabel(/Query/).inputValue(), 'sort(priority)');
  assert.equal(await page.locator('#records th[aria-sort]').getAttribute('aria-sort'), 'ascending');
  assert.deepEqual(await firstKeys(), ['t-2', 't-1', 't-3']);
  await page.getByRole('button', { name: /^priority ▲$/ }).click();
  await page.waitForFunction(() => document.querySelector('#records tbody tr td')?.textContent === 't-3');
  assert.equal(await page.getByLabel(/Query/).inputValue(), 'sort(-priority)');
  assert.deepEqual(await firstKeys(), ['t-3', 't-1', 't-2']);
  await page.getByLabel(/Query/).fill('done=false&sort(-id)');
  await page.getByRole('button', { name: 'title', exact: true }).click();
  await page.waitForFunction(() => (document.getElementById('query') as HTMLInputElement).value === 'done=false&sort(title)');
  assert.equal(await page.locator('#records thead th', { hasText: 'tags' }).locator('button').count(), 0);
  await page.getByLabel(/Query/).fill('');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => [...document.querySelectorAll('#records tbody tr td:first-child')].map((td) => td.textContent).join() === 't-1,t-2,t-3');

  // The generated form: a text box, a number, a choice for Boolean and enum, JSON for a list; the server-set time read-only.
  await page.getByRole('button', { name: 'open record t-1' }).click();
  await page.waitForFunction(() => (document.getElementById('field-priority') as HTMLInputElement | null)?.value === '2');
  assert.equal(await page.locator('#record-title').innerText(), 'Record t-1 of /work/task');
  await page.waitForFunction(() => document.activeElement?.id === 'record-title');
  assert.equal(await page.getByLabel(/^priority/).inputValue(), '2');
  assert.equal(await page.getByLabel(/^done/).inputValue(), 'false');
  assert.equal(await page.getByLabel(/^status/).inputValue(), 'open');
  assert.deepEqual(JSON.parse(await page.getByLabel(/^tags/).inputValue()), ['a']);
  assert.equal(await page.getByLabel(/^createdAt/).isEditable(), false);
  await page.locator('#record-live-status').filter({ hasText: 'connected' }).waitFor();

  // Errors next to their fields: a number that is none, and JSON that does not parse (never sent).
  await page.getByLabel(/^priority/).fill('high');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('#field-priority-error').filter({ hasText: /./ }).waitFor();
  assert.match(await page.locator('#record-result').innerText(), /^VALIDATION_FAILED: /);
  assert.equal(await page.getByLabel(/^priority/).getAttribute('aria-invalid'), 'true');
  await page.getByLabel(/^tags/).fill('["a",');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page
    .locator('#field-tags-error')
    .filter({ hasText: /^is not JSON/ })
    .waitFor();
  assert.equal((await suite.server.req('GET', '/work/task/t-1')).body.priority, 2, 'nothing was written');

  // A PATCH carries only the changed fields; the record's live panel shows it, the table's too.
  await page.getByLabel(/^priority/).fill('5');
  await page.getByLabel(/^tags/).fill('["a","b"]');
  await page.getByLabel(/^done/).selectOption('true');
  // Written meanwhile over REST to another attribute: the stored title must survive the console's edit.
  const other = await suite.server.req('PATCH', '/work/task/t-1', { title: 'rewritten' });
  assert.equal(other.status, 200);
  // The form does not overwrite the visitor's edits: it says what happened and offers the change.
  await page.locator('#record-notice').filter({ hasText: 'changed since you opened it: saving it would be refused.' }).waitFor();
  assert.equal(await page.locator('#record-notice').getByRole('button', { name: 'Show the change' }).isVisible(), true);
  assert.equal(await page.getByLabel(/^priority/).inputValue(), '5');
  await page.getByRole('button', { name: 'Save changes' }).click();
  // The console read version 1; the record is at version 2 now: If-Match refuses, nothing lost.
  await page.locator('#record-result').filter({ hasText: 'PRECONDITION_FAILED' }).waitFor();
  assert.equal((await suite.server.req('GET', '/work/task/t-1')).body.priority, 2);
  await page.locator('#record-live li[data-kind="update"]').filter({ hasText: 'rewritten' }).waitFor({ timeout: 1000 });
  await page.locator('#record-notice').getByRole('button', { name: 'Show the change' }).click();
  await page.waitForFunction(() => (document.getElementById('field-title') as HTMLInputElement | null)?.value === 'rewritten');
  assert.equal(await page.getByLabel(/^priority/).inputValue(), '2', 'the edits were dropped for the stored record');
  await page.getByLabel(/^priority/).fill('5');
  await page.getByLabel(/^tags/).fill('["a","b"]');
  await page.getByLabel(/^done/).selectOption('true');
  await page.getByLabel(/^status/).selectOption('');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('#record-result').filter({ hasText: 'saved t-1' }).waitFor();
  const saved = (await suite.server.req('GET', '/work/task/t-1')).body;
  assert.deepEqual({ ...saved, createdAt: 0 }, { id: 't-1', title: 'rewritten', priority: 5, done: true, status: null, tags: ['a', 'b'], createdAt: 0 });
  await page.locator('#record-live li[data-kind="update"]').filter({ hasText: '"priority":5' }).waitFor({ timeout: 1000 });
  assert.equal(await page.locator('#record-notice').innerText(), '', 'its own save is not reported as a change made elsewhere');
  // Changed elsewhere while the form is untouched: the form follows. (A query being typed meanwhile is
  // neither run nor lost: the list reads the last one searched.)
  await page.getByLabel(/Query/).fill('sort(');
  assert.equal((await suite.server.req('PATCH', '/work/task/t-1', { title: 'from elsewhere' })).status, 200);
  await page.waitForFunction(() => (document.getElementById('field-title') as HTMLInputElement).value === 'from elsewhere');
  assert.equal(await page.locator('#record-notice').innerText(), 'updated by a change made elsewhere');
  // ...and so do the records listed (read again at most once a second).
  await page.locator('#records tbody tr').filter({ hasText: 'from elsewhere' }).waitFor();
  assert.equal(await page.getByLabel(/Query/).inputValue(), 'sort(');
  assert.equal(await page.locator('#records-error').innerText(), '');

  // Publish: to the record's subscribers, seen in its live panel; a message that is not JSON is not sent.
  await page.getByLabel(/Message to publish/).fill('{"typing": true');
  await page.getByRole('button', { name: 'Publish' }).click();
  await page.locator('#publish-result').filter({ hasText: 'not JSON' }).waitFor();
  await page.getByLabel(/Message to publish/).fill('{"typing": true}');
  await page.getByRole('button', { name: 'Publish' }).click();
  await page.locator('#publish-result').filter({ hasText: 'published to t-1' }).waitFor();
  await page.locator('#record-live li[data-kind="publish"]').filter({ hasText: 'typing' }).waitFor({ timeout: 1000 });
  // Another record's changes are not in this record's panel (a later change of this record is, so
  // the other's, written first, would be there by then).
  await suite.server.req('PATCH', '/work/task/t-2', { title: 'another' });
  await page.locator('#live li[data-kind="update"]').filter({ hasText: 'another' }).waitFor({ timeout: 1000 });
  assert.equal((await suite.server.req('POST', '/work/task/t-1', { after: true })).status, 202);
  await page.locator('#record-live li[data-kind="publish"]').filter({ hasText: 'after' }).waitFor({ timeout: 1000 });
  const kinds = await page.locator('#record-live li').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.kind));
  assert.deepEqual(kinds, ['publish', 'publish', 'update', 'update', 'update']);

  // A phone's width with rows and a record on screen: one column, nothing wider than the screen but the records' own scroller.
  await page.setViewportSize({ width: 360, height: 740 });
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth), true);
  const panes = await page.evaluate(() => [...document.querySelectorAll('.pane')].map((p) => Math.round(p.getBoundingClientRect().left)));
  assert.equal(new Set(panes).size, 1, `one column: both panes start at the same left edge (${panes})`);
  await page.screenshot({ path: shots.path('console-narrow.png'), fullPage: true });

  assert.deepEqual(blocked, [], 'no request left the server');
  assert.deepEqual(unexpected(problems), []);
  shots.passed();
});

test('the console passes axe-core WCAG 2.1 A and AA checks (labels, names, contrast), in light and dark colours', { skip: skipConsole }, async (t) => {
  await suite.server.req('PUT', '/work/task/a11y', { title: 'checked', priority: 1, done: true, status: 'open', tags: ['x'] });
  t.after(() => suite.server.req('DELETE', '/work/task/a11y'));
  for (const colorScheme of ['light', 'dark'] as const) {
    // bypassCSP: axe is injected as a script the page's own CSP would refuse.
    const context = await suite.browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block', bypassCSP: true, colorScheme });
    t.after(() => context.close());
    const page = await context.newPage();
    await page.goto(`${suite.server.url}/console`);
    await page.getByRole('button', { name: 'task', exact: true }).click();
    await openTask(page);
    // A validation error on screen too: its colour is checked with the rest.
    await page.getByLabel(/^priority/).fill('high');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('#field-priority-error').filter({ hasText: /./ }).waitFor();
    await page.locator('#live-status').filter({ hasText: 'connected' }).waitFor();
    assert.deepEqual(await axeViolations(page), [], `${colorScheme} colours`);
  }
});

async function openTask(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'open record a11y' }).click();
  await page.waitForFunction(() => (document.getElementById('field-title') as HTMLInputElement | null)?.value === 'checked');
}
