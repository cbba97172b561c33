/**
 * Change subscriptions as async iterables, for GraphQL subscriptions and the programmatic API.
 * Catch-up is pulled from the change log at the consumer's pace (so a long replay needs no queue);
 * once caught up, the subscription joins the hub in the same synchronous step as its last read and
 * live events wait in a bounded queue. A consumer that lets the queue overflow is ended with
 * `SLOW_CONSUMER`, and resumes from the cursor of the last event it handled, losing nothing.
 */
import { AppError } from '../errors.ts';
import type { HubEvent, Interest } from '../realtime/events.ts';
import type { Hub } from '../realtime/hub.ts';
import type { Store } from '../store/store.ts';

export interface SubscribeOptions {
  /** Resume after this change sequence number; absent: only changes from now on. */
  after?: number;
  /** Live events that may wait for the consumer (default 1,000). */
  maxQueue?: number;
  /** Where open subscriptions register their `end`, so shutdown can complete them all. */
  open?: Set<() => void>;
}

const CHUNK = 500;

/**
 * Subscribes to the changes an interest covers.
 * @example for await (const event of subscribeChanges(store, hub, { table: 'realtime-demo/Message' })) console.log(event.type, event.data)
 */
export function subscribeChanges(store: Store, hub: Hub, interest: Interest, options: SubscribeOptions = {}): AsyncIterableIterator<HubEvent> {
  const head = store.changeLog.head();
  let cursor = options.after ?? head;
  if (options.after !== undefined) {
    if (cursor > head) throw new AppError('CURSOR_EXPIRED', `cursor ${cursor} is ahead of the change log (head ${head}); it does not come from this store`);
    if (cursor < store.changeLog.prunedThrough()) {
      throw new AppError('CURSOR_EXPIRED', `cursor ${cursor} is older than the retained change log; read the current state and subscribe again`);
    }
  }
  // Where a consumer ended by SLOW_CONSUMER resumes: the last event it was given, or where it started.
  // The error names it, because a live-only subscriber that overflowed before its first event (one
  // large transaction is enough) had no cursor of its own to resume from and lost those changes.
  let handed = cursor;
  const maxQueue = options.maxQueue ?? 1000;
  const queue: HubEvent[] = [];
  let live = false;
  let done = false;
  let failure: AppError | undefined;
  let wake: (() => void) | undefined;
  let unsubscribe: (() => void) | undefined;
  // Pruning must not remove what a catch-up still has to read.
  let release: (() => void) | undefined = options.after === undefined ? undefined : hub.hold(cursor);

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const finish = () => {
    options.open?.delete(finish);
    done = true;
    unsubscribe?.();
    release?.();
    unsubscribe = release = undefined;
    notify();
  };
  const subscriber = {
    ...interest,
    after: 0,
    deliver(event: HubEvent) {
      if (done) return;
      queue.push(event);
      if (queue.length > maxQueue) {
        failure = new AppError('SLOW_CONSUMER', `the subscriber fell more than ${maxQueue} events behind; resume after cursor ${handed} (lastEventId) to lose nothing`, {
          details: { cursor: String(handed) },
        });
        queue.length = 0;
        finish();
        return;
      }
      notify();
    },
  };
  const goLive = () => {
    subscriber.after = cursor;
    unsubscribe = hub.subscribe(subscriber);
    live = true;
    release?.();
    release = undefined;
  };
  if (options.after === undefined) goLive();
  options.open?.add(finish);

  const iterator: AsyncIterableIterator<HubEvent> = {
    async next(): Promise<IteratorResult<HubEvent>> {
      for (;;) {
        if (queue.length > 0) {
          const event = queue.shift()!;
          handed = event.seq;
          return { value: event, done: false };
        }
        if (failure) {
          const err = failure;
          failure = undefined;
          throw err;
        }
        if (done) return { value: undefined, done: true };
        if (!live) {
          const { events, last, complete } = hub.replay(interest, cursor, CHUNK);
          queue.push(...events);
          cursor = last;
          if (complete) goLive();
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    async return(): Promise<IteratorResult<HubEvent>> {
      finish();
      queue.length = 0;
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
