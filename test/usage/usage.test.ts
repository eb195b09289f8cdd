import type { DocumentNode } from "graphql";
import { describe, expect, it } from "vitest";
import {
  AcceptOverageDocument,
  AuthorizeUsageDocument,
  BalanceChangedDocument,
  CommitUsageDocument,
  ModelCapsDocument,
  ModelsDocument,
  RecordUsageDocument,
  ReleaseReservationDocument,
  SetAutomaticFallbackDocument,
  SetDefaultLimitsDocument,
  SetMemberLimitsDocument,
  SetMemberSuspendedDocument,
  SetPlanDocument,
} from "../../src/client/generated/graphql.ts";
import { Api, subscribe } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";
import { key, type UsageOrg, usageOrganization } from "./setup.ts";

const server = await startServer();

async function authorize(org: UsageOrg, modelKey: string, estimatedTokens: number, api: Api = org.service, memberId = org.memberId) {
  const { authorizeUsage } = await api.execute(AuthorizeUsageDocument, { input: { memberId, modelKey, estimatedTokens } });
  return authorizeUsage;
}

async function record(org: UsageOrg, modelKey: string, inputTokens: number, outputTokens: number, memberId = org.memberId) {
  const { recordUsage } = await org.service.execute(RecordUsageDocument, {
    input: { memberId, modelKey, inputTokens, outputTokens, idempotencyKey: key() },
  });
  return recordUsage;
}

