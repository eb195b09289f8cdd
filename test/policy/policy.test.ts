// Presets, policy edits and validation, overrides, distribution and reclamation through the API.
// The clock stands still on day 10 of a 31-day cycle (these tests never move it).
import { describe, expect, it } from "vitest";
import {
  ActivatePresetDocument,
  AllocationStatusChangedDocument,
  BalanceChangedDocument,
  BillingCycleDocument,
  DistributeNowDocument,
  DistributionPolicyDocument,
  MemberDocument,
  MembersDocument,
  type OverrideInput,
  PolicyScheduleDocument,
  PresetsDocument,
  PreviewPolicyDocument,
  PreviewReclamationDocument,
  ReclaimNowDocument,
  RemoveOverrideDocument,
  SetAllocationDocument,
  SetMemberSuspendedDocument,
  SetOverrideDocument,
  UpdateDistributionPolicyDocument,
} from "../../src/client/generated/graphql.ts";
import { ManualClock } from "../../src/clock.ts";
import { subscribe } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";
import { balanceSubscriptionLive, currentPolicy, policyOrg } from "./support.ts";

// In the future: access tokens are issued on this clock but verified against the real time.
const clock = new ManualClock("2027-03-11T00:00:00Z");
const server = await startServer({ clock });

describe("presets", () => {
  it("lists the five presets with the contract's values; CUSTOM shows the organisation's current values", async () => {
    const org = await policyOrg(server);
    await org.policy({ triggerPercent: 85 });
    const { presets } = await org.admin.execute(PresetsDocument);
    const byName = Object.fromEntries(presets.map((preset) => [preset.name, preset]));
    expect(Object.keys(byName)).toEqual(["CONSERVATIVE", "STANDARD", "AGGRESSIVE", "DYNAMIC", "CUSTOM"]);
    expect(byName.CONSERVATIVE!.policy).toMatchObject({
      inferenceFloor: 200_000,
      trainingFloor: 200_000,
      ceiling: 1_000_000,
      triggerMode: "FLAT_THRESHOLD",
      triggerPercent: 90,
      cooldownMinutes: 240,
      bumpMethod: "PERCENT_OF_CURRENT",
      bumpAmount: 25,
      reclamation: false,
      rebalanceFrequency: "OFF",
    });
    expect(byName.STANDARD!.policy).toMatchObject({
      inferenceFloor: 500_000,
      ceiling: 5_000_000,
      triggerPercent: 80,
      cooldownMinutes: 60,
      bumpAmount: 25,
      nearMaxThreshold: 0.8,
      nearMaxBump: 50,
    });
    expect(byName.AGGRESSIVE!.policy).toMatchObject({
      inferenceFloor: 1_000_000,
      ceiling: null,
      triggerPercent: 75,
      cooldownMinutes: 30,
      bumpMethod: "FLAT",
      bumpAmount: 500_000,
    });
    expect(byName.DYNAMIC!.policy).toMatchObject({
      ceiling: null,
      triggerMode: "TIERED",
      bumpMethod: "PERCENT_OF_REMAINING",
      reclamation: true,
      rebalanceFrequency: "DAILY",
      bufferDays: 3,
    });
    expect(byName.CUSTOM!.policy).toMatchObject({ preset: "CUSTOM", triggerPercent: 85, inferenceFloor: 500_000 });
    for (const preset of presets) expect(preset.description.length).toBeGreaterThan(10);
  });

  it("a new organisation runs STANDARD; activating a preset applies its values and shows in allocationStatus", async () => {
    const org = await policyOrg(server);
    expect(await currentPolicy(org.admin)).toMatchObject({ preset: "STANDARD", monthlyResetToFloor: true, bufferDays: 0 });
    const { activatePreset } = await org.admin.execute(ActivatePresetDocument, { preset: "DYNAMIC" });
    expect(activatePreset).toMatchObject({ preset: "DYNAMIC", triggerMode: "TIERED", reclamation: true, bufferDays: 3 });
    expect(await currentPolicy(org.admin)).toEqual({ ...activatePreset, floorTopUp: undefined }); // a read has no top-up
    expect((await org.status()).activePreset).toBe("DYNAMIC");
    const custom = await org.admin.execute(ActivatePresetDocument, { preset: "CUSTOM" });
    expect(custom.activatePreset).toEqual({ ...activatePreset, preset: "CUSTOM" });
    expect((await org.status("TRAINING")).activePreset).toBe("CUSTOM");
  });

  it("the live allocation status shows the newly active preset", async () => {
    const org = await policyOrg(server);
    const { subscription, client } = subscribe(org.admin, AllocationStatusChangedDocument, { kind: "INFERENCE" });
    try {
      await subscription.next((event: any) => event.allocationStatusChanged?.activePreset === "STANDARD");
      await org.preset("AGGRESSIVE");
      const event: any = await subscription.next((e: any) => e.allocationStatusChanged?.activePreset === "AGGRESSIVE");
      expect(event.allocationStatusChanged.activePreset).toBe("AGGRESSIVE");
    } finally {
      await client.dispose();
    }
  });
});

