import { describe, expect, it } from "vitest";
import {
  AllocateTokensDocument,
  AllocationStatusChangedDocument,
  AllocationStatusDocument,
  MemberBalancesDocument,
  PurchaseTokensDocument,
  RecordUsageDocument,
  SetAllocationDocument,
  SetOverrideDocument,
  UpsertModelDocument,
  ViewerDocument,
} from "../../src/client/generated/graphql.ts";
import { Api, pick, subscribe } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

async function funded(inference = 10_000_000, training = 10_000_000) {
  const seed = await seedOrganization(server);
  await seed.purchase(inference, "INFERENCE");
  await seed.purchase(training, "TRAINING");
  return seed;
}

async function status(api: Api, kind: "INFERENCE" | "TRAINING") {
  return (await api.execute(AllocationStatusDocument, { kind })).organization.allocationStatus;
}

describe("setAllocation", () => {
  it("sets both kinds at once, taking from and returning to the pools", async () => {
    const seed = await funded();
    const [memberId] = await seed.addMembers([{}]);
    const { setAllocation } = await seed.admin.execute(SetAllocationDocument, {
      input: { memberId: memberId!, inference: 2_000_000, training: 600_000 },
    });
    expect(setAllocation).toMatchObject({ inference: { limit: 2_000_000 }, training: { limit: 600_000 } });
    // (the admin holds its 500K floor of each kind)
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ allocated: 2_500_000, unallocated: 8_000_000, purchased: 10_500_000 });
    expect(await status(seed.admin, "TRAINING")).toMatchObject({ allocated: 1_100_000, unallocated: 9_400_000, purchased: 10_500_000 });

    // omitted kinds are left as they are
    const { setAllocation: again } = await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, training: 500_000 } });
    expect(again).toMatchObject({ inference: { limit: 2_000_000 }, training: { limit: 500_000 } });
    expect((await status(seed.admin, "TRAINING")).unallocated).toBe(9_500_000);
  });

  it("changes nothing when either kind's pool is short", async () => {
    const seed = await funded(10_000_000, 1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const error = await seed.admin.errorOf(SetAllocationDocument, {
      input: { memberId: memberId!, inference: 3_000_000, training: 2_000_000 },
    });
    expect(error.extensions?.code).toBe("INSUFFICIENT_POOL");
    const { member } = await seed.admin.execute(MemberBalancesDocument, { memberId: memberId! });
    expect({ inference: pick(member!.inference, "limit"), training: pick(member!.training, "limit") }).toEqual({
      inference: { limit: 500_000 },
      training: { limit: 500_000 },
    });
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ unallocated: 9_500_000, allocated: 1_000_000 });
  });

  it("refuses bad amounts naming the field", async () => {
    const seed = await funded();
    const [memberId] = await seed.addMembers([{}]);
    const negative = await seed.admin.errorOf(SetAllocationDocument, { input: { memberId: memberId!, inference: 10, training: -1 } });
    expect(negative.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.training" });
    // "lots" is no number on purpose: the server, not the client, must refuse it.
    for (const inference of [1.5, 2 ** 53, "lots"]) {
      expect(
        (await seed.admin.errorOf(SetAllocationDocument, { input: { memberId: memberId!, inference: inference as number } })).extensions
          ?.code,
      ).toBe("BAD_USER_INPUT");
    }
    const badId = await seed.admin.errorOf(SetAllocationDocument, { input: { memberId: "nope", inference: 1 } });
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
    await Promise.all(requests.map((request) => seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, ...request } })));
    const { member } = await seed.admin.execute(MemberBalancesDocument, { memberId: memberId! });
    expect(requests.map((r) => r.inference)).toContain(member!.inference.limit);
    expect(requests.map((r) => r.training)).toContain(member!.training.limit);
    // the admin has its 500K floor, the member holds the rest: pool + limits = purchased
    const inference = await status(seed.admin, "INFERENCE");
    const training = await status(seed.admin, "TRAINING");
    expect(inference).toMatchObject({ allocated: member!.inference.limit + 500_000, unallocated: 20_000_000 - member!.inference.limit });
    expect(training).toMatchObject({ allocated: member!.training.limit + 500_000, unallocated: 20_000_000 - member!.training.limit });
  });

  it("another organisation's member is NOT_FOUND and plain members are FORBIDDEN", async () => {
    const seed = await funded();
    const other = await funded();
    const [theirs] = await other.addMembers([{}]);
    const [ours] = await seed.addMembers([{}]);
    expect((await seed.admin.errorOf(SetAllocationDocument, { input: { memberId: theirs!, inference: 1 } })).extensions?.code).toBe(
      "NOT_FOUND",
    );
    expect(
      (await seed.admin.errorOf(AllocateTokensDocument, { input: { memberIds: [ours!, theirs!], kind: "INFERENCE", amount: 1 } }))
        .extensions?.code,
    ).toBe("NOT_FOUND");
    const member = await seed.as(ours!);
    expect((await member.errorOf(SetAllocationDocument, { input: { memberId: ours!, inference: 1 } })).extensions?.code).toBe("FORBIDDEN");
    expect(
      (await member.errorOf(AllocateTokensDocument, { input: { memberIds: [ours!], kind: "INFERENCE", amount: 1 } })).extensions?.code,
    ).toBe("FORBIDDEN");
    expect((await new Api(server.url).errorOf(SetAllocationDocument, { input: { memberId: ours!, inference: 1 } })).extensions?.code).toBe(
      "UNAUTHENTICATED",
    );
    const { member: unchanged } = await other.admin.execute(MemberBalancesDocument, { memberId: theirs! });
    expect(unchanged!.inference.limit).toBe(500_000);
  });
});

