/**
 * Builds the GraphQL schema of one database from its exported tables (README › GraphQL): a list query per
 * table in Harper's shape, create/replace/update/delete/publish mutations, and two subscriptions
 * over the same change feed as SSE. Resolvers only translate arguments into table-service calls.
 */
import {
  GraphQLBoolean,
  GraphQLEnumType,
  GraphQLID,
  GraphQLInputObjectType,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  type GraphQLFieldConfig,
  type GraphQLFieldConfigArgumentMap,
  type GraphQLFieldConfigMap,
} from 'graphql';
import type { Principal } from '../auth/policy.ts';
import type { App } from '../core/app.ts';
import type { TableService } from '../core/table-service.ts';
import type { QueryArguments } from '../query/from-arguments.ts';
import { namesOf } from './names.ts';
import { resultBudgetOf } from './result-budget.ts';
import { createTypeFactory, isArgument, JSONScalar } from './types.ts';

type Args = { [name: string]: unknown };
/** The GraphQL context: who is asking, and from where (set from the HTTP request by the server). */
type Ctx = { principal?: Principal; address?: string };
/** A change event as core hands it out (taken from App, so graphql does not reach into realtime: layers.test.ts). */
type HubEvent = ReturnType<App['subscribe']> extends AsyncIterableIterator<infer E> ? E : never;
type Field = GraphQLFieldConfig<unknown, Ctx, Args>;

const ChangeType = new GraphQLEnumType({
  name: 'ChangeType',
  values: { UPDATE: { value: 'update' }, DELETE: { value: 'delete' }, PUBLISH: { value: 'publish' } },
});

/** Reserved argument names; attributes with these names are not offered as filters. */
const CONTROL_ARGS = new Set(['limit', 'offset', 'sort', 'lastEventId']);

/**
 * The schema for `/{database}/graphql`, or `undefined` when no table of it is exported to GraphQL.
 * @example const schema = buildDatabaseSchema(app, 'realtime-demo')
 */
export function buildDatabaseSchema(app: App, database: string): GraphQLSchema | undefined {
  const services = [...app.services.values()].filter((s) => s.def.database === database && s.def.export?.graphql);
  if (services.length === 0) return undefined;
  const types = createTypeFactory();
  const query: GraphQLFieldConfigMap<unknown, Ctx> = {};
  const mutation: GraphQLFieldConfigMap<unknown, Ctx> = {};
  const subscription: GraphQLFieldConfigMap<unknown, Ctx> = {};

  for (const service of services) {
    const def = service.def;
    const n = namesOf(def);
    const type = types.outputObject({ kind: 'object', name: def.typeName, fields: def.fields, sealed: def.sealed });
    const filterArgs: GraphQLFieldConfigArgumentMap = Object.fromEntries(def.fields.filter((f) => isArgument(f) && !CONTROL_ARGS.has(f.name)).map((f) => [f.name, { type: types.input(f.type) }]));
    const input = new GraphQLInputObjectType({ name: n.input, fields: () => types.inputFields(def.fields, true) });
    const patch = new GraphQLInputObjectType({ name: n.patch, fields: () => types.inputFields(def.fields, false) });
    const eventType = new GraphQLObjectType({
      name: n.event,
      fields: {
        type: { type: new GraphQLNonNull(ChangeType) },
        id: { type: new GraphQLNonNull(GraphQLID) },
        cursor: { type: new GraphQLNonNull(GraphQLString), description: 'The change sequence number; pass it as lastEventId to resume after this event.' },
        record: { type },
        message: { type: JSONScalar },
      },
    });
    const idArg = { id: { type: new GraphQLNonNull(GraphQLID) } };

    query[n.query] = {
      type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(type))),
      args: { ...filterArgs, limit: { type: GraphQLInt }, offset: { type: GraphQLInt }, sort: { type: new GraphQLList(new GraphQLNonNull(GraphQLString)) } },
      // Within the operation's record budget (graphqlMaxResults): reads run one after another, each
      // asking for no more than is left. Awaited, so a synchronous or a chunked search both fit.
      // graphql-js hands resolvers untyped arguments; the schema declares limit an Int.
      resolve: (_src, args: Args, ctx: Ctx) =>
        resultBudgetOf(ctx).read(args.limit as number | undefined, async (most) => await service.search(service.queryOf(argumentsOf(args, most)), ctx.principal)),
    } satisfies Field;

    mutation[n.create] = {
      type: new GraphQLNonNull(type),
      args: { data: { type: new GraphQLNonNull(input) } },
      resolve: async (_s, a: Args, ctx: Ctx) => (await service.create(a.data, ctx.principal)).record,
    };
    mutation[n.replace] = {
      type: new GraphQLNonNull(type),
      args: { ...idArg, data: { type: new GraphQLNonNull(input) } },
      resolve: async (_s, a: Args, ctx: Ctx) => (await service.put(service.key(a.id), a.data, ctx.principal)).record,
    };
    mutation[n.update] = {
      type: new GraphQLNonNull(type),
      args: { ...idArg, data: { type: new GraphQLNonNull(patch) } },
      resolve: async (_s, a: Args, ctx: Ctx) => (await service.patch(service.key(a.id), a.data, ctx.principal)).record,
    };
    mutation[n.delete] = {
      type: new GraphQLNonNull(GraphQLBoolean),
      args: idArg,
      resolve: async (_s, a: Args, ctx: Ctx) => {
        await service.delete(service.key(a.id), ctx.principal);
        return true;
      },
    };
    mutation[n.publish] = {
      type: new GraphQLNonNull(GraphQLBoolean),
      args: { ...idArg, message: { type: new GraphQLNonNull(JSONScalar) } },
      resolve: async (_s, a: Args, ctx: Ctx) => {
        await service.publish(service.key(a.id), a.message, ctx.principal);
        return true;
      },
    };

    const subArgs = { id: { type: GraphQLID }, ...filterArgs };
    subscription[n.query] = {
      type: new GraphQLNonNull(type),
      args: subArgs,
      subscribe: (_s, a: Args, ctx: Ctx) => onlyUpdates(changes(app, service, a, ctx)),
      resolve: (payload: unknown) => payload,
    };
    subscription[n.events] = {
      type: new GraphQLNonNull(eventType),
      args: { ...subArgs, lastEventId: { type: GraphQLString } },
      subscribe: (_s, a: Args, ctx: Ctx) => asEvents(changes(app, service, a, ctx)),
      resolve: (payload: unknown) => payload,
    };
  }

  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: query }),
    mutation: new GraphQLObjectType({ name: 'Mutation', fields: mutation }),
    subscription: new GraphQLObjectType({ name: 'Subscription', fields: subscription }),
  });
}