describe("authorizeUsage", () => {
  it("holds a reservation of the estimated tokens on the requested model", async () => {
    const org = await usageOrganization(server);
    const model = await org.model("gpt-4o", { input: "2.50", output: "10.00" });
    const result = await authorize(org, "gpt-4o", 1_000);
    expect(result).toMatchObject({ allowed: true, denialReason: null, fellBack: false, routedModel: { id: model.id, key: "gpt-4o" } });
    // 1,000 tokens at the higher price (10.00 per million).
    expect(result.reservation).toMatchObject({
      kind: "INFERENCE",
      tokens: 1_000,
      status: "OPEN",
      estimatedCost: "0.01",
      member: { id: org.memberId },
    });
    expect(new Date(result.reservation!.expiresAt).getTime() - Date.now()).toBeGreaterThan(290_000);
    expect(await org.balance()).toMatchObject({ limit: 500_000, used: 0, reserved: 1_000, remaining: 500_000 });
  });

  it("answers MODEL_DISABLED in an organisation that has no models yet, and NOT_FOUND for a stranger", async () => {
    const org = await usageOrganization(server);
    expect(await authorize(org, "gpt-4o", 10)).toMatchObject({ allowed: false, denialReason: "MODEL_DISABLED", routedModel: null });
    const stranger = await usageOrganization(server);
    const error = await org.service.errorOf(AuthorizeUsageDocument, {
      input: { memberId: stranger.memberId, modelKey: "gpt-4o", estimatedTokens: 10 },
    });
    expect(error.extensions?.code).toBe("NOT_FOUND");
  });

  it("answers each denial with its reason and holds nothing", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    await org.model("off", { input: "1", output: "1", enabled: false });
    await org.model("capped", { input: "1", output: "1", cap: "0.00" });
    await org.admin.execute(SetAutomaticFallbackDocument, { enabled: false });

    expect(await authorize(org, "off", 10)).toMatchObject({ allowed: false, denialReason: "MODEL_DISABLED", reservation: null });
    expect(await authorize(org, "no-such-model", 10)).toMatchObject({ allowed: false, denialReason: "MODEL_DISABLED" });
    expect(await authorize(org, "capped", 10)).toMatchObject({ allowed: false, denialReason: "MODEL_CAP_REACHED", routedModel: null });
    expect(await authorize(org, "m", 500_001)).toMatchObject({ allowed: false, denialReason: "INSUFFICIENT_BALANCE" });

    await org.admin.execute(SetDefaultLimitsDocument, { limits: { daily: 1_000, monthly: null } });
    await record(org, "m", 900, 0);
    expect(await authorize(org, "m", 101)).toMatchObject({ allowed: false, denialReason: "DAILY_LIMIT_REACHED" });
    expect(await authorize(org, "m", 100)).toMatchObject({ allowed: true });

    await org.admin.execute(SetMemberLimitsDocument, { memberId: org.memberId, limits: { daily: null, monthly: 1_500 } });
    expect(await authorize(org, "m", 601)).toMatchObject({ allowed: false, denialReason: "MONTHLY_LIMIT_REACHED" });

    await org.operator.execute(SetPlanDocument, { organizationId: org.organizationId, planBudget: "0.0009", overageLimit: "0" });
    expect(await authorize(org, "m", 1)).toMatchObject({ allowed: false, denialReason: "BUDGET_EXHAUSTED" });

    await org.admin.execute(SetMemberSuspendedDocument, { memberId: org.memberId, suspended: true });
    expect(await authorize(org, "m", 1)).toMatchObject({ allowed: false, denialReason: "MEMBER_SUSPENDED" });
    // Only the one allowed authorization holds tokens.
    expect(await org.balance()).toMatchObject({ used: 900, reserved: 100 });
  });

  it("checks in the contract's order: suspended, model, budget, cap, balance, daily, monthly", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    await org.model("off", { input: "1", output: "1", enabled: false });
    await org.model("capped", { input: "1", output: "1", cap: "0" });
    await org.admin.execute(SetAutomaticFallbackDocument, { enabled: false });
    await org.admin.execute(SetMemberLimitsDocument, { memberId: org.memberId, limits: { daily: 10, monthly: 10 } });

    // Daily before monthly; balance before both; cap before balance.
    expect((await authorize(org, "m", 11)).denialReason).toBe("DAILY_LIMIT_REACHED");
    expect((await authorize(org, "m", 600_000)).denialReason).toBe("INSUFFICIENT_BALANCE");
    expect((await authorize(org, "capped", 600_000)).denialReason).toBe("MODEL_CAP_REACHED");
    // Budget before cap; model before budget; suspension before everything.
    await record(org, "m", 1_000_000, 0);
    await org.operator.execute(SetPlanDocument, { organizationId: org.organizationId, planBudget: "0.50", overageLimit: "0.25" });
    await org.admin.request(AcceptOverageDocument); // a higher overage applies once an admin accepts it
    expect((await authorize(org, "capped", 600_000)).denialReason).toBe("BUDGET_EXHAUSTED");
    expect((await authorize(org, "off", 600_000)).denialReason).toBe("MODEL_DISABLED");
    await org.admin.execute(SetMemberSuspendedDocument, { memberId: org.memberId, suspended: true });
    expect((await authorize(org, "off", 600_000)).denialReason).toBe("MEMBER_SUSPENDED");
  });

  it("treats a plan never set (budget 0 + overage 0) as no budget, and refuses once spend reaches budget + overage", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1000", output: "0" });
    await record(org, "m", 1_000, 0); // 1.00 spent, no plan: still allowed
    expect((await authorize(org, "m", 1)).allowed).toBe(true);
    await org.operator.execute(SetPlanDocument, { organizationId: org.organizationId, planBudget: "0.60", overageLimit: "0.41" });
    await org.admin.request(AcceptOverageDocument); // a higher overage applies once an admin accepts it
    expect((await authorize(org, "m", 1)).allowed).toBe(true);
    await record(org, "m", 10, 0); // 1.01 = 0.60 + 0.41
    expect((await authorize(org, "m", 1)).denialReason).toBe("BUDGET_EXHAUSTED");
  });

  it("falls back to the most expensive enabled, uncapped model cheaper than the capped one", async () => {
    const org = await usageOrganization(server);
    await org.model("premium", { input: "10", output: "30", cap: "0.05" });
    const standard = await org.model("standard", { input: "3", output: "15" }); // 18 < 40: the most expensive cheaper one
    await org.model("mid", { input: "5", output: "10" });
    await org.model("mid-capped", { input: "8", output: "12", cap: "0" });
    await org.model("mid-off", { input: "7", output: "14", enabled: false });
    await org.model("cheap", { input: "0.1", output: "0.2" });
    await org.model("pricier", { input: "20", output: "40" });

    // Not capped yet: 1,000 tokens at 30/M hold 0.03 of the 0.05 cap.
    const first = await authorize(org, "premium", 1_000);
    expect(first).toMatchObject({ allowed: true, fellBack: false, routedModel: { key: "premium" } });
    // The open reservation counts against the cap: 0.03 + 0.03 spend recorded reaches 0.05.
    await record(org, "premium", 0, 1_000);
    const routed = await authorize(org, "premium", 2_000);
    expect(routed).toMatchObject({ allowed: true, fellBack: true, routedModel: { id: standard.id, key: "standard" } });
    expect(routed.reservation).toMatchObject({ model: { key: "standard" }, tokens: 2_000, estimatedCost: "0.03" });

    // A commit is charged at the routed model's prices.
    const { commitUsage } = await org.service.execute(CommitUsageDocument, {
      input: { reservationId: routed.reservation!.id, inputTokens: 1_000, outputTokens: 500, idempotencyKey: key() },
    });
    expect(commitUsage).toMatchObject({ model: { key: "standard" }, tokens: 1_500, cost: "0.0105" });

    await org.admin.execute(SetAutomaticFallbackDocument, { enabled: false });
    expect(await authorize(org, "premium", 1)).toMatchObject({ allowed: false, denialReason: "MODEL_CAP_REACHED", fellBack: false });
  });

  it("answers MODEL_CAP_REACHED when no cheaper model can take the call", async () => {
    const org = await usageOrganization(server);
    await org.model("cheapest", { input: "1", output: "1", cap: "0" });
    await org.model("dearer", { input: "2", output: "2" });
    expect(await authorize(org, "cheapest", 1)).toMatchObject({ allowed: false, denialReason: "MODEL_CAP_REACHED" });
  });

  it("lets only one of two racing authorizations take the last tokens", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const results = await Promise.all(Array.from({ length: 8 }, () => authorize(org, "m", 300_000)));
    expect(results.filter((result) => result.allowed)).toHaveLength(1);
    expect(results.filter((result) => result.denialReason === "INSUFFICIENT_BALANCE")).toHaveLength(7);
    expect(await org.balance()).toMatchObject({ reserved: 300_000 });
  });

  it("judges each of many simultaneous authorizations against its own member's balance", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const [second, third] = await org.addMembers([{}, {}]);
    const wanted = [org.memberId, second!, third!].flatMap((memberId, index) => Array(index === 0 ? 5 : 3).fill(memberId) as string[]);
    const results = await Promise.all(wanted.map((memberId) => authorize(org, "m", 150_000, org.service, memberId)));
    const allowed = (memberId: string) => results.filter((result, index) => wanted[index] === memberId && result.allowed).length;
    // 500K each: three holds of 150K fit, a fourth does not.
    expect([allowed(org.memberId), allowed(second!), allowed(third!)]).toEqual([3, 3, 3]);
    for (const memberId of [org.memberId, second!, third!]) expect(await org.balance(memberId)).toMatchObject({ reserved: 450_000 });
  });
});

