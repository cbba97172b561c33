/**
 * The requests of one cluster node waiting for their log entries to be applied here: each waits
 * under its id until the node's applier settles that id with the entry's outcome, or the apply
 * bound passes (CLUSTER_UNAVAILABLE, 503).
 */
import { AppError } from '../errors.ts';

/** What applying an entry decided: its value, or the error it was refused with. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The outcome of a run that another entry broke: applied as nothing on every node; written again. */
export const VOID: Outcome = { ok: false, error: new Error('the run was broken') };

/** One waiting request: `heard` is its outcome once it came; `wait` resolves to it within the bound. */
export interface Waiter {
  readonly heard: Outcome | undefined;
  wait(what: string): Promise<Outcome>;
}

/**
 * The waiting requests of a node.
 * @example const waiters = new Waiters(30_000, () => applied); const w = waiters.expect(id); … waiters.settle(id, outcome)
 */
export class Waiters {
  readonly #waiting = new Map<string, (outcome: Outcome) => void>();
  readonly #timeout: number;
  readonly #applied: () => number;

  /** `timeout`: most time a write waits once the log stored it (ms); `applied`: the node's position, for the message. */
  constructor(timeout: number, applied: () => number) {
    this.#timeout = timeout;
    this.#applied = applied;
  }

  /** Starts waiting for the outcome of entry `id`; `forget(id)` once done with it. */
  expect(id: string): Waiter {
    let heard: Outcome | undefined;
    let settle!: (outcome: Outcome) => void;
    const decided = new Promise<Outcome>((resolve) => (settle = resolve));
    this.#waiting.set(id, (outcome) => settle((heard = outcome)));
    const timeout = this.#timeout;
    const applied = this.#applied;
    return {
      get heard() {
        return heard;
      },
      async wait(what) {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const message = `the write is in the cluster's log (${what}) but this node has not applied it within ${timeout} ms (applied through ${applied()})`;
            reject(new AppError('CLUSTER_UNAVAILABLE', message, { headers: { 'retry-after': '1' } }));
          }, timeout);
        });
        try {
          return await Promise.race([decided, late]);
        } finally {
          clearTimeout(timer);
        }
      },
    };
  }

  /** Answers the request waiting for `id`, if one waits here (an entry of another node: none). */
  settle(id: string, outcome: Outcome): void {
    this.#waiting.get(id)?.(outcome);
  }

  forget(id: string): void {
    this.#waiting.delete(id);
  }
}
