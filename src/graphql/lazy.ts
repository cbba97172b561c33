/**
 * GraphQL endpoints whose engine loads on first use. graphql-yoga and its dependencies are a
 * third of start-up (~250 ms) and ~14 MB of resident memory; a server that only serves REST and
 * SSE never needs them. The schemas are still built at start (once: yoga is handed these), so a
 * schema GraphQL cannot express fails `tablecast start` as before; only yoga itself waits for the
 * first GraphQL request, which pays the load once (later requests share the same promise).
 */
import type { App } from '../core/app.ts';
import { buildDatabaseSchema } from './build-schema.ts';
import { createOpenStreams } from './open-streams.ts';
import type { DatabaseSchema, GraphqlEndpoint, GraphqlOptions } from './yoga.ts';

export interface LazyGraphql {
  /** `/{database}/graphql` for every database with a GraphQL schema, known at start. */
  readonly paths: readonly string[];
  /** The endpoint at `path`, loading yoga if this is the first request. */
  endpoint(path: string): Promise<GraphqlEndpoint>;
  /**
   * Shutdown: drops every open subscription response without `complete`, so graphql-sse clients
   * retry and resume (see open-streams.ts). Call before the subscriptions are ended.
   */
  dropStreams(): void;
}

export function lazyGraphqlEndpoints(app: App, options: GraphqlOptions = {}): LazyGraphql {
  const schemas: DatabaseSchema[] = app.databases().flatMap((database) => {
    const schema = buildDatabaseSchema(app, database);
    return schema ? [{ database, path: `/${database}/graphql`, schema }] : [];
  });
  const openStreams = createOpenStreams();
  let loaded: Promise<Map<string, GraphqlEndpoint>> | undefined;
  const load = () => (loaded ??= import('./yoga.ts').then(({ createGraphqlEndpoints }) => new Map(createGraphqlEndpoints(schemas, { ...options, openStreams }).map((e) => [e.path, e]))));
  return {
    paths: schemas.map((s) => s.path),
    async endpoint(path) {
      const endpoint = (await load()).get(path);
      if (!endpoint) throw new Error(`no GraphQL endpoint at ${path}`);
      return endpoint;
    },
    dropStreams: () => openStreams.dropAll(),
  };
}
