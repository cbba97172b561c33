/**
 * The shapes of the console's JSON routes (`/console/schema.json`, `/console/actions.json`): written
 * by the server (console-schema.ts) and read by the console's page (console/), one declaration for
 * both. It imports nothing, so the page's browser-only type-check (`tsc -p console`) can take it as
 * it is.
 */

/** One attribute of a table. */
export interface FieldInfo {
  name: string;
  /** The SDL type as written: `String`, `[Int!]`, an enum's or nested type's name. */
  type: string;
  /** `scalar` (`type` is its name), `enum` (`values` lists it), `object` or `list` (edited as JSON). */
  kind: 'scalar' | 'enum' | 'object' | 'list';
  /** An enum's values. */
  values?: string[];
  required: boolean;
  primaryKey: boolean;
  indexed: boolean;
  /** Set by the server (`@createdTime`, `@updatedTime`): not written by clients. */
  auto: boolean;
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
  /** The actions the caller may take (`read`, `insert`, `update`, `delete`, `publish`). */
  allowed: string[];
  /** Those of `allowed` granted on matching records only (a role's row filter): ask `/console/actions.json` per record. */
  limited: string[];
}

/** Who the page runs as. */
export interface SessionInfo {
  /** Null: anonymous. */
  user: string | null;
  roles: string[];
  /** How the caller proved who they are (`cookie` after the page's login form). */
  via: string;
  /** Auth is configured: the page offers its login form. */
  auth: boolean;
  /** May read `/admin/connections` and `/metrics`. */
  admin: boolean;
}

/** `GET /console/schema.json`. */
export interface ConsoleSchema {
  session: SessionInfo;
  tables: TableInfo[];
}

/** `GET /console/actions.json?table=/db/name&key=…`: per key asked, the actions of `limited` the caller may take on that record (a record it may not read, or absent, is left out). */
export interface ConsoleActions {
  actions: { [key: string]: string[] };
}
