/**
 * Logging: the server's pino logger, created here rather than by fastify, and the per-request
 * loggers fastify hands out as `request.log`.
 *
 * fastify gets no logger of its own (`logger: false`): with one, it adds and removes two listeners
 * on every response to time it, about 13% of a small GET's throughput (bench scenario 1). Request
 * timing is done by the response classes of response-timing.ts instead, and `request.log` still
 * works through fastify's `childLoggerFactory`, which fastify calls with or without a logger.
 * What is lost: the few lines fastify writes through its own server-level logger (it writes none
 * that tablecast relies on; `server.log` and `request.log` are ours).
 *
 * Request loggers cost nothing until something is logged: pino serialises a child's bindings on
 * every `child()`, so the child (with its `reqId`) is built on the first call at an enabled level.
 */
import { pino, stdSerializers, type Logger } from 'pino';
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
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

/**
 * The server's logger: JSON lines, credentials redacted, request and response serialised as
 * fastify did (method, url, host, remote address; status code).
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
  return options.stream ? pino(settings, options.stream as never) : pino(settings);
}

/**
 * fastify's `childLoggerFactory`: `request.log` for every request, a child of `root` (fastify's own
 * logger argument is its null logger). Options (a route's own `logLevel` or serializers) need a
 * real child at once; we set neither, but a plugin might.
 */
export function requestLoggerFactory(root: Logger) {
  return (_logger: FastifyBaseLogger, bindings: Bindings, options: { level?: string; serializers?: unknown }): FastifyBaseLogger => {
    if (options.level !== undefined || options.serializers !== undefined) return root.child(bindings, options as never) as unknown as FastifyBaseLogger;
    return new LazyRequestLogger(root as unknown as PinoLike, bindings) as unknown as FastifyBaseLogger;
  };
}

const INFO_OR_FINER = new Set(['info', 'debug', 'trace']);

/**
 * fastify's `logController`: it is told of every routed request (`incomingRequest`), which is
 * where the response learns which fastify request it answers (for the reqId of its completion
 * line), and where the "incoming request" line is written at levels that print it.
 */
export class RequestLogController extends LogController {
  readonly #info: boolean;

  constructor(level: string) {
    super();
    this.#info = INFO_OR_FINER.has(level);
  }

  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: { [k: string]: unknown }): void {
    attachRequest(request, reply.raw);
    if (this.#info) super.incomingRequest(request, reply, metadata);
  }

  /** Writes the "request completed" line of a response head, at levels that print it. */
  completed(head: ResponseHead): void {
    if (this.#info) head.request?.log.info({ res: { statusCode: head.status }, responseTime: head.seconds * 1000 }, 'request completed');
  }
}
