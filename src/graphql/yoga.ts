/**
 * One graphql-yoga instance per database with exported tables, at `/{database}/graphql`.
 * AppErrors keep their code and HTTP status (`extensions.code`, `extensions.http.status`, as on
 * REST); anything else is masked. Yoga serves POST/GET JSON and GraphQL over SSE in
 * distinct-connections mode (what the graphql-sse client and EventSource speak); GraphiQL is ours
 * (graphiql.ts), with its assets served from here.
 */
import { GraphQLError, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { createYoga, mapAsyncIterator, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { AppError, toAppError } from '../errors.ts';
import { useOfflineGraphiql } from './graphiql.ts';
import { useDocumentLimits, type DocumentLimits } from './limits.ts';
import type { OpenStreams } from './open-streams.ts';
import { useRequestErrors } from './request-errors.ts';
import { DEFAULT_MAX_RESULTS, useResultBudget } from './result-budget.ts';

export interface GraphqlEndpoint {
  database: string;
  path: string;
  yoga: YogaServerInstance<Record<string, unknown>, Record<string, unknown>>;
}

export interface GraphqlOptions {
  /** Where masked (unexpected) errors are reported with their cause. */
  onError?: (err: unknown) => void;
  /** Caps on every request (config `graphqlMax*`); defaults as in config.ts. */
  limits?: Partial<GraphqlLimits>;
  /** Where open subscription responses are recorded, for shutdown (see open-streams.ts). */
  openStreams?: OpenStreams;
}

/** The caps of every GraphQL request: its document's, and the records its operation may return. */
export interface GraphqlLimits extends DocumentLimits {
  maxResults: number;
}

const DEFAULT_LIMITS: GraphqlLimits = { maxTokens: 1000, maxDepth: 20, maxAliases: 20, maxResults: DEFAULT_MAX_RESULTS };

/** A database's GraphQL schema and where it is served (built at start by lazy.ts). */
export interface DatabaseSchema {
  database: string;
  path: string;
  schema: GraphQLSchema;
}

/**
 * Builds an endpoint for each database schema.
 * @example for (const e of createGraphqlEndpoints(schemas)) fastify.route({ url: e.path, ... })
 */
export function createGraphqlEndpoints(schemas: readonly DatabaseSchema[], options: GraphqlOptions = {}): GraphqlEndpoint[] {
  const out: GraphqlEndpoint[] = [];
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  for (const { database, path, schema } of schemas) {
    const yoga = createYoga<Record<string, unknown>>({
      schema,
      graphqlEndpoint: path,
      // One CORS layer for the whole server (fastify's); yoga's default reflects any origin.
      cors: false,
      logging: false,
      landingPage: false,
      // Our own GraphiQL page and assets (graphiql.ts): yoga's loads them from a CDN.
      graphiql: false,
      maskedErrors: { maskError: (error) => toGraphqlError(error, options.onError) },
      plugins: [
        useOfflineGraphiql({ title: `tablecast GraphiQL · ${database}` }),
        useRequestErrors(),
        useDocumentLimits(limits),
        useResultBudget(limits.maxResults),
        useVisibleHttpStatus(),
        useAcceptedEventStreams(),
        ...(options.openStreams ? [options.openStreams.plugin()] : []),
      ],
    });
    out.push({ database, path, yoga });
  }
  return out;
}

/** AppError → GraphQLError with code and status; anything unexpected is masked and reported. */
function toGraphqlError(error: unknown, onError?: (err: unknown) => void): Error {
  const original = error instanceof GraphQLError && error.originalError ? error.originalError : error;
  // Errors graphql itself raised (validation, coercion of arguments) are the client's and stay as they are.
  // When one wraps another GraphQLError (variable coercion: `Variable "$d" got invalid value 5 at "d.title"; …`),
  // the wrapper is kept: returning the inner one lost the variable's name, the locations and the executor's
  // `http.status` 400, so `application/graphql-response+json` got a 200 for a request error.
  if (error instanceof GraphQLError && (!error.originalError || original instanceof GraphQLError)) return withCode(error);
  const appError = original instanceof AppError ? original : toAppError(original);
  if (appError.code === 'INTERNAL') onError?.(appError.cause ?? original);
  const gql = error instanceof GraphQLError ? error : undefined;
  return new GraphQLError(appError.message, {
    ...(gql?.nodes ? { nodes: gql.nodes } : {}),
    ...(gql?.path ? { path: gql.path } : {}),
    ...(gql?.source ? { source: gql.source } : {}),
    ...(gql?.positions ? { positions: gql.positions } : {}),
    originalError: appError,
    extensions: {
      code: appError.code,
      // Headers go to the HTTP response (yoga applies `http.headers`; they are not shown in the
      // body): a 401 must carry `WWW-Authenticate` (RFC 9110), as REST's does, and a 429 `Retry-After`.
      http: { status: appError.statusCode, ...(appError.headers ? { headers: appError.headers } : {}) },
      ...(appError.details !== undefined ? { details: appError.details } : {}),
    },
  });
}

/**
 * A request error graphql raised without a code (a variable's value that does not coerce) gets
 * BAD_REQUEST, so that every 4xx answer carries one; parse and validation errors keep yoga's codes.
 */
function withCode(error: GraphQLError): GraphQLError {
  const status = error.extensions.http?.status;
  if (error.extensions.code !== undefined || status === undefined || status < 400 || status >= 500) return error;
  return new GraphQLError(error.message, {
    ...(error.nodes ? { nodes: error.nodes } : {}),
    ...(error.source ? { source: error.source } : {}),
    ...(error.positions ? { positions: error.positions } : {}),
    ...(error.path ? { path: error.path } : {}),
    extensions: { ...error.extensions, code: 'BAD_REQUEST' },
  });
}

/**
 * Yoga removes `extensions.http` from errors when it serialises results (it treats it as internal).
 * Our contract shows the status to clients, as REST does in its body, so this re-adds it through
 * the result's own `stringify` hook, which yoga calls for JSON and SSE responses alike.
 */
function useVisibleHttpStatus(): Plugin {
  const mark = (result: { errors?: readonly GraphQLError[]; stringify?: (r: ExecutionResult) => string }) => {
    const originals = result.errors;
    if (!originals?.length) return;
    result.stringify = (sanitized) => {
      if (!sanitized.errors) return JSON.stringify(sanitized);
      const errors = sanitized.errors.map((e, i) => {
        const json = typeof e.toJSON === 'function' ? e.toJSON() : e;
        const http = originals[i]?.extensions?.http;
        if (!http?.status) return json;
        return { ...json, extensions: { ...json.extensions, http: { status: http.status } } };
      });
      return JSON.stringify({ ...sanitized, errors });
    };
  };
  return {
    // Runs after masking, on the result yoga is about to serialise; streams are marked per event.
    onExecutionResult({ result, setResult }) {
      if (!result) return;
      if (Symbol.asyncIterator in result) {
        setResult(
          mapAsyncIterator(result, (value) => {
            mark(value);
            return value;
          }),
        );
      } else mark(result);
    },
    // Requests refused before any execution (unreadable parameters) reach only this hook.
    onResultProcess({ result }) {
      if (result && !(Symbol.asyncIterator in result) && !Array.isArray(result)) mark(result);
    },
  };
}

/**
 * GraphQL over SSE (distinct connections mode) requires errors found before execution to be sent as
 * `next` events on an *accepted* stream: a 4xx makes EventSource fail without telling why, and makes
 * the graphql-sse client throw a NetworkError (and retry, by default) instead of yielding the errors.
 * Yoga copies `extensions.http.status` (CONFLICT 409, CURSOR_EXPIRED 410, …) onto the SSE response's
 * status, so an event-stream answer is given 200 here; the code and status stay in the event's errors.
 */
function useAcceptedEventStreams(): Plugin {
  return {
    async onResponse({ response, setResponse, fetchAPI }) {
      if (response.status === 200 || !response.headers.get('content-type')?.startsWith('text/event-stream')) return;
      if (response.status !== 429) {
        setResponse(new fetchAPI.Response(response.body, { status: 200, headers: response.headers }));
        return;
      }
      // A stream limit refuses the subscription before any stream opens, as on REST: a 429 with
      // Retry-After (graphql-sse's client and EventSource retry it later) and the errors as JSON.
      const text = await response.text();
      const data = /^data: (.*)$/m.exec(text)?.[1] ?? '{"errors":[{"message":"too many open streams"}]}';
      const headers = new fetchAPI.Headers(response.headers);
      headers.set('content-type', 'application/json; charset=utf-8');
      setResponse(new fetchAPI.Response(data, { status: 429, headers }));
    },
  };
}
