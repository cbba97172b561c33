/**
 * GraphiQL served whole by tablecast: the page and everything it loads (script, stylesheet,
 * Monaco's workers, icon) come from the endpoint itself, so it works offline. Yoga's own page
 * loads them from unpkg.com, and without a network shows "Loading __TITLE__..." forever (it
 * replaces only the first `__TITLE__`).
 *
 * Served where yoga served it: a GET on `/{database}/graphql` whose Accept names `text/html`.
 * Assets are GETs of the same URL with `?graphiql=<name>&v=<hash>`, cached for good (the hash
 * changes with their content). The page runs no inline script, and its CSP allows only this origin
 * (Monaco adds inline styles; its workers run from these same URLs).
 *
 * The assets come from @graphql-yoga/render-graphiql, a 9 MB JavaScript module of string constants,
 * read on the first page view in a worker thread: importing it costs ~0.45 s of parsing and ~60 MB
 * of heap, which would stall every stream of this process once and stay resident. The worker hands
 * back the bytes (~9 MB) and exits; a server nobody browses never pays even that.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { gzip } from 'node:zlib';
import { shouldRenderGraphiQL, type Plugin } from 'graphql-yoga';
import { AppError } from '../errors.ts';

/** The query parameter that names an asset. */
const ASSET_PARAM = 'graphiql';

interface Asset {
  type: string;
  body: Buffer;
  gzipped?: Buffer;
  hash: string;
}

type Assets = ReadonlyMap<string, Asset>;

/** Sets Monaco's workers up and renders GraphiQL with the page's options (no inline script). */
const BOOT = `(function () {
  var config = JSON.parse(document.getElementById('graphiql-config').textContent);
  self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: function (_moduleId, label) { return config.workers[label]; } };
  YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), config.options);
})();
`;

/** Monaco asks for workers by these labels (as @graphql-yoga/render-graphiql's own page names them). */
const WORKERS = { editorWorkerService: 'editor.worker.js', json: 'json.worker.js', graphql: 'graphql.worker.js' } as const;

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "worker-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

let loading: Promise<Assets> | undefined;

/** Loads, hashes and compresses the assets once (later callers share the promise). */
function loadAssets(): Promise<Assets> {
  return (loading ??= (async () => {
    const g = await readInWorker();
    const js = 'application/javascript; charset=utf-8';
    const sources: Array<[string, string, Buffer]> = [
      ['graphiql.js', js, g.js],
      ['graphiql.css', 'text/css; charset=utf-8', g.css],
      ['boot.js', js, Buffer.from(BOOT)],
      [WORKERS.editorWorkerService, js, g.editorWorkerService],
      [WORKERS.json, js, g.jsonWorker],
      [WORKERS.graphql, js, g.graphqlWorker],
      ['favicon.ico', 'image/x-icon', g.favicon],
    ];
    const compress = promisify(gzip);
    const entries = await Promise.all(
      sources.map(async ([name, type, body]): Promise<[string, Asset]> => {
        const hash = createHash('sha256').update(body).digest('base64url').slice(0, 12);
        // Text compresses ~4:1 (5 MB of script to ~1.3 MB); compressed once, in the thread pool.
        const gzipped = type.startsWith('image/') ? undefined : await compress(body);
        return [name, { type, body, hash, ...(gzipped ? { gzipped } : {}) }];
      }),
    );
    return new Map(entries);
  })().catch((err: unknown) => {
    // A failure (the package missing from an install) is not kept: the next page view tries again.
    loading = undefined;
    throw err;
  }));
}

type Sources = { [K in 'js' | 'css' | 'editorWorkerService' | 'jsonWorker' | 'graphqlWorker' | 'favicon']: Buffer };

