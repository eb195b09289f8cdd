// Every total the API can show stays within 2^53-1 (and costs within their columns): an operation that would pass
// it is BAD_USER_INPUT naming the field, charges nothing, and leaves every read working.

import { decodeGlobalID } from "@pothos/plugin-relay";
import { describe, expect, it } from "vitest";
import {
  AuthorizeUsageDocument,
  MemberBalancesDocument,
  PurchaseTokensDocument,
  RecordUsageDocument,
} from "../../src/client/generated/graphql.ts";
import { startServer } from "../support/server.ts";
import { key, usageOrganization } from "./setup.ts";

const server = await startServer();
const prisma = server.app.runtime.prisma;
const MAX = Number.MAX_SAFE_INTEGER;
const rowId = (id: string) => decodeGlobalID(id).id;

// Every read that shows a total, in one probe (not a client operation).
const READS = `query($id: ID!) {
  member(id: $id) { inference { limit used remaining reserved } }
  organization { members { edges { node { inference { used } } } } allocationStatus { purchased allocated used unallocated purchasedAllTime } spend { spent } }
  analytics { totals { requests tokens cost } }
}`;

describe("totals stay representable", () => {
  it("refuses a member's own recordUsage whose tokens alone would pass a total, charges nothing, and every read still works", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    for (const [inputTokens, outputTokens] of [
      [MAX, MAX],
      [2 ** 52, 2 ** 52],
      [1, MAX - 1],
      [1_000_000_001, 0],
    ] as [number, number][]) {
      const result = await org.member.request(RecordUsageDocument, {
        input: { memberId: org.memberId, modelKey: "m", inputTokens, outputTokens, idempotencyKey: key() },
      });
      expect(result.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(result.errors?.[0]?.extensions?.field).toMatch(/^input\.(input|output)Tokens$/);
    }
    const reads = await org.admin.execute(READS, { id: org.memberId });
    expect(reads.member.inference.used).toBe(0);
    expect(reads.analytics.totals.tokens).toBe(0);
    const { authorizeUsage } = await org.service.execute(AuthorizeUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", estimatedTokens: 1000 },
    });
    expect({ allowed: authorizeUsage.allowed, denialReason: authorizeUsage.denialReason }).toEqual({ allowed: true, denialReason: null });
  });

  it("refuses, item by item, charges that would take the organisation's usage past 2^53-1, and charges the others of the batch", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "0", output: "0" });
    // Stand in for a long history of usage: the organisation is 1,500 tokens short of the bound.
    const organizationId = rowId(org.organizationId);
    await prisma.usageTotal.upsert({
      where: { organizationId },
      create: { organizationId, tokens: BigInt(MAX - 1_500) },
      update: { tokens: BigInt(MAX - 1_500) },
    });
    // Sent together, so they share batches: the 2,000 never fits, the 1,000 and one of the 500s do.
    const calls = [2_000, 1_000, 500, 500].map((inputTokens) =>
      org.service.request(RecordUsageDocument, {
        input: { memberId: org.memberId, modelKey: "m", inputTokens, outputTokens: 0, idempotencyKey: key() },
      }),
    );
    const results = await Promise.all(calls);
    for (const result of results) {
      if (result.errors) {
        expect(result.errors).toHaveLength(1);
        expect(result.errors[0]!.extensions?.code).toBe("BAD_USER_INPUT");
        expect(result.errors[0]!.extensions?.field).toBe("input.inputTokens");
      }
    }
    expect(results[0]!.errors).toBeDefined();
    const charged = results.filter((result) => !result.errors).map((result) => result.data!.recordUsage.tokens as number);
    expect(charged.reduce((sum, tokens) => sum + tokens, 0)).toBeLessThanOrEqual(1_500);
    expect(charged.length).toBeGreaterThanOrEqual(1);
    const { member } = await org.admin.execute(MemberBalancesDocument, { memberId: org.memberId });
    expect(member!.inference.used).toBe(charged.reduce((sum, tokens) => sum + tokens, 0));
    const total = await prisma.usageTotal.findUniqueOrThrow({ where: { organizationId } });
    expect(total.tokens).toBe(BigInt(MAX - 1_500) + BigInt(member!.inference.used));
    await org.admin.execute(READS, { id: org.memberId });
  });

  it("refuses a purchase that would take the tokens ever purchased past 2^53-1; allocationStatus still reads", async () => {
    const org = await usageOrganization(server);
    const before = await org.admin.execute(READS, { id: org.memberId });
    const headroom = MAX - before.organization.allocationStatus.purchasedAllTime;
    const first = await org.admin.request(PurchaseTokensDocument, { tokens: headroom, kind: "INFERENCE" });
    expect(first.errors).toBeUndefined();
    const second = await org.admin.request(PurchaseTokensDocument, { tokens: MAX, kind: "INFERENCE" });
    expect(second.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "tokens" });
    const after = await org.admin.execute(READS, { id: org.memberId });
    expect(after.organization.allocationStatus.purchasedAllTime).toBe(MAX);
    expect(after.organization.allocationStatus.purchased).toBe(headroom + before.organization.allocationStatus.purchased);
  });

  it("the database refuses any token amount past 2^53-1, whatever statement tries: every BIGINT column has its CHECK", async () => {
    const unchecked = await prisma.$queryRawUnsafe<{ table_name: string; column_name: string }[]>(`
      SELECT c.table_name, c.column_name FROM information_schema.columns c
       WHERE c.table_schema = current_schema() AND c.data_type = 'bigint' AND c.column_name <> 'id'
         AND c.table_name <> '_prisma_migrations'
         AND NOT EXISTS (SELECT 1 FROM information_schema.table_constraints t
                          WHERE t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.constraint_type = 'CHECK'
                            AND t.constraint_name = c.table_name || '_' || c.column_name || '_representable')`);
    expect(unchecked).toEqual([]);
    const org = await usageOrganization(server);
    await expect(
      prisma.$executeRawUnsafe(`UPDATE "Balance" SET "used" = "used" + ${MAX} + 1 WHERE "memberId" = $1::uuid`, rowId(org.memberId)),
    ).rejects.toThrow(/Balance_used_representable/);
  });
});
