/**
 * Issue #17: the console with auth configured, in headless Chromium over HTTPS. A visitor without
 * credentials gets the login form and no table; a wrong password shows the server's refusal; the
 * form's session cookie then carries every request and stream. Each role sees only what it may
 * do, and every action the page offers is one the server takes (checked over REST with the same
 * user): a reader gets read-only records; a member whose update, publish and delete are limited to
 * its own records gets them on its own records only; only an admin sees the server's state. A
 * stale session cookie does not keep the page from loading: it offers the login form, saying why.
 * Screenshots are saved in the test's temp directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { hashPassword } from '../../src/auth/password.ts';
import { axeViolations, browserSuite, offlineBut, pageProblems, screenshots, skipConsole } from '../helpers/browser.ts';

const NOTE_SDL = `type Note @table(database: "team") @export(name: "note") {
  id: ID! @primaryKey
  owner: String!
  text: String!
}
`;
const PASSWORD = 'correct horse';

const suite = browserSuite({
  files: { 'note.graphql': NOTE_SDL },
  server: {
    auth: {
      users: Object.fromEntries(
        await Promise.all(
          [
            ['viewer', ['reader']],
            ['alice', ['member']],
            ['root', ['ops']],
          ].map(async ([name, roles]) => [name, { password: await hashPassword(PASSWORD), roles }]),
        ),
      ),
      roles: {
        reader: { tables: { 'team/note': ['read'] } },
        member: { tables: { 'team/note': { read: true, insert: true, update: { filter: 'owner=$user' }, delete: { filter: 'owner=$user' }, publish: { filter: 'owner=$user' } } } },
        ops: { admin: true, tables: { '*': ['read'] } },
      },
    },
  },
});

const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}` });

async function logIn(page: Page, user: string, password = PASSWORD): Promise<void> {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

async function openRecord(page: Page, key: string): Promise<void> {
  await page.getByRole('button', { name: `open record ${key}` }).click();
  await page.waitForFunction((k) => (document.getElementById('field-id') as HTMLInputElement | null)?.value === k, key);
}

/** Which of the record panel's actions are on offer. */
const offered = (page: Page) =>
  page.evaluate(() =>
    [
      ['save', 'record-save'],
      ['publish', 'publish'],
      ['delete', 'record-delete'],
    ]
      .filter(([, id]) => {
        const e = document.getElementById(id!)!;
        return !e.hidden && !e.closest('[hidden]');
      })
      .map(([name]) => name),
  );

