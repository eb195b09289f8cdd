// Usage analytics on a small known data set: top apps, assistants, consumers and models over ranges that mix
// rolled-up days and usage rows, and time to first value. The server runs on a ManualClock in the future
// (access tokens are checked against the real time, so never in the past), so these
// tests run one after another.

import { describe, expect, it } from "vitest";
import { AnalyticsDocument, MemberDocument, RecordUsageDocument, type UsageRanking } from "../../src/client/generated/graphql.ts";
import { ManualClock } from "../../src/clock.ts";
import { pick } from "../support/client.ts";
import { seedOrganization, unique } from "../support/factories.ts";
import { startServer } from "../support/server.ts";
import { usageOrganization } from "../usage/setup.ts";

const clock = new ManualClock("2027-03-10T12:00:00Z");
const statements: string[] = [];
const server = await startServer({ clock, onQuery: (sql) => statements.push(sql) });
const readsRollup = async <T>(work: () => Promise<T>): Promise<[T, boolean]> => {
  statements.length = 0;
  const result = await work();
  return [result, statements.some((sql) => sql.includes('FROM "UsageDailyRollup"'))];
};

async function dataSet() {
  const org = await usageOrganization(server, { cycleAnchorDay: 1 });
  const [alice, bob] = await org.addMembers([
    { email: `${unique("alice")}@example.com`, teamName: "Red" },
    { email: `${unique("bob")}@example.com`, teamName: "Blue" },
  ]);
  await org.model("m-ten", { input: "10", output: "10" });
  await org.model("m-one", { input: "1", output: "1" });
  const emailOf = async (memberId: string) => (await org.admin.execute(MemberDocument, { memberId })).member!.email;
  const use = (
    memberId: string,
    modelKey: string,
    inputTokens: number,
    outputTokens: number,
    app: string | null,
    assistant: string | null,
  ) =>
    org.service.execute(RecordUsageDocument, {
      input: { memberId, modelKey, inputTokens, outputTokens, app, assistant, idempotencyKey: unique("idem") },
    });
  return { org, alice: alice!, bob: bob!, aliceEmail: await emailOf(alice!), bobEmail: await emailOf(bob!), use };
}

