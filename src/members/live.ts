// Live balances (the token indicator): one listener per watched member and process, shared by all its subscribers.
// Each event becomes a Balance once (policy from the process cache, the member's override kept with the feed), and
// each subscriber gets the current balance on subscribe, every newer version after it, and the current balance again
// after a gap in delivery (Redis reconnect). Older versions than the last one sent are dropped.
import DataLoader from "dataloader";
import type { PrismaClient } from "../db/generated/client.ts";
import type { TokenKind } from "../db/generated/enums.ts";
import type { BalanceSnapshot } from "../events.ts";
import { BALANCE_COLUMNS_OF_B, type BalanceRow } from "../ledger/balances.ts";
import type { PolicyCache } from "../policy/cache.ts";
import { effectiveBounds, type MemberOverride } from "../policy/presets.ts";
import { type AppPubSub, listen, listenTo } from "../pubsub.ts";
import { type BalanceView, fromSnapshot } from "./balance.ts";

/** A subscriber this far behind gets only the newest balance of each kind, not the whole backlog. */
const MAX_QUEUED = 64;
const NO_OVERRIDE: MemberOverride = { hasOverride: false, overrideFloor: null, overrideCeiling: null, overrideUnlimitedCeiling: false };
const NO_POLICY = { inferenceFloor: 0n, trainingFloor: 0n, ceiling: null };

interface Current {
  balances: BalanceRow[];
  override: MemberOverride | null;
}

const DONE: IteratorResult<BalanceView> = { value: undefined, done: true };

/**
 * One subscription's stream: its own iterator rather than a Repeater, because every event passes here once per
 * subscriber (10,000 a second at the fan-out bench's scale) and a Repeater push costs some eight promises. Stoppable
 * while it waits: return() leaves the feed and answers the pending next() at once.
 */
class Subscriber implements AsyncIterableIterator<BalanceView> {
  readonly #kind: TokenKind | null;
  readonly #sent = new Map<TokenKind, bigint>();
  #queue: BalanceView[] = [];
  #waiting: ((step: IteratorResult<BalanceView>) => void) | null = null;
  #start: ((subscriber: Subscriber) => Promise<void>) | null;
  readonly #leave: (subscriber: Subscriber) => void;
  #done = false;

