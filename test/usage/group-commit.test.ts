// The group-commit queue on its own, with a recording writer in place of the database.
import { describe, expect, it, vi } from "vitest";
import { GroupCommit, type GroupCommitObserver, SECOND_BATCH_AFTER_MS, SKIPS_BEFORE_ASIDE } from "../../src/usage/group-commit.ts";

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
    laneOf: (item) => item.key,
    skipped: () => false,
    blocked: () => false,
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

describe("group commit, a slow batch", () => {
  it("starts a second batch beside the first only once the first is slow; until then arrivals wait and go together", async () => {
    const releases: (() => void)[] = [];
    const batches: { items: number[]; startedAfterMs: number }[] = [];
    let firstStarted = 0;
    const queue = new GroupCommit<Item, number>({
      async write(items) {
        const now = performance.now();
        firstStarted ||= now;
        batches.push({ items: items.map((item) => item.n), startedAfterMs: now - firstStarted });
        await new Promise<void>((resolve) => releases.push(resolve));
        return items.map((item) => item.n);
      },
      laneOf: (item) => item.key,
    });
    const first = queue.submit({ key: "a", n: 0 });
    const arrivals = ["b", "c", "d"].map((key, i) => queue.submit({ key, n: i + 1 }));
    // The first batch has only just started: the arrivals wait for it rather than going in a batch of their own.
    expect(batches.map((batch) => batch.items)).toEqual([[0]]);
    // It stays in flight: after SECOND_BATCH_AFTER_MS, the arrivals go, together, beside it.
    await vi.waitFor(() => expect(batches).toHaveLength(2), { timeout: 60_000 });
    expect(batches[1]!.items).toEqual([1, 2, 3]);
    expect(batches[1]!.startedAfterMs).toBeGreaterThanOrEqual(SECOND_BATCH_AFTER_MS - 1);
    for (const release of releases) release();
    expect(await Promise.all([first, ...arrivals])).toEqual([0, 1, 2, 3]);
  });

  it("holds up only its own lanes: other lanes' items are written beside it, the slow lane's in order after it", async () => {
    let releaseSlow = () => {};
    const slow = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const batches: Item[][] = [];
    const queue = new GroupCommit<Item, number>({
      async write(items) {
        batches.push(items);
        if (items.some((item) => item.key === "slow")) await slow;
        return items.map((item) => item.n);
      },
      laneOf: (item) => item.key,
      skipped: () => false,
    });
    const done: number[] = [];
    const track = (item: Item) => queue.submit(item).then((n) => void done.push(n));
    const stuck = track({ key: "slow", n: 0 });
    const others = ["a", "slow", "b", "a"].map((key, i) => track({ key, n: i + 1 }));
    await Promise.all([others[0], others[2], others[3]]);
    expect(done).toEqual([1, 3, 4]);
    releaseSlow();
    await Promise.all([stuck, others[1]]);
    expect(done).toEqual([1, 3, 4, 0, 2]);
    // The slow lane's second item never shared a batch with its first, nor went ahead of it.
    expect(batches.findIndex((batch) => batch.some((item) => item.n === 2))).toBeGreaterThan(0);
  });
});

