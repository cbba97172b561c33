/**
 * `tablecast init`: a starter project (one schema, one config file) so that `tablecast start` in
 * an empty folder serves something at once. It refuses to overwrite anything: a second `init`, or
 * one in a folder that already has a schema directory or config, changes nothing.
 */
import { mkdir, writeFile, access } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { AppError } from '../errors.ts';

const SCHEMA = `# One table, served at /realtime-demo/message as REST, Server-Sent Events and GraphQL.
# Every *.graphql file in this directory is read at start; see the README's "Schema" section.
type Message @table(database: "realtime-demo") @export(name: "message") {
  id: ID! @primaryKey
  title: String!
  content: String!
}
`;

/** The settings a user edits first; every other setting keeps its default (README, "Running it"). */
const CONFIG = {
  port: 9996,
  host: 'localhost',
  schemas: './schemas',
  data: './data',
  logLevel: 'info',
};

/** Writes `schemas/message.graphql` and `tablecast.config.json` into `dir`; returns the paths written. */
export async function initProject(dir: string): Promise<string[]> {
  const files = [
    { path: join(dir, 'schemas', 'message.graphql'), text: SCHEMA },
    { path: join(dir, 'tablecast.config.json'), text: `${JSON.stringify(CONFIG, null, 2)}\n` },
  ];
  const taken = [join(dir, 'schemas'), ...files.map((f) => f.path)];
  for (const path of taken) {
    if (await exists(path))
      throw new AppError('CONFIG_INVALID', `${relative(dir, path) || path} already exists: init writes only into a folder without a schemas directory or tablecast.config.json, and changed nothing`);
  }
  await mkdir(join(dir, 'schemas'), { recursive: true });
  // 'wx': if something appeared since the check, fail rather than overwrite it.
  for (const f of files) await writeFile(f.path, f.text, { flag: 'wx' });
  return files.map((f) => f.path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
