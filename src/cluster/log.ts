/**
 * The cluster's one ordered log (SPEC §10): a NATS JetStream stream that holds every write intent of
 * every node in one total order. Its sequence numbers are the cluster's change sequence numbers.
 * This module knows bytes and sequence numbers only; what an entry means is the caller's.
 *
 * - `append` stores an entry and resolves with its sequence once JetStream has it at the stream's
 *   replication factor. Each entry has an id, sent as `Nats-Msg-Id`: JetStream stores an id once
 *   within its duplicate window. So a publish whose acknowledgement was lost is retried with the same
 *   id until the bound (`timeout`), and the retry answers the first one's sequence, never a second
 *   copy. Past the bound it fails with `CLUSTER_UNAVAILABLE` (503). The entry may still have been
 *   stored (its acknowledgement lost with the connection), and then it applies like any other.
 * - `follow` reads the stream in order from a sequence, on every node, through an ordered consumer.
 *   The client library recreates that consumer where it stopped when a server goes away, so a follower
 *   goes on by itself once NATS is back.
 *
 * Everything from `@nats-io/*` stays in this folder (test/unit/layers.test.ts).
 */
import { DeliverPolicy, jetstream, jetstreamManager, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AppError } from '../errors.ts';
import { messageOf } from '../util/guards.ts';

export interface ClusterLogOptions {
  /** NATS servers, `nats://host:port`. */
  servers: readonly string[];
  /** The JetStream stream (created when missing). */
  stream: string;
  /** Copies JetStream keeps of each entry (1, 3 or 5; more than the servers cannot be placed). */
  replicas: number;
  /** Most time an append may take before it fails with CLUSTER_UNAVAILABLE (ms). */
  timeout: number;
  /** NATS credentials, when the servers require them. */
  user?: string;
  pass?: string;
  token?: string;
  /** A name for this connection in the servers' monitoring. */
  name?: string;
}

export interface LogEntry {
  seq: number;
  /** When JetStream stored it (epoch ms). */
  time: number;
  payload: Uint8Array;
  /** Entries after this one in the stream when it was delivered (the follower's lag). */
  pending: number;
}

export interface Follower {
  /** The last sequence handed to the callback (the start's predecessor before any). */
  readonly position: number;
  stop(): Promise<void>;
}

export interface ClusterLog {
  /** Stores an entry; resolves with its sequence (the first one's, for an id seen before). */
  append(payload: Uint8Array | string, id: string): Promise<number>;
  /**
   * Stores entries one right after the other, or fewer: each after the first is stored only if the
   * stream's last entry is then the one before it (JetStream's expected last message id), so an
   * entry of anyone else's that came in between makes every later one refused. Sent at once,
   * without waiting for each acknowledgement; tried once each. Resolves true when all were stored
   * in a row (the first one's sequence on), false when any was refused or not acknowledged: the
   * stream may then hold some of them, followed by something else or nothing.
   */
  appendRun(entries: ReadonlyArray<{ payload: string; id: string }>): Promise<boolean>;
  /**
   * Hands every entry after `after` to `onEntry`, in order, one at a time: the next waits for the
   * promise the callback returns. While NATS is unreachable it waits and tries again. `onError`
   * hears why it stopped for good: a callback that threw, or a gap (the stream no longer holds the
   * entries after its position).
   */
  follow(after: number, onEntry: (entry: LogEntry) => void | Promise<void> | undefined, onError: (err: Error) => void): Follower;
  /** The stream's first and last sequence now (0, 0 when empty). */
  bounds(): Promise<{ first: number; last: number }>;
  /**
   * Plain NATS publish and subscribe beside the log, under the stream's name: for what every node
   * must hear now and nobody needs later (channel events). At most once: a message sent while the
   * connection is down is lost.
   */
  publish(subject: string, data: string): void;
  /**
   * Messages published on `subject` (this node's own included); the returned function unsubscribes.
   * With `queue`, each message goes to one subscriber of that name among all nodes.
   */
  subscribe(subject: string, handler: (data: string) => void, queue?: string): () => void;
  /** Called each time the connection comes back after being lost. */
  onReconnect(listener: () => void): void;
  /** Whether the connection to NATS is up now. */
  readonly connected: boolean;
  close(): Promise<void>;
}

