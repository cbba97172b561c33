/**
 * `tablecast tail`: follows a table's (or a record's) stream in the terminal with the Node client,
 * which reconnects and resumes from the last cursor on its own. One line per event: readable on a
 * terminal, JSON lines when piped or with --json. Output waits for the terminal or pipe to drain
 * before the next event is pulled, so a slow reader slows the stream instead of filling memory
 * (and the server cuts and the client resumes, as for any slow consumer).
 */
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import * as tls from 'node:tls';
import { ClientError, createClient, type ClientAuth, type TableEvent } from '../client/node.ts';

export interface TailOptions {
  /** `https://host:port/db/table[/key][?query]`, or `db/table[/key]` on the configured server. */
  target: string;
  filter?: string;
  since?: string;
  json: boolean;
  insecure: boolean;
  auth?: ClientAuth;
  /** The configured server (settings of `start`): used for `db/table` targets and to find its certificate. */
  server: { host: string; port: number; tls: boolean; data: string; cert?: string };
  cwd: string;
  out: NodeJS.WritableStream & { isTTY?: boolean };
  signal: AbortSignal;
}

/**
 * Prints events until the signal aborts; rejects with a one-line reason when the stream fails for
 * good (refused credentials, an unknown table, a server that was never reachable).
 * @example await tail({ target: 'realtime-demo/message', json: false, insecure: false, server, cwd, out: process.stdout, signal })
 */
export async function tail(o: TailOptions): Promise<void> {
  const { origin, database, table, key, query } = parseTarget(o.target, o.server);
  const filter = [query, o.filter].filter(Boolean).join('&');
  const cert = o.insecure || !origin.startsWith('https:') ? undefined : certificateOf(o.server, o.cwd);
  const ca = cert ? [...defaultCertificates(), cert] : undefined;
  const client = createClient({ url: origin, insecure: o.insecure, ...(ca ? { ca } : {}), ...(o.auth ? { auth: o.auth } : {}) });
  const json = o.json || !o.out.isTTY;
  try {
    const events = client.table(database, table).subscribe({ signal: o.signal, ...(key !== undefined ? { key } : {}), ...(filter ? { filter } : {}), ...(o.since ? { since: o.since } : {}) });
    for await (const event of events) {
      if (!o.out.write(json ? `${JSON.stringify(event)}\n` : pretty(event))) await once(o.out, 'drain', { signal: o.signal });
    }
  } catch (err) {
    if (o.signal.aborted) return;
    throw err instanceof ClientError ? new Error(`${err.message}${err.status ? ` (${err.status} ${err.code})` : ''}`) : err;
  } finally {
    await client.close();
  }
}

function parseTarget(target: string, server: TailOptions['server']): { origin: string; database: string; table: string; key?: string; query: string } {
  let origin: string;
  let path: string;
  let query = '';
  if (/^https?:\/\//i.test(target)) {
    const url = new URL(target);
    origin = url.origin;
    path = url.pathname;
    // The stream parameters are the client's to set.
    query = url.search
      .slice(1)
      .split('&')
      .filter((p) => p && !/^(stream|lastEventId|retained)=/.test(p))
      .join('&');
  } else {
    const host = ['0.0.0.0', '::', ''].includes(server.host) ? 'localhost' : server.host.includes(':') ? `[${server.host}]` : server.host;
    origin = `${server.tls ? 'https' : 'http'}://${host}:${server.port}`;
    path = target;
  }
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length < 2 || parts.length > 3) throw new Error(`tail needs a table: <db>/<table>[/<key>] or its URL, got "${target}"`);
  return { origin, database: parts[0]!, table: parts[1]!, ...(parts[2] !== undefined ? { key: parts[2] } : {}), query };
}

/**
 * The CAs a Node client trusts when given no `ca` (Mozilla's bundle and NODE_EXTRA_CA_CERTS, and the
 * system's with --use-system-ca): a `ca` option replaces them, so the local certificate is added to
 * these, and `tail https://example.com/…` still trusts example.com's public certificate.
 */
function defaultCertificates(): Array<string | Buffer> {
  // Node ≥ 22.15 and 23.5 say it themselves.
  const get = (tls as { getCACertificates?: (type: 'default') => string[] }).getCACertificates;
  if (get) return get('default');
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  return [...tls.rootCertificates, ...(extra && existsSync(extra) ? [readFileSync(extra)] : [])];
}

/** The certificate to trust besides the default CAs: --cert's, else the one `start` generated in the data directory. */
function certificateOf(server: TailOptions['server'], cwd: string): Buffer | undefined {
  const file = server.cert ? resolve(cwd, server.cert) : join(resolve(cwd, server.data), 'tls', 'cert.pem');
  return existsSync(file) ? readFileSync(file) : undefined;
}

function pretty(event: TableEvent): string {
  const time = new Date().toISOString().slice(11, 23);
  const body =
    event.type === 'update' || event.type === 'retained'
      ? JSON.stringify(event.record)
      : event.type === 'delete'
        ? JSON.stringify(event.key)
        : event.type === 'publish'
          ? `${JSON.stringify(event.key)} ${JSON.stringify(event.message)}`
          : `${event.reason}; the current records follow`;
  return `${time}  ${event.type.padEnd(8)} ${`#${event.cursor}`.padEnd(8)} ${body}\n`;
}
