// Spend thresholds and their alerts: once per crossing per cycle, live to admins of the organisation only, and
// cheap on the usage hot path. The server runs on a ManualClock in the future (access tokens are checked
// against the real time), moved between cycles, so these tests run one after another.

import { describe, expect, it } from "vitest";
import {
  RecordUsageDocument,
  SetSpendThresholdsDocument,
  SpendAlertDocument,
  SpendAlertsDocument,
  SpendThresholdsDocument,
} from "../../src/client/generated/graphql.ts";
import { ManualClock } from "../../src/clock.ts";
import { Api, subscribe } from "../support/client.ts";
import { unique } from "../support/factories.ts";
import { startServer } from "../support/server.ts";
import { usageOrganization } from "../usage/setup.ts";

const clock = new ManualClock("2027-05-10T12:00:00Z");
let counting = false;
const statements: string[] = [];
const server = await startServer({
  clock,
  onQuery: (sql) => {
    if (counting) statements.push(sql);
  },
});

// A second process of the same deployment (PostgreSQL runs only).
const second = server.databaseUrl ? await startServer({ clock, databaseUrl: server.databaseUrl }) : null;

/** The alerts on the first page, newest first. */
const alertsOf = async (api: Api) => (await api.execute(SpendAlertsDocument)).spendAlerts.edges.map((edge) => edge.node);

type Org = Awaited<ReturnType<typeof usageOrganization>>;

async function alertingOrg() {
  const org = await usageOrganization(server, { planBudget: "8", overageLimit: "2", cycleAnchorDay: 1 });
  const capped = await org.model("capped", { input: "10", output: "10", cap: "2.00" });
  await org.model("open", { input: "10", output: "10" });
  return { org, capped };
}

/** Charges `cents` hundredths of a euro on `modelKey` (1,000 tokens at 10 per million). */
const spend = (org: Org, modelKey: string, cents: number, service: Api = org.service) => {
  clock.advance(1000);
  return service.execute(RecordUsageDocument, {
    input: { memberId: org.memberId, modelKey, inputTokens: cents * 1000, outputTokens: 0, idempotencyKey: unique("idem") },
  });
};

