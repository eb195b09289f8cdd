// Transactions: every balance-changing operation runs in one, and publishes its events only after commit.
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
  events.publish(runtime.pubsub);
  return result;
}
