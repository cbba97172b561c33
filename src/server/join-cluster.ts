/**
 * Makes this server a cluster node (`cluster` in the config, SPEC §10), in two steps around the
 * app: `openNode` connects to the cluster's log (NATS JetStream) and gives the other nodes as
 * `peers` (for channels, the login rate and revocations), before the app and the authenticator
 * exist; `startNode` then applies the log to the app's store through the app's table services.
 */
import type { App } from '../core/app.ts';
import type { ClusterConfig } from '../config.ts';
import { openClusterLog, type ClusterLog } from '../cluster/log.ts';
import { createClusterNode, type ClusterNode, type NodeHandlers } from '../cluster/node.ts';
import { nodePeers, type NodePeers } from '../cluster/peers.ts';
import { answerSnapshots, fetchSnapshot } from '../cluster/bootstrap.ts';
import { AppError } from '../errors.ts';

/** How long a write waits for its own node to apply it once the log has it, at most (ms). */
const APPLY_TIMEOUT_MS = 30_000;
/** How long a joining node waits for the next part of a snapshot (ms). */
const SNAPSHOT_SILENCE_MS = 10_000;

export interface OpenNode {
  log: ClusterLog;
  peers: NodePeers;
  /** The cluster's timeout (ms): how long a bulk create goes on trying (cluster/runs.ts). */
  timeout: number;
  /** Closes both, for a start that fails before `startNode`. */
  close(): Promise<void>;
}

export async function openNode(config: ClusterConfig): Promise<OpenNode> {
  const log = await openClusterLog({
    servers: config.servers,
    stream: config.stream,
    replicas: config.replicas ?? (config.servers.length >= 3 ? 3 : 1),
    timeout: config.timeout,
    ...(config.user !== undefined ? { user: config.user } : {}),
    ...(config.pass !== undefined ? { pass: config.pass } : {}),
    ...(config.token !== undefined ? { token: config.token } : {}),
  });
  const peers = nodePeers(log);
  return {
    log,
    peers,
    timeout: config.timeout,
    async close() {
      peers.close();
      await log.close();
    },
  };
}

/**
 * Starts applying the log; the node's `close` also closes the peers and the log. An empty store
 * whose log no longer starts at its first entry is first filled from another node's snapshot.
 */
export async function startNode(opened: OpenNode, app: App, handlers: NodeHandlers, onError: (err: unknown, context: string) => void): Promise<ClusterNode> {
  const { store } = app;
  if (store.logPosition() === 0 && store.changeLog.head() === 0) {
    const { first, last } = await opened.log.bounds();
    if (last > 0 && first !== 1) {
      const position = await fetchSnapshot(opened.log, store, { silenceMs: SNAPSHOT_SILENCE_MS, attempts: 5, onError });
      // The log must hold what follows the snapshot.
      if (first > position + 1) throw new AppError('CLUSTER_UNAVAILABLE', `the snapshot reflects entry ${position}, but the log starts at ${first}: the node that sent it is behind`);
    }
  }
  const node = createClusterNode({ log: opened.log, store, applyTimeout: APPLY_TIMEOUT_MS, runTimeout: opened.timeout, onError });
  node.start(app.services, handlers);
  const stopAnswering = answerSnapshots(opened.log, store, onError);
  return {
    ...node,
    async close() {
      stopAnswering();
      opened.peers.close();
      await node.close();
    },
  };
}
