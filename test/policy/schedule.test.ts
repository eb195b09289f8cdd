// Cycle resets and rebalancing through the scheduler: exactly once per cycle or slot, catch-up after downtime,
// several claimants at once. The tests move one clock and run every organisation's jobs, so they run in turn.
import { describe, expect, it } from "vitest";
import {
  AuthorizeUsageDocument,
  PolicyScheduleDocument,
  SetAllocationDocument,
  SetOverrideDocument,
} from "../../src/client/generated/graphql.ts";
import { ManualClock } from "../../src/clock.ts";
import { runCycleResets, runRebalancing } from "../../src/policy/scheduled.ts";
import { startServer } from "../support/server.ts";
import { type PolicyOrg, policyOrg } from "./support.ts";

// In the future: access tokens are issued on this clock but verified against the real time.
const clock = new ManualClock("2027-03-11T00:00:00.000Z");
const server = await startServer({ clock });
const second = server.databaseUrl ? await startServer({ clock, databaseUrl: server.databaseUrl }) : null;
const HOUR = 3_600_000;

async function schedule(org: PolicyOrg) {
  const { organization } = await org.admin.execute(PolicyScheduleDocument, { runs: 20 });
  return { ...organization.schedule, cycleStart: organization.cycleStart };
}

const setAllocation = (org: PolicyOrg, memberId: string, inference: number) =>
  org.admin.execute(SetAllocationDocument, { input: { memberId, inference } });

