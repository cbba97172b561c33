/**
 * Issue #12 (5): GraphiQL works with no network but the server's. Headless Chromium over the
 * default transport (HTTPS, HTTP/2, dev certificate) with every request to another origin
 * aborted: the page loads only from the server, its title is right, the editor renders, and a
 * query typed into it runs against a real table. The page's CSP must not block any of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, offlineBut, pageProblems, skipWithoutChromium } from '../helpers/browser.ts';

const skip = skipWithoutChromium;

const suite = browserSuite();

test('GraphiQL loads from the server alone, offline, and runs a query on a real table', { skip }, async () => {
  assert.equal((await suite.server.req('POST', '/realtime-demo/message', { id: 'g-1', title: 'seen in GraphiQL', content: 'c' })).status, 201);
  // Workers included (Monaco runs its editor services in them): every request the context makes.
  const context = await suite.browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block' });
  const origin = new URL(suite.server.url).origin;
  const { requested, blocked } = await offlineBut(context, origin);
  try {
    const page = await context.newPage();
    const problems = await pageProblems(page);

    const res = await page.goto(`${suite.server.url}/realtime-demo/graphql`);
    assert.equal(res?.status(), 200);
    assert.match(String(res?.headers()['content-type']), /^text\/html/);
    assert.match(String(res?.headers()['content-security-policy']), /default-src 'self'/);
    assert.equal(await page.title(), 'tablecast GraphiQL · realtime-demo');

    // The editor renders (Monaco, in GraphiQL's query pane) ...
    const editor = page.locator('.graphiql-query-editor .monaco-editor').first();
    await editor.waitFor({ timeout: 20_000 });
    assert.doesNotMatch(await page.locator('#root').innerText(), /Loading/);
    // ... takes a query (inserted as text: typed keys would meet Monaco's bracket auto-closing) ...
    await editor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText('{ message(id: "g-1") { id title } }');
    // ... and runs it against the table.
    await page.locator('.graphiql-execute-button').click();
    // (Monaco lays text out with no-break spaces: compared without any white space.)
    await page.waitForFunction(() => document.querySelector('.graphiql-response')?.textContent?.replace(/\s/g, '').includes('seeninGraphiQL'), undefined, { timeout: 10_000 });
    const response = (await page.locator('.graphiql-response').innerText()).replace(/\s+/g, '');
    assert.match(response, /"message":\[\{"id":"g-1","title":"seeninGraphiQL"\}\]/);

    assert.deepEqual(blocked, [], 'no request left the server');
    assert.ok(
      requested.some((u) => u.includes('graphiql=graphiql.js')),
      `the script came from the server: ${requested.join('\n')}`,
    );
    assert.ok(
      requested.some((u) => u.includes('.worker.js')),
      `Monaco's workers came from the server: ${requested.join('\n')}`,
    );
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('GraphiQL is served where it was: a GET asking for HTML; assets are cached, unknown ones 404', { skip }, async () => {
  const json = await suite.server.req('GET', '/realtime-demo/graphql?query=%7B__typename%7D', undefined, { accept: 'application/json' });
  assert.deepEqual(json.body, { data: { __typename: 'Query' } });
  const html = await suite.server.req('GET', '/realtime-demo/graphql', undefined, { accept: 'text/html' });
  assert.equal(html.status, 200);
  const script = /src="([^"]*graphiql=graphiql\.js[^"]*)"/.exec(html.text)?.[1]?.replace(/&amp;/g, '&');
  assert.ok(script, html.text);
  const asset = await suite.server.req('GET', script, undefined, { 'accept-encoding': 'gzip' });
  assert.equal(asset.status, 200);
  assert.equal(asset.headers['content-encoding'], 'gzip');
  assert.match(String(asset.headers['cache-control']), /immutable/);
  const missing = await suite.server.req('GET', '/realtime-demo/graphql?graphiql=nope.js');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error?.code ?? missing.body.code, 'NOT_FOUND', missing.text);
});
