/**
 * The SSE client farm: a child process (pinned to the load core) that holds thousands of event
 * streams and counts what arrives: over plain HTTP/1.1 on raw `net` sockets, or over HTTPS with
 * HTTP/2 (node:http2, many streams per connection, at most `perSession` on each). Sockets read into one
 * shared buffer (`onread`), and frames are never parsed as a whole: the farm only looks for
 * `"sentAt":<ms>,"n":<k>` in the bytes of complete frames, so one core can follow ~10^6 frames/s.
 * (Chunked transfer encoding needs no decoding for that: a chunk-size line never sits inside a
 * frame, since servers write whole frames.)
 * A stream's worker (tablecast with --workers > 1 names it in `x-tablecast-worker`) is read from its
 * response head, and latency is also kept per worker: cross-worker delivery against same-worker.
 *
 * Driven over IPC by bench/run.ts (see FarmCommand); each command answers one message.
 */
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { connect, type Socket } from 'node:net';

export type FarmCommand =
  | { cmd: 'open'; port: number; path: string; n: number; concurrency: number; transport?: 'h1' | 'h2'; perSession?: number }
  | { cmd: 'arm'; writes: number }
  | { cmd: 'report' }
  | { cmd: 'split'; worker: string }
  | { cmd: 'closeAll' }
  | { cmd: 'openCost'; port: number; path: string; count: number }
  | { cmd: 'resume'; port: number; path: string; lastEventId: number; expect: number; timeoutMs: number }
  | { cmd: 'cursor'; port: number; path: string }
  | { cmd: 'exit' };

