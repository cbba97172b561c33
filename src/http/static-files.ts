/**
 * An app's own files, served from the API's origin (`--static DIR`, README › Same-origin pages), so
 * a page's EventSource and cookie login need no CORS. Files are looked up only for GET and HEAD
 * requests no API route took (fastify's not-found path) and never under the API's own prefixes
 * (`/auth`, `/admin`, `/health`, `/metrics`, every `/{database}`), so API routes always win. Files stream from
 * disk (never read whole), carry an ETag and Last-Modified (304 on a match), and no request reaches a
 * file outside the directory: `..`, encoded separators, backslashes, NUL and dotfiles are refused,
 * and symbolic links are followed only to files inside it.
 */
import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StaticConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import { codeOf } from '../util/guards.ts';

/** Longest URL path looked up on disk, in characters (encoded); longer is a 400. */
export const MAX_STATIC_PATH = 1024;

/**
 * Files up to this size are read and sent in one write; larger ones stream from disk. One write
 * ends the response at once, so a keep-alive connection is idle as soon as its client has the
 * bytes (a server closing then does not wait out the keep-alive timeout for it).
 */
const SMALL_FILE = 128 * 1024;

/** Content types by extension; anything else is `application/octet-stream` (with `nosniff`). */
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.wasm': 'application/wasm',
  '.pdf': 'application/pdf',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
};

/** What a URL path names in the directory. */
type Found = { kind: 'file'; path: string } | { kind: 'directory'; index: string | undefined } | undefined;

export interface StaticFiles {
  /**
   * Answers a GET or HEAD that no route took: the file, a redirect to a directory's `/`, the
   * index for a single-page app's path, or `notFound()` thrown.
   */
  serve(request: FastifyRequest, reply: FastifyReply, notFound: () => AppError): Promise<FastifyReply>;
  /** Answers a browser's `GET /` (Accept: text/html) with the directory's index.html; false when not a browser's or there is none. */
  serveIndex(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | false>;
}

/**
 * Serves `config.dir` (checked at start-up by server/preflight.ts). `isApiPath` names first path
 * segments that belong to the API (databases, /auth, /admin): no file and no fallback answers under them.
 * @example const files = await staticFiles({ dir: './public', fallback: true, maxAge: 0 }, (s) => s === 'shop')
 */
export async function staticFiles(config: StaticConfig, isApiPath: (firstSegment: string) => boolean): Promise<StaticFiles> {
  // Links inside the directory are resolved against its real path, so a link to / is outside.
  const root = await realpath(config.dir);
  // Inside the root and hidden nowhere below it: a link may not lead to a hidden file (`x -> .env`) either.
  const hiddenBelowRoot = (path: string) =>
    path
      .slice(root.length + 1)
      .split(sep)
      .some((segment) => segment.startsWith('.'));
  const inside = (path: string) => path === root || (path.startsWith(root + sep) && !hiddenBelowRoot(path));

  /** The real path of `path` if it exists inside the root. */
  async function real(path: string): Promise<string | undefined> {
    try {
      const resolved = await realpath(path);
      return inside(resolved) ? resolved : undefined;
    } catch (err) {
      const code = codeOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') return undefined;
      throw err;
    }
  }

  async function find(segments: readonly string[]): Promise<Found> {
    const path = await real(join(root, ...segments));
    if (!path) return undefined;
    const stats = await stat(path);
    if (stats.isFile()) return { kind: 'file', path };
    if (!stats.isDirectory()) return undefined;
    const index = await real(join(path, 'index.html'));
    return { kind: 'directory', index: index && (await stat(index)).isFile() ? index : undefined };
  }

  async function indexOfRoot(): Promise<string | undefined> {
    const found = await find([]);
    return found?.kind === 'directory' ? found.index : undefined;
  }

  /** Sends one file: headers from its stat, 304 when the client's copy is current, the body streamed. */
  async function send(request: FastifyRequest, reply: FastifyReply, path: string, notFound: () => AppError): Promise<FastifyReply> {
    // Non-blocking, so that a FIFO swapped in after the lookup cannot hold a thread; checked again below.
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    let streaming = false;
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw notFound();
      const type = TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
      const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
      reply.headers({
        'content-type': type,
        'x-content-type-options': 'nosniff',
        etag,
        'last-modified': stats.mtime.toUTCString(),
        'cache-control': type.startsWith('text/html') || config.maxAge === 0 ? 'no-cache' : `public, max-age=${config.maxAge}`,
      });
      if (isCurrent(request, etag, stats.mtimeMs)) return reply.code(304).send();
      reply.header('content-length', stats.size);
      if (request.method === 'HEAD') return reply.send();
      if (stats.size <= SMALL_FILE) {
        // The size stat gave, even if the file grows meanwhile: the length sent is the length promised.
        const body = Buffer.allocUnsafe(stats.size);
        const { bytesRead } = await handle.read(body, 0, stats.size, 0);
        return reply.header('content-length', bytesRead).send(body.subarray(0, bytesRead));
      }
      streaming = true;
      // The stream owns the handle from here: it closes it at the end, on error, or when the client goes.
      return reply.send(handle.createReadStream({ start: 0, end: stats.size - 1 }));
    } finally {
      if (!streaming) await handle.close();
    }
  }

