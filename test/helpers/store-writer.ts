/**
 * A child process that writes to a store as a worker does (`shared: true`): one message after
 * another, printing each key once its write resolved (acknowledged). Run by
 * test/fault/shared-store.test.ts: node --import tsx test/helpers/store-writer.ts <dir> <tag>
 */
import { parseSchema } from '../../src/schema/parse.ts';
import { createStore } from '../../src/store/store.ts';
import { MESSAGE_SDL } from './server.ts';

const [dir, tag] = process.argv.slice(2) as [string, string];
const tables = parseSchema([{ file: 'message.graphql', sdl: MESSAGE_SDL }]).tables;
const store = createStore({ dataDir: dir, tables, shared: true });
const table = store.table(tables[0]!);
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  const id = `${tag}-${i}`;
  // A record of a few pages' worth, so commits take long enough for a kill to land inside one.
  await store.transact((tx) => tx.put(table, id, { id, title: tag, content: 'x'.repeat(2000) }));
  process.stdout.write(`${id}\n`);
}
