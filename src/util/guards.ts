/** Small type guards shared across layers (this folder imports nothing of ours). */

/** A non-null object, whose properties can be read. */
export function isObject(v: unknown): v is { [key: string]: unknown } {
  return typeof v === 'object' && v !== null;
}

/** What a caught value says: an Error's message, or the value as text (TypeScript types catches as unknown). */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The `code` of a caught error (`ENOENT`, `EADDRINUSE`, `ERR_PARSE_ARGS_…`), or undefined. */
export function codeOf(err: unknown): unknown {
  return err instanceof Error && 'code' in err ? err.code : undefined;
}
