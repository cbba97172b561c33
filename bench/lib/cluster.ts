/**
 * tablecast with `--workers N` (issue #14), as the multicore scenario runs it: a supervisor that
 * forks N workers serving one port (Node's cluster) over one LMDB store. It is started on port 0,
 * and the port is learnt from the workers' own "tablecast serving … on http://HOST:PORT" log lines
 * (each must name the same port); it is ready once every worker has said so and `/health` answers.
 * Its CPU time is the supervisor's plus every worker's: the supervisor accepts the connections and
 * routes commits between workers, so leaving it out would flatter N > 1.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { hasTaskset, pinned, probeHealth, ROOT } from './proc.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The parent of a process (field 4 of /proc/PID/stat), or undefined once it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name (field 2) may hold spaces and parentheses: count from the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * The children of a process. /proc/PID/task/TID/children needs a kernel built with
 * CONFIG_PROC_CHILDREN (this VM's is not), so without it every process's parent is read instead.
 */
export function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  } catch {
    return readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .filter((p) => parentOf(p) === pid);
  }
}

/** Sockets a process holds (its descriptors that are sockets): streams per worker in the SSE runs. */
export function socketsOf(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
      } catch {
        return false; // closed meanwhile
      }
    }).length;
  } catch {
    return NaN;
  }
}

/**
 * Lets this process (all its threads) run on every core again, after pinSelf: the multicore
 * scenario's servers take both cores, and an orchestrator held on one core (it drains their logs,
 * and runs the SSE writer) would crowd whichever worker the kernel put there.
 */
export function unpinSelf(): boolean {
  if (!hasTaskset()) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', `0-${cpus().length - 1}`, String(process.pid)], { stdio: 'ignore' }).status === 0;
}

export interface ClusterOptions {
  name: string;
  /** argv after `node`, with `--port 0` and `--workers N` among them. */
  nodeArgs: string[];
  workers: number;
  env?: { [k: string]: string };
  cwd?: string;
  /** 'pipe' (drained here, the tail kept) or a file path to append to: the port is read from either. */
  logs: string;
  timeoutMs?: number;
}

export interface ClusterProc {
  name: string;
  /** The supervisor, or the one process at --workers 1. */
  pid: number;
  port: number;
  url: string;
  /** The workers, as their "serving" lines named them (the process itself at --workers 1). */
  workerPids: number[];
  /** The supervisor and its children now (a worker replaced since the start shows up here). */
  pids(): number[];
  /** Its stderr and the last ~64 kB of its stdout (the logs). */
  output(): string;
  /** Bytes written to stdout so far. */
  logBytes(): number;
  /** Spawn → every worker serving and `/health` answering (ms). */
  readyMs: number;
  exited: Promise<number | string>;
}

/** A worker's "tablecast serving … on URL" log line: its pid and URL, or undefined for any other line. */
function servingLine(line: string): { pid: number; url: string } | undefined {
  if (!line.includes('tablecast serving')) return undefined;
  try {
    const entry = JSON.parse(line) as { pid?: number; msg?: string };
    const m = / on (https?:\/\/\S+:\d+) /.exec(entry.msg ?? '');
    return m && typeof entry.pid === 'number' ? { pid: entry.pid, url: m[1]! } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts tablecast with `--workers N` on every core (explicitly: children inherit this process's
 * pinning), and waits until N distinct processes have logged that they serve, all on one port, and
 * `/health` answers 200 there.
 */
export async function startCluster(o: ClusterOptions): Promise<ClusterProc> {
  const [cmd, args] = pinned(undefined, [process.execPath, ...o.nodeArgs]);
  const t0 = performance.now();
  const toFile = o.logs !== 'pipe';
  const fd = toFile ? openSync(o.logs, 'a') : undefined;
  const fileStart = toFile ? statSync(o.logs).size : 0;
  const child = spawn(cmd, args, { cwd: o.cwd ?? ROOT, env: { ...process.env, ...o.env }, stdio: ['ignore', fd ?? 'pipe', 'pipe'] });
  if (fd !== undefined) closeSync(fd);
  let err = '';
  let tail: Buffer[] = [];
  let tailBytes = 0;
  let bytes = 0;
  // Lines are split only until every worker is serving: after that the logs are one access line per request.
  let head = '';
  let ready = false;
  child.stdout?.on('data', (d: Buffer) => {
    bytes += d.length;
    tail.push(d);
    tailBytes += d.length;
    if (tailBytes > 128 * 1024) {
      tail = tail.slice(-2);
      tailBytes = tail.reduce((n, b) => n + b.length, 0);
    }
    if (!ready) head += d.toString('utf8');
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d;
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  const logText = (): string => {
    if (!toFile) return Buffer.concat(tail).toString('utf8');
    const text = readFileSync(o.logs, 'utf8');
    return text.slice(fileStart);
  };
  const output = () => `${err}${logText().slice(-64 * 1024)}`;
  const exited = new Promise<number | string>((res) => child.on('exit', (code, signal) => res(code ?? signal ?? -1)));
  let dead = false;
  void exited.then(() => (dead = true));
  const timeoutMs = o.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const serving = new Map<number, string>();
  for (;;) {
    if (dead) throw new Error(`${o.name} exited before it was ready:\n${output()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${o.name}: ${serving.size} of ${o.workers} workers serving after ${timeoutMs} ms:\n${output()}`);
    }
    for (const line of (toFile ? logText() : head).split('\n')) {
      const s = servingLine(line);
      if (s) serving.set(s.pid, s.url);
    }
    if (serving.size >= o.workers) {
      const urls = new Set(serving.values());
      if (urls.size > 1) {
        child.kill('SIGKILL');
        throw new Error(`${o.name}: its workers serve on different addresses: ${[...serving].map(([pid, u]) => `${pid} ${u}`).join(', ')}`);
      }
      const url = [...urls][0]!;
      if ((await probeHealth(url)) === 200) {
        ready = true;
        head = '';
        const pid = child.pid!;
        return {
          name: o.name,
          pid,
          port: Number(new URL(url).port),
          url,
          workerPids: [...serving.keys()],
          pids: () => [pid, ...childrenOf(pid)],
          output,
          logBytes: () => (toFile ? statSync(o.logs).size - fileStart : bytes),
          readyMs: performance.now() - t0,
          exited,
        };
      }
    }
    await sleep(100);
  }
}
