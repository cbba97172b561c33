/** Small type guards shared across layers (this folder imports nothing of ours). */

/** A non-null object, whose properties can be read. */
export function isObject(v: unknown): v is { [key: string]: unknown } {
  return typeof v === 'object' && v !== null;
}
