// A full simulated month of usage for one organisation on each preset, through the API and the scheduler:
// the conservation law is checked after every round of usage and every scheduler run, then across the reset.

import { describe, expect, it } from "vitest";
import { MembersDocument, PolicyScheduleDocument } from "../../src/client/generated/graphql.ts";
import { ManualClock } from "../../src/clock.ts";
import { startServer } from "../support/server.ts";
import { type PolicyOrg, policyOrg } from "./support.ts";

// In the future: access tokens are issued on this clock but verified against the real time.
const clock = new ManualClock("2027-09-01T00:00:00.000Z");
const server = await startServer({ clock });
const HOUR = 3_600_000;

const PRESETS = ["CONSERVATIVE", "STANDARD", "AGGRESSIVE", "DYNAMIC"] as const;
/** Tokens each member tries to use per round: heavy, steady, light, idle, training-heavy. */
const PACE = [150_000, 40_000, 5_000, 0, 60_000] as const;

interface Sim {
  preset: (typeof PRESETS)[number];
  org: PolicyOrg;
  limits: Map<string, number>;
}

/** Every member's two balances in one query. */
async function memberBalances(org: PolicyOrg): Promise<Map<string, Record<"INFERENCE" | "TRAINING", { used: number; remaining: number }>>> {
  const { organization } = await org.admin.execute(MembersDocument, { first: 50 });
  return new Map(
    organization.members.edges.map((edge) => [edge.node.id, { INFERENCE: edge.node.inference, TRAINING: edge.node.training }]),
  );
}

describe.sequential("a month on each preset", () => {
  it("keeps every token accounted for through a month of usage, bumps, rebalancing and the reset", { timeout: 300_000 }, async () => {
    const sims: Sim[] = [];
    for (const preset of PRESETS) {
      const org = await policyOrg(server, { preset, fund: 60_000_000, members: PACE.length });
      sims.push({ preset, org, limits: new Map() });
    }

    for (let day = 0; day < 30; day++) {
      for (const hour of [9, 17]) {
        clock.set(new Date(Date.UTC(2027, 8, 1 + day) + hour * HOUR));
        for (const sim of sims) {
          const balances = await memberBalances(sim.org);
          for (const [index, pace] of PACE.entries()) {
            if (pace === 0) continue;
            const kind = index === 4 ? "TRAINING" : "INFERENCE";
            const memberId = sim.org.memberIds[index]!;
            const wanted = Math.round((pace * (1 + ((day + index) % 3))) / 2);
            // An honest client (authorizeUsage first) never uses more than remains.
            const balance = balances.get(memberId)![kind];
            const tokens = Math.min(wanted, balance.remaining);
            if (tokens > 0) {
              const after = await sim.org.use(memberId, tokens, kind);
              expect(after.used).toBe(balance.used + tokens);
            }
          }
          await sim.org.conserved();
        }
      }
      await server.app.scheduler.runOnce();
      for (const sim of sims) await sim.org.conserved();
    }

    for (const sim of sims) {
      const heavy = await sim.org.balance(sim.org.memberIds[0]!);
      const idle = await sim.org.balance(sim.org.memberIds[3]!);
      const floor = { CONSERVATIVE: 200_000, STANDARD: 500_000, AGGRESSIVE: 1_000_000, DYNAMIC: 500_000 }[sim.preset];
      expect({ preset: sim.preset, idle: idle.limit }).toEqual({ preset: sim.preset, idle: floor });
      expect(heavy.limit).toBeGreaterThan(floor); // auto-increase kept the heavy user going
      if (heavy.ceiling !== null) expect(heavy.limit).toBeLessThanOrEqual(heavy.ceiling);
      if (sim.preset === "CONSERVATIVE") expect(heavy.limit).toBe(1_000_000);
      const training = await sim.org.balance(sim.org.memberIds[4]!, "TRAINING");
      expect(training.limit).toBeGreaterThan(floor);
      const { organization } = await sim.org.admin.execute(PolicyScheduleDocument, { runs: 100, job: "REBALANCE" });
      expect({ preset: sim.preset, runs: organization.schedule.lastRuns.length }).toEqual({
        preset: sim.preset,
        runs: sim.preset === "DYNAMIC" ? 30 : 0,
      });
      sim.limits.set("used", (await sim.org.status()).used);
    }

    clock.set("2027-10-01T00:05:00.000Z");
    await server.app.scheduler.runOnce();
    for (const sim of sims) {
      const status = await sim.org.conserved();
      expect(status.INFERENCE.used).toBe(0);
      expect(status.INFERENCE.consumedInClosedPeriods).toBe(sim.limits.get("used"));
      const floor = { CONSERVATIVE: 200_000, STANDARD: 500_000, AGGRESSIVE: 1_000_000, DYNAMIC: 500_000 }[sim.preset];
      for (const memberId of sim.org.memberIds) expect(await sim.org.balance(memberId)).toMatchObject({ limit: floor, used: 0 });
      expect(status.INFERENCE.allocated).toBe(floor * (PACE.length + 1));
    }
  });
});