describe.sequential("analytics", () => {
  it("ranks apps, assistants, consumers and models, the same before and after days are rolled up", async () => {
    clock.set("2027-03-10T12:00:00Z");
    const { org, alice, bob, aliceEmail, bobEmail, use } = await dataSet();
    await use(alice, "m-ten", 1000, 0, "Writer", "Helper"); // 0.01
    await use(bob, "m-ten", 3000, 0, "Coder", "Helper"); // 0.03
    await use(bob, "m-one", 5000, 5000, null, null); // 0.01, no app, no assistant
    clock.set("2027-03-11T09:00:00Z");
    await use(alice, "m-ten", 2000, 0, "Writer", "Reviewer"); // 0.02
    clock.set("2027-03-12T08:00:00Z");
    await use(bob, "m-ten", 500, 500, "Writer", null); // 0.01

    const range = { from: "2027-03-10T00:00:00Z", to: "2027-03-13T00:00:00Z" };
    const query = async (by: UsageRanking, vars: { from: string; to: string } = range) =>
      (await org.admin.execute(AnalyticsDocument, { ...vars, by })).analytics;

    const [byRequests, rollupBefore] = await readsRollup(() => query("REQUESTS"));
    expect(rollupBefore).toBe(false);
    expect(byRequests.totals).toEqual({ requests: 5, tokens: 17_000, cost: "0.08" });
    expect(byRequests.topApps).toEqual([
      { name: "Writer", requests: 3, tokens: 4000, cost: "0.04" },
      { name: "Coder", requests: 1, tokens: 3000, cost: "0.03" },
    ]);
    expect(byRequests.topAssistants).toEqual([
      { name: "Helper", requests: 2, tokens: 4000, cost: "0.04" },
      { name: "Reviewer", requests: 1, tokens: 2000, cost: "0.02" },
    ]);
    const byTokens = await query("TOKENS");
    expect(byTokens.topConsumers).toEqual([
      { member: { id: bob, email: bobEmail }, requests: 3, tokens: 14_000, cost: "0.05" },
      { member: { id: alice, email: aliceEmail }, requests: 2, tokens: 3000, cost: "0.03" },
    ]);
    expect(byTokens.topModels).toEqual([
      { model: { key: "m-one" }, requests: 1, tokens: 10_000, cost: "0.01" },
      { model: { key: "m-ten" }, requests: 4, tokens: 7000, cost: "0.07" },
    ]);
    const byCost = await query("COST");
    expect(byCost.topModels.map((m) => m.model.key)).toEqual(["m-ten", "m-one"]);
    expect(byCost.topConsumers.map((c) => c.member.email)).toEqual([bobEmail, aliceEmail]);

    // days 10 and 11 are rolled up (day 12 is still open); the answers do not change
    clock.set("2027-03-12T08:30:00Z");
    await server.app.scheduler.runOnce();
    const [afterRollup, rollupAfter] = await readsRollup(() => query("REQUESTS"));
    expect(rollupAfter).toBe(true);
    expect(afterRollup).toEqual(byRequests);
    expect(await query("TOKENS")).toEqual(byTokens);
    expect(await query("COST")).toEqual(byCost);

    // partial days at both ends: from 12:00:00.001 on day 10 (after the day-10 usage) to the start of day 12
    const partial = await query("REQUESTS", { from: "2027-03-10T12:00:00.001Z", to: "2027-03-12T00:00:00Z" });
    expect(partial.totals).toEqual({ requests: 1, tokens: 2000, cost: "0.02" });
    expect(partial.topApps).toEqual([{ name: "Writer", requests: 1, tokens: 2000, cost: "0.02" }]);
    expect(partial.topAssistants).toEqual([{ name: "Reviewer", requests: 1, tokens: 2000, cost: "0.02" }]);
    // one millisecond of day 10 that holds its usage
    const instant = await query("REQUESTS", { from: "2027-03-10T12:00:00Z", to: "2027-03-10T12:00:00.001Z" });
    expect(instant.totals).toEqual({ requests: 3, tokens: 14_000, cost: "0.05" });

    // the default range is the current billing cycle (March)
    const cycle = (await org.admin.execute(AnalyticsDocument)).analytics;
    expect({ from: cycle.from, to: cycle.to, totals: pick(cycle.totals, "requests") }).toEqual({
      from: "2027-03-01T00:00:00.000Z",
      to: "2027-04-01T00:00:00.000Z",
      totals: { requests: 5 },
    });
    // a range before any usage
    const before = await query("REQUESTS", { from: "2027-02-01T00:00:00Z", to: "2027-03-01T00:00:00Z" });
    expect(before).toMatchObject({ totals: { requests: 0, tokens: 0, cost: "0.00" }, topApps: [], topConsumers: [] });
  });

  it("counts usage of later days after further rollups, and limits the lists", async () => {
    clock.set("2027-03-20T10:00:00Z");
    const { org, alice, use } = await dataSet();
    for (let i = 0; i < 12; i++) await use(alice, "m-one", 100 * (i + 1), 0, `app-${String(i).padStart(2, "0")}`, null);
    clock.set("2027-03-21T10:00:00Z");
    await server.app.scheduler.runOnce();
    await use(alice, "m-one", 5000, 0, "app-00", null);
    const from = "2027-03-20T00:00:00Z";
    const { analytics } = await org.admin.execute(AnalyticsDocument, { from, limit: 3, by: "TOKENS" });
    const all = (await org.admin.execute(AnalyticsDocument, { from, limit: 100 })).analytics.topApps;
    expect(analytics.topApps.map((app) => pick(app, "name", "tokens"))).toEqual([
      { name: "app-00", tokens: 5100 },
      { name: "app-11", tokens: 1200 },
      { name: "app-10", tokens: 1100 },
    ]);
    expect(all).toHaveLength(12);
    // ties on requests are broken by name
    expect(all.slice(1, 4).map((a) => a.name)).toEqual(["app-01", "app-02", "app-03"]);
  });

  it("refuses bad ranges and limits naming the argument, and anyone but admins", async () => {
    const { org } = await dataSet();
    const reversed = await org.admin.errorOf(AnalyticsDocument, { from: "2027-03-05T00:00:00Z", to: "2027-03-01T00:00:00Z" });
    expect(reversed.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "from" });
    const limit = await org.admin.errorOf(AnalyticsDocument, { limit: 0 });
    expect(limit.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "limit" });
    const big = await org.admin.errorOf(AnalyticsDocument, { limit: 101 });
    expect(big.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "limit" });
    const date = await org.admin.errorOf(`query { analytics(from: "yesterday") { from } }`);
    expect(date.extensions?.code).toBe("BAD_USER_INPUT");
    expect((await org.member.errorOf(AnalyticsDocument)).extensions?.code).toBe("FORBIDDEN");
    expect((await org.service.errorOf(AnalyticsDocument)).extensions?.code).toBe("FORBIDDEN");
  });

  it("never shows another organisation's usage", async () => {
    clock.set("2027-03-22T10:00:00Z");
    const { org, alice, use } = await dataSet();
    await use(alice, "m-ten", 1000, 0, "Secret app", "Secret assistant");
    const other = await seedOrganization(server);
    const { analytics } = await other.admin.execute(AnalyticsDocument);
    const { totals, topApps, topAssistants, topConsumers, topModels } = analytics;
    expect({ totals: pick(totals, "requests"), topApps, topAssistants, topConsumers, topModels }).toEqual({
      totals: { requests: 0 },
      topApps: [],
      topAssistants: [],
      topConsumers: [],
      topModels: [],
    });
    const own = await org.admin.execute(AnalyticsDocument);
    expect(own.analytics.topApps.map((app) => pick(app, "name"))).toContainEqual({ name: "Secret app" });
  });

  it("gives the median time to first value and its distribution over members created in the range", async () => {
    // Member.createdAt is the database's time: run this one on the real time, moving only forward from it.
    const start = new Date();
    clock.set(start);
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    await org.fund(2_000_000);
    const [a, b] = await org.addMembers([{}, {}, {}]);
    const first = (memberId: string) =>
      org.service.execute(RecordUsageDocument, {
        input: { memberId, modelKey: "m", inputTokens: 1, outputTokens: 1, idempotencyKey: unique("idem") },
      });
    clock.set(new Date(start.getTime() + 2 * 3600_000));
    await first(a!);
    clock.set(new Date(start.getTime() + 4 * 3600_000));
    await first(b!);
    await first(a!); // a's second use changes nothing
    clock.set(new Date(start.getTime() + 3 * 86_400_000));
    await first(org.memberId);

    const { analytics } = await org.admin.execute(AnalyticsDocument, {
      from: new Date(start.getTime() - 60_000).toISOString(),
      to: new Date(Date.now() + 60_000).toISOString(),
    });
    // admin (never used) + usage member (3 days) + a (2 h) + b (4 h) + c (never): median of 2 h, 4 h, 3 d
    const ttfv = analytics.timeToFirstValue;
    expect(ttfv.membersCreated).toBe(5);
    expect(ttfv.membersReached).toBe(3);
    expect(Math.abs(ttfv.medianSeconds! - 4 * 3600)).toBeLessThan(120);
    expect(analytics.medianTimeToFirstValueSeconds).toBe(ttfv.medianSeconds);
    expect(ttfv.buckets.map((bucket) => bucket.members)).toEqual([0, 2, 1, 0, 0]);
    expect(ttfv.buckets[0]).toEqual({ label: "under 1 hour", minSeconds: 0, maxSeconds: 3600, members: 0 });

    const { analytics: none } = await org.admin.execute(AnalyticsDocument, { from: "2020-01-01T00:00:00Z", to: "2020-02-01T00:00:00Z" });
    expect({ median: none.medianTimeToFirstValueSeconds, timeToFirstValue: pick(none.timeToFirstValue, "membersCreated") }).toEqual({
      median: null,
      timeToFirstValue: { membersCreated: 0 },
    });
  });
});