describe("updateDistributionPolicy", () => {
  it("any changed field makes the policy CUSTOM; preset in the input starts from that preset", async () => {
    const org = await policyOrg(server);
    expect(await org.policy({ triggerPercent: 85, cooldownMinutes: 15 })).toMatchObject({
      preset: "CUSTOM",
      triggerPercent: 85,
      cooldownMinutes: 15,
      inferenceFloor: 500_000,
    });
    expect(await org.policy({ preset: "AGGRESSIVE" })).toMatchObject({ preset: "AGGRESSIVE", ceiling: null, cooldownMinutes: 30 });
    expect(await org.policy({ preset: "AGGRESSIVE", ceiling: 8_000_000 })).toMatchObject({
      preset: "CUSTOM",
      ceiling: 8_000_000,
      bumpMethod: "FLAT",
    });
    expect(await org.policy({ unlimitedCeiling: true, nearMaxThreshold: null, nearMaxBump: null })).toMatchObject({
      ceiling: null,
      nearMaxThreshold: null,
    });
    expect((await org.status()).activePreset).toBe("CUSTOM");
  });

  it("refuses every invalid field with BAD_USER_INPUT naming it, and changes nothing", async () => {
    const org = await policyOrg(server);
    const before = await currentPolicy(org.admin);
    const cases: [Record<string, unknown>, string][] = [
      [{ inferenceFloor: -1 }, "policy.inferenceFloor"],
      [{ ceiling: 100 }, "policy.ceiling"],
      [{ ceiling: 10_000_000, unlimitedCeiling: true }, "policy.ceiling"],
      [{ triggerPercent: 5 }, "policy.triggerPercent"],
      [{ triggerPercent: 99.5 }, "policy.triggerPercent"],
      [{ cooldownMinutes: -10 }, "policy.cooldownMinutes"],
      [{ bumpAmount: 0 }, "policy.bumpAmount"],
      [{ bumpAmount: 150 }, "policy.bumpAmount"],
      [{ bumpMethod: "FLAT", bumpAmount: 0.5 }, "policy.bumpAmount"],
      [{ bufferDays: 40 }, "policy.bufferDays"],
      [{ nearMaxThreshold: 2 }, "policy.nearMaxThreshold"],
      [{ nearMaxBump: -1 }, "policy.nearMaxBump"],
      [{ inferenceFloor: 9_000_000 }, "policy.ceiling"],
    ];
    for (const [policy, field] of cases) {
      const error = await org.admin.errorOf(UpdateDistributionPolicyDocument, { policy });
      expect({ policy, code: error.extensions?.code, field: error.extensions?.field }).toEqual({ policy, code: "BAD_USER_INPUT", field });
    }
    const fractional = await org.admin.errorOf(UpdateDistributionPolicyDocument, { policy: { trainingFloor: 1.5 } });
    expect(fractional.extensions?.code).toBe("BAD_USER_INPUT");
    expect(await currentPolicy(org.admin)).toEqual(before);
  });

  it("is for admins of the organisation only", async () => {
    const org = await policyOrg(server, { members: 1, fund: 1_000_000 });
    const member = await org.as(org.memberIds[0]!);
    expect((await member.errorOf(ActivatePresetDocument, { preset: "DYNAMIC" })).extensions?.code).toBe("FORBIDDEN");
    expect((await member.errorOf(UpdateDistributionPolicyDocument, { policy: { triggerPercent: 50 } })).extensions?.code).toBe("FORBIDDEN");
    expect((await member.errorOf(DistributeNowDocument)).extensions?.code).toBe("FORBIDDEN");
    expect((await member.errorOf(PreviewReclamationDocument)).extensions?.code).toBe("FORBIDDEN");
    expect((await org.operator.errorOf(ActivatePresetDocument, { preset: "DYNAMIC" })).extensions?.code).toBe("FORBIDDEN");
    // Of its organisation a member reads the name and cycle dates, not the policy (the contract's read table).
    expect((await member.errorOf(DistributionPolicyDocument)).extensions?.code).toBe("FORBIDDEN");
    expect((await member.execute(BillingCycleDocument)).organization.name).toBeTruthy();
    expect(await currentPolicy(org.admin)).toMatchObject({ preset: "STANDARD" });
  });
});

