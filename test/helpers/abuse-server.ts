/**
 * The server half of the abuse harness (test/helpers/abuse.ts), run in its own process so that
 * its event loop and its RSS are measured alone: builds a server from the JSON options in argv[2],
 * seeds a large table through the store (one transaction per batch), listens, and prints one JSON
 * line `{"url", "pid", "head"}` on stdout.
 */
import { createServer, type ServerOptions } from '../../src/server.ts';

interface Seed {
  /** Table id `database/table`. */
  table: string;
  /** Records to create: `{ id: 'r000001', cat: 'c17', name: 'name-1', n: 1, text }`. */
  records: number;
  /** Publishes to append after the records (spread over the first records' keys). */
  publishes?: number;
  /** Length of each record's `text` attribute. */
  textLength?: number;
}

const { server: options, seed } = JSON.parse(process.argv[2]!) as { server: ServerOptions; seed?: Seed };
const server = await createServer({ port: 0, host: '127.0.0.1', tls: false, logLevel: 'silent', ...options });
if (seed) {
  const store = server.app.store;
  const handle = store.tables.get(seed.table);
  if (!handle) throw new Error(`no table ${seed.table}`);
  const text = 'x'.repeat(seed.textLength ?? 40);
  const BATCH = 5000;
  for (let from = 0; from < seed.records; from += BATCH) {
    await store.transact((tx) => {
      for (let i = from; i < Math.min(seed.records, from + BATCH); i++) {
        const id = `r${String(i).padStart(6, '0')}`;
        tx.put(handle, id, { id, cat: `c${i % 100}`, name: `name-${i}`, n: i, text });
      }
    });
  }
  for (let from = 0; from < (seed.publishes ?? 0); from += BATCH) {
    await store.transact((tx) => {
      for (let i = from; i < Math.min(seed.publishes!, from + BATCH); i++) tx.publish(handle, `r${String(i % 1000).padStart(6, '0')}`, { n: i });
    });
  }
}
const url = await server.listen();
process.stdout.write(`${JSON.stringify({ url, pid: process.pid, head: server.app.store.changeLog.head() })}\n`);
const stop = () =>
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
