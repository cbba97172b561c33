/**
 * `tablecast import`: NDJSON lines into one table, through the same validation and write path as a
 * REST create (`TableService.importIntent` and `apply`), in transactions of `batch` lines. Each
 * transaction also records how far the file is imported (line and byte offset, store marks), so a
 * run that stopped (a bad line, a kill) is resumed exactly after its last commit: no line twice,
 * none lost, keyless lines included.
 */
import { AppError } from '../errors.ts';
import type { Key } from '../schema/model.ts';
import type { Store } from '../store/store.ts';
import type { CreateIntent, PutIntent } from './intents.ts';
import type { TableService } from './table-service.ts';

export interface ImportOptions {
  /** Names the import in the store's marks: the file's absolute path. */
  source: string;
  /** Lines per transaction (1000). */
  batch?: number;
  /**
   * The longest line taken, in bytes (the server's `bodyLimit`): a longer one is a bad line
   * (PAYLOAD_TOO_LARGE), whose bytes are skipped, never held.
   */
  maxLineBytes: number;
  /** A line whose key exists: stop (`fail`, default), leave the stored record (`skip`), or replace it. */
  onConflict?: 'fail' | 'skip' | 'replace';
  /** Report invalid lines through `onInvalid` and go on, instead of stopping at the first. */
  skipInvalid?: boolean;
  /** Go on after the last line an earlier run of this import committed. */
  resume?: boolean;
  onProgress?: (progress: ImportProgress) => void;
  onInvalid?: (line: number, message: string) => void;
}

export interface ImportProgress {
  /** The last line read (1-based), and the bytes of the file up to its end. */
  line: number;
  bytes: number;
  imported: number;
  skipped: number;
}

export interface ImportResult extends ImportProgress {
  /** The line an earlier run had committed through (0: started from the top). */
  resumedAfter: number;
}

/** Where an unfinished import of `source` into a table stands, if one does. */
export function importMark(store: Store, service: TableService, source: string): { line: number; offset: number } | undefined {
  const name = markName(service, source);
  const line = store.mark(`${name}:line`);
  const offset = store.mark(`${name}:offset`);
  return line === undefined || offset === undefined ? undefined : { line, offset };
}

const markName = (service: TableService, source: string) => `import:${service.handle.id}:${source}`;

const NEWLINE = 0x0a;

/**
 * Imports the lines that `open(offset)` yields (the file's bytes from `offset` on).
 * @throws AppError naming the line (`line 12: title: …`) and how far the import is committed
 */
export async function importNdjson(store: Store, service: TableService, open: (offset: number) => AsyncIterable<Buffer>, options: ImportOptions): Promise<ImportResult> {
  const size = options.batch ?? 1000;
  const replace = options.onConflict === 'replace';
  const name = markName(service, options.source);
  const from = options.resume ? importMark(store, service, options.source) : undefined;
  const state: ImportProgress = { line: from?.line ?? 0, bytes: from?.offset ?? 0, imported: 0, skipped: 0 };
  let committedLine = state.line;
  let pending: Array<{ line: number; intent: CreateIntent | PutIntent }> = [];
  const keys = new Set<Key>();

  const commit = async (done: boolean) => {
    const batch = pending;
    pending = [];
    keys.clear();
    const marks: Array<[string, number | null]> = done
      ? [
          [`${name}:line`, null],
          [`${name}:offset`, null],
        ]
      : [
          [`${name}:line`, state.line],
          [`${name}:offset`, state.bytes],
        ];
    const counts = await store.transact(
      (tx) => {
        let imported = 0;
        let skipped = 0;
        for (const { line, intent } of batch) {
          try {
            service.apply(tx, intent);
            imported++;
          } catch (err) {
            // apply refuses before it buffers anything, so the line is left out cleanly.
            const code = err instanceof AppError ? err.code : undefined;
            if (code === 'CONFLICT' && options.onConflict === 'skip') skipped++;
            else if (code === 'VALIDATION_FAILED' && options.skipInvalid) {
              skipped++;
              options.onInvalid?.(line, (err as AppError).message);
            } else throw lineError(line, err, committedLine);
          }
        }
        return { imported, skipped };
      },
      { marks },
    );
    state.imported += counts.imported;
    state.skipped += counts.skipped;
    committedLine = state.line;
    options.onProgress?.({ ...state });
  };

  // A bad line stops the import (after committing the valid lines before it: a resume starts at
  // it), or with `skipInvalid` is counted and reported.
  const refuse = async (line: number, err: unknown) => {
    if (!options.skipInvalid) {
      await commit(false);
      throw lineError(line, err, committedLine);
    }
    state.skipped++;
    options.onInvalid?.(line, err instanceof Error ? err.message : String(err));
  };
  const tooLong = () => new AppError('PAYLOAD_TOO_LARGE', `longer than ${options.maxLineBytes} bytes (the body limit)`);

  // `state` counts a line once it is in `pending` (or skipped): the marks a commit records then
  // name the last line and byte it holds. `text` undefined: a line longer than maxLineBytes.
  const take = async (text: string | undefined, lineEnd: number) => {
    const line = state.line + 1;
    let intent: CreateIntent | PutIntent | undefined;
    if (text === undefined) await refuse(line, tooLong());
    else if (text.trim() !== '') {
      try {
        intent = service.importIntent(parseLine(text), replace);
      } catch (err) {
        await refuse(line, err);
      }
    }
    // Writes are buffered until commit: a key twice in one batch would be read as absent twice.
    if (intent?.key !== undefined && keys.has(intent.key)) await commit(false);
    if (intent) {
      pending.push({ line, intent });
      if (intent.key !== undefined) keys.add(intent.key);
    }
    state.line = line;
    state.bytes = lineEnd;
    if (pending.length >= size) await commit(false);
  };

  // The current line: its bytes so far (`lineBytes`), held in `parts` until it is known too long.
  let parts: Buffer[] = [];
  let lineBytes = 0;
  let tooLarge = false;
  let offset = state.bytes;
  const text = () => (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('utf8');
  for await (const chunk of open(offset)) {
    for (let start = 0; ; ) {
      const nl = chunk.indexOf(NEWLINE, start);
      const part = chunk.subarray(start, nl < 0 ? chunk.length : nl);
      lineBytes += part.length;
      if (!tooLarge && lineBytes > options.maxLineBytes) {
        // Without skipInvalid this throws: no need to read the rest of the line.
        if (!options.skipInvalid) await refuse(state.line + 1, tooLong());
        tooLarge = true;
        parts = [];
      }
      if (!tooLarge && part.length > 0) parts.push(part);
      if (nl < 0) break;
      offset += lineBytes + 1;
      await take(tooLarge ? undefined : text().replace(/\r$/, ''), offset);
      parts = [];
      lineBytes = 0;
      tooLarge = false;
      start = nl + 1;
    }
  }
  if (lineBytes > 0) await take(tooLarge ? undefined : text(), offset + lineBytes);
  await commit(true);
  return { ...state, resumedAfter: from?.line ?? 0 };
}

function parseLine(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AppError('INVALID_JSON', `not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The error of line `line`, saying how far the import is committed. */
function lineError(line: number, err: unknown, committed: number): AppError {
  const e = err instanceof AppError ? err : new AppError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
  const through = committed > 0 ? `lines 1–${committed} are imported; fix the line and add --resume to go on from line ${committed + 1}` : 'nothing was imported';
  return new AppError(e.code, `line ${line}: ${e.message} (${through})`, { ...(e.details !== undefined ? { details: e.details } : {}), cause: e });
}
