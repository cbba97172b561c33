/**
 * HTTP/1.1 load with wrk (C, epoll; far lighter than autocannon per request), for the multicore
 * scenario: there the load generator shares the two cores with the servers' workers, so every
 * core-second it saves is one the servers can use. The requests are those of bench/wrk/requests.lua
 * (the same as autocannon's in scenarios 1 and 2), whose done() prints one JSON line with wrk's
 * counts, latency percentiles and its own CPU time, read from its /proc/self/stat after its threads
 * have finished (so nothing of wrk's run is lost to sampling).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pinned, ROOT } from './proc.ts';

export type WrkMode = 'get' | 'post' | 'put';

export interface WrkSpec {
  url: string;
  mode: WrkMode;
  connections: number;
  threads: number;
  seconds: number;
  /** get/put: ids m0…m{ids-1} (500 of them are requested). */
  ids: number;
  /** undefined: every core (see pinned in proc.ts). */
  core?: number;
}

export interface WrkResult {
  /** Responses of any status. */
  requests: number;
  /** 2xx and 3xx responses per second. */
  rps: number;
  seconds: number;
  /** Responses with a status ≥ 400 (wrk's "Non-2xx or 3xx responses"). */
  non2xx: number;
  /** Socket errors: connect, read, write. */
  errors: number;
  timeouts: number;
  latency: { p50: number; p99: number; max: number; avg: number };
  /** wrk's CPU time (user + system, all threads) over its whole run (ms; 10 ms ticks). */
  cpuMs: number;
}

interface Done {
  requests: number;
  durationUs: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { p50: number; p99: number; max: number; mean: number };
  cpuTicks: number;
}

const TICK_MS = 10; // USER_HZ 100 on Linux
export const WRK_SCRIPT = join(ROOT, 'bench', 'wrk', 'requests.lua');

/** Starts wrk; `result` resolves once it has exited. */
export function runWrk(spec: WrkSpec): { child: ChildProcess; pid: number; result: Promise<WrkResult> } {
  const argv = [
    'wrk',
    `-t${spec.threads}`,
    `-c${spec.connections}`,
    `-d${spec.seconds}s`,
    // As autocannon's in load.ts: a slow answer is late, not lost.
    '--timeout',
    '10s',
    '-s',
    WRK_SCRIPT,
    spec.url,
    '--',
    spec.mode,
    String(spec.ids),
  ];
  const [cmd, args] = pinned(spec.core, argv);
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const result = new Promise<WrkResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const line = out
        .trim()
        .split('\n')
        .findLast((l) => l.startsWith('{'));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code ?? signal} without a result:\n${err.slice(-2000)}${out.slice(-2000)}`));
      resolve(resultOf(JSON.parse(line) as Done));
    });
  });
  return { child, pid: child.pid!, result };
}

function resultOf(d: Done): WrkResult {
  const seconds = d.durationUs / 1e6;
  const ms = (us: number) => us / 1000;
  return {
    requests: d.requests,
    rps: (d.requests - d.errors.status) / seconds,
    seconds,
    non2xx: d.errors.status,
    errors: d.errors.connect + d.errors.read + d.errors.write,
    timeouts: d.errors.timeout,
    latency: { p50: ms(d.latencyUs.p50), p99: ms(d.latencyUs.p99), max: ms(d.latencyUs.max), avg: ms(d.latencyUs.mean) },
    cpuMs: d.cpuTicks < 0 ? NaN : d.cpuTicks * TICK_MS,
  };
}
