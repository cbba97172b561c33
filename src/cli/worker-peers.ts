/**
 * A worker process's `Peers`: peers/link.ts over the IPC channel `cluster.fork` opened to the
 * supervisor (which routes what crosses it through peers/switchboard.ts).
 */
import { linkPeers } from '../peers/link.ts';
import type { Peers } from '../peers/peers.ts';

export function connectWorkerPeers(): Promise<Peers> {
  return linkPeers({
    send(m) {
      // After the supervisor has gone (the channel closed) there is nobody to tell; the worker is stopping.
      if (process.connected) process.send!(m);
    },
    onMessage(listener) {
      process.on('message', listener);
    },
  });
}
