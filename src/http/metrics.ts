/**
 * Operations endpoints: `GET /metrics` in Prometheus text format and `GET /admin/connections`
 * (the admin view: totals, by table and by channel). Values that other modules already count
 * are read at scrape time, so the hot paths pay nothing for metrics but one integer increment.
 * One registry per server (not prom-client's global one), so several servers share a process.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ResponseHead } from './response-timing.ts';
import type { ConnectionGuard } from './connections.ts';
import type { Gauge, MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import type { Peers } from '../peers/peers.ts';
import { mergeReports } from './ops-merge.ts';
import type { App } from '../core/app.ts';
import { AppError } from '../errors.ts';
import type { ChannelHub } from '../realtime/channels.ts';
import type { StreamRegistry } from '../realtime/streams.ts';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

interface RequestTally {
  method: string;
  route: string;
  status: number;
  count: number;
  /** Seconds, summed. */
  sum: number;
  /** Requests per bucket (not cumulative; cumulated when rendered). */
  buckets: number[];
}

const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Prometheus text for the request counter and duration histogram (by method and route). */
function renderRequestMetrics(tallies: Iterable<RequestTally>): string {
  const lines = ['# HELP tablecast_http_requests_total HTTP requests by route and status', '# TYPE tablecast_http_requests_total counter'];
  const byRoute = new Map<string, { method: string; route: string; count: number; sum: number; buckets: number[] }>();
  for (const t of tallies) {
    lines.push(`tablecast_http_requests_total{method="${label(t.method)}",route="${label(t.route)}",status="${t.status}"} ${t.count}`);
    const key = `${t.method} ${t.route}`;
    let r = byRoute.get(key);
    if (!r) byRoute.set(key, (r = { method: t.method, route: t.route, count: 0, sum: 0, buckets: new Array(BUCKETS.length).fill(0) }));
    r.count += t.count;
    r.sum += t.sum;
    t.buckets.forEach((n, i) => {
      r!.buckets[i]! += n;
    });
  }
  lines.push('# HELP tablecast_http_request_duration_seconds HTTP request duration (streams: until the response head)');
  lines.push('# TYPE tablecast_http_request_duration_seconds histogram');
  for (const r of byRoute.values()) {
    const labels = `method="${label(r.method)}",route="${label(r.route)}"`;
    let cumulative = 0;
    BUCKETS.forEach((le, i) => {
      cumulative += r.buckets[i]!;
      lines.push(`tablecast_http_request_duration_seconds_bucket{le="${le}",${labels}} ${cumulative}`);
    });
    lines.push(`tablecast_http_request_duration_seconds_bucket{le="+Inf",${labels}} ${r.count}`);
    lines.push(`tablecast_http_request_duration_seconds_sum{${labels}} ${r.sum}`);
    lines.push(`tablecast_http_request_duration_seconds_count{${labels}} ${r.count}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The request counters: filled as each response finishes, rendered by `/metrics`. */
export interface RequestTallies {
  /** Counts a response head (reported by the server's response classes, see response-timing.ts). */
  count(head: ResponseHead): void;
  render(): string;
  /** The tallies as data (to add up those of several workers). */
  list(): RequestTally[];
}

/** Prometheus text for the tallies of several workers, added up. */
function renderTallies(lists: readonly RequestTally[][]): string {
  const sum = new Map<string, RequestTally>();
  for (const list of lists) {
    for (const t of list) {
      const key = `${t.method} ${t.status} ${t.route}`;
      const into = sum.get(key);
      if (!into) {
        sum.set(key, { ...t, buckets: [...t.buckets] });
        continue;
      }
      into.count += t.count;
      into.sum += t.sum;
      t.buckets.forEach((n, i) => {
        into.buckets[i]! += n;
      });
    }
  }
  return renderRequestMetrics(sum.values());
}

/** The methods routes answer; any other (HTTP/2 lets a client invent them) is counted as `OTHER`. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'];
const OTHER = METHODS.length - 1;

/**
 * Counts requests by method, route and status, and their durations, as plain numbers rendered at
 * scrape time: prom-client's label hashing and histogram code would be paid on every request for
 * a page read every few seconds. Every label has a bounded set of values: methods outside the
 * routed seven fold into `OTHER`, routes are declared patterns or `not_found`, statuses are ours.
 */
export function createRequestTallies(): RequestTallies {
  const tallies = new Map<string, RequestTally>();
  // Per route pattern, by method index and status: a number key, no string built per request.
  const byRoute = new Map<string, Map<number, RequestTally>>();
  return {
    count({ method, route, status, seconds }) {
      let m = METHODS.indexOf(method);
      if (m < 0) m = OTHER;
      let mine = byRoute.get(route);
      if (!mine) byRoute.set(route, (mine = new Map()));
      let tally = mine.get(status * 8 + m);
      if (!tally) {
        const name = METHODS[m]!;
        tally = { method: name, route, status, count: 0, sum: 0, buckets: new Array(BUCKETS.length).fill(0) };
        tallies.set(`${name} ${status} ${route}`, tally);
        mine.set(status * 8 + m, tally);
      }
      tally.count++;
      tally.sum += seconds;
      for (let i = 0; i < BUCKETS.length; i++) {
        if (seconds <= BUCKETS[i]!) {
          tally.buckets[i]!++;
          break;
        }
      }
    },
    render: () => renderRequestMetrics(tallies.values()),
    list: () => [...tallies.values()],
  };
}

export interface MetricsOptions {
  app: App;
  tallies: RequestTallies;
  streams: StreamRegistry;
  channels: Pick<ChannelHub, 'stats'>;
  connections: ConnectionGuard;
  /** Who may read /metrics and /admin/*: everyone when auth is off, else roles marked `admin`. */
  isAdmin(request: FastifyRequest): boolean;
  /** The server's other workers: both pages then report the whole server (each worker answers for itself). */
  peers?: Peers;
}

/**
 * Registers `/metrics` and `/admin/connections`.
 * @example registerMetrics(fastify, { app, tallies, streams, channels, isAdmin: () => true })
 */
export function registerMetrics(fastify: FastifyInstance, options: MetricsOptions): void {
  const { app, streams, channels, tallies, connections } = options;
  const guard = (request: FastifyRequest) => {
    if (options.isAdmin(request)) return;
    if (request.principal?.user === null) {
      throw new AppError('UNAUTHORIZED', 'authentication required', { headers: { 'www-authenticate': 'Bearer realm="tablecast"' } });
    }
    throw new AppError('FORBIDDEN', 'only roles with "admin": true may read operations data');
  };
  // prom-client is loaded by the first scrape, not at start (~25 ms of start-up, for a page many
  // servers never serve); the process and GC metrics it collects begin with that scrape.
  let registry: Promise<Registry> | undefined;
  const ready = () => (registry ??= import('prom-client').then((client) => buildRegistry(client, options)));
  const peers = options.peers?.clustered ? options.peers : undefined;
  if (peers) {
    peers.answer('metrics', async () => ({ tallies: tallies.list(), registry: await (await ready()).getMetricsAsJSON() }));
    peers.answer('admin', () => ({ report: report(), worker: peers.self, background: peers.background }));
  }
  fastify.get('/metrics', async (request, reply) => {
    guard(request);
    const local = await ready();
    reply.type(local.contentType);
    if (!peers) return tallies.render() + (await local.metrics());
    // Every worker's numbers, added up as prom-client's cluster aggregation does (each metric by its
    // `aggregator`: counters summed, the change log's head the highest).
    const answers = (await peers.gather('metrics')) as Array<{ tallies: RequestTally[]; registry: MetricObjectWithValues<MetricValue<string>>[] }>;
    const { AggregatorRegistry } = await import('prom-client');
    const merged = AggregatorRegistry.aggregate(answers.map((a) => a.registry));
    return `${renderTallies(answers.map((a) => a.tallies))}# HELP tablecast_workers Worker processes that answered this scrape\n# TYPE tablecast_workers gauge\ntablecast_workers ${answers.length}\n${await merged.metrics()}`;
  });

  const report = () => {
    const s = streams.stats();
    const feed = app.feed();
    const subscribers: { [table: string]: number } = {};
    for (const service of app.services.values()) {
      const n = feed.subscribers(service.handle.id);
      if (n > 0) subscribers[urlName(app, service.handle.id)] = n;
    }
    return {
      streams: {
        open: s.open,
        byTable: byUrlName(app, s.byTable),
        byTransport: s.byTransport,
        opened: s.opened,
        cutSlow: s.cutSlow,
        expired: s.expired,
        rejected: s.rejected,
        framesDropped: s.framesDropped,
        queued: s.queued,
      },
      subscribers: { total: feed.subscribers(), byTable: subscribers },
      channels: channels.stats(),
      connections: connections.stats(),
      changeLog: { head: feed.head, entries: feed.entries, prunedThrough: feed.prunedThrough, dispatched: feed.dispatched },
    };
  };
  fastify.get('/admin/connections', async (request) => {
    guard(request);
    if (!peers) return report();
    // `byWorker`: what each holds (an operator sees connections spread over them) and which one
    // runs the background jobs (expiry sweeps, log pruning: exactly one does).
    const answers = (await peers.gather('admin')) as Array<WorkerReport | null>;
    const reports = answers.filter((a): a is WorkerReport => a !== null);
    return {
      ...mergeReports(reports.map((a) => a.report)),
      byWorker: reports.map((a) => ({ worker: a.worker, background: a.background, streams: a.report.streams.open, connections: a.report.connections.open })),
    };
  });
}

