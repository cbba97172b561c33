/**
 * The HTTP/1.1 load generator: autocannon's programmatic API in its own process, which bench/run.ts
 * starts pinned to the load core (`taskset -c 1 node --import tsx bench/lib/load.ts '<json>'`).
 * Requests are pre-built (no per-request setupRequest), each connection walking the same list
 * from a different offset, so the generator spends its CPU on sockets, not on building requests.
 * Reads the server's CPU time from /proc right before and after the measured run. Prints one JSON
 * line: LoadResult.
 */
import autocannon from 'autocannon';
import { cpuMsOf } from './proc.ts';
import { loadProcess, requestsOf, type LoadResult, type LoadSpec } from './requests.ts';

export type { LoadMode, LoadResult, LoadSpec } from './requests.ts';

async function run(spec: LoadSpec, duration: number) {
  const requests = requestsOf(spec).map((r) => ({ method: r.method, path: r.path, ...(r.headers ? { headers: r.headers } : {}), ...(r.body ? { body: r.body } : {}) }));
  let client = 0;
  return autocannon({
    url: spec.url,
    connections: spec.connections,
    duration,
    timeout: 10,
    requests: requests.slice(0, 1),
    setupClient: (c) => {
      // Each connection walks the list from its own offset.
      const start = Math.floor(((client++ % spec.connections) * requests.length) / spec.connections);
      c.setRequests([...requests.slice(start), ...requests.slice(0, start)]);
    },
  });
}

async function measure(spec: LoadSpec): Promise<LoadResult> {
  if (spec.warmup > 0) await run(spec, spec.warmup);
  const cpu0 = process.cpuUsage();
  const server0 = cpuMsOf(spec.serverPid);
  const t0 = performance.now();
  const r = await run(spec, spec.duration);
  const serverCpuMs = cpuMsOf(spec.serverPid) - server0;
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const ok = r['2xx'];
  const total = ok + r.non2xx;
  const out: LoadResult = {
    mode: spec.mode,
    rps: ok / r.duration,
    latency: { p50: r.latency.p50, p99: r.latency.p99, avg: r.latency.average, max: r.latency.max },
    total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    duration: r.duration,
    loadCpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
    serverCpuMs,
    serverCpuUsPerReq: (serverCpuMs * 1000) / total,
  };
  return out;
}

loadProcess('load', measure);
