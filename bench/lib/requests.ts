/**
 * What the HTTP load generators send and report: the specification bench/run.ts hands to
 * bench/lib/load.ts (autocannon, HTTP/1.1) and bench/lib/h2load.ts (node:http2, one connection),
 * the distinct requests of each mode, and the one JSON line each prints.
 */
export type LoadMode = 'get' | 'post' | 'put' | 'filter';

export interface LoadSpec {
  url: string;
  mode: LoadMode;
  /** HTTP/1.1: connections (one request in flight on each); HTTP/2: streams in flight on one connection. */
  connections: number;
  /** Measured seconds. */
  duration: number;
  /** Unmeasured seconds first (JIT warm-up of both sides). */
  warmup: number;
  /** The server's PID: its CPU time is read from /proc over the measured run. */
  serverPid: number;
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
  /** Responses (any status) during the measured run. */
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
  /** CPU the generator used during the measured run, as % of one core. */
  loadCpuPct: number;
  /** Server CPU time (utime + stime, /proc/PID/stat) over the measured run (ms). */
  serverCpuMs: number;
  /** Server CPU per response over the measured run (µs). */
  serverCpuUsPerReq: number;
}

export interface Request {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: { [k: string]: string };
  body?: string;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const CONTENT = 'SSE is working: a benchmark message of about a hundred bytes, like a chat line or a status.';

/** The distinct requests of a mode (at most 500, pre-built once). */
export function requestsOf(spec: LoadSpec): Request[] {
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

/**
 * The body of a load-generator process (load.ts, h2load.ts): reads the spec from argv, runs the
 * measurement, prints its result as one JSON line and exits (1 with the error on stderr).
 */
export function loadProcess(name: string, measure: (spec: LoadSpec) => Promise<LoadResult>): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  measure(spec).then(
    (out) => {
      process.stdout.write(`${JSON.stringify(out)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${name}: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
