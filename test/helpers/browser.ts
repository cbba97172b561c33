/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core
 * (never a downloaded browser), with the flags that keep it off this machine's closed network.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createServer, type ServerOptions, type TablecastServer } from '../../src/server.ts';
import { MESSAGE_SDL, schemaDir, startServer, tmpDir, type TestServer } from './server.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** A `skip` option for node:test: false when Chromium is installed, else the reason. */
export const skipWithoutChromium: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install -y --no-install-recommends chromium)`;

/** The console's tests also need its build (dist/console/, made by `npm run build`, which npm test runs). */
export const skipConsole: string | false =
  skipWithoutChromium || (existsSync(new URL('../../dist/console/console.js', import.meta.url)) ? false : 'dist/console/ is missing: run `npm run build` (npm test does)');

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * One HTTPS server (the message table unless `files` gives the schema files; generated certificate;
 * `server` adds options) and one Chromium for a test file:
 * started in `before`, closed in `after` (the browser first: its HTTP/2 session would hold the
 * server's close). Nothing starts when Chromium is missing; the tests skip with `skipWithoutChromium`.
 * @example const suite = browserSuite(); test('…', { skip }, async () => { await suite.browser.newContext() })
 */
export function browserSuite(options: { files?: Record<string, string>; server?: ServerOptions } = {}): { readonly server: TestServer; readonly browser: Browser } {
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  let schemas: string | undefined;
  before(async () => {
    if (skipWithoutChromium) return;
    schemas = schemaDir(options.files ?? { 'message.graphql': MESSAGE_SDL });
    server = await startServer({ ...options.server, schemas, tls: true });
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

/**
 * Keeps a context offline but for `origin`: every other request is aborted as a disconnected
 * network would, and listed in `blocked`; `requested` lists every request.
 */
export async function offlineBut(context: BrowserContext, origin: string): Promise<{ requested: string[]; blocked: string[] }> {
  const requested: string[] = [];
  const blocked: string[] = [];
  await context.route('**', (route) => {
    const url = route.request().url();
    requested.push(url);
    if (new URL(url).origin === origin) return route.continue();
    blocked.push(url);
    return route.abort('internetdisconnected');
  });
  return { requested, blocked };
}

/** What goes wrong in a page, as it happens: uncaught errors, console errors, and CSP violations (reported as console errors). */
export async function pageProblems(page: Page): Promise<string[]> {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP blocked ${e.blockedURI} (${e.violatedDirective})`));
  });
  return problems;
}

/**
 * WCAG 2.1 A and AA problems axe-core finds in the page as it is now (labels, names, contrast,
 * structure), one line each. The page's CSP refuses the injected script unless its context was
 * made with `bypassCSP: true`.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: fileURLToPath(import.meta.resolve('axe-core/axe.min.js')) });
  const violations = await page.evaluate(async () => {
    const result = await (globalThis as any).axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v: any) => `${v.id}: ${v.help} (${v.nodes.map((n: any) => n.target.join(' ')).join(', ')})`);
  });
  return violations as string[];
}

/**
 * For a test that restarts the server under a page: the message table on HTTPS over a temp data
 * directory, and Chromium. `restart()` stops the server and starts a new one on the same data and
 * port (a page's streams reconnect to it); `server` is the current one. All is closed after the
 * test, the browser first (its HTTP/2 session would hold the server's close).
 * @example const s = await restartableServer(t, { sseRetry: 50 }); await s.restart(); s.server.app
 */
export async function restartableServer(
  t: { after: (fn: () => Promise<void>) => void },
  options: Omit<ServerOptions, 'schemas' | 'data' | 'port'> = {},
): Promise<{ url: string; browser: Browser; readonly server: TablecastServer; restart(): Promise<void> }> {
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const data = tmpDir();
  const settings = { tls: true, host: '127.0.0.1', logLevel: 'silent', ...options, schemas, data } as const;
  let server = await createServer({ ...settings, port: 0 });
  const url = await server.listen();
  const browser = await launchChromium();
  t.after(async () => {
    await browser.close();
    await server.close();
    rmSync(schemas, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  });
  return {
    url,
    browser,
    get server() {
      return server;
    },
    async restart() {
      await server.close();
      server = await createServer({ ...settings, port: Number(new URL(url).port) });
      await server.listen();
    },
  };
}

/**
 * A temp directory for a test's screenshots: `path(name)` names a file in it. Removed after a test
 * that called `passed()`; kept after a failure, and its path printed, to see what the page showed.
 */
export function screenshots(t: { after: (fn: () => void) => void; diagnostic: (message: string) => void }, prefix: string): { path(name: string): string; passed(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let ok = false;
  t.after(() => {
    if (ok) rmSync(dir, { recursive: true, force: true });
    else t.diagnostic(`screenshots kept in ${dir}`);
  });
  return {
    path: (name) => join(dir, name),
    passed() {
      ok = true;
    },
  };
}
