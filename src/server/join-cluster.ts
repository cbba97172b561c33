/**
 * Makes this server a cluster node (`cluster` in the config, SPEC §10): opens the cluster's log
 * (NATS JetStream), starts applying it to the app's store through the app's table services, and
 * gives the channel hub the other nodes (`peers`) over the same NATS connection.
 */
import type { App } from '../core/app.ts';
import type { ClusterConfig } from '../config.ts';
import { openClusterLog } from '../cluster/log.ts';
import { createClusterNode, type ClusterNode, type NodeHandlers } from '../cluster/node.ts';
import { nodePeers } from '../cluster/peers.ts';
import type { Peers } from '../peers/peers.ts';

/** How long a write waits for its own node to apply it once the log has it, at most (ms). */
const APPLY_TIMEOUT_MS = 30_000;

export async function joinCluster(config: ClusterConfig, app: App, handlers: NodeHandlers, onError: (err: unknown, context: string) => void): Promise<{ node: ClusterNode; peers: Peers }> {
  const log = await openClusterLog({
    servers: config.servers,
    stream: config.stream,
    replicas: config.replicas ?? (config.servers.length >= 3 ? 3 : 1),
    timeout: config.timeout,
    ...(config.user !== undefined ? { user: config.user } : {}),
    ...(config.pass !== undefined ? { pass: config.pass } : {}),
    ...(config.token !== undefined ? { token: config.token } : {}),
  });
  let node: ClusterNode;
  try {
    node = createClusterNode({ log, store: app.store, applyTimeout: Math.max(APPLY_TIMEOUT_MS, config.timeout), onError });
  } catch (err) {
    await log.close();
    throw err;
  }
  node.start(app.services, handlers);
  // The other nodes, for the channel hub: channel events and clients of every node.
  const peers = nodePeers(log);
  return {
    node: {
      ...node,
      async close() {
        peers.close();
        await node.close();
      },
    },
    peers,
  };
}
