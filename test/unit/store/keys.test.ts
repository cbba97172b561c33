/** Generated keys: UUID version 7 from a pool of random bytes (src/store/keys.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uuidv7 } from '../../../src/store/keys.ts';

test('uuidv7: RFC 9562 version and variant, the time in the first 48 bits, and no repeat across pool refills', () => {
  const now = Date.UTC(2026, 11, 6);
  // 1,000 keys: the pool holds 256, so this crosses three refills.
  const keys = Array.from({ length: 1000 }, (_, i) => uuidv7(now + i));
  for (const k of keys) {
    assert.match(k, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
  assert.equal(parseInt(keys[0]!.replace(/-/g, '').slice(0, 12), 16), now);
  assert.equal(new Set(keys).size, keys.length, 'a key repeated');
  assert.deepEqual([...keys].sort(), keys, 'keys made later sort later');
  // The random part differs between keys of the same millisecond (bytes are not reused).
  const same = Array.from({ length: 300 }, () => uuidv7(now).slice(15));
  assert.equal(new Set(same).size, same.length);
});
