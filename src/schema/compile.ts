/**
 * Compiles checked SDL object types into fields and tables: directives on types and fields, primary
 * keys, indexes, server-set timestamps, and the duplicate checks across tables.
 */
import type { DirectiveNode, FieldDefinitionNode, ObjectTypeDefinitionNode } from 'graphql';
import type { ExportDef, FieldDef, FieldType, TableDef } from './model.ts';
import { readDirective, readExportArgs, readTableArgs, type ArgValues, type DirectiveLocation } from './directives.ts';
import { formatLocation, locationOf, type Problems } from './problems.ts';
import { notIndexable, resolveType, typeText, type NamedTarget } from './types.ts';

/** What field compilation needs from the rest of the compiler. */
export interface CompileContext {
  problems: Problems;
  lookup: (name: string) => NamedTarget | undefined;
  /** A file failed to parse: unknown types may live there, so they are not reported. */
  quietUnknown: boolean;
}

interface Written {
  node: DirectiveNode;
  values: ArgValues;
  /** False when one of its arguments was refused (already reported). */
  ok: boolean;
}

/** Reads the directives on a type or field; unknown, misplaced and repeated ones are reported and left out. */
function directivesOf(nodes: readonly DirectiveNode[] | undefined, where: DirectiveLocation, owner: string, problems: Problems): Map<string, Written> {
  const found = new Map<string, Written>();
  for (const node of nodes ?? []) {
    const name = node.name.value;
    if (found.has(name)) {
      problems.at(node, `@${name} is repeated on ${owner}`);
      continue;
    }
    const read = readDirective(node, where, owner, (n, m) => problems.at(n, m));
    if (read) found.set(name, { node, values: read.values, ok: read.ok });
  }
  return found;
}

const TABLE_ONLY = ['primaryKey', 'indexed', 'createdTime', 'updatedTime'] as const;
const TIME_TYPES: ReadonlySet<string> = new Set(['Long', 'Float', 'Date', 'String']);
const KEY_TYPES: ReadonlySet<string> = new Set(['ID', 'String', 'Int', 'Long']);

/** Fields of an object type. `complete` is false when a field was dropped because its type did not resolve. */
export function compileFields(node: ObjectTypeDefinitionNode, isTable: boolean, ctx: CompileContext): { fields: FieldDef[]; complete: boolean } {
  const typeName = node.name.value;
  const fields: FieldDef[] = [];
  const names = new Set<string>();
  let complete = true;
  for (const f of node.fields ?? []) {
    const name = f.name.value;
    const owner = `${typeName}.${name}`;
    if (name.startsWith('__')) {
      ctx.problems.at(f.name, `field name ${owner} is reserved: names starting with __ belong to GraphQL`);
      continue;
    }
    if (names.has(name)) {
      ctx.problems.at(f.name, `type ${typeName} declares field ${name} twice`);
      continue;
    }
    names.add(name);
    const field = compileField(f, owner, typeName, isTable, ctx);
    if (field) fields.push(field);
    else complete = false;
  }
  return { fields, complete };
}

function compileField(f: FieldDefinitionNode, owner: string, typeName: string, isTable: boolean, ctx: CompileContext): FieldDef | undefined {
  const { problems } = ctx;
  const first = f.arguments?.[0];
  if (first) problems.at(first, `field ${owner} has arguments; field arguments are not supported`);
  const dirs = directivesOf(f.directives, 'FIELD_DEFINITION', `field ${owner}`, problems);
  if (!isTable) {
    for (const d of TABLE_ONLY) {
      const w = dirs.get(d);
      if (w) problems.at(w.node, `@${d} is only allowed on fields of @table types (${typeName} is a nested type)`);
      dirs.delete(d);
    }
  }
  const resolved = resolveType(f.type, owner, ctx.lookup, (n, m) => problems.at(n, m), ctx.quietUnknown);
  if (!resolved) return undefined;
  const { type, required } = resolved;
  const indexed = dirs.get('indexed');
  const why = indexed && notIndexable(type);
  if (indexed && why) problems.at(indexed.node, `@indexed field ${owner} is not indexable: ${why}`);
  for (const d of ['createdTime', 'updatedTime'] as const) {
    const w = dirs.get(d);
    if (w && !timeTypeOk(type)) {
      const hint = type.kind === 'scalar' && type.name === 'Int' ? ' (epoch milliseconds do not fit in a 32-bit Int; use Long)' : '';
      problems.at(w.node, `@${d} field ${owner} must be Long, Float, Date or String, not ${typeText(type)}${hint}`);
    }
  }
  if (dirs.has('createdTime') && dirs.has('updatedTime')) {
    problems.at(dirs.get('updatedTime')!.node, `field ${owner} cannot be both @createdTime and @updatedTime`);
  }
  return {
    name: f.name.value,
    type,
    required,
    primaryKey: dirs.has('primaryKey'),
    indexed: indexed !== undefined && why === undefined,
    createdTime: dirs.has('createdTime'),
    updatedTime: dirs.has('updatedTime'),
    loc: locationOf(f.name),
  };
}

