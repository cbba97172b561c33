/**
 * Where the server's log lines go: pino's own lines at once, access lines gathered and written
 * together (see LogSink).
 */

export interface Target {
  write(text: string): unknown;
  flush?(cb: (err?: Error) => void): void;
}

/**
 * Where the logger's lines go. Lines pino writes go out at once, synchronously, as they always
 * did. Access lines (`defer`) to stdout are gathered and written together, 10 ms after the first
 * of them or once 64 KiB are waiting: a write(2) per line was most of what a line cost, and once
 * per event-loop turn still cost a busy server about 6% of its CPU on small GETs, since a turn
 * completes only a few requests. Anything else written, and `flush`, first sends what is gathered,
 * so lines keep their order, and an error or `fatal` line logged before a crash takes the access
 * lines before it along. What a crash can lose is the access lines of its last 10 ms, when nothing
 * is logged in between; `server.close()` writes them all.
 */
const GATHER_MS = 10;
const GATHER_BYTES = 64 * 1024;
/**
 * Several worker processes share one stdout (`--workers`): a write to a pipe is atomic only up to
 * PIPE_BUF (4 KiB on Linux), so their gathered writes stay within it, whole lines each, or the
 * lines of two workers could interleave mid-line.
 */
const SHARED_GATHER_BYTES = 4096;

export class LogSink {
  readonly #target: Target;
  readonly #gather: boolean;
  readonly #most: number;
  #pending: string[] = [];
  #pendingBytes = 0;
  #scheduled: NodeJS.Timeout | undefined;
  readonly #onTimer = (): void => {
    this.#scheduled = undefined;
    this.#drain();
  };

  /**
   * `gather`: whether deferred lines are written together (false: each at once, as pino would).
   * `shared`: other processes write to the same target (each write stays within PIPE_BUF).
   */
  constructor(target: Target, gather: boolean, shared = false) {
    this.#target = target;
    this.#gather = gather;
    this.#most = shared ? SHARED_GATHER_BYTES : GATHER_BYTES;
  }

  #drain(): void {
    if (this.#pending.length === 0) return;
    const text = this.#pending.length === 1 ? this.#pending[0]! : this.#pending.join('');
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#scheduled) {
      clearTimeout(this.#scheduled);
      this.#scheduled = undefined;
    }
    this.#target.write(text);
  }

  /** pino's write: the line goes out now, after anything gathered. */
  write(line: string): boolean {
    this.#drain();
    this.#target.write(line);
    return true;
  }

  /** An access line: goes out with the others gathered (within 10 ms, or at 64 KiB). */
  defer(line: string): void {
    if (!this.#gather) {
      this.#target.write(line);
      return;
    }
    // Written before it would pass the bound, so a write holds whole lines within it.
    if (this.#pendingBytes + line.length > this.#most) this.#drain();
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    if (this.#pendingBytes >= this.#most) this.#drain();
    else this.#scheduled ??= setTimeout(this.#onTimer, GATHER_MS);
  }

  /** pino's `logger.flush(cb)`: everything written so far is handed to the target, then the target flushes. */
  flush(cb: (err?: Error) => void): void {
    this.#drain();
    if (this.#target.flush) this.#target.flush(cb);
    else cb();
  }
}
