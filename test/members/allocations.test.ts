import { describe, expect, it } from "vitest";
import { Api, subscribe } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

const SET = `mutation($input: SetAllocationInput!) { setAllocation(input: $input) { id inference { limit } training { limit } } }`;
const ALLOCATE = `mutation($input: AllocateInput!) { allocateTokens(input: $input) { id inference { limit remaining } training { limit } } }`;
const STATUS = `query($kind: TokenKind!) { organization { allocationStatus(kind: $kind) { kind purchased allocated used unallocated purchasedAllTime consumedInClosedPeriods activePreset } } }`;

async function funded(inference = 10_000_000, training = 10_000_000) {
  const seed = await seedOrganization(server);
  await seed.purchase(inference, "INFERENCE");
  await seed.purchase(training, "TRAINING");
  return seed;
}

async function status(api: Api, kind: "INFERENCE" | "TRAINING") {
  return (await api.execute(STATUS, { kind })).organization.allocationStatus;
}

describe("setAllocation", () => {
  it("sets both kinds at once, taking from and returning to the pools", async () => {
    const seed = await funded();
    const [memberId] = await seed.addMembers([{}]);
    const { setAllocation } = await seed.admin.execute(SET, { input: { memberId, inference: 2_000_000, training: 600_000 } });
    expect(setAllocation).toMatchObject({ inference: { limit: 2_000_000 }, training: { limit: 600_000 } });
    // (the admin holds its 500K floor of each kind)
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ allocated: 2_500_000, unallocated: 8_000_000, purchased: 10_500_000 });
    expect(await status(seed.admin, "TRAINING")).toMatchObject({ allocated: 1_100_000, unallocated: 9_400_000, purchased: 10_500_000 });

    // omitted kinds are left as they are
    const { setAllocation: again } = await seed.admin.execute(SET, { input: { memberId, training: 500_000 } });
    expect(again).toMatchObject({ inference: { limit: 2_000_000 }, training: { limit: 500_000 } });
    expect((await status(seed.admin, "TRAINING")).unallocated).toBe(9_500_000);
  });

  it("changes nothing when either kind's pool is short", async () => {
    const seed = await funded(10_000_000, 1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const error = await seed.admin.errorOf(SET, { input: { memberId, inference: 3_000_000, training: 2_000_000 } });
    expect(error.extensions?.code).toBe("INSUFFICIENT_POOL");
    const { member } = await seed.admin.execute(`query($id: ID!) { member(id: $id) { inference { limit } training { limit } } }`, {
      id: memberId,
    });
    expect(member).toEqual({ inference: { limit: 500_000 }, training: { limit: 500_000 } });
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ unallocated: 9_500_000, allocated: 1_000_000 });
  });

  it("refuses bad amounts naming the field", async () => {
    const seed = await funded();
    const [memberId] = await seed.addMembers([{}]);
    const negative = await seed.admin.errorOf(SET, { input: { memberId, inference: 10, training: -1 } });
    expect(negative.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.training" });
    for (const inference of [1.5, 2 ** 53, "lots"]) {
      expect((await seed.admin.errorOf(SET, { input: { memberId, inference } })).extensions?.code).toBe("BAD_USER_INPUT");
    }
    const badId = await seed.admin.errorOf(SET, { input: { memberId: "nope", inference: 1 } });
    expect(badId.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.memberId" });
    expect((await status(seed.admin, "INFERENCE")).allocated).toBe(1_000_000);
  });

  it("two parallel saves on one member leave one of them, with the pool conserved", async () => {
    const seed = await funded(20_000_000, 20_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const requests = [
      { inference: 3_000_000, training: 1_000_000 },
      { inference: 7_000_000, training: 4_000_000 },
      { inference: 1_000_000, training: 9_000_000 },
      { inference: 5_000_000, training: 2_000_000 },
    ];
    await Promise.all(requests.map((request) => seed.admin.execute(SET, { input: { memberId, ...request } })));
    const { member } = await seed.admin.execute(`query($id: ID!) { member(id: $id) { inference { limit } training { limit } } }`, {
      id: memberId,
    });
    expect(requests.map((r) => r.inference)).toContain(member.inference.limit);
    expect(requests.map((r) => r.training)).toContain(member.training.limit);
    // the admin has its 500K floor, the member holds the rest: pool + limits = purchased
    const inference = await status(seed.admin, "INFERENCE");
    const training = await status(seed.admin, "TRAINING");
    expect(inference).toMatchObject({ allocated: member.inference.limit + 500_000, unallocated: 20_000_000 - member.inference.limit });
    expect(training).toMatchObject({ allocated: member.training.limit + 500_000, unallocated: 20_000_000 - member.training.limit });
  });

  it("another organisation's member is NOT_FOUND and plain members are FORBIDDEN", async () => {
    const seed = await funded();
    const other = await funded();
    const [theirs] = await other.addMembers([{}]);
    const [ours] = await seed.addMembers([{}]);
    expect((await seed.admin.errorOf(SET, { input: { memberId: theirs, inference: 1 } })).extensions?.code).toBe("NOT_FOUND");
    expect(
      (await seed.admin.errorOf(ALLOCATE, { input: { memberIds: [ours, theirs], kind: "INFERENCE", amount: 1 } })).extensions?.code,
    ).toBe("NOT_FOUND");
    const member = await seed.as(ours!);
    expect((await member.errorOf(SET, { input: { memberId: ours, inference: 1 } })).extensions?.code).toBe("FORBIDDEN");
    expect((await member.errorOf(ALLOCATE, { input: { memberIds: [ours], kind: "INFERENCE", amount: 1 } })).extensions?.code).toBe(
      "FORBIDDEN",
    );
    expect((await new Api(server.url).errorOf(SET, { input: { memberId: ours, inference: 1 } })).extensions?.code).toBe("UNAUTHENTICATED");
    const { member: unchanged } = await other.admin.execute(`query($id: ID!) { member(id: $id) { inference { limit } } }`, { id: theirs });
    expect(unchanged.inference.limit).toBe(500_000);
  });
});

describe("the floor: the minimum a member can hold at any time", () => {
  it("refuses setAllocation below the member's floor naming it; an override floor is how a restricted account gets less", async () => {
    const seed = await funded();
    const [memberId] = await seed.addMembers([{}]);
    for (const inference of [0, 100_000, 499_999]) {
      const error = await seed.admin.errorOf(SET, { input: { memberId, inference } });
      expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.inference" });
      expect(error.message).toContain("floor (500000)");
    }
    expect((await status(seed.admin, "INFERENCE")).allocated).toBe(1_000_000);
    expect((await seed.admin.execute(SET, { input: { memberId, inference: 500_000 } })).setAllocation.inference.limit).toBe(500_000);
    await seed.admin.execute(`mutation($id: ID!) { setOverride(input: { memberId: $id, floor: 200000 }) { id } }`, { id: memberId });
    expect((await seed.admin.execute(SET, { input: { memberId, inference: 200_000 } })).setAllocation.inference.limit).toBe(200_000);
    expect((await seed.admin.errorOf(SET, { input: { memberId, inference: 199_999 } })).extensions?.field).toBe("input.inference");
  });

  it("brings the first admin of a new organisation up to its floor with the first purchase", async () => {
    const seed = await seedOrganization(server);
    const ADMIN = `{ viewer { member { inference { limit floor } training { limit floor } } } }`;
    expect((await seed.admin.execute(ADMIN)).viewer.member.inference).toEqual({ limit: 0, floor: 500_000 });
    await seed.admin.execute(`mutation { purchaseTokens(tokens: 300000, kind: INFERENCE) { id } }`);
    // short: as much as there is
    expect((await seed.admin.execute(ADMIN)).viewer.member.inference).toEqual({ limit: 300_000, floor: 500_000 });
    await seed.admin.execute(`mutation { purchaseTokens(tokens: 1000000, kind: INFERENCE) { id } }`);
    const { viewer } = await seed.admin.execute(ADMIN);
    expect(viewer.member).toEqual({ inference: { limit: 500_000, floor: 500_000 }, training: { limit: 0, floor: 500_000 } });
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ allocated: 500_000, unallocated: 800_000, purchased: 1_300_000 });
  });
});

