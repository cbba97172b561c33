import type { TableDef } from '../schema/model.ts';
import { parseCall } from './calls.ts';
import { resolvePath } from './attributes.ts';
import { coerceValue, conditionOf, decodeText, queryError, splitPath, tooManyTerms } from './coerce.ts';
import { chainOnto, chainOperator, FIQL_OPERATORS, LIST_OPERATORS, listFilter, NOT_FORMS, scanList } from './harper-forms.ts';
import type { Condition, Filter, Operator, Query } from './types.ts';
import { AMP, BANG, COMMA, EQ, GT, LBRACE, LBRACKET, LPAREN, LT, PIPE, RBRACE, RBRACKET, RPAREN } from './chars.ts';

/** Deepest nesting of `[ … ]`/`( … )`, so a hostile URL cannot make evaluation recurse without bound. */
export const MAX_DEPTH = 32;

/**
 * Default cap on conditions per query (`maxQueryTerms`). Each condition can become an index range
 * or a test run on every record scanned, so a query's cost grows with it; 100 is far above what a
 * hand-written or generated filter needs (an OR of 100 ids) and keeps a 12 KB URL from asking for
 * 1,000 index ranges.
 */
export const DEFAULT_MAX_QUERY_TERMS = 100;

/** Limits a query is parsed under. */
export interface ParseOptions {
  /**
   * Most conditions allowed (QUERY_TOO_COMPLEX past it). Default: no cap, for trusted text (row
   * filters from the config); the table service passes the configured cap for every request.
   */
  maxTerms?: number;
}

/** Parameters that configure the request (SSE, resume, auth) and are never filters. */
const RESERVED_PARAMETERS: ReadonlySet<string> = new Set(['stream', 'lastEventId', 'retained', 'access_token']);

/** Characters that end an attribute name: operators, connectives, brackets, commas. */
function endsName(c: number): boolean {
  return c === EQ || c === BANG || c === LT || c === GT || c === AMP || c === PIPE || c === COMMA || c === LPAREN || c === RPAREN || c === LBRACKET || c === RBRACKET || c === LBRACE || c === RBRACE;
}

/** `<` or `>` when `raw` holds `%3C`/`%3E` (either case) at `i`, else 0. */
function escapedAngle(raw: string, i: number): number {
  if (raw.charCodeAt(i) !== 37 /* % */ || raw.charCodeAt(i + 1) !== 51 /* 3 */) return 0;
  const d = raw.charCodeAt(i + 2) | 32;
  return d === 99 /* c */ ? LT : d === 101 /* e */ ? GT : 0;
}

function isIdentifier(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}

/** One open group (the top level is a group without a closer). */
interface Frame {
  closer: number;
  open: number;
  items: Filter[];
  op: 'and' | 'or' | undefined;
  /** Connectives seen since the last filter item: bit 1 `&`, bit 2 `|`. */
  conns: number;
  connPos: number;
}

function frame(closer: number, open: number): Frame {
  return { closer, open, items: [], op: undefined, conns: 0, connPos: -1 };
}

/**
 * Parses the raw query string (after `?`, still percent-encoded) against a table definition.
 * @throws AppError QUERY_INVALID naming the problem and its 0-based position in `raw`.
 * @example parseQuery('rating=gt=3&[tag=a|tag=b]&sort(-rating)&limit(10)', def)
 */
export function parseQuery(raw: string, def: TableDef, options: ParseOptions = {}): Query {
  const query: Query = { reserved: {} };
  if (raw.length > 0) new Parser(raw, def, query, options.maxTerms ?? Infinity).run();
  return query;
}

class Parser {
  private pos = 0;
  private terms = 0;
  /** The condition the previous item of the current group added, which a range chain continues. */
  private last: Condition | undefined;

  constructor(
    private readonly raw: string,
    private readonly def: TableDef,
    private readonly query: Query,
    private readonly maxTerms: number,
  ) {}