describe.sequential("cycle reset", () => {
  it("at the cycle start returns used to 0 and limits to the floor, moving consumption out of the books, once; reservations stay", async () => {
    clock.set("2027-03-11T00:00:00.000Z");
    const org = await policyOrg(server, { members: 3, fund: 10_000_000, planBudget: "1000.00" });
    const [a, b, c] = org.memberIds as [string, string, string];
    await setAllocation(org, a, 2_000_000);
    await org.use(a, 1_500_000);
    await org.use(b, 300_000);
    await org.use(c, 390_000, "TRAINING");
    const before = await org.conserved();
    expect(before.INFERENCE.used).toBe(1_800_000 + 0);

    clock.set("2027-03-31T23:59:00.000Z");
    const { authorizeUsage } = await org.admin.execute(AuthorizeUsageDocument, {
      input: { memberId: b, modelKey: org.modelKey, estimatedTokens: 50_000 },
    });
    expect(authorizeUsage.allowed).toBe(true);

    clock.set("2027-04-01T00:00:30.000Z");
    await server.app.scheduler.runOnce();
    expect(await org.balance(b)).toMatchObject({ limit: 500_000, used: 0, reserved: 50_000 }); // the open reservation stays
    const after = await org.conserved();
    expect(after.INFERENCE).toMatchObject({ used: 0, consumedInClosedPeriods: 1_800_000, allocated: 4 * 500_000 }); // the admin too
    expect(after.TRAINING).toMatchObject({ used: 0, consumedInClosedPeriods: 390_000 });
    expect(await org.balance(a)).toMatchObject({ limit: 500_000, used: 0 });
    expect(await org.balance(c, "TRAINING")).toMatchObject({ limit: 500_000, used: 0 });

    const view = await schedule(org);
    expect(view.cycleStart).toBe("2027-04-01T00:00:00.000Z");
    expect(view.nextCycleReset).toBe("2027-05-01T00:00:00.000Z");
    const resets = view.lastRuns.filter((run) => run.job === "CYCLE_RESET");
    expect(resets).toHaveLength(1);
    expect(resets[0]).toMatchObject({ slot: "2027-04-01T00:00:00.000Z", finishedAt: "2027-04-01T00:00:30.000Z" });
    expect(resets[0]!.kinds.find((kind) => kind.kind === "INFERENCE")).toMatchObject({
      members: 4,
      consumed: 1_800_000,
      overdraft: 0,
      shortfall: 0,
    });

    clock.advance(HOUR);
    await org.use(b, 1_000);
    await server.app.scheduler.runOnce();
    expect((await org.balance(b)).used).toBe(1_000);
    expect((await schedule(org)).lastRuns.filter((run) => run.job === "CYCLE_RESET")).toHaveLength(1);
  });

  it("catches up after downtime with one reset to the current cycle, and re-establishes limits with monthlyResetToFloor off", async () => {
    clock.set("2027-04-11T00:00:00.000Z");
    const org = await policyOrg(server, { members: 1, fund: 5_000_000 });
    await org.policy({ monthlyResetToFloor: false });
    const [id] = org.memberIds as [string];
    await setAllocation(org, id, 1_200_000);
    await org.use(id, 700_000);
    clock.set("2027-06-20T00:00:00.000Z"); // no server ran on May 1st nor June 1st
    await server.app.scheduler.runOnce();
    expect(await org.balance(id)).toMatchObject({ limit: 1_200_000, used: 0 });
    const view = await schedule(org);
    expect(view.cycleStart).toBe("2027-06-01T00:00:00.000Z");
    expect(view.lastRuns.filter((run) => run.job === "CYCLE_RESET").map((run) => run.slot)).toEqual(["2027-06-01T00:00:00.000Z"]);
    expect((await org.conserved()).INFERENCE.consumedInClosedPeriods).toBe(700_000);
  });

  it("fills floors fairly when the pool cannot cover them and records overdraft", async () => {
    clock.set("2027-06-20T00:00:00.000Z");
    const org = await policyOrg(server, { members: 2, fund: 1_000_000 });
    const [a, b] = org.memberIds as [string, string];
    await org.use(a, 600_000); // past its 500K limit (usage that happened is always recorded)
    await org.use(b, 500_000);
    await org.policy({ inferenceFloor: 800_000 });
    clock.set("2027-07-01T00:00:00.000Z");
    await server.app.scheduler.runOnce();
    const status = await org.conserved();
    // 1M consumed (a's overdraft of 100K was never allocated); the admin's unused 500K floor is all the new floors get.
    expect(status.INFERENCE).toMatchObject({ consumedInClosedPeriods: 1_000_000, unallocated: 0, allocated: 500_000 });
    const reset = (await schedule(org)).lastRuns.find((run) => run.job === "CYCLE_RESET");
    expect(reset!.kinds.find((kind) => kind.kind === "INFERENCE")).toMatchObject({
      overdraft: 100_000,
      shortfall: 3 * 800_000 - 500_000,
    });
    expect(reset!.summary).toMatch(/short/);
    await org.buy(1_000_000);
    await server.app.scheduler.runOnce();
    // Rebalancing is OFF, but a purchase itself brings members below their floor up to it (contract: "Floor").
    expect((await org.balance(a)).limit).toBe(800_000);
  });

  it("runs exactly once when several claimants race for the same cycle", async () => {
    clock.set("2027-07-10T00:00:00.000Z");
    const orgs = await Promise.all([1, 2, 3].map(() => policyOrg(server, { members: 2, fund: 2_000_000 })));
    for (const org of orgs) await org.use(org.memberIds[0]!, 100_000);
    clock.set("2027-08-01T00:00:00.000Z");
    const runtimes = [server.app.runtime, second?.app.runtime ?? server.app.runtime];
    await Promise.all([
      server.app.scheduler.runOnce(),
      second?.app.scheduler.runOnce(),
      ...runtimes.flatMap((runtime) => [runCycleResets(runtime), runCycleResets(runtime), runRebalancing(runtime)]),
    ]);
    // PGlite runs on this event loop: let the server drop keep-alive sockets that idled past their timeout meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const org of orgs) {
      const resets = (await schedule(org)).lastRuns.filter((run) => run.job === "CYCLE_RESET" && run.slot === "2027-08-01T00:00:00.000Z");
      expect(resets).toHaveLength(1);
      const status = await org.conserved();
      expect(status.INFERENCE.consumedInClosedPeriods).toBe(100_000);
    }
  });
});

