/**
 * Issue #11 point 2 for writes: on a 100,000-record table, a `DELETE` by query of tens of
 * thousands of records (through an index, and by a scan matching every record) and a single
 * `POST`, `PUT` or publish at the body limit each keep the `/health` prober under 100 ms and the
 * server's RSS growth under 64 MiB. A bulk delete commits in batches: every deleted record has its
 * `delete` event and change-log entry, and the answer counts them all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { assertBounded, startAbuseServer, type AbuseServer } from '../helpers/abuse.ts';
import { json, openSse } from '../helpers/sse.ts';

const RECORDS = 100_000;
const BODY_LIMIT = 1024 * 1024;
let server: AbuseServer;

before(async () => {
  server = await startAbuseServer({ records: RECORDS });
});
after(async () => {
  await server?.close();
});

interface Answer {
  status: number;
  text: string;
}

async function send(method: string, path: string, body?: string): Promise<Answer> {
  const res = await request(`${server.url}${path}`, {
    method: method as 'GET',
    ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

/** Runs one request under the prober and asserts the bounds. */
async function bounded(label: string, method: string, path: string, body?: string): Promise<Answer> {
  const m = await server.measure(() => send(method, path, body));
  const { result, ...numbers } = m;
  console.log(`# ${label}: ${JSON.stringify({ ...numbers, status: result.status, answer: result.text.slice(0, 80) })}`);
  assertBounded(label, m);
  return result;
}

async function head(): Promise<number> {
  const metrics = await send('GET', '/metrics');
  const m = /^tablecast_changelog_head (\d+)$/m.exec(metrics.text);
  assert.ok(m, 'the change-log head is in /metrics');
  return Number(m[1]);
}

test('a single PUT, POST and publish at the body limit stay within the bounds', async () => {
  // The largest record the default body limit (1 MiB) lets through, and one byte more.
  const record = (id: string, pad: number) => JSON.stringify({ id, cat: 'big', name: 'huge', n: -1, text: 'x'.repeat(pad) });
  const overhead = record('huge-put', 0).length;
  const put = await bounded('PUT at the body limit', 'PUT', '/abuse/big/huge-put', record('huge-put', BODY_LIMIT - overhead));
  assert.equal(put.status, 201, put.text);
  const post = await bounded('POST at the body limit', 'POST', '/abuse/big', record('hugepost', BODY_LIMIT - overhead));
  assert.equal(post.status, 201, post.text);
  const over = await send('PUT', '/abuse/big/huge-put', record('huge-put', BODY_LIMIT - overhead + 1));
  assert.equal(over.status, 413);
  assert.equal(JSON.parse(over.text).code, 'PAYLOAD_TOO_LARGE');
  const stored = JSON.parse((await send('GET', '/abuse/big/huge-put')).text);
  assert.equal(stored.text.length, BODY_LIMIT - overhead);
  // A publish (POST on a record) at the body limit: validated, logged, nothing stored in the table.
  const message = JSON.stringify({ text: 'y'.repeat(BODY_LIMIT - 20) });
  const published = await bounded('publish at the body limit', 'POST', '/abuse/big/huge-put', message);
  assert.equal(published.status, 202, published.text);
});

// Before the maxRecordValues cap the prober waited 374–515 ms here: validating 71,000 attributes
// took ~470 ms (src/schema/validators.ts), storing a record of a new 71,000-key shape ~370 ms
// (msgpackr builds a record structure for it), reading it back ~60 ms.
test('a single PUT at the body limit with as many attributes as fit is refused at once, and one at the cap is bounded', async (t) => {
  // The body limit filled with as many attributes as fit (the table is not sealed: extras are kept).
  const wide: { [name: string]: unknown } = { id: 'wide', cat: 'big', n: -1 };
  let size = JSON.stringify(wide).length;
  for (let i = 0; size + 12 < BODY_LIMIT; i++) {
    wide[`a${i}`] = i;
    size += `,"a${i}":${i}`.length;
  }
  t.after(() => send('DELETE', '/abuse/big/wide'));
  const many = await bounded(`PUT at the body limit with ${Object.keys(wide).length} attributes`, 'PUT', '/abuse/big/wide', JSON.stringify(wide));
  assert.equal(many.status, 400, many.text);
  assert.equal(JSON.parse(many.text).code, 'VALIDATION_FAILED');
  assert.match(JSON.parse(many.text).message, /more than 5000 values .*maxRecordValues/);
  // Exactly at the cap (5,000 values) is stored, and within the bounds too.
  const atCap: { [name: string]: unknown } = { id: 'wide', cat: 'big', n: -1 };
  for (let i = 0; Object.keys(atCap).length < 5_000; i++) atCap[`a${i}`] = i;
  const stored = await bounded('PUT with 5,000 attributes', 'PUT', '/abuse/big/wide', JSON.stringify(atCap));
  assert.equal(stored.status, 201, stored.text);
});

test('DELETE by an indexed query of 11,000 records: bounded, counted, one delete event each', async () => {
  // A live filtered stream sees each of its 1,000 records deleted.
  const stream = await openSse(`${server.url}/abuse/big?cat=c1&stream=sse&retained=false`);
  await stream.until((f) => f.data?.includes('"connected"') ?? false);
  const before = await head();
  const r = await bounded('DELETE ?cat=sw=c1 (11,000 records, index)', 'DELETE', '/abuse/big?cat=sw=c1');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(JSON.parse(r.text), { deleted: 11_000 });
  assert.equal(await head(), before + 11_000, 'one change entry per deleted record');
  const deletes = await stream.next(1000, 30_000);
  assert.ok(deletes.every((f) => f.event === 'delete'));
  assert.deepEqual(
    deletes.map((f) => json(f).id),
    Array.from({ length: 1000 }, (_, i) => `r${String(i * 100 + 1).padStart(6, '0')}`),
  );
  stream.close();
  assert.deepEqual(JSON.parse((await send('GET', '/abuse/big?cat=sw=c1&limit(1)')).text), []);
});

test('DELETE by an unindexed query matching every record (89,000): bounded, counted, nothing left', async () => {
  const before = await head();
  const r = await bounded('DELETE ?n=ge=0 (89,000 records, scan)', 'DELETE', '/abuse/big?n=ge=0');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(JSON.parse(r.text), { deleted: RECORDS - 11_000 });
  assert.equal(await head(), before + RECORDS - 11_000);
  // Only the records written by the first tests (n = -1) are left.
  assert.deepEqual(JSON.parse((await send('GET', '/abuse/big?select(id)')).text), ['huge-put', 'hugepost']);
});