  run(): void {
    const raw = this.raw;
    const stack: Frame[] = [frame(0, 0)];
    let top = stack[0]!;
    let expectItem = true;
    let afterConn = -1; // position of a connective still waiting for its right-hand item
    while (this.pos < raw.length) {
      const at = this.pos;
      const c = raw.charCodeAt(at);
      if (expectItem) {
        if (c === LBRACKET || c === LPAREN) {
          if (stack.length > MAX_DEPTH) queryError(`groups nested deeper than ${MAX_DEPTH}`, at);
          stack.push((top = frame(c === LBRACKET ? RBRACKET : RPAREN, at)));
          this.pos++;
          afterConn = -1;
          this.last = undefined;
        } else if (c === AMP || c === PIPE) {
          queryError(`expected a condition before '${raw[at]}'`, at);
        } else if (c === RBRACKET || c === RPAREN) {
          if (afterConn >= 0) queryError(`dangling '${raw[afterConn]}': expected a condition after it`, afterConn);
          if (stack.length > 1) queryError(`empty group '${raw[top.open]}${raw[at]}'`, top.open);
          queryError(`unexpected '${raw[at]}' with no group open`, at);
        } else {
          this.item(top, stack.length === 1, afterConn >= 0 ? raw.charCodeAt(afterConn) : 0);
          expectItem = false;
          afterConn = -1;
        }
      } else if (c === AMP || c === PIPE) {
        top.conns |= c === AMP ? 1 : 2;
        top.connPos = afterConn = at;
        this.pos++;
        expectItem = true;
      } else if (c === RBRACKET || c === RPAREN) {
        if (stack.length === 1) queryError(`unexpected '${raw[at]}' with no group open`, at);
        if (c !== top.closer) {
          queryError(`expected '${String.fromCharCode(top.closer)}' to close '${raw[top.open]}' from position ${top.open}, found '${raw[at]}'`, at);
        }
        stack.pop();
        const group = build(top)!;
        top = stack[stack.length - 1]!;
        add(top, group);
        this.pos++;
        this.last = undefined;
      } else {
        queryError(`unexpected '${raw[at]}' after a condition; expected '&', '|' or the end`, at);
      }
    }
    if (afterConn >= 0) queryError(`dangling '${raw[afterConn]}': expected a condition after it`, afterConn);
    if (stack.length > 1) queryError(`unclosed '${raw[top.open]}' (no matching '${String.fromCharCode(top.closer)}')`, top.open);
    const filter = build(top);
    if (filter) this.query.filter = filter;
  }

