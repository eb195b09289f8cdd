// The distribution policy's pure rules: exhaustive cases and properties (fast-check).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type PolicyValues, PRESETS } from "../../src/policy/presets.ts";
import {
  activate,
  type BumpState,
  baseBump,
  boundBump,
  bumpDue,
  DAY_MS,
  distributionTarget,
  editPolicy,
  fairFill,
  nextRebalance,
  planFill,
  planReset,
  projectedNeed,
  projectedUse,
  rebalanceSlot,
  reclaimable,
  tierAfter,
  tierOf,
} from "../../src/policy/rules.ts";

const STANDARD = PRESETS.STANDARD.policy;
const DYNAMIC = PRESETS.DYNAMIC.policy;
const AGGRESSIVE = PRESETS.AGGRESSIVE.policy;
const CONSERVATIVE = PRESETS.CONSERVATIVE.policy;
const cycle = { start: new Date("2026-03-01T00:00:00Z"), end: new Date("2026-04-01T00:00:00Z") };
const at = (iso: string) => new Date(iso);
const token = fc.bigInt({ min: 0n, max: 10n ** 12n });

function state(partial: Partial<BumpState>): BumpState {
  return {
    limit: 1_000_000n,
    used: 0n,
    ceiling: null,
    lastAutoIncreaseAt: null,
    lastTier: 0,
    preemptiveBumpCycle: null,
    skipped: false,
    ...partial,
  };
}

function badField(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { extensions?: { code?: string; field?: string } }).extensions?.code === "BAD_USER_INPUT"
      ? (error as { extensions: { field: string } }).extensions.field
      : "not BAD_USER_INPUT";
  }
  return undefined;
}

describe("presets", () => {
  it("carry the contract's table", () => {
    const row = (p: PolicyValues) => [
      p.inferenceFloor,
      p.trainingFloor,
      p.ceiling,
      p.triggerMode,
      p.triggerPercent,
      p.cooldownMinutes,
      p.bumpMethod,
      p.bumpAmount,
      p.nearMaxThreshold,
      p.nearMaxBump,
      p.reclamation,
      p.rebalanceFrequency,
    ];
    expect(row(CONSERVATIVE)).toEqual([
      200_000n,
      200_000n,
      1_000_000n,
      "FLAT_THRESHOLD",
      90,
      240,
      "PERCENT_OF_CURRENT",
      25,
      null,
      null,
      false,
      "OFF",
    ]);
    expect(row(STANDARD)).toEqual([
      500_000n,
      500_000n,
      5_000_000n,
      "FLAT_THRESHOLD",
      80,
      60,
      "PERCENT_OF_CURRENT",
      25,
      0.8,
      50,
      false,
      "OFF",
    ]);
    expect(row(AGGRESSIVE)).toEqual([1_000_000n, 1_000_000n, null, "FLAT_THRESHOLD", 75, 30, "FLAT", 500_000, null, null, false, "OFF"]);
    expect(row(DYNAMIC)).toEqual([500_000n, 500_000n, null, "TIERED", 75, 60, "PERCENT_OF_REMAINING", 25, null, null, true, "DAILY"]);
    for (const preset of [CONSERVATIVE, STANDARD, AGGRESSIVE, DYNAMIC]) {
      expect(preset.monthlyResetToFloor).toBe(true);
      expect(preset.bufferDays).toBe(preset === DYNAMIC ? 3 : 0);
      expect(() => editPolicy(preset, {})).not.toThrow();
    }
  });

  it("activating CUSTOM keeps the values; a fixed preset replaces them", () => {
    const custom = editPolicy(STANDARD, { triggerPercent: 85 });
    expect(activate(custom, "CUSTOM")).toEqual({ ...custom, preset: "CUSTOM" });
    expect(activate(custom, "AGGRESSIVE")).toEqual(AGGRESSIVE);
  });
});