describe("commitUsage and releaseReservation", () => {
  it("charges input + output tokens at the routed model's prices and closes the reservation", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "0.15", output: "0.60" });
    const { reservation } = await authorize(org, "m", 5_000);
    const { commitUsage } = await org.service.execute(CommitUsageDocument, {
      input: {
        reservationId: reservation!.id,
        inputTokens: 1_234,
        outputTokens: 567,
        app: "Chat",
        assistant: "Helper",
        idempotencyKey: key(),
      },
    });
    // 1,234 × 0.15 + 567 × 0.60 = 185.1 + 340.2 = 525.3 per million.
    expect(commitUsage).toMatchObject({
      tokens: 1_801,
      cost: "0.0005253",
      member: { id: org.memberId },
      model: { key: "m" },
      balance: { kind: "INFERENCE", limit: 500_000, used: 1_801, remaining: 498_199, reserved: 0 },
    });
    expect(commitUsage.id).toBeTruthy();
    expect(await org.balance()).toMatchObject({ used: 1_801, reserved: 0 });
    // Already committed: releasing it changes nothing.
    expect((await org.service.execute(ReleaseReservationDocument, { id: reservation!.id })).releaseReservation).toBe(false);
    expect(await org.balance()).toMatchObject({ used: 1_801, reserved: 0 });
  });

  it("releases an open reservation once, then answers false", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const { reservation } = await authorize(org, "m", 7_000);
    expect(await org.balance()).toMatchObject({ reserved: 7_000 });
    expect((await org.service.execute(ReleaseReservationDocument, { id: reservation!.id })).releaseReservation).toBe(true);
    expect(await org.balance()).toMatchObject({ reserved: 0, used: 0 });
    expect((await org.service.execute(ReleaseReservationDocument, { id: reservation!.id })).releaseReservation).toBe(false);
    expect(await org.balance()).toMatchObject({ reserved: 0 });
  });

  it("still records usage committed after the reservation was released, without touching what others hold", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const { reservation } = await authorize(org, "m", 1_000);
    await authorize(org, "m", 2_000); // another open reservation
    await org.service.execute(ReleaseReservationDocument, { id: reservation!.id });
    const { commitUsage } = await org.service.execute(CommitUsageDocument, {
      input: { reservationId: reservation!.id, inputTokens: 400, outputTokens: 100, idempotencyKey: key() },
    });
    expect(commitUsage.balance).toMatchObject({ used: 500, reserved: 2_000 });
    expect(await org.balance()).toMatchObject({ used: 500, reserved: 2_000 });
  });

  it("records a second commit of one reservation under a new key as usage, closing it only once", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const { reservation } = await authorize(org, "m", 1_000);
    await org.service.execute(CommitUsageDocument, {
      input: { reservationId: reservation!.id, inputTokens: 100, outputTokens: 0, idempotencyKey: key() },
    });
    const { commitUsage } = await org.service.execute(CommitUsageDocument, {
      input: { reservationId: reservation!.id, inputTokens: 50, outputTokens: 0, idempotencyKey: key() },
    });
    expect(commitUsage.balance).toMatchObject({ used: 150, reserved: 0 });
  });
});