test('the console logs in with a cookie, and shows each role only what it may do', { skip: skipConsole }, async (t) => {
  const shots = screenshots(t, 'tablecast-console-auth-shots-');
  for (const [id, owner] of [
    ['a1', 'alice'],
    ['b1', 'bob'],
  ]) {
    assert.equal((await suite.server.req('POST', '/team/note', { id, owner, text: `by ${owner}` }, basic('root'))).status, 403, 'root only reads');
  }
  // Written directly by the server's own API (no role), as an app's code would.
  const notes = suite.server.server.app.services.get('team/Note')!;
  await notes.create({ id: 'a1', owner: 'alice', text: 'by alice' });
  await notes.create({ id: 'b1', owner: 'bob', text: 'by bob' });

  // bypassCSP: axe-core is injected to check the login form (console-browser checks the CSP itself).
  const context = await suite.browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block', bypassCSP: true });
  t.after(() => context.close());
  const { blocked } = await offlineBut(context, new URL(suite.server.url).origin);
  const page = await context.newPage();
  const problems = await pageProblems(page);
  await page.goto(`${suite.server.url}/console`);

  // No credentials: the login form, no table, no server state.
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await page.locator('nav').filter({ hasText: 'Log in to see the tables.' }).waitFor();
  assert.equal(await page.locator('#server-section').isHidden(), true);
  await page.screenshot({ path: shots.path('login.png') });
  // A wrong password: the server's refusal, beside the form; still nobody.
  await logIn(page, 'viewer', 'wrong');
  await page
    .locator('#login-result')
    .filter({ hasText: /^UNAUTHORIZED: / })
    .waitFor();
  assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
  assert.deepEqual(await axeViolations(page), [], 'the login form, its error showing');

  // A reader: the table, read-only; nothing to create, change, publish or delete; no server state.
  await logIn(page, 'viewer');
  await page.locator('#session').filter({ hasText: 'signed in as viewer (reader)' }).waitFor();
  assert.equal(await page.locator('#login-section').isHidden(), true);
  await page.getByRole('button', { name: 'note', exact: true }).click();
  await page.locator('#records tbody tr').nth(1).waitFor();
  assert.match(await page.locator('#schema-notes').innerText(), /you may: read$/);
  assert.equal(await page.getByRole('button', { name: 'New record' }).isHidden(), true);
  await openRecord(page, 'a1');
  assert.deepEqual(await offered(page), []);
  assert.equal(await page.locator('#record-readonly').isVisible(), true);
  assert.equal(await page.getByLabel(/^text/).isEditable(), false);
  assert.equal(await page.locator('#server-section').isHidden(), true);
  // What it was not offered, the server refuses.
  assert.equal((await suite.server.req('PATCH', '/team/note/a1', { text: 'x' }, basic('viewer'))).status, 403);
  assert.equal((await suite.server.req('POST', '/team/note', { id: 'v1', owner: 'viewer', text: 'x' }, basic('viewer'))).status, 403);
  // Its live panel runs on the cookie.
  await page.locator('#live-status').filter({ hasText: 'connected' }).waitFor();
  await notes.patch('b1', { text: 'seen by the reader' });
  await page.locator('#live li[data-kind="update"]').filter({ hasText: 'seen by the reader' }).waitFor({ timeout: 1000 });
  await page.screenshot({ path: shots.path('reader.png'), fullPage: true });

  // Log out: back to the form, and the cookie no longer reads anything.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  assert.equal(await page.evaluate(() => fetch('/team/note/a1').then((r) => r.status)), 401);

  // A member limited to its own records: offered changes on a1 (its own), none on b1, and can create.
  await logIn(page, 'alice');
  await page.locator('#session').filter({ hasText: 'signed in as alice (member)' }).waitFor();
  await page.getByRole('button', { name: 'note', exact: true }).click();
  assert.match(await page.locator('#schema-notes').innerText(), /update \(matching records only\)/);
  await openRecord(page, 'b1');
  assert.deepEqual(await offered(page), []);
  assert.equal(await page.locator('#record-readonly').isVisible(), true);
  assert.equal((await suite.server.req('PATCH', '/team/note/b1', { text: 'x' }, basic('alice'))).status, 403);
  assert.equal((await suite.server.req('POST', '/team/note/b1', { hello: 1 }, basic('alice'))).status, 403);
  assert.equal((await suite.server.req('DELETE', '/team/note/b1', undefined, basic('alice'))).status, 403);
  await openRecord(page, 'a1');
  assert.deepEqual(await offered(page), ['save', 'publish', 'delete']);
  // Publishing from the page works (deleting is tried by console-browser: here a1 is kept).
  await page.getByLabel(/Message to publish/).fill('{"hello": 1}');
  await page.getByRole('button', { name: 'Publish' }).click();
  await page.locator('#publish-result').filter({ hasText: 'published to a1' }).waitFor();
  await page.getByLabel(/^text/).fill('edited in the console');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('#record-result').filter({ hasText: 'saved a1' }).waitFor();
  assert.equal((await suite.server.req('GET', '/team/note/a1', undefined, basic('alice'))).body.text, 'edited in the console');
  // An edit that would move the record out of the member's reach is refused by the server, shown, and changes nothing.
  await page.getByLabel(/^owner/).fill('bob');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page
    .locator('#record-result')
    .filter({ hasText: /^FORBIDDEN: / })
    .waitFor();
  assert.equal((await suite.server.req('GET', '/team/note/a1', undefined, basic('alice'))).body.owner, 'alice');
  assert.equal(await page.getByRole('button', { name: 'New record' }).isVisible(), true);
  assert.equal(await page.locator('#server-section').isHidden(), true);

  // An admin sees the server's state: its own open stream on the table among them.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await logIn(page, 'root');
  await page.locator('#session').filter({ hasText: 'signed in as root (ops)' }).waitFor();
  await page.getByRole('button', { name: 'note', exact: true }).click();
  await page.locator('#live-status').filter({ hasText: 'connected' }).waitFor();
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page.locator('#server-tables tbody tr').filter({ hasText: 'team/note' }).waitFor();
  assert.deepEqual(await page.locator('#server-tables tbody tr').filter({ hasText: 'team/note' }).locator('th, td').allInnerTexts(), ['team/note', '1', '1']);
  assert.match(await page.locator('#server-summary').innerText(), /open streams\s*1\b/);
  assert.match(await page.locator('#server-summary').innerText(), /change-log head\s*\d+/);
  // An admin here only reads: its records are read-only, and nothing to create.
  await openRecord(page, 'b1');
  assert.deepEqual(await offered(page), []);
  assert.equal(await page.getByRole('button', { name: 'New record' }).isHidden(), true);
  await page.screenshot({ path: shots.path('admin.png'), fullPage: true });

  // A cookie the server no longer takes (expired, or logged out elsewhere): the page still loads,
  // says why, and logging in again replaces it.
  const stale = await suite.browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block' });
  t.after(() => stale.close());
  await stale.addCookies([{ name: 'tablecast_session', value: 'no-longer-valid', url: suite.server.url }]);
  const again = await stale.newPage();
  assert.equal((await again.goto(`${suite.server.url}/console`))?.status(), 200);
  await again
    .locator('#login-result')
    .filter({ hasText: /^UNAUTHORIZED: / })
    .waitFor();
  await logIn(again, 'viewer');
  await again.locator('#session').filter({ hasText: 'signed in as viewer (reader)' }).waitFor();
  await again.getByRole('button', { name: 'note', exact: true }).waitFor();

  assert.deepEqual(blocked, [], 'no request left the server');
  // Chromium logs the refused login, the refused save and the logged-out read as failed loads; nothing else may go wrong.
  assert.deepEqual(
    problems.filter((p) => !/^console: Failed to load resource: the server responded with a status of (401|403) \(\)$/.test(p)),
    [],
  );
  shots.passed();
});