/** A list query's arguments as the query structure: every argument but the control ones is an equality filter. */
function argumentsOf(args: Args, most?: number): QueryArguments {
  const { limit, offset, sort, ...equals } = args;
  // graphql-js hands resolvers untyped arguments; the schema declares these Int, Int and [String!].
  return { equals, limit: most ?? (limit as number | null | undefined), offset: offset as number | null | undefined, sort: sort as string[] | null | undefined };
}

/**
 * A subscription's events through the one subscription path: the same checks, limits (429 before
 * the stream opens), cursor parsing, replay, expiry and slow-consumer rule as SSE streams.
 */
function changes(app: App, service: TableService, args: Args, ctx: Ctx): AsyncIterableIterator<HubEvent> {
  const { id, lastEventId, ...equals } = args;
  const query = service.queryOf({ equals });
  return app.subscribe(service, {
    transport: 'graphql',
    address: ctx.address ?? 'local',
    ...(ctx.principal ? { principal: ctx.principal } : {}),
    ...(id !== undefined && id !== null ? { key: service.key(id) } : {}),
    ...(query.filter ? { filter: query.filter } : {}),
    ...(lastEventId !== undefined && lastEventId !== null ? { lastEventId } : {}),
  });
}

/** `message` subscription: the record, on each update. Closing the result closes the source. */
function onlyUpdates(source: AsyncIterableIterator<HubEvent>): AsyncIterableIterator<unknown> {
  return mapIterator(source, (e) => (e.type === 'update' ? e.record : undefined));
}

/** `messageEvents` subscription: every change, with its cursor. */
function asEvents(source: AsyncIterableIterator<HubEvent>): AsyncIterableIterator<unknown> {
  return mapIterator(source, (e) => ({
    type: e.type,
    id: String(e.key),
    cursor: String(e.seq),
    record: e.record ?? null,
    message: e.type === 'publish' ? e.message : null,
  }));
}

/**
 * Maps (and filters, where `fn` returns undefined) an iterator, forwarding `return` to the source.
 * Not yoga's `pipe(map, filter)`: this module builds the schemas at start-up, and importing a value
 * from graphql-yoga here would load yoga (~250 ms) on every start instead of on the first GraphQL
 * request (graphql/lazy.ts).
 */
function mapIterator<T, U>(source: AsyncIterableIterator<T>, fn: (t: T) => U | undefined): AsyncIterableIterator<U> {
  const it: AsyncIterableIterator<U> = {
    async next() {
      for (;;) {
        const r = await source.next();
        if (r.done) return { value: undefined, done: true };
        const mapped = fn(r.value);
        if (mapped !== undefined) return { value: mapped, done: false };
      }
    },
    async return() {
      await source.return?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}
