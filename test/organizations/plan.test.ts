// The operator's plan under the seeds' rules: overage confirmed by admins, the minimum floor, the plan's start day.

import { describe, expect, it } from "vitest";
import {
  AcceptOverageDocument,
  ActivatePresetDocument,
  DistributionPolicyDocument,
  MemberBalancesDocument,
  OrganizationSettingsDocument,
  PreviewFloorChangeDocument,
  PurchaseTokensDocument,
  RecordUsageDocument,
  SetOverrideDocument,
  SetPlanDocument,
  SpendChangedDocument,
  SpendDocument,
  UpdateDistributionPolicyDocument,
  UpsertModelDocument,
} from "../../src/client/generated/graphql.ts";
import { ManualClock } from "../../src/clock.ts";
import { pick, subscribe } from "../support/client.ts";
import { type Seed, seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const clock = new ManualClock("2027-01-31T10:00:00.000Z");
const server = await startServer({ clock });

const inferenceOf = async (seed: Seed, memberId: string) =>
  pick((await seed.admin.execute(MemberBalancesDocument, { memberId })).member!.inference, "limit", "floor");

describe("overage: set by the operator, confirmed by admins", () => {
  it("a higher overage waits until an admin accepts it; a lower one applies at once; admins are told live", async () => {
    const seed = await seedOrganization(server);
    const { subscription, client } = subscribe(seed.admin, SpendChangedDocument);
    try {
      expect(pick((await subscription.next()).spendChanged, "overageLimit", "pendingOverageLimit")).toEqual({
        overageLimit: "0.00",
        pendingOverageLimit: null,
      });
      const { setPlan } = await seed.operator.execute(SetPlanDocument, {
        organizationId: seed.organizationId,
        planBudget: "100",
        overageLimit: "50",
      });
      expect(setPlan).toMatchObject({ overageLimit: "0.00", pendingOverageLimit: "50.00" });
      await subscription.next((event) => event.spendChanged.pendingOverageLimit === "50.00");
      expect((await seed.admin.execute(OrganizationSettingsDocument)).organization).toMatchObject({
        overageLimit: "0.00",
        pendingOverageLimit: "50.00",
      });

      // a plain member can neither see nor accept it
      await seed.fund(1_000_000);
      const [memberId] = await seed.addMembers([{}]);
      const member = await seed.as(memberId!);
      expect((await member.errorOf(AcceptOverageDocument)).extensions?.code).toBe("FORBIDDEN");
      // accepting a value other than the pending one changes nothing
      expect((await seed.admin.errorOf(AcceptOverageDocument, { overageLimit: "40" })).extensions?.code).toBe("CONFLICT");

      const { acceptOverage } = await seed.admin.execute(AcceptOverageDocument, { overageLimit: "50" });
      expect(pick(acceptOverage, "overageLimit", "pendingOverageLimit")).toEqual({ overageLimit: "50.00", pendingOverageLimit: null });
      await subscription.next((event) => event.spendChanged.overageLimit === "50.00");
      expect((await seed.admin.errorOf(AcceptOverageDocument)).extensions?.code).toBe("CONFLICT");

      const { setPlan: lower } = await seed.operator.execute(SetPlanDocument, {
        organizationId: seed.organizationId,
        planBudget: "100",
        overageLimit: "20",
      });
      expect(lower).toMatchObject({ overageLimit: "20.00", pendingOverageLimit: null });
    } finally {
      subscription.close();
      await client.dispose();
    }
  });
});

describe("the minimum floor (every user has at least 200K)", () => {
  it("defaults to 200,000 and refuses policy and override floors below it", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{}]);
    expect((await seed.admin.execute(OrganizationSettingsDocument)).organization.minimumFloor).toBe(200_000);
    const policy = await seed.admin.errorOf(UpdateDistributionPolicyDocument, { policy: { inferenceFloor: 100_000 } });
    expect(policy.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "policy.inferenceFloor" });
    const override = await seed.admin.errorOf(SetOverrideDocument, { input: { memberId: memberId!, floor: 100_000 } });
    expect(override.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.floor" });
    const { organization } = await seed.admin.execute(DistributionPolicyDocument);
    expect(organization.distributionPolicy.inferenceFloor).toBe(500_000);

    // the operator raises it: CONSERVATIVE's 200K floors are refused, and floors below it rise with every member
    await seed.admin.execute(UpdateDistributionPolicyDocument, { policy: { preset: "CONSERVATIVE" } });
    const { setPlan } = await seed.operator.execute(SetPlanDocument, {
      organizationId: seed.organizationId,
      planBudget: "0",
      overageLimit: "0",
      minimumFloor: 300_000,
    });
    expect(setPlan.minimumFloor).toBe(300_000);
    const { distributionPolicy } = (await seed.admin.execute(DistributionPolicyDocument)).organization;
    expect(pick(distributionPolicy, "inferenceFloor", "trainingFloor")).toEqual({ inferenceFloor: 300_000, trainingFloor: 300_000 });
    // (a lower floor never takes tokens away: the member kept its 500K)
    expect(await inferenceOf(seed, memberId!)).toEqual({ limit: 500_000, floor: 300_000 });
    const conservative = await seed.admin.errorOf(ActivatePresetDocument, { preset: "CONSERVATIVE" });
    expect(conservative.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "preset" });
  });
});

