/**
 * A subscription as an async iterator of change events: the transport of GraphQL subscriptions and
 * of the programmatic `subscribe()`. Replay is pulled at the consumer's pace (the next chunk is read
 * once the consumer has taken the last); live events wait in a bounded queue, and a consumer that
 * lets it overflow is ended with SLOW_CONSUMER naming the cursor to resume from, losing nothing.
 */
import { AppError } from '../errors.ts';
import type { HubEvent } from '../realtime/events.ts';
import type { CloseReason } from '../realtime/stream-writer.ts';
import { staleCursorError } from './cursor.ts';
import type { ActiveSubscription, PreparedSubscription, SubscriptionSink } from './subscriptions.ts';

/** Events handed out between two turns of the event loop. */
const YIELD_EVERY = 32;
/** Change-log entries read per replay step (see `SubscriptionSink.step`). */
const REPLAY_STEP = 64;

/**
 * Starts a prepared subscription and returns its events as an async iterator; `return()` ends it.
 * @example for await (const event of iterateSubscription(subscriptions.prepare(request), 1000)) handle(event)
 */
export function iterateSubscription(prepared: PreparedSubscription, maxQueue: number): AsyncIterableIterator<HubEvent> {
  const queue: HubEvent[] = [];
  // Where a consumer ended by SLOW_CONSUMER resumes: the last event it was given, or where it
  // started. The error names it: a live-only subscriber that overflowed before its first event
  // (one large transaction is enough) has no cursor of its own to resume from.
  let handed = prepared.cursor ?? 0;
  let done = false;
  let failure: AppError | undefined;
  let wake: (() => void) | undefined;
  let drained: (() => void) | undefined;
  let active: ActiveSubscription | undefined;

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const finish = (reason: CloseReason, error?: AppError) => {
    if (done) return;
    done = true;
    if (error) {
      failure = error;
      queue.length = 0;
    }
    drained?.();
    active?.close(reason);
    notify();
  };
  const push = (event: HubEvent) => {
    if (done) return;
    queue.push(event);
    if (queue.length > maxQueue) {
      finish(
        'slow',
        new AppError('SLOW_CONSUMER', `the subscriber fell more than ${maxQueue} events behind; resume after cursor ${handed} (lastEventId) to lose nothing`, {
          details: { cursor: String(handed) },
        }),
      );
      return;
    }
    notify();
  };

  const sink: SubscriptionSink = {
    begin(start) {
      if (start.kind === 'live') handed = start.head;
      // The log lost the cursor between the check and the start (pruned in between): refuse, as prepare does.
      if (start.kind === 'reset') finish('client', staleCursorError(prepared.cursor ?? 0, start.reason ?? 'expired', start.head));
    },
    records: () => {},
    // Replayed chunks are bounded by the replay itself (the next is read once this one is taken):
    // only live events, which come whether or not the consumer is ready, count against the bound.
    events(events) {
      if (done) return;
      queue.push(...events);
      notify();
    },
    ready: () => (done || queue.length === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve))),
    live: { deliver: push },
    end(reason) {
      if (reason === 'expired') {
        finish(reason, new AppError('UNAUTHORIZED', 'the credential that opened this subscription has expired; subscribe again with a fresh one', { details: { cursor: String(handed) } }));
      } else if (reason === 'error') {
        finish(reason, new AppError('INTERNAL', 'the subscription failed; resume after the last cursor you received'));
      } else finish(reason);
    },
    queued: () => queue.length,
    step: REPLAY_STEP,
  };
  active = prepared.start(sink);

  let sinceTurn = 0;
  const iterator: AsyncIterableIterator<HubEvent> = {
    async next(): Promise<IteratorResult<HubEvent>> {
      // A consumer that never waits (yoga pulling into a socket that takes everything) would chain
      // every queued event in microtasks: give the event loop a turn every few events instead.
      if (++sinceTurn >= YIELD_EVERY) {
        sinceTurn = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      for (;;) {
        if (queue.length > 0) {
          const event = queue.shift()!;
          handed = event.seq;
          if (queue.length === 0) {
            const d = drained;
            drained = undefined;
            d?.();
          }
          return { value: event, done: false };
        }
        if (failure) {
          const err = failure;
          failure = undefined;
          throw err;
        }
        if (done) return { value: undefined, done: true };
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    async return(): Promise<IteratorResult<HubEvent>> {
      finish('client');
      queue.length = 0;
      failure = undefined;
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
