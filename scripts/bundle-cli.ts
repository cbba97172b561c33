/**
 * Builds the command line into one file, `dist/cli.bundle.cjs`, and V8's compiled code for it,
 * `dist/cli.bundle.cache`, which `dist/cli.js` (src/cli.ts) loads: see there for why. Runs after
 * `tsc` in `npm run build`.
 *
 * One CommonJS file because V8's code cache can be handed to `vm.Script` and to nothing that loads
 * ES modules on Node 20. Parts that load on demand (GraphQL Yoga, GraphiQL, the certificate
 * generator) are in the file but run only when first used, as before; with the cache, their code
 * costs neither parsing nor compiling until then. `tsc` still builds the rest of `dist/` as modules
 * for embedders (`import { createServer } from 'tablecast'`): only the command line runs the bundle.
 *
 * Left out of the bundle:
 * - native or separately loaded packages (LMDB and its msgpackr-extract addon; prom-client, loaded
 *   on the first /metrics scrape; @peculiar/x509 and reflect-metadata, loaded only to make a
 *   certificate; the NATS client, loaded only by a cluster node; undici, loaded only by `tablecast
 *   tail`, a third more bundle for every start otherwise): loaded from node_modules as before;
 * - what fastify requires only for features tablecast turns off: the JSON-schema compilers (ajv,
 *   fast-json-stringify: http/no-schemas.ts supplies ours) and light-my-request (`inject`, for
 *   tests). They become a module that throws if ever required;
 * - zod's translations of its messages (all but English, which tablecast's messages use).
 *
 * The cache is made by starting the bundle as users do (HTTPS, the example schemas, a temporary
 * data directory), asking `/health`, and stopping it: V8 then holds compiled code for everything a
 * start runs, and writes it out as the process exits.
 */
import { build, type Plugin } from 'esbuild';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const bundle = join(dist, 'cli.bundle.cjs');
const cache = join(dist, 'cli.bundle.cache');

const unused: Plugin = {
  name: 'unused-by-the-cli',
  setup(b) {
    b.onResolve({ filter: /^(@fastify\/ajv-compiler|@fastify\/fast-json-stringify-compiler|light-my-request)$/ }, (args) => ({ path: args.path, namespace: 'unused' }));
    b.onLoad({ filter: /.*/, namespace: 'unused' }, (args) => ({
      contents: `module.exports = function () { throw new Error(${JSON.stringify(`${args.path} is not part of the tablecast command line bundle (scripts/bundle-cli.ts)`)}); };`,
      loader: 'js',
    }));
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[/\\]zod[/\\]v4[/\\]classic[/\\]/.test(args.importer) ? { path: 'zod-locales', namespace: 'english-only', pluginData: args.resolveDir } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'english-only' }, (args) => ({
      contents: `export { default as en } from '../locales/en.js';`,
      resolveDir: args.pluginData as string,
      loader: 'js',
    }));
  },
};

// A cache left from the last build would not match the new bundle (V8 would refuse it: wasted).
rmSync(cache, { force: true });

await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  outfile: bundle,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // The file runs as CommonJS (src/cli.ts): `import.meta` becomes its equivalent there.
  define: { 'import.meta.url': '__tablecastUrl', 'import.meta.resolve': '__tablecastResolve' },
  banner: {
    js: "const __tablecastUrl = require('node:url').pathToFileURL(__filename).href;\nconst __tablecastResolve = (specifier) => require('node:url').pathToFileURL(require.resolve(specifier)).href;",
  },
  // `import()` of a package left out becomes `require` (all of them have a CommonJS build): V8 code
  // compiled by `vm.Script` with a cache gets no `import()` callback on Node 20.
  supported: { 'dynamic-import': false },
  external: ['lmdb', 'msgpackr-extract', 'prom-client', '@peculiar/x509', 'reflect-metadata', '@nats-io/transport-node', '@nats-io/jetstream', 'undici'],
  plugins: [unused],
  legalComments: 'eof',
  logLevel: 'warning',
});

await writeCodeCache();

/** Starts the bundle (through dist/cli.js), asks /health once, stops it: it writes the cache on exit. */
async function writeCodeCache(): Promise<void> {
  const data = mkdtempSync(join(tmpdir(), 'tablecast-build-'));
  try {
    const child = spawn(process.execPath, [join(dist, 'cli.js'), 'start', '--port', '0', '--host', '127.0.0.1', '--data', data, '--schemas', join(root, 'schemas')], {
      cwd: data, // no tablecast.config.json there
      // One process: the cache is of what a server process runs (with its default `--workers`,
      // a supervisor and its workers would each write it, and the supervisor runs little of it).
      env: { PATH: process.env.PATH, TABLECAST_WRITE_CODE_CACHE: cache, TABLECAST_WORKERS: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /serving .* on (https:\/\/[^\s]+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`the bundle exited (${code}) before serving:\n${out}`)));
      setTimeout(() => reject(new Error(`the bundle did not start within 30 s:\n${out}`)), 30_000).unref();
    });
    await new Promise<void>((resolve, reject) => {
      get(`${url}/health`, { rejectUnauthorized: false }, (res) => {
        res.resume();
        res.statusCode === 200 ? resolve() : reject(new Error(`/health answered ${res.statusCode}`));
      }).on('error', reject);
    });
    child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0 || !existsSync(cache)) throw new Error(`the bundle exited ${code} without writing ${cache}`);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
  console.log(`dist/cli.bundle.cjs ${kib(bundle)} KiB, dist/cli.bundle.cache ${kib(cache)} KiB`);
}

function kib(file: string): number {
  return Math.round(statSync(file).size / 1024);
}
