/**
 * One client's outgoing SSE byte stream with a bounded queue. Frames delivered in one hub round are
 * written as one chunk (one socket write per client per round instead of one per event, which is
 * where fan-out spends its time). While the socket is not draining, frames wait in the queue; a
 * queue over its bound (frames or bytes) cuts the stream, and the client resumes with
 * `Last-Event-ID` from the change log, losing nothing.
 */

/** The part of a Node response (HTTP/1.1 or HTTP/2 compat) the writer uses. */
export interface Sink {
  write(chunk: string | Uint8Array): boolean;
  once(event: 'drain', listener: () => void): unknown;
  end(): unknown;
  destroy(error?: Error): unknown;
  readonly writableEnded?: boolean;
  readonly destroyed?: boolean;
}

export interface WriterLimits {
  maxFrames: number;
  maxBytes: number;
}

/**
 * Why a subscriber ended: its client left, it fell behind (`slow`), the server is stopping, the
 * credential that opened it expired, or its connection failed.
 */
export type CloseReason = 'client' | 'slow' | 'shutdown' | 'expired' | 'error';

/** Called once when a stream ends; `dropped` counts the frames it still had queued (metrics). */
export type OnClose = (reason: CloseReason, dropped: number) => void;

export interface StreamWriter {
  /** Queues a frame; it goes out at the next `flush`. */
  send(frame: string): void;
  /** Writes everything queued as one chunk, unless the socket is applying backpressure. */
  flush(): void;
  /**
   * A round of frames shared by many streams: written at once as the shared bytes when nothing is
   * waiting (the common case), else queued behind what waits, under the same bound as `send`.
   */
  sendShared(chunk: { text: string; bytes(): Uint8Array; count: number }): void;
  /** Sends and flushes at once (connection frames, pings). */
  write(frame: string): void;
  /** Resolves when the socket can take more (immediately when it can). */
  drained(): Promise<void>;
  /** Frames waiting. */
  readonly queued: number;
  /** Characters waiting (the byte bound is checked against this). */
  readonly queuedBytes: number;
  readonly closed: boolean;
  /** Time of the last write (ms), for heartbeats. */
  readonly lastWrite: number;
  /** Ends the stream; `slow` and `error` abort the connection instead of ending it cleanly (`expired` ends it, so the client reconnects with a fresh credential). */
  close(reason: CloseReason): void;
}

/**
 * Wraps a sink.
 * @example const w = createStreamWriter(reply.raw, { maxFrames: 1000, maxBytes: 4 << 20 }, (why) => cleanup(why))
 */
export function createStreamWriter(sink: Sink, limits: WriterLimits, onClose: OnClose, now: () => number = Date.now): StreamWriter {
  let queue: string[] = [];
  let bytes = 0;
  let blocked = false;
  let closed = false;
  let lastWrite = now();
  let waiters: Array<() => void> = [];

  const writeNow = (chunk: string | Uint8Array) => {
    lastWrite = now();
    if (!sink.write(chunk)) {
      blocked = true;
      sink.once('drain', () => {
        blocked = false;
        const w = waiters;
        waiters = [];
        for (const fn of w) fn();
        if (!closed) flush();
      });
    }
  };

  const flush = () => {
    if (closed || blocked || queue.length === 0) return;
    const chunk = queue.length === 1 ? queue[0]! : queue.join('');
    queue = [];
    bytes = 0;
    writeNow(chunk);
  };

  const close = (reason: CloseReason) => {
    if (closed) return;
    closed = true;
    const dropped = queue.length;
    queue = [];
    const w = waiters;
    waiters = [];
    for (const fn of w) fn();
    try {
      if (reason === 'slow' || reason === 'error') sink.destroy();
      else if (!sink.writableEnded) sink.end();
    } finally {
      onClose(reason, dropped);
    }
  };

  return {
    send(frame) {
      if (closed) return;
      queue.push(frame);
      bytes += frame.length;
      if (queue.length > limits.maxFrames || bytes > limits.maxBytes) {
        // Over the bound while the socket still takes data is one large round (a commit of
        // thousands of changes), not a slow client: write it out now. Cutting here closed every
        // stream of a table on each big commit, however fast its reader. Only a queue that grows
        // past the bound while the socket is not draining marks a slow consumer.
        if (blocked) close('slow');
        else flush();
      }
    },
    flush,
    sendShared(chunk) {
      if (closed) return;
      if (!blocked && queue.length === 0) {
        writeNow(chunk.bytes());
        return;
      }
      queue.push(chunk.text);
      bytes += chunk.text.length;
      if (blocked && (queue.length > limits.maxFrames || bytes > limits.maxBytes)) close('slow');
      else if (!blocked) flush();
    },
    write(frame) {
      if (closed) return;
      queue.push(frame);
      bytes += frame.length;
      flush();
    },
    drained() {
      if (!blocked || closed) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    get queued() {
      return queue.length;
    },
    get queuedBytes() {
      return bytes;
    },
    get closed() {
      return closed;
    },
    get lastWrite() {
      return lastWrite;
    },
    close,
  };
}
