/**
 * The command line, and the only module that touches `process`: it reads argv and env, hands them
 * to the pure `loadConfig`, starts or checks, and turns signals into a graceful shutdown.
 */
import { parseArgs } from 'node:util';
import { hashPassword } from './auth/password.ts';
import { mergeConfig, settingLocation, type Config, type ConfigInput } from './config.ts';
import { prepareStart } from './server/preflight.ts';

const USAGE = `Usage: tablecast <command> [flags]

Commands:
  start   serve the schemas (default)
  check   run every check start runs (settings, schemas, roles and filters against the tables,
          password hashes, table URLs, TLS files, data directory), list the tables, and exit
  hash-password
          read a password from standard input, print its scrypt hash for auth.users
  help    show this text

Exit status: 0 success, 1 invalid configuration or schema (every problem is listed) or a failed
start, 2 usage error (unknown command or flag).

Flags (each also settable as an environment variable or in tablecast.config.json):
  --port <n>              TABLECAST_PORT            port to listen on (9996; 0 picks a free one)
  --host <name>           TABLECAST_HOST            address to bind (localhost; 0.0.0.0 for all)
  --schemas <dir>         TABLECAST_SCHEMAS         directory of *.graphql files (./schemas)
  --data <dir>            TABLECAST_DATA            data directory (./data)
  --no-tls                TABLECAST_TLS=false       plain HTTP instead of HTTPS + HTTP/2
  --cert <file>           TABLECAST_CERT            TLS certificate (PEM); with --key
  --key <file>            TABLECAST_KEY             TLS private key (PEM); with --cert
  --durability <mode>     TABLECAST_DURABILITY      commit (default) or sync (flush to disk before answering)
  --body-limit <bytes>    TABLECAST_BODY_LIMIT      largest request body (1048576)
  --ping-interval <ms>    TABLECAST_PING_INTERVAL   SSE heartbeat interval (15000)
  --retention <ms>        TABLECAST_RETENTION       how long the change log is kept (86400000)
  --log-level <level>     TABLECAST_LOG_LEVEL       fatal|error|warn|info|debug|trace|silent (info)
  --config <file>         TABLECAST_CONFIG          config file (./tablecast.config.json if present)
`;

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  schemas: { type: 'string' },
  data: { type: 'string' },
  tls: { type: 'boolean' },
  'no-tls': { type: 'boolean' },
  cert: { type: 'string' },
  key: { type: 'string' },
  durability: { type: 'string' },
  'body-limit': { type: 'string' },
  'ping-interval': { type: 'string' },
  retention: { type: 'string' },
  'log-level': { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true });
  const command = positionals[0] ?? 'start';
  if (values.help || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'hash-password') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    // One trailing newline is what `echo` or a prompt adds, not part of the password.
    const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    if (!password) {
      process.stderr.write('tablecast: give the password on standard input, e.g. printf %s "$PASSWORD" | tablecast hash-password\n');
      return 2;
    }
    process.stdout.write(`${await hashPassword(password)}\n`);
    return 0;
  }
  // Before the configuration is read: a misspelt command is a usage error, whatever the config says.
  if (command !== 'start' && command !== 'check') {
    process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  const flags: Partial<ConfigInput> = {
    port: values.port,
    host: values.host,
    schemas: values.schemas,
    data: values.data,
    tls: values['no-tls'] ? false : values.tls,
    cert: values.cert,
    key: values.key,
    durability: values.durability as ConfigInput['durability'],
    bodyLimit: values['body-limit'],
    pingInterval: values['ping-interval'],
    retention: values.retention,
    logLevel: values['log-level'] as ConfigInput['logLevel'],
  };
  const configFile = values.config ?? process.env.TABLECAST_CONFIG;
  // Merged, not yet validated: the checks below (the same for check and start) report every
  // problem of settings and schemas together, each where it was set.
  const input = mergeConfig({ flags, env: process.env, ...(configFile ? { configFile } : {}), cwd: process.cwd() });

  if (command === 'check') {
    const { model } = await prepareStart(input, { cwd: process.cwd() });
    for (const t of model.tables) {
      const where = t.export ? `/${t.database}/${t.export.name}` : '(not exported)';
      process.stdout.write(`${t.database}.${t.table}  ${where}  key ${t.primaryKey}\n`);
    }
    process.stdout.write(`ok: ${model.tables.length} table(s) in ${model.files.length} file(s)\n`);
    return 0;
  }
  // Loaded only to start: `check`, `help` and usage errors answer in a fraction of the time
  // without fastify, GraphQL Yoga and LMDB.
  const { createServer } = await import('./server.ts');
  const server = await createServer(input);
  const config = server.config;
  let url: string;
  try {
    url = await server.listen();
  } catch (err) {
    // LMDB and the expiry timer are open by now: close them, or the process would stay.
    await server.close().catch(() => undefined);
    throw listenError(err, config);
  }
  const tables = server.app.model.tables.filter((t) => t.export).map((t) => `/${t.database}/${t.export!.name}`);
  const tls = server.tls === 'off' ? 'plain HTTP' : `HTTP/2 + HTTP/1.1, ${server.tls === 'provided' ? 'certificate from --cert' : `self-signed certificate in ${config.data}/tls`}`;
  server.log.info(`tablecast serving ${tables.join(', ')} on ${url} (${tls}; data in ${config.data})`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      server.log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    server.log.info(`${signal}: shutting down`);
    server.close().then(
      () => process.exit(0),
      (err) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}

/** A listen failure as one plain sentence: the common ones say what to change. */
function listenError(err: unknown, config: Config): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const port = `port ${config.port} on ${config.host}`;
  const portSetting = settingLocation(config, ['port']);
  const hostSetting = settingLocation(config, ['host']);
  if (code === 'EADDRINUSE') return new Error(`cannot start: ${port} is already in use by another process; stop it or choose another port (${portSetting})`);
  if (code === 'EACCES') {
    const why = config.port > 0 && config.port < 1024 ? ' (ports below 1024 need privileges)' : '';
    return new Error(`cannot start: permission denied to listen on ${port}${why}; choose another port (${portSetting})`);
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new Error(`cannot start: ${config.host} is not an address of this machine; choose another host (${hostSetting})`);
  return new Error(`cannot start: ${err instanceof Error ? err.message : String(err)}`);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`tablecast: ${err.message}\n\n${USAGE}`);
      // A usage error (unknown or malformed flag) exits 2, as an unknown command does; 1 is for
      // invalid configuration or schemas and failed start-ups.
      process.exit(2);
    }
    // Messages only, never a stack: an operator needs what to change, and AppErrors already say
    // it one line per problem. (Pipes and files take stderr synchronously, so exiting loses nothing.)
    process.stderr.write(`tablecast: ${err instanceof Error ? err.message : String(err)}\n`);
    // Exit, not exitCode: a failure half-way through start-up may have left a handle open.
    process.exit(1);
  },
);
