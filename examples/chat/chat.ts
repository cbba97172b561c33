/**
 * Example: a terminal chat on tablecast, written with the client library (README › Apps).
 *
 * - Messages are records of `chat/message` (schemas/chat.graphql); a room is a filter on them.
 * - Everyone signed in reads every room; each user writes, edits and deletes only their own
 *   messages: the `member` role's rules say `owner=$user` (tablecast.config.json).
 * - `chat-types.ts` is generated from the schema (`tablecast types`), so the client is typed:
 *   a misspelt attribute is a compile error.
 *
 * Run the server:  npx tablecast start --schemas examples/chat/schemas --config examples/chat/tablecast.config.json
 * Then, in two terminals (passwords alice-chat and bob-chat):
 *   node --import tsx examples/chat/chat.ts alice alice-chat lobby
 *   node --import tsx examples/chat/chat.ts bob bob-chat lobby
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { createClient } from '../../src/client/node.ts';
import type { Message, MessageEvent, Schema } from './chat-types.ts';

export interface ChatOptions {
  /** The server's origin, e.g. https://localhost:9996. */
  url: string;
  user: string;
  password: string;
  room: string;
  /** PEM of the certificate to trust (the server's generated `data/tls/cert.pem`). */
  ca?: string | Buffer;
}

export interface Chat {
  /** Sends a message to the room as this user. */
  say(text: string): Promise<Message>;
  edit(id: string, text: string): Promise<Message>;
  remove(id: string): Promise<void>;
  /** The room's last `limit` messages, oldest first. */
  history(limit?: number): Promise<Message[]>;
  /** The room's changes from now on (or after `since`, a cursor kept from an earlier event), resumed across disconnects. */
  follow(options?: { since?: string; signal?: AbortSignal }): AsyncIterable<MessageEvent>;
  close(): Promise<void>;
}

/**
 * Joins a room.
 * @example const chat = await joinChat({ url, user: 'alice', password: 'alice-chat', room: 'lobby' }); await chat.say('hi')
 */
export async function joinChat(options: ChatOptions): Promise<Chat> {
  const { user, room } = options;
  const client = createClient<Schema>({ url: options.url, auth: { basic: { user, pass: options.password } }, ...(options.ca ? { ca: options.ca } : {}) });
  const messages = client.table('chat', 'message');
  return {
    say: (text) => messages.create({ room, owner: user, text }),
    edit: (id, text) => messages.patch(id, { text }),
    remove: (id) => messages.delete(id),
    async history(limit = 50) {
      const last = await messages.search(`room=${encodeURIComponent(room)}&sort(-sentAt)&limit(${limit})`);
      return last.reverse();
    },
    follow: ({ since, signal } = {}) => messages.subscribe({ filter: { room }, retained: false, ...(since ? { since } : {}), ...(signal ? { signal } : {}) }),
    close: () => client.close(),
  };
}

const line = (m: Message) => `${m.owner}: ${m.text}`;

async function main(args: string[]): Promise<void> {
  const [user, password, room = 'lobby'] = args;
  if (!user || !password) throw new Error('usage: chat.ts <user> <password> [room]');
  const url = process.env.TABLECAST_URL ?? 'https://localhost:9996';
  const ca = url.startsWith('https:') ? readFileSync(process.env.TABLECAST_CA ?? 'data/tls/cert.pem') : undefined;
  const chat = await joinChat({ url, user, password, room, ...(ca ? { ca } : {}) });
  for (const m of await chat.history()) console.log(line(m));
  const stop = new AbortController();
  void (async () => {
    for await (const event of chat.follow({ signal: stop.signal })) {
      if (event.type === 'update' && event.record.owner !== user) console.log(line(event.record));
      else if (event.type === 'delete') console.log(`(message ${event.key.id} deleted)`);
    }
  })().catch((err: unknown) => {
    if (!stop.signal.aborted) console.error(err);
  });
  for await (const text of createInterface({ input: process.stdin })) if (text.trim()) await chat.say(text);
  stop.abort();
  await chat.close();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
