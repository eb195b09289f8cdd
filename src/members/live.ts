// Live balances (the token indicator): one listener per watched member and process, shared by all its subscribers.
// Each event becomes a Balance once (policy from the process cache, the member's override kept with the feed), and
// each subscriber gets the current balance on subscribe, every newer version after it, and the current balance again
// after a gap in delivery (Redis reconnect). Older versions than the last one sent are dropped.
import { Repeater } from "@graphql-yoga/subscription";
import DataLoader from "dataloader";
import type { PrismaClient } from "../db/generated/client.ts";
import type { TokenKind } from "../db/generated/enums.ts";
import type { BalanceSnapshot } from "../events.ts";
import { BALANCE_COLUMNS_OF_B, type BalanceRow } from "../ledger/balances.ts";
import type { PolicyCache } from "../policy/cache.ts";
import { effectiveBounds, type MemberOverride } from "../policy/presets.ts";
import { type AppPubSub, listen } from "../pubsub.ts";
import { type BalanceView, fromSnapshot } from "./balance.ts";

/** A subscriber this far behind gets only the newest balance of each kind, not the whole backlog. */
const MAX_QUEUED = 64;
const NO_OVERRIDE: MemberOverride = { hasOverride: false, overrideFloor: null, overrideCeiling: null, overrideUnlimitedCeiling: false };
const NO_POLICY = { inferenceFloor: 0n, trainingFloor: 0n, ceiling: null };

interface Current {
  balances: BalanceRow[];
  override: MemberOverride | null;
}

class Subscriber {
  readonly #kind: TokenKind | null;
  readonly #sent = new Map<TokenKind, bigint>();
  #queue: BalanceView[] = [];
  #wake: (() => void) | null = null;
  constructor(kind: TokenKind | null) {
    this.#kind = kind;
  }

  offer(view: BalanceView): void {
    if (this.#kind && view.kind !== this.#kind) return;
    if (view.version <= (this.#sent.get(view.kind) ?? -1n)) return;
    this.#sent.set(view.kind, view.version);
    this.#queue.push(view);
    if (this.#queue.length > MAX_QUEUED) {
      const newest = new Map(this.#queue.map((queued) => [queued.kind, queued]));
      this.#queue = [...newest.values()];
    }
    this.#wake?.();
  }

  /** Pushes what is queued, in order, until the subscription stops (stoppable while it waits). */
  async drain(push: (view: BalanceView) => Promise<unknown>, stop: Promise<unknown>): Promise<void> {
    let stopped = false;
    void stop.then(() => {
      stopped = true;
      this.#wake?.();
    });
    while (!stopped) {
      const view = this.#queue.shift();
      if (view) await push(view);
      else await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
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
  readonly #stopListening: () => Promise<void>;

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

  async close(): Promise<void> {
    for (const feed of this.#feeds.values()) feed.stop();
    this.#feeds.clear();
    await this.#stopListening();
  }

  /** Balances of one member (one kind, or both) for one subscriber, until the subscriber stops. */
  watch(memberId: string, kind: TokenKind | null): Repeater<BalanceView> {
    return new Repeater<BalanceView>(async (push, stop) => {
      const subscriber = new Subscriber(kind);
      const feed = this.#join(memberId, subscriber);
      try {
        // Listening already: whatever changes during the read arrives as an event and the older of the two is dropped.
        await this.#refresh(memberId, feed, [subscriber]);
        await subscriber.drain(push, stop);
      } finally {
        this.#leave(memberId, feed, subscriber);
      }
      stop();
    });
  }

  #join(memberId: string, subscriber: Subscriber): MemberFeed {
    let feed = this.#feeds.get(memberId);
    if (!feed) {
      const created = new MemberFeed();
      feed = created;
      this.#feeds.set(memberId, created);
      const events = this.#pubsub.subscribe("balanceChanged", memberId)[Symbol.asyncIterator]();
      created.stop = () => void events.return?.();
      void (async () => {
        for (;;) {
          const next = await events.next();
          if (next.done) return;
          void this.#deliver(created, next.value).catch((error: unknown) => console.error("Live balance event failed:", error));
        }
      })();
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