describe("group commit, a row locked elsewhere", () => {
  /** A queue whose "locked" lane's row is held until `releaseRow()`: batches skip its items, alone they wait. */
  function lockedRowQueue(observer?: GroupCommitObserver) {
    let releaseRow = () => {};
    const rowFree = new Promise<void>((resolve) => {
      releaseRow = resolve;
    });
    let held = true;
    const writes: { rowLocks: string; items: number[]; skipped: number; seconds: number }[] = [];
    const queue = new GroupCommit<Item, number>({
      async write(items, rowLocks) {
        const write = { rowLocks, items: items.map((item) => item.n), skipped: 0, seconds: 0 };
        const started = performance.now();
        writes.push(write);
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (rowLocks === "wait" && items.some((item) => item.key === "locked")) await rowFree;
        const results = items.map((item) => (held && rowLocks === "skip" && item.key === "locked" ? -1 : item.n));
        write.skipped = results.filter((n) => n === -1).length;
        write.seconds = (performance.now() - started) / 1000;
        return results;
      },
      skipped: (n) => n === -1,
      laneOf: (item) => item.key,
      ...(observer ? { observer } : {}),
    });
    const done: number[] = [];
    const track = (item: Item) => queue.submit(item).then((n) => void done.push(n));
    const release = () => {
      held = false;
      releaseRow();
    };
    /**
     * Submits a, locked, b, locked; once a and b are written, c, locked, d; once a lone write waits for the row, one
     * more locked (it joins its lane aside); then releases the row.
     */
    const run = async () => {
      const first = ["a", "locked", "b", "locked"].map((key, n) => track({ key, n }));
      await Promise.all([first[0], first[2]]);
      const later = ["c", "locked", "d"].map((key, i) => track({ key, n: 4 + i }));
      await Promise.all([later[0], later[2]]);
      expect(done).toEqual([0, 2, 4, 6]);
      // Skipped SKIPS_BEFORE_ASIDE times, the locked lane is set aside: its first item waits alone for the row.
      await vi.waitFor(() => expect(writes.some((write) => write.rowLocks === "wait")).toBe(true), { timeout: 60_000 });
      const last = track({ key: "locked", n: 7 });
      release();
      await Promise.all([...first, ...later, last]);
    };
    return { writes, done, run };
  }

  it("skips items whose row is locked: the batch goes on, they are tried again, then written alone waiting for the row", async () => {
    const { writes, done, run } = lockedRowQueue();
    await run();
    expect(done).toEqual([0, 2, 4, 6, 1, 3, 5, 7]);
    // Skipped a few times in batches, then written alone, waiting, in order; an item arriving meanwhile joins them.
    const alone = writes.filter((write) => write.rowLocks === "wait").map((write) => write.items);
    expect(alone).toEqual([[1], [3], [5], [7]]);
    expect(writes.filter((write) => write.rowLocks === "skip" && write.items.includes(1))).toHaveLength(SKIPS_BEFORE_ASIDE);
  });

  it("tells its observer every statement's size and time, every item's time, the skips and the items set aside", async () => {
    const told = { statements: [] as { items: number; seconds: number }[], settled: [] as number[], skipped: 0, setAside: 0 };
    const { writes, run } = lockedRowQueue({
      batchWritten: (items, seconds) => told.statements.push({ items, seconds }),
      itemSettled: (seconds) => told.settled.push(seconds),
      itemsSkipped: (count) => (told.skipped += count),
      itemsSetAside: (count) => (told.setAside += count),
    });
    const started = performance.now();
    await run();
    const elapsed = (performance.now() - started) / 1000;
    // Statements end in their own order: compare them as sets. Each took at least the writer's own time.
    const ascending = (values: number[]) => [...values].sort((x, y) => x - y);
    expect(ascending(told.statements.map((statement) => statement.items))).toEqual(ascending(writes.map((write) => write.items.length)));
    const toldSeconds = ascending(told.statements.map((statement) => statement.seconds));
    for (const [i, seconds] of ascending(writes.map((write) => write.seconds)).entries())
      expect(toldSeconds[i]).toBeGreaterThanOrEqual(seconds);
    expect(told.settled).toHaveLength(8);
    for (const seconds of told.settled) expect(seconds).toBeGreaterThan(0);
    expect(Math.max(...told.settled)).toBeLessThanOrEqual(elapsed);
    expect(told.skipped).toBe(writes.reduce((sum, write) => sum + write.skipped, 0));
    expect(told.skipped).toBeGreaterThanOrEqual(SKIPS_BEFORE_ASIDE);
    // The locked lane's four items, each written alone.
    expect(told.setAside).toBe(4);
  });
});

describe("group commit, a row held locked elsewhere", () => {
  const blockedError = Object.assign(new Error("canceling statement due to lock timeout"), { code: "55P03" });

  it("sets a blocked batch aside: the other lanes' items complete while the lock is held, the blocked lane's in order after", async () => {
    let held = true;
    const queue = new GroupCommit<Item, number>({
      async write(items) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        if (held && items.some((item) => item.key === "locked")) throw blockedError;
        return items.map((item) => item.n * 10);
      },
      laneOf: (item) => item.key,
      skipped: () => false,
    });
    const done: number[] = [];
    const track = (item: Item) => queue.submit(item).then((result) => void done.push(result / 10));
    const first = ["a", "locked", "b", "locked", "c"].map((key, n) => track({ key, n }));
    // Items that arrive while the lock is held: the other lanes' go on in batches, the blocked lane's queue behind it.
    await Promise.all([first[0], first[2], first[4]]);
    const later = ["d", "locked", "e"].map((key, i) => track({ key, n: 5 + i }));
    await Promise.all([later[0], later[2]]);
    expect(done).not.toContain(1);
    expect(done).not.toContain(3);
    expect(done).not.toContain(6);
    held = false;
    await Promise.all([...first, ...later]);
    expect(done.filter((n) => [1, 3, 6].includes(n))).toEqual([1, 3, 6]);
    // Every item was written successfully exactly once.
    expect(done.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
