/**
 * SPEC §5, issue #4 (3, 5): a browser subscribes to GraphQL with nothing but `EventSource` on the
 * GET form of the endpoint (headless Debian Chromium over https with the dev certificate), receives
 * `next` events for writes made over REST, and closing it ends the server-side subscription.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../helpers/graphql.ts';
import { browserSuite, skipWithoutChromium } from '../helpers/browser.ts';

const skip = skipWithoutChromium;

const suite = browserSuite();

test('EventSource on /realtime-demo/graphql?query=subscription… receives next events for REST writes', { skip }, async () => {
  const context = await suite.browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    const health = await page.goto(`${suite.server.url}/health`);
    assert.equal(health?.status(), 200);

    await page.evaluate(() => {
      const w = window as unknown as { events: unknown[]; errors: number; opened: boolean; source: EventSource };
      w.events = [];
      w.errors = 0;
      w.opened = false;
      const source = new EventSource(`/realtime-demo/graphql?query=${encodeURIComponent('subscription { message { id title } }')}`);
      source.addEventListener('open', () => (w.opened = true));
      source.addEventListener('next', (e) => w.events.push(JSON.parse((e as MessageEvent).data)));
      source.addEventListener('error', () => w.errors++);
      w.source = source;
    });
    await page.waitForFunction(() => (window as unknown as { opened: boolean }).opened, undefined, { timeout: 5000 });
    await waitFor(() => suite.server.server.app.hub.count() === 1, 'the browser subscription in the hub');

    for (const [id, title] of [
      ['b-1', 'from the test'],
      ['b-2', 'second'],
    ]) {
      const res = await suite.server.req('POST', '/realtime-demo/message', { id, title, content: 'c' });
      assert.equal(res.status, 201);
    }
    await page.waitForFunction(() => (window as unknown as { events: unknown[] }).events.length >= 2, undefined, { timeout: 5000 });
    const state = await page.evaluate(() => {
      const w = window as unknown as { events: unknown[]; errors: number };
      return { events: w.events, errors: w.errors };
    });
    assert.deepEqual(state, {
      events: [{ data: { message: { id: 'b-1', title: 'from the test' } } }, { data: { message: { id: 'b-2', title: 'second' } } }],
      errors: 0,
    });

    // The browser closing its EventSource ends the subscription on the server.
    await page.evaluate(() => (window as unknown as { source: EventSource }).source.close());
    await waitFor(() => suite.server.server.app.hub.count() === 0, 'the hub to release the browser subscription');
  } finally {
    await context.close();
  }
});

test('an EventSource gets errors as a next event, then complete (not a failed connection)', { skip }, async () => {
  const context = await suite.browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    await page.goto(`${suite.server.url}/health`);
    const result = await page.evaluate(
      () =>
        new Promise<{ next: unknown; completed: boolean }>((resolve, reject) => {
          let next: unknown;
          const source = new EventSource(`/realtime-demo/graphql?query=${encodeURIComponent('subscription { messageEvents(lastEventId: "not-a-cursor") { id } }')}`);
          source.addEventListener('next', (e) => (next = JSON.parse((e as MessageEvent).data)));
          source.addEventListener('complete', () => {
            // Without this the browser would reconnect once the server ends the stream.
            source.close();
            resolve({ next, completed: true });
          });
          source.addEventListener('error', () => {
            source.close();
            reject(new Error(`EventSource failed (readyState ${source.readyState}) before complete; next: ${JSON.stringify(next)}`));
          });
          setTimeout(() => reject(new Error('no complete within 5 s')), 5000);
        }),
    );
    const errors = (result.next as { errors: Array<{ extensions: { code: string } }> }).errors;
    assert.equal(errors[0]?.extensions.code, 'BAD_REQUEST', JSON.stringify(result));
    assert.equal(suite.server.server.app.hub.count(), 0);
  } finally {
    await context.close();
  }
});

test('a browser GET with Accept: text/html on the endpoint shows GraphiQL', { skip }, async () => {
  const context = await suite.browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    // The page only; graphiql-offline.test.ts runs the editor with every other origin blocked.
    const res = await page.goto(`${suite.server.url}/realtime-demo/graphql`, { waitUntil: 'domcontentloaded' });
    assert.equal(res?.status(), 200);
    assert.match(String(res?.headers()['content-type']), /^text\/html/);
    assert.match(await page.title(), /realtime-demo/);
  } finally {
    await context.close();
  }
});