export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Latency of the streams one worker serves (`same`: the writer's) against all other workers' streams. */
export interface WorkerSplit {
  worker: string;
  same: Percentiles & { streams: number };
  other: Percentiles & { streams: number };
  /** Streams whose response named no worker (a single process sends no x-tablecast-worker). */
  unnamed: number;
}

export interface FarmReport {
  streams: number;
  /** Streams the server closed while armed (slow-consumer cuts, errors). */
  cut: number;
  /** Event frames received (all streams). */
  received: number;
  /** Frames of writes outside 0…writes-1 (should be 0). */
  unexpected: number;
  duplicates: number;
  /** writes × streams − distinct (write, stream) pairs received. */
  missing: number;
  /** Socket reads that carried event frames: received / reads tells how well the server batches. */
  reads: number;
  latency: Percentiles;
  /** Epoch ms (performance clock) of the first and last event received. */
  firstAt: number;
  lastAt: number;
  farmCpuPct: number;
}

const now = () => performance.timeOrigin + performance.now();
const SENT = Buffer.from('"sentAt":');
const N_KEY = Buffer.from('"n":');
const FRAME_END = Buffer.from('\n\n');
const CONNECTED = Buffer.from('"connected"');
const HEADERS_END = Buffer.from('\r\n\r\n');
/** The header naming the worker that serves a stream (tablecast with --workers > 1). */
const WORKER_HEADER = /\r\nx-tablecast-worker:[ \t]*([^\r]*)/i;
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** Latency histogram: 10 µs bins up to 10 s, overflow in the last bin. */
const BIN_MS = 0.01;
const BINS = 1_000_000;
interface Hist {
  bins: Uint32Array;
  sum: number;
  count: number;
  max: number;
}
const newHist = (): Hist => ({ bins: new Uint32Array(BINS), sum: 0, count: 0, max: 0 });
/** Every stream's samples, and (beside it) each worker's streams' samples: cross- against same-worker delivery. */
let all = newHist();
let byWorker = new Map<string, Hist>();

function addSample(h: Hist, ms: number): void {
  if (ms >= 0) {
    h.bins[Math.min(BINS - 1, Math.floor(ms / BIN_MS))]!++;
    h.sum += ms;
    if (ms > h.max) h.max = ms;
  } else {
    // Writer and farm are separate processes: their timeOrigins can differ by a fraction of a ms.
    h.bins[0]!++;
  }
  h.count++;
}

interface Conn {
  index: number;
  /** Ends the stream (and its socket over HTTP/1.1); resolves once it is closed. */
  end(): Promise<void>;
  headersDone: boolean;
  connected: boolean;
  tail: Buffer | undefined;
  cut: boolean;
  /** The worker its response named (x-tablecast-worker), if any. */
  worker: string | undefined;
  /** That worker's histogram while armed. */
  hist: Hist | undefined;
}

let conns: Conn[] = [];
let armed = false;
let writes = 0;
let seen: Uint8Array | undefined;
let received = 0;
let reads = 0;
let unexpected = 0;
let cut = 0;
let firstAt = 0;
let lastAt = 0;
let armCpu = process.cpuUsage();
let armWall = 0;

function record(conn: Conn, data: Buffer, at: number): void {
  if (!armed) return;
  let pos = 0;
  let any = false;
  for (;;) {
    const i = data.indexOf(SENT, pos);
    if (i < 0) {
      if (any) reads++;
      return;
    }
    any = true;
    let j = i + SENT.length;
    while (j < data.length && ((data[j]! >= 48 && data[j]! <= 57) || data[j] === 46 || data[j] === 101 || data[j] === 43 || data[j] === 45)) j++;
    const sentAt = Number(data.toString('latin1', i + SENT.length, j));
    let n = -1;
    if (data[j] === 44 && data.indexOf(N_KEY, j) === j + 1) {
      let k = j + 1 + N_KEY.length;
      n = 0;
      while (k < data.length && data[k]! >= 48 && data[k]! <= 57) n = n * 10 + (data[k++]! - 48);
    }
    pos = j;
    received++;
    if (firstAt === 0) firstAt = at;
    lastAt = at;
    const ms = at - sentAt;
    addSample(all, ms);
    if (conn.hist) addSample(conn.hist, ms);
    if (seen) {
      if (n < 0 || n >= writes) unexpected++;
      else {
        const slot = conn.index * writes + n;
        if (slot < seen.length && seen[slot]! < 255) seen[slot]!++;
      }
    }
  }
}

/** Handles bytes of a stream: headers, the connected frame, then complete frames only. */
function onBytes(conn: Conn, chunk: Buffer, onConnected: (ok: boolean, why?: string) => void): void {
  const at = now();
  let data = conn.tail ? Buffer.concat([conn.tail, chunk]) : chunk;
  conn.tail = undefined;
  if (!conn.headersDone) {
    const h = data.indexOf(HEADERS_END);
    if (h < 0) {
      conn.tail = Buffer.from(data);
      return;
    }
    const status = data.toString('latin1', 0, data.indexOf(13));
    if (!/^HTTP\/1\.1 200/.test(status)) {
      onConnected(false, `${status} ${data.toString('latin1', h + 4, Math.min(data.length, h + 300))}`);
      void conn.end();
      return;
    }
    conn.headersDone = true;
    conn.worker = WORKER_HEADER.exec(data.toString('latin1', 0, h + 2))?.[1]?.trim();
    data = data.subarray(h + 4);
  }
  const last = data.lastIndexOf(FRAME_END);
  if (last < 0) {
    if (data.length) conn.tail = Buffer.from(data);
    return;
  }
  const complete = data.subarray(0, last + 2);
  if (last + 2 < data.length) conn.tail = Buffer.from(data.subarray(last + 2));
  if (!conn.connected && complete.indexOf(CONNECTED) >= 0) {
    conn.connected = true;
    onConnected(true);
  }
  record(conn, complete, at);
}

function request(port: number, path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n${extra}\r\n`;
}

/**
 * The settle function of a stream being opened: resolves with `conn` or rejects once, and gives up
 * (calling `abandon`) when no connected frame came within 10 s.
 */
function settleOnce(conn: Conn, resolve: (c: Conn) => void, reject: (e: Error) => void, abandon: () => void): (ok: boolean, why?: string) => void {
  let settled = false;
  const done = (ok: boolean, why?: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (ok) resolve(conn);
    else reject(new Error(why ?? 'failed'));
  };
  const timer = setTimeout(() => {
    done(false, 'no connected frame within 10 s');
    abandon();
  }, 10_000);
  return done;
}

function openOne(port: number, path: string, index: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const conn: Conn = { index, end: () => Promise.resolve(), headersDone: false, connected: false, tail: undefined, cut: false, worker: undefined, hist: undefined };
    const done = settleOnce(conn, resolve, reject, () => socket.destroy());
    const socket = connect({
      host: '127.0.0.1',
      port,
      onread: {
        buffer: READ_BUFFER,
        callback: (nread: number, buf: Uint8Array) => {
          onBytes(conn, (buf as Buffer).subarray(0, nread), done);
          return true;
        },
      },
    });
    conn.end = () =>
      new Promise<void>((r) => {
        if (socket.destroyed) return r();
        socket.once('close', () => r());
        socket.destroy();
      });
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(request(port, path)));
    socket.on('error', (err) => done(false, err.message));
    socket.on('close', () => {
      done(false, 'closed before the connected frame');
      if (conn.connected && !conn.cut) {
        conn.cut = true;
        if (armed) cut++;
      }
    });
  });
}

let sessions: ClientHttp2Session[] = [];

/** An HTTP/2 session to the server (TLS, self-signed accepted), with wide flow-control windows. */
async function openSession(port: number): Promise<ClientHttp2Session> {
  const session = h2connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, settings: { initialWindowSize: 1 << 20 } });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  session.on('error', () => {});
  session.setLocalWindowSize(64 << 20);
  sessions.push(session);
  return session;
}

/** One event stream on an HTTP/2 session. */
function openOneH2(session: ClientHttp2Session, path: string, index: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    // No HTTP/1.1 head to parse: the status arrives as a pseudo-header.
    const conn: Conn = { index, end: () => Promise.resolve(), headersDone: true, connected: false, tail: undefined, cut: false, worker: undefined, hist: undefined };
    const done = settleOnce(conn, resolve, reject, () => stream.close());
    const stream = session.request({ ':path': path, accept: 'text/event-stream' });
    conn.end = () =>
      new Promise<void>((r) => {
        if (stream.closed) return r();
        stream.once('close', () => r());
        stream.close();
      });
    stream.on('response', (h) => {
      if (h[':status'] !== 200) {
        done(false, `HTTP/2 ${h[':status']}`);
        stream.close();
      }
      const worker = h['x-tablecast-worker'];
      if (typeof worker === 'string') conn.worker = worker;
    });
    stream.on('data', (chunk: Buffer) => onBytes(conn, chunk, done));
    stream.on('error', (err) => done(false, err.message));
    stream.on('close', () => {
      done(false, 'closed before the connected frame');
      if (conn.connected && !conn.cut) {
        conn.cut = true;
        if (armed) cut++;
      }
    });
    stream.end();
  });
}

async function open(port: number, path: string, n: number, concurrency: number, transport: 'h1' | 'h2' = 'h1', perSession = 100) {
  const t0 = now();
  const own = transport === 'h2' ? await Promise.all(Array.from({ length: Math.ceil(n / perSession) }, () => openSession(port))) : [];
  let failed = 0;
  const errors: string[] = [];
  let next = 0;
  const base = conns.length;
  const worker = async () => {
    while (next < n) {
      const k = next++;
      const index = base + k;
      try {
        conns[index] = transport === 'h2' ? await openOneH2(own[Math.floor(k / perSession)]!, path, index) : await openOne(port, path, index);
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  conns = conns.filter(Boolean);
  conns.forEach((c, i) => {
    c.index = i;
  });
  return { opened: n - failed, failed, errors, ms: now() - t0, streams: conns.length };
}

/** Percentiles of the samples of `hists` together (the bins added up). */
function percentiles(hists: Hist[]): Percentiles {
  const count = hists.reduce((n, h) => n + h.count, 0);
  const max = Math.max(0, ...hists.map((h) => h.max));
  const at = (q: number) => {
    const target = Math.ceil(q * count);
    let acc = 0;
    for (let i = 0; i < BINS; i++) {
      for (const h of hists) acc += h.bins[i]!;
      if (acc >= target) return (i + 1) * BIN_MS;
    }
    return max;
  };
  return count === 0 ? { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN } : { count, p50: at(0.5), p99: at(0.99), max, mean: hists.reduce((n, h) => n + h.sum, 0) / count };
}

function arm(w: number) {
  armed = true;
  writes = w;
  seen = w > 0 ? new Uint8Array(w * conns.length) : undefined;
  received = reads = unexpected = cut = 0;
  firstAt = lastAt = 0;
  all = newHist();
  // One histogram per worker the streams named (their heads arrived before arming).
  byWorker = new Map();
  for (const c of conns) {
    if (c.worker !== undefined && !byWorker.has(c.worker)) byWorker.set(c.worker, newHist());
    c.hist = c.worker === undefined ? undefined : byWorker.get(c.worker);
  }
  armCpu = process.cpuUsage();
  armWall = now();
  return { armed: true, streams: conns.length };
}

function report(): FarmReport {
  const cpu = process.cpuUsage(armCpu);
  let distinct = 0;
  let duplicates = 0;
  if (seen) {
    for (let i = 0; i < seen.length; i++) {
      const v = seen[i]!;
      if (v > 0) distinct++;
      if (v > 1) duplicates += v - 1;
    }
  }
  return {
    streams: conns.length,
    cut,
    received,
    unexpected,
    duplicates,
    missing: seen ? writes * conns.length - distinct : NaN,
    reads,
    latency: percentiles([all]),
    firstAt,
    lastAt,
    farmCpuPct: ((cpu.user + cpu.system) / 1000 / (now() - armWall)) * 100,
  };
}

/** Latency on `worker`'s streams against the other workers' streams, over the samples since arming. */
function split(worker: string): WorkerSplit {
  const streams = (w: (x: string) => boolean) => conns.filter((c) => c.worker !== undefined && w(c.worker)).length;
  const others = [...byWorker].filter(([w]) => w !== worker).map(([, h]) => h);
  const own = byWorker.get(worker);
  return {
    worker,
    same: { ...percentiles(own ? [own] : []), streams: streams((w) => w === worker) },
    other: { ...percentiles(others), streams: streams((w) => w !== worker) },
    unnamed: conns.filter((c) => c.worker === undefined).length,
  };
}

async function closeAll() {
  armed = false;
  const closing = conns.map((c) => c.end());
  await Promise.all(closing);
  await Promise.all(sessions.map((s) => new Promise<void>((r) => (s.closed ? r() : s.close(() => r())))));
  sessions = [];
  conns = [];
  seen = undefined;
  return { closed: closing.length };
}

/** One stream on its own socket: calls `onData` with each chunk and the receive time. */
function single(port: number, path: string, extra: string, onConnect: () => void, onData: (chunk: Buffer, at: number, socket: Socket) => void): Socket {
  const socket: Socket = connect({
    host: '127.0.0.1',
    port,
    onread: {
      buffer: READ_BUFFER,
      callback: (nread: number, buf: Uint8Array): boolean => {
        onData((buf as Buffer).subarray(0, nread), now(), socket);
        return true;
      },
    },
  });
  socket.setNoDelay(true);
  socket.on('connect', () => {
    onConnect();
    socket.write(request(port, path, extra));
  });
  return socket;
}

/** Sequential opens: time from writing the request to receiving the connected frame. */
async function openCost(port: number, path: string, count: number) {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const ms = await new Promise<number>((resolve, reject) => {
      let t0 = 0;
      let acc = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('no connected frame within 10 s'));
      }, 10_000);
      const socket = single(
        port,
        path,
        '',
        () => (t0 = now()),
        (chunk, at) => {
          acc += chunk.toString('latin1', 0, chunk.length);
          if (acc.includes('"connected"')) {
            clearTimeout(timer);
            socket.destroy();
            resolve(at - t0);
          } else if (acc.includes('\r\n\r\n') && !acc.startsWith('HTTP/1.1 200')) {
            clearTimeout(timer);
            socket.destroy();
            reject(new Error(acc.slice(0, 300)));
          }
        },
      );
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    samples.push(ms);
  }
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.ceil(p * samples.length) - 1)]!;
  return { count, p50: q(0.5), p99: q(0.99), max: samples.at(-1)!, mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

/** The change-log head a fresh stream reports in its connected frame (`id:`). */
async function cursor(port: number, path: string) {
  return new Promise<{ cursor: number }>((resolve, reject) => {
    let acc = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no connected frame within 10 s'));
    }, 10_000);
    const socket = single(
      port,
      path,
      '',
      () => {},
      (chunk) => {
        acc += chunk.toString('latin1', 0, chunk.length);
        const m = /id: (\d+)\ndata: \{"type":"connected"/.exec(acc);
        if (m) {
          clearTimeout(timer);
          socket.destroy();
          resolve({ cursor: Number(m[1]) });
        }
      },
    );
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** A client `expect` events behind: time from the request to its last missed event. */
async function resume(port: number, path: string, lastEventId: number, expect: number, timeoutMs: number) {
  return new Promise<{ ms: number; received: number; firstEventMs: number }>((resolve) => {
    let t0 = 0;
    let got = 0;
    let firstEventMs = NaN;
    let tail = Buffer.alloc(0);
    const finish = (ms: number) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ms, received: got, firstEventMs });
    };
    const timer = setTimeout(() => finish(NaN), timeoutMs);
    const socket = single(
      port,
      path,
      `Last-Event-ID: ${lastEventId}\r\n`,
      () => (t0 = now()),
      (chunk, at) => {
        const data = tail.length ? Buffer.concat([tail, chunk]) : chunk;
        const last = data.lastIndexOf(FRAME_END);
        const complete = last < 0 ? data.subarray(0, 0) : data.subarray(0, last + 2);
        tail = Buffer.from(last < 0 ? data : data.subarray(last + 2));
        let pos = 0;
        for (;;) {
          const i = complete.indexOf(SENT, pos);
          if (i < 0) break;
          got++;
          if (got === 1) firstEventMs = at - t0;
          pos = i + SENT.length;
        }
        if (got >= expect) finish(at - t0);
      },
    );
    socket.on('error', () => finish(NaN));
  });
}

async function handle(msg: FarmCommand): Promise<unknown> {
  switch (msg.cmd) {
    case 'open':
      return open(msg.port, msg.path, msg.n, msg.concurrency, msg.transport, msg.perSession);
    case 'arm':
      return arm(msg.writes);
    case 'report':
      return report();
    case 'split':
      return split(msg.worker);
    case 'closeAll':
      return closeAll();
    case 'openCost':
      return openCost(msg.port, msg.path, msg.count);
    case 'cursor':
      return cursor(msg.port, msg.path);
    case 'resume':
      return resume(msg.port, msg.path, msg.lastEventId, msg.expect, msg.timeoutMs);
    case 'exit':
      await closeAll();
      setImmediate(() => process.exit(0));
      return { bye: true };
  }
}

process.on('message', (raw) => {
  const { id, msg } = raw as { id: number; msg: FarmCommand };
  handle(msg).then(
    (result) => process.send!({ id, result }),
    (err: unknown) => process.send!({ id, error: err instanceof Error ? err.message : String(err) }),
  );
});
// Never outlive the orchestrator.
process.on('disconnect', () => process.exit(0));
