/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core
 * (never a downloaded browser), with the flags that keep it off this machine's closed network.
 */
import { existsSync, rmSync } from 'node:fs';
import { after, before } from 'node:test';
import type { Browser } from 'playwright-core';
import { MESSAGE_SDL, schemaDir, startServer, type TestServer } from './server.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** A `skip` option for node:test: false when Chromium is installed, else the reason. */
export const skipWithoutChromium: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install -y --no-install-recommends chromium)`;

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * One HTTPS server (the message table, generated certificate) and one Chromium for a test file:
 * started in `before`, closed in `after` (the browser first: its HTTP/2 session would hold the
 * server's close). Nothing starts when Chromium is missing; the tests skip with `skipWithoutChromium`.
 * @example const suite = browserSuite(); test('…', { skip }, async () => { await suite.browser.newContext() })
 */
export function browserSuite(): { readonly server: TestServer; readonly browser: Browser } {
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  let schemas: string | undefined;
  before(async () => {
    if (skipWithoutChromium) return;
    schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
    server = await startServer({ schemas, tls: true });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (schemas) rmSync(schemas, { recursive: true, force: true });
  });
  return {
    get server() {
      return server!;
    },
    get browser() {
      return browser!;
    },
  };
}