describe("racing commits of one reservation", () => {
  it("records every usage committed at once under different keys and closes the reservation once", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const { reservation } = await authorize(org, "m", 1_000);
    const receipts = await Promise.all(
      [10, 20, 30, 40, 50].map((inputTokens) =>
        org.service.execute(CommitUsageDocument, {
          input: { reservationId: reservation!.id, inputTokens, outputTokens: 0, idempotencyKey: key() },
        }),
      ),
    );
    expect(new Set(receipts.map((receipt) => receipt.commitUsage.id)).size).toBe(5);
    expect(await org.balance()).toMatchObject({ used: 150, reserved: 0 });
  });
});

describe("idempotency", () => {
  it("returns the first receipt for a retried commit and charges once", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "2" });
    const { reservation } = await authorize(org, "m", 1_000);
    const input = { reservationId: reservation!.id, inputTokens: 300, outputTokens: 200, idempotencyKey: key() };
    const first = (await org.service.execute(CommitUsageDocument, { input })).commitUsage;
    const retries = await Promise.all([1, 2, 3].map(() => org.service.execute(CommitUsageDocument, { input })));
    for (const retry of retries) expect(retry.commitUsage).toMatchObject({ id: first.id, tokens: 500, cost: first.cost });
    expect(await org.balance()).toMatchObject({ used: 500, reserved: 0 });
  });

  it("charges once when the same recordUsage races with itself", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const input = { memberId: org.memberId, modelKey: "m", inputTokens: 10, outputTokens: 5, idempotencyKey: key() };
    const results = await Promise.all(Array.from({ length: 10 }, () => org.service.execute(RecordUsageDocument, { input })));
    expect(new Set(results.map((result) => result.recordUsage.id)).size).toBe(1);
    expect(await org.balance()).toMatchObject({ used: 15 });
  });

  it("refuses the same key with a different payload (CONFLICT) and charges nothing more", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const idempotencyKey = key();
    await org.service.execute(RecordUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", inputTokens: 10, outputTokens: 5, idempotencyKey },
    });
    const error = await org.service.errorOf(RecordUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", inputTokens: 11, outputTokens: 5, idempotencyKey },
    });
    expect(error.extensions?.code).toBe("CONFLICT");
    const { reservation } = await authorize(org, "m", 100);
    const commitError = await org.service.errorOf(CommitUsageDocument, {
      input: { reservationId: reservation!.id, inputTokens: 10, outputTokens: 5, idempotencyKey },
    });
    expect(commitError.extensions?.code).toBe("CONFLICT");
    expect(await org.balance()).toMatchObject({ used: 15, reserved: 100 });
  });

  it("keeps idempotency keys per organisation", async () => {
    const a = await usageOrganization(server);
    const b = await usageOrganization(server);
    await a.model("m", { input: "1", output: "1" });
    await b.model("m", { input: "1", output: "1" });
    const idempotencyKey = key();
    const first = await a.service.execute(RecordUsageDocument, {
      input: { memberId: a.memberId, modelKey: "m", inputTokens: 1, outputTokens: 1, idempotencyKey },
    });
    const second = await b.service.execute(RecordUsageDocument, {
      input: { memberId: b.memberId, modelKey: "m", inputTokens: 1, outputTokens: 1, idempotencyKey },
    });
    expect(second.recordUsage.id).not.toBe(first.recordUsage.id);
    expect(await b.balance()).toMatchObject({ used: 2 });
  });
});

