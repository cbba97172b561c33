/**
 * The console scenario of `npm run bench` (issue #17): how fast `/console` renders for a user.
 * tablecast runs as `npm start` runs it (the example schemas, HTTPS with HTTP/2, log level info),
 * with 200 products; Debian's Chromium (playwright-core, headless) loads the page:
 *
 * - cold: a new browser context per load (nothing cached), navigation start → the table list
 *   rendered (the page's `tablecast:tables` performance mark), and → first contentful paint;
 * - warm: the same context loading again (304s from the ETags);
 * - open a table: the click on a table (its event in the page) → its first page of records rendered
 *   (`tablecast:records`).
 *
 * Also the bundle's sizes (raw and gzipped). `--screenshot FILE` saves the page with a table and a
 * record open (the README's picture). Nothing is pinned: the browser needs both cores.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../test/helpers/browser.ts';
import { seed } from './lib/http.ts';
import { freePort, ROOT, startServer, stopProcess } from './lib/proc.ts';

export interface ConsoleResult {
  loads: number;
  coldTables: number[];
  coldPaint: number[];
  warmTables: number[];
  openTable: number[];
  sizes: { file: string; bytes: number; gzip: number }[];
}

const PRODUCTS = 200;

/** Milliseconds from navigation start to a performance mark (or paint entry) of the page, waiting for it. */
async function markTime(page: Page, name: string): Promise<number> {
  const handle = await page.waitForFunction((n) => {
    const e = performance.getEntriesByName(n).at(-1);
    return e ? e.startTime : false;
  }, name);
  return (await handle.jsonValue()) as number;
}

export async function runConsoleBench(options: { loads: number; screenshot?: string; log: (s: string) => void }): Promise<ConsoleResult> {
  const { loads, log } = options;
  const data = mkdtempSync(join(tmpdir(), 'tablecast-bench-console-'));
  const port = await freePort();
  const server = await startServer({
    name: 'tablecast',
    nodeArgs: ['dist/cli.js', 'start', '--port', String(port), '--host', '127.0.0.1', '--data', data],
    port,
    https: true,
    logs: '/dev/null',
    timeoutMs: 60_000,
  });
  const browser = await launchChromium();
  const result: ConsoleResult = { loads, coldTables: [], coldPaint: [], warmTables: [], openTable: [], sizes: [] };
  try {
    await seed(server.url, PRODUCTS, (i) => ({
      method: 'PUT',
      path: `/shop/product/p${String(i).padStart(3, '0')}`,
      body: { name: `Product ${i}`, category: ['tools', 'garden', 'kitchen'][i % 3], price: 5 + (i % 40), status: i % 7 === 0 ? 'DRAFT' : 'ACTIVE', tags: ['new'] },
    }));
    const url = `${server.url}/console`;
    let warmContext: BrowserContext | undefined;
    for (let i = 0; i < loads; i++) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block' });
      const page = await context.newPage();
      await page.goto(url);
      result.coldTables.push(await markTime(page, 'tablecast:tables'));
      result.coldPaint.push(await markTime(page, 'first-contentful-paint'));
      // From the click's own event in the page (playwright's round trips to deliver it are not the page's time).
      await page.evaluate(() => document.getElementById('tables')!.addEventListener('click', () => performance.mark('bench:click'), { capture: true, once: true }));
      await page.getByRole('button', { name: 'product', exact: true }).click();
      result.openTable.push((await markTime(page, 'tablecast:records')) - (await markTime(page, 'bench:click')));
      await page.goto(url);
      result.warmTables.push(await markTime(page, 'tablecast:tables'));
      log(
        `  [console] load ${i + 1}/${loads}: tables ${result.coldTables.at(-1)!.toFixed(0)} ms cold, ${result.warmTables.at(-1)!.toFixed(0)} ms warm; open a table ${result.openTable.at(-1)!.toFixed(0)} ms`,
      );
      if (i === loads - 1) warmContext = context;
      else await context.close();
    }
    if (options.screenshot && warmContext) await screenshot(warmContext, url, options.screenshot, log);
    await warmContext?.close();
  } finally {
    await browser.close();
    await stopProcess(server);
    rmSync(data, { recursive: true, force: true });
  }
  for (const file of ['index.html', 'console.js', 'console.css']) {
    const body = readFileSync(join(ROOT, 'dist', 'console', file));
    result.sizes.push({ file, bytes: body.length, gzip: gzipSync(body).length });
  }
  return result;
}

/** The README's picture: the product table with a record open, at a laptop's width. */
async function screenshot(context: BrowserContext, url: string, path: string, log: (s: string) => void): Promise<void> {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(url);
  await page.getByRole('button', { name: 'product', exact: true }).click();
  await page.getByRole('button', { name: 'price', exact: true }).click();
  await page.waitForFunction(() => (document.getElementById('query') as HTMLInputElement).value === 'sort(price)');
  await page.getByRole('button', { name: 'open record p040' }).click();
  await page.locator('#record-live-status').filter({ hasText: 'connected' }).waitFor();
  // Something in the live panels: a change and a message, as another client would send them.
  // (No named functions inside evaluate: tsx's __name helper does not exist in the page.)
  for (const [method, body] of [
    ['PATCH', { price: 4.5, stock: 12 }],
    ['POST', { viewer: 'ana', action: 'looking' }],
  ] as const) {
    await page.evaluate(([m, b]) => fetch('/shop/product/p040', { method: m, headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) }).then((r) => r.status), [
      method,
      body,
    ] as const);
  }
  await page.locator('#record-live li[data-kind="publish"]').waitFor();
  // The list follows the change too (p040 is now the cheapest).
  await page.waitForFunction(() => document.querySelector('#records tbody tr td')?.textContent === 'p040');
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page
    .locator('#server-summary')
    .filter({ hasText: /open streams\s*2/ })
    .waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path, fullPage: true });
  log(`  [console] screenshot written to ${path}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const ms = (x: number) => `${x.toFixed(0)} ms`;

/** The scenario's table. */
export function consoleTable(r: ConsoleResult): string {
  const row = (what: string, xs: number[]) => `| ${what} | ${ms(median(xs))} | ${ms(Math.max(...xs))} |`;
  return [
    `11. Console (${r.loads} loads, Chromium headless, HTTPS + HTTP/2, ${PRODUCTS} products)`,
    '',
    '| | median | max |',
    '|---|---|---|',
    row('cold load → table list rendered', r.coldTables),
    row('cold load → first contentful paint', r.coldPaint),
    row('warm load (304s) → table list rendered', r.warmTables),
    row('click a table → first page of records rendered', r.openTable),
    '',
    `bundle: ${r.sizes.map((s) => `${s.file} ${(s.bytes / 1024).toFixed(1)} KiB (${(s.gzip / 1024).toFixed(1)} KiB gzipped)`).join(', ')}`,
  ].join('\n');
}