describe("the floor: the minimum a member can hold at any time", () => {
  it("refuses setAllocation below the member's floor naming it; an override floor is how a restricted account gets less", async () => {
    const seed = await funded();
    const [memberId] = await seed.addMembers([{}]);
    for (const inference of [0, 100_000, 499_999]) {
      const error = await seed.admin.errorOf(SetAllocationDocument, { input: { memberId: memberId!, inference } });
      expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.inference" });
      expect(error.message).toContain("floor (500000)");
    }
    expect((await status(seed.admin, "INFERENCE")).allocated).toBe(1_000_000);
    expect(
      (await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, inference: 500_000 } })).setAllocation.inference
        .limit,
    ).toBe(500_000);
    await seed.admin.execute(SetOverrideDocument, { input: { memberId: memberId!, floor: 200_000 } });
    expect(
      (await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, inference: 200_000 } })).setAllocation.inference
        .limit,
    ).toBe(200_000);
    expect(
      (await seed.admin.errorOf(SetAllocationDocument, { input: { memberId: memberId!, inference: 199_999 } })).extensions?.field,
    ).toBe("input.inference");
  });

  it("brings the first admin of a new organisation up to its floor with the first purchase", async () => {
    const seed = await seedOrganization(server);
    const adminInference = async () => pick((await seed.admin.execute(ViewerDocument)).viewer.member!.inference, "limit", "floor");
    expect(await adminInference()).toEqual({ limit: 0, floor: 500_000 });
    await seed.admin.execute(PurchaseTokensDocument, { tokens: 300_000, kind: "INFERENCE" });
    // short: as much as there is
    expect(await adminInference()).toEqual({ limit: 300_000, floor: 500_000 });
    await seed.admin.execute(PurchaseTokensDocument, { tokens: 1_000_000, kind: "INFERENCE" });
    const { member } = (await seed.admin.execute(ViewerDocument)).viewer;
    expect({ inference: pick(member!.inference, "limit", "floor"), training: pick(member!.training, "limit", "floor") }).toEqual({
      inference: { limit: 500_000, floor: 500_000 },
      training: { limit: 0, floor: 500_000 },
    });
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ allocated: 500_000, unallocated: 800_000, purchased: 1_300_000 });
  });
});