describe("allocateTokens", () => {
  it("adds the amount to each listed member once, from the pool", async () => {
    const seed = await funded();
    const [a, b] = await seed.addMembers([{}, {}]);
    const { allocateTokens } = await seed.admin.execute(ALLOCATE, { input: { memberIds: [a, b, a], kind: "INFERENCE", amount: 250_000 } });
    expect(allocateTokens.map((m: { id: string }) => m.id)).toEqual([a, b]);
    for (const member of allocateTokens) {
      expect(member.inference).toEqual({ limit: 750_000, remaining: 750_000 });
      expect(member.training.limit).toBe(500_000);
    }
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ allocated: 2_000_000, unallocated: 8_500_000 });
  });

  it("gives no one anything when the pool cannot cover everyone", async () => {
    const seed = await funded(2_000_000, 2_000_000);
    const [a, b] = await seed.addMembers([{}, {}]);
    const error = await seed.admin.errorOf(ALLOCATE, { input: { memberIds: [a, b], kind: "INFERENCE", amount: 600_000 } });
    expect(error.extensions?.code).toBe("INSUFFICIENT_POOL");
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ allocated: 1_500_000, unallocated: 1_000_000 });
  });

  it("refuses bad input naming the field", async () => {
    const seed = await funded();
    const [a] = await seed.addMembers([{}]);
    expect((await seed.admin.errorOf(ALLOCATE, { input: { memberIds: [a], kind: "INFERENCE", amount: -5 } })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.amount",
    });
    expect((await seed.admin.errorOf(ALLOCATE, { input: { memberIds: [], kind: "INFERENCE", amount: 5 } })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.memberIds",
    });
    expect((await seed.admin.errorOf(ALLOCATE, { input: { memberIds: [a, "x"], kind: "INFERENCE", amount: 5 } })).extensions).toMatchObject(
      {
        code: "BAD_USER_INPUT",
        field: "input.memberIds[1]",
      },
    );
    expect((await seed.admin.errorOf(ALLOCATE, { input: { memberIds: [a], kind: "INFERENCE", amount: 0.5 } })).extensions?.code).toBe(
      "BAD_USER_INPUT",
    );
  });

  it("parallel allocations racing for a small pool never take it below zero", async () => {
    const seed = await funded(3_000_000, 2_000_000);
    const ids = await seed.addMembers([{}, {}, {}, {}]);
    // pool: 1_000_000 inference left; ten racers want 300_000 each
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        seed.admin.request(ALLOCATE, { input: { memberIds: [ids[i % ids.length]], kind: "INFERENCE", amount: 300_000 } }),
      ),
    );
    const succeeded = results.filter((result) => !result.errors).length;
    for (const result of results.filter((r) => r.errors)) expect(result.errors![0]!.extensions?.code).toBe("INSUFFICIENT_POOL");
    expect(succeeded).toBe(3);
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ unallocated: 100_000, allocated: 3_400_000, purchased: 3_500_000 });
  });
});

