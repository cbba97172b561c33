/**
 * Processes of a benchmark: CPU pinning with `taskset` (server on core 0, load on core 1), free
 * ports, starting a server and waiting for `/health`, stopping by PID (SIGTERM, then SIGKILL after a
 * grace period), and reading a process's RSS and CPU time from /proc.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { cpus } from 'node:os';

export const ROOT = resolve(import.meta.dirname, '../..');

let tasksetChecked: boolean | undefined;
/** Whether `taskset` exists and works here (checked once). */
export function hasTaskset(): boolean {
  if (tasksetChecked === undefined) {
    const r = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    tasksetChecked = r.status === 0;
  }
  return tasksetChecked;
}

/**
 * The command line that runs `argv` on `core`, or on every core when `core` is undefined (unpinned
 * when taskset is missing). Every core explicitly: a child inherits its parent's affinity, and the
 * orchestrator pins itself to the load core, so a plain spawn would share that one core with it.
 */
export function pinned(core: number | undefined, argv: string[]): [string, string[]] {
  if (!hasTaskset()) return [argv[0]!, argv.slice(1)];
  return ['taskset', ['-c', core === undefined ? `0-${cpus().length - 1}` : String(core), ...argv]];
}

/** Pins this process (all its threads) to `core`; returns false when it could not. */
export function pinSelf(core: number): boolean {
  if (!hasTaskset()) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** A port that was free a moment ago (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  url: string;
  /** Its stderr and the last ~64 kB of its stdout (the logs), for error messages. */
  output(): string;
  /** Bytes it wrote to stdout so far (its log lines, at the default level one per request). */
  logBytes(): number;
  /** From spawning the process to the first 200 answer of `/health` (ms). */
  readyMs: number;
  exited: Promise<number | string>;
}

export interface StartOptions {
  name: string;
  /** argv after `node` (e.g. ['dist/cli.js', 'start', ...]). */
  nodeArgs: string[];
  port: number;
  /** Serve (and probe `/health`) over HTTPS with a self-signed certificate. */
  https?: boolean;
  env?: { [k: string]: string };
  core?: number;
  /** Working directory (default: the repository root). */
  cwd?: string;
  /** Readiness deadline (ms). */
  timeoutMs?: number;
  /** Pause between `/health` probes (ms); small when start-up time is measured. */
  pollMs?: number;
  /**
   * Where its stdout (the logs) goes: 'pipe' (default) to this process, which drains it; a file
   * path (appended to); or '/dev/null'.
   */
  logs?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One `GET /health` on a fresh connection (self-signed certificates accepted): its status, or 0. */
export function probeHealth(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(`${url}/health`, { agent: false, rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/**
 * Starts a node server (pinned) and waits until `GET /health` answers 200. Its stdout (the logs) is
 * by default a pipe this process drains as it arrives, keeping only the tail: a pipe left full
 * would stall a server that logs synchronously, and one read into a growing string would cost the
 * load core.
 */
export async function startServer(o: StartOptions): Promise<Proc> {
  const [cmd, args] = pinned(o.core, [process.execPath, ...o.nodeArgs]);
  const t0 = performance.now();
  const toFile = o.logs !== undefined && o.logs !== 'pipe';
  const fd = toFile ? openSync(o.logs!, 'a') : undefined;
  const child = spawn(cmd, args, { cwd: o.cwd ?? ROOT, env: { ...process.env, ...o.env }, stdio: ['ignore', fd ?? 'pipe', 'pipe'] });
  if (fd !== undefined) closeSync(fd);
  let err = '';
  let logTail: Buffer[] = [];
  let tailBytes = 0;
  let logBytes = 0;
  child.stdout?.on('data', (d: Buffer) => {
    logBytes += d.length;
    logTail.push(d);
    tailBytes += d.length;
    if (tailBytes > 128 * 1024) {
      logTail = logTail.slice(-2);
      tailBytes = logTail.reduce((n, b) => n + b.length, 0);
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d;
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  const fileTail = () => {
    if (!toFile || o.logs === '/dev/null') return '';
    const text = readFileSync(o.logs!, 'utf8');
    return text.slice(-64 * 1024);
  };
  const output = () =>
    `${err}${
      toFile
        ? fileTail()
        : Buffer.concat(logTail)
            .toString('utf8')
            .slice(-64 * 1024)
    }`;
  const bytes = () => (!toFile ? logBytes : o.logs === '/dev/null' ? NaN : statSync(o.logs!).size);
  const exited = new Promise<number | string>((res) => child.on('exit', (code, signal) => res(code ?? signal ?? -1)));
  let dead = false;
  void exited.then(() => (dead = true));
  const url = `${o.https ? 'https' : 'http'}://127.0.0.1:${o.port}`;
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  let readyMs: number;
  for (;;) {
    if (dead) throw new Error(`${o.name} exited before it was ready:\n${output()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${o.name} was not ready within ${o.timeoutMs ?? 30_000} ms:\n${output()}`);
    }
    if ((await probeHealth(url)) === 200) {
      readyMs = performance.now() - t0;
      break;
    }
    await sleep(o.pollMs ?? 100);
  }
  return { name: o.name, child, pid: child.pid!, url, output, logBytes: bytes, readyMs, exited };
}

/** Stops a process by PID: SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
export async function stopProcess(p: { pid: number; exited: Promise<unknown> }, graceMs = 10_000): Promise<void> {
  let done = false;
  void p.exited.then(() => (done = true));
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    if (!done) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }, graceMs);
  await p.exited;
  clearTimeout(timer);
}

/** Resident set size of a process in bytes (VmRSS), or NaN. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

const TICK = 100; // USER_HZ on Linux
/** CPU time (user + system, all threads) a process used so far, in ms. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK;
  } catch {
    return NaN;
  }
}

export interface NodeChild<T> {
  child: ChildProcess;
  pid: number;
  exited: Promise<number | string>;
  /** Resolves with the JSON the child printed last on stdout. */
  result: Promise<T>;
}

/** Runs `node --import tsx <script> <args>` pinned to `core`; its last stdout line is JSON. */
export function runNodeScript<T>(script: string, args: string[], core: number | undefined, stdio: StdioOptions = ['ignore', 'pipe', 'inherit']): NodeChild<T> {
  const [cmd, argv] = pinned(core, [process.execPath, '--import', 'tsx', script, ...args]);
  const child = spawn(cmd, argv, { cwd: ROOT, stdio });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((res) => child.on('exit', (code, signal) => res(code ?? signal ?? -1)));
  const result = exited.then((code) => {
    const last = out.trim().split('\n').at(-1) ?? '';
    try {
      return JSON.parse(last) as T;
    } catch {
      throw new Error(`${script} exited ${code} without a JSON result:\n${out.slice(-2000)}`);
    }
  });
  return { child, pid: child.pid!, exited, result };
}

/** CPU time the whole machine spent busy so far (all cores, ms; from /proc/stat). */
export function machineBusyMs(): number {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = first.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return ((user + nice + system + irq + softirq + steal) * 1000) / TICK;
  } catch {
    return NaN;
  }
}

export interface CpuWindow {
  wallMs: number;
  /** CPU time per watched PID over the window (ms). */
  cpuMs: number[];
  /** CPU % of one core per watched PID, over the window. */
  pct: number[];
  /** CPU % of one core used by everything else on the machine (other sessions' tests, …). */
  otherPct: number;
}

/**
 * Samples the CPU time of `pids` and of the machine every 200 ms; `stop()` returns the deltas up to
 * the last sample in which every PID was still alive (a load process that exited is not lost).
 */
export function cpuSampler(pids: number[]): { stop(): CpuWindow } {
  type Sample = { t: number; cpu: number[]; machine: number };
  const take = (): Sample => ({ t: performance.now(), cpu: pids.map((p) => (p === process.pid ? selfCpuMs() : cpuMsOf(p))), machine: machineBusyMs() });
  const first = take();
  let last = first;
  const timer = setInterval(() => {
    const s = take();
    if (s.cpu.every(Number.isFinite)) last = s;
  }, 200);
  return {
    stop() {
      clearInterval(timer);
      const s = take();
      if (s.cpu.every(Number.isFinite)) last = s;
      const wallMs = Math.max(1, last.t - first.t);
      const cpu = last.cpu.map((c, i) => c - first.cpu[i]!);
      const ours = cpu.reduce((a, b) => a + b, 0);
      return { wallMs, cpuMs: cpu, pct: cpu.map((c) => (c / wallMs) * 100), otherPct: Math.max(0, ((last.machine - first.machine - ours) / wallMs) * 100) };
    },
  };
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Waits (at most `maxWaitMs`) until the machine is quiet: other processes (this machine is shared
 * with other sessions) using less than `thresholdPct` of one core over half a second. Returns the
 * last measured busy % and how long it waited.
 */
export async function waitQuiet(thresholdPct = 15, maxWaitMs = 20_000): Promise<{ busyPct: number; waitedMs: number }> {
  const t0 = Date.now();
  for (;;) {
    const a = machineBusyMs();
    await new Promise((r) => setTimeout(r, 500));
    const busyPct = ((machineBusyMs() - a) / 500) * 100;
    if (busyPct < thresholdPct || Date.now() - t0 > maxWaitMs) return { busyPct, waitedMs: Date.now() - t0 };
  }
}
