// Group commit for the usage hot path. A write that updates hot rows holds their locks until its commit is flushed
// to disk, so done one by one, a busy member or model would take one flush per call. Here the calls that arrive
// while a batch is being written wait and go together in the next one: one statement (its own transaction), one
// round trip, one flush. An idle server writes a lone call at once; under load batches grow by themselves.
// One tenant must not slow the others. A batch never waits for a member's row another transaction holds locked: its
// statement skips the items that need such a row (they come back skipped, nothing done). A skipped item is tried
// again in the next batches and, if its row stays locked, set aside: written alone, waiting for the row, each lane's
// items in order, beside the batches, until the lock is gone. A write alone kept waiting too long gives up (PostgreSQL's
// lock_not_available: see preparedWithoutWaiting) and is tried again after a pause; so does a batch kept waiting on
// some other row (its items are then all set aside). A failed batch is halved until the failing item stands alone.
// A second batch is written beside the first once the first is slow, and a lane (a member, as a rule) is in at most
// one of them. While a lane has items set aside or in a batch in flight, its new items wait behind them, so a lane's
// order holds.
import { lockNotAvailable } from "../db/database.ts";
import type { RowLocks } from "./statements.ts";

/** Largest batch: bounds the statement's size and how long its locks are held. */
const MAX_BATCH = 256;
/**
 * Batches written at once per process. Their lanes are disjoint, so they share only per-organisation rows (model
 * spend, usage total), which each holds for its commit alone; a batch stalled on a lock then no longer stalls every
 * other tenant's charges.
 */
const MAX_IN_FLIGHT = 2;
/**
 * A second batch starts only once the one in flight has been written for this long. A batch's statement costs
 * PostgreSQL a fixed ~1 ms plus a little per item, so while batches are quick, the calls that arrive wait for the
 * next one and go together (fewer, larger statements: less CPU per call, on a machine the server shares); a batch
 * that is slow (a lock, a long flush) no longer holds the others up past this.
 */
export const SECOND_BATCH_AFTER_MS = 4;
/**
 * Times an item is skipped in a batch (its row locked elsewhere) before it is set aside. Most locks it meets are
 * another queue's batch on the same balance (a commit's charge while an authorization holds), gone within a flush or
 * two: retried in the batches that run anyway, it costs nothing; set aside, it costs a statement of its own.
 */
export const SKIPS_BEFORE_ASIDE = 8;
/** Items set aside that are written at once (each alone); a blocked one gives its place up between tries. */
const MAX_ASIDE_IN_FLIGHT = 2;
/** Pause before a blocked item set aside is tried again. */
const BLOCKED_RETRY_MS = 200;

interface Waiting<Item, Result> {
  item: Item;
  skips: number;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

export interface GroupCommitOptions<Item, Result> {
  /**
   * Writes a batch with one statement and answers each item, in the items' order. With `rowLocks` "skip" an item
   * whose row another transaction holds locked is skipped (see `skipped`); with "wait" (an item alone) it waits.
   */
  write(items: Item[], rowLocks: RowLocks): Promise<Result[]>;
  /**
   * Whether the write skipped this item because a row it needs was locked elsewhere (nothing was done for it).
   * Without it (reads), nothing is ever skipped.
   */
  skipped?(result: Result): boolean;
  /**
   * Items with the same key never share a batch (a later one waits for the next), for statements that judge
   * each item against the rows as they were before the batch.
   */
  keyOf?(item: Item): string;
  /**
   * The lane of an item (the row most likely to be held: its member's balance). A lane's items are written in order:
   * never two batches in flight with one lane, and items set aside keep their lane's order. Without it (reads),
   * each item is a lane of its own.
   */
  laneOf?(item: Item): string;
  /** Whether a write failed because a row lock was held too long (its items did nothing and can be tried again). */
  blocked?(error: unknown): boolean;
  /** Told how the queue fares (the server's /metrics); nothing is told without it. */
  observer?: GroupCommitObserver;
}

/** What a queue tells about itself: where a call's time goes between its submit and its result. */
export interface GroupCommitObserver {
  /** A batch's statement answered (or failed) after `seconds`, with `items` items in it. */
  batchWritten(items: number, seconds: number): void;
  /** An item's result (or error) came `seconds` after it was submitted: its wait for a batch, and the batch. */
  itemSettled(seconds: number): void;
  /** Items of a batch were skipped, their row locked elsewhere, to be tried again. */
  itemsSkipped(count: number): void;
  /** Items were set aside, each to be written alone, waiting for its row (a set-aside lane's later items too). */
  itemsSetAside(count: number): void;
}

/** One queue per kind of write and server process: buildApp makes them and the runtime carries them. */
export class GroupCommit<Item, Result> {
  readonly #options: GroupCommitOptions<Item, Result>;
  readonly #blocked: (error: unknown) => boolean;
  #waiting: Waiting<Item, Result>[] = [];
  /** When each batch being written started (performance.now()), oldest first. */
  readonly #inFlight: number[] = [];
  /** A #drain due when the batch in flight becomes slow enough for a second one. */
  #secondBatchTimer: NodeJS.Timeout | null = null;
  /** Lanes with an item in a batch being written. */
  readonly #lanesInFlight = new Set<unknown>();
  /** Items set aside, by lane, oldest first; a lane is here while it has items. */
  readonly #aside = new Map<unknown, Waiting<Item, Result>[]>();
  /** Lanes whose first item is being written or waits to be tried again. */
  readonly #asideBusy = new Set<unknown>();
  #asideInFlight = 0;

