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
import { pino, stdSerializers, symbols, type Logger } from 'pino';
import { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { attachRequest, type ResponseHead } from './response-timing.ts';

type Bindings = { [key: string]: unknown };
type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type PinoLike = FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };

class LazyRequestLogger {
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
    return (this.#child ??= this.#parent.child(this.#bindings) as PinoLike);
  }
  #log(level: LevelName, args: unknown[]): void {
    if (this.#child === undefined && this.#parent.isLevelEnabled?.(level) === false) return;
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
  child(bindings: Bindings, options?: object): FastifyBaseLogger {
    return (this.#real().child as (b: Bindings, o?: object) => FastifyBaseLogger)(bindings, options);
  }
  isLevelEnabled(level: string): boolean {
    return (this.#child ?? this.#parent).isLevelEnabled?.(level) ?? true;
  }
  bindings(): Bindings {
    return { ...(this.#parent as { bindings?(): Bindings }).bindings?.(), ...this.#bindings };
  }
}

export interface LoggerOptions {
  level: string;
  /** Where lines go (default stdout); tests capture them. */
  stream?: NodeJS.WritableStream;
  /** Takes secrets (an `access_token` parameter, however its name is encoded) out of a URL or a message quoting one. */
  redactUrl(url: string): string;
}

interface Target {
  write(text: string): unknown;
  flush?(cb: (err?: Error) => void): void;
}

/**
 * Where the logger's lines go. Lines pino writes go out at once, synchronously, as they always
 * did. Access lines (`defer`) to stdout are gathered and written together, 10 ms after the first
 * of them or once 64 KiB are waiting: a write(2) per line was most of what a line cost, and once
 * per event-loop turn still cost a busy server about 6% of its CPU on small GETs, since a turn
 * completes only a few requests. Anything else written, and `flush`, first sends what is gathered,
 * so lines keep their order, and an error or `fatal` line logged before a crash takes the access
 * lines before it along. What a crash can lose is the access lines of its last 10 ms, when nothing
 * is logged in between; `server.close()` writes them all.
 */
const GATHER_MS = 10;
const GATHER_BYTES = 64 * 1024;

export class LogSink {
  readonly #target: Target;
  readonly #gather: boolean;
  #pending: string[] = [];
  #pendingBytes = 0;
  #scheduled: NodeJS.Timeout | undefined;
  readonly #onTimer = (): void => {
    this.#scheduled = undefined;
    this.#drain();
  };

  /** `gather`: whether deferred lines are written together (false: each at once, as pino would). */
  constructor(target: Target, gather: boolean) {
    this.#target = target;
    this.#gather = gather;
  }

  #drain(): void {
    if (this.#pending.length === 0) return;
    const text = this.#pending.length === 1 ? this.#pending[0]! : this.#pending.join('');
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#scheduled) {
      clearTimeout(this.#scheduled);
      this.#scheduled = undefined;
    }
    this.#target.write(text);
  }

  /** pino's write: the line goes out now, after anything gathered. */
  write(line: string): boolean {
    this.#drain();
    this.#target.write(line);
    return true;
  }

  /** An access line: goes out with the others gathered (within 10 ms, or at 64 KiB). */
  defer(line: string): void {
    if (!this.#gather) {
      this.#target.write(line);
      return;
    }
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    if (this.#pendingBytes >= GATHER_BYTES) this.#drain();
    else this.#scheduled ??= setTimeout(this.#onTimer, GATHER_MS);
  }

  /** pino's `logger.flush(cb)`: everything written so far is handed to the target, then the target flushes. */
  flush(cb: (err?: Error) => void): void {
    this.#drain();
    if (this.#target.flush) this.#target.flush(cb);
    else cb();
  }
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
  const sink = options.stream ? new LogSink(options.stream as Target, false) : new LogSink(pino.destination({ dest: 1, sync: true }), true);
  return pino(settings, sink as never);
}

/** The sink of a logger made by {@link createLogger}. */
function sinkOf(log: Logger): LogSink {
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
      const log = root.child({ reqId: request.id }, options as never) as unknown as FastifyBaseLogger;
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

/** What one access line says about its request. */
export interface AccessFields {
  reqId: string;
  method: string;
  /** Already redacted. */
  url: string;
  remoteAddress: string | undefined;
  statusCode: number;
  /** Whole microseconds until the response head went out (written as milliseconds). */
  micros: number;
}

/**
 * The access line pino would write for `log.info({ reqId, req: { method, url, remoteAddress },
 * res: { statusCode }, responseTime }, 'request completed')`, byte for byte (test/unit/http/
 * logging.test.ts compares them), built as one template string: through pino's generic path (its
 * key loop, serializers and redaction, which have nothing to do on these fields) the line cost
 * about 2 µs, 5% of a whole GET. Numbers and strings are written without V8's general converters
 * where the value allows (jsonString, millisecondsText, timeText): under callgrind those
 * converters were half of what the line still cost.
 * `bindings` is the logger's own (`,"pid":…,"hostname":…`), `time` epoch ms.
 */
export function accessLine(f: AccessFields, time: number, bindings: string): string {
  const address = f.remoteAddress === undefined ? '' : `,"remoteAddress":${jsonString(f.remoteAddress)}`;
  return (
    `{"level":30,"time":${timeText(time)}${bindings},"reqId":${jsonString(f.reqId)},` +
    `"req":{"method":${jsonString(f.method)},"url":${jsonString(f.url)}${address}},` +
    `"res":{"statusCode":${f.statusCode}},"responseTime":${millisecondsText(f.micros)},"msg":"request completed"}\n`
  );
}

/**
 * `JSON.stringify(s)`, without its set-up cost for the usual access-line text (an id, a method,
 * an ASCII URL, an address), which has nothing to escape: no control character, quote, backslash
 * or surrogate (JSON.stringify escapes lone surrogates; such text goes to it).
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** `String(micros / 1000)` for whole non-negative microseconds, from small integers only. */
export function millisecondsText(micros: number): string {
  const whole = Math.floor(micros / 1000);
  const fraction = micros - whole * 1000;
  if (fraction === 0) return `${whole}`;
  const digits = fraction < 10 ? `00${fraction}` : fraction < 100 ? `0${fraction}` : `${fraction}`;
  // Shortest form, as JavaScript writes numbers: 1.5, not 1.500.
  return `${whole}.${fraction % 100 === 0 ? digits.slice(0, 1) : fraction % 10 === 0 ? digits.slice(0, 2) : digits}`;
}

// Epoch milliseconds exceed the small-integer range, so each is converted as a double; lines of
// the same millisecond share one conversion.
let lastTime = -1;
let lastTimeText = '';
function timeText(time: number): string {
  if (time !== lastTime) {
    lastTime = time;
    lastTimeText = `${time}`;
  }
  return lastTimeText;
}

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
    this.#bindings = (root as unknown as { [key: symbol]: string })[symbols.chindingsSym]!;
  }

  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    attachRequest(request, reply.raw);
    // Set here rather than through fastify's childLoggerFactory: fastify checks a custom factory's
    // logger on every request (seven lookups by name, twice), more than the rest of this line costs.
    const log = new LazyRequestLogger(this.#root as unknown as PinoLike, { reqId: request.id }) as unknown as FastifyBaseLogger;
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