describe.sequential("rebalancing", () => {
  it("reclaims, auto-increases and tops up floors once per slot, and shows it on the schedule", async () => {
    clock.set("2027-08-01T12:00:00.000Z");
    await server.app.scheduler.runOnce(); // settle earlier organisations' resets
    const org = await policyOrg(server, { preset: "DYNAMIC", members: 3, fund: 12_000_000 });
    const [idle, busy, low] = org.memberIds as [string, string, string];
    await setAllocation(org, idle, 4_000_000);
    await org.policy({ preset: "DYNAMIC" }); // keep DYNAMIC labelled
    const view0 = await schedule(org);
    expect(view0).toMatchObject({ rebalanceFrequency: "DAILY", nextRebalance: "2027-08-01T00:00:00.000Z" });

    // Day one: no reclamation yet. The run still claims the slot.
    await server.app.scheduler.runOnce();
    expect((await org.balance(idle)).limit).toBe(4_000_000);
    const view1 = await schedule(org);
    expect(view1.nextRebalance).toBe("2027-08-02T00:00:00.000Z");
    expect(view1.lastRuns.filter((run) => run.job === "REBALANCE")).toHaveLength(1);

    clock.set("2027-08-11T06:00:00.000Z"); // day 10 of 31
    await org.use(idle, 100_000); // projected need 341K → the floor 500K: 3.5M reclaimable
    await org.policy({ autoIncrease: false });
    await org.use(busy, 400_000); // 80 %: tier 1, not bumped now (auto-increase was off)
    await org.policy({ preset: "DYNAMIC" });
    // A restricted account: its override floor lets it hold less than the policy's (nothing to top up).
    await org.admin.execute(SetOverrideDocument, { input: { memberId: low, floor: 200_000 } });
    await setAllocation(org, low, 200_000);
    const before = await org.conserved();

    await server.app.scheduler.runOnce();
    await server.app.scheduler.runOnce();
    expect((await org.balance(idle)).limit).toBe(500_000);
    expect((await org.balance(busy)).limit).toBe(500_000 + Math.floor(100_000 * 0.25));
    expect((await org.balance(low)).limit).toBe(200_000);
    const after = await org.conserved();
    expect(after.INFERENCE.unallocated).toBe(before.INFERENCE.unallocated + 3_500_000 - 25_000);
    const runs = (await schedule(org)).lastRuns.filter((run) => run.job === "REBALANCE");
    expect(runs).toHaveLength(2);
    expect(runs[0]).toMatchObject({ slot: "2027-08-11T00:00:00.000Z" });
    expect(runs[0]!.kinds.find((kind) => kind.kind === "INFERENCE")).toMatchObject({
      reclaimed: 3_500_000,
      reclaimedMembers: 1,
      autoIncreased: 25_000,
      autoIncreasedMembers: 1,
      toppedUp: 0,
      toppedUpMembers: 0,
      shortfall: 0,
    });
  });

  it("hourly and weekly slots run once each", async () => {
    clock.set("2027-08-11T06:10:00.000Z");
    const org = await policyOrg(server, { members: 1, fund: 1_000_000 });
    await org.policy({ rebalanceFrequency: "HOURLY" });
    await server.app.scheduler.runOnce();
    clock.set("2027-08-11T06:50:00.000Z");
    await server.app.scheduler.runOnce();
    clock.set("2027-08-11T07:00:00.000Z");
    await server.app.scheduler.runOnce();
    let runs = (await schedule(org)).lastRuns.filter((run) => run.job === "REBALANCE");
    expect(runs.map((run) => run.slot)).toEqual(["2027-08-11T07:00:00.000Z", "2027-08-11T06:00:00.000Z"]);
    await org.policy({ rebalanceFrequency: "WEEKLY" });
    clock.set("2027-08-12T07:00:00.000Z"); // a Thursday: the week began on Monday the 9th
    await server.app.scheduler.runOnce();
    await server.app.scheduler.runOnce();
    runs = (await schedule(org)).lastRuns.filter((run) => run.job === "REBALANCE");
    expect(runs[0]!.slot).toBe("2027-08-09T00:00:00.000Z");
    expect(runs).toHaveLength(3);
    expect((await schedule(org)).nextRebalance).toBe("2027-08-16T00:00:00.000Z");
  });
});
