// Pins the number of SQL statements behind a members page: the same for 10 members as for 100 (no N+1).
import { describe, expect, it } from "vitest";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

let counting = false;
const statements: string[] = [];
const server = await startServer({
  onQuery: (sql) => {
    if (counting) statements.push(sql);
  },
});

const PAGE = `query { organization {
  members(first: 100) {
    totalCount
    edges { cursor node {
      id email
      team { name }
      inference { limit used remaining reserved floor ceiling }
      training { limit used remaining reserved floor ceiling }
      limits { daily monthly }
    } }
    pageInfo { hasNextPage endCursor }
  }
} }`;

async function organizationWith(count: number) {
  const seed = await seedOrganization(server);
  await seed.fund(100_000_000);
  await seed.addMembers(Array.from({ length: count }, (_, i) => ({ name: `Member ${i}`, teamName: `Team ${i % 7}` })));
  return seed;
}

describe.sequential("members page query count", () => {
  it("runs a constant number of SQL statements for 10 and for 100 members", async () => {
    const small = await organizationWith(10);
    const large = await organizationWith(100);

    const measure = async (seed: Awaited<ReturnType<typeof organizationWith>>, expected: number) => {
      statements.length = 0;
      counting = true;
      const { organization } = await seed.admin.execute(PAGE);
      counting = false;
      expect(organization.members.edges).toHaveLength(expected);
      expect(organization.members.edges.every((edge: any) => edge.node.inference.floor === 500_000)).toBe(true);
      return [...statements];
    };

    const forSmall = await measure(small, 11);
    const forLarge = await measure(large, 100);
    // sorted: on PostgreSQL the relation loads of one level run in parallel, in any order
    const tables = (list: string[]) => list.map((sql) => /FROM "public"\."(\w+)"/.exec(sql)?.[1] ?? sql.slice(0, 40)).sort();
    expect(tables(forLarge)).toEqual(tables(forSmall));
    // the organisation with the member count; the page; its teams, balances and default limits; the policy once
    // (authentication reads nothing: a member's standing is cached per process and evicted by memberAccessChanged)
    expect(tables(forSmall)).toEqual(["Balance", "DistributionPolicy", "Member", "Organization", "Organization", "Team"]);
  });
});
