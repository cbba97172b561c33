/**
 * Operations endpoints: `GET /metrics` in Prometheus text format and `GET /admin/connections`
 * (seed 004's admin view: totals, by table and by channel). Values that other modules already count
 * are read at scrape time, so the hot paths pay nothing for metrics but one integer increment.
 * One registry per server (not prom-client's global one), so several servers share a process.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { App } from '../core/app.ts';
import { AppError } from '../errors.ts';
import type { ChannelHub } from '../realtime/channels.ts';
import type { StreamRegistry } from '../realtime/streams.ts';

export interface MetricsOptions {
  app: App;
  streams: StreamRegistry;
  channels: Pick<ChannelHub, 'stats'>;
  /** Who may read /metrics and /admin/*: everyone when auth is off, else roles marked `admin`. */
  isAdmin(request: FastifyRequest): boolean;
}

/**
 * Registers `/metrics` and `/admin/connections`, and the request counters behind them.
 * @example registerMetrics(fastify, { app, streams, channels, isAdmin: () => true })
 */
export function registerMetrics(fastify: FastifyInstance, options: MetricsOptions): void {
  const { app, streams, channels } = options;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tablecast_' });

  const requests = new Counter({ name: 'tablecast_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const duration = new Histogram({
    name: 'tablecast_http_request_duration_seconds',
    help: 'HTTP request duration (streams: until the response head)',
    labelNames: ['method', 'route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  // Label lookups hash their label set on every call; a request pays one Map lookup instead.
  const children = new Map<string, { count: Counter.Internal; time: ReturnType<Histogram['labels']> }>();
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'not_found';
    const id = `${request.method} ${reply.statusCode} ${route}`;
    let child = children.get(id);
    if (!child) {
      child = { count: requests.labels(request.method, route, String(reply.statusCode)), time: duration.labels(request.method, route) };
      children.set(id, child);
    }
    child.count.inc();
    child.time.observe(reply.elapsedTime / 1000);
    done();
  });

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
  const gauge = (name: string, help: string, collect: (g: Gauge) => void, labelNames: string[] = []) =>
    new Gauge({
      name,
      help,
      labelNames,
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
  mirror('tablecast_events_delivered_total', 'Change events handed to live subscribers (SSE and GraphQL)', () => app.hub.delivered);
  gauge('tablecast_streams_open', 'Open SSE streams by table (channels: "channels")', (g) => {
    g.reset();
    for (const [table, n] of Object.entries(streams.stats().byTable)) g.set({ table }, n);
  }, ['table']);
  gauge('tablecast_subscribers', 'Live change subscribers by table (SSE streams and GraphQL subscriptions)', (g) => {
    g.reset();
    for (const service of app.services.values()) g.set({ table: service.handle.id }, app.hub.count(service.handle.id));
  }, ['table']);
  gauge('tablecast_channel_clients', 'Channel clients by channel', (g) => {
    g.reset();
    for (const [channel, n] of Object.entries(channels.stats().channels)) g.set({ channel }, n);
  }, ['channel']);
  gauge('tablecast_stream_queue_frames', 'Frames waiting in all stream queues', (g) => g.set(streams.stats().queued));
  gauge('tablecast_stream_queue_max_frames', 'Frames waiting in the fullest stream queue', (g) => g.set(streams.stats().maxQueued));
  gauge('tablecast_changelog_head', 'Last change sequence number', (g) => g.set(app.store.changeLog.head()));
  gauge('tablecast_changelog_entries', 'Change-log entries retained', (g) => g.set(app.store.changeLog.size()));
  gauge('tablecast_hub_lag', 'Committed changes not yet dispatched to subscribers', (g) => g.set(app.store.changeLog.head() - app.hub.dispatched));

  const guard = (request: FastifyRequest) => {
    if (options.isAdmin(request)) return;
    if (request.principal?.user === null) {
      throw new AppError('UNAUTHORIZED', 'authentication required', { headers: { 'www-authenticate': 'Bearer realm="tablecast"' } });
    }
    throw new AppError('FORBIDDEN', 'only roles with "admin": true may read operations data');
  };

  fastify.get('/metrics', async (request, reply) => {
    guard(request);
    reply.type(registry.contentType);
    return registry.metrics();
  });

  fastify.get('/admin/connections', async (request) => {
    guard(request);
    const s = streams.stats();
    const subscribers: { [table: string]: number } = {};
    for (const service of app.services.values()) {
      const n = app.hub.count(service.handle.id);
      if (n > 0) subscribers[service.handle.id] = n;
    }
    return {
      streams: { open: s.open, byTable: s.byTable, opened: s.opened, cutSlow: s.cutSlow, rejected: s.rejected, framesDropped: s.framesDropped, queued: s.queued },
      subscribers: { total: app.hub.count(), byTable: subscribers },
      channels: channels.stats(),
      changeLog: { head: app.store.changeLog.head(), entries: app.store.changeLog.size(), prunedThrough: app.store.changeLog.prunedThrough(), dispatched: app.hub.dispatched },
    };
  });
}