describe("editPolicy", () => {
  it("makes any real change CUSTOM and keeps the preset when nothing differs", () => {
    expect(editPolicy(STANDARD, { triggerPercent: 85 })).toMatchObject({ preset: "CUSTOM", triggerPercent: 85, inferenceFloor: 500_000n });
    expect(editPolicy(STANDARD, { triggerPercent: 80, ceiling: 5_000_000 }).preset).toBe("STANDARD");
    expect(editPolicy(STANDARD, { preset: "DYNAMIC" })).toEqual(DYNAMIC);
    expect(editPolicy(STANDARD, { preset: "DYNAMIC", bufferDays: 5 })).toEqual({ ...DYNAMIC, bufferDays: 5, preset: "CUSTOM" });
    expect(editPolicy(STANDARD, { preset: "CUSTOM" })).toEqual({ ...STANDARD, preset: "CUSTOM" });
    expect(editPolicy(STANDARD, { unlimitedCeiling: true }).ceiling).toBeNull();
    expect(editPolicy(STANDARD, { nearMaxThreshold: null, nearMaxBump: null })).toMatchObject({
      nearMaxThreshold: null,
      nearMaxBump: null,
      preset: "CUSTOM",
    });
    expect(editPolicy(AGGRESSIVE, { ceiling: 3_000_000 })).toMatchObject({ ceiling: 3_000_000n, preset: "CUSTOM" });
  });

  it("names the offending field of every invalid value", () => {
    const cases: [Parameters<typeof editPolicy>[1], string][] = [
      [{ inferenceFloor: -1 }, "policy.inferenceFloor"],
      [{ trainingFloor: 1.5 }, "policy.trainingFloor"],
      [{ ceiling: -5 }, "policy.ceiling"],
      [{ ceiling: 100_000 }, "policy.ceiling"],
      [{ inferenceFloor: 6_000_000 }, "policy.ceiling"],
      [{ ceiling: 10, unlimitedCeiling: true }, "policy.ceiling"],
      [{ triggerPercent: 9.9 }, "policy.triggerPercent"],
      [{ triggerPercent: 100 }, "policy.triggerPercent"],
      [{ triggerPercent: Number.NaN }, "policy.triggerPercent"],
      [{ cooldownMinutes: -1 }, "policy.cooldownMinutes"],
      [{ cooldownMinutes: 1.5 }, "policy.cooldownMinutes"],
      [{ bumpAmount: 0 }, "policy.bumpAmount"],
      [{ bumpAmount: 101 }, "policy.bumpAmount"],
      [{ bumpMethod: "FLAT", bumpAmount: 10.5 }, "policy.bumpAmount"],
      [{ bufferDays: 28 }, "policy.bufferDays"],
      [{ bufferDays: -1 }, "policy.bufferDays"],
      [{ nearMaxThreshold: 1.5 }, "policy.nearMaxThreshold"],
      [{ nearMaxThreshold: -0.1 }, "policy.nearMaxThreshold"],
      [{ nearMaxBump: 0 }, "policy.nearMaxBump"],
      [{ nearMaxBump: 150 }, "policy.nearMaxBump"],
      [{ nearMaxBump: null }, "policy.nearMaxBump"],
      [{ nearMaxThreshold: null }, "policy.nearMaxThreshold"],
    ];
    for (const [input, field] of cases) expect([input, badField(() => editPolicy(STANDARD, input))]).toEqual([input, field]);
    expect(badField(() => editPolicy(AGGRESSIVE, { unlimitedCeiling: false }))).toBe("policy.ceiling");
    expect(badField(() => editPolicy(AGGRESSIVE, { bumpAmount: 1_000_000 }))).toBeUndefined();
  });

  it("property: an edit either fails naming a policy field or yields a valid policy that keeps untouched fields", () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            inferenceFloor: fc.integer({ min: -10, max: 10_000_000 }),
            ceiling: fc.integer({ min: 0, max: 10_000_000 }),
            triggerPercent: fc.double({ min: 0, max: 120, noNaN: true }),
            cooldownMinutes: fc.integer({ min: -5, max: 1000 }),
            bumpAmount: fc.double({ min: -1, max: 200, noNaN: true }),
            bufferDays: fc.integer({ min: -1, max: 30 }),
          },
          { requiredKeys: [] },
        ),
        (input) => {
          let result: PolicyValues | null = null;
          const field = badField(() => {
            result = editPolicy(STANDARD, input);
          });
          if (field !== undefined) {
            expect(field).toMatch(/^policy\.\w+$/);
            return;
          }
          const policy = result as unknown as PolicyValues;
          expect(policy.trainingFloor).toBe(STANDARD.trainingFloor);
          expect(policy.ceiling === null || policy.ceiling >= policy.inferenceFloor).toBe(true);
          expect(policy.triggerPercent).toBeGreaterThanOrEqual(10);
          expect(policy.preset === "CUSTOM" || policy.preset === "STANDARD").toBe(true);
        },
      ),
    );
  });
});

