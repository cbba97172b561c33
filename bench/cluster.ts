/**
 * The cluster scenario of `npm run bench` (issue #15): tablecast nodes on NATS JetStream, all on this
 * machine, against the single server in the same run. Every side is started fresh (servers, NATS,
 * data directories), measured, stopped:
 *
 * - write latency: POST on one connection, one request at a time (wrk -c1): p50 / p99;
 * - write throughput: POST on 48 connections spread over the nodes (wrk -c48 per node, split);
 * - apply lag: each node's `/health` polled every 100 ms during the throughput run (largest lag in
 *   entries and ms seen on any node);
 * - fan-out: 1,000 streams spread over the nodes, 100 writes/s through one node for 10 s: p50 / p99
 *   write→receive (the farm's clock against the writer's, one machine), missing events.
 *
 * Sides: one server (no cluster); one node on one NATS server (R1); one node on three (R3); three
 * nodes on three (R3). Nothing is pinned: NATS, nodes, wrk and the farm share both cores, so the
 * numbers say what a cluster costs over one process here, not what separate machines would do.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNats, type NatsCluster } from '../test/helpers/nats.ts';
import { startFarm } from './lib/farm-client.ts';
import type { FarmReport } from './lib/sse-farm.ts';
import { writeAtRate } from './lib/http.ts';
import { freePort, ROOT, startServer, stopProcess, type Proc } from './lib/proc.ts';
import { runWrk, type WrkResult } from './lib/wrk.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Side {
  label: string;
  /** NATS servers (0: no cluster). */
  nats: number;
  nodes: number;
  replicas: number;
}

export const SIDES: Side[] = [
  { label: 'single server', nats: 0, nodes: 1, replicas: 0 },
  { label: '1 node, R1', nats: 1, nodes: 1, replicas: 1 },
  { label: '1 node, R3', nats: 3, nodes: 1, replicas: 3 },
  { label: '3 nodes, R3', nats: 3, nodes: 3, replicas: 3 },
];

export interface SideResult {
  label: string;
  latency: { p50: number; p99: number; rps: number };
  throughput: { rps: number; p50: number; p99: number; non2xx: number; errors: number };
  lag: { entries: number; ms: number };
  fanout: { p50: number; p99: number; missing: number; received: number; streams: number; writes: number };
}

interface Running {
  nats: NatsCluster | undefined;
  nodes: Proc[];
  dirs: string[];
}

async function startSide(side: Side, schemas: string, log: (s: string) => void): Promise<Running> {
  const nats = side.nats > 0 ? await startNats(side.nats) : undefined;
  const nodes: Proc[] = [];
  const dirs: string[] = [];
  const stream = `bench${Date.now()}`;
  for (let i = 0; i < side.nodes; i++) {
    const data = mkdtempSync(join(tmpdir(), 'tablecast-bench-cluster-'));
    dirs.push(data);
    const port = await freePort();
    const servers = nats ? [...nats.servers.slice(i % nats.servers.length), ...nats.servers.slice(0, i % nats.servers.length)] : [];
    const clusterArgs = nats ? ['--cluster', JSON.stringify({ servers, stream, replicas: side.replicas })] : ['--workers', '1'];
    nodes.push(
      await startServer({
        name: `${side.label} #${i + 1}`,
        nodeArgs: ['dist/cli.js', 'start', '--port', String(port), '--host', '127.0.0.1', '--data', data, '--schemas', schemas, '--no-tls', ...clusterArgs],
        port,
        env: { TABLECAST_MAX_STREAMS_PER_ADDRESS: '10000', TABLECAST_MAX_STREAMS: '20000', TABLECAST_MAX_CONNECTIONS_PER_ADDRESS: '10000' },
        logs: '/dev/null',
        timeoutMs: 60_000,
      }),
    );
  }
  log(`  ${side.label}: ${side.nodes} node(s) serving${nats ? ` on ${side.nats} nats-server(s)` : ''}`);
  return { nats, nodes, dirs };
}

async function stopSide(r: Running): Promise<void> {
  for (const n of r.nodes) await stopProcess(n);
  await r.nats?.close();
  for (const d of r.dirs) rmSync(d, { recursive: true, force: true });
}

/** Polls every node's /health while `during` runs: the largest lag seen. */
async function watchLag<T>(nodes: Proc[], during: Promise<T>): Promise<{ result: T; entries: number; ms: number }> {
  let entries = 0;
  let ms = 0;
  let done = false;
  const watcher = (async () => {
    while (!done) {
      for (const n of nodes) {
        try {
          const res = await fetch(`${n.url}/health`);
          const body = (await res.json()) as { cluster?: { lagEntries: number; lagMs: number } };
          if (body.cluster) {
            entries = Math.max(entries, body.cluster.lagEntries);
            ms = Math.max(ms, body.cluster.lagMs);
          }
        } catch {
          // a busy node: the next poll
        }
      }
      await sleep(100);
    }
  })();
  const result = await during;
  done = true;
  await watcher;
  return { result, entries, ms };
}

