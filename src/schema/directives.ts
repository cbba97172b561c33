/**
 * The SDL declarations of tablecast's directives and the readers that turn a directive's AST
 * arguments into checked, typed values.
 */
import { Kind, parse, type ASTNode, type ConstValueNode, type DirectiveDefinitionNode, type DirectiveNode, type ValueNode } from 'graphql';

/**
 * Declarations of every directive and custom scalar tablecast understands. Paste this into a schema
 * file (or keep it in its own `.graphql` file) so editors and GraphQL tooling know the directives;
 * tablecast ignores `directive` definitions and re-declarations of its built-in scalars.
 */
export const DIRECTIVES_SDL = `"""A stored table. \`table\` defaults to the type name; \`expiration\` is seconds after the last write until a record is deleted."""
directive @table(database: String = "data", table: String, expiration: Int) on OBJECT

"""Serve the table at /{database}/{name}; \`name\` defaults to the type name. Each protocol can be switched off."""
directive @export(name: String, rest: Boolean = true, sse: Boolean = true, graphql: Boolean = true) on OBJECT

"""The record key (exactly one per table; a field named \`id\` is the key when none is marked)."""
directive @primaryKey on FIELD_DEFINITION

"""Keep a secondary index on this attribute for filters and sort."""
directive @indexed on FIELD_DEFINITION

"""Set by the server when the record is created (epoch ms; ISO-8601 string for Date and String fields)."""
directive @createdTime on FIELD_DEFINITION

"""Set by the server on every write (epoch ms; ISO-8601 string for Date and String fields)."""
directive @updatedTime on FIELD_DEFINITION

"""Reject attributes the type does not declare (by default they are kept)."""
directive @sealed on OBJECT

"""A 64-bit integer stored as a JSON number (safe-integer range)."""
scalar Long
"""An arbitrary-precision integer stored as a decimal string."""
scalar BigInt
"""A point in time stored as an ISO-8601 string; epoch milliseconds are accepted on input."""
scalar Date
"""Any JSON value."""
scalar Any
"""Binary data as a base64 string."""
scalar Bytes
`;

/** The AST location kinds our directives may appear on. */
export type DirectiveLocation = 'OBJECT' | 'FIELD_DEFINITION';

type ArgType = 'String' | 'Int' | 'Boolean';
type ArgValue = string | number | boolean;

interface ArgSpec {
  type: ArgType;
  default?: ArgValue;
}

interface DirectiveSpec {
  name: string;
  locations: readonly DirectiveLocation[];
  args: ReadonlyMap<string, ArgSpec>;
}

/** Argument values after defaults; an argument without a default and not written is absent. */
export type ArgValues = ReadonlyMap<string, ArgValue>;

/** Called with the node to blame and a plain message; the caller adds `file:line:column`. */
export type Report = (node: ASTNode, message: string) => void;

/** The specs are read from {@link DIRECTIVES_SDL} itself, so the published SDL cannot drift from what is checked. */
const SPECS: ReadonlyMap<string, DirectiveSpec> = new Map(
  parse(DIRECTIVES_SDL)
    .definitions.filter((d): d is DirectiveDefinitionNode => d.kind === Kind.DIRECTIVE_DEFINITION)
    .map((d) => [
      d.name.value,
      {
        name: d.name.value,
        // graphql-js types AST names as strings; DIRECTIVES_SDL uses only these locations and argument types.
        locations: d.locations.map((l) => l.value as DirectiveLocation),
        args: new Map(
          (d.arguments ?? []).map((a) => {
            const type = (a.type.kind === Kind.NAMED_TYPE ? a.type.name.value : 'String') as ArgType;
            const spec: ArgSpec = { type };
            if (a.defaultValue) spec.default = literal(a.defaultValue);
            return [a.name.value, spec];
          }),
        ),
      },
    ]),
);

function literal(v: ConstValueNode): ArgValue | undefined {
  switch (v.kind) {
    case Kind.STRING:
    case Kind.ENUM:
      return v.value;
    case Kind.INT:
      return Number(v.value);
    case Kind.BOOLEAN:
      return v.value;
    default:
      return undefined;
  }
}

/** How a value reads in an error message: the SDL the user wrote. */
function shown(v: ValueNode): string {
  switch (v.kind) {
    case Kind.STRING:
      return JSON.stringify(v.value);
    case Kind.INT:
    case Kind.FLOAT:
    case Kind.ENUM:
      return v.value;
    case Kind.BOOLEAN:
      return String(v.value);
    case Kind.NULL:
      return 'null';
    case Kind.VARIABLE:
      return `$${v.name.value}`;
    case Kind.LIST:
      return 'a list';
    case Kind.OBJECT:
      return 'an object';
  }
}

const INT32_MAX = 2 ** 31 - 1;

