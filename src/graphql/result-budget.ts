/**
 * How many records one GraphQL operation may return (config `graphqlMaxResults`). graphql-js
 * completes a list in one synchronous pass, so the size of an answer is time the event loop is
 * held: the budget bounds it for the whole operation, however many aliases share it. The list
 * reads of one operation run one after another, each asking the store for no more than what is
 * left (plus one, to know that the answer would go over), so the budget is also the most records
 * an operation holds in memory.
 */
import type { Plugin } from 'graphql-yoga';
import { AppError } from '../errors.ts';

/** The budget of one operation. */
export interface ResultBudget {
  /**
   * Runs one list read after the reads before it in this operation. `read(most)` must return at
   * most `most` records; the client's own `limit` (if any) is `wanted`. More than what is left of
   * the budget: QUERY_TOO_COMPLEX, naming `graphqlMaxResults`.
   */
  read<T>(wanted: number | undefined, read: (most: number) => Promise<readonly T[]> | readonly T[]): Promise<readonly T[]>;
}

/**
 * A fresh budget of `max` records (one per operation).
 * @example const budget = createResultBudget(10_000); await budget.read(args.limit, (most) => search(most))
 */
function createResultBudget(max: number): ResultBudget {
  let left = max;
  let previous: Promise<unknown> = Promise.resolve();
  return {
    read(wanted, read) {
      const run = async () => {
        // One over what is left tells "the answer is larger" from "the answer fits exactly".
        const most = wanted === undefined ? left + 1 : Math.min(wanted, left + 1);
        const records = await read(most);
        if (records.length > left) {
          throw new AppError('QUERY_TOO_COMPLEX', `this operation would return more than ${max} records (graphqlMaxResults); page through them with limit and offset`, {
            details: { cap: 'graphqlMaxResults', limit: max },
          });
        }
        left -= records.length;
        return records;
      };
      const result = previous.then(run);
      previous = result.catch(() => undefined);
      return result;
    },
  };
}

const budgets = new WeakMap<object, ResultBudget>();

/**
 * Gives a GraphQL context (one per request: yoga builds it per HTTP request, batching is off) its
 * operation's budget.
 */
function attachResultBudget(context: object, max: number): void {
  budgets.set(context, createResultBudget(max));
}

/** The default of `graphqlMaxResults` (see config.ts, where the number is justified). */
export const DEFAULT_MAX_RESULTS = 2000;

/** The budget attached to a context; one of the default size when none was (a schema used outside yoga). */
export function resultBudgetOf(context: object): ResultBudget {
  let budget = budgets.get(context);
  if (!budget) budgets.set(context, (budget = createResultBudget(DEFAULT_MAX_RESULTS)));
  return budget;
}

/** Gives every GraphQL request a fresh budget of `max` records. */
export function useResultBudget(max: number): Plugin {
  return {
    onContextBuilding({ context }) {
      attachResultBudget(context, max);
    },
  };
}