describe("raising a floor brings every member up at once", () => {
  it("CONSERVATIVE → STANDARD raises members from 200K to 500K, fairly when the pool is short, with the shortfall; previews show it", async () => {
    const seed = await seedOrganization(server);
    await seed.admin.execute(ActivatePresetDocument, { preset: "CONSERVATIVE" });
    await seed.fund(1_000_000); // 3 members × 200K, and 400K spare of each kind
    const ids = await seed.addMembers([{}, {}, {}]);
    const { previewFloorChange } = await seed.admin.execute(PreviewFloorChangeDocument, { policy: { preset: "STANDARD" } });
    const inference = previewFloorChange.changes.filter((change) => change.kind === "INFERENCE");
    // four members (the admin too) need 300K each: 1.2M for 400K, so about 100K each
    expect(inference).toHaveLength(4);
    expect(inference.reduce((sum, change) => sum + change.after - change.before, 0)).toBe(400_000);
    expect(previewFloorChange.shortfall).toBe(2 * 800_000);
    // nothing changed yet
    expect(await inferenceOf(seed, ids[0]!)).toEqual({ limit: 200_000, floor: 200_000 });

    const { activatePreset } = await seed.admin.execute(ActivatePresetDocument, { preset: "STANDARD" });
    expect(activatePreset.floorTopUp).toEqual(previewFloorChange);
    expect(await inferenceOf(seed, ids[0]!)).toEqual({ limit: 300_000, floor: 500_000 });
    // the rest arrives with the next purchase
    await seed.admin.execute(PurchaseTokensDocument, { tokens: 800_000, kind: "INFERENCE" });
    for (const id of ids) expect(await inferenceOf(seed, id)).toEqual({ limit: 500_000, floor: 500_000 });
  });
});

describe("the billing cycle starts on the day the plan started", () => {
  it("defaults the anchor to the creation day; 29-31 are allowed, the month's last day standing in", async () => {
    clock.set("2027-01-31T10:00:00.000Z");
    const seed = await seedOrganization(server);
    const cycle = async () =>
      pick((await seed.admin.execute(OrganizationSettingsDocument)).organization, "cycleAnchorDay", "cycleStart", "cycleEnd");
    expect(await cycle()).toEqual({
      cycleAnchorDay: 31,
      cycleStart: "2027-01-31T00:00:00.000Z",
      cycleEnd: "2027-02-28T00:00:00.000Z",
    });
    clock.set("2027-03-15T00:00:00.000Z");
    expect(await cycle()).toMatchObject({
      cycleStart: "2027-02-28T00:00:00.000Z",
      cycleEnd: "2027-03-31T00:00:00.000Z",
    });
    // usage is labelled with the same cycle in SQL as in the code: spend shows it
    await seed.fund(1_000_000);
    await seed.admin.execute(UpsertModelDocument, { input: { key: "m", inputPricePerMillion: "1.00", outputPricePerMillion: "1.00" } });
    await seed.admin.execute(RecordUsageDocument, {
      input: { memberId: seed.adminId, modelKey: "m", inputTokens: 1_000_000, outputTokens: 0, idempotencyKey: "feb" },
    });
    expect(pick((await seed.admin.execute(SpendDocument)).organization.spend, "cycleStart", "spent")).toEqual({
      cycleStart: "2027-02-28T00:00:00.000Z",
      spent: "1.00",
    });
    const { setPlan } = await seed.operator.execute(SetPlanDocument, {
      organizationId: seed.organizationId,
      planBudget: "0",
      overageLimit: "0",
      cycleAnchorDay: 30,
    });
    expect(setPlan.cycleAnchorDay).toBe(30);
    for (const anchor of [0, 32]) {
      const error = await seed.operator.errorOf(SetPlanDocument, {
        organizationId: seed.organizationId,
        planBudget: "0",
        overageLimit: "0",
        cycleAnchorDay: anchor,
      });
      expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "cycleAnchorDay" });
    }
    clock.set("2027-01-31T10:00:00.000Z");
  });
});
