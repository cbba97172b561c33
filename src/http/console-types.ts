/**
 * The shape of `GET /console/schema.json`: written by the server (console-schema.ts) and read by the
 * console's page (console/schema.ts), one declaration for both. It imports nothing, so the page's
 * browser-only type-check (`tsc -p console`) can take it as it is.
 */

/** One attribute of a table. */
export interface FieldInfo {
  name: string;
  /** The SDL type as written: `String`, `[Int!]`, an enum's or nested type's name. */
  type: string;
  required: boolean;
  primaryKey: boolean;
  indexed: boolean;
}

/** One table the caller may read. */
export interface TableInfo {
  database: string;
  /** The exported name: the URL is `/{database}/{name}`. */
  name: string;
  path: string;
  primaryKey: string;
  sealed: boolean;
  /** Exported to Server-Sent Events (the live panel needs it). */
  sse: boolean;
  /** Seconds after its last write that a record expires, when set. */
  expiration?: number;
  fields: FieldInfo[];
  /** The actions the caller may take (`read`, `insert`, `update`, `delete`, `publish`; some perhaps only on matching records). */
  allowed: string[];
}
