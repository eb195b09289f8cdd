// The group-commit queue on its own, with a recording writer in place of the database.
import { describe, expect, it } from "vitest";
import { GroupCommit } from "../../src/usage/group-commit.ts";

interface Item {
  key: string;
  n: number;
}

/** A writer that records its batches, answers each item with `n * 10`, and fails a batch holding n = 13. */
function recordingWriter(keyed: boolean) {
  const batches: Item[][] = [];
  const queue = new GroupCommit<Item, number>({
    async write(items) {
      batches.push(items);
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (items.some((item) => item.n === 13)) throw new Error("unlucky");
      return items.map((item) => item.n * 10);
    },
    ...(keyed ? { keyOf: (item: Item) => item.key } : {}),
  });
  return { batches, submit: (item: Item) => queue.submit(item) };
}

describe("group commit", () => {
  it("writes a lone item at once and batches what arrives while a batch is written", async () => {
    const { batches, submit } = recordingWriter(false);
    const results = await Promise.all(Array.from({ length: 10 }, (_, n) => submit({ key: "a", n })));
    expect(results).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(batches.map((batch) => batch.map((item) => item.n))).toEqual([[0], [1, 2, 3, 4, 5, 6, 7, 8, 9]]);
  });

  it("never puts two items with the same key in one batch, and keeps each key's order", async () => {
    const { batches, submit } = recordingWriter(true);
    const items = ["a", "b", "a", "c", "a", "b"].map((key, n) => ({ key, n }));
    const results = await Promise.all(items.map((item) => submit(item)));
    expect(results).toEqual([0, 10, 20, 30, 40, 50]);
    for (const batch of batches) expect(new Set(batch.map((item) => item.key)).size).toBe(batch.length);
    const order = (key: string) =>
      batches
        .flat()
        .filter((item) => item.key === key)
        .map((item) => item.n);
    expect([order("a"), order("b"), order("c")]).toEqual([[0, 2, 4], [1, 5], [3]]);
  });

  it("fails only the item that fails: the rest of its batch is written again one by one", async () => {
    const { submit } = recordingWriter(false);
    const outcomes = await Promise.allSettled([11, 12, 13, 14].map((n) => submit({ key: "a", n })));
    expect(outcomes.map((outcome) => (outcome.status === "fulfilled" ? outcome.value : "failed"))).toEqual([110, 120, "failed", 140]);
  });

  it("finds a failing item in a large batch by halving it, writing every other item exactly once, in order", async () => {
    const { batches, submit } = recordingWriter(false);
    // 0 goes alone; 1..128 arrive while it is written and share the next batch, with 13 failing.
    const outcomes = await Promise.allSettled(Array.from({ length: 129 }, (_, n) => submit({ key: "a", n })));
    expect(outcomes.filter((outcome) => outcome.status === "rejected")).toHaveLength(1);
    expect(outcomes[13]!.status).toBe("rejected");
    const written = batches.filter((batch) => !batch.some((item) => item.n === 13)).flatMap((batch) => batch.map((item) => item.n));
    expect(written).toEqual(Array.from({ length: 129 }, (_, n) => n).filter((n) => n !== 13));
    // One failed batch of 128 costs 2·log2(128) more statements, not 128.
    expect(batches.length).toBeLessThanOrEqual(2 + 2 * 7);
  });
});
