/**
 * The HTTP/2 load generator (autocannon speaks HTTP/1.1 only): one TLS connection (self-signed
 * certificates accepted) to `spec.url`, `spec.connections` requests in flight on it as concurrent
 * streams, each finished stream replaced by the next request of the list, until the time is up.
 * node:http2 directly, no fetch layer, so the client spends its core on streams, not on wrappers.
 * Like load.ts: run pinned to the load core by bench/run.ts, reads the server's CPU time from /proc
 * right before and after the measured run, prints one JSON line: LoadResult.
 */
import { connect, type ClientHttp2Session } from 'node:http2';
import { once } from 'node:events';
import { cpuMsOf } from './proc.ts';
import { loadProcess, requestsOf, type LoadResult, type LoadSpec, type Request } from './requests.ts';

interface Tally {
  ok: number;
  non2xx: number;
  errors: number;
  latencies: number[];
}

/** Runs the load for `seconds` on `session`; resolves once every stream in flight has ended. */
function run(session: ClientHttp2Session, requests: Request[], inFlight: number, seconds: number): Promise<Tally & { wallMs: number }> {
  const tally: Tally = { ok: 0, non2xx: 0, errors: 0, latencies: [] };
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let open = 0;
  let next = 0;
  return new Promise((resolve) => {
    const issue = () => {
      const r = requests[next++ % requests.length]!;
      const started = performance.now();
      open++;
      let status = 0;
      const stream = session.request({ ':method': r.method, ':path': r.path, ...r.headers });
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', () => {});
      const done = (failed: boolean) => {
        open--;
        if (failed) tally.errors++;
        else if (status >= 200 && status < 300) tally.ok++;
        else tally.non2xx++;
        tally.latencies.push(performance.now() - started);
        if (performance.now() < end && !session.destroyed) issue();
        else if (open === 0) resolve({ ...tally, wallMs: performance.now() - t0 });
      };
      let settled = false;
      const settle = (failed: boolean) => {
        if (!settled) {
          settled = true;
          done(failed);
        }
      };
      stream.on('end', () => settle(false));
      stream.on('error', () => settle(true));
      stream.on('close', () => settle(stream.rstCode !== 0));
      stream.end(r.body);
    };
    for (let i = 0; i < inFlight; i++) issue();
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : NaN;
}

async function measure(spec: LoadSpec): Promise<LoadResult> {
  const session = connect(spec.url, { rejectUnauthorized: false, settings: { initialWindowSize: 1 << 20 } });
  session.on('error', (err) => process.stderr.write(`h2load: session: ${err.message}\n`));
  await once(session, 'connect');
  session.setLocalWindowSize(16 << 20);
  const requests = requestsOf(spec);
  if (spec.warmup > 0) await run(session, requests, spec.connections, spec.warmup);
  const cpu0 = process.cpuUsage();
  const server0 = cpuMsOf(spec.serverPid);
  const r = await run(session, requests, spec.connections, spec.duration);
  const serverCpuMs = cpuMsOf(spec.serverPid) - server0;
  const cpu = process.cpuUsage(cpu0);
  session.close();
  const sorted = Float64Array.from(r.latencies).sort();
  const lat = Array.from(sorted);
  const total = r.ok + r.non2xx;
  const out: LoadResult = {
    mode: spec.mode,
    rps: r.ok / (r.wallMs / 1000),
    latency: { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), avg: lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length), max: lat.at(-1) ?? NaN },
    total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: 0,
    duration: r.wallMs / 1000,
    loadCpuPct: ((cpu.user + cpu.system) / 1000 / r.wallMs) * 100,
    serverCpuMs,
    serverCpuUsPerReq: (serverCpuMs * 1000) / total,
  };
  return out;
}

loadProcess('h2load', measure);