/** Imports render-graphiql's module in a worker and returns its constants as bytes (the icon decoded). */
async function readInWorker(): Promise<Sources> {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
    import(workerData).then((m) => {
      const g = 'js' in m ? m : m.default; // the CommonJS build when the command line bundle resolved it
      const out = {};
      for (const k of ['js', 'css', 'editorWorkerService', 'jsonWorker', 'graphqlWorker']) out[k] = new TextEncoder().encode(g[k]);
      out.favicon = new Uint8Array(Buffer.from(g.favicon.slice(g.favicon.indexOf(',') + 1), 'base64'));
      parentPort.postMessage(out, Object.values(out).map((a) => a.buffer));
    });`,
    { eval: true, workerData: import.meta.resolve('@graphql-yoga/render-graphiql/graphiql') },
  );
  try {
    const out: { [k: string]: Uint8Array } = (await once(worker, 'message'))[0];
    // The worker above sends exactly the keys of Sources.
    return Object.fromEntries(Object.entries(out).map(([k, a]) => [k, Buffer.from(a.buffer, a.byteOffset, a.byteLength)])) as Sources;
  } finally {
    await worker.terminate();
  }
}

/**
 * Serves GraphiQL and its assets from the endpoint (register before yoga's own GraphiQL, which
 * should be off: `graphiql: false`).
 * @example createYoga({ graphiql: false, plugins: [useOfflineGraphiql({ title: 'tablecast GraphiQL · shop' })] })
 */
export function useOfflineGraphiql(options: { title: string }): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (request.method !== 'GET') return;
      const name = url.searchParams.get(ASSET_PARAM);
      if (name === null && !shouldRenderGraphiQL(request)) return;
      return loadAssets().then((assets) => {
        if (name === null) {
          endResponse(
            new fetchAPI.Response(page(url.pathname, options.title, assets), {
              status: 200,
              headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' },
            }),
          );
          return;
        }
        const asset = assets.get(name);
        if (!asset) {
          const error = new AppError('NOT_FOUND', `GraphiQL has no asset ${JSON.stringify(name)}`);
          endResponse(new fetchAPI.Response(JSON.stringify(error.toJSON()), { status: error.statusCode, headers: { 'content-type': 'application/json; charset=utf-8' } }));
          return;
        }
        const gzipped = asset.gzipped && /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '') ? asset.gzipped : undefined;
        endResponse(
          new fetchAPI.Response(view(gzipped ?? asset.body), {
            status: 200,
            headers: {
              'content-type': asset.type,
              // A URL names one content (its hash): cached for good. An old hash still gets today's content, uncached.
              'cache-control': url.searchParams.get('v') === asset.hash ? 'public, max-age=31536000, immutable' : 'no-cache',
              'x-content-type-options': 'nosniff',
              ...(asset.gzipped ? { vary: 'accept-encoding' } : {}),
              ...(gzipped ? { 'content-encoding': 'gzip' } : {}),
            },
          }),
        );
      });
    },
  };
}

function page(path: string, title: string, assets: Assets): string {
  const assetUrl = (name: string) => `${path}?${ASSET_PARAM}=${encodeURIComponent(name)}&v=${assets.get(name)!.hash}`;
  const url = (name: string) => escapeHtml(assetUrl(name));
  const workers = Object.fromEntries(Object.entries(WORKERS).map(([label, name]) => [label, assetUrl(name)]));
  // In a <script> element only `</script` (and `<!--`) can end it early: escape every `<`.
  const config = JSON.stringify({ options: { title }, workers }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(title)}</title>
    <link rel="icon" href="${url('favicon.ico')}" />
    <link rel="stylesheet" href="${url('graphiql.css')}" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>GraphiQL needs JavaScript.</noscript>
    <div id="root">Loading ${escapeHtml(title)}…</div>
    <script id="graphiql-config" type="application/json">${config}</script>
    <script src="${url('graphiql.js')}"></script>
    <script src="${url('boot.js')}"></script>
  </body>
</html>
`;
}

/** The bytes of a Buffer as a Uint8Array without copying (a Response takes BodyInit). */
function view(buffer: Buffer): Uint8Array<ArrayBuffer> {
  // @types/node types a Buffer's memory as ArrayBufferLike; these Buffers are never shared memory.
  return new Uint8Array(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.byteLength);
}

const ENTITIES: { [c: string]: string } = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}
