/**
 * The public API of tablecast: build a server (or just the table engine) in your own process.
 * Nothing else under src/ is public.
 *
 * @example
 * import { createServer } from 'tablecast';
 * const server = await createServer({ port: 0, data: './data', tls: false });
 * await server.listen();
 * await server.tables['realtime-demo'].message.create({ id: 'msg-1', title: 'Hello', content: 'World' });
 */
export { createServer, type ServerOptions, type TablecastServer } from './server.ts';
export { createApp, type App, type AppOptions } from './core/app.ts';
export type { TableApi, TablesApi } from './core/tables-api.ts';
export type { TableService, Written } from './core/table-service.ts';
export type { SseApi } from './http/sse-api.ts';
export type { Channel, ChannelClient } from './realtime/channels.ts';
export type { HubEvent, EventType } from './realtime/events.ts';
export { encodeSseFrame, type SseFrame } from './realtime/sse.ts';
export { AppError, ERROR_STATUS, type ErrorCode, type ErrorBody } from './errors.ts';
export { loadConfig, validateConfig, type Config, type ConfigInput } from './config.ts';
export { parseSchema, loadSchemaDir } from './schema/parse.ts';
export type { SchemaModel, TableDef, FieldDef, FieldType, Record, Key } from './schema/model.ts';
export { hashPassword } from './auth/password.ts';
