/**
 * Issue #11 points 2 and 4: property-based GraphQL inputs on every transport (GET query
 * parameters, form-encoded POST, and both with `Accept: text/event-stream`), against one real
 * server with small caps so that documents around and over each cap are common: mutated documents
 * (deep brackets, aliases, fragment chains, introspection), `variables`/`extensions` that are and
 * are not JSON, odd operation names, raw bytes.
 *
 * Every answer: no 5xx; JSON answers in the GraphQL error shape with known codes and never a masked
 * internal error (helpers/fuzz.ts checkResponse); every `next` event of an event stream is a GraphQL
 * result whose errors carry a known code; the server answers /health after every batch.
 * Reproducing: the seed is printed (FUZZ_SEED=<n> to choose another).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Agent } from 'undici';
import { ERROR_STATUS } from '../../src/errors.ts';
import { checkResponse, printable, sendRaw, type FuzzRequest, type FuzzResponse } from '../helpers/fuzz.ts';
import { MESSAGE_SDL, schemaDir, startServer } from '../helpers/server.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_206);
const BATCH = 16;
const RUNS = 40;
const G = '/realtime-demo/graphql';
const CAPS = { graphqlMaxTokens: 200, graphqlMaxDepth: 6, graphqlMaxAliases: 4, graphqlMaxResults: 5 };

/** Codes yoga and graphql-js put on request errors, besides ours (ERROR_STATUS). */
const GRAPHQL_CODES = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_REQUEST', 'BAD_USER_INPUT', 'OPERATION_RESOLUTION_FAILURE']);

const nest = (open: string, close: string, inner: string) => fc.integer({ min: 0, max: 40 }).map((n) => open.repeat(n) + inner + close.repeat(n));

/** Documents: valid ones, ones near each cap, and mutations of them. */
const document = fc.oneof(
  fc.constantFrom(
    '{ message { id title } }',
    '{ message(limit: 2) { id } }',
    '{ message(id: "m1") { id content } }',
    'query Q($t: String) { message(title: $t) { id } }',
    '{ __schema { types { name fields { name args { name } } } } }',
    '{ __schema { types { fields { type { ofType { fields { args { name } } } } } } } }',
    '{ __typename }',
    'subscription { message { id } }',
    'mutation { publishMessage(id: "m1", message: {a: [1, {b: 2}]}) }',
  ),
  fc.integer({ min: 0, max: 8 }).map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: message(limit: 1) { id }`).join(' ')} }`),
  nest('{ message ', ' }', '{ id }').map((d) => `{ ${d} }`),
  nest('[', ']', '"x"').map((v) => `{ message(title: ${v}) { id } }`),
  nest('{a: ', '}', '1').map((v) => `mutation { publishMessage(id: "m1", message: ${v}) }`),
  nest('... { ', ' }', 'message { id }').map((d) => `{ ${d} }`),
  fc.integer({ min: 1, max: 12 }).map((n) => `{ message { ...F1 } } ${Array.from({ length: n }, (_, i) => `fragment F${i + 1} on Message { id ${i + 1 < n ? `...F${i + 2}` : ''} }`).join(' ')}`),
  fc.integer({ min: 150, max: 250 }).map((n) => `{ ${'__typename '.repeat(n)}}`),
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);

/** A document cut, doubled or with a bracket dropped in somewhere. */
const mutated = fc.oneof(
  { weight: 3, arbitrary: document },
  {
    weight: 1,
    arbitrary: fc
      .tuple(document, fc.nat(), fc.constantFrom('{', '}', '[', ']', '(', ')', '...', '"', '#', '\\u0000', '$x'))
      .map(([d, at, s]) => d.slice(0, at % (d.length + 1)) + s + d.slice(at % (d.length + 1))),
  },
  { weight: 1, arbitrary: fc.tuple(document, fc.nat()).map(([d, at]) => d.slice(0, at % (d.length + 1))) },
);