  /** `start` joins the feed and offers the current balance (on the first next()); `leave` is called once at the end. */
  constructor(kind: TokenKind | null, start: (subscriber: Subscriber) => Promise<void>, leave: (subscriber: Subscriber) => void) {
    this.#kind = kind;
    this.#start = start;
    this.#leave = leave;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  offer(view: BalanceView): void {
    if (this.#done) return;
    if (this.#kind && view.kind !== this.#kind) return;
    if (view.version <= (this.#sent.get(view.kind) ?? -1n)) return;
    this.#sent.set(view.kind, view.version);
    const waiter = this.#waiting;
    if (waiter) {
      this.#waiting = null;
      waiter({ value: view, done: false });
      return;
    }
    this.#queue.push(view);
    if (this.#queue.length > MAX_QUEUED) {
      const newest = new Map(this.#queue.map((queued) => [queued.kind, queued]));
      this.#queue = [...newest.values()];
    }
  }

  next(): Promise<IteratorResult<BalanceView>> {
    if (this.#start) return this.#begin(this.#start);
    if (this.#done) return Promise.resolve(DONE);
    const view = this.#queue.shift();
    if (view) return Promise.resolve({ value: view, done: false });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  async #begin(start: (subscriber: Subscriber) => Promise<void>): Promise<IteratorResult<BalanceView>> {
    this.#start = null;
    try {
      await start(this);
    } catch (error) {
      this.#finish();
      throw error;
    }
    return this.next();
  }

  async return(): Promise<IteratorResult<BalanceView>> {
    this.#finish();
    return DONE;
  }

  async throw(error: unknown): Promise<IteratorResult<BalanceView>> {
    this.#finish();
    throw error;
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue = [];
    // Never started: it never joined.
    if (!this.#start) this.#leave(this);
    this.#start = null;
    const waiter = this.#waiting;
    this.#waiting = null;
    waiter?.(DONE);
  }
}

class MemberFeed {
  readonly subscribers = new Set<Subscriber>();
  override: Promise<MemberOverride> | null = null;
  stop: () => void = () => {};
}

/** Built once per process by buildApp (runtime.liveBalances). */
export class LiveBalances {
  readonly #prisma: PrismaClient;
  readonly #pubsub: AppPubSub;
  readonly #policies: PolicyCache;
  readonly #feeds = new Map<string, MemberFeed>();
  /** The current balances and override of members, read in one statement for all asked in the same tick. */
  readonly #current: DataLoader<string, Current>;
  readonly #stopListening: () => void;

  constructor(prisma: PrismaClient, pubsub: AppPubSub, policies: PolicyCache) {
    this.#prisma = prisma;
    this.#pubsub = pubsub;
    this.#policies = policies;
    this.#current = new DataLoader((memberIds) => this.#read(memberIds), { cache: false, maxBatchSize: 1000 });
    this.#stopListening = listen(pubsub, "deliveryGap", () => {
      for (const [memberId, feed] of this.#feeds) {
        this.#refresh(memberId, feed, feed.subscribers).catch((error: unknown) => console.error("Live balance resync failed:", error));
      }
    });
  }

  close(): void {
    for (const feed of this.#feeds.values()) feed.stop();
    this.#feeds.clear();
    this.#stopListening();
  }

  /** Balances of one member (one kind, or both) for one subscriber, until the subscriber stops. */
  watch(memberId: string, kind: TokenKind | null): AsyncIterableIterator<BalanceView> {
    let feed: MemberFeed | null = null;
    return new Subscriber(
      kind,
      async (subscriber) => {
        feed = this.#join(memberId, subscriber);
        // Listening already: whatever changes during the read arrives as an event and the older of the two is dropped.
        await this.#refresh(memberId, feed, [subscriber]);
      },
      (subscriber) => {
        if (feed) this.#leave(memberId, feed, subscriber);
      },
    );
  }

  #join(memberId: string, subscriber: Subscriber): MemberFeed {
    let feed = this.#feeds.get(memberId);
    if (!feed) {
      const created = new MemberFeed();
      feed = created;
      this.#feeds.set(memberId, created);
      created.stop = listenTo(this.#pubsub, "balanceChanged", memberId, (snapshot) => {
        this.#deliver(created, snapshot).catch((error: unknown) => console.error("Live balance event failed:", error));
      });
    }
    feed.subscribers.add(subscriber);
    return feed;
  }

  #leave(memberId: string, feed: MemberFeed, subscriber: Subscriber): void {
    feed.subscribers.delete(subscriber);
    if (feed.subscribers.size > 0) return;
    feed.stop();
    if (this.#feeds.get(memberId) === feed) this.#feeds.delete(memberId);
  }

  async #deliver(feed: MemberFeed, snapshot: BalanceSnapshot): Promise<void> {
    if (snapshot.overrideChanged) feed.override = null;
    feed.override ??= this.#current.load(snapshot.memberId).then((current) => current.override ?? NO_OVERRIDE);
    const view = await this.#view(snapshot.organizationId, fromSnapshot(snapshot), await feed.override);
    for (const subscriber of feed.subscribers) subscriber.offer(view);
  }

  async #refresh(memberId: string, feed: MemberFeed, subscribers: Iterable<Subscriber>): Promise<void> {
    const current = await this.#current.load(memberId);
    const override = current.override ?? NO_OVERRIDE;
    feed.override = Promise.resolve(override);
    for (const balance of current.balances) {
      const view = await this.#view(balance.organizationId, balance, override);
      for (const subscriber of subscribers) subscriber.offer(view);
    }
  }

  async #view(organizationId: string, balance: BalanceRow, override: MemberOverride): Promise<BalanceView> {
    const cached = await this.#policies.get(organizationId);
    return { ...balance, ...effectiveBounds(cached?.policy ?? NO_POLICY, override, balance.kind) };
  }

  async #read(memberIds: readonly string[]): Promise<Current[]> {
    const rows = await this.#prisma.$queryRawUnsafe<(BalanceRow & MemberOverride)[]>(
      `SELECT ${BALANCE_COLUMNS_OF_B}, m."hasOverride", m."overrideFloor", m."overrideCeiling", m."overrideUnlimitedCeiling"
         FROM "Member" m JOIN "Balance" b ON b."memberId" = m."id"
        WHERE m."id" = ANY($1::uuid[])
        ORDER BY b."memberId", b."kind"`,
      memberIds,
    );
    const byMember = new Map<string, Current>();
    for (const row of rows) {
      const current = byMember.get(row.memberId) ?? { balances: [], override: row };
      current.balances.push({
        ...row,
        limit: BigInt(row.limit),
        used: BigInt(row.used),
        reserved: BigInt(row.reserved),
        version: BigInt(row.version),
      });
      byMember.set(row.memberId, current);
    }
    return memberIds.map((id) => byMember.get(id) ?? { balances: [], override: null });
  }
}
