/**
 * `npm run bench`: tablecast against a minimal reference server (bench/reference-server.ts, plain
 * fastify + lmdb doing the same work with no features) in the same run, so the ratio stays
 * meaningful when absolute numbers drift. Servers run pinned to core 0 (`taskset -c 0`); this
 * orchestrator, the autocannon process and the SSE client farm run pinned to core 1. Each scenario
 * runs `--runs` times per server (alternating which server goes first) and reports medians.
 *
 *   npm run bench                                    # everything (~12 minutes)
 *   npm run bench -- --only get,sse --duration 3 --runs 1
 *   npm run bench -- --only get --profile            # also --cpu-prof the tablecast server
 *
 * Prints one table (tablecast, reference, ratio, target, pass/fail per scenario) and writes
 * bench/results.json. Every load is bounded in count and time and stops by itself; servers are
 * stopped by PID (SIGTERM, then SIGKILL).
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startFarm, type Farm } from './lib/farm-client.ts';
import type { FarmReport } from './lib/sse-farm.ts';
import { CONTENT, now, seed, writeAtRate, type WriteStats } from './lib/http.ts';
import type { LoadMode, LoadResult, LoadSpec } from './lib/load.ts';
import { cpuSampler, freePort, hasTaskset, pinSelf, ROOT, rssOf, runNodeScript, startServer, stopProcess, waitQuiet, type Proc } from './lib/proc.ts';
import { formatProfile, summarizeProfile } from './lib/profile.ts';

const SCENARIOS = ['get', 'write', 'filter', 'sse', 'memory', 'open', 'resume'] as const;
/** Row ids in table order. */
const SCENARIO_ORDER = ['get', 'post', 'put', 'filter', 'sse25', 'sse100', 'sseCapacity', 'memory', 'open', 'resume'];
type ScenarioName = (typeof SCENARIOS)[number];

