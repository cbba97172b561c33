/**
 * The parsed form of a REST query string (Harper's grammar, SPEC §3). Produced by `parseQuery`,
 * read by the store's planner (index use), the evaluator (filters, sort, select) and filtered streams.
 */

export type Operator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le' | 'ct' | 'sw' | 'ew';

/** One comparison `attr=op=value`. */
export interface Condition {
  type: 'condition';
  /** The attribute name; dotted paths (`address.city`) are split into segments. */
  path: readonly string[];
  op: Operator;
  /**
   * The value coerced to the attribute's stored representation (see schema/model.ts FieldType).
   * For attributes the schema does not declare, the raw decoded string; the evaluator then
   * compares loosely (the string, or the number/boolean/null it spells).
   */
  value: unknown;
  /** Whether the attribute is declared in the schema (so `value` is typed). */
  typed: boolean;
}

export interface Group {
  type: 'and' | 'or';
  items: readonly Filter[];
}

export type Filter = Condition | Group;

export interface SortKey {
  path: readonly string[];
  descending: boolean;
}

export interface Query {
  /** Absent: every record. */
  filter?: Filter;
  /** `select(a,b)` → attributes kept; `select(a)` → bare values (`bare: true`). */
  select?: { attributes: readonly string[]; bare: boolean };
  /** `limit(n)` → { offset: 0, count: n }; `limit(start,end)` → { offset: start, count: end - start }. */
  limit?: { offset: number; count: number };
  sort?: readonly SortKey[];
  /** Reserved parameters, never filters: `stream`, `lastEventId`, `retained`, `access_token`. */
  reserved: { [name: string]: string };
}