function timeTypeOk(t: FieldType): boolean {
  return t.kind === 'scalar' && TIME_TYPES.has(t.name);
}

const COUNT = ['no', 'one', 'two', 'three'];

/** Tables already seen, to report two types claiming the same table or URL. */
export interface Claims {
  tables: Map<string, TableDef>;
  exports: Map<string, TableDef>;
}

/** Compiles a `@table` type; `undefined` when it is too broken to describe (problems are reported). */
export function compileTable(node: ObjectTypeDefinitionNode, ctx: CompileContext, claims: Claims): TableDef | undefined {
  const { problems } = ctx;
  const typeName = node.name.value;
  const dirs = directivesOf(node.directives, 'OBJECT', `type ${typeName}`, problems);
  const { fields, complete } = compileFields(node, true, ctx);
  const tableDir = dirs.get('table');
  const args = tableDir && readTableArgs(tableDir.node, tableDir.values, (n, m) => problems.at(n, m));
  const exportDir = dirs.get('export');
  const exportArgs = exportDir && readExportArgs(exportDir.node, exportDir.values, (n, m) => problems.at(n, m));
  const primaryKey = findPrimaryKey(typeName, node, fields, complete, ctx);
  for (const d of ['createdTime', 'updatedTime'] as const) {
    const marked = fields.filter((f) => f[d]);
    const second = marked[1];
    if (second) problems.atLocation(second.loc, `type ${typeName} has ${COUNT[marked.length] ?? marked.length} @${d} fields (${marked.map((f) => f.name).join(', ')}); one is enough`);
  }
  if (!tableDir?.ok || !args || (exportDir && (!exportDir.ok || !exportArgs)) || !primaryKey) return undefined;

  const def: TableDef = {
    typeName,
    database: args.database,
    table: args.table ?? typeName,
    sealed: dirs.has('sealed'),
    fields,
    primaryKey,
    loc: locationOf(node.name),
  };
  if (args.expiration !== undefined) def.expiration = args.expiration;
  if (exportArgs) {
    const ex: ExportDef = { name: exportArgs.name ?? typeName, rest: exportArgs.rest, sse: exportArgs.sse, graphql: exportArgs.graphql };
    def.export = ex;
  }
  const tableKey = `${def.database}/${def.table}`;
  const sameTable = claims.tables.get(tableKey);
  if (sameTable) {
    problems.at(node.name, `duplicate table ${def.database}.${def.table}: also declared by type ${sameTable.typeName} at ${formatLocation(sameTable.loc)}`);
  } else claims.tables.set(tableKey, def);
  if (def.export) {
    const exportKey = `${def.database}/${def.export.name}`;
    const sameExport = claims.exports.get(exportKey);
    if (sameExport) {
      problems.at(node.name, `duplicate export /${exportKey}: also used by type ${sameExport.typeName} at ${formatLocation(sameExport.loc)}`);
    } else claims.exports.set(exportKey, def);
  }
  return def;
}

function findPrimaryKey(typeName: string, node: ObjectTypeDefinitionNode, fields: FieldDef[], complete: boolean, ctx: CompileContext): string | undefined {
  const { problems } = ctx;
  const marked = fields.filter((f) => f.primaryKey);
  if (marked.length > 1) {
    const second = marked[1]!;
    problems.atLocation(second.loc, `type ${typeName} has ${COUNT[marked.length] ?? marked.length} primary keys (${marked.map((f) => f.name).join(', ')})`);
    return undefined;
  }
  let key = marked[0];
  if (!key) {
    const id = fields.find((f) => f.name === 'id');
    if (id) {
      id.primaryKey = true;
      key = id;
    } else {
      // A field that failed to resolve may have been the key; its own problem is reported already.
      if (complete) problems.at(node.name, `type ${typeName} has no primary key: mark a field @primaryKey or declare a field named id`);
      return undefined;
    }
  }
  const t = key.type;
  if (t.kind !== 'scalar' || !KEY_TYPES.has(t.name)) {
    const what = t.kind === 'enum' || t.kind === 'object' ? `${t.name} (${t.kind === 'enum' ? 'an enum' : 'a nested type'})` : typeText(t);
    problems.atLocation(key.loc, `primary key ${typeName}.${key.name} must be ID, String, Int or Long, not ${what}`);
    return undefined;
  }
  if (key.createdTime || key.updatedTime) {
    problems.atLocation(key.loc, `primary key ${typeName}.${key.name} cannot be set by the server (@${key.createdTime ? 'createdTime' : 'updatedTime'})`);
    return undefined;
  }
  return key.name;
}

/** The `@sealed` flag and the checks on a nested (non-table) object type's own directives. */
export function nestedTypeSealed(node: ObjectTypeDefinitionNode, problems: Problems): boolean {
  const typeName = node.name.value;
  const dirs = directivesOf(node.directives, 'OBJECT', `type ${typeName}`, problems);
  const ex = dirs.get('export');
  if (ex) problems.at(ex.node, `@export on type ${typeName} needs @table: only tables can be exported`);
  return dirs.has('sealed');
}