  constructor(options: GroupCommitOptions<Item, Result>) {
    this.#options = options;
    this.#blocked = options.blocked ?? lockNotAvailable;
  }

  /** An item's lane; without `laneOf`, each item is a lane of its own. */
  #laneOf(waiting: Waiting<Item, Result>): unknown {
    return this.#options.laneOf ? this.#options.laneOf(waiting.item) : waiting;
  }

  /** Resolves with the item's result once the batch it went in has committed. */
  submit(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      const waiting = this.#timed({ item, skips: 0, resolve, reject });
      const lane = this.#aside.get(this.#laneOf(waiting));
      if (lane) {
        lane.push(waiting);
        this.#options.observer?.itemsSetAside(1);
        return;
      }
      this.#waiting.push(waiting);
      this.#drain();
    });
  }

  /** `waiting`, telling the observer (if any) how long after now it is answered. */
  #timed(waiting: Waiting<Item, Result>): Waiting<Item, Result> {
    const { observer } = this.#options;
    if (!observer) return waiting;
    const submitted = performance.now();
    const settled = () => observer.itemSettled((performance.now() - submitted) / 1000);
    return {
      ...waiting,
      resolve(result) {
        settled();
        waiting.resolve(result);
      },
      reject(error) {
        settled();
        waiting.reject(error);
      },
    };
  }

  /** Sets `batch`'s items aside (each after those of its lane already aside) and starts writing them. */
  #setAside(batch: Waiting<Item, Result>[]): void {
    for (const waiting of batch) {
      const key = this.#laneOf(waiting);
      const lane = this.#aside.get(key);
      if (lane) lane.push(waiting);
      else this.#aside.set(key, [waiting]);
    }
    // Items of those lanes that were waiting for a batch follow them, in order.
    let followers = 0;
    this.#waiting = this.#waiting.filter((waiting) => {
      const lane = this.#aside.get(this.#laneOf(waiting));
      if (lane) {
        lane.push(waiting);
        followers++;
      }
      return !lane;
    });
    this.#options.observer?.itemsSetAside(batch.length + followers);
    this.#drainAside();
  }

  #drainAside(): void {
    for (const [key, lane] of this.#aside) {
      if (this.#asideInFlight >= MAX_ASIDE_IN_FLIGHT) return;
      if (this.#asideBusy.has(key)) continue;
      this.#asideBusy.add(key);
      this.#asideInFlight++;
      const first = lane[0]!;
      void this.#timedWrite([first.item], "wait")
        .then(
          ([result]) => {
            if (this.#options.skipped?.(result!)) return BLOCKED_RETRY_MS;
            lane.shift();
            first.resolve(result!);
            return 0;
          },
          (error: unknown) => {
            if (this.#blocked(error)) return BLOCKED_RETRY_MS;
            lane.shift();
            first.reject(error);
            return 0;
          },
        )
        .then(async (pause) => {
          this.#asideInFlight--;
          this.#drainAside();
          if (pause) await new Promise((resolve) => setTimeout(resolve, pause));
          this.#asideBusy.delete(key);
          if (lane.length === 0) {
            this.#aside.delete(key);
            this.#drain();
          }
          this.#drainAside();
        });
    }
  }

  #drain(): void {
    while (this.#inFlight.length < MAX_IN_FLIGHT && this.#waiting.length > 0) {
      if (this.#inFlight.length > 0) {
        const slowIn = this.#inFlight[0]! + SECOND_BATCH_AFTER_MS - performance.now();
        if (slowIn > 0) {
          this.#secondBatchTimer ??= setTimeout(() => {
            this.#secondBatchTimer = null;
            this.#drain();
          }, slowIn);
          return;
        }
      }
      const batch = this.#nextBatch();
      if (batch.length === 0) return;
      const lanes = new Set(batch.map((waiting) => this.#laneOf(waiting)));
      for (const lane of lanes) this.#lanesInFlight.add(lane);
      const started = performance.now();
      this.#inFlight.push(started);
      void this.#write(batch).finally(() => {
        for (const lane of lanes) this.#lanesInFlight.delete(lane);
        this.#inFlight.splice(this.#inFlight.indexOf(started), 1);
        this.#drain();
      });
    }
  }

  /**
   * The waiting items that can go now, oldest first: none of a lane in flight, one per key, and once an item of a
   * lane must wait, every later item of that lane waits too.
   */
  #nextBatch(): Waiting<Item, Result>[] {
    const { keyOf } = this.#options;
    const batch: Waiting<Item, Result>[] = [];
    const later: Waiting<Item, Result>[] = [];
    const keys = new Set<string>();
    const deferred = new Set<unknown>();
    for (const waiting of this.#waiting) {
      const lane = this.#laneOf(waiting);
      const key = keyOf?.(waiting.item);
      const free = !this.#lanesInFlight.has(lane) && !deferred.has(lane) && (key === undefined || !keys.has(key));
      if (batch.length < MAX_BATCH && free) {
        if (key !== undefined) keys.add(key);
        batch.push(waiting);
      } else {
        deferred.add(lane);
        later.push(waiting);
      }
    }
    this.#waiting = later;
    return batch;
  }

  /** Skipped items go before everything waiting (they are older), or aside once they were skipped too often. */
  #retry(skipped: Waiting<Item, Result>[]): void {
    for (const waiting of skipped) waiting.skips++;
    // A lane goes aside as a whole: its other skipped items follow its stuck ones there.
    const stuckLanes = new Set(skipped.filter((waiting) => waiting.skips >= SKIPS_BEFORE_ASIDE).map((waiting) => this.#laneOf(waiting)));
    const stuck = (waiting: Waiting<Item, Result>) => stuckLanes.has(this.#laneOf(waiting));
    this.#waiting.unshift(...skipped.filter((waiting) => !stuck(waiting)));
    if (stuckLanes.size > 0) this.#setAside(skipped.filter(stuck));
  }

  /** Writes `items` with one statement, telling the observer how long it took. */
  async #timedWrite(items: Item[], rowLocks: RowLocks): Promise<Result[]> {
    const { observer } = this.#options;
    if (!observer) return this.#options.write(items, rowLocks);
    const started = performance.now();
    try {
      return await this.#options.write(items, rowLocks);
    } finally {
      observer.batchWritten(items.length, (performance.now() - started) / 1000);
    }
  }

  async #write(batch: Waiting<Item, Result>[]): Promise<void> {
    try {
      const results = await this.#timedWrite(
        batch.map((waiting) => waiting.item),
        "skip",
      );
      const skipped: Waiting<Item, Result>[] = [];
      for (const [index, waiting] of batch.entries()) {
        const result = results[index]!;
        if (this.#options.skipped?.(result)) skipped.push(waiting);
        else waiting.resolve(result);
      }
      if (skipped.length > 0) {
        this.#options.observer?.itemsSkipped(skipped.length);
        this.#retry(skipped);
      }
    } catch (error) {
      if (this.#blocked(error)) {
        this.#setAside(batch);
        return;
      }
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad item (or a deadlock with another process) must not fail the others, nor cost them a write each:
      // halve the batch and write each half, in order, so k bad items in n cost about 2·k·log2(n) statements.
      const half = Math.ceil(batch.length / 2);
      await this.#write(batch.slice(0, half));
      await this.#write(batch.slice(half));
    }
  }
}
