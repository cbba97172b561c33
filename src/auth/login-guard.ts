/**
 * Bounds on password checks. Each scrypt check takes ~16 MiB and tens of milliseconds of a libuv
 * threadpool thread (which LMDB and the file system share), so:
 *
 * - per client address, at most `loginRate` checks a minute. The attempt is reserved *before*
 *   hashing: when the count was taken after the `await`, 300 concurrent wrong passwords all passed
 *   the check and all got 401. A check that succeeds gives its reservation back, so the limit
 *   counts failed checks and checks still running.
 * - server-wide, at most `maxConcurrentLogins` checks run at once and `maxQueuedLogins` wait for a
 *   turn; beyond that the check is refused with 503 at once (no hashing, no reservation taken), so
 *   many addresses together cannot pin the threadpool or memory.
 */
import { availableParallelism } from 'node:os';
import { AppError } from '../errors.ts';
import type { Peers } from '../peers/peers.ts';

export interface LoginGuardOptions {
  /** Password checks per client address per minute (failed ones and running ones). */
  loginRate: number;
  /** Checks hashing at once, server-wide. */
  maxConcurrent: number;
  /** Checks waiting for a turn, server-wide. */
  maxQueued: number;
  now?: () => number;
  /**
   * The server's other processes: the per-address rate is then counted by the supervisor for all
   * of them (a round trip per check, beside tens of ms of hashing). The concurrency bounds stay
   * per process: they protect its own threadpool.
   */
  peers?: Peers;
}

export interface LoginGuard {
  /** Throws 429 when `address` has used up its checks of the current minute. */
  assertAllowed(address: string): void;
  /**
   * Runs one password check for `address` under both bounds: 429 over the address's rate, 503 when
   * the server-wide queue is full. A check that returns true gives its reservation back.
   */
  check(address: string, verify: () => Promise<boolean>): Promise<boolean>;
}

const WINDOW_MS = 60_000;

/**
 * Half the CPU cores, at least 1 and at most 2. Each running check keeps a core busy: on two cores,
 * two at once left the event loop competing with both (a burst of 300 logins delayed `/health` by
 * up to a second on the test machine). And libuv has 4 threads by default, which LMDB and the
 * file system need too.
 */
export function defaultMaxConcurrentLogins(): number {
  return Math.min(2, Math.max(1, Math.floor(availableParallelism() / 2)));
}

interface Window {
  count: number;
  since: number;
}

/**
 * Creates the guard of one authenticator.
 * @example const guard = createLoginGuard({ loginRate: 10, maxConcurrent: 2, maxQueued: 32 })
 */
export function createLoginGuard(options: LoginGuardOptions): LoginGuard {
  const now = options.now ?? Date.now;
  const windows = new Map<string, Window>();
  let running = 0;
  const waiting: Array<() => void> = [];

  const current = (address: string, t: number): Window | undefined => {
    const w = windows.get(address);
    return w && t - w.since < WINDOW_MS ? w : undefined;
  };

  const tooMany = (address: string, waitMs: number) => {
    const retry = Math.max(1, Math.ceil(waitMs / 1000));
    return new AppError('TOO_MANY_REQUESTS', `too many login attempts from ${address}; try again in ${retry} s`, { headers: { 'retry-after': String(retry) } });
  };
  const assertAllowed = (address: string): void => {
    const t = now();
    const w = current(address, t);
    if (w && w.count >= options.loginRate) throw tooMany(address, w.since + WINDOW_MS - t);
  };
  const peers = options.peers?.clustered ? options.peers : undefined;

  const reserve = (address: string): Window => {
    const t = now();
    let w = current(address, t);
    if (!w) {
      w = { count: 0, since: t };
      windows.set(address, w);
      // Entries are made only for admitted checks (a few dozen a second at most), so sweeping the
      // expired ones now and then keeps the map small.
      if (windows.size > 10_000) for (const [k, v] of windows) if (t - v.since >= WINDOW_MS) windows.delete(k);
    }
    w.count++;
    return w;
  };

  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };

  return {
    assertAllowed,
    async check(address, verify) {
      assertAllowed(address);
      if (running >= options.maxConcurrent && waiting.length >= options.maxQueued) {
        throw new AppError('SERVICE_UNAVAILABLE', 'too many logins are being checked right now; try again in a moment', { headers: { 'retry-after': '1' } });
      }
      const window = reserve(address);
      let shared: number | undefined;
      if (peers) {
        const taken = await peers.reserve(`login ${address}`, options.loginRate, WINDOW_MS);
        if (!taken.ok) {
          if (windows.get(address) === window) window.count--;
          throw tooMany(address, taken.retryAfterMs);
        }
        shared = taken.window;
      }
      if (running < options.maxConcurrent) running++;
      // A released slot passes straight to the next waiter, so `running` never drops in between.
      else await new Promise<void>((resolve) => waiting.push(resolve));
      let ok = false;
      try {
        ok = await verify();
      } finally {
        release();
      }
      // Given back only to the window it was taken from (a new minute starts from zero anyway).
      if (ok && windows.get(address) === window) window.count--;
      if (ok && peers && shared !== undefined) peers.giveBack(`login ${address}`, shared);
      return ok;
    },
  };
}
