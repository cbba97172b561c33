/**
 * `--workers N` with N > 1: this process forks N workers that serve one port (Node's `cluster`,
 * the only way Node 20 shares a listening port; the primary hands out connections round-robin,
 * which costs per connection, not per request on keep-alive), routes what crosses between them
 * (peers/switchboard.ts), replaces a worker that dies, and on SIGTERM/SIGINT drains them all and
 * exits 0 once every one has closed its store. It loads no fastify, GraphQL or LMDB: a supervisor
 * that holds nothing cannot lose anything when a worker fails.
 */
import cluster, { type Worker } from 'node:cluster';
import { hostname } from 'node:os';
import { isPeerMessage, Switchboard, type Downward, type Upward } from '../peers/switchboard.ts';
import { stopWhenLauncherGone } from './launcher-watch.ts';

export interface SuperviseOptions {
  workers: number;
  /** Whether info lines are logged (the log level is info or more verbose). */
  info: boolean;
}

/** Deaths in this span that slow replacement down (a worker that crashes at once, again and again). */
const CRASH_SPAN_MS = 10_000;
const CRASHES_BEFORE_BACKOFF = 3;

/** Runs the supervisor; resolves to the exit code once it has stopped. */
export function supervise(options: SuperviseOptions): Promise<number> {
  const board = new Switchboard();
  const base = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`;
  // pino's line format, so a log reader sees one stream from the supervisor and its workers.
  const log = (level: 30 | 40 | 50, msg: string, workers?: number) => {
    if (level === 30 && !options.info) return;
    const count = workers === undefined ? '' : `,"workers":${workers}`;
    process.stdout.write(`{"level":${level},"time":${Date.now()}${base},"role":"supervisor"${count},"msg":${JSON.stringify(msg)}}\n`);
  };
  const listening = new Set<number>();
  const deaths: number[] = [];
  let stopping = false;
  let exitCode = 0;
  let done: (code: number) => void = () => {};

  const fork = () => {
    const worker = cluster.fork({ TABLECAST_WORKER: '1' });
    // A worker's channel can close between the check and the write (it is exiting: a stop, a
    // crash). The write then fails with EPIPE, reported as the Worker's 'error' event, which
    // unhandled would end the supervisor and with it every other worker. Its 'exit' follows and
    // is handled there; nothing else is owed to a worker that is going.
    worker.on('error', (err) => {
      if (!stopping) log(40, `worker ${worker.id}: ${err.message}`);
    });
    const send = (m: Downward) => {
      if (!worker.isConnected()) return;
      try {
        worker.send(m);
      } catch {
        // The same closing channel, reported synchronously.
      }
    };
    worker.on('message', (m: unknown) => {
      if (!isPeerMessage(m)) return;
      // A worker asks to join once its own message handler is in place (worker-peers.ts).
      const up = m as Upward;
      if (up.tc === 'join') board.join(worker.id, send);
      else board.receive(worker.id, up);
    });
    worker.on('listening', () => listening.add(worker.id));
    return worker;
  };

  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    board.leave(worker.id);
    const wasUp = listening.delete(worker.id);
    const left = Object.keys(cluster.workers ?? {}).length;
    if (stopping) {
      if (left === 0) done(exitCode);
      return;
    }
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    if (!wasUp && listening.size === 0) {
      // It never served, nor did any other: the start failed (its message is on stderr). Replacing
      // it would only fail again, forever.
      log(50, `worker ${worker.id} stopped before it could serve (${how}); stopping`);
      exitCode = 1;
      stop();
      if (left === 0) done(1);
      return;
    }
    const now = Date.now();
    deaths.push(now);
    while (deaths.length > 0 && now - deaths[0]! > CRASH_SPAN_MS) deaths.shift();
    const delay = deaths.length > CRASHES_BEFORE_BACKOFF ? Math.min(10_000, 500 * 2 ** (deaths.length - CRASHES_BEFORE_BACKOFF)) : 0;
    log(40, `worker ${worker.id} died (${how}); starting a replacement${delay ? ` in ${delay} ms` : ''}`);
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Each worker closes as a single server does on SIGTERM: streams end, writes in flight commit, the store closes.
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  const onSignal = (signal: string) => {
    if (stopping) {
      log(40, `${signal} again: exiting now`);
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(1);
    }
    // The same message a single process logs, so whoever watches for it needs no second form.
    log(30, `${signal}: shutting down`, Object.keys(cluster.workers ?? {}).length);
    stop();
    if (Object.keys(cluster.workers ?? {}).length === 0) done(exitCode);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  if (process.env.npm_command) stopWhenLauncherGone(onSignal);

  log(30, `supervisor starting ${options.workers} workers`, options.workers);
  for (let i = 0; i < options.workers; i++) fork();
  return new Promise((resolve) => {
    done = resolve;
  });
}
