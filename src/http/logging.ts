/**
 * Logging: the server's pino logger, created here rather than by fastify, the per-request loggers
 * fastify hands out as `request.log`, and the one access line each request writes.
 *
 * fastify gets no logger of its own (`logger: false`): with one, it adds and removes two listeners
 * on every response to time it, about 13% of a small GET's throughput (bench scenario 1). Request
 * timing is done by the response classes of response-timing.ts instead, and `request.log` is set
 * by our log controller, which fastify calls for every request with or without a logger.
 * What is lost: the few lines fastify writes through its own server-level logger (it writes none
 * that tablecast relies on; `server.log` and `request.log` are ours).
 *
 * What a request costs at `info` (server CPU per request, GET and POST of bench/run.ts): fastify's
 * two lines (incoming, completed), through a per-request child logger, serializers and redaction,
 * each written to stdout by its own write(2), made a GET cost ~1.5x what it costs at `warn`. Now a
 * request writes one access line when its response head goes out, built directly (`accessLine`),
 * and access lines reach stdout together, every 10 ms (`LogSink`): ~1 µs a request.
 *
 * Request loggers cost nothing until something is logged: pino serialises a child's bindings on
 * every `child()`, so the child (with its `reqId`) is built on the first call at an enabled level.
 */
import { pino, stdSerializers, symbols, type ChildLoggerOptions, type Logger } from 'pino';
import { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { accessLine, type AccessFields } from './access-line.ts';
import { LogSink } from './log-sink.ts';
import { attachRequest, type ResponseHead } from './response-timing.ts';

type Bindings = { [key: string]: unknown };
type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type PinoLike = FastifyBaseLogger & { isLevelEnabled?(level: string): boolean; bindings?(): Bindings };

class LazyRequestLogger implements FastifyBaseLogger {
  #child: PinoLike | undefined;
  readonly #parent: PinoLike;
  readonly #bindings: Bindings;

  constructor(parent: PinoLike, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  get level(): string {
    return this.#child?.level ?? this.#parent.level;
  }
  set level(level: string) {
    this.#real().level = level;
  }

  #real(): PinoLike {
    return (this.#child ??= this.#parent.child(this.#bindings));
  }
  #log(level: LevelName, args: unknown[]): void {
    if (this.#child === undefined && this.#parent.isLevelEnabled?.(level) === false) return;
    // pino's LogFn is a set of overloads, none of which takes a spread of unknown arguments.
    (this.#real()[level] as (...a: unknown[]) => void)(...args);
  }

  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }
  isLevelEnabled(level: string): boolean {
    return (this.#child ?? this.#parent).isLevelEnabled?.(level) ?? true;
  }
  bindings(): Bindings {
    return { ...this.#parent.bindings?.(), ...this.#bindings };
  }
}

export interface LoggerOptions {
  level: string;
  /** Where lines go (default stdout); tests capture them. */
  stream?: NodeJS.WritableStream;
  /** Takes secrets (an `access_token` parameter, however its name is encoded) out of a URL or a message quoting one. */
  redactUrl(url: string): string;
  /** Other processes write to the same stdout (`--workers`): see LogSink. */
  sharedOutput?: boolean;
}

/**
 * The server's logger: JSON lines, credentials redacted, request and response serialised as
 * fastify did (method, url, host, remote address; status code). Its stream is a {@link LogSink}.
 */
export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string; hostname?: string; ip?: string; socket?: { remotePort?: number } }) => ({
        method: req.method,
        // `?access_token=` must never reach a log line.
        url: options.redactUrl(req.url),
        host: req.hostname,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      // Error messages may quote a URL (fastify's own errors quote the whole request URL).
      err: (err: Error) => {
        const out = stdSerializers.err(err);
        out.message = options.redactUrl(out.message);
        if (out.stack) out.stack = options.redactUrl(out.stack);
        return out;
      },
    },
  };
  // Stdout (fd 1: only the CLI names `process`) through pino's synchronous destination, as pino's
  // default; a given stream (tests, embedders) gets each line as its own write, as from pino.
  const sink = options.stream ? new LogSink(options.stream, false) : new LogSink(pino.destination({ dest: 1, sync: true }), true, options.sharedOutput === true);
  return pino(settings, sink);
}

/** The sink of a logger made by {@link createLogger}. */
function sinkOf(log: Logger): LogSink {
  // pino's Logger type does not declare its symbol-keyed fields.
  return (log as unknown as { [key: symbol]: LogSink })[symbols.streamSym]!;
}

/** Resolves once every line logged so far has been handed to the operating system (or the given stream). */
export function flushLog(log: Logger): Promise<void> {
  // A flush error (fsync refused on a pipe or terminal) leaves the lines written all the same.
  return new Promise((resolve) => sinkOf(log).flush(() => resolve()));
}

/**
 * A route registered with its own `logLevel` or `logSerializers` (tablecast registers none; a
 * plugin or an embedder might) gets a real child logger with them, at once, before its handler.
 * Every other request's logger is set by {@link RequestLogController.incomingRequest}.
 */
export function honourRouteLogOptions(fastify: FastifyInstance, root: Logger): void {
  fastify.addHook('onRoute', (route) => {
    const level = route.logLevel;
    const serializers = route.logSerializers;
    if (level === undefined && serializers === undefined) return;
    const options = { ...(level !== undefined ? { level } : {}), ...(serializers !== undefined ? { serializers } : {}) };
    const own = (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const log = root.child({ reqId: request.id }, options);
      request.log = log;
      reply.log = log;
      done();
    };
    const hooks = route.onRequest;
    route.onRequest = hooks === undefined ? [own] : Array.isArray(hooks) ? [own, ...hooks] : [own, hooks];
  });
}

const INFO = 30;
const DEBUG = 20;

/**
 * fastify's `logController`: it is told of every routed request (`incomingRequest`), which is
 * where the response learns which fastify request it answers, and, at `debug` and finer, where
 * an "incoming request" line is written. At `info` a request writes one line, `completed`'s, as
 * most servers' access logs do: method, URL (credentials redacted), status, time, remote address,
 * and the `reqId` that the request's other lines (its errors) carry too.
 */
export class RequestLogController extends LogController {
  readonly #root: Logger;
  readonly #redactUrl: (url: string) => string;
  // Read once: the root's symbol-keyed fields cost a megamorphic lookup each on every line.
  readonly #sink: LogSink;
  readonly #bindings: string;

  constructor(root: Logger, redactUrl: (url: string) => string) {
    super();
    this.#root = root;
    this.#redactUrl = redactUrl;
    this.#sink = sinkOf(root);
    // pino's Logger type does not declare its symbol-keyed fields.
    this.#bindings = (root as unknown as { [key: symbol]: string })[symbols.chindingsSym]!;
  }

  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    attachRequest(request, reply.raw);
    // Set here rather than through fastify's childLoggerFactory: fastify checks the logger a custom
    // factory returns on every request (seven methods looked up by name, twice: 1.1% of a GET).
    const log = new LazyRequestLogger(this.#root, { reqId: request.id });
    request.log = log;
    reply.log = log;
    if (this.#root.levelVal <= DEBUG) request.log.debug({ req: request }, 'incoming request');
  }

  /** Writes the access line of a response head, at levels that print it (read per line: `log.level` may change). */
  completed(head: ResponseHead): void {
    const request = head.request;
    if (request === undefined || this.#root.levelVal > INFO) return;
    const fields: AccessFields = {
      reqId: request.id,
      method: request.method,
      url: this.#redactUrl(request.url),
      remoteAddress: request.ip,
      statusCode: head.status,
      micros: Math.round(head.seconds * 1e6),
    };
    this.#sink.defer(accessLine(fields, Date.now(), this.#bindings));
  }
}
