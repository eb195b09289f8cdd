// Pins the SQL statements behind a review page and a bulk approval: the same for 5 requests as for 40 (no N+1).

import { describe, expect, it } from "vitest";
import { RequestTokensDocument } from "../../src/client/generated/graphql.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

let counting = false;
const statements: string[] = [];
const server = await startServer({
  onQuery: (sql) => {
    if (counting) statements.push(sql);
  },
});

// Wider than the client's documents on purpose: every relation a review page may load, so an N+1 on any shows.
const PAGE = `query { tokenRequests(first: 50, orderBy: OLDEST) {
  totalCount
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id amount reason status balanceAtRequest currentBalance ageSeconds createdAt decidedAt decisionNote autoApproved
    member { email name team { name } inference { remaining } }
    decidedBy { email }
    decisions { status automatic actor { email } note createdAt }
  } }
} }`;
const APPROVE = `mutation { approveTokenRequests(allPending: true, note: "ok") {
  succeeded failed outcomes { ok errorCode request { id status member { email } decisions { status actor { email } } } }
} }`;

async function organizationWith(count: number) {
  const seed = await seedOrganization(server);
  await seed.fund(count * 600_000);
  const ids = await seed.addMembers(Array.from({ length: count }, (_, i) => ({ name: `Member ${i}`, teamName: `Team ${i % 3}` })));
  for (const id of ids) {
    const member = await seed.as(id);
    await member.execute(RequestTokensDocument, { amount: 1000, reason: "more" });
  }
  return seed;
}

/**
 * The statements `work` runs as `seed`'s admin. A review page is read first, uncounted, so that the admin's credential
 * is freshly cached: on a slow machine, seeding the other organisation can outlast the cache, and the lookup would
 * count against one side only.
 */
async function measure<T>(
  seed: { admin: { execute(query: string): Promise<unknown> } },
  work: () => Promise<T>,
): Promise<{ result: T; count: number }> {
  await seed.admin.execute(PAGE);
  statements.length = 0;
  counting = true;
  try {
    const result = await work();
    return { result, count: statements.length };
  } finally {
    counting = false;
  }
}

describe.sequential("token request query counts", () => {
  it("runs a constant number of SQL statements for a review page and for a bulk approval, whatever the count", async () => {
    const small = await organizationWith(5);
    const large = await organizationWith(40);

    const pageSmall = await measure(small, () => small.admin.execute(PAGE));
    const pageLarge = await measure(large, () => large.admin.execute(PAGE));
    expect(pageSmall.result.tokenRequests.edges).toHaveLength(5);
    expect(pageLarge.result.tokenRequests.edges).toHaveLength(40);
    expect(pageLarge.count).toBe(pageSmall.count);
    expect(pageSmall.count).toBeLessThanOrEqual(12);

    const approveSmall = await measure(small, () => small.admin.execute(APPROVE));
    const approveLarge = await measure(large, () => large.admin.execute(APPROVE));
    expect(approveSmall.result.approveTokenRequests.succeeded).toBe(5);
    expect(approveLarge.result.approveTokenRequests.succeeded).toBe(40);
    expect(approveLarge.result.approveTokenRequests.outcomes[0].request.decisions[0].status).toBe("APPROVED");
    expect(approveLarge.count).toBe(approveSmall.count);
    expect(approveSmall.count).toBeLessThanOrEqual(25);
  });
});
