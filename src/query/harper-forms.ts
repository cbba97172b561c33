/**
 * Harper's operator names, and its forms beyond one `attr<op>value` (docs/query-grammar.md › Lists, ranges and chains):
 * value lists (`=in=`, `=not_in=`, `=between=`) and range chains (`price=gt=20&lt=50`,
 * `price=gt=20&=lt=50`). Each becomes ordinary conditions, so the planner, the evaluator, filtered
 * streams and role filters need nothing new, and every value counts against `maxQueryTerms`.
 */
import type { Target } from './attributes.ts';
import { coerceValue, conditionOf, queryError } from './coerce.ts';
import { AMP, COMMA, EQ, LBRACE, LBRACKET, LPAREN, PIPE, RBRACE, RBRACKET, RPAREN } from './chars.ts';
import type { Condition, Filter, Operator } from './types.ts';

/** FIQL operator names between `=`s: ours plus Harper's spellings. */
export const FIQL_OPERATORS: ReadonlyMap<string, Operator> = new Map<string, Operator>([
  ['eq', 'eq'],
  ['equals', 'eq'],
  ['equal', 'eq'],
  ['ne', 'ne'],
  ['not_equal', 'ne'],
  ['notEqual', 'ne'],
  ['gt', 'gt'],
  ['greater_than', 'gt'],
  ['greaterThan', 'gt'],
  ['ge', 'ge'],
  ['greater_than_equal', 'ge'],
  ['greaterThanEqual', 'ge'],
  ['lt', 'lt'],
  ['less_than', 'lt'],
  ['lessThan', 'lt'],
  ['le', 'le'],
  ['less_than_equal', 'le'],
  ['lessThanEqual', 'le'],
  ['ct', 'ct'],
  ['contains', 'ct'],
  ['sw', 'sw'],
  ['starts_with', 'sw'],
  ['startsWith', 'sw'],
  ['ew', 'ew'],
  ['ends_with', 'ew'],
  ['endsWith', 'ew'],
]);

/** The list operators: each value of `in` is an `eq` (any matches), of `not_in` a `ne` (none matches). */
export const LIST_OPERATORS: ReadonlySet<string> = new Set(['in', 'not_in', 'between']);

/** `not_` forms: Harper documents `not_equal` (an alias of `ne`); `not_in` is the only other. */
export const NOT_FORMS = 'not_equal (=ne=) and not_in';

/** The raw list text of `=in=…` starting at `at`: `(a,b)` or `a,b` up to the end of the value. */
export function scanList(raw: string, at: number, inParens: boolean): { text: string; textAt: number; end: number } {
  const n = raw.length;
  if (raw.charCodeAt(at) === LPAREN) {
    const close = raw.indexOf(')', at + 1);
    if (close < 0) queryError(`unclosed '(' of a value list (no matching ')')`, at);
    const text = raw.slice(at + 1, close);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === LPAREN || c === AMP || c === PIPE || c === EQ || c === LBRACKET || c === RBRACKET || c === LBRACE || c === RBRACE) {
        queryError(`unexpected '${text[i]}' in a value list; percent-encode it`, at + 1 + i);
      }
    }
    return { text, textAt: at + 1, end: close + 1 };
  }
  let i = at;
  for (; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c === AMP || c === PIPE || c === RBRACKET || (inParens && c === RPAREN)) break;
    if (c === EQ || c === LBRACKET || c === LBRACE || c === RBRACE || c === LPAREN || c === RPAREN) {
      queryError(`unexpected '${raw[i]}' in a value list; percent-encode it`, i);
    }
  }
  return { text: raw.slice(at, i), textAt: at, end: i };
}

/**
 * The filter of `label=<list op>=<list>`: `in` → an OR of equalities, `not_in` → an AND of
 * inequalities, `between` → `ge` the first and `le` the second (both bounds included, as Harper's
 * `between`). `count` is called once per value before it is coerced (the term cap).
 */
export function listFilter(kind: string, path: readonly string[], target: Target, list: { text: string; textAt: number }, opAt: number, count: (position: number) => void): Filter {
  const label = path.join('.');
  if (list.text.length === 0) queryError(`=${kind}= on ${label} needs at least one value, e.g. ${label}=${kind}=(a,b)`, opAt);
  const values: Array<{ raw: string; at: number }> = [];
  let from = 0;
  for (let i = 0; i <= list.text.length; i++) {
    if (i < list.text.length && list.text.charCodeAt(i) !== COMMA) continue;
    values.push({ raw: list.text.slice(from, i), at: list.textAt + from });
    from = i + 1;
  }
  if (kind === 'between' && values.length !== 2) {
    queryError(`=between= on ${label} takes two values, the lower and the upper bound (both included), e.g. ${label}=between=(10,20); got ${values.length}`, opAt);
  }
  const ops: Operator[] = kind === 'between' ? ['ge', 'le'] : values.map(() => (kind === 'in' ? 'eq' : 'ne'));
  const items = values.map((v, k): Condition => {
    count(v.at);
    const op = ops[k]!;
    return conditionOf(path, op, target, coerceValue(label, target, op, v.raw, false, v.at));
  });
  if (items.length === 1) return items[0]!;
  return { type: kind === 'in' ? 'or' : 'and', items };
}

const RANGE: ReadonlyMap<string, Operator> = new Map([
  ['gt', 'gt'],
  ['ge', 'ge'],
  ['lt', 'lt'],
  ['le', 'le'],
]);

/** `gt`/`ge`/`lt`/`le` as a name: the start of Harper's documented chain `price=gt=20&lt=50`. */
export function chainOperator(name: string): Operator | undefined {
  return RANGE.get(name);
}

/**
 * Checks that `op` may continue the range begun by `prev` (Harper chains gt/ge with lt/le only) and
 * returns the path the chained condition applies to. `form`: how it was written, `&=lt=` or `lt=`.
 */
export function chainOnto(prev: Condition | undefined, op: Operator, form: string, position: number): readonly string[] {
  const lower = (o: Operator) => o === 'gt' || o === 'ge';
  const starts = lower(op) ? '=lt= or =le=' : '=gt= or =ge=';
  const hint = form.startsWith('&') ? '' : `; write ${op}==… to compare an attribute named ${op}`;
  if (!prev) queryError(`'${form}' continues a range (price=gt=20&lt=50) and must follow a ${starts} condition joined with '&'${hint}`, position);
  if (lower(prev.op) === lower(op) || !chainOperator(prev.op)) {
    queryError(`'${form}' cannot chain onto =${prev.op}=: a chain joins =gt=/=ge= with =lt=/=le=; repeat the attribute for anything else${hint}`, position);
  }
  return prev.path;
}