/** One worker's answer to `/admin/connections`. */
interface WorkerReport {
  report: { streams: { open: number }; connections: { open: number } };
  worker: number;
  background: boolean;
}

/** Tables are labelled by their URL name (`db/export`), as users and dashboards know them. */
function urlName(app: App, id: string): string {
  const def = app.services.get(id)?.def;
  return def?.export ? `${def.database}/${def.export.name}` : id;
}

function byUrlName(app: App, counts: { [id: string]: number }): { [table: string]: number } {
  const out: { [table: string]: number } = {};
  for (const [id, n] of Object.entries(counts)) out[urlName(app, id)] = (out[urlName(app, id)] ?? 0) + n;
  return out;
}

/** prom-client's registry: default process metrics, and collectors reading tablecast's own counters at scrape time. */
function buildRegistry(client: typeof import('prom-client'), options: MetricsOptions): Registry {
  const { app, streams, channels, connections } = options;
  const { Counter, Gauge, Registry, collectDefaultMetrics } = client;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tablecast_' });

  /** A counter mirroring a monotonic value counted elsewhere. */
  const mirror = (name: string, help: string, read: () => number) => {
    let last = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const value = read();
        if (value > last) this.inc(value - last);
        last = value;
      },
    });
  };
  // `aggregator`: how /metrics adds up the workers' values (peers/): counts are summed, but every
  // worker reads the same change log, so its figures are taken at their highest.
  const gauge = (name: string, help: string, collect: (g: Gauge) => void, labelNames: string[] = [], aggregator: 'sum' | 'max' = 'sum') =>
    new Gauge({
      name,
      help,
      labelNames,
      aggregator,
      registers: [registry],
      collect() {
        collect(this);
      },
    });

  mirror('tablecast_streams_opened_total', 'SSE streams opened', () => streams.stats().opened);
  mirror('tablecast_streams_cut_slow_total', 'SSE streams cut because their client did not keep up', () => streams.stats().cutSlow);
  mirror('tablecast_streams_rejected_total', 'SSE streams refused by a limit (429)', () => streams.stats().rejected);
  mirror('tablecast_frames_dropped_total', 'Frames still queued on streams when they ended', () => streams.stats().framesDropped);
  mirror('tablecast_pings_total', 'Heartbeat frames sent', () => streams.stats().pings);
  mirror('tablecast_events_delivered_total', 'Change events handed to live subscribers (SSE and GraphQL)', () => app.feed().delivered);
  gauge(
    'tablecast_streams_open',
    'Open SSE streams by table (channels: "channels")',
    (g) => {
      g.reset();
      for (const [table, n] of Object.entries(byUrlName(app, streams.stats().byTable))) g.set({ table }, n);
    },
    ['table'],
  );
  gauge(
    'tablecast_subscribers',
    'Live change subscribers by table (SSE streams and GraphQL subscriptions)',
    (g) => {
      g.reset();
      const feed = app.feed();
      for (const service of app.services.values()) g.set({ table: urlName(app, service.handle.id) }, feed.subscribers(service.handle.id));
    },
    ['table'],
  );
  gauge(
    'tablecast_channel_clients',
    'Channel clients by channel',
    (g) => {
      g.reset();
      for (const [channel, n] of Object.entries(channels.stats().channels)) g.set({ channel }, n);
    },
    ['channel'],
  );
  gauge('tablecast_connections_open', 'Open client connections (TCP), every protocol', (g) => g.set(connections.stats().open));
  mirror('tablecast_connections_refused_total', 'Connections closed on accept: over maxConnectionsPerAddress or maxConnections', () => {
    const { refused } = connections.stats();
    return refused.address + refused.total;
  });
  mirror('tablecast_connections_idle_closed_total', 'Connections and HTTP/2 sessions closed for sending no request within headersTimeout', () => connections.stats().idleClosed);
  gauge('tablecast_stream_queue_frames', 'Frames waiting in all stream queues', (g) => g.set(streams.stats().queued));
  gauge('tablecast_stream_queue_max_frames', 'Frames waiting in the fullest stream queue', (g) => g.set(streams.stats().maxQueued), [], 'max');
  gauge('tablecast_changelog_head', 'Last change sequence number', (g) => g.set(app.feed().head), [], 'max');
  gauge('tablecast_changelog_entries', 'Change-log entries retained', (g) => g.set(app.feed().entries), [], 'max');
  gauge(
    'tablecast_hub_lag',
    'Committed changes not yet dispatched to subscribers (the worker furthest behind)',
    (g) => {
      const feed = app.feed();
      g.set(feed.head - feed.dispatched);
    },
    [],
    'max',
  );
  if (app.cluster()) {
    const cluster = () => app.cluster()!;
    gauge('tablecast_cluster_connected', 'Whether this node is connected to the cluster log (NATS): 1 or 0', (g) => g.set(cluster().connected ? 1 : 0), [], 'max');
    gauge('tablecast_cluster_applied_sequence', 'Last entry of the cluster log applied on this node', (g) => g.set(cluster().applied), [], 'max');
    gauge('tablecast_cluster_apply_lag_entries', 'Entries of the cluster log waiting to be applied on this node', (g) => g.set(cluster().lagEntries), [], 'max');
    gauge('tablecast_cluster_apply_lag_seconds', 'Age of the last applied entry while entries wait (0 when caught up)', (g) => g.set(cluster().lagMs / 1000), [], 'max');
  }
  return registry;
}
