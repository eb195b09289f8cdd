// Two processes' pubsubs on one Redis: a publication reaches its own process's listeners at once and exactly once (not
// again when Redis brings it back), and every other process's through Redis, without the tag that told them apart.
// Runs where TEST_REDIS_URL is set (the services suite).

import { describe, expect, it } from "vitest";
import { createAppPubSub, type PubSubHandle } from "../../src/pubsub.ts";

const redisUrl = process.env.TEST_REDIS_URL;

/** Everything `handle` delivers on balanceChanged for `memberId`, as it arrives. */
function collect(handle: PubSubHandle, memberId: string) {
  const received: unknown[] = [];
  const iterator = handle.pubsub.subscribe("balanceChanged", memberId)[Symbol.asyncIterator]();
  const loop = (async () => {
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) received.push(next.value);
  })();
  return {
    received,
    async stop() {
      await iterator.return?.();
      await loop;
    },
  };
}

const snapshot = (version: number) => ({
  memberId: "m",
  organizationId: "o",
  kind: "INFERENCE" as const,
  limit: 10,
  used: version,
  reserved: 0,
  lastAutoIncreaseAt: null,
  version,
});

describe.skipIf(!redisUrl)("pubsub through Redis", () => {
  it("delivers a process's own publications at once and once, the other process's through Redis", async () => {
    const [first, second] = [createAppPubSub(redisUrl!), createAppPubSub(redisUrl!)];
    const memberId = `member-${crypto.randomUUID()}`;
    const atFirst = collect(first, memberId);
    const atSecond = collect(second, memberId);
    try {
      // Both are subscribed once a publication of each has gone round.
      await expect
        .poll(
          async () => {
            first.pubsub.publish("balanceChanged", memberId, snapshot(0));
            await new Promise((resolve) => setTimeout(resolve, 20));
            return atSecond.received.length;
          },
          { timeout: 60_000 },
        )
        .toBeGreaterThan(0);
      const before = { first: atFirst.received.length, second: atSecond.received.length };
      first.pubsub.publish("balanceChanged", memberId, snapshot(1));
      // In process: delivered before publish returned to the event loop, with no Redis round trip.
      await Promise.resolve();
      await new Promise((resolve) => setImmediate(resolve));
      expect(atFirst.received.slice(before.first)).toEqual([snapshot(1)]);
      second.pubsub.publish("balanceChanged", memberId, snapshot(2));
      await expect.poll(() => atFirst.received.length, { timeout: 60_000 }).toBe(before.first + 2);
      await expect.poll(() => atSecond.received.length, { timeout: 60_000 }).toBe(before.second + 2);
      // A marker published last by each: once it has arrived everywhere, nothing else is on its way.
      first.pubsub.publish("balanceChanged", memberId, snapshot(3));
      second.pubsub.publish("balanceChanged", memberId, snapshot(4));
      await expect
        .poll(() => [atFirst.received.length, atSecond.received.length], { timeout: 60_000 })
        .toEqual([before.first + 4, before.second + 4]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Each publication exactly once in each process, as published (the origin tag removed).
      const sorted = (values: unknown[]) =>
        [...values].sort((a, b) => (a as { version: number }).version - (b as { version: number }).version);
      expect(sorted(atFirst.received.slice(before.first))).toEqual([1, 2, 3, 4].map(snapshot));
      expect(sorted(atSecond.received.slice(before.second))).toEqual([1, 2, 3, 4].map(snapshot));
    } finally {
      await atFirst.stop();
      await atSecond.stop();
      await Promise.all([first.close(), second.close()]);
    }
  });
});
