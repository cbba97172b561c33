/**
 * The Server-Sent Events wire format (WHATWG HTML §9.2): pure functions that turn an event into the
 * exact bytes of one frame. The encoder distrusts its input: `event` and `id` may not hold CR or LF
 * (a newline there would let data forge frames, CWE-93), and every line of `data` gets its own
 * `data:` prefix so multi-line payloads survive.
 */

export interface SseFrame {
  event?: string;
  id?: string | number;
  /** Already serialised payload (usually JSON). */
  data?: string;
  /** Reconnection delay hint in ms. */
  retry?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;

/**
 * Encodes one frame, ending with the blank line that dispatches it.
 * @example encodeSseFrame({ event: 'update', id: 42, data: '{"id":"msg-1"}' }) // 'event: update\nid: 42\ndata: {"id":"msg-1"}\n\n'
 */
export function encodeSseFrame(frame: SseFrame): string {
  let out = '';
  if (frame.retry !== undefined) {
    if (!Number.isInteger(frame.retry) || frame.retry < 0) throw new TypeError('SSE retry must be a non-negative integer');
    out += `retry: ${frame.retry}\n`;
  }
  if (frame.event !== undefined) out += `event: ${singleLine('event', frame.event)}\n`;
  if (frame.id !== undefined) {
    const id = singleLine('id', String(frame.id));
    // A NUL in an id makes browsers ignore the field (spec), which would silently break resume.
    if (id.includes('\0')) throw new TypeError('SSE id may not contain NUL');
    out += `id: ${id}\n`;
  }
  if (frame.data !== undefined) {
    for (const line of frame.data.split(LINE_BREAK)) out += `data: ${line}\n`;
  }
  return `${out}\n`;
}

function singleLine(field: string, value: string): string {
  if (LINE_BREAK.test(value)) throw new TypeError(`SSE ${field} may not contain a line break`);
  return value;
}