describe("recordUsage", () => {
  it("records usage already done even for a disabled model or a suspended member", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1", enabled: false });
    await org.admin.execute(SetMemberSuspendedDocument, { memberId: org.memberId, suspended: true });
    const receipt = await record(org, "m", 20, 10);
    expect(receipt).toMatchObject({ tokens: 30, cost: "0.00003", balance: { used: 30 } });
  });

  it("charges the training balance when asked", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const { recordUsage } = await org.service.execute(RecordUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", kind: "TRAINING", inputTokens: 70, outputTokens: 0, idempotencyKey: key() },
    });
    expect(recordUsage.balance).toMatchObject({ kind: "TRAINING", used: 70 });
    expect(await org.balance()).toMatchObject({ used: 0 });
  });

  it("never loses an update: 200 parallel commits on one member give the exact balance", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const reservations = await Promise.all(Array.from({ length: 200 }, () => authorize(org, "m", 100)));
    expect(reservations.every((result) => result.allowed)).toBe(true);
    expect(await org.balance()).toMatchObject({ reserved: 20_000 });
    const receipts = await Promise.all(
      reservations.map((result, i) =>
        org.service.execute(CommitUsageDocument, {
          input: { reservationId: result.reservation!.id, inputTokens: i % 7, outputTokens: 3, idempotencyKey: key() },
        }),
      ),
    );
    const charged = receipts.reduce((sum, receipt) => sum + receipt.commitUsage.tokens, 0);
    expect(charged).toBe(Array.from({ length: 200 }, (_, i) => (i % 7) + 3).reduce((a, b) => a + b, 0));
    expect(await org.balance()).toMatchObject({ used: charged, reserved: 0 });
    // Each receipt shows the balance right after its own charge: all different.
    expect(new Set(receipts.map((receipt) => receipt.commitUsage.balance.used)).size).toBe(200);
  });
});