const SUBJECT_SUFFIX = 'intents';
/** How long JetStream remembers an id (ns): several append bounds, so every retry is caught. */
const DUPLICATE_WINDOW_MS = 120_000;
/** One publish attempt's own limit: attempts repeat within the append's bound. */
const ATTEMPT_MS = 2_000;
/** A follower that got nothing for this long while the stream has more makes its consumer again. */
const STALL_MS = 3_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function unavailable(what: string, cause?: unknown): AppError {
  return new AppError('CLUSTER_UNAVAILABLE', `the cluster's log (NATS JetStream) is not reachable: ${what}`, {
    headers: { 'retry-after': '1' },
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** Creates the stream, or checks the one there (a different subject would take other entries). */
async function ensureStream(jsm: JetStreamManager, options: ClusterLogOptions, subject: string): Promise<void> {
  const config: Partial<StreamConfig> & { name: string } = {
    name: options.stream,
    subjects: [subject],
    num_replicas: options.replicas,
    storage: StorageType.File,
    duplicate_window: DUPLICATE_WINDOW_MS * 1_000_000,
  };
  for (;;) {
    try {
      const info = await jsm.streams.info(options.stream);
      if (!info.config.subjects?.includes(subject)) {
        throw new AppError('CONFIG_INVALID', `the JetStream stream ${options.stream} exists with subjects ${JSON.stringify(info.config.subjects)}, not ${subject}: choose another cluster stream name`);
      }
      return;
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (!/not found/i.test(messageOf(err))) throw err;
    }
    try {
      await jsm.streams.add(config);
      return;
    } catch (err) {
      // Another node created it in between: read it again.
      if (!/already in use/i.test(messageOf(err))) throw err;
    }
  }
}

/**
 * Connects to NATS and opens (creating if needed) the stream; rejects with CLUSTER_UNAVAILABLE
 * when no server answers within `timeout`.
 * @example const log = await openClusterLog({ servers: ['nats://127.0.0.1:4222'], stream: 'tablecast', replicas: 1, timeout: 5000 })
 */
export async function openClusterLog(options: ClusterLogOptions): Promise<ClusterLog> {
  const subject = `${options.stream}.${SUBJECT_SUFFIX}`;
  const deadline = Date.now() + options.timeout;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: [...options.servers],
      name: options.name ?? 'tablecast',
      timeout: options.timeout,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...(options.user !== undefined ? { user: options.user } : {}),
      ...(options.pass !== undefined ? { pass: options.pass } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
    });
  } catch (err) {
    throw unavailable(`cannot connect to ${options.servers.join(', ')} (${messageOf(err)})`, err);
  }
  let js: JetStreamClient;
  // Kept for `bounds`: making a manager asks the server for its JetStream info each time.
  let jsm: JetStreamManager;
  try {
    // Until the bound: a cluster that has just started elects its JetStream leader first.
    for (;;) {
      try {
        jsm = await jetstreamManager(nc, { timeout: ATTEMPT_MS });
        await ensureStream(jsm, options, subject);
        js = jetstream(nc, { timeout: ATTEMPT_MS });
        break;
      } catch (err) {
        if (err instanceof AppError || Date.now() + 250 > deadline) throw err;
        await sleep(250);
      }
    }
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err instanceof AppError ? err : unavailable(`cannot open the stream ${options.stream} (${messageOf(err)})`, err);
  }

  let connected = true;
  const reconnected = new Set<() => void>();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false;
      else if (s.type === 'reconnect') {
        connected = true;
        for (const l of reconnected) l();
      }
    }
  })();
  const busSubject = (subject: string) => `${options.stream}.bus.${subject}`;

  const followers = new Set<Follower>();

  return {
    get connected() {
      return connected && !nc.isClosed();
    },
    publish(subject, data) {
      if (nc.isClosed()) return;
      try {
        nc.publish(busSubject(subject), data);
      } catch {
        // At most once: a publish the client refuses (closing, too large) is dropped.
      }
    },
    subscribe(subject, handler, queue) {
      const sub = nc.subscribe(busSubject(subject), {
        ...(queue ? { queue } : {}),
        callback: (err, m) => {
          if (!err) handler(m.string());
        },
      });
      return () => sub.unsubscribe();
    },
    onReconnect(listener) {
      reconnected.add(listener);
    },
    async append(payload, id) {
      const until = Date.now() + options.timeout;
      let last: unknown;
      for (;;) {
        const left = until - Date.now();
        if (left <= 0) throw unavailable(`no acknowledgement within ${options.timeout} ms (${messageOf(last)})`, last);
        try {
          const ack = await js.publish(subject, payload, { msgID: id, timeout: Math.min(ATTEMPT_MS, left), expect: { streamName: options.stream } });
          return ack.seq;
        } catch (err) {
          if (nc.isClosed()) throw unavailable('the connection is closed', err);
          last = err;
          // A timeout, no responders (no leader yet) or a dropped connection: the same id again.
          await sleep(Math.min(100, Math.max(0, until - Date.now())));
        }
      }
    },
    async appendRun(entries) {
      if (nc.isClosed()) throw unavailable('the connection is closed');
      // Published in order on one connection, so JetStream receives them in order; each expects
      // the one before it as the stream's last, whatever sequence that got.
      const acks = entries.map(({ payload, id }, i) =>
        js.publish(subject, payload, { msgID: id, timeout: Math.max(ATTEMPT_MS, options.timeout), expect: { streamName: options.stream, ...(i > 0 ? { lastMsgID: entries[i - 1]!.id } : {}) } }),
      );
      const results = await Promise.allSettled(acks);
      let prev = 0;
      for (const r of results) {
        if (r.status === 'rejected' || r.value.duplicate || (prev > 0 && r.value.seq !== prev + 1)) return false;
        prev = r.value.seq;
      }
      return true;
    },
    follow(after, onEntry, onError) {
      let position = after;
      let stopped = false;
      let current: { close(): Promise<unknown> } | undefined;
      /** Reads until the consumer ends; false once the follower must stop (a gap, a failed callback). */
      const readOnce = async (): Promise<boolean> => {
        const consumer = await js.consumers.get(options.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: position + 1, filter_subjects: subject });
        // `expires` also sets the heartbeat the library watches: a server that went away is
        // noticed within it, and the consumer is made again after the last sequence delivered.
        const messages = await consumer.consume({ expires: ATTEMPT_MS });
        current = messages;
        if (stopped) await messages.close();
        for await (const m of messages) {
          if (stopped) return false;
          // Already handed over (a consumer made again may start a little early): never twice.
          if (m.seq <= position) continue;
          if (m.seq !== position + 1) {
            // Only a jump over entries the stream no longer holds is a gap (entries of other
            // subjects would also skip sequences; there are none today).
            const { first } = await bounds();
            if (first > position + 1) {
              onError(new AppError('CLUSTER_UNAVAILABLE', `the log no longer holds entries ${position + 1}…${first - 1} (it starts at ${first})`));
              return false;
            }
          }
          try {
            await onEntry({ seq: m.seq, time: m.time.getTime(), payload: m.data, pending: m.info.pending });
          } catch (err) {
            onError(err instanceof Error ? err : new Error(messageOf(err)));
            return false;
          }
          position = m.seq;
          lastDelivery = Date.now();
        }
        return !stopped;
      };
      // The library's ordered consumer can stall without ending when the server that held it is
      // killed and making it again fails (seen with nats-server 2.9: 20 s and more with nothing
      // delivered while the stream grew). So: no entry for a while, while the stream holds entries
      // after the position, ends this consumer, and the loop below makes a new one from there.
      let lastDelivery = Date.now();
      const watchdog = setInterval(() => {
        if (stopped || Date.now() - lastDelivery < STALL_MS) return;
        bounds().then(
          ({ last }) => {
            if (!stopped && last > position && Date.now() - lastDelivery >= STALL_MS) {
              lastDelivery = Date.now();
              void current?.close();
            }
          },
          () => undefined, // NATS unreachable: nothing to compare with; the next tick asks again
        );
      }, STALL_MS);
      const done = (async () => {
        while (!stopped) {
          try {
            if (!(await readOnce())) return;
          } catch {
            // NATS unreachable, or the consumer could not be made (no JetStream leader yet): the
            // follower is the cluster's way to catch up, so it tries again rather than give up.
            if (!stopped) await sleep(250);
          }
        }
      })();
      const follower: Follower = {
        get position() {
          return position;
        },
        async stop() {
          stopped = true;
          clearInterval(watchdog);
          await current?.close();
          await done;
          followers.delete(follower);
        },
      };
      followers.add(follower);
      return follower;
    },
    bounds,
    async close() {
      for (const f of [...followers]) await f.stop();
      await nc.close();
    },
  };

  async function bounds(): Promise<{ first: number; last: number }> {
    try {
      const { state } = await jsm.streams.info(options.stream);
      return state.messages === 0 ? { first: 0, last: state.last_seq } : { first: state.first_seq, last: state.last_seq };
    } catch (err) {
      throw unavailable(`cannot read the stream's state (${messageOf(err)})`, err);
    }
  }
}