describe("overrides", () => {
  it("replace floor and ceiling for one member, top up a higher floor from the pool, and list with overridesOnly", async () => {
    const org = await policyOrg(server, { members: 2, fund: 10_000_000 });
    const [power, other] = org.memberIds as [string, string];
    const { setOverride } = await org.admin.execute(SetOverrideDocument, {
      input: { memberId: power, floor: 2_000_000, unlimitedCeiling: true, excluded: true },
    });
    expect(setOverride.override).toEqual({ floor: 2_000_000, ceiling: null, unlimitedCeiling: true, excluded: true });
    expect(setOverride.inference).toMatchObject({ limit: 2_000_000, floor: 2_000_000, ceiling: null });
    const { limit, floor, ceiling } = setOverride.training;
    expect({ limit, floor, ceiling }).toEqual({ limit: 2_000_000, floor: 2_000_000, ceiling: null });
    expect((await org.balance(other)).ceiling).toBe(5_000_000);
    const { organization } = await org.admin.execute(MembersDocument, { first: 50, filter: { overridesOnly: true } });
    expect(organization.members.edges.map((edge) => edge.node.id)).toEqual([power]);
    await org.conserved();

    const { removeOverride } = await org.admin.execute(RemoveOverrideDocument, { memberId: power });
    const { inference } = removeOverride;
    expect({
      override: removeOverride.override,
      inference: { limit: inference.limit, floor: inference.floor, ceiling: inference.ceiling },
    }).toEqual({
      override: null,
      inference: { limit: 2_000_000, floor: 500_000, ceiling: 5_000_000 },
    });
  });

  it("validates the override and hides other organisations' members", async () => {
    const org = await policyOrg(server, { members: 1, fund: 1_000_000 });
    const stranger = await policyOrg(server, { members: 1, fund: 1_000_000 });
    const cases: [Omit<OverrideInput, "memberId">, string][] = [
      [{ floor: -1 }, "input.floor"],
      [{ ceiling: 100_000 }, "input.ceiling"],
      [{ floor: 3_000_000, ceiling: 2_000_000 }, "input.ceiling"],
      [{ ceiling: 9_000_000, unlimitedCeiling: true }, "input.ceiling"],
      [{ floor: 6_000_000 }, "input.floor"],
    ];
    for (const [input, field] of cases) {
      const error = await org.admin.errorOf(SetOverrideDocument, { input: { memberId: org.memberIds[0]!, ...input } });
      expect({ input, code: error.extensions?.code, field: error.extensions?.field }).toEqual({ input, code: "BAD_USER_INPUT", field });
    }
    expect((await org.admin.errorOf(SetOverrideDocument, { input: { memberId: stranger.memberIds[0]!, floor: 1 } })).extensions?.code).toBe(
      "NOT_FOUND",
    );
    expect((await org.admin.errorOf(RemoveOverrideDocument, { memberId: stranger.memberIds[0]! })).extensions?.code).toBe("NOT_FOUND");
    const { member } = await org.admin.execute(MemberDocument, { memberId: org.memberIds[0]! });
    expect(member!.override).toBeNull();
  });
});

