/**
 * Reading an answer that is not the one asked for (an error, a proxy's page in place of a stream)
 * only up to a bound: such a body can be anything, of any size, and only its start says something.
 */
import type { HttpResponse } from './types.ts';

/** How much of an error or unexpected answer is read (bytes); the rest is left unread. */
export const UNEXPECTED_BODY_LIMIT = 64 * 1024;

/**
 * The body's first `max` bytes as text; when there is more, the body is cancelled (the connection
 * released) instead of read.
 * @example const text = await readBounded(res, UNEXPECTED_BODY_LIMIT)
 */
export async function readBounded(res: HttpResponse, max: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for (;;) {
    const chunk = await res.read();
    if (chunk === undefined) return text + decoder.decode();
    if (chunk.byteLength > max - bytes) {
      text += decoder.decode(chunk.subarray(0, max - bytes));
      await res.cancel().catch(() => undefined);
      return text;
    }
    bytes += chunk.byteLength;
    text += decoder.decode(chunk, { stream: true });
  }
}
