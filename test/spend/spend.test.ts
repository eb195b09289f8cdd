// The cycle spend summary, its live subscription, and bursts of authorizations against a nearly reached cap.

import { describe, expect, it } from "vitest";
import {
  AuthorizeUsageDocument,
  CommitUsageDocument,
  RecordUsageDocument,
  SetAutomaticFallbackDocument,
  SpendChangedDocument,
  SpendDocument,
} from "../../src/client/generated/graphql.ts";
import { pick, subscribe } from "../support/client.ts";
import { seedOrganization, unique } from "../support/factories.ts";
import { startServer } from "../support/server.ts";
import { usageOrganization } from "../usage/setup.ts";

const server = await startServer();

type Org = Awaited<ReturnType<typeof usageOrganization>>;

const record = (org: Org, modelKey: string, inputTokens: number, outputTokens: number, memberId = org.memberId) =>
  org.service.execute(RecordUsageDocument, { input: { memberId, modelKey, inputTokens, outputTokens, idempotencyKey: unique("idem") } });

describe("spend summary", () => {
  it("adds up the cycle's usage per model exactly, with shares, requests, tokens and the ratio", async () => {
    const org = await usageOrganization(server, { planBudget: "100", overageLimit: "20" });
    await org.model("big", { input: "10", output: "30" });
    await org.model("small", { input: "1", output: "2" });
    await org.model("idle", { input: "5", output: "5" });

    const empty = await org.admin.execute(SpendDocument);
    expect(empty.organization.spend).toMatchObject({ spent: "0.00", planBudget: "100.00", overageLimit: "20.00", ratio: 0 });
    expect(empty.organization.spend.byModel.map((m) => [m.model.key, m.spend, m.percent])).toEqual([
      ["big", "0.00", 0],
      ["idle", "0.00", 0],
      ["small", "0.00", 0],
    ]);

    await record(org, "big", 100_000, 50_000); // 1.00 + 1.50
    await record(org, "big", 20_000, 10_000); // 0.20 + 0.30
    await record(org, "small", 100_000, 100_000); // 0.10 + 0.20

    const { organization } = await org.admin.execute(SpendDocument);
    const spend = organization.spend;
    expect(spend).toMatchObject({ spent: "3.30", planBudget: "100.00", overageLimit: "20.00", ratio: 0.0275 });
    expect(new Date(spend.cycleEnd).getTime()).toBeGreaterThan(new Date(spend.cycleStart).getTime());
    expect(spend.byModel.map(({ model, ...usage }) => ({ ...usage, model: pick(model, "key", "cycleSpend") }))).toEqual([
      { model: { key: "big", cycleSpend: "3.00" }, spend: "3.00", percent: 90.91, requests: 2, tokens: 180_000 },
      { model: { key: "small", cycleSpend: "0.30" }, spend: "0.30", percent: 9.09, requests: 1, tokens: 200_000 },
      { model: { key: "idle", cycleSpend: "0.00" }, spend: "0.00", percent: 0, requests: 0, tokens: 0 },
    ]);
  });

  it("keeps sub-cent costs exact and reports a ratio of 0 while no plan is set", async () => {
    const org = await usageOrganization(server);
    await org.model("cheap", { input: "0.15", output: "0.6" });
    await record(org, "cheap", 7, 3); // 0.00000105 + 0.0000018
    await record(org, "cheap", 1, 1); // 0.00000015 + 0.0000006
    const { organization } = await org.admin.execute(SpendDocument);
    expect(organization.spend).toMatchObject({ spent: "0.0000036", ratio: 0 });
    expect(organization.spend.byModel[0]).toMatchObject({ spend: "0.0000036", percent: 100, requests: 2, tokens: 12 });
  });

  it("is for admins and the operator; members are refused and other organisations are not found", async () => {
    const org = await usageOrganization(server, { planBudget: "10" });
    const member = await org.member.errorOf(SpendDocument);
    expect(member.extensions?.code).toBe("FORBIDDEN");
    const other = await seedOrganization(server);
    const foreign = await other.admin.errorOf(SpendDocument, { organizationId: org.organizationId });
    expect(foreign.extensions?.code).toBe("NOT_FOUND");
    const { organization } = await org.operator.execute(SpendDocument, { organizationId: org.organizationId });
    expect(organization.spend.planBudget).toBe("10.00");
  });
});