function readValue(d: string, arg: string, spec: ArgSpec, v: ValueNode, report: Report): ArgValue | undefined {
  const wrong = () => report(v, `@${d}(${arg}:) must be ${spec.type === 'Int' ? 'an' : 'a'} ${spec.type}, got ${shown(v)}`);
  if (spec.type === 'String') {
    if (v.kind !== Kind.STRING) return void wrong();
    return v.value;
  }
  if (spec.type === 'Boolean') {
    if (v.kind !== Kind.BOOLEAN) return void wrong();
    return v.value;
  }
  if (v.kind !== Kind.INT) return void wrong();
  const n = Number(v.value);
  if (Math.abs(n) > INT32_MAX) return void report(v, `@${d}(${arg}:) ${v.value} is out of the Int range`);
  return n;
}

/** What {@link readDirective} found: `ok` is false when an argument was refused (and reported). */
export interface ReadDirective {
  values: ArgValues;
  ok: boolean;
}

/**
 * Checks a directive written on a type or field: known, allowed there, arguments known and of the
 * right type. Returns the argument values that are fine (with defaults), or `undefined` when the
 * directive itself is unknown or misplaced. Every problem is reported, not just the first.
 * @param owner how to name the annotated element in messages, e.g. `type Foo` or `field Foo.bar`.
 */
export function readDirective(node: DirectiveNode, where: DirectiveLocation, owner: string, report: Report): ReadDirective | undefined {
  const name = node.name.value;
  const spec = SPECS.get(name);
  if (!spec) {
    report(node, `unknown directive @${name} on ${owner}`);
    return undefined;
  }
  if (!spec.locations.includes(where)) {
    const belongs = spec.locations.includes('OBJECT') ? 'types' : 'fields';
    report(node, `@${name} belongs on ${belongs}, not on ${owner}`);
    return undefined;
  }
  const values = new Map<string, ArgValue>();
  const given = new Set<string>();
  let ok = true;
  for (const a of node.arguments ?? []) {
    const arg = a.name.value;
    const argSpec = spec.args.get(arg);
    if (!argSpec) {
      const known = [...spec.args.keys()];
      report(a, `unknown argument "${arg}" on @${name}${known.length ? ` (it takes ${known.join(', ')})` : ' (it takes no arguments)'}`);
      ok = false;
    } else if (given.has(arg)) {
      report(a, `argument "${arg}" is given twice on @${name}`);
      ok = false;
    } else {
      given.add(arg);
      const value = readValue(name, arg, argSpec, a.value, report);
      if (value === undefined) ok = false;
      else values.set(arg, value);
    }
  }
  // Defaults only for arguments not written: a refused argument must not turn into its default silently.
  for (const [arg, s] of spec.args) if (!given.has(arg) && s.default !== undefined) values.set(arg, s.default);
  return { values, ok };
}

/** Names used in URLs and storage paths. */
const URL_SAFE = /^[A-Za-z0-9_-]+$/;

/** The written value of an argument, where its problems are reported (the directive when absent). */
function argValue(node: DirectiveNode, arg: string): ASTNode {
  return node.arguments?.find((a) => a.name.value === arg)?.value ?? node;
}

function urlSafe(node: DirectiveNode, d: string, arg: string, value: string, report: Report): boolean {
  if (URL_SAFE.test(value)) return true;
  report(argValue(node, arg), `@${d}(${arg}:) ${JSON.stringify(value)} is not URL-safe (use letters, digits, _ and -)`);
  return false;
}

/** Checked arguments of `@table`. */
export interface TableArgs {
  database: string;
  table?: string;
  expiration?: number;
}

/** Typed, range-checked `@table` arguments; `undefined` after reporting a problem. */
export function readTableArgs(node: DirectiveNode, values: ArgValues, report: Report): TableArgs | undefined {
  // Each value was checked against its argument's declared type in DIRECTIVES_SDL (readValue).
  const database = values.get('database') as string | undefined;
  const table = values.get('table') as string | undefined;
  const expiration = values.get('expiration') as number | undefined;
  let ok = database !== undefined && urlSafe(node, 'table', 'database', database, report);
  if (table !== undefined) ok = urlSafe(node, 'table', 'table', table, report) && ok;
  if (expiration !== undefined && expiration <= 0) {
    report(argValue(node, 'expiration'), `@table(expiration:) must be a positive number of seconds, got ${expiration}`);
    ok = false;
  }
  if (!ok || database === undefined) return undefined;
  const args: TableArgs = { database };
  if (table !== undefined) args.table = table;
  if (expiration !== undefined) args.expiration = expiration;
  return args;
}

/** Checked arguments of `@export`; `name` is absent when the type name is to be used. */
export interface ExportArgs {
  name?: string;
  rest: boolean;
  sse: boolean;
  graphql: boolean;
}

/** Typed `@export` arguments; `undefined` after reporting a problem (or when a refused argument left a gap). */
export function readExportArgs(node: DirectiveNode, values: ArgValues, report: Report): ExportArgs | undefined {
  // Checked against its declared type, String, as in readTableArgs.
  const name = values.get('name') as string | undefined;
  if (name !== undefined && !urlSafe(node, 'export', 'name', name, report)) return undefined;
  const rest = values.get('rest');
  const sse = values.get('sse');
  const graphql = values.get('graphql');
  if (typeof rest !== 'boolean' || typeof sse !== 'boolean' || typeof graphql !== 'boolean') return undefined;
  const args: ExportArgs = { rest, sse, graphql };
  if (name !== undefined) args.name = name;
  return args;
}
