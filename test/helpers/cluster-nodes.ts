/**
 * Tablecast nodes on a real three-server NATS cluster, for the tests of one `describe` block: the
 * NATS servers start before its first test and stop after its last, with any nodes still running.
 * Each `start` puts its nodes on a fresh stream, so change ids start at 1 in every test.
 */
import { after, before } from 'node:test';
import type { ServerOptions } from '../../src/server.ts';
import { startNats, type NatsCluster } from './nats.ts';
import { startServer, type TestServer } from './server.ts';

export interface ClusterNodes {
  /** The NATS servers (to kill and restart them). */
  readonly nats: NatsCluster;
  /**
   * `n` nodes on a fresh stream, each listing the servers from another one, as separate machines
   * would; `timeout` is the cluster's bound, `extra` more server options.
   */
  start(n: number, timeout?: number, extra?: Partial<ServerOptions>): Promise<TestServer[]>;
  /** A fresh stream's name, for nodes a test starts its own way. */
  nextStream(): string;
  /** The stream of the last `start` or `nextStream`. */
  readonly stream: string;
  /** Stops the nodes of the last `start`. */
  stop(): Promise<void>;
}

/**
 * Registers the NATS servers' start and stop on the enclosing `describe` block.
 * @example const cluster = clusterNodes(schemas, 'bulk'); test('…', async () => { const [a, b] = await cluster.start(2) })
 */
export function clusterNodes(schemas: string, prefix: string): ClusterNodes {
  let nats: NatsCluster | undefined;
  let nodes: TestServer[] = [];
  let stream = 0;
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.close()));
    nodes = [];
  };
  before(async () => {
    nats = await startNats(3);
  });
  after(async () => {
    await stop();
    await nats?.close();
  });
  const nextStream = () => `${prefix}${++stream}`;
  const current = () => `${prefix}${stream}`;
  return {
    get nats() {
      if (!nats) throw new Error('the NATS servers start before the first test');
      return nats;
    },
    async start(n, timeout = 10_000, extra = {}) {
      const name = nextStream();
      const servers = this.nats.servers;
      nodes = [];
      for (let i = 0; i < n; i++) {
        const listed = [...servers.slice(i % servers.length), ...servers.slice(0, i % servers.length)];
        nodes.push(await startServer({ schemas, cluster: { servers: listed, stream: name, replicas: 3, timeout }, ...extra }));
      }
      return nodes;
    },
    nextStream,
    get stream() {
      return current();
    },
    stop,
  };
}

/** Polls `read` until `ok` holds or `ms` pass (other nodes apply within the apply lag); the last value. */
export async function settled<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