describe("triggers and tiers", () => {
  it("FLAT_THRESHOLD fires at used/limit ≥ trigger exactly", () => {
    expect(tierOf(STANDARD, 1000n, 799n)).toBe(0);
    expect(tierOf(STANDARD, 1000n, 800n)).toBe(1);
    expect(tierOf(STANDARD, 1000n, 1000n)).toBe(1);
    expect(tierOf(STANDARD, 0n, 0n)).toBe(0);
    expect(tierOf(STANDARD, 0n, 1n)).toBe(1);
  });

  it("TIERED sits in tiers 1, 2, 3 at 75 %, 90 %, 99.9 %", () => {
    const cases: [bigint, number][] = [
      [749n, 0],
      [750n, 1],
      [899n, 1],
      [900n, 2],
      [998n, 2],
      [999n, 3],
      [1200n, 3],
    ];
    for (const [used, tier] of cases) expect([used, tierOf(DYNAMIC, 1000n, used)]).toEqual([used, tier]);
    expect(tierOf(DYNAMIC, 10_000n, 9_989n)).toBe(2);
    expect(tierOf(DYNAMIC, 10_000n, 9_990n)).toBe(3);
  });

  it("property: tiers never go down as use grows", () => {
    fc.assert(
      fc.property(token, token, token, (limit, a, b) => {
        const [low, high] = a < b ? [a, b] : [b, a];
        for (const policy of [STANDARD, DYNAMIC, CONSERVATIVE])
          expect(tierOf(policy, limit, low)).toBeLessThanOrEqual(tierOf(policy, limit, high));
      }),
    );
  });
});

describe("bump sizes", () => {
  it("follows the method, near max and bounds", () => {
    expect(baseBump(CONSERVATIVE, 1_000_000n, 900_000n, 1_000_000n)).toBe(250_000n);
    expect(baseBump(STANDARD, 1_000_000n, 900_000n, 5_000_000n)).toBe(250_000n);
    expect(baseBump(STANDARD, 4_000_000n, 3_500_000n, 5_000_000n)).toBe(2_000_000n);
    expect(baseBump(STANDARD, 3_999_999n, 3_500_000n, 5_000_000n)).toBe(999_999n);
    expect(baseBump(AGGRESSIVE, 1_000_000n, 800_000n, null)).toBe(500_000n);
    expect(baseBump(DYNAMIC, 1_000_000n, 800_000n, null)).toBe(50_000n);
    expect(baseBump(DYNAMIC, 1_000_000n, 1_200_000n, null)).toBe(0n);
    expect(baseBump({ ...STANDARD, bumpAmount: 12.5 }, 1_000_001n, 0n, null)).toBe(125_000n);
    expect(boundBump(2_000_000n, 4_000_000n, 5_000_000n, 10n ** 9n)).toBe(1_000_000n);
    expect(boundBump(2_000_000n, 4_000_000n, 5_000_000n, 300n)).toBe(300n);
    expect(boundBump(2_000_000n, 6_000_000n, 5_000_000n, 10n ** 9n)).toBe(0n);
    expect(boundBump(2_000_000n, 0n, null, 0n)).toBe(0n);
  });

  it("property: a bounded bump never passes the ceiling nor the pool", () => {
    fc.assert(
      fc.property(
        token,
        token,
        fc.option(token),
        token,
        fc.constantFrom(STANDARD, DYNAMIC, AGGRESSIVE, CONSERVATIVE),
        (limit, used, ceiling, pool, policy) => {
          const bump = boundBump(baseBump(policy, limit, used, ceiling) * 3n, limit, ceiling, pool);
          expect(bump >= 0n).toBe(true);
          expect(bump <= pool).toBe(true);
          if (ceiling !== null) expect(bump === 0n || limit + bump <= ceiling).toBe(true);
        },
      ),
    );
  });
});