describe("access", () => {
  it("lets a member authorize, commit and release for itself only", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const [otherId] = await org.addMembers([{}]);
    const own = await authorize(org, "m", 100, org.member);
    expect(own.allowed).toBe(true);
    const { commitUsage } = await org.member.execute(CommitUsageDocument, {
      input: { reservationId: own.reservation!.id, inputTokens: 1, outputTokens: 1, idempotencyKey: key() },
    });
    expect(commitUsage.balance.used).toBe(2);

    const other = await authorize(org, "m", 100, org.service, otherId);
    expect(
      (await org.member.errorOf(AuthorizeUsageDocument, { input: { memberId: otherId!, modelKey: "m", estimatedTokens: 1 } })).extensions
        ?.code,
    ).toBe("NOT_FOUND");
    expect((await org.member.errorOf(ReleaseReservationDocument, { id: other.reservation!.id })).extensions?.code).toBe("NOT_FOUND");
    expect(
      (
        await org.member.errorOf(CommitUsageDocument, {
          input: { reservationId: other.reservation!.id, inputTokens: 1, outputTokens: 1, idempotencyKey: key() },
        })
      ).extensions?.code,
    ).toBe("NOT_FOUND");
    expect(
      (
        await org.member.errorOf(RecordUsageDocument, {
          input: { memberId: otherId!, modelKey: "m", inputTokens: 1, outputTokens: 1, idempotencyKey: key() },
        })
      ).extensions?.code,
    ).toBe("NOT_FOUND");
    expect(await org.balance(otherId)).toMatchObject({ used: 0, reserved: 100 });

    // Admins act for any member of their organisation.
    const byAdmin = await authorize(org, "m", 5, org.admin, otherId);
    expect(byAdmin.allowed).toBe(true);
  });

  it("hides other organisations' members and reservations (NOT_FOUND) and refuses anonymous and operator callers", async () => {
    const org = await usageOrganization(server);
    const stranger = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const { reservation } = await authorize(org, "m", 100);
    expect(
      (await stranger.service.errorOf(AuthorizeUsageDocument, { input: { memberId: org.memberId, modelKey: "m", estimatedTokens: 1 } }))
        .extensions?.code,
    ).toBe("NOT_FOUND");
    expect((await stranger.service.errorOf(ReleaseReservationDocument, { id: reservation!.id })).extensions?.code).toBe("NOT_FOUND");
    expect(
      (
        await stranger.service.errorOf(CommitUsageDocument, {
          input: { reservationId: reservation!.id, inputTokens: 1, outputTokens: 1, idempotencyKey: key() },
        })
      ).extensions?.code,
    ).toBe("NOT_FOUND");
    expect(
      (
        await stranger.service.errorOf(RecordUsageDocument, {
          input: { memberId: org.memberId, modelKey: "m", inputTokens: 1, outputTokens: 1, idempotencyKey: key() },
        })
      ).extensions?.code,
    ).toBe("NOT_FOUND");
    expect((await new Api(server.url).errorOf(ReleaseReservationDocument, { id: reservation!.id })).extensions?.code).toBe(
      "UNAUTHENTICATED",
    );
    expect((await org.operator.errorOf(ReleaseReservationDocument, { id: reservation!.id })).extensions?.code).toBe("FORBIDDEN");
    expect(await org.balance()).toMatchObject({ used: 0, reserved: 100 });
  });

  it("answers NOT_FOUND for a model the organisation does not have on recordUsage", async () => {
    const org = await usageOrganization(server);
    const error = await org.service.errorOf(RecordUsageDocument, {
      input: { memberId: org.memberId, modelKey: "nope", inputTokens: 1, outputTokens: 1, idempotencyKey: key() },
    });
    expect(error).toMatchObject({ extensions: { code: "NOT_FOUND" }, message: "Model not found." });
  });
});

