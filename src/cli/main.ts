/**
 * The command line, and with its launcher (`src/cli.ts`) the only module that touches `process`: it
 * reads argv and env, hands them to the pure `loadConfig`, starts or checks, and turns signals into
 * a graceful shutdown. Importing it runs it.
 */
import cluster from 'node:cluster';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { hashPassword } from '../auth/password.ts';
import { mergeConfig, settingLocation, validateConfig, type Config, type ConfigInput } from '../config.ts';
import { buildDeclarations } from '../schema/declarations.ts';
import { loadSchemaDir } from '../schema/parse.ts';
import { prepareStart } from '../server/preflight.ts';
import { initProject } from './init.ts';
import { stopWhenLauncherGone } from './launcher-watch.ts';
import { supervise } from './supervisor.ts';
import { connectWorkerPeers } from './worker-peers.ts';
import { FLAGS, USAGE, usageLine, usageProblem } from './usage.ts';

/** Commands that work on the data directory without serving (cli/data.ts). */
const DATA_COMMANDS: ReadonlySet<string> = new Set(['export', 'import', 'backup']);
import { VERSION } from '../version.ts';
import { codeOf, messageOf } from '../util/guards.ts';

async function main(argv: string[]): Promise<number> {
  const problem = usageProblem(argv);
  if (problem) {
    process.stderr.write(usageLine(problem));
    return 2;
  }
  const { values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true });
  const command = positionals[0] ?? 'start';
  if (values.help || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version || command === 'version') {
    process.stdout.write(`tablecast ${VERSION}\n`);
    return 0;
  }
  if (command === 'init') {
    const dir = resolve(process.cwd(), positionals[1] ?? '.');
    const written = await initProject(dir);
    for (const path of written) process.stdout.write(`wrote ${path}\n`);
    const cd = positionals[1] ? `cd ${positionals[1]} && ` : '';
    process.stdout.write(`next: ${cd}npx tablecast start   (serves /realtime-demo/message on https://localhost:9996)\n`);
    return 0;
  }
  if (command === 'hash-password') {
    const chunks: Buffer[] = [];
    // Readable's async iterator yields any; stdin, with no encoding set, yields Buffers.
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    // One trailing newline is what `echo` or a prompt adds, not part of the password.
    const password = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (!password) {
      process.stderr.write('tablecast: give the password on standard input, e.g. printf %s "$PASSWORD" | tablecast hash-password\n');
      return 2;
    }
    process.stdout.write(`${await hashPassword(password)}\n`);
    return 0;
  }
  // Before the configuration is read: a misspelt command is a usage error, whatever the config says.
  if (command !== 'start' && command !== 'check' && command !== 'types' && command !== 'tail' && !DATA_COMMANDS.has(command)) {
    process.stderr.write(usageLine(`unknown command "${command}"`));
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
    // parseArgs types durability and log-level as plain strings; validateConfig checks them below.
    durability: values.durability as ConfigInput['durability'],
    workers: values.workers,
    // A string here; the settings schema reads the URL list (config/settings.ts).
    cluster: values.cluster as ConfigInput['cluster'],
    bodyLimit: values['body-limit'],
    pingInterval: values['ping-interval'],
    retention: values.retention,
    logLevel: values['log-level'] as ConfigInput['logLevel'],
    static: values.static,
    console: values['no-console'] ? false : undefined,
  };
  const configFile = values.config ?? process.env.TABLECAST_CONFIG;
  // Merged, not yet validated: the checks below (the same for check and start) report every
  // problem of settings and schemas together, each where it was set.
  const input = mergeConfig({ flags, env: process.env, ...(configFile ? { configFile } : {}), cwd: process.cwd() });

  if (DATA_COMMANDS.has(command)) {
    // Loaded only for these commands, as the server is only to start (LMDB, below).
    const { DataUsageError, runDataCommand } = await import('./data.ts');
    try {
      return await runDataCommand(command, positionals.slice(1), values, input);
    } catch (err) {
      if (!(err instanceof DataUsageError)) throw err;
      process.stderr.write(usageLine(err.message));
      return 2;
    }
  }

  if (command === 'types') {
    const text = buildDeclarations(await loadSchemaDir(resolve(process.cwd(), String(input.schemas ?? './schemas'))));
    if (values.out) {
      await writeFile(values.out, text);
      process.stderr.write(`wrote ${values.out}\n`);
    } else process.stdout.write(text);
    return 0;
  }
  if (command === 'tail') {
    const config = validateConfig(input, process.cwd());
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    // A reader that went away (`| head`) ends the tail quietly.
    process.stdout.on('error', () => stop.abort());
    const password = process.env.TABLECAST_PASSWORD ?? '';
    const token = process.env.TABLECAST_TOKEN;
    const auth = values.user ? { basic: { user: values.user, pass: password } } : token ? { bearer: token } : undefined;
    // Loaded only here: the client and undici cost every other command their start-up time.
    const { tail } = await import('./tail.ts');
    await tail({
      target: positionals[1] ?? '',
      json: values.json === true,
      insecure: values.insecure === true,
      ...(values.filter ? { filter: values.filter } : {}),
      ...(values.since ? { since: values.since } : {}),
      ...(auth ? { auth } : {}),
      server: { host: config.host, port: config.port, tls: config.tls, data: config.data, ...(config.cert ? { cert: config.cert } : {}) },
      cwd: process.cwd(),
      out: process.stdout,
      signal: stop.signal,
    });
    return 0;
  }
  if (command === 'check') {
    const { model } = await prepareStart(input, { cwd: process.cwd() });
    for (const t of model.tables) {
      const where = t.export ? `/${t.database}/${t.export.name}` : '(not exported)';
      process.stdout.write(`${t.database}.${t.table}  ${where}  key ${t.primaryKey}\n`);
    }
    process.stdout.write(`ok: ${model.tables.length} table(s) in ${model.files.length} file(s)\n`);
    return 0;
  }
  // Checked once, here: a supervisor reports a bad setting before it forks anything.
  const { config: checked, model } = await prepareStart(input, { cwd: process.cwd() });
  const worker = cluster.isWorker && process.env.TABLECAST_WORKER === '1';
  // A cluster node is one process: its log applier writes the store, and one process applies.
  if (checked.cluster && checked.workers > 1 && settingLocation(checked, ['workers']) !== 'workers') {
    throw new Error(`cannot start: a cluster node runs as one process; remove ${settingLocation(checked, ['workers'])} or set it to 1`);
  }
  if (!worker && checked.workers > 1 && !checked.cluster) {
    const { prepareSharedFiles } = await import('../server/shared-files.ts');
    await prepareSharedFiles(checked, model);
    process.exit(await supervise({ workers: checked.workers, info: ['info', 'debug', 'trace'].includes(checked.logLevel) }));
  }
  // Loaded only to start: `check`, `help` and usage errors answer in a fraction of the time
  // without fastify, GraphQL Yoga and LMDB.
  const { createServer } = await import('../server.ts');
  const peers = worker ? await connectWorkerPeers() : undefined;
  const server = await createServer({ ...input, model, ...(peers ? { peers } : {}) });
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

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A worker gets the terminal's Ctrl-C and the supervisor's SIGTERM for the same stop.
      if (worker) return;
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
  // A worker whose supervisor is gone (killed with -9) stops too, rather than serve on alone.
  if (worker) process.on('disconnect', () => stop('supervisor gone'));
  // Only now the line that says the server is up: whoever waits for it may signal at once, and a
  // signal before the handlers above would kill the process without a graceful close.
  // Hosts only: a NATS URL may carry a user and password.
  const node = config.cluster ? `; cluster node, stream ${config.cluster.stream} on ${config.cluster.servers.map((u) => u.replace(/\/\/[^@/]*@/, '//')).join(',')}` : '';
  const who = peers ? ` (worker ${peers.self})` : '';
  server.log.info(`tablecast serving ${tables.join(', ')} on ${url} (${tls}; data in ${config.data}${node})${who}`);
  // npm and npx run a bin under a shell that does not pass their signals on (launcher-watch.ts).
  if (process.env.npm_command && !worker) stopWhenLauncherGone(stop);
  return -1;
}