describe("bumpDue", () => {
  const now = at("2026-03-10T12:00:00Z");

  it("gives the tier's multiple of the bump, respects cooldown, tiers, ceiling, skip and off", () => {
    expect(bumpDue(DYNAMIC, state({ used: 760_000n }), cycle, now)).toEqual({ amount: 60_000n, reason: "TRIGGER", tier: 1 });
    expect(bumpDue(DYNAMIC, state({ used: 920_000n }), cycle, now)).toEqual({ amount: 40_000n, reason: "TRIGGER", tier: 2 });
    expect(bumpDue(DYNAMIC, state({ used: 999_500n }), cycle, now)).toEqual({ amount: 375n, reason: "TRIGGER", tier: 3 });
    expect(bumpDue(DYNAMIC, state({ used: 920_000n, lastTier: 2 }), cycle, now)).toBeNull();
    expect(bumpDue(DYNAMIC, state({ used: 999_500n, lastTier: 2 }), cycle, now)?.tier).toBe(3);
    expect(bumpDue(STANDARD, state({ used: 800_000n, lastAutoIncreaseAt: at("2026-03-10T11:30:00Z") }), cycle, now)).toBeNull();
    expect(bumpDue(STANDARD, state({ used: 800_000n, lastAutoIncreaseAt: at("2026-03-10T11:00:00Z") }), cycle, now)?.amount).toBe(250_000n);
    expect(bumpDue(STANDARD, state({ used: 800_000n, ceiling: 1_100_000n }), cycle, now)?.amount).toBe(100_000n);
    expect(bumpDue(STANDARD, state({ used: 800_000n, ceiling: 1_000_000n }), cycle, now)).toBeNull();
    expect(bumpDue(STANDARD, state({ used: 800_000n, skipped: true }), cycle, now)).toBeNull();
    expect(bumpDue({ ...STANDARD, autoIncrease: false }, state({ used: 800_000n }), cycle, now)).toBeNull();
    expect(bumpDue(STANDARD, state({ used: 799_999n }), cycle, now)).toBeNull();
  });

  it("gives one pre-emptive bump per cycle within the buffer days when the projection passes the limit", () => {
    const late = at("2026-03-29T00:00:00Z"); // 3 days before the end
    const onPace = (28n * 1_000_000n) / 31n; // projected exactly at the limit
    const policy = { ...DYNAMIC, bufferDays: 3 };
    expect(bumpDue(policy, state({ used: 700_000n }), cycle, late)).toBeNull(); // projection 775K < 1M... below the tier too
    expect(projectedUse(onPace + 10_000n, cycle, late) > 1_000_000n).toBe(true);
    const due = bumpDue({ ...policy, triggerMode: "FLAT_THRESHOLD", triggerPercent: 99 }, state({ used: onPace + 10_000n }), cycle, late);
    expect(due?.reason).toBe("PREEMPTIVE");
    expect(
      bumpDue(
        { ...policy, triggerMode: "FLAT_THRESHOLD", triggerPercent: 99 },
        state({ used: onPace + 10_000n, preemptiveBumpCycle: cycle.start }),
        cycle,
        late,
      ),
    ).toBeNull();
    expect(
      bumpDue(
        { ...policy, triggerMode: "FLAT_THRESHOLD", triggerPercent: 99 },
        state({ used: onPace + 10_000n }),
        cycle,
        at("2026-03-28T23:59:00Z"),
      ),
    ).toBeNull();
  });

  it("property: after a trigger bump, lastTier is below the tier that fired (the next bump needs a new crossing)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 9n }), fc.bigInt({ min: 0n, max: 10n ** 9n }), (limit, used) => {
        const decision = bumpDue(DYNAMIC, state({ limit, used }), cycle, at("2026-03-10T00:00:00Z"));
        if (decision?.reason !== "TRIGGER") return;
        expect(tierAfter(DYNAMIC, limit + decision.amount, used)).toBeLessThanOrEqual(decision.tier);
      }),
    );
  });
});

