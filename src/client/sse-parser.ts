/**
 * An incremental Server-Sent Events parser (WHATWG HTML §9.2.6) over decoded text, platform-free:
 * chunks may split a line, a CR/LF pair or a multi-byte character anywhere. The frame being read is
 * bounded (`maxFrameChars`): a server that never ends a line or a frame cannot grow the client's
 * memory without limit. Only `data` lines accumulate (counted with their newlines, empty ones too);
 * comments and unknown fields are dropped as read, and `event`/`id` keep their last value only.
 */

/** One dispatched event. `id` is the frame's own `id:` field, when it had one. */
export interface SseMessage {
  event: string;
  data: string;
  id: string | undefined;
}

export interface SseParser {
  /** Feeds decoded text; returns the events it completed, in order. */
  push(text: string): SseMessage[];
  /** The last `retry:` the server sent (ms), if any. */
  readonly retry: number | undefined;
}

/**
 * A parser for one connection; create a new one after a reconnect (a frame cut in half by a
 * dropped connection must not merge with the next connection's first frame).
 * @example const parser = createSseParser(1 << 24); for (const e of parser.push(chunk)) handle(e)
 */
export function createSseParser(maxFrameChars: number): SseParser {
  let partial = '';
  // A CR ended the last chunk: an LF opening the next one belongs to it.
  let skipLf = false;
  let event = '';
  let data: string[] = [];
  let dataChars = 0;
  let id: string | undefined;
  let retry: number | undefined;

  const line = (text: string, out: SseMessage[]) => {
    if (text === '') {
      if (data.length > 0) out.push({ event: event || 'message', data: data.join('\n'), id });
      event = '';
      data = [];
      dataChars = 0;
      id = undefined;
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      // The length of the data joined: an empty line still adds its newline, so a frame of
      // endless `data` lines meets the bound too.
      dataChars += value.length + (data.length > 0 ? 1 : 0);
      if (dataChars > maxFrameChars) throw new RangeError(`an event from the server is larger than ${maxFrameChars} characters`);
      data.push(value);
    } else if (field === 'event') event = value;
    else if (field === 'id') {
      if (!value.includes('\0')) id = value;
    } else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
  };

  return {
    push(text) {
      const out: SseMessage[] = [];
      let start = 0;
      if (skipLf && text.startsWith('\n')) start = 1;
      skipLf = false;
      for (let i = start; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        line(partial + text.slice(start, i), out);
        partial = '';
        if (c === 13) {
          if (i + 1 < text.length) {
            if (text.charCodeAt(i + 1) === 10) i++;
          } else skipLf = true;
        }
        start = i + 1;
      }
      partial += text.slice(start);
      if (partial.length + dataChars > maxFrameChars) throw new RangeError(`an event from the server is larger than ${maxFrameChars} characters`);
      return out;
    },
    get retry() {
      return retry;
    },
  };
}