describe("spendChanged", () => {
  it("sends the current summary on subscribe, then the new one after usage; never another organisation's", async () => {
    const org = await usageOrganization(server, { planBudget: "50" });
    await org.model("live", { input: "10", output: "10" });
    const other = await usageOrganization(server, { planBudget: "50" });
    await other.model("live", { input: "10", output: "10" });

    const { subscription, client } = subscribe(org.admin, SpendChangedDocument);
    const { subscription: otherSubscription, client: otherClient } = subscribe(other.admin, SpendChangedDocument);
    try {
      const first = await subscription.next();
      expect(first.spendChanged).toMatchObject({ spent: "0.00", ratio: 0 });
      await otherSubscription.next();

      await record(org, "live", 100_000, 150_000); // 2.50
      const update = await subscription.next((event) => event.spendChanged.spent === "2.50");
      expect(update.spendChanged.ratio).toBe(0.05);
      expect(update.spendChanged.byModel[0]).toMatchObject({
        model: { key: "live" },
        spend: "2.50",
        percent: 100,
        requests: 1,
        tokens: 250_000,
      });

      // a burst: the last value always arrives, and emissions are at least ~100 ms apart
      const before = subscription.events.length;
      const started = performance.now();
      await Promise.all(Array.from({ length: 10 }, () => record(org, "live", 10_000, 0))); // 10 × 0.10
      await subscription.next((event) => event.spendChanged.spent === "3.50");
      const elapsed = performance.now() - started;
      const emitted = subscription.events.length - before;
      expect(emitted).toBeGreaterThanOrEqual(1);
      expect(emitted).toBeLessThanOrEqual(Math.floor(elapsed / 100) + 2);
      expect(subscription.events.at(-1)!.spendChanged.spent).toBe("3.50");

      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(otherSubscription.events).toHaveLength(1);
      expect(otherSubscription.events[0]!.spendChanged.spent).toBe("0.00");
    } finally {
      subscription.close();
      otherSubscription.close();
      await client.dispose();
      await otherClient.dispose();
    }
  });

  it("is refused to members and services", async () => {
    const org = await usageOrganization(server);
    for (const api of [org.member, org.service]) {
      const { subscription, client } = subscribe(api, SpendChangedDocument);
      try {
        await expect.poll(() => subscription.errors.length, { timeout: 50_000 }).toBeGreaterThan(0);
        expect(JSON.stringify(subscription.errors)).toContain("FORBIDDEN");
        expect(subscription.events).toHaveLength(0);
      } finally {
        subscription.close();
        await client.dispose();
      }
    }
  });
});

describe("a burst against a nearly reached cap", () => {
  // premium: 10 per million both ways, cap 1.00; spend brought to 0.95; each call reserves 10,000 tokens (0.10).
  async function nearlyCapped(fallback: boolean) {
    const org = await usageOrganization(server, { planBudget: "1000" });
    const [second] = await org.addMembers([{ name: "Bo" }]);
    await org.model("premium", { input: "10", output: "10", cap: "1.00" });
    await org.model("budget", { input: "1", output: "1" });
    await org.admin.execute(SetAutomaticFallbackDocument, { enabled: fallback });
    await record(org, "premium", 95_000, 0);
    const calls = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        org.service.execute(AuthorizeUsageDocument, {
          input: { memberId: i % 2 === 0 ? org.memberId : second!, modelKey: "premium", estimatedTokens: 10_000 },
        }),
      ),
    );
    return { org, calls: calls.map((c) => c.authorizeUsage) };
  }

  const premiumSpend = async (org: Org) => {
    const { organization } = await org.admin.execute(SpendDocument);
    return organization.spend.byModel.find((m) => m.model.key === "premium")!.spend;
  };

  it("never ends over the cap by more than one reservation's estimate (fallback off)", async () => {
    const { org, calls } = await nearlyCapped(false);
    const onPremium = calls.filter((c) => c.allowed && c.routedModel!.key === "premium");
    expect(onPremium.length).toBeGreaterThanOrEqual(1);
    expect(onPremium.length).toBeLessThanOrEqual(1);
    for (const denied of calls.filter((c) => !c.allowed)) expect(denied.denialReason).toBe("MODEL_CAP_REACHED");
    // every allowed call uses its full estimate
    await Promise.all(
      onPremium.map((c) =>
        org.service.execute(CommitUsageDocument, {
          input: { reservationId: c.reservation!.id, inputTokens: 10_000, outputTokens: 0, idempotencyKey: unique("c") },
        }),
      ),
    );
    const spent = Number(await premiumSpend(org));
    expect(spent).toBeGreaterThanOrEqual(1);
    expect(spent).toBeLessThanOrEqual(1.0 + 0.1);
    const after = await org.service.execute(AuthorizeUsageDocument, {
      input: { memberId: org.memberId, modelKey: "premium", estimatedTokens: 1 },
    });
    expect(after.authorizeUsage).toMatchObject({ allowed: false, denialReason: "MODEL_CAP_REACHED" });
  });

  it("routes the burst's later calls to the cheaper model when fallback is on", async () => {
    const { org, calls } = await nearlyCapped(true);
    const onPremium = calls.filter((c) => c.routedModel?.key === "premium");
    const fellBack = calls.filter((c) => c.fellBack);
    expect(calls.every((c) => c.allowed)).toBe(true);
    expect(onPremium).toHaveLength(1);
    expect(fellBack).toHaveLength(15);
    expect(fellBack.every((c) => c.routedModel!.key === "budget" && c.reservation!.model.key === "budget")).toBe(true);
    await Promise.all(
      calls.map((c) =>
        org.service.execute(CommitUsageDocument, {
          input: { reservationId: c.reservation!.id, inputTokens: 10_000, outputTokens: 0, idempotencyKey: unique("c") },
        }),
      ),
    );
    expect(Number(await premiumSpend(org))).toBeLessThanOrEqual(1.1);
    const { organization } = await org.admin.execute(SpendDocument);
    // 0.95 + 0.10 on premium, 15 × 0.01 on budget
    expect(organization.spend.spent).toBe("1.20");
    expect(organization.spend.byModel.map((m) => [m.model.key, m.spend, m.requests])).toEqual([
      ["premium", "1.05", 2],
      ["budget", "0.15", 15],
    ]);
  });
});
