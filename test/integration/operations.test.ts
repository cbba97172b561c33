/**
 * Operations (SPEC §7): /health, Prometheus /metrics and /admin/connections reflect real traffic,
 * are guarded by admin roles when auth is on, and SIGTERM ends 1,000 open streams gracefully.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Agent, request } from 'undici';
import { hashPassword } from '../../src/auth/password.ts';
import { startChild } from '../helpers/child.ts';
import { MESSAGE_SDL, httpRequest, schemaDir, startServer, tmpDir } from '../helpers/server.ts';
import { eventually, openSse } from '../helpers/sse.ts';

/** The value of one metric line (`name{labels} value`), or undefined. */
function metric(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('metrics and the admin view count requests, streams, deliveries and the change log', async (t) => {
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }) });
  t.after(() => s.close());
  const health = await s.req('GET', '/health');
  assert.deepEqual([health.status, health.body], [200, { status: 'ok' }]);

  const stream = await openSse(`${s.url}/realtime-demo/message?stream=sse`);
  await stream.next(2);
  await s.req('POST', '/realtime-demo/message', { id: 'a', title: 't', content: 'c' });
  await s.req('POST', '/realtime-demo/message', { id: 'a', title: 't', content: 'c' }); // 409
  await stream.until((f) => f.event === 'update');
  // Each route is counted under its own pattern, whichever plugin declared it; 404s under not_found.
  await s.req('GET', '/realtime-demo/message/a');
  await s.req('GET', '/realtime-demo/message/nope');
  await s.req('HEAD', '/realtime-demo/message/a');
  await s.req('GET', '/no/such/route');
  await s.req('GET', '/no/such/route');
  // Methods outside the routed seven fold into one label, so invented ones cannot grow the page.
  await s.req('PROPFIND', '/no/such/route');
  await s.req('MKCOL', '/no/such/route');
  await s.req('POST', '/realtime-demo/graphql', { query: '{ __typename }' });

  const m = await s.req('GET', '/metrics');
  assert.equal(m.status, 200);
  assert.match(String(m.headers['content-type']), /^text\/plain/);
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="POST",route="/realtime-demo/message",status="201"'), 1);
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="POST",route="/realtime-demo/message",status="409"'), 1);
  assert.equal(metric(m.text, 'tablecast_http_request_duration_seconds_count', 'method="POST",route="/realtime-demo/message"'), 2);
  assert.equal(metric(m.text, 'tablecast_http_request_duration_seconds_bucket', 'le="+Inf",method="POST",route="/realtime-demo/message"'), 2);
  assert.match(m.text, /# TYPE tablecast_http_request_duration_seconds histogram/);
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="GET",route="/realtime-demo/message/:id",status="200"'), 1);
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="GET",route="/realtime-demo/message/:id",status="404"'), 1);
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="HEAD",route="/realtime-demo/message/:id",status="200"'), 1);
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="GET",route="not_found",status="404"'), 2);
  assert.equal(metric(m.text, 'tablecast_http_request_duration_seconds_count', 'method="GET",route="not_found"'), 2);
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="OTHER",route="not_found",status="404"'), 2);
  assert.doesNotMatch(m.text, /PROPFIND|MKCOL/);
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="POST",route="/realtime-demo/graphql",status="200"'), 1);
  assert.ok(metric(m.text, 'tablecast_http_request_duration_seconds_sum', 'method="GET",route="/realtime-demo/message/:id"')! > 0, 'durations are summed');
  assert.equal(metric(m.text, 'tablecast_streams_open', 'table="realtime-demo/message"'), 1);
  assert.equal(metric(m.text, 'tablecast_subscribers', 'table="realtime-demo/message"'), 1);
  assert.equal(metric(m.text, 'tablecast_events_delivered_total'), 1);
  assert.equal(metric(m.text, 'tablecast_changelog_head'), 1);
  assert.equal(metric(m.text, 'tablecast_hub_lag'), 0);
  assert.ok(metric(m.text, 'tablecast_process_resident_memory_bytes')! > 0, 'process metrics are included');

  const admin = await s.req('GET', '/admin/connections');
  assert.equal(admin.body.streams.open, 1);
  assert.deepEqual(admin.body.streams.byTable, { 'realtime-demo/message': 1 });
  assert.deepEqual(admin.body.subscribers, { total: 1, byTable: { 'realtime-demo/message': 1 } });
  assert.equal(admin.body.changeLog.head, 1);

  stream.close();
  await eventually(() => s.server.streams.size === 0, 'stream closed');
  const after = await s.req('GET', '/metrics');
  assert.equal(metric(after.text, 'tablecast_streams_opened_total'), 1, 'a counter keeps its total after the stream ends');
  assert.equal(metric(after.text, 'tablecast_streams_open', 'table="realtime-demo/message"'), undefined);
});

