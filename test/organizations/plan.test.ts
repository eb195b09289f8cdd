// The operator's plan under the seeds' rules: overage confirmed by admins, the minimum floor, the plan's start day.
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.ts";
import { subscribe } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const clock = new ManualClock("2027-01-31T10:00:00.000Z");
const server = await startServer({ clock });

const SET_PLAN = `mutation($id: ID!, $budget: Money!, $overage: Money!, $anchor: Int, $minimumFloor: SafeInt) {
  setPlan(organizationId: $id, planBudget: $budget, overageLimit: $overage, cycleAnchorDay: $anchor, minimumFloor: $minimumFloor) {
    overageLimit pendingOverageLimit minimumFloor cycleAnchorDay
  }
}`;
const PLAN = `{ organization { overageLimit pendingOverageLimit minimumFloor spend { overageLimit pendingOverageLimit } } }`;

describe("overage: set by the operator, confirmed by admins", () => {
  it("a higher overage waits until an admin accepts it; a lower one applies at once; admins are told live", async () => {
    const seed = await seedOrganization(server);
    const { subscription, client } = subscribe(seed.admin, `subscription { spendChanged { overageLimit pendingOverageLimit } }`);
    try {
      expect(await subscription.next()).toEqual({ spendChanged: { overageLimit: "0.00", pendingOverageLimit: null } });
      const { setPlan } = await seed.operator.execute(SET_PLAN, { id: seed.organizationId, budget: "100", overage: "50" });
      expect(setPlan).toMatchObject({ overageLimit: "0.00", pendingOverageLimit: "50.00" });
      await subscription.next((event) => event.spendChanged.pendingOverageLimit === "50.00");
      expect((await seed.admin.execute(PLAN)).organization).toMatchObject({ overageLimit: "0.00", pendingOverageLimit: "50.00" });

      // a plain member can neither see nor accept it
      await seed.fund(1_000_000);
      const [memberId] = await seed.addMembers([{}]);
      const member = await seed.as(memberId!);
      expect((await member.errorOf(`mutation { acceptOverage { id } }`)).extensions?.code).toBe("FORBIDDEN");
      // accepting a value other than the pending one changes nothing
      expect((await seed.admin.errorOf(`mutation { acceptOverage(overageLimit: "40") { id } }`)).extensions?.code).toBe("CONFLICT");

      const { acceptOverage } = await seed.admin.execute(
        `mutation { acceptOverage(overageLimit: "50") { overageLimit pendingOverageLimit } }`,
      );
      expect(acceptOverage).toEqual({ overageLimit: "50.00", pendingOverageLimit: null });
      await subscription.next((event) => event.spendChanged.overageLimit === "50.00");
      expect((await seed.admin.errorOf(`mutation { acceptOverage { id } }`)).extensions?.code).toBe("CONFLICT");

      const { setPlan: lower } = await seed.operator.execute(SET_PLAN, { id: seed.organizationId, budget: "100", overage: "20" });
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
    expect((await seed.admin.execute(PLAN)).organization.minimumFloor).toBe(200_000);
    const policy = await seed.admin.errorOf(`mutation { updateDistributionPolicy(policy: { inferenceFloor: 100000 }) { preset } }`);
    expect(policy.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "policy.inferenceFloor" });
    const override = await seed.admin.errorOf(`mutation($id: ID!) { setOverride(input: { memberId: $id, floor: 100000 }) { id } }`, {
      id: memberId,
    });
    expect(override.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.floor" });
    const { organization } = await seed.admin.execute(`{ organization { distributionPolicy { inferenceFloor } } }`);
    expect(organization.distributionPolicy.inferenceFloor).toBe(500_000);

    // the operator raises it: CONSERVATIVE's 200K floors are refused, and floors below it rise with every member
    await seed.admin.execute(`mutation { updateDistributionPolicy(policy: { preset: CONSERVATIVE }) { preset } }`);
    const { setPlan } = await seed.operator.execute(SET_PLAN, {
      id: seed.organizationId,
      budget: "0",
      overage: "0",
      minimumFloor: 300_000,
    });
    expect(setPlan.minimumFloor).toBe(300_000);
    const after = await seed.admin.execute(
      `query($id: ID!) { organization { distributionPolicy { inferenceFloor trainingFloor } } member(id: $id) { inference { limit floor } } }`,
      { id: memberId },
    );
    expect(after.organization.distributionPolicy).toEqual({ inferenceFloor: 300_000, trainingFloor: 300_000 });
    // (a lower floor never takes tokens away: the member kept its 500K)
    expect(after.member.inference).toEqual({ limit: 500_000, floor: 300_000 });
    const conservative = await seed.admin.errorOf(`mutation { activatePreset(preset: CONSERVATIVE) { preset } }`);
    expect(conservative.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "preset" });
  });
});