describe("allocationStatusChanged", () => {
  it("sends the current status on subscribe, then each change of that kind", async () => {
    const seed = await funded(5_000_000, 5_000_000);
    const { subscription, client } = subscribe(
      seed.admin,
      `subscription($kind: TokenKind!) { allocationStatusChanged(kind: $kind) { kind allocated unallocated } }`,
      {
        kind: "TRAINING",
      },
    );
    try {
      expect(await subscription.next()).toEqual({
        allocationStatusChanged: { kind: "TRAINING", allocated: 500_000, unallocated: 5_000_000 },
      });
      await seed.fund(1_000_000);
      await subscription.next((event) => event.allocationStatusChanged.unallocated === 6_000_000);
      const [memberId] = await seed.addMembers([{}]);
      await seed.admin.execute(SET, { input: { memberId, training: 2_000_000 } });
      const last = await subscription.next((event) => event.allocationStatusChanged.allocated === 2_500_000);
      expect(last.allocationStatusChanged.unallocated).toBe(4_000_000);
      expect(subscription.events.every((event) => event.allocationStatusChanged.kind === "TRAINING")).toBe(true);
    } finally {
      subscription.close();
      await client.dispose();
    }
  });

  it("follows usage too: used changes arrive live, and limits cannot go below what was used", async () => {
    const seed = await funded(5_000_000, 5_000_000);
    const [memberId] = await seed.addMembers([{}]);
    await seed.admin.execute(
      `mutation { upsertModel(input: { key: "small", inputPricePerMillion: "1.00", outputPricePerMillion: "2.00" }) { id } }`,
    );
    const service = await seed.serviceKey();
    const { subscription, client } = subscribe(seed.admin, `subscription { allocationStatusChanged { kind allocated used unallocated } }`);
    try {
      await subscription.next();
      // (300K of a 500K limit stays below the STANDARD auto-increase trigger of 80 %)
      await service.execute(`mutation($input: RecordUsageInput!) { recordUsage(input: $input) { tokens } }`, {
        input: { memberId, modelKey: "small", inputTokens: 200_000, outputTokens: 100_000, idempotencyKey: "u1" },
      });
      const event = await subscription.next((e) => e.allocationStatusChanged.used === 300_000);
      expect(event.allocationStatusChanged).toEqual({ kind: "INFERENCE", allocated: 1_000_000, used: 300_000, unallocated: 4_500_000 });
    } finally {
      subscription.close();
      await client.dispose();
    }
    // an override floor of 200K lets the admin give this member less than the policy's 500K, but not less than it used
    await seed.admin.execute(`mutation($id: ID!) { setOverride(input: { memberId: $id, floor: 200000 }) { id } }`, { id: memberId });
    const below = await seed.admin.errorOf(SET, { input: { memberId, inference: 299_999, training: 0 } });
    expect(below.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.inference" });
    const { setAllocation } = await seed.admin.execute(SET, { input: { memberId, inference: 300_000 } });
    expect(setAllocation.inference.limit).toBe(300_000);
    expect(await status(seed.admin, "TRAINING")).toMatchObject({ allocated: 1_000_000 });
  });

  it("is for admins of the organisation only", async ({ expect }) => {
    const seed = await funded();
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    const { subscription, client } = subscribe(member, `subscription { allocationStatusChanged { allocated } }`);
    try {
      await expect.poll(() => subscription.errors.length, { timeout: 50_000 }).toBeGreaterThan(0);
      expect(JSON.stringify(subscription.errors)).toContain("FORBIDDEN");
      expect(subscription.events).toEqual([]);
    } finally {
      subscription.close();
      await client.dispose();
    }
    expect((await member.errorOf(STATUS, { kind: "INFERENCE" })).extensions?.code).toBe("FORBIDDEN");
  });
});