/** Runs wrk on each node at once (`connections` split over them) and adds the results up. */
async function spread(nodes: Proc[], connections: number, seconds: number): Promise<WrkResult[]> {
  const per = Math.max(1, Math.floor(connections / nodes.length));
  return Promise.all(nodes.map((n) => runWrk({ url: n.url, mode: 'post', connections: per, threads: 1, seconds, ids: 10_000 }).result));
}

export async function runClusterBench(options: { seconds: number; streams: number; log: (s: string) => void }): Promise<SideResult[]> {
  const { log, seconds } = options;
  const schemas = join(ROOT, 'bench', 'schemas');
  const results: SideResult[] = [];
  const farm = startFarm(undefined);
  try {
    for (const side of SIDES) {
      const r = await startSide(side, schemas, log);
      try {
        const one = await runWrk({ url: r.nodes[0]!.url, mode: 'post', connections: 1, threads: 1, seconds: Math.min(seconds, 5), ids: 10_000 }).result;
        const watched = await watchLag(r.nodes, spread(r.nodes, 48, seconds));
        const all = watched.result;
        const rps = all.reduce((n, w) => n + w.rps, 0);
        const worst = (f: (w: WrkResult) => number) => Math.max(...all.map(f));
        // Fan-out: the streams spread over the nodes, the writes through the first.
        await sleep(1000);
        const per = Math.floor(options.streams / r.nodes.length);
        for (const n of r.nodes) await farm.call({ cmd: 'open', port: Number(new URL(n.url).port), path: '/bench/message?stream=sse&retained=false', n: per, concurrency: 100 });
        await sleep(500);
        const writes = 100 * 10;
        await farm.call({ cmd: 'arm', writes });
        const w = await writeAtRate(r.nodes[0]!.url, 100, 10, `cluster-${side.label}`);
        let report = await farm.call<FarmReport>({ cmd: 'report' });
        for (let i = 0; i < 100 && report.received < w.ok * report.streams; i++) {
          await sleep(100);
          report = await farm.call<FarmReport>({ cmd: 'report' });
        }
        await farm.call({ cmd: 'closeAll' });
        const result: SideResult = {
          label: side.label,
          latency: { p50: one.latency.p50, p99: one.latency.p99, rps: one.rps },
          throughput: {
            rps,
            p50: worst((x) => x.latency.p50),
            p99: worst((x) => x.latency.p99),
            non2xx: all.reduce((n, x) => n + x.non2xx, 0),
            errors: all.reduce((n, x) => n + x.errors + x.timeouts, 0),
          },
          lag: { entries: watched.entries, ms: watched.ms },
          fanout: { p50: report.latency.p50, p99: report.latency.p99, missing: report.missing, received: report.received, streams: report.streams, writes: w.ok },
        };
        results.push(result);
        log(
          `  [cluster] ${side.label}: 1 connection p50 ${result.latency.p50.toFixed(2)} / p99 ${result.latency.p99.toFixed(2)} ms (${result.latency.rps.toFixed(0)}/s); 48 connections ${rps.toFixed(0)} writes/s, p99 ${result.throughput.p99.toFixed(1)} ms, non2xx ${result.throughput.non2xx}; largest apply lag ${watched.entries} entries, ${watched.ms} ms; fan-out ${report.streams} streams: p50 ${report.latency.p50.toFixed(1)} / p99 ${report.latency.p99.toFixed(1)} ms, missing ${report.missing}`,
        );
      } finally {
        await stopSide(r);
      }
    }
  } finally {
    await farm.stop();
  }
  return results;
}

/** The markdown table of the results. */
export function clusterTable(results: SideResult[]): string {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—');
  const lines = [
    '| side | POST p50 / p99, 1 connection (ms) | writes/s, 48 connections | p99 there (ms) | largest apply lag | fan-out p50 / p99 (ms), 1,000 streams, 100 writes/s | missing |',
    '|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.label} | ${f(r.latency.p50, 2)} / ${f(r.latency.p99, 2)} | ${f(r.throughput.rps, 0)} | ${f(r.throughput.p99)} | ${r.lag.entries} entries, ${r.lag.ms} ms | ${f(r.fanout.p50)} / ${f(r.fanout.p99)} | ${r.fanout.missing} |`,
    ),
  ];
  return lines.join('\n');
}