describe("fair fill", () => {
  it("fills everyone when it fits and levels when short", () => {
    expect(fairFill([10n, 20n, 30n], 100n)).toEqual([10n, 20n, 30n]);
    expect(fairFill([10n, 20n, 30n], 45n)).toEqual([10n, 18n, 17n]);
    expect(fairFill([10n, 20n, 30n], 0n)).toEqual([0n, 0n, 0n]);
    expect(fairFill([5n, 5n, 5n], 7n)).toEqual([3n, 2n, 2n]);
    expect(fairFill([0n, 5n], 3n)).toEqual([0n, 3n]);
    expect(fairFill([], 3n)).toEqual([]);
  });

  it("property: grants sum to min(available, Σ needs), never exceed needs, and differ by at most one among unmet needs", () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 0n, max: 10n ** 7n }), { maxLength: 40 }),
        fc.bigInt({ min: 0n, max: 10n ** 8n }),
        (needs, available) => {
          const grants = fairFill(needs, available);
          const total = needs.reduce((sum, need) => sum + need, 0n);
          expect(grants.reduce((sum, grant) => sum + grant, 0n)).toBe([available, total].sort((a, b) => (a < b ? -1 : 1))[0]);
          for (const [index, grant] of grants.entries()) expect(grant >= 0n && grant <= needs[index]!).toBe(true);
          const unmet = grants.filter((grant, index) => grant < needs[index]!);
          if (unmet.length > 0) {
            const low = [...unmet].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[0]!;
            expect(unmet.every((grant) => grant >= low && grant <= low + 1n)).toBe(true);
            // nobody met holds more than an unmet one could get
            grants.forEach((grant, index) => {
              if (grant === needs[index]) expect(grant <= low + 1n).toBe(true);
            });
          }
        },
      ),
    );
  });

  it("plans distribution to the ceiling (floor when unlimited) and reports the shortfall; never lowers", () => {
    expect(distributionTarget({ floor: 5n, ceiling: 50n })).toBe(50n);
    expect(distributionTarget({ floor: 5n, ceiling: null })).toBe(5n);
    expect(
      planFill(
        [
          { limit: 0n, target: 100n },
          { limit: 90n, target: 100n },
          { limit: 500n, target: 100n },
        ],
        60n,
      ),
    ).toEqual({ grants: [50n, 10n, 0n], shortfall: 50n });
  });
});

