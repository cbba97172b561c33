/**
 * Issue #11 point 2 for REST reads: on a 100,000-record table no query or collection read delays
 * the `/health` prober by more than 100 ms or grows the server's RSS by more than 64 MiB. The
 * server runs with `maxQueryTerms: 1000` so that 1,000-term queries are read, not refused (the
 * default cap of 100 is proven in test/integration/rest-query.test.ts); a query one term over
 * the cap is refused before any work.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { assertBounded, startAbuseServer, type AbuseServer, type Measurement } from '../helpers/abuse.ts';

const RECORDS = 100_000;
let server: AbuseServer;

before(async () => {
  server = await startAbuseServer({ records: RECORDS, server: { maxQueryTerms: 1000 } });
});
after(async () => {
  await server?.close();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

async function get(path: string, method: 'GET' | 'HEAD' = 'GET'): Promise<Answer> {
  const res = await request(`${server.url}${path}`, { method, headersTimeout: 120_000, bodyTimeout: 120_000 });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** Runs one request under the prober and asserts the bounds; returns the answer. */
async function bounded(label: string, path: string, method: 'GET' | 'HEAD' = 'GET'): Promise<Answer & { m: Measurement }> {
  const m = await server.measure(() => get(path, method), { attempts: 3 });
  const { result, ...numbers } = m;
  console.log(`# ${label}: ${JSON.stringify({ ...numbers, status: result.status, bytes: result.text.length })}`);
  assertBounded(label, m);
  return { ...result, m };
}

const id = (i: number) => `r${String(i).padStart(6, '0')}`;

test('1,000 OR-ed copies of one index range are one range: limit(1) answers at once', async () => {
  const url = `/abuse/big?${Array.from({ length: 1000 }, () => 'cat=sw=aaaa').join('|')}&limit(1)`;
  assert.ok(url.length > 12_000);
  const r = await bounded('1000 identical sw ranges', url);
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.text), []);
  // The same where they match every record (each copy read all 100,000 index entries before):
  // merged into one range over 100 values whose keys are merged lazily in key order.
  const hit = await bounded('1000 identical sw ranges matching all', `/abuse/big?${Array.from({ length: 1000 }, () => 'cat=sw=c').join('|')}&limit(1)`);
  assert.deepEqual(JSON.parse(hit.text), [{ id: id(0), cat: 'c0', name: 'name-0', n: 0, text: 'x'.repeat(40) }]);
  const some = await bounded('1000 identical sw ranges, limit(3)', `/abuse/big?${Array.from({ length: 1000 }, () => 'cat=sw=c1').join('|')}&limit(3)&select(id)`);
  assert.deepEqual(JSON.parse(some.text), [id(1), id(10), id(11)]);
});

test('1,000 distinct overlapping ranges merge into one; results in key order', async () => {
  // c0 ≤ cat covers every record; each range starts elsewhere, so none is a duplicate of another.
  const url = `/abuse/big?${Array.from({ length: 1000 }, (_, i) => `cat=ge=c${i}`).join('|')}&limit(2,5)&select(id)`;
  const r = await bounded('1000 distinct overlapping ranges', url);
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.text), [id(2), id(3), id(4)]);
  // Without a limit: every record, streamed, in key order, once each.
  const all = await bounded('1000 distinct ranges, no limit', `/abuse/big?${Array.from({ length: 1000 }, (_, i) => `cat=ge=c${i}`).join('|')}&select(id)`);
  const ids = JSON.parse(all.text) as string[];
  assert.equal(ids.length, RECORDS);
  assert.equal(ids[0], id(0));
  assert.equal(ids[RECORDS - 1], id(RECORDS - 1));
  assert.ok(
    ids.every((v, i) => i === 0 || ids[i - 1]! < v),
    'strictly increasing keys: ordered, no duplicates',
  );
});

test('a query over the term cap is refused before any work, naming the cap and the setting', async () => {
  const url = `/abuse/big?${Array.from({ length: 1001 }, () => 'cat=sw=aaaa').join('|')}&limit(1)`;
  const r = await bounded('1001 terms', url);
  assert.equal(r.status, 400);
  const body = JSON.parse(r.text);
  assert.equal(body.code, 'QUERY_TOO_COMPLEX');
  assert.match(body.message, /1000 conditions/);
  assert.match(body.message, /maxQueryTerms/);
});

test('a full scan that matches nothing gives the loop back between slices', async () => {
  const r = await bounded('name=nomatch full scan', '/abuse/big?name=nomatch');
  assert.equal(r.status, 200);
  assert.equal(r.text, '[]');
});

test('GET of the whole table streams its JSON array; HEAD reads nothing', async () => {
  const r = await bounded('GET /abuse/big (no limit)', '/abuse/big');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  const records = JSON.parse(r.text) as Array<{ id: string; n: number }>;
  assert.equal(records.length, RECORDS);
  assert.deepEqual(records[0], { id: id(0), cat: 'c0', name: 'name-0', n: 0, text: 'x'.repeat(40) });
  assert.equal(records[RECORDS - 1]!.id, id(RECORDS - 1));

  const head = await bounded('HEAD /abuse/big', '/abuse/big', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(head.text, '');
});

test('a sort on an unindexed attribute, with and without a limit', async () => {
  const top = await bounded('sort(-n)&limit(3)', '/abuse/big?sort(-n)&limit(3)&select(id)');
  assert.deepEqual(JSON.parse(top.text), [id(RECORDS - 1), id(RECORDS - 2), id(RECORDS - 3)]);
  const paged = await bounded('sort(name)&limit(50000,50002)', '/abuse/big?sort(name)&limit(50000,50002)&select(name)');
  // Code-point order of `name-<i>`: the 50,000th name is well defined; check against a local sort.
  const names = Array.from({ length: RECORDS }, (_, i) => `name-${i}`).sort();
  assert.deepEqual(JSON.parse(paged.text), names.slice(50_000, 50_002));
  const all = await bounded('sort(-n) no limit', '/abuse/big?sort(-n)&select(n)');
  const ns = JSON.parse(all.text) as number[];
  assert.equal(ns.length, RECORDS);
  assert.ok(
    ns.every((v, i) => v === RECORDS - 1 - i),
    'every record, in descending n',
  );
});

test('an OR of an indexed and an unindexed term scans, bounded', async () => {
  const r = await bounded('cat=c7|name=name-3', '/abuse/big?cat=c7|name=name-3&select(id)');
  const ids = JSON.parse(r.text) as string[];
  assert.equal(ids.length, 1001);
  assert.deepEqual(ids.slice(0, 3), [id(3), id(7), id(107)]);
});
