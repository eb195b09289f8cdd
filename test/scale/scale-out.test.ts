// Several server processes behind one load balancer: one PostgreSQL, events through Redis.
// Runs in the services suite (npm run test:services), where TEST_DATABASE_URL and TEST_REDIS_URL are set.

import { describe, expect, it } from "vitest";
import { AllocationStatusChangedDocument, BalanceChangedDocument, SetAllocationDocument } from "../../src/client/generated/graphql.ts";
import { Api, subscribe } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const enabled = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);

describe.skipIf(!enabled)("two server processes on one PostgreSQL and Redis", async () => {
  const first = enabled ? await startServer() : null;
  const second = enabled ? await startServer({ databaseUrl: first!.databaseUrl! }) : null;

  it("delivers a balance change caused through one server to a subscriber on the other", async () => {
    const seed = await seedOrganization(first!);
    await seed.fund(1_000_000);
    const [memberId] = await seed.addMembers([{ name: "Ada" }]);
    const member = await seed.as(memberId!);
    const { subscription, client } = subscribe(member, BalanceChangedDocument, { kind: "INFERENCE" });
    // The current balance comes once the server listens; give Redis a moment more to confirm its SUBSCRIBE.
    await subscription.next();
    await new Promise((resolve) => setTimeout(resolve, 300));

    const adminOnSecond = new Api(second!.url, seed.admin.credential);
    await adminOnSecond.execute(SetAllocationDocument, { input: { memberId: memberId!, inference: 654321 } });
    const event = await subscription.next((e) => e.balanceChanged.limit === 654321);
    const { limit, used, remaining } = event.balanceChanged;
    expect({ limit, used, remaining }).toEqual({ limit: 654321, used: 0, remaining: 654321 });
    subscription.close();
    await client.dispose();
  });

  it("never delivers one organisation's events to another's subscribers", async () => {
    const [mine, theirs] = await Promise.all([seedOrganization(first!), seedOrganization(first!)]);
    await Promise.all([mine.fund(1_000_000), theirs.fund(1_000_000)]);
    const { subscription, client } = subscribe(mine.admin, AllocationStatusChangedDocument, { kind: "INFERENCE" });
    await subscription.next();
    const [theirMember] = await theirs.addMembers([{}]);
    await new Api(second!.url, theirs.admin.credential).execute(SetAllocationDocument, {
      input: { memberId: theirMember!, inference: 600999 },
    });
    const [myMember] = await mine.addMembers([{}]);
    await new Api(second!.url, mine.admin.credential).execute(SetAllocationDocument, {
      input: { memberId: myMember!, inference: 600777 },
    });
    // Each organisation's first admin holds its 500K floor beside the member's limit (limits stay above the floor).
    await subscription.next((e) => e.allocationStatusChanged.allocated === 500_000 + 600_777);
    expect(subscription.events.map((e) => e.allocationStatusChanged.allocated)).not.toContain(500_000 + 600_999);
    subscription.close();
    await client.dispose();
  });
});