describe("reclamation", () => {
  const tenth = at("2026-03-11T00:00:00Z"); // 10 of 31 days elapsed

  it("projects need from the pace, adds 10 %, keeps the floor and what is used and reserved", () => {
    // 100K in 10 days → 310K over the cycle → 341K
    expect(projectedNeed({ used: 100_000n, reserved: 0n, floor: 0n }, cycle, tenth)).toBe(341_000n);
    expect(projectedNeed({ used: 100_000n, reserved: 0n, floor: 500_000n }, cycle, tenth)).toBe(500_000n);
    expect(projectedNeed({ used: 0n, reserved: 0n, floor: 0n }, cycle, tenth)).toBe(0n);
    expect(projectedNeed({ used: 100_000n, reserved: 400_000n, floor: 0n }, cycle, tenth)).toBe(500_000n);
    expect(projectedNeed({ used: 100_000n, reserved: 0n, floor: 0n }, cycle, at("2026-03-01T23:59:59Z"))).toBeNull();
    expect(reclaimable({ limit: 1_000_000n, used: 100_000n, reserved: 0n, floor: 0n }, cycle, tenth)).toEqual({
      projectedNeed: 341_000n,
      reclaimable: 659_000n,
    });
    expect(reclaimable({ limit: 300_000n, used: 100_000n, reserved: 0n, floor: 0n }, cycle, tenth)).toBeNull();
  });

  it("property: what is left after reclaiming covers the projected need and the floor", () => {
    fc.assert(
      fc.property(token, token, token, token, fc.integer({ min: 0, max: 31 * DAY_MS - 1 }), (limit, used, reserved, floor, offset) => {
        const now = new Date(cycle.start.getTime() + offset);
        const result = reclaimable({ limit, used, reserved, floor }, cycle, now);
        if (!result) return;
        expect(result.reclaimable > 0n).toBe(true);
        expect(limit - result.reclaimable).toBe(result.projectedNeed);
        expect(result.projectedNeed >= floor && result.projectedNeed >= used + reserved).toBe(true);
      }),
    );
  });
});

describe("cycle reset", () => {
  it("closes consumption at most the limit and fills targets from the freed pool", () => {
    const plan = planReset(
      [
        { limit: 1000n, used: 400n, target: 500n },
        { limit: 1000n, used: 1500n, target: 500n },
      ],
      0n,
    );
    expect(plan.consumed).toBe(1400n);
    expect(plan.members.map((m) => [m.consumed, m.overdraft, m.newLimit])).toEqual([
      [400n, 0n, 300n],
      [1000n, 500n, 300n],
    ]);
    expect(plan.shortfall).toBe(400n);
    expect(plan.poolAfter).toBe(0n);
  });

  it("property: conservation — pool + Σ limits + consumed is unchanged by a reset", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ limit: token, used: token, target: token }), { maxLength: 30 }), token, (members, pool) => {
        const plan = planReset(members, pool);
        const before = pool + members.reduce((sum, member) => sum + member.limit, 0n);
        const after = plan.poolAfter + plan.members.reduce((sum, member) => sum + member.newLimit, 0n) + plan.consumed;
        expect(after).toBe(before);
        expect(plan.poolAfter >= 0n).toBe(true);
        for (const [index, member] of plan.members.entries()) expect(member.newLimit <= members[index]!.target).toBe(true);
      }),
    );
  });
});

describe("rebalancing slots", () => {
  it("are UTC hours, days and Monday weeks", () => {
    const wednesday = at("2026-03-11T15:42:00Z");
    expect(rebalanceSlot("OFF", wednesday)).toBeNull();
    expect(rebalanceSlot("HOURLY", wednesday)?.toISOString()).toBe("2026-03-11T15:00:00.000Z");
    expect(rebalanceSlot("DAILY", wednesday)?.toISOString()).toBe("2026-03-11T00:00:00.000Z");
    expect(rebalanceSlot("WEEKLY", wednesday)?.toISOString()).toBe("2026-03-09T00:00:00.000Z");
    expect(rebalanceSlot("WEEKLY", at("2026-03-15T23:00:00Z"))?.toISOString()).toBe("2026-03-09T00:00:00.000Z");
    expect(nextRebalance("WEEKLY", wednesday)?.toISOString()).toBe("2026-03-16T00:00:00.000Z");
    expect(nextRebalance("HOURLY", wednesday)?.toISOString()).toBe("2026-03-11T16:00:00.000Z");
  });

  it("property: a slot contains its instant and the next slot follows it", () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date("2020-01-01"), max: new Date("2035-01-01"), noInvalidDate: true }),
        fc.constantFrom("HOURLY", "DAILY", "WEEKLY" as const),
        (date, frequency) => {
          const slot = rebalanceSlot(frequency, date)!;
          const next = nextRebalance(frequency, date)!;
          expect(slot <= date && date < next).toBe(true);
          expect(rebalanceSlot(frequency, next)!.getTime()).toBe(next.getTime());
        },
      ),
    );
  });
});
