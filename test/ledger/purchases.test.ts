import { describe, expect, it } from "vitest";
import { Api } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

const QUOTE = `query($tokens: SafeInt!) { quotePurchase(tokens: $tokens) { tokens listPrice discountPercent price } }`;
const PURCHASE = `mutation($tokens: SafeInt!, $kind: TokenKind!) {
  purchaseTokens(tokens: $tokens, kind: $kind) { id kind tokens listPrice discountPercent price createdAt }
}`;
const STATUS = `query($kind: TokenKind!) { organization { allocationStatus(kind: $kind) { purchased allocated unallocated purchasedAllTime } } }`;

describe("purchases", () => {
  it("quotes without buying", async () => {
    const seed = await seedOrganization(server);
    const { quotePurchase } = await seed.admin.execute(QUOTE, { tokens: 12_345_678 });
    expect(quotePurchase).toEqual({ tokens: 12_345_678, listPrice: "123.46", discountPercent: 15, price: "104.94" });
    const { organization } = await seed.admin.execute(STATUS, { kind: "INFERENCE" });
    expect(organization.allocationStatus.unallocated).toBe(0);
  });

  it("buys into the pool of the chosen kind and records the purchase", async () => {
    const seed = await seedOrganization(server);
    const { purchaseTokens: bought } = await seed.admin.execute(PURCHASE, { tokens: 100_000_000, kind: "TRAINING" });
    expect(bought).toMatchObject({ kind: "TRAINING", tokens: 100_000_000, listPrice: "1000.00", discountPercent: 25, price: "750.00" });
    const training = await seed.admin.execute(STATUS, { kind: "TRAINING" });
    expect(training.organization.allocationStatus).toEqual({
      purchased: 100_000_000,
      allocated: 0,
      unallocated: 100_000_000,
      purchasedAllTime: 100_000_000,
    });
    const inference = await seed.admin.execute(STATUS, { kind: "INFERENCE" });
    expect(inference.organization.allocationStatus.unallocated).toBe(0);

    const { purchaseTokens: defaultKind } = await seed.admin.execute(`mutation { purchaseTokens(tokens: 300000) { kind price } }`);
    expect(defaultKind).toEqual({ kind: "INFERENCE", price: "3.00" });

    const { organization } = await seed.admin.execute(
      `{ organization { purchases(first: 10) { totalCount edges { node { id tokens kind } } } } }`,
    );
    expect(organization.purchases.totalCount).toBe(2);
    expect(organization.purchases.edges.map((edge: { node: { tokens: number } }) => edge.node.tokens).sort()).toEqual(
      [100_000_000, 300_000].sort(),
    );
    const { node } = await seed.admin.execute(`query($id: ID!) { node(id: $id) { ... on Purchase { price } } }`, { id: bought.id });
    expect(node).toEqual({ price: "750.00" });
  });

  it("refuses purchases under 2.00 or with bad amounts, naming the field, and changes nothing", async () => {
    const seed = await seedOrganization(server);
    const small = await seed.admin.errorOf(PURCHASE, { tokens: 199_000, kind: "INFERENCE" });
    expect(small.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "tokens" });
    for (const tokens of [-1_000_000, 0, 1.5, 2 ** 53]) {
      const error = await seed.admin.errorOf(PURCHASE, { tokens, kind: "INFERENCE" });
      expect(error.extensions?.code).toBe("BAD_USER_INPUT");
    }
    const { organization } = await seed.admin.execute(
      `{ organization { purchases { totalCount } allocationStatus { purchasedAllTime } } }`,
    );
    expect(organization).toEqual({ purchases: { totalCount: 0 }, allocationStatus: { purchasedAllTime: 0 } });
  });

  it("is for admins only", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    expect((await member.errorOf(PURCHASE, { tokens: 1_000_000, kind: "INFERENCE" })).extensions?.code).toBe("FORBIDDEN");
    expect((await member.errorOf(QUOTE, { tokens: 1_000_000 })).extensions?.code).toBe("FORBIDDEN");
    expect((await new Api(server.url).errorOf(PURCHASE, { tokens: 1_000_000, kind: "INFERENCE" })).extensions?.code).toBe(
      "UNAUTHENTICATED",
    );
    const service = await seed.serviceKey();
    expect((await service.errorOf(PURCHASE, { tokens: 1_000_000, kind: "INFERENCE" })).extensions?.code).toBe("FORBIDDEN");
    // another organisation's purchase reads as absent
    const other = await seedOrganization(server);
    const { purchaseTokens: theirs } = await other.admin.execute(PURCHASE, { tokens: 1_000_000, kind: "INFERENCE" });
    const { node } = await seed.admin.execute(`query($id: ID!) { node(id: $id) { id } }`, { id: theirs.id });
    expect(node).toBeNull();
  });
});
