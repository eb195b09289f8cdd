// Group commit for the usage hot path. A write that updates hot rows holds their locks until its commit is flushed
// to disk, so done one by one, a busy member or model would take one flush per call. Here the calls that arrive
// while a batch is being written wait and go together in the next one: one statement (its own transaction), one
// round trip, one flush. An idle server writes a lone call at once; under load batches grow by themselves.
// One tenant must not slow the others: a failed batch is halved until the failing item stands alone, and a batch
// kept waiting by a row another connection holds locked gives up after a moment (its write fails with PostgreSQL's
// lock_not_available: see preparedWithoutWaiting); its items are then set aside and written one at a time, each
// lane's in order, beside the batches, until the lock is gone. While a lane has items set aside, its new items
// join them, so a lane's order holds.
import { lockNotAvailable } from "../db/database.ts";

/** Largest batch: bounds the statement's size and how long its locks are held. */
const MAX_BATCH = 256;
/** Batches written at once per process; more would only queue on the same rows. */
const MAX_IN_FLIGHT = 1;
/** Items set aside that are written at once (each alone); a blocked one gives its place up between tries. */
const MAX_ASIDE_IN_FLIGHT = 2;
/** Pause before a blocked item set aside is tried again. */
const BLOCKED_RETRY_MS = 200;

interface Waiting<Item, Result> {
  item: Item;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

export interface GroupCommitOptions<Item, Result> {
  /** Writes a batch with one statement and answers each item, in the items' order. */
  write(items: Item[]): Promise<Result[]>;
  /**
   * Items with the same key never share a batch (a later one waits for the next), for statements that judge
   * each item against the rows as they were before the batch.
   */
  keyOf?(item: Item): string;
  /** The lane whose order is kept among items set aside (the row most likely to be held: its member's balance). */
  laneOf(item: Item): string;
  /** Whether a write failed because a row lock was held too long (its items did nothing and can be tried again). */
  blocked?(error: unknown): boolean;
}

/** One queue per kind of write and server process: buildApp makes them and the runtime carries them. */
export class GroupCommit<Item, Result> {
  readonly #options: GroupCommitOptions<Item, Result>;
  readonly #blocked: (error: unknown) => boolean;
  #waiting: Waiting<Item, Result>[] = [];
  #inFlight = 0;
  /** Items set aside, by lane, oldest first; a lane is here while it has items. */
  readonly #aside = new Map<string, Waiting<Item, Result>[]>();
  /** Lanes whose first item is being written or waits to be tried again. */
  readonly #asideBusy = new Set<string>();
  #asideInFlight = 0;

  constructor(options: GroupCommitOptions<Item, Result>) {
    this.#options = options;
    this.#blocked = options.blocked ?? lockNotAvailable;
  }

  /** Resolves with the item's result once the batch it went in has committed. */
  submit(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      const waiting = { item, resolve, reject };
      const lane = this.#aside.get(this.#options.laneOf(item));
      if (lane) {
        lane.push(waiting);
        return;
      }
      this.#waiting.push(waiting);
      this.#drain();
    });
  }

  /** Sets `batch`'s items aside (each after those of its lane already aside) and starts writing them. */
  #setAside(batch: Waiting<Item, Result>[]): void {
    for (const waiting of batch) {
      const key = this.#options.laneOf(waiting.item);
      const lane = this.#aside.get(key);
      if (lane) lane.push(waiting);
      else this.#aside.set(key, [waiting]);
    }
    // Items of those lanes that were waiting for a batch follow them, in order.
    this.#waiting = this.#waiting.filter((waiting) => {
      const lane = this.#aside.get(this.#options.laneOf(waiting.item));
      if (lane) lane.push(waiting);
      return !lane;
    });
    this.#drainAside();
  }

  #drainAside(): void {
    for (const [key, lane] of this.#aside) {
      if (this.#asideInFlight >= MAX_ASIDE_IN_FLIGHT) return;
      if (this.#asideBusy.has(key)) continue;
      this.#asideBusy.add(key);
      this.#asideInFlight++;
      const first = lane[0]!;
      void this.#options
        .write([first.item])
        .then(
          ([result]) => {
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
    while (this.#inFlight < MAX_IN_FLIGHT && this.#waiting.length > 0) {
      const batch = this.#nextBatch();
      this.#inFlight++;
      void this.#write(batch).finally(() => {
        this.#inFlight--;
        this.#drain();
      });
    }
  }

  #nextBatch(): Waiting<Item, Result>[] {
    const { keyOf } = this.#options;
    if (!keyOf) return this.#waiting.splice(0, MAX_BATCH);
    const batch: Waiting<Item, Result>[] = [];
    const later: Waiting<Item, Result>[] = [];
    const keys = new Set<string>();
    for (const waiting of this.#waiting) {
      const key = keyOf(waiting.item);
      if (batch.length < MAX_BATCH && !keys.has(key)) {
        keys.add(key);
        batch.push(waiting);
      } else later.push(waiting);
    }
    this.#waiting = later;
    return batch;
  }

  async #write(batch: Waiting<Item, Result>[]): Promise<void> {
    try {
      const results = await this.#options.write(batch.map((waiting) => waiting.item));
      for (const [index, waiting] of batch.entries()) waiting.resolve(results[index]!);
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