test('over TLS, HTTP/2 and HTTP/1.1 responses are both counted, streams when their head is sent', async (t) => {
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), tls: true });
  t.after(() => s.close());
  const h1 = new Agent({ connect: { rejectUnauthorized: false } });
  t.after(() => h1.close());
  await s.req('PUT', '/realtime-demo/message/a', { title: 't', content: 'c' }); // HTTP/2 (shared agent)
  const viaH1 = await request(`${s.url}/realtime-demo/message/a`, { dispatcher: h1 });
  await viaH1.body.text();
  assert.equal(viaH1.statusCode, 200);
  const viaH2 = await s.req('GET', '/realtime-demo/message/a');
  assert.equal(viaH2.status, 200);
  // An open stream is counted once its head is out, without waiting for it to end.
  const stream = await openSse(`${s.url}/realtime-demo/message?stream=sse`);
  t.after(() => stream.close());
  await stream.next(1);
  const m = await s.req('GET', '/metrics');
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="PUT",route="/realtime-demo/message/:id",status="201"'), 1);
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="GET",route="/realtime-demo/message/:id",status="200"'), 2);
  assert.equal(metric(m.text, 'tablecast_http_requests_total', 'method="GET",route="/realtime-demo/message",status="200"'), 1);
});

test('with auth on, operations data needs an admin role', async (t) => {
  const password = await hashPassword('pw');
  const s = await startServer({
    schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }),
    auth: {
      users: { ops: { password, roles: ['ops'] }, ann: { password, roles: ['reader'] } },
      roles: { ops: { admin: true, tables: {} }, reader: { tables: { '*': ['read'] } } },
    },
  });
  t.after(() => s.close());
  const basic = (u: string) => ({ authorization: `Basic ${Buffer.from(`${u}:pw`).toString('base64')}` });
  assert.equal((await s.req('GET', '/health')).status, 200, '/health stays open');
  for (const path of ['/metrics', '/admin/connections']) {
    const anon = await s.req('GET', path);
    assert.equal(anon.status, 401, path);
    assert.equal(anon.body.code, 'UNAUTHORIZED');
    assert.equal((await s.req('GET', path, undefined, basic('ann'))).status, 403, path);
    assert.equal((await s.req('GET', path, undefined, basic('ops'))).status, 200, path);
  }
});

test('SIGTERM with 1,000 open streams ends every stream and exits cleanly', async (t) => {
  const data = tmpDir();
  const schemas = schemaDir({ 'm.graphql': MESSAGE_SDL });
  t.after(() => {
    rmSync(data, { recursive: true, force: true });
    rmSync(schemas, { recursive: true, force: true });
  });
  const child = await startChild(['--no-tls', '--data', data, '--schemas', schemas, '--log-level', 'info'], { TABLECAST_MAX_STREAMS_PER_ADDRESS: '2000' });
  const agent = new Agent({ connections: 1100, pipelining: 0 });
  t.after(() => agent.destroy());
  const N = 1000;
  const ended: Array<Promise<string>> = [];
  let connected = 0;
  for (let batch = 0; batch < N; batch += 100) {
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        const res = await request(`${child.url}/realtime-demo/message?stream=sse&retained=false`, { dispatcher: agent });
        assert.equal(res.statusCode, 200);
        let text = '';
        const done = (async () => {
          try {
            for await (const chunk of res.body) {
              text += chunk;
              if (text.includes('"connected"') && !(res as any).counted) {
                (res as any).counted = true;
                connected++;
              }
            }
            return 'ended';
          } catch {
            return 'aborted';
          }
        })();
        ended.push(done);
      }),
    );
  }
  await eventually(() => connected === N, `all ${N} streams connected (${connected})`, 20_000);
  const write = await httpRequest(`${child.url}/realtime-demo/message`, 'POST', { id: 'x', title: 't', content: 'c' });
  assert.equal(write.status, 201, 'the server still serves writes with 1,000 streams open');

  child.proc.kill('SIGTERM');
  const code = await child.exited;
  assert.equal(code, 0, `clean exit, got ${code}\n${child.output().slice(-2000)}`);
  const outcomes = await Promise.all(ended);
  assert.equal(outcomes.length, N);
  assert.equal(outcomes.filter((o) => o === 'ended').length, N, 'every stream was ended by the server, none left hanging');
  assert.match(child.output(), /SIGTERM: shutting down/);
});
