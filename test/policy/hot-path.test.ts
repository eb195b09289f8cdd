// The auto-increase hook on the usage hot path: with no bump due it sends no SQL at all (cached policy, early
// exit on the charged numbers); a policy change evicts the cache, so the next charge reads the policy once.
import { describe, expect, it } from "vitest";
import { startServer } from "../support/server.ts";
import { policyOrg } from "./support.ts";

let counting = false;
const statements: string[] = [];
const server = await startServer({
  onQuery: (sql) => {
    if (counting) statements.push(sql);
  },
});

async function counted(work: () => Promise<unknown>): Promise<string[]> {
  statements.length = 0;
  counting = true;
  try {
    await work();
  } finally {
    counting = false;
  }
  return [...statements];
}

// The cache's read (Prisma's own SQL names the schema; the usage statement's policy join does not).
const readsPolicy = (sql: string) => sql.includes(`FROM "public"."DistributionPolicy"`);
const checksBump = (sql: string) => sql.includes("/* policy balances */");

describe.sequential("auto-increase on the hot path", () => {
  it("sends none of its own statements when no bump is due, one locked read when one is, and re-reads the policy after a change", async () => {
    const org = await policyOrg(server, { members: 1, fund: 5_000_000 });
    const [id] = org.memberIds as [string];
    await org.use(id, 1_000); // warms the policy cache

    const quiet = await counted(() => org.use(id, 1_000));
    expect(quiet.filter(readsPolicy)).toEqual([]);
    expect(quiet.filter(checksBump)).toEqual([]);

    const due = await counted(() => org.use(id, 398_000)); // 400K of 500K: 80 %
    expect(due.filter(checksBump)).toHaveLength(1);
    expect((await org.balance(id)).limit).toBe(625_000);

    await org.policy({ cooldownMinutes: 0 });
    const afterChange = await counted(() => org.use(id, 1_000));
    expect(afterChange.filter(readsPolicy)).toHaveLength(1);
    const again = await counted(() => org.use(id, 1_000));
    expect(again.filter(readsPolicy)).toEqual([]);
  });
});
