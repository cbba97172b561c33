/**
 * Primary keys: parsing them from URLs and bodies, generating them, and ordering them exactly as
 * LMDB does (numbers numerically, strings by UTF-8 bytes, which is code-point order).
 */
import { randomFillSync } from 'node:crypto';
import { AppError } from '../errors.ts';
import { hasNumericKey, primaryKeyField, type Key, type TableDef } from '../schema/model.ts';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** An unpaired UTF-16 surrogate (with the `u` flag, pairs are one code point and do not match). */
const LONE_SURROGATE = /\p{Cs}/u;

/** Longest accepted string key: its index entries must fit LMDB's ~2 KB key limit. */
const MAX_KEY_LENGTH = 255;

/**
 * Bytes in one LMDB key: lmdb-js's limit for the default 4 KiB page (its `maxKeySize`). A record's
 * key is also the value of its dupSort index entries, which LMDB limits the same way.
 */
const LMDB_MAX_KEY_BYTES = 1978;

/** What ordered-binary adds around the strings of a key: type bytes, separators, a float. */
const KEY_OVERHEAD = 16;

/**
 * Throws `VALIDATION_FAILED` unless a string key fits every LMDB key it becomes: the record's own,
 * its index entries', and, `alongside` the bytes of the other parts, its expiry-queue key. The
 * store checks this before a write applies anything, for callers that bypass {@link toKey} (the
 * programmatic store); otherwise lmdb-js throws in the middle of applying the write.
 * @example assertKeyFits(def, 'x'.repeat(3000)) // throws: id is 3000 bytes long …
 */
export function assertKeyFits(def: TableDef, key: Key, alongside = 0): void {
  if (typeof key !== 'string') return;
  const room = LMDB_MAX_KEY_BYTES - KEY_OVERHEAD - alongside;
  // UTF-8 needs at most 3 bytes per UTF-16 unit: most keys are settled without encoding them.
  if (key.length * 3 <= room) return;
  const bytes = Buffer.byteLength(key);
  if (bytes <= room) return;
  throw new AppError('VALIDATION_FAILED', `${def.primaryKey} is ${bytes} bytes long; a key of this table holds at most ${room} bytes`, {
    details: [{ path: def.primaryKey, message: `at most ${room} bytes (UTF-8)` }],
  });
}

/**
 * Turns a key from a URL segment or a body into the table's key type, or throws `VALIDATION_FAILED`.
 * @example toKey(def, '42') // 42 for an Int key, '42' for an ID key
 */
export function toKey(def: TableDef, raw: unknown): Key {
  if (hasNumericKey(def)) {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d{1,16}$/.test(raw) ? Number(raw) : NaN;
    // An Int key must fit 32 bits like any Int: `PUT /shop/order/3000000000` stored a record its own
    // schema refuses (every later PATCH failed), and generated keys then carried on past the range.
    const type = primaryKeyField(def).type;
    const int32 = type.kind === 'scalar' && type.name === 'Int';
    if (!Number.isSafeInteger(n) || (int32 && (n < INT32_MIN || n > INT32_MAX))) {
      const what = int32 ? 'a 32-bit integer (Int)' : 'an integer';
      throw new AppError('VALIDATION_FAILED', `${def.primaryKey} must be ${what}, got ${JSON.stringify(String(raw)).slice(0, 80)}`, {
        details: [{ path: def.primaryKey, message: `must be ${what}` }],
      });
    }
    // -0 would be a different LMDB key from 0 (ordered-binary keeps the sign), yet "-0" and 0 name one record.
    return n + 0;
  }
  const s = typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : raw;
  if (typeof s !== 'string' || s.length === 0) {
    throw new AppError('VALIDATION_FAILED', `${def.primaryKey} must be a non-empty string`, {
      details: [{ path: def.primaryKey, message: 'must be a non-empty string' }],
    });
  }
  // A lone surrogate is not Unicode: LMDB stored it as U+FFFD (another key than the one answered)
  // and `encodeURIComponent` threw building the Location header, a 500 after the write committed.
  if (LONE_SURROGATE.test(s)) {
    throw new AppError('VALIDATION_FAILED', `${def.primaryKey} is not valid Unicode (it holds a lone surrogate)`, {
      details: [{ path: def.primaryKey, message: 'must be valid Unicode' }],
    });
  }
  if (s.length > MAX_KEY_LENGTH) {
    throw new AppError('VALIDATION_FAILED', `${def.primaryKey} is longer than ${MAX_KEY_LENGTH} characters`, {
      details: [{ path: def.primaryKey, message: `at most ${MAX_KEY_LENGTH} characters` }],
    });
  }
  return s;
}

const POOL = Buffer.alloc(16 * 256);
let poolAt = POOL.length;
const SCRATCH = Buffer.alloc(16);

/**
 * A UUID version 7 (RFC 9562): time-ordered, so generated keys sort by creation time in LMDB.
 * @example uuidv7() // '0192f3a4-5b6c-7d8e-9f01-23456789abcd'
 */
export function uuidv7(now = Date.now()): string {
  // Random bytes from a pool filled 256 keys at a time, as Node's own randomUUID does: a call to
  // the generator per key was ~8% of a POST's CPU. Each pooled byte is used once.
  if (poolAt === POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const b = SCRATCH;
  POOL.copy(b, 0, poolAt, poolAt + 16);
  poolAt += 16;
  b.writeUIntBE(now, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Compares two keys in LMDB's order. */
export function compareKeys(a: Key, b: Key): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  if (a === b) return 0;
  // Code-point order; plain `<` compares UTF-16 units and misorders astral characters.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}