const { values: flags } = parseArgs({
  options: {
    only: { type: 'string' },
    duration: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    'sse-clients': { type: 'string', default: '1000' },
    'capacity-rate': { type: 'string', default: '1000' },
    'sse-plans': { type: 'string', default: '25,100,capacity' },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results.json' },
    'tablecast-dir': { type: 'string' },
    merge: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (flags.help) {
  process.stdout.write(`Usage: npm run bench -- [--only ${SCENARIOS.join(',')}] [--duration s] [--runs n]
       [--connections n] [--sse-clients n] [--capacity-rate writes/s] [--profile] [--keep] [--out file]

  --only           scenarios to run (default: all)
  --duration       seconds per measured load run (default 10; SSE capacity uses at most 5)
  --runs           runs per scenario and server; the table shows medians (default 3)
  --sse-plans      fan-out runs of scenario 4: write rates and/or "capacity" (default 25,100,capacity)
  --profile        run both servers with --cpu-prof during the measured part; summaries go to
                   bench/profiles/<scenario>/{tablecast,reference}/summary.txt
  --keep           keep the temporary data directories
  --merge          replace only the re-run scenarios' rows in --out (keeping the others), e.g.
                   to re-measure scenarios that other processes disturbed
  --tablecast-dir  bench the tablecast of another checkout (it needs node_modules; a symlink
                   will do), e.g. the commit before an optimisation, for before/after numbers
`);
  process.exit(0);
}

const only = (flags.only ? flags.only.split(',').map((s) => s.trim()) : [...SCENARIOS]) as ScenarioName[];
for (const s of only) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario "${s}" (known: ${SCENARIOS.join(', ')})`);
const DURATION = Number(flags.duration);
const RUNS = Math.max(1, Number(flags.runs));
const CONNECTIONS = Number(flags.connections);
const SSE_CLIENTS = Number(flags['sse-clients']);
const CAPACITY_RATE = Number(flags['capacity-rate']);
const TABLECAST_DIR = resolve(flags['tablecast-dir'] ?? ROOT);
const SERVER_CORE = 0;
const LOAD_CORE = 1;
const MESSAGES = 10_000;
const ITEMS = 100_000;
const CATEGORIES = 100;
const DELETED = 50_000;
const RESUME_BEHIND = 10_000;
/** A run during which other processes used more than this (% of one core) is run again, at most twice. */
const NOISE_LIMIT = 25;
let retried = 0;
const T0 = Date.now();
/** Repeats stop once the whole bench has run this long, to keep it near its 12-minute budget. */
const RETRY_BUDGET_MS = 10 * 60_000;

/** Runs `fn` again (at most twice) when other processes disturbed it. */
async function undisturbed<T extends { otherCpuPct: number }>(label: string, fn: () => Promise<T>): Promise<T> {
  let r = await fn();
  for (let i = 0; i < 2 && r.otherCpuPct > NOISE_LIMIT && Date.now() - T0 < RETRY_BUDGET_MS; i++) {
    log(`  ~ ${label}: other processes used ${r.otherCpuPct.toFixed(0)}% of a core during the run; running it again`);
    retried++;
    r = await fn();
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Targets (the two servers)

type Kind = 'tablecast' | 'reference';
interface Target {
  kind: Kind;
  dataDir: string;
  proc?: Proc;
  port: number;
  seeded: Set<string>;
  resumeCursor?: number;
}

const work = mkdtempSync(join(tmpdir(), 'tablecast-bench-'));
const targets: Record<Kind, Target> = {
  tablecast: { kind: 'tablecast', dataDir: join(work, 'tablecast'), port: 0, seeded: new Set() },
  reference: { kind: 'reference', dataDir: join(work, 'reference'), port: 0, seeded: new Set() },
};

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function start(t: Target, profileDir?: string): Promise<void> {
  t.port = await freePort();
  const common = ['--port', String(t.port), '--host', '127.0.0.1', '--data', t.dataDir];
  const nodeArgs =
    t.kind === 'tablecast'
      ? [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), '--import', 'tsx', 'src/cli.ts', 'start', '--no-tls', ...common, '--schemas', join(ROOT, 'bench', 'schemas'), '--log-level', 'warn']
      : [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), '--import', 'tsx', 'bench/reference-server.ts', ...common];
  t.proc = await startServer({
    name: t.kind,
    nodeArgs,
    port: t.port,
    ...(t.kind === 'tablecast' ? { cwd: TABLECAST_DIR } : {}),
    core: SERVER_CORE,
    // Every bench client connects from 127.0.0.1: scenario 5 holds 5,000 HTTP/1.1 streams from it.
    env: { TABLECAST_MAX_STREAMS_PER_ADDRESS: '10000', TABLECAST_MAX_STREAMS: '20000', TABLECAST_MAX_CONNECTIONS_PER_ADDRESS: '10000' },
  });
}

async function stop(t: Target): Promise<void> {
  if (!t.proc) return;
  const p = t.proc;
  t.proc = undefined;
  await stopProcess(p, 15_000);
}

/** Starts both servers, runs `fn`, stops both (and summarises the tablecast profile with --profile). */
async function withServers<T>(scenario: string, prepare: () => Promise<void>, fn: () => Promise<T>): Promise<T> {
  const base = flags.profile ? join(ROOT, 'bench', 'profiles', scenario) : undefined;
  const dirOf = (t: Target) => (base ? join(base, t.kind) : undefined);
  if (base) {
    rmSync(base, { recursive: true, force: true });
    for (const t of Object.values(targets)) mkdirSync(dirOf(t)!, { recursive: true });
  }
  await start(targets.tablecast);
  await start(targets.reference);
  try {
    await prepare();
    if (base) {
      // Profile the measured part only: restart both servers (same data) with --cpu-prof after seeding.
      for (const t of Object.values(targets)) {
        await stop(t);
        await start(t, dirOf(t));
      }
    }
    return await fn();
  } finally {
    await stop(targets.tablecast);
    await stop(targets.reference);
    for (const t of base ? Object.values(targets) : []) {
      const dir = dirOf(t)!;
      // One profile per thread (tsx runs its loader in a worker): the main thread's has thread id 0.
      const files = readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
      const newest = files.map((f) => join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
      if (newest) {
        const text = formatProfile(summarizeProfile(newest, 40));
        writeFileSync(join(dir, 'summary.txt'), `${newest}\n\n${text}\n`);
        log(`\n[profile ${scenario}] ${t.kind} ${newest}\n${text}\n`);
      } else log(`[profile ${scenario}] no .cpuprofile was written for ${t.kind}`);
    }
  }
}

const url = (t: Target) => `http://127.0.0.1:${t.port}`;
/** Alternate which server goes first, so slow drift hits both alike. */
const order = (run: number): Target[] => (run % 2 === 0 ? [targets.tablecast, targets.reference] : [targets.reference, targets.tablecast]);

// ---------------------------------------------------------------------------------------------
// Seeds: kept in each server's data directory for later scenarios of the same `npm run bench`.

async function ensureSeed(t: Target, what: 'messages' | 'items' | 'deleted' | 'resume'): Promise<void> {
  if (t.seeded.has(what)) return;
  const u = url(t);
  let ms = 0;
  switch (what) {
    case 'messages':
      ms = await seed(u, MESSAGES, (i) => ({ method: 'PUT', path: `/bench/message/m${i}`, body: { id: `m${i}`, title: 'Hello', content: CONTENT } }));
      break;
    case 'items':
      ms = await seed(u, ITEMS, (i) => ({
        method: 'PUT',
        path: `/bench/item/i${i}`,
        body: { id: `i${i}`, name: `item ${i}`, category: `c${i % CATEGORIES}`, price: (i % 1000) / 10 },
      }));
      break;
    case 'deleted': {
      await ensureSeed(t, 'items');
      ms = await seed(u, DELETED, (i) => ({ method: 'PUT', path: `/bench/item/d${i}`, body: { id: `d${i}`, name: `gone ${i}`, category: 'gone', price: 1 } }));
      const t0 = now();
      const res = await fetch(`${u}/bench/item?category=gone`, { method: 'DELETE' });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`DELETE /bench/item?category=gone on ${t.kind}: ${res.status} ${body}`);
      ms += now() - t0;
      break;
    }
    case 'resume': {
      const farm = await getFarm();
      t.resumeCursor = (await farm.call<{ cursor: number }>({ cmd: 'cursor', port: t.port, path: '/bench/message?stream=sse&retained=false' })).cursor;
      ms = await seed(u, RESUME_BEHIND, (n) => ({ method: 'POST', path: '/bench/message', body: { id: `r-${n}`, title: 'Hello', content: CONTENT, sentAt: now(), n } }));
      break;
    }
  }
  t.seeded.add(what);
  log(`  seeded ${what} on ${t.kind} in ${(ms / 1000).toFixed(1)} s`);
}

async function seedBoth(what: 'messages' | 'items' | 'deleted' | 'resume'): Promise<void> {
  for (const t of Object.values(targets)) await ensureSeed(t, what);
}

// ---------------------------------------------------------------------------------------------
// Results

interface Row {
  /** Scenario run id (get, post, put, filter, sse25, sse100, sseCapacity, memory, open, resume). */
  id: string;
  /** When it was measured (rows can come from different runs with --merge). */
  date: string;
  scenario: string;
  metric: string;
  unit: string;
  tablecast: number;
  reference: number;
  /** tablecast / reference. */
  ratio: number;
  target: string;
  pass: boolean | null;
  /** PASS, FAIL, NOISY (no undisturbed run on one side: not judged), or '' (no target). */
  result: string;
  note?: string;
  runs: { tablecast: number[]; reference: number[] };
}
const rows: Row[] = [];
const STARTED = new Date().toISOString();
/** The scenario the next rows belong to, and whether other processes disturbed every run of a side. */
let rowCtx: { id: string; noisy: boolean } = { id: '', noisy: false };
const anyClean = (xs: Array<{ otherCpuPct: number }>) => xs.some((r) => r.otherCpuPct <= NOISE_LIMIT);
const raw: { [scenario: string]: unknown } = {};

type Check = { kind: 'ratio>='; value: number } | { kind: 'ratio<='; value: number } | { kind: '<'; value: number } | { kind: '<='; value: number } | { kind: '>='; value: number } | { kind: '=='; value: number } | { kind: 'none' };

function addRow(scenario: string, metric: string, unit: string, runs: { tablecast: number[]; reference: number[] }, check: Check, note?: string): void {
  const tc = median(runs.tablecast);
  const ref = median(runs.reference);
  addComputedRow(scenario, metric, unit, tc, ref, runs, check, note);
}

/** Medians over the runs other processes did not disturb (all runs when none was clean). */
function cleanRuns<T extends { otherCpuPct: number }>(runs: T[]): T[] {
  const clean = runs.filter((r) => r.otherCpuPct <= NOISE_LIMIT);
  return clean.length ? clean : runs;
}

/** "clean runs 3/3 + 2/3": how many runs per server other processes left alone. */
function cleanCount(runs: { tablecast: Array<{ otherCpuPct: number }>; reference: Array<{ otherCpuPct: number }> }): string {
  const c = (xs: Array<{ otherCpuPct: number }>) => `${xs.filter((r) => r.otherCpuPct <= NOISE_LIMIT).length}/${xs.length}`;
  return `undisturbed runs ${c(runs.tablecast)} tablecast, ${c(runs.reference)} reference`;
}

function addComputedRow(scenario: string, metric: string, unit: string, tc: number, ref: number, runs: { tablecast: number[]; reference: number[] }, check: Check, note?: string): void {
  const ratio = tc / ref;
  let target = '—';
  let pass: boolean | null = null;
  switch (check.kind) {
    case 'ratio>=':
      target = `≥ ${check.value}× ref`;
      pass = ratio >= check.value;
      break;
    case 'ratio<=':
      target = `≤ ${check.value}× ref`;
      pass = ratio <= check.value;
      break;
    case '<':
      target = `< ${check.value} ${unit}`;
      pass = tc < check.value;
      break;
    case '<=':
      target = `≤ ${check.value} ${unit}`;
      pass = tc <= check.value;
      break;
    case '>=':
      target = `≥ ${fmt(check.value)} ${unit}`;
      pass = tc >= check.value;
      break;
    case '==':
      target = `= ${check.value}`;
      pass = runs.tablecast.every((x) => x === check.value);
      break;
  }
  const result = pass === null ? '' : rowCtx.noisy ? 'NOISY' : pass ? 'PASS' : 'FAIL';
  rows.push({ id: rowCtx.id, date: STARTED, scenario, metric, unit, tablecast: tc, reference: ref, ratio, target, pass: rowCtx.noisy ? null : pass, result, ...(note ? { note } : {}), runs });
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100_000) return `${(x / 1000).toFixed(0)}k`;
  if (a >= 10_000) return `${(x / 1000).toFixed(1)}k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

// ---------------------------------------------------------------------------------------------
// Scenarios 1–3: autocannon

/** Waits for the shared machine to be quiet before a measured run; says so when it is not. */
async function quiet(label: string): Promise<void> {
  const q = await waitQuiet(15, Date.now() - T0 < RETRY_BUDGET_MS ? 8000 : 2000);
  if (q.busyPct >= 15) log(`  ! ${label}: the machine is busy with other work (${q.busyPct.toFixed(0)}% of a core after ${(q.waitedMs / 1000).toFixed(0)} s); running anyway`);
}

type Measured = LoadResult & { serverCpuPct: number; otherCpuPct: number };

async function load(t: Target, mode: LoadMode, warmup: number): Promise<Measured> {
  await quiet(`${mode} on ${t.kind}`);
  const spec: LoadSpec = { url: url(t), mode, connections: CONNECTIONS, duration: DURATION, warmup, ids: MESSAGES, categories: CATEGORIES, limit: 100 };
  const child = runNodeScript<LoadResult>('bench/lib/load.ts', [JSON.stringify(spec)], LOAD_CORE);
  // CPU over the measured part only: start sampling after tsx start-up and the warm-up.
  await sleep((warmup + 1) * 1000);
  const sampler = cpuSampler([t.proc!.pid, child.pid, process.pid]);
  const r = await child.result;
  const w = sampler.stop();
  return { ...r, serverCpuPct: w.pct[0]!, otherCpuPct: w.otherPct };
}

async function httpScenario(id: string, title: string, mode: LoadMode, rpsTarget: number | undefined, p99Target: number | undefined): Promise<void> {
  const runs = { tablecast: [] as Measured[], reference: [] as Measured[] };
  for (let run = 0; run < RUNS; run++) {
    for (const t of order(run)) {
      const r = await undisturbed(`${id} on ${t.kind}`, () => load(t, mode, run === 0 ? 2 : 1));
      runs[t.kind].push(r);
      log(
        `  [${id}] ${t.kind.padEnd(9)} run ${run + 1}/${RUNS}: ${fmt(r.rps)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non2xx ${r.non2xx}, errors ${r.errors}; server cpu ${r.serverCpuPct.toFixed(0)}%, load cpu ${r.loadCpuPct.toFixed(0)}%, other processes ${r.otherCpuPct.toFixed(0)}%`,
      );
    }
  }
  const pick = (f: (r: Measured) => number) => ({ tablecast: cleanRuns(runs.tablecast).map(f), reference: cleanRuns(runs.reference).map(f) });
  const bad = [...runs.tablecast, ...runs.reference].reduce((n, r) => n + r.non2xx + r.errors, 0);
  const m = (f: (r: Measured) => number) => `${fmt(median(cleanRuns(runs.tablecast).map(f)))}% / ${fmt(median(cleanRuns(runs.reference).map(f)))}%`;
  const note = `${CONNECTIONS} connections, ${DURATION} s; ${cleanCount(runs)}; cpu (tablecast / reference runs): server ${m((r) => r.serverCpuPct)}, load ${m((r) => r.loadCpuPct)}, other processes ${m((r) => r.otherCpuPct)}${bad ? `; ${bad} non-2xx/errors` : ''}`;
  rowCtx = { id, noisy: !anyClean(runs.tablecast) || !anyClean(runs.reference) };
  addRow(title, 'req/s', 'req/s', pick((r) => r.rps), rpsTarget !== undefined ? { kind: 'ratio>=', value: rpsTarget } : { kind: 'none' }, note);
  addRow(title, 'p99 latency', 'ms', pick((r) => r.latency.p99), p99Target !== undefined ? { kind: 'ratio<=', value: p99Target } : { kind: 'none' });
  raw[id] = runs;
}

async function scenarioGet() {
  log('\n1. GET record by id');
  await withServers('get', () => seedBoth('messages'), async () => {
    await httpScenario('get', '1. GET /bench/message/:id', 'get', 0.85, 2);
  });
}

async function scenarioWrite() {
  log('\n2. POST create, PUT replace');
  await withServers('write', () => seedBoth('messages'), async () => {
    await httpScenario('post', '2a. POST /bench/message (create)', 'post', 0.75, undefined);
    await httpScenario('put', '2b. PUT /bench/message/:id (replace)', 'put', 0.75, undefined);
  });
}

async function scenarioFilter() {
  log('\n3. Collection GET, indexed filter over 100k records, limit 100');
  await withServers('filter', () => seedBoth('items'), async () => {
    await httpScenario('filter', '3. GET /bench/item?category=cN&limit(100)', 'filter', undefined, undefined);
  });
}

// ---------------------------------------------------------------------------------------------
// Scenarios 4–7: the SSE client farm

let farm: Farm | undefined;
async function getFarm(): Promise<Farm> {
  farm ??= startFarm(LOAD_CORE);
  return farm;
}

const STREAM_PATH = '/bench/message?stream=sse&retained=false';

interface FanoutRun {
  write: WriteStats;
  farm: FarmReport;
  deliveriesPerSec: number;
  serverCpuPct: number;
  otherCpuPct: number;
}

async function fanoutRun(t: Target, rate: number, seconds: number, tag: string): Promise<FanoutRun> {
  const f = await getFarm();
  await quiet(`fan-out at ${rate}/s on ${t.kind}`);
  const opened = await f.call<{ opened: number; failed: number; errors: string[] }>({ cmd: 'open', port: t.port, path: STREAM_PATH, n: SSE_CLIENTS, concurrency: 100 });
  if (opened.failed) log(`  ! ${opened.failed} streams failed to open on ${t.kind}: ${opened.errors.join('; ')}`);
  await sleep(300);
  const writes = Math.round(rate * seconds);
  await f.call({ cmd: 'arm', writes });
  const sampler = cpuSampler([t.proc!.pid, f.pid, process.pid]);
  const w = await writeAtRate(url(t), rate, seconds, tag);
  // Settle: until every acknowledged write reached every stream, or nothing moved for 1 s.
  let report = await f.call<FarmReport>({ cmd: 'report' });
  const expected = w.ok * (report.streams - report.cut);
  let last = -1;
  let still = 0;
  for (let i = 0; i < 200 && report.received < expected; i++) {
    await sleep(100);
    report = await f.call<FarmReport>({ cmd: 'report' });
    still = report.received === last ? still + 1 : 0;
    last = report.received;
    if (still >= 10) break;
  }
  const cpu = sampler.stop();
  await f.call({ cmd: 'closeAll' });
  const deliveriesPerSec = report.received / ((report.lastAt - w.startedAt) / 1000);
  return { write: w, farm: report, deliveriesPerSec, serverCpuPct: cpu.pct[0]!, otherCpuPct: cpu.otherPct };
}

async function scenarioSse() {
  log(`\n4. SSE fan-out: ${SSE_CLIENTS} streams`);
  await withServers('sse', async () => {}, async () => {
    const capacitySeconds = Math.min(DURATION, 5);
    const plans = [
      { id: 'sse25', title: `4a. SSE ${SSE_CLIENTS} streams, 25 writes/s`, rate: 25, seconds: DURATION },
      { id: 'sse100', title: `4b. SSE ${SSE_CLIENTS} streams, 100 writes/s`, rate: 100, seconds: DURATION },
      { id: 'sseCapacity', title: `4c. SSE ${SSE_CLIENTS} streams, ${CAPACITY_RATE} writes/s offered`, rate: CAPACITY_RATE, seconds: capacitySeconds },
    ];
    const wanted = new Set(flags['sse-plans'].split(',').map((x) => x.trim()));
    for (const plan of plans) {
      if (!wanted.has(plan.id === 'sseCapacity' ? 'capacity' : String(plan.rate))) continue;
      const runs = { tablecast: [] as FanoutRun[], reference: [] as FanoutRun[] };
      for (let run = 0; run < RUNS; run++) {
        for (const t of order(run)) {
          const r = await undisturbed(`${plan.id} on ${t.kind}`, () => fanoutRun(t, plan.rate, plan.seconds, `${plan.id}-${run}-${Date.now()}`));
          runs[t.kind].push(r);
          log(
            `  [${plan.id}] ${t.kind.padEnd(9)} run ${run + 1}/${RUNS}: ${fmt(r.deliveriesPerSec)} deliveries/s, writes ${r.write.ok}/${r.write.sent} at ${fmt(r.write.rate)}/s, missing ${r.farm.missing}, dup ${r.farm.duplicates}, cut ${r.farm.cut}, ${fmt(r.farm.received / Math.max(1, r.farm.reads))} events/read, p50 ${fmt(r.farm.latency.p50)} ms, p99 ${fmt(r.farm.latency.p99)} ms, max ${fmt(r.farm.latency.max)} ms; server cpu ${r.serverCpuPct.toFixed(0)}%, farm cpu ${r.farm.farmCpuPct.toFixed(0)}%, other processes ${r.otherCpuPct.toFixed(0)}%`,
          );
        }
      }
      const pick = (f: (r: FanoutRun) => number) => ({ tablecast: cleanRuns(runs.tablecast).map(f), reference: cleanRuns(runs.reference).map(f) });
      const capacity = plan.id === 'sseCapacity';
      const m = (f: (r: FanoutRun) => number) => `${fmt(median(cleanRuns(runs.tablecast).map(f)))} / ${fmt(median(cleanRuns(runs.reference).map(f)))}`;
      const note = `${cleanCount(runs)}; tablecast / reference: server cpu ${m((r) => r.serverCpuPct)} %, farm cpu ${m((r) => r.farm.farmCpuPct)} %, other processes ${m((r) => r.otherCpuPct)} %; writes acked ${m((r) => r.write.rate)} /s`;
      rowCtx = { id: plan.id, noisy: !anyClean(runs.tablecast) || !anyClean(runs.reference) };
      addRow(plan.title, 'deliveries/s', 'deliveries/s', pick((r) => r.deliveriesPerSec), capacity ? { kind: '>=', value: 500_000 } : { kind: 'none' }, note);
      addRow(plan.title, 'missing events', 'events', pick((r) => r.farm.missing), { kind: '==', value: 0 });
      addRow(plan.title, 'streams cut', 'streams', pick((r) => r.farm.cut), { kind: 'none' });
      addRow(plan.title, 'events per socket read', 'events', pick((r) => r.farm.received / Math.max(1, r.farm.reads)), { kind: 'none' });
      addRow(plan.title, 'p50 write→receive', 'ms', pick((r) => r.farm.latency.p50), { kind: 'none' });
      addRow(plan.title, 'p99 write→receive', 'ms', pick((r) => r.farm.latency.p99), plan.id === 'sse100' ? { kind: '<', value: 30 } : { kind: 'none' });
      raw[plan.id] = runs;
    }
  });
}

async function scenarioMemory() {
  log('\n5. Memory: RSS with 1,000 and 5,000 idle streams');
  const runs = { k1: { tablecast: [] as number[], reference: [] as number[] }, k5: { tablecast: [] as number[], reference: [] as number[] } };
  const detail: unknown[] = [];
  for (let run = 0; run < RUNS; run++) {
    // Fresh servers each run: a heap grown by earlier load would hide the cost of streams.
    await withServers('memory', async () => {}, async () => {
      const f = await getFarm();
      for (const t of order(run)) {
        await quiet(`memory on ${t.kind}`);
        const pid = t.proc!.pid;
        await f.call({ cmd: 'open', port: t.port, path: STREAM_PATH, n: 50, concurrency: 50 });
        await f.call({ cmd: 'closeAll' });
        await sleep(1000);
        const rss0 = rssOf(pid);
        const a = await f.call<{ failed: number }>({ cmd: 'open', port: t.port, path: STREAM_PATH, n: 1000, concurrency: 100 });
        await sleep(2000);
        const rss1 = rssOf(pid);
        const b = await f.call<{ failed: number }>({ cmd: 'open', port: t.port, path: STREAM_PATH, n: 4000, concurrency: 100 });
        await sleep(2000);
        const rss5 = rssOf(pid);
        await f.call({ cmd: 'closeAll' });
        const k1 = (rss1 - rss0) / 1000 / 1000;
        const k5 = (rss5 - rss0) / 5000 / 1000;
        runs.k1[t.kind].push(k1);
        runs.k5[t.kind].push(k5);
        detail.push({ run, kind: t.kind, rss0, rss1, rss5, failed: a.failed + b.failed });
        log(`  [memory] ${t.kind.padEnd(9)} run ${run + 1}/${RUNS}: RSS ${fmt(rss0 / 2 ** 20)} MiB idle → ${fmt(rss1 / 2 ** 20)} MiB (1k streams) → ${fmt(rss5 / 2 ** 20)} MiB (5k); ${fmt(k1)} kB/stream at 1k, ${fmt(k5)} kB/stream at 5k${a.failed + b.failed ? `; ${a.failed + b.failed} failed to open` : ''}`);
      }
    });
  }
  rowCtx = { id: 'memory', noisy: false };
  addRow('5. RSS per idle stream, 1,000 streams', 'kB/stream', 'kB', runs.k1, { kind: '<=', value: 20 }, '(RSS with N streams − RSS before) / N; fresh servers per run');
  addRow('5. RSS per idle stream, 5,000 streams', 'kB/stream', 'kB', runs.k5, { kind: '<=', value: 20 });
  raw.memory = detail;
}

async function scenarioOpen() {
  log('\n6. Stream open cost: 100k records + 50k deleted, retained=false');
  await withServers('open', () => seedBoth('deleted'), async () => {
    const f = await getFarm();
    const path = '/bench/item?stream=sse&retained=false';
    const runs = { p50: { tablecast: [] as number[], reference: [] as number[] }, p99: { tablecast: [] as number[], reference: [] as number[] } };
    for (const t of Object.values(targets)) await f.call({ cmd: 'openCost', port: t.port, path, count: 50 });
    for (let run = 0; run < RUNS; run++) {
      for (const t of order(run)) {
        await quiet(`open on ${t.kind}`);
        const r = await f.call<{ p50: number; p99: number; max: number }>({ cmd: 'openCost', port: t.port, path, count: 300 });
        runs.p50[t.kind].push(r.p50);
        runs.p99[t.kind].push(r.p99);
        log(`  [open] ${t.kind.padEnd(9)} run ${run + 1}/${RUNS}: request → connected frame p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, max ${fmt(r.max)} ms (300 sequential opens)`);
      }
    }
    rowCtx = { id: 'open', noisy: false };
    addRow('6. Stream open (100k + 50k deleted, retained=false)', 'p50 request→first frame', 'ms', runs.p50, { kind: '<', value: 2 }, '300 sequential opens per run on a connected socket');
    addRow('6. Stream open (100k + 50k deleted, retained=false)', 'p99 request→first frame', 'ms', runs.p99, { kind: 'none' });
    raw.open = runs;
  });
}

async function scenarioResume() {
  log(`\n7. Resume: a client ${RESUME_BEHIND} events behind`);
  await withServers('resume', () => seedBoth('resume'), async () => {
    const f = await getFarm();
    const runs = { tablecast: [] as number[], reference: [] as number[] };
    for (let run = 0; run < RUNS; run++) {
      for (const t of order(run)) {
        await quiet(`resume on ${t.kind}`);
        const r = await f.call<{ ms: number; received: number; firstEventMs: number }>({
          cmd: 'resume',
          port: t.port,
          path: '/bench/message?stream=sse',
          lastEventId: t.resumeCursor!,
          expect: RESUME_BEHIND,
          timeoutMs: 30_000,
        });
        runs[t.kind].push(r.received >= RESUME_BEHIND ? r.ms : NaN);
        log(`  [resume] ${t.kind.padEnd(9)} run ${run + 1}/${RUNS}: ${r.received}/${RESUME_BEHIND} events in ${fmt(r.ms)} ms (first after ${fmt(r.firstEventMs)} ms)`);
      }
    }
    rowCtx = { id: 'resume', noisy: false };
    addRow(`7. Resume ${RESUME_BEHIND} events behind (Last-Event-ID)`, 'time to catch up', 'ms', runs, { kind: '<', value: 200 });
    raw.resume = runs;
  });
}

// ---------------------------------------------------------------------------------------------

function machine() {
  const sh = (cmd: string) => {
    try {
      return execSync(cmd, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    date: new Date().toISOString(),
    nproc: Number(sh('nproc')) || cpus().length,
    cpu: sh("lscpu | grep 'Model name' | sed 's/Model name:[[:space:]]*//'"),
    memGiB: Math.round(Number(sh("awk '/MemTotal/ {print $2}' /proc/meminfo")) / 2 ** 20),
    node: process.version,
    pinned: hasTaskset() ? `servers on core ${SERVER_CORE} (taskset -c ${SERVER_CORE}); load, farm and orchestrator on core ${LOAD_CORE}` : 'UNPINNED: taskset not found',
    commit: sh('git rev-parse --short HEAD'),
    dirty: sh('git status --porcelain -- src | wc -l') !== '0',
  };
}

function printTable(): string {
  const head = ['scenario', 'metric', 'tablecast', 'reference', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [r.scenario, r.metric, `${fmt(r.tablecast)}`, `${fmt(r.reference)}`, Number.isFinite(r.ratio) ? r.ratio.toFixed(2) : '—', r.target, r.result]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main() {
  const m = machine();
  const pinnedSelf = pinSelf(LOAD_CORE);
  log(`tablecast bench — ${m.date}; ${m.nproc} cores (${m.cpu}), ${m.memGiB} GiB, node ${m.node}; ${m.pinned}${pinnedSelf ? '' : ' (orchestrator not pinned)'}`);
  log(`scenarios: ${only.join(', ')}; ${RUNS} run(s) per server, ${DURATION} s each; data in ${work}`);
  if (!hasTaskset()) log('WARNING: taskset is missing, so servers and load share both cores: ratios are still comparable, absolute numbers are not.');
  const t0 = Date.now();
  const steps: Record<ScenarioName, () => Promise<void>> = {
    get: scenarioGet,
    write: scenarioWrite,
    filter: scenarioFilter,
    sse: scenarioSse,
    memory: scenarioMemory,
    open: scenarioOpen,
    resume: scenarioResume,
  };
  try {
    for (const s of SCENARIOS) if (only.includes(s)) await steps[s]();
  } finally {
    await farm?.stop();
    await stop(targets.tablecast);
    await stop(targets.reference);
    if (!flags.keep) rmSync(work, { recursive: true, force: true });
  }
  if (flags.merge && existsSync(resolve(ROOT, flags.out))) {
    const old = JSON.parse(readFileSync(resolve(ROOT, flags.out), 'utf8')) as { rows?: Row[] };
    const fresh = new Set(rows.map((r) => r.id));
    const kept = (old.rows ?? []).filter((r) => r.id && !fresh.has(r.id));
    rows.unshift(...kept);
    const rank = (r: Row) => SCENARIO_ORDER.indexOf(r.id);
    rows.sort((a, b) => rank(a) - rank(b));
    log(`merged: kept ${kept.length} row(s) of ${flags.out}, replaced scenarios ${[...fresh].join(', ')}`);
  }
  const table = printTable();
  const minutes = ((Date.now() - t0) / 60_000).toFixed(1);
  process.stdout.write(`\n${table}\n\nmedians of ${RUNS} run(s) per server (of the undisturbed ones: other processes < ${NOISE_LIMIT}% of a core; NOISY = a side had none, not judged); ratio = tablecast / reference; ${minutes} min; ${retried} run(s) repeated because other processes disturbed them${flags.profile ? '; PROFILED (both servers ran with --cpu-prof: absolute numbers are lower)' : ''}\n`);
  for (const r of rows) if (r.note) process.stdout.write(`  ${r.scenario}: ${r.note}\n`);
  writeFileSync(resolve(ROOT, flags.out), `${JSON.stringify({ machine: m, options: { only, duration: DURATION, runs: RUNS, connections: CONNECTIONS, sseClients: SSE_CLIENTS, capacityRate: CAPACITY_RATE, profile: flags.profile }, minutes: Number(minutes), retried, rows, raw }, null, 2)}\n`);
  process.stdout.write(`results written to ${flags.out}\n`);
}

/** Last resort: kill what we started (by PID) and leave. */
function killStarted(): void {
  for (const t of Object.values(targets)) if (t.proc) process.kill(t.proc.pid, 'SIGKILL');
  if (farm) process.kill(farm.pid, 'SIGKILL');
}
const hardStop = setTimeout(() => {
  log('bench: giving up after 30 minutes');
  try {
    killStarted();
  } finally {
    process.exit(2);
  }
}, 30 * 60_000);
hardStop.unref();

main().then(
  () => process.exit(0),
  (err) => {
    log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