/** `variables` / `extensions`: absent, JSON objects, JSON that is not an object, or not JSON at all. */
const jsonParam = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.dictionary(fc.constantFrom('t', 'id', 'x'), fc.jsonValue({ maxDepth: 2 })).map((v) => JSON.stringify(v)),
  fc.constantFrom('{', '{nope', '[', 'undefined', "{'t':1}", '{"t":', '%', '\u0000', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]'),
  fc.string({ maxLength: 20 }),
);

const params = fc.record({
  query: fc.option(mutated, { nil: undefined }),
  variables: jsonParam,
  extensions: jsonParam,
  operationName: fc.option(fc.oneof(fc.constantFrom('Q', 'nope', ''), fc.string({ maxLength: 8 })), { nil: undefined }),
});

function encode(p: { [k: string]: string | undefined }): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(p)) if (v !== undefined) search.set(k, v);
  return search.toString();
}

const request = fc.tuple(params, fc.constantFrom('GET', 'form'), fc.boolean(), fc.boolean()).map(([p, transport, sse, garbleForm]): FuzzRequest => {
  const accept = sse ? 'text/event-stream' : 'application/json';
  const qs = encode(p);
  const req: FuzzRequest =
    transport === 'GET'
      ? { family: `graphql GET${sse ? ' SSE' : ''}`, method: 'GET', path: `${G}?${qs}`, headers: { accept } }
      : {
          family: `graphql form${sse ? ' SSE' : ''}`,
          method: 'POST',
          path: G,
          headers: { accept, 'content-type': 'application/x-www-form-urlencoded' },
          // Raw `%` escapes that do not decode, too: form bodies are not always well formed.
          body: garbleForm ? `${qs}&variables=%E0%A4%A&query=%` : qs,
        };
  return Object.assign(req, { [fc.toStringMethod]: () => JSON.stringify(printable(req)) });
});

/** Every `next` event of an event stream is a GraphQL result; its errors carry known codes. */
function checkEvents(req: FuzzRequest, res: FuzzResponse): void {
  for (const m of res.text.matchAll(/^event: next\ndata: (.*)$/gm)) {
    const result = JSON.parse(m[1]!) as { data?: unknown; errors?: Array<{ message?: unknown; extensions?: { code?: unknown } }> };
    assert.ok('data' in result || 'errors' in result, `not a GraphQL result: ${req.path} → ${m[1]}`);
    for (const e of result.errors ?? []) {
      assert.ok(typeof e.message === 'string' && e.message !== 'Unexpected error.', `${req.path} → ${m[1]}`);
      const code = e.extensions?.code;
      assert.ok(typeof code === 'string', `an error without a code: ${req.method} ${req.path} ${String(req.body ?? '')} → ${m[1]}`);
      assert.ok(GRAPHQL_CODES.has(code) || Object.hasOwn(ERROR_STATUS, code), `unknown code ${code}: ${m[1]}`);
      assert.notEqual(code, 'INTERNAL', `${req.method} ${req.path} → ${m[1]}`);
    }
  }
}

test('GraphQL GET, form POST and SSE inputs: never a 5xx, always the one error shape', async () => {
  const s = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }), ...CAPS });
  const origin = s.url;
  const agent = new Agent({ connections: 8, pipelining: 1 });
  console.log(`# FUZZ_SEED=${SEED}`);
  for (const id of ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']) await s.req('POST', '/realtime-demo/message', { id, title: 't', content: 'c' });
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        const answers = await Promise.all(batch.map(async (r) => [r, await sendRaw(agent, origin, r)] as const));
        for (const [r, res] of answers) {
          checkResponse(r, res);
          if (res.eventStream) checkEvents(r, res);
          else if (res.status >= 400) {
            // The GraphQL shape, with a code, on every refusal.
            const body = JSON.parse(res.text) as { errors?: Array<{ extensions?: { code?: string } }> };
            assert.ok(body.errors?.[0]?.extensions?.code, `a ${res.status} without extensions.code: ${r.method} ${r.path} ${String(r.body ?? '')} → ${res.text.slice(0, 300)}`);
          }
        }
        const health = await sendRaw(agent, origin, { family: 'health', method: 'GET', path: '/health' });
        assert.equal(health.status, 200);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  } finally {
    await agent.close();
    await s.close();
  }
});
