/**
 * Request metrics and "request completed" log lines without a per-response listener.
 *
 * fastify times a response by adding 'finish' and 'error' listeners to it (when it has a logger or
 * any `onResponse` hook) and removing them again. On a small GET that machinery cost about 13% of
 * the throughput (bench scenario 1, measured by switching it off). Here the server is given its
 * own response classes instead (Node's `ServerResponse` option, and `Http1ServerResponse` /
 * `Http2ServerResponse` for HTTP/2): each stamps its start when Node creates it, after the request
 * head is parsed, and reports once, from `writeHead`, which Node calls for every response,
 * implicitly when a handler never does.
 *
 * So a duration runs until the response head is written: for ordinary responses the body goes out
 * in the same turn; for event streams it is the time to open the stream, not its lifetime.
 */
import { ServerResponse } from 'node:http';
import { Http2ServerResponse } from 'node:http2';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const START = Symbol('tablecast.start');
const REPORTED = Symbol('tablecast.reported');
const ROUTE = Symbol('tablecast.route');
const REQUEST = Symbol('tablecast.request');

/** One response head, as reported. */
export interface ResponseHead {
  method: string;
  /** The route pattern (`/shop/product/:id`), or `not_found`. */
  route: string;
  status: number;
  seconds: number;
  /** The fastify request, when fastify routed it (absent for responses Node sends itself). */
  request: FastifyRequest | undefined;
}

interface Timed {
  [START]: number;
  [REPORTED]: boolean;
  [ROUTE]: string | undefined;
  [REQUEST]: FastifyRequest | undefined;
  req?: { method?: string };
}

type Report = (head: ResponseHead) => void;

function report(res: Timed, status: number, onHead: Report): void {
  res[REPORTED] = true;
  const request = res[REQUEST];
  // Tagged by the route wrapper; otherwise (an error raised by a hook, a CORS preflight, a 404)
  // asked of fastify, which builds an object for it: rare paths only.
  const route = res[ROUTE] ?? request?.routeOptions.url ?? 'not_found';
  onHead({ method: res.req?.method ?? 'GET', route, status, seconds: (performance.now() - res[START]) / 1000, request });
}

type WriteHead = (status: number, reason?: unknown, headers?: unknown) => unknown;
// `any[]`: the one constructor type TypeScript accepts for a class-extending function (TS2545).
// biome-ignore lint/suspicious/noExplicitAny: TS2545 admits no other type here
type ResponseClass = new (...args: any[]) => { writeHead(status: number, reason?: unknown, headers?: unknown): unknown };

/** `Base` with a start stamp and a report from its first `writeHead`. */
function timed<B extends ResponseClass>(Base: B, onHead: Report): B {
  const writeHead: WriteHead = Base.prototype.writeHead;
  return class extends Base {
    // Field initialisers run right after the base constructor: no constructor of our own to
    // forward its arguments.
    [START] = performance.now();
    [REPORTED] = false;
    [ROUTE]: string | undefined = undefined;
    [REQUEST]: FastifyRequest | undefined = undefined;
    // Explicit parameters, not a rest array: this runs once per response.
    override writeHead(status: number, reason?: unknown, headers?: unknown) {
      if (!this[REPORTED]) report(this, status, onHead);
      return writeHead.call(this, status, reason, headers);
    }
  };
}

/**
 * The response classes for fastify's `http` / `https` options.
 * @example Fastify({ http: { ServerResponse: timedResponses(onHead).http1 } as never })
 */
export function timedResponses(onHead: Report): { http1: unknown; http2: unknown } {
  return { http1: timed(ServerResponse, onHead), http2: timed(Http2ServerResponse, onHead) };
}

/**
 * Wraps every route handler declared after it so the response knows its route pattern without
 * asking fastify per request. Call before declaring routes.
 */
export function tagRoutes(fastify: FastifyInstance): void {
  fastify.addHook('onRoute', (route) => {
    const url = route.url ?? route.path ?? 'unknown';
    const handler = route.handler;
    route.handler = function tagged(this: FastifyInstance, request, reply) {
      const raw: Partial<Timed> = reply.raw;
      raw[ROUTE] = url;
      return handler.call(this, request, reply);
    };
  });
}

/** Records the fastify request on its response (fastify's log controller calls this for every routed request). */
export function attachRequest(request: FastifyRequest, raw: Partial<Timed>): void {
  raw[REQUEST] = request;
}