/** A listen failure as one plain sentence: the common ones say what to change. */
function listenError(err: unknown, config: Config): Error {
  const code = codeOf(err);
  const port = `port ${config.port} on ${config.host}`;
  const portSetting = settingLocation(config, ['port']);
  const hostSetting = settingLocation(config, ['host']);
  if (code === 'EADDRINUSE') return new Error(`cannot start: ${port} is already in use by another process; stop it or choose another port (${portSetting})`);
  if (code === 'EACCES') {
    const why = config.port > 0 && config.port < 1024 ? ' (ports below 1024 need privileges)' : '';
    return new Error(`cannot start: permission denied to listen on ${port}${why}; choose another port (${portSetting})`);
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new Error(`cannot start: ${config.host} is not an address of this machine; choose another host (${hostSetting})`);
  return new Error(`cannot start: ${messageOf(err)}`);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (String(codeOf(err)).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`tablecast: ${messageOf(err)}\n\n${USAGE}`);
      // A usage error (unknown or malformed flag) exits 2, as an unknown command does; 1 is for
      // invalid configuration or schemas and failed start-ups.
      process.exit(2);
    }
    // Messages only, never a stack: an operator needs what to change, and AppErrors already say
    // it one line per problem. (Pipes and files take stderr synchronously, so exiting loses nothing.)
    process.stderr.write(`tablecast: ${messageOf(err)}\n`);
    // Exit, not exitCode: a failure half-way through start-up may have left a handle open.
    process.exit(1);
  },
);