describe("bad input", () => {
  it("refuses negative, fractional, too large and malformed values naming the field, and changes nothing", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const { reservation } = await authorize(org, "m", 100);
    const base = { memberId: org.memberId, modelKey: "m", inputTokens: 1, outputTokens: 1, idempotencyKey: key() };
    const cases: [DocumentNode, Record<string, unknown>][] = [
      [RecordUsageDocument, { input: { ...base, inputTokens: -1 } }],
      [RecordUsageDocument, { input: { ...base, outputTokens: 1.5 } }],
      [RecordUsageDocument, { input: { ...base, inputTokens: 2 ** 53 } }],
      [RecordUsageDocument, { input: { ...base, memberId: "not-an-id" } }],
      [RecordUsageDocument, { input: { ...base, idempotencyKey: "  " } }],
      [RecordUsageDocument, { input: { ...base, app: "x".repeat(201) } }],
      [AuthorizeUsageDocument, { input: { memberId: org.memberId, modelKey: "m", estimatedTokens: -5 } }],
      [AuthorizeUsageDocument, { input: { memberId: org.memberId, modelKey: "", estimatedTokens: 5 } }],
      [CommitUsageDocument, { input: { reservationId: reservation!.id, inputTokens: -1, outputTokens: 0, idempotencyKey: key() } }],
      [CommitUsageDocument, { input: { reservationId: org.memberId, inputTokens: 1, outputTokens: 0, idempotencyKey: key() } }],
      [ReleaseReservationDocument, { id: "garbage" }],
    ];
    for (const [document, variables] of cases) {
      const error = await org.service.errorOf(document, variables);
      expect(error.extensions?.code, JSON.stringify(variables)).toBe("BAD_USER_INPUT");
    }
    const fieldError = await org.service.errorOf(RecordUsageDocument, { input: { ...base, memberId: "not-an-id" } });
    expect(fieldError.extensions?.field).toBe("input.memberId");
    expect(await org.balance()).toMatchObject({ used: 0, reserved: 100 });
  });
});

describe("live balance", () => {
  it("sends the member the balance a commit leaves", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const { subscription, client } = subscribe(org.member, BalanceChangedDocument, { kind: "INFERENCE" });
    try {
      // The subscription is live once an authorization's change arrives; extra holds are released.
      const { reservation } = await authorize(org, "m", 1_000);
      for (let attempt = 0; subscription.events.length === 0 && attempt < 50; attempt++) {
        const extra = await authorize(org, "m", 1);
        await org.service.execute(ReleaseReservationDocument, { id: extra.reservation!.id });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(subscription.events.length).toBeGreaterThan(0);
      await org.service.execute(CommitUsageDocument, {
        input: { reservationId: reservation!.id, inputTokens: 600, outputTokens: 150, idempotencyKey: key() },
      });
      const event = await subscription.next((e) => e.balanceChanged.used === 750);
      expect(event.balanceChanged).toMatchObject({ kind: "INFERENCE", used: 750, reserved: 0, remaining: 499_250 });
    } finally {
      subscription.close();
      await client.dispose();
    }
  });
});

describe("models", () => {
  it("shows every caller of the organisation its models; their spend and caps to admins only", async () => {
    const org = await usageOrganization(server);
    await org.model("b-model", { input: "1", output: "3" });
    await org.model("a-model", { input: "2", output: "4", cap: "10" });
    await record(org, "a-model", 1_000, 500);
    const models = async (api: Api) =>
      (await api.execute(ModelCapsDocument)).models.map(({ key, cap, cycleSpend, enabled }) => ({ key, cap, cycleSpend, enabled }));
    expect(await models(org.admin)).toEqual([
      { key: "a-model", cap: "10.00", cycleSpend: "0.004", enabled: true },
      { key: "b-model", cap: null, cycleSpend: "0.00", enabled: true },
    ]);
    for (const api of [org.member, org.service]) {
      expect((await api.execute(ModelsDocument)).models.map(({ key, enabled }) => ({ key, enabled }))).toEqual([
        { key: "a-model", enabled: true },
        { key: "b-model", enabled: true },
      ]);
      for (const field of ["cap", "cycleSpend"]) {
        // An authorisation probe per field, so written out rather than a client operation.
        const response = await api.request(`{ models { key ${field} } }`);
        // Refused: null (cap), or the null of a non-null field (cycleSpend) taking the list with it; never the value.
        const values = ((response.data?.models ?? []) as Record<string, unknown>[]).map((model) => model[field]);
        expect(values.every((value) => value === null)).toBe(true);
        expect(new Set(response.errors?.map((error) => error.extensions?.code))).toEqual(new Set(["FORBIDDEN"]));
      }
    }
    const other = await seedOrganization(server);
    expect(await models(other.admin)).toEqual([]);
  });
});
