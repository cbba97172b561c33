/**
 * The parsed form of a REST query string (Harper's grammar, README › Query grammar). Produced by `parseQuery`,
 * read by the store's planner (index use), the evaluator (filters, sort, select) and filtered streams.
 */

export type Operator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le' | 'ct' | 'sw' | 'ew';

/**
 * How a typed value is represented and compared, from the attribute's FieldType (the element type
 * for lists): string = ID/String, number = Int/Long/Float, bigint = BigInt (canonical decimal string,
 * compared numerically), date = ISO-8601 string, object = a nested type compared only with null.
 */
export type ValueKind = 'string' | 'number' | 'bigint' | 'boolean' | 'date' | 'enum' | 'bytes' | 'object';

/** One comparison `attr=op=value`. */
export interface Condition {
  type: 'condition';
  /** The attribute name; dotted paths (`address.city`) are split into segments. */
  path: readonly string[];
  op: Operator;
  /**
   * The value coerced to the attribute's stored representation (see schema/model.ts FieldType).
   * For attributes the schema does not declare (or declares as `Any`), the raw decoded string; the
   * evaluator then compares loosely (the string, or the number/boolean/null it spells, see `spelled`).
   * An explicit `number:`/`boolean:`/`date:` prefix gives such attributes a typed value instead.
   */
  value: unknown;
  /** Whether the attribute is declared in the schema with a concrete type, not `Any` (so `value` is typed). */
  typed: boolean;
  /** For typed conditions: how `value` compares (the element kind for list attributes). */
  kind?: ValueKind;
  /**
   * For untyped conditions: the number, boolean or null that the raw string also spells
   * (`5`, `true`, `null`), computed once at parse time so the evaluator need not re-parse per record.
   */
  spelled?: number | boolean | null;
}

export interface Group {
  type: 'and' | 'or';
  items: readonly Filter[];
}

export type Filter = Condition | Group;

export interface SortKey {
  path: readonly string[];
  descending: boolean;
  /** For declared attributes: how values compare (BigInt decimal strings compare numerically). */
  kind?: ValueKind;
}

export interface Query {
  /** Absent: every record. */
  filter?: Filter;
  /**
   * `select(a,b)` → attributes kept; `select(a)` → bare values (`bare: true`);
   * `select(a,)` → objects with the one attribute; `select([a,b])` → arrays of values (`array: true`).
   */
  select?: { attributes: readonly string[]; bare: boolean; array?: boolean };
  /** `limit(n)` → { offset: 0, count: n }; `limit(start,end)` → { offset: start, count: end - start }. */
  limit?: { offset: number; count: number };
  sort?: readonly SortKey[];
  /** Reserved parameters, never filters: `stream`, `lastEventId`, `retained`, `access_token`. */
  reserved: { [name: string]: string };
}
