/**
 * The query calls `select(…)`, `limit(…)` and `sort(…)`: their argument lists and their meaning.
 */
import { fieldOf, type TableDef } from '../schema/model.ts';
import { resolvePath } from './attributes.ts';
import { decodeText, queryError, splitPath } from './coerce.ts';
import type { Query, SortKey } from './types.ts';
import { AMP, COMMA, EQ, LBRACE, LBRACKET, LPAREN, PERCENT, PIPE, RBRACE, RBRACKET, RPAREN } from './chars.ts';

/**
 * Parses `name(args)` starting at `start` (the name; `(` follows it) into `query`.
 * @returns the position just after the closing `)`.
 */
export function parseCall(raw: string, name: string, start: number, topLevel: boolean, def: TableDef, query: Query): number {
  if (name !== 'select' && name !== 'limit' && name !== 'sort') {
    queryError(`unknown function ${decodeText(name, start)}(); expected select(), limit() or sort()`, start);
  }
  if (!topLevel) queryError(`${name}() is only allowed at the top level, not inside a group`, start);
  if (query[name] !== undefined) queryError(`${name}() given twice`, start);
  let i = start + name.length + 1;
  // `select([a,b])`: Harper's form for rows as arrays of values.
  const array = name === 'select' && raw.charCodeAt(i) === LBRACKET;
  if (array) i++;
  const close = array ? RBRACKET : RPAREN;
  const args: string[] = [];
  const at: number[] = [];
  if (raw.charCodeAt(i) === close) i++;
  else {
    for (;;) {
      const from = i;
      let c = -1;
      for (; i < raw.length; i++) {
        c = raw.charCodeAt(i);
        if (c === COMMA || c === close) break;
        if (c === LBRACE) queryError(`nested select ${raw.slice(from, i)}{…} is not supported; select top-level attributes`, i);
        if (c === AMP || c === PIPE || c === EQ || c === LPAREN || c === RPAREN || c === LBRACKET || c === RBRACKET || c === RBRACE) {
          queryError(`unexpected '${raw[i]}' in ${name}()`, i);
        }
      }
      if (i >= raw.length) queryError(`unclosed '${array ? '[' : '('}' of ${name}()`, start);
      args.push(raw.slice(from, i));
      at.push(from);
      i++;
      if (c === close) break;
    }
  }
  if (array) {
    if (raw.charCodeAt(i) !== RPAREN) queryError(`expected ')' after ']' in select([…])`, i);
    i++;
  }
  if (name === 'limit') query.limit = parseLimit(args, at, start);
  else if (name === 'sort') query.sort = parseSort(args, at, start, def);
  else query.select = parseSelect(args, at, start, array, def);
  return i;
}

/** `limit(count)` or `limit(start,end)` (end exclusive, as in Harper). */
function parseLimit(args: string[], at: number[], start: number): NonNullable<Query['limit']> {
  if (args.length === 0 || args.length > 2) queryError(`limit() takes limit(count) or limit(start,end), got ${args.length} arguments`, start);
  const first = count(args[0]!, at[0]!);
  if (args.length === 1) return { offset: 0, count: first };
  const end = count(args[1]!, at[1]!);
  if (end < first) queryError(`limit(${first},${end}): end ${end} is before start ${first}`, at[1]!);
  return { offset: first, count: end - first };
}

/** A non-negative integer argument of limit(). */
function count(arg: string, at: number): number {
  const n = arg.length;
  let ok = n > 0 && n <= 15; // 15 digits stay exact in a double
  for (let i = 0; ok && i < n; i++) {
    const c = arg.charCodeAt(i);
    ok = c >= 48 && c <= 57;
  }
  return ok ? Number(arg) : queryError(`limit() needs non-negative integers, got '${decodeText(arg, at)}'`, at);
}

/** `sort(a)`, `sort(+a,-b)`: `-` descending, `+` or nothing ascending; paths allowed. */
function parseSort(args: string[], at: number[], start: number, def: TableDef): SortKey[] {
  if (args.length === 0) queryError('sort() needs at least one attribute', start);
  const keys: SortKey[] = [];
  for (let k = 0; k < args.length; k++) {
    let arg = args[k]!;
    let from = at[k]!;
    // Harper decodes first, so `%2B`/`%2D` give a direction as well as a literal `+`/`-`.
    const escaped = arg.charCodeAt(0) === PERCENT ? arg.slice(0, 3).toUpperCase() : '';
    const sign = escaped === '%2B' ? '+' : escaped === '%2D' ? '-' : arg.charAt(0);
    if (sign === '+' || sign === '-') {
      const width = escaped ? 3 : 1;
      arg = arg.slice(width);
      from += width;
    }
    if (arg.length === 0) queryError('expected an attribute name in sort()', from);
    keys.push(sortKeyOf(def, splitPath(arg, from), sign === '-', from));
  }
  return keys;
}

/** One sort key on a path: lists and objects have no single value to sort by. */
export function sortKeyOf(def: TableDef, path: readonly string[], descending: boolean, position?: number): SortKey {
  const target = resolvePath(def, path, position);
  if (target.typed && (target.list || target.kind === 'object')) {
    queryError(`cannot sort by ${path.join('.')} (${target.type}); sort by a single value`, position);
  }
  return target.kind !== undefined ? { path, descending, kind: target.kind } : { path, descending };
}

/** `select(a)` bare values, `select(a,b)` and `select(a,)` objects, `select([a,b])` arrays. */
function parseSelect(args: string[], at: number[], start: number, array: boolean, def: TableDef): NonNullable<Query['select']> {
  // `select(a,)`: Harper's way to ask for objects with one attribute rather than bare values.
  const trailing = !array && args.length === 2 && args[1] === '';
  if (trailing) args.pop();
  if (args.length === 0) queryError('select() needs at least one attribute', start);
  const attributes: string[] = [];
  for (let k = 0; k < args.length; k++) {
    const arg = args[k]!;
    const from = at[k]!;
    if (arg.length === 0) queryError('expected an attribute name in select()', from);
    if (arg.indexOf('.') >= 0) queryError(`select() takes top-level attribute names; ${decodeText(arg, from)} is a path`, from);
    const attribute = decodeText(arg, from);
    if (def.sealed && !fieldOf(def, attribute)) queryError(`unknown attribute ${attribute}`, from);
    attributes.push(attribute);
  }
  return array ? { attributes, bare: false, array: true } : { attributes, bare: attributes.length === 1 && !trailing };
}
