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

/** The organisation's request changes the caller may see. */
export function requestChanges(runtime: Runtime, scope: RequestScope): AsyncIterable<TokenRequestEvent> {
  return new Repeater<TokenRequestEvent>(async (push, stop) => {
    const source = runtime.pubsub.subscribe("tokenRequestChanged", scope.organizationId)[Symbol.asyncIterator]();
    stop.then(() => source.return?.());
    let next: IteratorResult<TokenRequestEvent>;
    while (!(next = await source.next()).done) {
      if (!scope.memberId || next.value.memberId === scope.memberId) await push(next.value);
    }
    stop();
  });
}

/**
 * The current pending count, then the new count whenever it changes. A burst of events (a bulk decision
 * publishes one per request) is counted once, after the burst has been taken in.
 */
export function pendingCounts(runtime: Runtime, scope: RequestScope): AsyncIterable<number> {
  return new Repeater<number>(async (push, stop) => {
    let stopped = false;
    const changes = requestChanges(runtime, scope)[Symbol.asyncIterator]();
    stop.then(() => {
      stopped = true;
      changes.return?.();
    });
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
    while (!(await changes.next()).done) {
      dirty = true;
      counting ??= recount().catch((error: unknown) => stop(error));
    }
    await counting;
    stop();
  });
}
