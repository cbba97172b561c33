/**
 * Real NATS servers for the cluster tests: Debian's `nats-server` (2.9), started here on loopback
 * ports with JetStream and a temporary store each, joined into one cluster when there are several,
 * and stopped by PID. `.ci/run` installs the package when it is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BINARIES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

/** The nats-server binary, or undefined. */
export const NATS_SERVER = BINARIES.find((b) => spawnSync(b, ['--version'], { stdio: 'ignore' }).status === 0);

/** A free loopback port (closed again at once; the server binds it right after). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface NatsNode {
  name: string;
  port: number;
  url: string;
  proc: ChildProcess | undefined;
  /** Everything it printed (the last 64 KiB). */
  log(): string;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** `nats://127.0.0.1:P,…` for every node: what `--cluster` takes. */
  servers: string[];
  /** Kills one node with SIGKILL and waits for it to be gone. */
  kill(i: number): Promise<void>;
  /** Starts a stopped node again on its ports and its store. */
  restart(i: number): Promise<void>;
  /** Stops every node (SIGKILL), keeping their stores. */
  killAll(): Promise<void>;
  /** Starts every stopped node again. */
  restartAll(): Promise<void>;
  /** Stops everything and removes the stores. */
  close(): Promise<void>;
}

/**
 * Starts `size` JetStream servers forming one cluster (one server: no cluster).
 * @example const nats = await startNats(3); … await nats.close()
 */
export async function startNats(size: number): Promise<NatsCluster> {
  if (!NATS_SERVER) throw new Error('nats-server is not installed (apt-get install -y nats-server; .ci/run does)');
  const dir = mkdtempSync(join(tmpdir(), 'tablecast-nats-'));
  const specs: Array<{ name: string; port: number; routePort: number; monitor: number }> = [];
  for (let i = 0; i < size; i++) specs.push({ name: `n${i + 1}`, port: await freePort(), routePort: await freePort(), monitor: await freePort() });
  const routes = specs.map((s) => `nats://127.0.0.1:${s.routePort}`).join(',');
  const nodes: NatsNode[] = [];

  const launch = (i: number): ChildProcess => {
    const s = specs[i]!;
    const args = ['-a', '127.0.0.1', '-p', String(s.port), '-m', String(s.monitor), '-js', '-sd', join(dir, s.name), '--server_name', s.name];
    if (size > 1) args.push('--cluster_name', 'tablecast-test', '--cluster', `nats://127.0.0.1:${s.routePort}`, '--routes', routes);
    const proc = spawn(NATS_SERVER!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-65536);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const node = nodes[i] ?? { name: s.name, port: s.port, url: `nats://127.0.0.1:${s.port}`, proc, log: () => out };
    node.proc = proc;
    node.log = () => out;
    nodes[i] = node;
    return proc;
  };

  /** Waits until the node's monitor says it is healthy (JetStream up; in a cluster, a meta leader known). */
  const ready = async (i: number, ms = 30_000): Promise<void> => {
    const until = Date.now() + ms;
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${specs[i]!.monitor}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) throw new Error(`nats-server ${specs[i]!.name} not healthy within ${ms} ms:\n${nodes[i]?.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stop = async (i: number): Promise<void> => {
    const proc = nodes[i]?.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGKILL');
    await gone;
    nodes[i]!.proc = undefined;
  };

  for (let i = 0; i < size; i++) launch(i);
  try {
    await Promise.all(specs.map((_, i) => ready(i)));
  } catch (err) {
    await Promise.all(specs.map((_, i) => stop(i)));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const cluster: NatsCluster = {
    nodes,
    servers: nodes.map((n) => n.url),
    kill: stop,
    async restart(i) {
      if (nodes[i]?.proc) return;
      launch(i);
      await ready(i);
    },
    async killAll() {
      await Promise.all(specs.map((_, i) => stop(i)));
    },
    async restartAll() {
      for (let i = 0; i < size; i++) if (!nodes[i]?.proc) launch(i);
      await Promise.all(specs.map((_, i) => ready(i)));
    },
    async close() {
      await Promise.all(specs.map((_, i) => stop(i)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
