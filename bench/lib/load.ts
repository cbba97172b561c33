/**
 * The HTTP load generator: autocannon's programmatic API in its own process, which bench/run.ts
 * starts pinned to the load core (`taskset -c 1 node --import tsx bench/lib/load.ts '<json>'`).
 * Requests are pre-built (no per-request setupRequest), each connection walking the same list
 * from a different offset, so the generator spends its CPU on sockets, not on building requests.
 * Prints one JSON line: LoadResult.
 */
import autocannon, { type Request } from 'autocannon';

export type LoadMode = 'get' | 'post' | 'put' | 'filter';

export interface LoadSpec {
  url: string;
  mode: LoadMode;
  connections: number;
  /** Measured seconds. */
  duration: number;
  /** Unmeasured seconds first (JIT warm-up of both sides). */
  warmup: number;
  /** get/put: ids m0…m{ids-1}. */
  ids?: number;
  /** filter: categories c0…c{categories-1}. */
  categories?: number;
  /** filter: limit(n). */
  limit?: number;
}

export interface LoadResult {
  mode: LoadMode;
  /** 2xx responses per second over the measured run. */
  rps: number;
  latency: { p50: number; p99: number; avg: number; max: number };
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
  /** CPU the generator used during the measured run, as % of one core. */
  loadCpuPct: number;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const CONTENT = 'SSE is working: a benchmark message of about a hundred bytes, like a chat line or a status.';

/** The distinct requests of a mode (at most 500, pre-built once per connection). */
function requestsOf(spec: LoadSpec): Request[] {
  const ids = spec.ids ?? 10_000;
  const list: Request[] = [];
  switch (spec.mode) {
    case 'get':
      for (let i = 0; i < Math.min(ids, 500); i++) list.push({ method: 'GET', path: `/bench/message/m${(i * 7919) % ids}` });
      return list;
    case 'post':
      // No key in the body: the server generates one, so every request creates a record.
      return [{ method: 'POST', path: '/bench/message', headers: JSON_HEADERS, body: JSON.stringify({ title: 'Hello', content: CONTENT }) }];
    case 'put':
      for (let i = 0; i < Math.min(ids, 500); i++) {
        const id = `m${(i * 7919) % ids}`;
        list.push({ method: 'PUT', path: `/bench/message/${id}`, headers: JSON_HEADERS, body: JSON.stringify({ id, title: 'Replaced', content: CONTENT }) });
      }
      return list;
    case 'filter': {
      const categories = spec.categories ?? 100;
      for (let i = 0; i < categories; i++) list.push({ method: 'GET', path: `/bench/item?category=c${(i * 37) % categories}&limit(${spec.limit ?? 100})` });
      return list;
    }
  }
}

async function run(spec: LoadSpec, duration: number) {
  const requests = requestsOf(spec);
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

async function main() {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  if (spec.warmup > 0) await run(spec, spec.warmup);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await run(spec, spec.duration);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const ok = r['2xx'];
  const out: LoadResult = {
    mode: spec.mode,
    rps: ok / r.duration,
    latency: { p50: r.latency.p50, p99: r.latency.p99, avg: r.latency.average, max: r.latency.max },
    total: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    duration: r.duration,
    loadCpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`load: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
