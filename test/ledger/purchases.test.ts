import { describe, expect, it } from "vitest";
import {
  AllocationStatusDocument,
  PurchasesDocument,
  PurchaseTokensDocument,
  QuotePlanDocument,
  QuotePurchaseDocument,
} from "../../src/client/generated/graphql.ts";
import { Api, pick } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

describe("purchases", () => {
  it("quotes without buying", async () => {
    const seed = await seedOrganization(server);
    const { quotePurchase } = await seed.admin.execute(QuotePurchaseDocument, { tokens: 12_345_678 });
    expect(quotePurchase).toEqual({ tokens: 12_345_678, listPrice: "123.46", discountPercent: 15, price: "104.94" });
    const { organization } = await seed.admin.execute(AllocationStatusDocument, { kind: "INFERENCE" });
    expect(organization.allocationStatus.unallocated).toBe(0);
  });

  it("buys into the pool of the chosen kind and records the purchase", async () => {
    const seed = await seedOrganization(server);
    const { purchaseTokens: bought } = await seed.admin.execute(PurchaseTokensDocument, { tokens: 100_000_000, kind: "TRAINING" });
    expect(bought).toMatchObject({ kind: "TRAINING", tokens: 100_000_000, listPrice: "1000.00", discountPercent: 25, price: "750.00" });
    const training = await seed.admin.execute(AllocationStatusDocument, { kind: "TRAINING" });
    // the purchase brought the admin up to its 500K floor
    expect(pick(training.organization.allocationStatus, "purchased", "allocated", "unallocated", "purchasedAllTime")).toEqual({
      purchased: 100_000_000,
      allocated: 500_000,
      unallocated: 99_500_000,
      purchasedAllTime: 100_000_000,
    });
    const inference = await seed.admin.execute(AllocationStatusDocument, { kind: "INFERENCE" });
    expect(inference.organization.allocationStatus.unallocated).toBe(0);

    const { purchaseTokens: defaultKind } = await seed.admin.execute(PurchaseTokensDocument, { tokens: 300_000 });
    expect(pick(defaultKind, "kind", "price")).toEqual({ kind: "INFERENCE", price: "3.00" });

    const { organization } = await seed.admin.execute(PurchasesDocument, { first: 10 });
    expect(organization.purchases.totalCount).toBe(2);
    expect(organization.purchases.edges.map((edge) => edge.node.tokens).sort()).toEqual([100_000_000, 300_000].sort());
    // The purchase as a Node (the Node interface, not a client operation).
    const { node } = await seed.admin.execute(`query($id: ID!) { node(id: $id) { ... on Purchase { price } } }`, { id: bought.id });
    expect(node).toEqual({ price: "750.00" });
  });

  it("refuses purchases under 2.00 or with bad amounts, naming the field, and changes nothing", async () => {
    const seed = await seedOrganization(server);
    const small = await seed.admin.errorOf(PurchaseTokensDocument, { tokens: 199_000, kind: "INFERENCE" });
    expect(small.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "tokens" });
    for (const tokens of [-1_000_000, 0, 1.5, 2 ** 53]) {
      const error = await seed.admin.errorOf(PurchaseTokensDocument, { tokens, kind: "INFERENCE" });
      expect(error.extensions?.code).toBe("BAD_USER_INPUT");
    }
    const { purchases } = (await seed.admin.execute(PurchasesDocument)).organization;
    const { allocationStatus } = (await seed.admin.execute(AllocationStatusDocument, { kind: "INFERENCE" })).organization;
    expect({ purchases: pick(purchases, "totalCount"), allocationStatus: pick(allocationStatus, "purchasedAllTime") }).toEqual({
      purchases: { totalCount: 0 },
      allocationStatus: { purchasedAllTime: 0 },
    });
  });

  it("judges the minimum and the discount tiers on the exact list price, not the one rounded to cents", async () => {
    const seed = await seedOrganization(server);
    // 999,500 tokens list at 9.995: under 10.00, so no 5 % (rounded first, it cost 9.50, less than 999,499 tokens' 9.99)
    const { quotePurchase: justUnder } = await seed.admin.execute(QuotePurchaseDocument, { tokens: 999_500 });
    expect(justUnder).toEqual({ tokens: 999_500, listPrice: "10.00", discountPercent: 0, price: "10.00" });
    const { quotePurchase: fewer } = await seed.admin.execute(QuotePurchaseDocument, { tokens: 999_499 });
    expect(fewer.price).toBe("9.99");
    const { quotePurchase: atTier } = await seed.admin.execute(QuotePurchaseDocument, { tokens: 1_000_000 });
    expect(atTier).toMatchObject({ discountPercent: 5, price: "9.50" });
    // 199,500 tokens list at 1.995: under the 2.00 minimum
    expect((await seed.admin.errorOf(PurchaseTokensDocument, { tokens: 199_500, kind: "INFERENCE" })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "tokens",
    });
    const { purchaseTokens: bought } = await seed.admin.execute(PurchaseTokensDocument, { tokens: 999_500, kind: "TRAINING" });
    expect(bought).toMatchObject({ discountPercent: 0, price: "10.00" });
  });

  it("quotes a plan of members × a monthly budget per member over months (the wallet calculator)", async () => {
    const seed = await seedOrganization(server);
    // 150 members × 5.00 a month = 750.00 a month = 75M tokens at 10.00/M; 12 months: 9,000.00 list, 30 % off
    const { quotePlan: year } = await seed.admin.execute(QuotePlanDocument, { members: 150, monthlyBudgetPerMember: "5.00", months: 12 });
    expect(year).toEqual({
      members: 150,
      monthlyBudgetPerMember: "5.00",
      months: 12,
      monthlyTokens: 75_000_000,
      tokens: 900_000_000,
      listPrice: "9000.00",
      discountPercent: 30,
      tierMinimum: "5000.00",
      price: "6300.00",
    });
    const { quotePlan: month } = await seed.admin.execute(QuotePlanDocument, { members: 3, monthlyBudgetPerMember: "1.50", months: 1 });
    expect(month).toMatchObject({ tokens: 450_000, listPrice: "4.50", discountPercent: 0, tierMinimum: null, price: "4.50" });
    // a plan under the minimum purchase, and bad sizes, name the argument
    expect(
      (await seed.admin.errorOf(QuotePlanDocument, { members: 1, monthlyBudgetPerMember: "1.00", months: 1 })).extensions,
    ).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "monthlyBudgetPerMember",
    });
    for (const [variables, field] of [
      [{ members: 0, monthlyBudgetPerMember: "5.00", months: 1 }, "members"],
      [{ members: 10, monthlyBudgetPerMember: "5.00", months: 0 }, "months"],
      [{ members: 10, monthlyBudgetPerMember: "0", months: 1 }, "monthlyBudgetPerMember"],
    ] as const) {
      expect((await seed.admin.errorOf(QuotePlanDocument, variables)).extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    }
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    expect((await member.errorOf(QuotePlanDocument, { members: 150, monthlyBudgetPerMember: "5.00", months: 12 })).extensions?.code).toBe(
      "FORBIDDEN",
    );
  });

  it("is for admins only", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    expect((await member.errorOf(PurchaseTokensDocument, { tokens: 1_000_000, kind: "INFERENCE" })).extensions?.code).toBe("FORBIDDEN");
    expect((await member.errorOf(QuotePurchaseDocument, { tokens: 1_000_000 })).extensions?.code).toBe("FORBIDDEN");
    expect((await new Api(server.url).errorOf(PurchaseTokensDocument, { tokens: 1_000_000, kind: "INFERENCE" })).extensions?.code).toBe(
      "UNAUTHENTICATED",
    );
    const service = await seed.serviceKey();
    expect((await service.errorOf(PurchaseTokensDocument, { tokens: 1_000_000, kind: "INFERENCE" })).extensions?.code).toBe("FORBIDDEN");
    // another organisation's purchase reads as absent
    const other = await seedOrganization(server);
    const { purchaseTokens: theirs } = await other.admin.execute(PurchaseTokensDocument, { tokens: 1_000_000, kind: "INFERENCE" });
    // The purchase as a Node (the Node interface, not a client operation).
    const { node } = await seed.admin.execute(`query($id: ID!) { node(id: $id) { id } }`, { id: theirs.id }); // a Node probe
    expect(node).toBeNull();
  });
});
