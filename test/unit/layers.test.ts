/**
 * Keeps the architecture honest: imports point one way (schema → query → store → realtime → core →
 * http/graphql), each heavy dependency stays in its folder, and only the CLI touches `process`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

const SRC = resolve(import.meta.dirname, '../../src');

/** What each layer (top folder or root file under src/) may import from src/. */
const ALLOWED: Record<string, string[]> = {
  errors: [],
  util: [],
  version: [],
  config: ['errors', 'util'],
  schema: ['errors', 'util'],
  query: ['schema', 'errors', 'util'],
  store: ['schema', 'query', 'errors', 'util'],
  peers: ['errors', 'util'],
  cluster: ['core', 'store', 'schema', 'query', 'auth', 'peers', 'errors', 'util'],
  realtime: ['store', 'query', 'schema', 'peers', 'errors', 'util'],
  auth: ['config', 'schema', 'query', 'peers', 'errors', 'util'],
  core: ['schema', 'query', 'store', 'realtime', 'auth', 'peers', 'errors', 'util'],
  http: ['core', 'realtime', 'schema', 'query', 'auth', 'peers', 'errors', 'util', 'config'],
  graphql: ['core', 'schema', 'query', 'auth', 'errors', 'util'],
  server: ['http', 'graphql', 'cluster', 'core', 'config', 'schema', 'realtime', 'auth', 'peers', 'errors', 'util', 'version'],
  cli: ['server', 'config', 'schema', 'peers', 'errors', 'util', 'auth', 'version', 'client'],
  // The package's second entry (`tablecast/client`), for apps and browsers: nothing of the server.
  client: [],
  index: ['server', 'core', 'config', 'schema', 'query', 'store', 'realtime', 'auth', 'peers', 'errors', 'util', 'http', 'graphql'],
};

/**
 * Every runtime dependency and the only layers that may import it: each has its owner folder (two
 * where a package serves two jobs: graphql parses the SDL in schema/ and runs queries in graphql/;
 * fastify is built in server/ and routed in http/; zod validates records, settings and logins).
 * `[]`: listed in package.json only to pin a version that runs on Node 20 (README › Development),
 * imported by no file of ours. A new dependency without an entry fails the test below.
 */