describe("raising a floor brings every member up at once", () => {
  it("CONSERVATIVE → STANDARD raises members from 200K to 500K, fairly when the pool is short, with the shortfall; previews show it", async () => {
    const seed = await seedOrganization(server);
    await seed.admin.execute(`mutation { activatePreset(preset: CONSERVATIVE) { preset } }`);
    await seed.fund(1_000_000); // 3 members × 200K, and 400K spare of each kind
    const ids = await seed.addMembers([{}, {}, {}]);
    const PREVIEW = `changes { member { id } kind before after } shortfall`;
    const { previewFloorChange } = await seed.admin.execute(`query { previewFloorChange(policy: { preset: STANDARD }) { ${PREVIEW} } }`);
    const inference = previewFloorChange.changes.filter((change: any) => change.kind === "INFERENCE");
    // four members (the admin too) need 300K each: 1.2M for 400K, so about 100K each
    expect(inference).toHaveLength(4);
    expect(inference.reduce((sum: number, change: any) => sum + change.after - change.before, 0)).toBe(400_000);
    expect(previewFloorChange.shortfall).toBe(2 * 800_000);
    // nothing changed yet
    const member = `query($id: ID!) { member(id: $id) { inference { limit floor } } }`;
    expect((await seed.admin.execute(member, { id: ids[0] })).member.inference).toEqual({ limit: 200_000, floor: 200_000 });

    const { activatePreset } = await seed.admin.execute(
      `mutation { activatePreset(preset: STANDARD) { preset floorTopUp { ${PREVIEW} } } }`,
    );
    expect(activatePreset.floorTopUp).toEqual(previewFloorChange);
    expect((await seed.admin.execute(member, { id: ids[0] })).member.inference).toEqual({ limit: 300_000, floor: 500_000 });
    // the rest arrives with the next purchase
    await seed.admin.execute(`mutation { purchaseTokens(tokens: 800000, kind: INFERENCE) { id } }`);
    for (const id of ids) expect((await seed.admin.execute(member, { id })).member.inference).toEqual({ limit: 500_000, floor: 500_000 });
  });
});

describe("the billing cycle starts on the day the plan started", () => {
  it("defaults the anchor to the creation day; 29-31 are allowed, the month's last day standing in", async () => {
    clock.set("2027-01-31T10:00:00.000Z");
    const seed = await seedOrganization(server);
    const CYCLE = `{ organization { cycleAnchorDay cycleStart cycleEnd } }`;
    expect((await seed.admin.execute(CYCLE)).organization).toEqual({
      cycleAnchorDay: 31,
      cycleStart: "2027-01-31T00:00:00.000Z",
      cycleEnd: "2027-02-28T00:00:00.000Z",
    });
    clock.set("2027-03-15T00:00:00.000Z");
    expect((await seed.admin.execute(CYCLE)).organization).toMatchObject({
      cycleStart: "2027-02-28T00:00:00.000Z",
      cycleEnd: "2027-03-31T00:00:00.000Z",
    });
    // usage is labelled with the same cycle in SQL as in the code: spend shows it
    await seed.fund(1_000_000);
    await seed.admin.execute(
      `mutation { upsertModel(input: { key: "m", inputPricePerMillion: "1.00", outputPricePerMillion: "1.00" }) { id } }`,
    );
    await seed.admin.execute(
      `mutation($id: ID!) { recordUsage(input: { memberId: $id, modelKey: "m", inputTokens: 1000000, outputTokens: 0, idempotencyKey: "feb" }) { id } }`,
      { id: seed.adminId },
    );
    expect((await seed.admin.execute(`{ organization { spend { cycleStart spent } } }`)).organization.spend).toEqual({
      cycleStart: "2027-02-28T00:00:00.000Z",
      spent: "1.00",
    });
    const { setPlan } = await seed.operator.execute(SET_PLAN, { id: seed.organizationId, budget: "0", overage: "0", anchor: 30 });
    expect(setPlan.cycleAnchorDay).toBe(30);
    for (const anchor of [0, 32]) {
      const error = await seed.operator.errorOf(SET_PLAN, { id: seed.organizationId, budget: "0", overage: "0", anchor });
      expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "cycleAnchorDay" });
    }
    clock.set("2027-01-31T10:00:00.000Z");
  });
});
