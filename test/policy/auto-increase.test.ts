// Auto-increase after usage, through the API: triggers, tiers, cooldown, methods, near max, ceiling, pool,
// exclusions and buffer days. The tests move one clock, so they run one after another.
import { describe, expect, it } from "vitest";
import {
  BalanceChangedDocument,
  SetAllocationDocument,
  SetMemberSuspendedDocument,
  SetOverrideDocument,
} from "../../src/client/generated/graphql.ts";
import { ManualClock } from "../../src/clock.ts";
import { subscribe } from "../support/client.ts";
import { startServer } from "../support/server.ts";
import { balanceSubscriptionLive, policyOrg } from "./support.ts";

// In the future: access tokens are issued on this clock but verified against the real time.
const DAY10 = "2027-03-11T00:00:00.000Z";
const clock = new ManualClock(DAY10);
const server = await startServer({ clock });
const MINUTE = 60_000;
const percent = (tokens: number, pct: number) => Math.floor((tokens * pct) / 100);

describe.sequential("auto-increase", () => {
  it("FLAT_THRESHOLD bumps 25 % of the limit at 80 % use, once per cooldown, live on balanceChanged", async () => {
    clock.set(DAY10);
    const org = await policyOrg(server, { members: 1, fund: 20_000_000 });
    const [id] = org.memberIds as [string];
    const { subscription, client } = subscribe(await org.as(id), BalanceChangedDocument, { kind: "INFERENCE" });
    try {
      await balanceSubscriptionLive(org, id, subscription);
      await org.use(id, 399_999);
      expect((await org.balance(id)).limit).toBe(500_000);
      await org.use(id, 1); // 80 %
      expect(await org.balance(id)).toMatchObject({ limit: 625_000, used: 400_000, lastAutoIncreaseAt: DAY10 });
      const { balanceChanged } = await subscription.next((e) => e.balanceChanged.limit === 625_000);
      const { limit, used, lastAutoIncreaseAt } = balanceChanged;
      expect({ limit, used, lastAutoIncreaseAt }).toEqual({ limit: 625_000, used: 400_000, lastAutoIncreaseAt: DAY10 });
    } finally {
      await client.dispose();
    }
    await org.use(id, 100_000); // 80 % again, inside the 60-minute cooldown
    expect((await org.balance(id)).limit).toBe(625_000);
    clock.advance(59 * MINUTE);
    await org.use(id, 1);
    expect((await org.balance(id)).limit).toBe(625_000);
    clock.advance(1 * MINUTE);
    await org.use(id, 1);
    expect((await org.balance(id)).limit).toBe(625_000 + percent(625_000, 25));
    await org.conserved();
  });

  it("TIERED bumps 1×, 2× and 3× 25 % of what remains at 75 %, 90 % and 99.9 %", async () => {
    clock.set(DAY10);
    const org = await policyOrg(server, { preset: "DYNAMIC", fund: 20_000_000, members: 1 });
    const [id] = org.memberIds as [string];
    let limit = 500_000;
    let used = 0;
    const useUpTo = async (ratio: number) => {
      const target = Math.ceil(limit * ratio);
      await org.use(id, target - used);
      used = target;
    };
    await useUpTo(0.7499);
    expect((await org.balance(id)).limit).toBe(limit);
    await useUpTo(0.75);
    limit += percent(limit - used, 25);
    expect((await org.balance(id)).limit).toBe(limit);
    clock.advance(60 * MINUTE);
    await useUpTo(0.9);
    limit += 2 * percent(limit - used, 25);
    expect((await org.balance(id)).limit).toBe(limit);
    clock.advance(60 * MINUTE);
    await useUpTo(0.999);
    const bump = 3 * percent(limit - used, 25);
    expect(bump).toBeGreaterThan(0);
    limit += bump;
    expect((await org.balance(id)).limit).toBe(limit);
    await org.conserved();
  });

  it("uses the near-max bump near the ceiling and never passes the ceiling", async () => {
    clock.set(DAY10);
    const org = await policyOrg(server, { fund: 20_000_000, members: 2 });
    await org.policy({ ceiling: 1_000_000 }); // STANDARD otherwise: 25 %, near max 0.8 → 50 %
    const [near, far] = org.memberIds as [string, string];
    await org.admin.execute(SetAllocationDocument, {
      input: { memberId: near, inference: 700_000 },
    });
    await org.use(far, 400_000); // 500K is below 0.8 × 1M: 25 % → 625K
    expect((await org.balance(far)).limit).toBe(625_000);
    await org.use(near, 560_000); // 700K: below 800K, 25 % → 875K
    expect((await org.balance(near)).limit).toBe(875_000);
    clock.advance(60 * MINUTE);
    await org.use(near, 140_000); // 700K of 875K = 80 %, near max: 50 % = 437.5K, bounded to 1M
    expect((await org.balance(near)).limit).toBe(1_000_000);
    clock.advance(60 * MINUTE);
    await org.use(near, 200_000);
    expect((await org.balance(near)).limit).toBe(1_000_000);
    await org.conserved();
  });

  it("takes only what the pool has, and usage goes on when it is empty", async () => {
    clock.set(DAY10);
    const org = await policyOrg(server, { fund: 1_500_000, members: 3 });
    const [first, second, third] = org.memberIds as [string, string, string];
    await org.buy(200_000); // the floors took the rest
    await org.use(first, 400_000);
    expect((await org.balance(first)).limit).toBe(625_000);
    await org.use(second, 400_000); // wants 125K, 75K left
    expect((await org.balance(second)).limit).toBe(575_000);
    expect((await org.status()).unallocated).toBe(0);
    const receipt = await org.use(third, 450_000);
    expect(receipt.used).toBe(450_000);
    expect(await org.balance(third)).toMatchObject({ limit: 500_000, used: 450_000, lastAutoIncreaseAt: null });
    await org.conserved();
  });

  it("skips excluded and suspended members, and organisations with auto-increase off", async () => {
    clock.set(DAY10);
    const org = await policyOrg(server, { fund: 20_000_000, members: 3 });
    const [excluded, plain, suspended] = org.memberIds as [string, string, string];
    await org.admin.execute(SetMemberSuspendedDocument, { memberId: suspended, suspended: true });
    await org.use(suspended, 450_000); // usage that happened is recorded, but a suspended member gets no bump
    expect((await org.balance(suspended)).limit).toBe(500_000);
    await org.admin.execute(SetOverrideDocument, {
      input: { memberId: excluded, excluded: true },
    });
    await org.use(excluded, 450_000);
    expect((await org.balance(excluded)).limit).toBe(500_000);
    await org.policy({ autoIncrease: false });
    await org.use(plain, 450_000);
    expect((await org.balance(plain)).limit).toBe(500_000);
    await org.policy({ autoIncrease: true });
    await org.use(plain, 1);
    expect((await org.balance(plain)).limit).toBe(625_000);
  });

  it("gives one pre-emptive bump per cycle within the buffer days when the projection passes the limit", async () => {
    clock.set(DAY10);
    const org = await policyOrg(server, { preset: "DYNAMIC", fund: 20_000_000, members: 2 });
    await org.policy({ triggerMode: "FLAT_THRESHOLD", triggerPercent: 99, cooldownMinutes: 0 });
    const [early, late] = org.memberIds as [string, string];
    await org.use(early, 470_000); // day 10: far from the end, and under 99 %
    expect((await org.balance(early)).limit).toBe(500_000);

    clock.set("2027-03-29T12:00:00.000Z"); // 2.5 days before the end: 470K × 31 / 28.5 ≈ 511K > 500K
    await org.use(late, 470_000);
    expect((await org.balance(late)).limit).toBe(500_000 + percent(30_000, 25));
    await org.use(late, 1);
    expect((await org.balance(late)).limit).toBe(507_500);
    await org.use(early, 1); // early's projection now passes too: its one bump of this cycle
    expect((await org.balance(early)).limit).toBe(500_000 + percent(29_999, 25));
    await org.conserved();
  });
});
