/**
 * Per-request loggers that cost nothing until something is logged. fastify gives every request a
 * pino child bound to its `reqId`; building it (pino serialises the bindings on every `child()`)
 * was a measurable share of a small GET (bench scenario 1), paid even when the level in force logs
 * nothing for that request. Here the child is built on the first call at an enabled level, so a
 * request that logs nothing allocates one small object, and one that logs gets the same child,
 * `reqId` included, as before.
 */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';

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

/**
 * fastify's `childLoggerFactory`. Options (a route's own `logLevel` or serializers) need a real
 * child at once, so those get one; we set neither, but a plugin might.
 */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: { level?: string; serializers?: unknown }): FastifyBaseLogger {
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options as never);
  return new LazyRequestLogger(logger as PinoLike, bindings) as unknown as FastifyBaseLogger;
}

const INFO_OR_FINER = new Set(['info', 'debug', 'trace']);

/**
 * fastify's `logController`: its request lines ("incoming request", "request completed") only
 * at levels that print them, so a quieter level never builds a request's logger for them; and
 * `completed(request, reply)` for every finished response, which is where request metrics are
 * counted (fastify calls it for every response it sends, after the `onResponse` hooks).
 */
export class RequestLogController extends LogController {
  readonly #info: boolean;
  readonly #completed: (request: FastifyRequest, reply: FastifyReply) => void;

  constructor(level: string, completed: (request: FastifyRequest, reply: FastifyReply) => void) {
    super();
    this.#info = INFO_OR_FINER.has(level);
    this.#completed = completed;
  }

  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: { [k: string]: unknown }): void {
    if (this.#info) super.incomingRequest(request, reply, metadata);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: { [k: string]: unknown }): void {
    this.#completed(request, reply);
    if (error || this.#info) super.requestCompleted(error, request, reply, metadata);
  }
}
