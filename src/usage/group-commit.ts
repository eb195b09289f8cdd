// Group commit for the usage hot path. A write that updates hot rows holds their locks until its commit is flushed
// to disk, so done one by one, a busy member or model would take one flush per call. Here the calls that arrive
// while a batch is being written wait and go together in the next one: one statement (its own transaction), one
// round trip, one flush. An idle server writes a lone call at once; under load batches grow by themselves.
/** Largest batch: bounds the statement's size and how long its locks are held. */
const MAX_BATCH = 256;
/** Batches written at once per process; more would only queue on the same rows. */
const MAX_IN_FLIGHT = 1;

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
}

/** One queue per kind of write and server process: buildApp makes them and the runtime carries them. */
export class GroupCommit<Item, Result> {
  readonly #options: GroupCommitOptions<Item, Result>;
  #waiting: Waiting<Item, Result>[] = [];
  #inFlight = 0;

  constructor(options: GroupCommitOptions<Item, Result>) {
    this.#options = options;
  }

  /** Resolves with the item's result once the batch it went in has committed. */
  submit(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#drain();
    });
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