const PACKAGE_HOMES: Record<string, string[]> = {
  lmdb: ['store'],
  fastify: ['http', 'server'],
  pino: ['http', 'server'],
  'graphql-yoga': ['graphql'],
  '@graphql-yoga/render-graphiql': ['graphql'],
  graphql: ['schema', 'graphql'],
  zod: ['schema', 'config', 'auth'],
  '@peculiar/x509': ['http'],
  'reflect-metadata': ['http'],
  'prom-client': ['http'],
  '@nats-io/transport-node': ['cluster'],
  '@nats-io/jetstream': ['cluster'],
  '@graphql-tools/executor': [],
  '@graphql-tools/merge': [],
  '@graphql-tools/schema': [],
  '@graphql-tools/utils': [],
  'light-my-request': [],
  undici: ['client'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(file: string): string {
  const rel = relative(SRC, file).split(/[\\/]/);
  return rel.length > 1 ? rel[0]! : rel[0]!.replace(/\.ts$/, '');
}

/** The package an import names: `@scope/name` or `name`, without a subpath. */
function packageOf(spec: string): string {
  return spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
}

function imports(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"`;]*?from\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of source.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  // Packages loaded by name elsewhere (a worker that imports what import.meta.resolve names).
  for (const m of source.matchAll(/import\.meta\.resolve\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  // Side-effect imports: `import 'reflect-metadata'`.
  for (const m of source.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)) out.push(m[1]!);
  return out;
}

const sources = files(SRC).map((file) => ({ file, layer: layerOf(file), text: readFileSync(file, 'utf8') }));

test('the scan sees the source tree', () => {
  assert.ok(sources.length > 10, 'expected the src tree to be scanned');
  assert.ok(sources.some((s) => s.layer === 'store'));
});

test('imports between layers point one way', () => {
  const violations: string[] = [];
  for (const { file, layer, text } of sources) {
    const allowed = ALLOWED[layer];
    assert.ok(allowed, `layer "${layer}" (${relative(SRC, file)}) has no rule in this test`);
    for (const spec of imports(text)) {
      if (!spec.startsWith('.')) continue;
      const target = layerOf(resolve(dirname(file), spec));
      if (target !== layer && !allowed.includes(target)) violations.push(`${relative(SRC, file)} imports ${spec} (${layer} → ${target})`);
    }
  }
  assert.deepEqual(violations, []);
});

test('heavy dependencies stay in their folder', () => {
  const violations: string[] = [];
  for (const { file, layer, text } of sources) {
    for (const spec of imports(text)) {
      if (spec.startsWith('.') || spec.startsWith('node:')) continue;
      const pkg = packageOf(spec);
      const homes = PACKAGE_HOMES[pkg];
      if (homes && !homes.includes(layer)) violations.push(`${relative(SRC, file)} imports ${pkg}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('every dependency in package.json has an owner folder here', () => {
  const pkg = JSON.parse(readFileSync(join(SRC, '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.deepEqual(
    Object.keys(pkg.dependencies).filter((name) => !(name in PACKAGE_HOMES)),
    [],
  );
  assert.deepEqual(
    Object.keys(PACKAGE_HOMES).filter((name) => !(name in pkg.dependencies)),
    [],
    'an owner entry for a package that is no longer a dependency',
  );
});

test('the owner rule catches a package imported outside its folder, and a pinned-only package imported at all', () => {
  const owned = (layer: string, source: string) =>
    imports(source)
      .map(packageOf)
      .filter((pkg) => PACKAGE_HOMES[pkg] && !PACKAGE_HOMES[pkg]!.includes(layer));
  assert.deepEqual([...owned('store', "import Fastify from 'fastify';\nimport 'reflect-metadata';\nconst w = import.meta.resolve('@graphql-yoga/render-graphiql/graphiql');")].sort(), [
    '@graphql-yoga/render-graphiql',
    'fastify',
    'reflect-metadata',
  ]);
  assert.deepEqual(owned('graphql', "import { mergeSchemas } from '@graphql-tools/merge';"), ['@graphql-tools/merge']);
  assert.deepEqual(owned('store', "import { open } from 'lmdb';"), []);
});

test('undici is imported by the Node entry of the client only: the browser entry and the modules it shares stay platform-free', () => {
  const importers = sources.filter((s) => imports(s.text).some((spec) => packageOf(spec) === 'undici' || spec.startsWith('node:'))).map((s) => relative(SRC, s.file));
  assert.deepEqual(
    importers.filter((f) => f.startsWith('client/')),
    ['client/node.ts'],
  );
});

test('only the CLI touches process', () => {
  const offenders = sources.filter((s) => s.layer !== 'cli' && /\bprocess\.(env|argv|exit|on|cwd|stdout|stderr|exitCode)\b/.test(s.text)).map((s) => relative(SRC, s.file));
  assert.deepEqual(offenders, []);
});

test('the rule catches an upward import', () => {
  // Guards the scanner itself: a store file importing core must be reported.
  const fake = `import { createApp } from '../core/app.ts';\nexport {};`;
  const targets = imports(fake).map((spec) => layerOf(resolve(join(SRC, 'store'), spec)));
  assert.deepEqual(targets, ['core']);
  assert.ok(!ALLOWED.store!.includes('core'));
});

test('http and graphql reach the store and the change feed only through core (App.feed, services, subscriptions)', () => {
  const violations: string[] = [];
  for (const { file, layer, text } of sources) {
    if (layer !== 'http' && layer !== 'graphql') continue;
    for (const m of text.matchAll(/\bapp\.(store|hub)\b/g)) violations.push(`${relative(SRC, file)} reads app.${m[1]}`);
    // The hub's types (what a subscription delivers) may be named; its values may not be used.
    for (const m of text.matchAll(/^import\s+(?!type\b)[^;]*from\s+['"]([^'"]*realtime\/hub\.ts)['"]/gm)) violations.push(`${relative(SRC, file)} imports ${m[1]}`);
  }
  assert.deepEqual(violations, []);
  // The check itself: a planted read of the store from an HTTP file is reported.
  assert.deepEqual(
    [...`reply.send(app.store.changeLog.head())`.matchAll(/\bapp\.(store|hub)\b/g)].map((m) => m[1]),
    ['store'],
  );
});