  /** One `attr<op>value`, reserved `name=value` or `call(...)`, at this.pos; `joined`: the `&` or `|` before it, or 0. */
  private item(top: Frame, topLevel: boolean, joined: number): void {
    const last = this.last;
    this.last = undefined;
    const raw = this.raw;
    const n = raw.length;
    const start = this.pos;
    let i = start;
    while (i < n && !endsName(raw.charCodeAt(i)) && escapedAngle(raw, i) === 0) i++;
    const name = raw.slice(start, i);
    // fetch(), undici and browsers percent-encode `<` and `>` in a query (WHATWG URL), so
    // `?price>10` arrives as `price%3E10`; without this, Harper's `>` forms worked from curl only.
    const angle = escapedAngle(raw, i);
    const width = angle === 0 ? 1 : 3;
    const c = angle !== 0 ? angle : i < n ? raw.charCodeAt(i) : -1;
    if (c === LPAREN) {
      this.pos = parseCall(raw, name, start, topLevel, this.def, this.query);
      return;
    }
    // Harper's own chain form `price=gt=20&=lt=50`: no name, the previous condition's attribute.
    let chained: readonly string[] | undefined;
    if (i === start && c === EQ && joined !== 0) {
      if (joined === PIPE) queryError(`'|=' chains are not supported; repeat the attribute (a=1|a=2)`, start - 1);
      let j = i + 1;
      while (j < n && isIdentifier(raw.charCodeAt(j))) j++;
      const range = raw.charCodeAt(j) === EQ ? chainOperator(raw.slice(i + 1, j)) : undefined;
      if (!range) queryError(`'&=' chains a range operator onto the previous condition: &=lt=, &=le=, &=gt= or &=ge=`, start);
      chained = chainOnto(last, range, `&=${range}=`, start);
      i = j;
    }
    if (i === start && !chained) queryError(`expected an attribute name before '${raw[i]}'`, start);

    let op: Operator = 'eq';
    let list: string | undefined;
    let strict = false;
    let wildcard = false;
    let plain = false; // exactly `=`: the only form a reserved parameter takes
    const opAt = i;
    if (chained) {
      op = chainOperator(raw.slice(start + 1, i))!;
      i++;
    } else if (c === EQ) {
      if (raw.charCodeAt(i + 1) === EQ) {
        op = 'eq';
        strict = raw.charCodeAt(i + 2) === EQ;
        wildcard = !strict;
        i += strict ? 3 : 2;
      } else {
        let j = ++i;
        while (j < n && isIdentifier(raw.charCodeAt(j))) j++;
        if (j > i && raw.charCodeAt(j) === EQ) {
          const fiql = raw.slice(i, j);
          if (LIST_OPERATORS.has(fiql)) list = fiql;
          else if (fiql.startsWith('not_') && !FIQL_OPERATORS.has(fiql)) queryError(`unknown operator =${fiql}=; the not_ forms are ${NOT_FORMS}`, opAt);
          else op = FIQL_OPERATORS.get(fiql) ?? queryError(`unknown operator =${fiql}=; expected one of =eq= =ne= =gt= =ge= =lt= =le= =ct= =sw= =ew= =in= =not_in= =between=`, opAt);
          wildcard = op === 'eq' && !list;
          i = j + 1;
        } else {
          op = 'eq';
          plain = true;
        }
      }
    } else if (c === BANG && raw.charCodeAt(i + 1) === EQ) {
      op = 'ne';
      strict = raw.charCodeAt(i + 2) === EQ;
      i += strict ? 3 : 2;
    } else if (c === LT || c === GT) {
      const inclusive = raw.charCodeAt(i + width) === EQ;
      op = c === LT ? (inclusive ? 'le' : 'lt') : inclusive ? 'ge' : 'gt';
      i += width + (inclusive ? 1 : 0);
    } else {
      const found = c === -1 ? 'the end' : `'${raw[i]}'`;
      queryError(`expected an operator such as = after '${decodeText(name, start)}', found ${found}`, i);
    }

    // Harper's documented chain `price=gt=20&lt=50`: a range name where an attribute would be.
    const range = plain ? chainOperator(name) : undefined;
    if (range) {
      const declared = this.def.fields.some((f) => f.name === name);
      const after = joined === AMP && last && chainOperator(last.op) ? last : undefined;
      if (declared && after) queryError(`'${name}=' is both an attribute and Harper's range chain; write ${name}==… for the attribute or &=${name}=… for the chain`, start);
      if (!declared) {
        chained = chainOnto(joined === AMP ? last : undefined, range, `${name}=`, start);
        op = range;
        plain = false;
      }
    }

    const valueAt = i;
    const inParens = top.closer === RPAREN;
    if (list) {
      if (RESERVED_PARAMETERS.has(name)) queryError(`reserved parameter ${name} takes the form ${name}=value`, opAt);
      const path = splitPath(name, start);
      const target = resolvePath(this.def, path, start);
      const scanned = scanList(raw, valueAt, inParens);
      this.pos = scanned.end;
      add(
        top,
        listFilter(list, path, target, scanned, opAt, (at) => {
          if (++this.terms > this.maxTerms) tooManyTerms(this.maxTerms, at);
        }),
      );
      return;
    }
    for (; i < n; i++) {
      const v = raw.charCodeAt(i);
      if (v === AMP || v === PIPE || v === RBRACKET || (inParens && v === RPAREN)) break;
      if (v === EQ || v === LBRACKET || v === LBRACE || v === RBRACE) {
        queryError(`unexpected '${raw[i]}' in the value of ${decodeText(name, start)}; percent-encode it`, i);
      }
    }
    this.pos = i;
    let value = raw.slice(valueAt, i);

    if (RESERVED_PARAMETERS.has(name) && !chained) {
      if (!topLevel) queryError(`reserved parameter ${name} is only allowed at the top level, not inside a group`, start);
      if (!plain) queryError(`reserved parameter ${name} takes the form ${name}=value`, opAt);
      if (this.query.reserved[name] !== undefined) queryError(`reserved parameter ${name} given twice`, start);
      this.query.reserved[name] = decodeText(value, valueAt);
      return;
    }

    // Counted before any coercion, so a hostile URL stops at its first condition past the cap.
    if (++this.terms > this.maxTerms) tooManyTerms(this.maxTerms, start);
    const path = chained ?? splitPath(name, start);
    const label = path.join('.');
    const target = resolvePath(this.def, path, start);
    if (wildcard) {
      const star = value.indexOf('*');
      if (star >= 0) {
        if (star !== value.length - 1) queryError(`a wildcard * is only allowed at the end of the value (write %2A for a literal *)`, valueAt + star);
        op = 'sw';
        value = value.slice(0, -1);
      }
    }
    const condition = conditionOf(path, op, target, coerceValue(label, target, op, value, strict, valueAt));
    add(top, condition);
    this.last = condition;
  }
}

/** Adds a filter item to a group, checking that `&` and `|` are not mixed within it. */
function add(top: Frame, item: Filter): void {
  if (top.items.length > 0) {
    const op = top.conns === 1 ? 'and' : 'or';
    if (top.conns === 3 || (top.op !== undefined && top.op !== op)) {
      queryError(`cannot mix '&' and '|' in one group; group with [ ] to say which comes first (e.g. a=1&[b=2|c=3])`, top.connPos);
    }
    top.op = op;
  }
  top.conns = 0;
  top.items.push(item);
}

/** A group's filter: one item stands alone; nested groups of the same kind are flattened. */
function build(top: Frame): Filter | undefined {
  const items = top.items;
  if (items.length <= 1) return items[0];
  const type = top.op as 'and' | 'or';
  const flat: Filter[] = [];
  for (const item of items) {
    if (item.type === type) flat.push(...item.items);
    else flat.push(item);
  }
  return { type, items: flat };
}
