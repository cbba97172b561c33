/**
 * Test helpers: a real tablecast server on an ephemeral port over a real LMDB in a temp dir,
 * and small HTTP helpers over undici (which also speaks HTTP/2 and accepts the dev certificate).
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { createServer, type ServerOptions, type TablecastServer } from '../../src/server.ts';

/** A fresh temp directory, removed by the returned cleanup. */
export function tmpDir(prefix = 'tablecast-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes SDL files into a new schema directory and returns its path. */
export function schemaDir(files: Record<string, string>): string {
  const dir = tmpDir('tablecast-schema-');
  for (const [name, sdl] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), sdl);
  }
  return dir;
}

export const MESSAGE_SDL = `type Message @table(database: "realtime-demo") @export(name: "message", rest: true, sse: true) {
  id: ID! @primaryKey
  title: String!
  content: String!
}
`;

export interface TestServer {
  server: TablecastServer;
  url: string;
  dataDir: string;
  /** JSON request helper: returns status, headers and parsed body (text when not JSON). */
  req(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Res>;
  close(): Promise<void>;
}

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  text: string;
}

/** One agent for the whole test process: accepts self-signed certificates, speaks HTTP/2. */
export const agent = new Agent({ connect: { rejectUnauthorized: false }, allowH2: true });

/**
 * Starts a server on port 0 with a temp data dir (plain HTTP unless `tls: true`).
 * @example const t = await startServer({ schemas: schemaDir({ 'm.graphql': MESSAGE_SDL }) })
 */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const dataDir = options.data ?? tmpDir();
  const server = await createServer({ port: 0, host: '127.0.0.1', tls: false, logLevel: 'silent', ...options, data: dataDir });
  const url = await server.listen();
  return {
    server,
    url,
    dataDir,
    req: (method, path, body, headers) => httpRequest(url + path, method, body, headers),
    async close() {
      await server.close();
      if (!options.data) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Sends one request (through `dispatcher`, the shared agent by default); a non-string body is sent as JSON. */
export async function httpRequest(url: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}, dispatcher: Dispatcher = agent): Promise<Res> {
  const hasBody = body !== undefined;
  const res = await undiciRequest(url, {
    method: method as 'GET',
    dispatcher,
    headers: { ...(hasBody && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(hasBody ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  let parsed: unknown = text;
  if (String(res.headers['content-type'] ?? '').includes('json') && text) parsed = JSON.parse(text);
  return { status: res.statusCode, headers: res.headers as Res['headers'], body: parsed, text };
}