describe("distribution", () => {
  it("previewDistribution shows each non-suspended member raised to the ceiling and changes nothing; distributeNow does it", async () => {
    const org = await policyOrg(server, { members: 3, fund: 30_000_000 });
    const [a, b, suspended] = org.memberIds as [string, string, string];
    await org.admin.execute(SetMemberSuspendedDocument, { memberId: suspended, suspended: true });
    await org.admin.execute(SetAllocationDocument, {
      input: { memberId: b, inference: 6_000_000 },
    });
    const before = await org.conserved();

    const { previewDistribution } = await org.admin.execute(PreviewPolicyDocument);
    const inference = previewDistribution.changes.filter((change) => change.kind === "INFERENCE");
    const ids = inference.map((change) => change.member.id).sort();
    expect(ids).toEqual([a, org.adminId].sort());
    expect(inference.find((change) => change.member.id === a)).toMatchObject({ before: 500_000, after: 5_000_000 });
    expect(previewDistribution.shortfall).toBe(0);
    expect(await org.conserved()).toEqual(before);

    const { subscription, client } = subscribe(await org.as(a), BalanceChangedDocument, { kind: "INFERENCE" });
    try {
      await balanceSubscriptionLive(org, a, subscription);
      const { distributeNow } = await org.admin.execute(DistributeNowDocument);
      expect(distributeNow).toEqual(previewDistribution);
      expect((await subscription.next((event: any) => event.balanceChanged?.limit === 5_000_000)).balanceChanged.limit).toBe(5_000_000);
    } finally {
      await client.dispose();
    }
    expect((await org.balance(a)).limit).toBe(5_000_000);
    expect((await org.balance(b)).limit).toBe(6_000_000); // never lowered
    expect((await org.balance(suspended)).limit).toBe(500_000);
    const after = await org.conserved();
    expect(after.INFERENCE.allocated).toBe(before.INFERENCE.allocated + 4_500_000 + 4_500_000); // a and the admin (at its floor)
    expect(previewDistribution.totalAfter).toBe(after.INFERENCE.allocated + after.TRAINING.allocated);
  });

  it("fills fairly when the pool is short and reports the shortfall", async () => {
    const org = await policyOrg(server, { members: 3, fund: 1_500_000 });
    // Everyone (the admin too: the first purchase brought it up) holds a 500K floor; 0 left in the pool. Buy 3M more.
    await org.buy(3_000_000, "INFERENCE");
    const { distributeNow } = await org.admin.execute(DistributeNowDocument);
    const inference = distributeNow.changes.filter((change: any) => change.kind === "INFERENCE");
    // needs: 4.5M each (18M) for 3M: a level of 750K each.
    expect(inference.map((change: any) => change.after - change.before)).toEqual([750_000, 750_000, 750_000, 750_000]);
    expect(distributeNow.shortfall).toBe(18_000_000 - 3_000_000 + 4 * 4_500_000);
    const status = await org.conserved();
    expect(status.INFERENCE.unallocated).toBe(0);
  });

  it("previews a draft policy without saving it", async () => {
    const org = await policyOrg(server, { members: 1, fund: 10_000_000 });
    const { previewDistribution } = await org.admin.execute(PreviewPolicyDocument, { policy: { ceiling: 1_000_000 } });
    expect(previewDistribution.changes.find((change) => change.member.id === org.memberIds[0] && change.kind === "TRAINING")).toMatchObject(
      { before: 500_000, after: 1_000_000 },
    );
    expect(await currentPolicy(org.admin)).toMatchObject({ preset: "STANDARD", ceiling: 5_000_000 });
    const error = await org.admin.errorOf(PreviewPolicyDocument, { policy: { triggerPercent: 3 } });
    expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "policy.triggerPercent" });
  });
});

