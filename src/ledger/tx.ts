// Transactions, and the one way events leave a balance change: queued while it runs, published once it has committed.
import type { PrismaClient } from "../db/generated/client.ts";
import { PendingEvents } from "../pubsub.ts";
import type { Runtime } from "../runtime.ts";

export type Tx = Omit<PrismaClient, "$connect" | "$disconnect" | "$on" | "$transaction" | "$extends">;

/** Runs `work` in one transaction; its queued events are published once the transaction has committed. */
export async function inTransaction<T>(
  runtime: Runtime,
  work: (tx: Tx, events: PendingEvents) => Promise<T>,
  options: { timeoutMs?: number } = {},
): Promise<T> {
  const events = new PendingEvents();
  const result = await runtime.prisma.$transaction((tx) => work(tx, events), {
    timeout: options.timeoutMs ?? 30_000,
    maxWait: 10_000,
  });
  publishCommitted(runtime, events);
  return result;
}

/**
 * Publishes the events of a write that has committed: inTransaction calls it after its commit, and the hot path's
 * single statements (which commit on their own, outside any transaction) call it once the statement has answered.
 * Never call it before the write is durable: a subscriber must not see a balance that may still roll back.
 */
export function publishCommitted(runtime: Runtime, events: PendingEvents): void {
  if (events.deferred) setImmediate(() => events.publish(runtime.pubsub));
  else events.publish(runtime.pubsub);
}
