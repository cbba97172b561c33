/**
 * `/console` (README › Console): the page built by scripts/bundle-console.ts into dist/console/,
 * served from the package's own files, so it works with no network but this server's. Three small
 * files, read on the first request and kept (a few KiB), each with a strong ETag (304 on a match)
 * and revalidated on every load (`no-cache`), so a new build is seen at once. The page runs no
 * inline script or style; its CSP allows this origin only.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../core/app.ts';
import { AppError } from '../errors.ts';
import { codeOf } from '../util/guards.ts';
import { consoleActions, consoleSchema } from './console-schema.ts';

/** The page's URL path. */
const CONSOLE_PATH = '/console';

/**
 * The page's files by URL path. They hold no data, so a stale session cookie must not keep them
 * from loading (auth-routes.ts serves them without looking at credentials): the page then says the
 * session ended and offers its login form.
 */
export const CONSOLE_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  [CONSOLE_PATH]: { file: 'index.html', type: 'text/html; charset=utf-8' },
  [`${CONSOLE_PATH}/console.js`]: { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  [`${CONSOLE_PATH}/console.css`]: { file: 'console.css', type: 'text/css; charset=utf-8' },
};

/** fetch and EventSource fall back to default-src: the page talks to this origin only. */
const CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Loaded {
  body: Buffer;
  etag: string;
}

/**
 * Registers the console's three file routes, serving the files in `dir` (dist/console/ of the
 * package), and its descriptions of the schema and of per-record permissions (console-schema.ts).
 * A copy run from source without `npm run build` has no such files: the file routes answer 404
 * saying so.
 * @example registerConsole(fastify, { app, dir: new URL('../dist/console/', import.meta.url) })
 */
export function registerConsole(fastify: FastifyInstance, options: { app: App; dir: URL }): void {
  fastify.get(`${CONSOLE_PATH}/schema.json`, async (request, reply) => {
    // Per caller (what it may read differs by role): never shared by a cache.
    reply.header('cache-control', 'private, no-cache').header('vary', 'authorization, cookie');
    return consoleSchema(options.app, request.principal);
  });
  fastify.get(`${CONSOLE_PATH}/actions.json`, async (request, reply) => {
    const { table, key } = request.query as { table?: unknown; key?: unknown };
    if (typeof table !== 'string') throw new AppError('BAD_REQUEST', 'name the table: ?table=/{database}/{table}&key=…');
    const keys = key === undefined ? [] : Array.isArray(key) ? key.map(String) : [String(key)];
    reply.header('cache-control', 'private, no-store').header('vary', 'authorization, cookie');
    return consoleActions(options.app, request.principal, table, keys);
  });
  const cache = new Map<string, Promise<Loaded | undefined>>();
  const load = (file: string) => {
    let loaded = cache.get(file);
    if (!loaded) {
      loaded = readFile(new URL(file, options.dir)).then(
        (body) => ({ body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }),
        (err: unknown) => {
          if (codeOf(err) !== 'ENOENT') throw err;
          return undefined;
        },
      );
      cache.set(file, loaded);
      // A failed read is not kept: the next request tries again.
      loaded.catch(() => cache.delete(file));
    }
    return loaded;
  };
  for (const [path, { file, type }] of Object.entries(CONSOLE_FILES)) {
    fastify.get(path, async (request: FastifyRequest, reply: FastifyReply) => {
      const found = await load(file);
      if (!found) throw new AppError('ROUTE_NOT_FOUND', `the console is not built in this copy of tablecast (no ${file} in dist/console/): run npm run build`);
      reply.header('etag', found.etag).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff');
      if (type.startsWith('text/html')) reply.header('content-security-policy', CSP).header('referrer-policy', 'no-referrer');
      if (matches(request.headers['if-none-match'], found.etag)) return reply.code(304).send();
      return reply.type(type).send(found.body);
    });
  }
}

/** If-None-Match names `etag` (or `*`); weak tags compare equal to their strong form (RFC 9110 §13.1.2). */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}