  return {
    async serve(request, reply, notFound) {
      const q = request.url.indexOf('?');
      const rawPath = q < 0 ? request.url : request.url.slice(0, q);
      const segments = pathSegments(rawPath);
      if (!segments || isApiPath(segments[0] ?? '')) throw notFound();
      const found = await find(segments);
      if (found?.kind === 'file') return send(request, reply, found.path, notFound);
      if (found?.kind === 'directory') {
        // `/docs` → `/docs/`, so that the page's relative links resolve inside the directory.
        if (!rawPath.endsWith('/'))
          return reply
            .code(301)
            .header('location', `${rawPath}/${q < 0 ? '' : request.url.slice(q)}`)
            .send();
        if (found.index) return send(request, reply, found.index, notFound);
      }
      if (config.fallback && !found && acceptsHtml(request)) {
        const index = await indexOfRoot();
        if (index) return send(request, reply, index, notFound);
      }
      throw notFound();
    },
    async serveIndex(request, reply) {
      if (!acceptsHtml(request)) return false;
      const index = await indexOfRoot();
      return index ? send(request, reply, index, () => new AppError('NOT_FOUND', 'index.html is gone')) : false;
    },
  };
}

/**
 * The decoded segments of a URL path, or undefined for a path that names no file (an empty segment,
 * a dotfile). Throws BAD_REQUEST for what can only be an attempt to leave the directory.
 */
function pathSegments(rawPath: string): string[] | undefined {
  if (rawPath.length > MAX_STATIC_PATH) throw new AppError('BAD_REQUEST', `the path is longer than ${MAX_STATIC_PATH} characters`);
  const raw = rawPath.split('/').slice(1);
  // A trailing slash names a directory; the empty segment it leaves is not a name.
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  const segments: string[] = [];
  for (const part of raw) {
    let segment: string;
    try {
      segment = decodeURIComponent(part);
    } catch {
      throw new AppError('BAD_REQUEST', 'the path holds malformed percent-encoding');
    }
    if (segment === '.' || segment === '..' || segment.includes('/') || segment.includes('\\') || segment.includes('\0')) {
      throw new AppError('BAD_REQUEST', 'the path holds a segment that is not a file name (., .., an encoded / or \\, or NUL)');
    }
    // Empty segments (`//`) and hidden files (`.env`, `.git/`) are never served.
    if (segment === '' || segment.startsWith('.')) return undefined;
    segments.push(segment);
  }
  return segments;
}

/** The client's copy is current: If-None-Match names this ETag (weak comparison), or, without it, If-Modified-Since is not older than the file. */
function isCurrent(request: FastifyRequest, etag: string, mtimeMs: number): boolean {
  const none = request.headers['if-none-match'];
  if (typeof none === 'string') {
    const bare = etag.slice(2);
    return none.split(',').some((t) => {
      const tag = t.trim();
      return tag === '*' || tag === etag || tag === bare;
    });
  }
  const since = request.headers['if-modified-since'];
  if (typeof since !== 'string') return false;
  const time = Date.parse(since);
  // HTTP dates have whole seconds.
  return !Number.isNaN(time) && Math.floor(mtimeMs / 1000) * 1000 <= time;
}

function acceptsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}