describe("reclamation", () => {
  it("previews and reclaims limits above the projected need; excluded members keep theirs", async () => {
    const org = await policyOrg(server, { members: 3, fund: 20_000_000 });
    const [light, heavy, excluded] = org.memberIds as [string, string, string];
    for (const id of org.memberIds) {
      await org.admin.execute(SetAllocationDocument, {
        input: { memberId: id, inference: 3_000_000 },
      });
    }
    await org.admin.execute(SetOverrideDocument, {
      input: { memberId: excluded, excluded: true },
    });
    await org.use(light, 100_000); // 10 of 31 days: projected 310K, +10 % = 341K, floor 500K → need 500K
    await org.use(heavy, 900_000); // projected 2.79M + 10 % = 3.069M > 3M: nothing to reclaim
    await org.use(excluded, 100_000);

    const { previewReclamation } = await org.admin.execute(PreviewReclamationDocument);
    const inference = previewReclamation.candidates
      .filter((candidate) => candidate.kind === "INFERENCE")
      .map(({ member, ...candidate }) => ({ ...candidate, member: { id: member.id } }));
    expect(inference).toEqual([
      { member: { id: light }, kind: "INFERENCE", limit: 3_000_000, projectedNeed: 500_000, reclaimable: 2_500_000 },
    ]);
    const before = await org.conserved();
    expect((await org.balance(light)).limit).toBe(3_000_000);

    const { reclaimNow } = await org.admin.execute(ReclaimNowDocument);
    expect(reclaimNow).toEqual(previewReclamation);
    expect((await org.balance(light)).limit).toBe(500_000);
    expect((await org.balance(heavy)).limit).toBe(3_000_000);
    expect((await org.balance(excluded)).limit).toBe(3_000_000);
    const after = await org.conserved();
    expect(after.INFERENCE.unallocated).toBe(before.INFERENCE.unallocated + 2_500_000);
    expect((await org.admin.execute(PreviewReclamationDocument)).previewReclamation.totalReclaimable).toBe(0);
  });
});

describe("schedule", () => {
  it("admins see the next cycle reset and rebalance; members see the cycle dates and the next reset, nothing else", async () => {
    const seed = await seedOrganization(server, { cycleAnchorDay: 1 });
    const { organization } = await seed.admin.execute(PolicyScheduleDocument);
    const { nextCycleReset, rebalanceFrequency, nextRebalance, lastRuns } = organization.schedule;
    expect({ nextCycleReset, rebalanceFrequency, nextRebalance, lastRuns: lastRuns.map(({ job }) => ({ job })) }).toEqual({
      nextCycleReset: "2027-04-01T00:00:00.000Z",
      rebalanceFrequency: "OFF",
      nextRebalance: null,
      lastRuns: [],
    });
    await seed.admin.execute(ActivatePresetDocument, { preset: "DYNAMIC" });
    const dynamic = await seed.admin.execute(PolicyScheduleDocument);
    expect(dynamic.organization.schedule).toMatchObject({ rebalanceFrequency: "DAILY", nextRebalance: "2027-03-11T00:00:00.000Z" });
    await seed.fund(1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    expect((await member.errorOf(PolicyScheduleDocument)).extensions?.code).toBe("FORBIDDEN");
    // "Tell users the date": the member reads its organisation's cycle and when it resets
    const { organization: mine } = await member.execute(BillingCycleDocument);
    expect({ cycleStart: mine.cycleStart, cycleEnd: mine.cycleEnd, schedule: mine.schedule }).toEqual({
      cycleStart: "2027-03-01T00:00:00.000Z",
      cycleEnd: "2027-04-01T00:00:00.000Z",
      schedule: {
        cycleStart: "2027-03-01T00:00:00.000Z",
        cycleEnd: "2027-04-01T00:00:00.000Z",
        nextCycleReset: "2027-04-01T00:00:00.000Z",
      },
    });
  });
});
