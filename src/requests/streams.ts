// Live token request streams: the pending-count badge and per-request updates, scoped to what the caller may see.
import { Repeater } from "graphql-yoga";
import type { TokenRequestEvent } from "../events.ts";
import type { Runtime } from "../runtime.ts";

export interface RequestScope {
  organizationId: string;
  /** Set for plain members: only their own requests. */
  memberId: string | null;
}

export function countPending(runtime: Runtime, scope: RequestScope): Promise<number> {
  return runtime.prisma.tokenRequest.count({
    where: { organizationId: scope.organizationId, status: "PENDING", ...(scope.memberId ? { memberId: scope.memberId } : {}) },
  });
}

/**
 * The organisation's request changes the caller may see, as they were published: one request, or all the
 * requests of a bulk decision together.
 */
function changeBatches(runtime: Runtime, scope: RequestScope): AsyncIterable<TokenRequestEvent[]> {
  const visible = (event: TokenRequestEvent) => !scope.memberId || event.memberId === scope.memberId;
  return new Repeater<TokenRequestEvent[]>(async (push, stop) => {
    const single = runtime.pubsub.subscribe("tokenRequestChanged", scope.organizationId)[Symbol.asyncIterator]();
    const bulk = runtime.pubsub.subscribe("tokenRequestsChanged", scope.organizationId)[Symbol.asyncIterator]();
    stop.then(() => {
      single.return?.();
      bulk.return?.();
    });
    const forward = async <T>(source: AsyncIterator<T>, events: (value: T) => TokenRequestEvent[]) => {
      for (;;) {
        const next = await source.next();
        if (next.done) break;
        const batch = events(next.value).filter(visible);
        if (batch.length > 0) await push(batch);
      }
    };
    await Promise.all([forward(single, (event) => [event]), forward(bulk, (payload) => payload.requests)]);
    stop();
  });
}

/** Each request change the caller may see, one at a time. */
export function requestChanges(runtime: Runtime, scope: RequestScope): AsyncIterable<TokenRequestEvent> {
  return new Repeater<TokenRequestEvent>(async (push, stop) => {
    const batches = changeBatches(runtime, scope)[Symbol.asyncIterator]();
    stop.then(() => batches.return?.());
    for (;;) {
      const next = await batches.next();
      if (next.done) break;
      for (const event of next.value) await push(event);
    }
    stop();
  });
}

/**
 * The current pending count, then the new count whenever it changes, and the count again after a gap in delivery
 * (deliveryGap), changed or not. Changes arriving while a count runs are taken in by one more count, not one each.
 */
export function pendingCounts(runtime: Runtime, scope: RequestScope): AsyncIterable<number> {
  return new Repeater<number>(async (push, stop) => {
    let stopped = false;
    const changes = Repeater.merge([changeBatches(runtime, scope), runtime.pubsub.subscribe("deliveryGap")])[Symbol.asyncIterator]();
    stop.then(() => {
      stopped = true;
      changes.return?.();
    });
    // Listen before the first count, so no change falls between the two.
    let next = changes.next();
    let last = await countPending(runtime, scope);
    await push(last);

    let dirty = false;
    let counting: Promise<void> | null = null;
    const recount = async () => {
      await new Promise((resolve) => setImmediate(resolve));
      while (dirty && !stopped) {
        dirty = false;
        const count = await countPending(runtime, scope);
        if (count !== last && !stopped) {
          last = count;
          await push(count);
        }
      }
      counting = null;
    };
    for (;;) {
      const change = await next;
      if (change.done) break;
      if (!Array.isArray(change.value)) last = -1;
      next = changes.next();
      dirty = true;
      counting ??= recount().catch((error: unknown) => stop(error));
    }
    await counting;
    stop();
  });
}