describe("allocateTokens", () => {
  it("adds the amount to each listed member once, from the pool", async () => {
    const seed = await funded();
    const [a, b] = await seed.addMembers([{}, {}]);
    const { allocateTokens } = await seed.admin.execute(AllocateTokensDocument, {
      input: { memberIds: [a!, b!, a!], kind: "INFERENCE", amount: 250_000 },
    });
    expect(allocateTokens.map((m) => m.id)).toEqual([a, b]);
    for (const member of allocateTokens) {
      expect(pick(member.inference, "limit", "remaining")).toEqual({ limit: 750_000, remaining: 750_000 });
      expect(member.training.limit).toBe(500_000);
    }
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ allocated: 2_000_000, unallocated: 8_500_000 });
  });

  it("gives no one anything when the pool cannot cover everyone", async () => {
    const seed = await funded(2_000_000, 2_000_000);
    const [a, b] = await seed.addMembers([{}, {}]);
    const error = await seed.admin.errorOf(AllocateTokensDocument, { input: { memberIds: [a!, b!], kind: "INFERENCE", amount: 600_000 } });
    expect(error.extensions?.code).toBe("INSUFFICIENT_POOL");
    expect(await status(seed.admin, "INFERENCE")).toMatchObject({ allocated: 1_500_000, unallocated: 1_000_000 });
  });

  it("refuses bad input naming the field", async () => {
    const seed = await funded();
    const [a] = await seed.addMembers([{}]);
    expect(
      (await seed.admin.errorOf(AllocateTokensDocument, { input: { memberIds: [a!], kind: "INFERENCE", amount: -5 } })).extensions,
    ).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.amount",
    });
    expect(
      (await seed.admin.errorOf(AllocateTokensDocument, { input: { memberIds: [], kind: "INFERENCE", amount: 5 } })).extensions,
    ).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.memberIds",
    });
    expect(
      (await seed.admin.errorOf(AllocateTokensDocument, { input: { memberIds: [a!, "x"], kind: "INFERENCE", amount: 5 } })).extensions,
    ).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.memberIds[1]",
    });
    expect(
      (await seed.admin.errorOf(AllocateTokensDocument, { input: { memberIds: [a!], kind: "INFERENCE", amount: 0.5 } })).extensions?.code,
    ).toBe("BAD_USER_INPUT");
  });

  it("parallel allocations racing for a small pool never take it below zero", async () => {
    const seed = await funded(3_000_000, 2_000_000);
    const ids = await seed.addMembers([{}, {}, {}, {}]);
    // pool: 1_000_000 inference left; ten racers want 300_000 each
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        seed.admin.request(AllocateTokensDocument, { input: { memberIds: [ids[i % ids.length]!], kind: "INFERENCE", amount: 300_000 } }),
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
    const { subscription, client } = subscribe(seed.admin, AllocationStatusChangedDocument, { kind: "TRAINING" });
    try {
      expect(pick((await subscription.next()).allocationStatusChanged, "kind", "allocated", "unallocated")).toEqual({
        kind: "TRAINING",
        allocated: 500_000,
        unallocated: 5_000_000,
      });
      await seed.fund(1_000_000);
      await subscription.next((event) => event.allocationStatusChanged.unallocated === 6_000_000);
      const [memberId] = await seed.addMembers([{}]);
      await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, training: 2_000_000 } });
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
    await seed.admin.execute(UpsertModelDocument, { input: { key: "small", inputPricePerMillion: "1.00", outputPricePerMillion: "2.00" } });
    const service = await seed.serviceKey();
    const { subscription, client } = subscribe(seed.admin, AllocationStatusChangedDocument, { kind: "INFERENCE" });
    try {
      await subscription.next();
      // (300K of a 500K limit stays below the STANDARD auto-increase trigger of 80 %)
      await service.execute(RecordUsageDocument, {
        input: { memberId: memberId!, modelKey: "small", inputTokens: 200_000, outputTokens: 100_000, idempotencyKey: "u1" },
      });
      const event = await subscription.next((e) => e.allocationStatusChanged.used === 300_000);
      expect(pick(event.allocationStatusChanged, "kind", "allocated", "used", "unallocated")).toEqual({
        kind: "INFERENCE",
        allocated: 1_000_000,
        used: 300_000,
        unallocated: 4_500_000,
      });
    } finally {
      subscription.close();
      await client.dispose();
    }
    // an override floor of 200K lets the admin give this member less than the policy's 500K, but not less than it used
    await seed.admin.execute(SetOverrideDocument, { input: { memberId: memberId!, floor: 200_000 } });
    const below = await seed.admin.errorOf(SetAllocationDocument, { input: { memberId: memberId!, inference: 299_999, training: 0 } });
    expect(below.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.inference" });
    const { setAllocation } = await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, inference: 300_000 } });
    expect(setAllocation.inference.limit).toBe(300_000);
    expect(await status(seed.admin, "TRAINING")).toMatchObject({ allocated: 1_000_000 });
  });

  it("is for admins of the organisation only", async ({ expect }) => {
    const seed = await funded();
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    const { subscription, client } = subscribe(member, AllocationStatusChangedDocument, { kind: "INFERENCE" });
    try {
      await expect.poll(() => subscription.errors.length, { timeout: 50_000 }).toBeGreaterThan(0);
      expect(JSON.stringify(subscription.errors)).toContain("FORBIDDEN");
      expect(subscription.events).toEqual([]);
    } finally {
      subscription.close();
      await client.dispose();
    }
    expect((await member.errorOf(AllocationStatusDocument, { kind: "INFERENCE" })).extensions?.code).toBe("FORBIDDEN");
  });
});