const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe.sequential("spend alerts", () => {
  it("fires each threshold once per crossing per cycle, to this organisation's admins only", async () => {
    clock.set("2027-05-10T12:00:00Z");
    const { org, capped } = await alertingOrg();
    const organizationLevel = await org.admin.execute(SetSpendThresholdsDocument, { percents: [80, 50] });
    expect(organizationLevel.setSpendThresholds).toEqual([
      { id: expect.any(String), percent: 50, amount: "5.00", model: null, lastAlert: null },
      { id: expect.any(String), percent: 80, amount: "8.00", model: null, lastAlert: null },
    ]);
    const modelLevel = await org.admin.execute(SetSpendThresholdsDocument, { percents: [50], modelId: capped.id });
    expect(modelLevel.setSpendThresholds).toEqual([
      { id: expect.any(String), percent: 50, amount: "1.00", model: { key: "capped" }, lastAlert: null },
    ]);

    const other = await alertingOrg();
    await other.org.admin.execute(SetSpendThresholdsDocument, { percents: [1] });
    const { subscription, client } = subscribe(org.admin, SpendAlertDocument);
    const { subscription: foreign, client: foreignClient } = subscribe(other.org.admin, SpendAlertDocument);
    try {
      await settle();
      await spend(org, "open", 400); // 4.00 of 10: 40 %
      await spend(org, "open", 100); // 5.00: 50 %
      const half = await subscription.next();
      expect(half.spendAlert).toMatchObject({
        percent: 50,
        spend: "5.00",
        cycleStart: "2027-05-01T00:00:00.000Z",
        model: null,
        threshold: { percent: 50 },
      });

      await spend(org, "capped", 50); // capped 0.50 of 2.00
      await spend(org, "capped", 60); // capped 1.10: 55 % of its cap
      const model = await subscription.next((event) => event.spendAlert.model !== null);
      expect(model.spendAlert).toMatchObject({ percent: 50, spend: "1.10", model: { key: "capped" } });

      await spend(org, "open", 200); // 8.10: 81 %
      const high = await subscription.next((event) => event.spendAlert.percent === 80);
      expect(high.spendAlert).toMatchObject({ spend: "8.10", model: null });
      await Promise.all([spend(org, "open", 100), spend(org, "capped", 100), spend(org, "open", 1)]);
      await settle();
      expect(subscription.events).toHaveLength(3);
      expect(foreign.events).toHaveLength(0);

      const spendAlerts = await alertsOf(org.admin);
      expect(spendAlerts.map((a) => [a.percent, a.spend, a.model?.key ?? null])).toEqual([
        [80, "8.10", null],
        [50, "1.10", "capped"],
        [50, "5.00", null],
      ]);
      const { spendThresholds } = await org.admin.execute(SpendThresholdsDocument);
      expect(spendThresholds.map((t) => [t.model?.key ?? null, t.percent, t.lastAlert?.spend ?? null])).toEqual([
        [null, 50, "5.00"],
        [null, 80, "8.10"],
        ["capped", 50, "1.10"],
      ]);

      // the next cycle starts from zero and may cross again
      clock.set("2027-06-02T08:00:00Z");
      await spend(org, "open", 500);
      const again = await subscription.next((event) => event.spendAlert.cycleStart === "2027-06-01T00:00:00.000Z");
      expect(again.spendAlert).toMatchObject({ percent: 50, spend: "5.00" });
      await settle();
      expect(subscription.events).toHaveLength(4);
      expect(await alertsOf(org.admin)).toHaveLength(4);
    } finally {
      subscription.close();
      foreign.close();
      await client.dispose();
      await foreignClient.dispose();
    }
  });

  it("keeps a threshold that stays when the list is replaced, so it does not fire again", async () => {
    clock.set("2027-06-10T12:00:00Z");
    const { org } = await alertingOrg();
    const first = await org.admin.execute(SetSpendThresholdsDocument, { percents: [50] });
    await spend(org, "open", 600);
    await expect.poll(async () => (await alertsOf(org.admin)).length).toBe(1);
    const replaced = await org.admin.execute(SetSpendThresholdsDocument, { percents: [50, 90] });
    expect(replaced.setSpendThresholds.map((t) => t.percent)).toEqual([50, 90]);
    expect(replaced.setSpendThresholds[0]).toMatchObject({ id: first.setSpendThresholds[0]!.id, lastAlert: { percent: 50 } });
    await spend(org, "open", 100);
    await spend(org, "open", 250); // 9.50: 95 %
    await expect.poll(async () => (await alertsOf(org.admin)).map((a) => a.percent)).toEqual([90, 50]);
    // an empty list removes them
    expect((await org.admin.execute(SetSpendThresholdsDocument, { percents: [] })).setSpendThresholds).toEqual([]);
    expect((await org.admin.execute(SpendThresholdsDocument)).spendThresholds).toEqual([]);
  });

  it("refuses bad thresholds naming the field, foreign models, and anyone but admins", async () => {
    const { org, capped } = await alertingOrg();
    expect((await org.admin.errorOf(SetSpendThresholdsDocument, { percents: [50, 0] })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "percents[1]",
    });
    expect((await org.admin.errorOf(SetSpendThresholdsDocument, { percents: [1001] })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "percents[0]",
    });
    expect((await org.admin.errorOf(SetSpendThresholdsDocument, { percents: [50], modelId: "nope" })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "modelId",
    });
    const other = await alertingOrg();
    expect((await other.org.admin.errorOf(SetSpendThresholdsDocument, { percents: [50], modelId: capped.id })).extensions?.code).toBe(
      "NOT_FOUND",
    );
    expect((await other.org.admin.execute(SpendThresholdsDocument)).spendThresholds).toEqual([]);
    expect((await org.member.errorOf(SetSpendThresholdsDocument, { percents: [50] })).extensions?.code).toBe("FORBIDDEN");
    expect((await org.member.errorOf(SpendThresholdsDocument)).extensions?.code).toBe("FORBIDDEN");
    expect((await org.service.errorOf(SpendAlertsDocument)).extensions?.code).toBe("FORBIDDEN");
    // nothing was changed by the refused calls
    expect((await org.admin.execute(SpendThresholdsDocument)).spendThresholds).toEqual([]);
    const { subscription, client } = subscribe(org.member, SpendAlertDocument);
    try {
      await expect.poll(() => subscription.errors.length).toBeGreaterThan(0);
      expect(JSON.stringify(subscription.errors)).toContain("FORBIDDEN");
    } finally {
      subscription.close();
      await client.dispose();
    }
  });

  it("costs no query on the hot path without thresholds, and at most one while some may still fire", async () => {
    clock.set("2027-06-12T12:00:00Z");
    const { org } = await alertingOrg();
    const spendQueries = async (work: () => Promise<unknown>) => {
      statements.length = 0;
      counting = true;
      await work();
      counting = false;
      return statements.filter((sql) => sql.includes("SpendThreshold") || sql.includes("SpendAlert"));
    };
    await spend(org, "open", 1); // loads (and caches) the organisation's thresholds: none
    expect(await spendQueries(() => spend(org, "open", 1))).toEqual([]);

    await org.admin.execute(SetSpendThresholdsDocument, { percents: [90] });
    const first = await spendQueries(() => spend(org, "open", 1));
    // the thresholds once (the change evicted them), then the one standing query
    expect(first.filter((sql) => sql.includes('FROM "public"."SpendThreshold"'))).toHaveLength(1);
    expect(first.filter((sql) => sql.includes('"SpendAlert"'))).toHaveLength(1);
    expect(await spendQueries(() => spend(org, "open", 1))).toHaveLength(1);

    await spend(org, "open", 900); // crosses 90 %
    await spend(org, "open", 1); // learns that it fired
    expect(await spendQueries(() => spend(org, "open", 1))).toEqual([]);
    expect(await alertsOf(org.admin)).toHaveLength(1);
  });

  it("pages spendAlerts by cursor, newest first, and resolves each alert as a Node for its organisation's admins only", async () => {
    clock.set("2027-06-16T12:00:00Z");
    const { org } = await alertingOrg();
    await org.admin.execute(SetSpendThresholdsDocument, { percents: [10, 20, 30] });
    await spend(org, "open", 150); // 1.50 of 10: 10 %
    await spend(org, "open", 100); // 2.50: 20 %
    await spend(org, "open", 100); // 3.50: 30 %
    await expect.poll(async () => (await alertsOf(org.admin)).length).toBe(3);

    const first = (await org.admin.execute(SpendAlertsDocument, { first: 2 })).spendAlerts;
    expect(first.edges.map((edge) => edge.node.percent)).toEqual([30, 20]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = (await org.admin.execute(SpendAlertsDocument, { first: 2, after: first.pageInfo.endCursor })).spendAlerts;
    expect(second.edges.map((edge) => edge.node.percent)).toEqual([10]);
    expect(second.pageInfo.hasNextPage).toBe(false);
    for (const size of [-1, 501]) {
      const error = await org.admin.errorOf(SpendAlertsDocument, { first: size });
      expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
    }
    for (const bad of ["nope", "2027-06-16T12:00:00.000Z_nope", "_", `${first.pageInfo.endCursor}_x`]) {
      expect((await org.admin.errorOf(SpendAlertsDocument, { first: 2, after: bad })).extensions).toMatchObject({
        code: "BAD_USER_INPUT",
        field: "after",
      });
    }

    // The alert as a Node, read by each principal (the Node interface, not a client operation).
    const NODE = `query($id: ID!) { node(id: $id) { __typename id ... on SpendAlert { percent spend model { key } } } }`;
    const alertId = first.edges[0]!.node.id;
    expect((await org.admin.execute(NODE, { id: alertId })).node).toEqual({
      __typename: "SpendAlert",
      id: alertId,
      percent: 30,
      spend: "3.50",
      model: null,
    });
    // another organisation's admin, a plain member and a service key see nothing (not even that it exists)
    const other = await alertingOrg();
    for (const api of [other.org.admin, org.member, org.service]) {
      expect((await api.execute(NODE, { id: alertId })).node).toBeNull();
    }
  });

  it.skipIf(!second)("fires once when two server processes charge across thresholds at once", async () => {
    clock.set("2027-06-14T12:00:00Z");
    const { org } = await alertingOrg();
    await org.admin.execute(SetSpendThresholdsDocument, { percents: [10, 20, 30] });
    const viaSecond = new Api(second!.url, org.service.credential);
    await Promise.all(Array.from({ length: 40 }, (_, i) => spend(org, "open", 10, i % 2 === 0 ? org.service : viaSecond)));
    const spendAlerts = await alertsOf(org.admin);
    expect(spendAlerts.map((a) => a.percent).sort()).toEqual([10, 20, 30]);
  });
});
