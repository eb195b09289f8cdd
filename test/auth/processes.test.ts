// Revocation across server processes (one PostgreSQL, events through Redis): a revocation made through one process
// ends the member's tokens and open subscriptions on the other at once, though each caches member standings.
// Runs in the services suite (npm run test:services), where TEST_DATABASE_URL and TEST_REDIS_URL are set.

import { describe, it } from "vitest";
import { BalanceChangedDocument, RevokeAccessTokensDocument, ViewerDocument } from "../../src/client/generated/graphql.ts";
import { Api, subscribe } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const enabled = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);

describe.skipIf(!enabled)("revocation on two server processes", async () => {
  const first = enabled ? await startServer() : null;
  const second = enabled ? await startServer({ databaseUrl: first!.databaseUrl! }) : null;

  it("revokeAccessTokens through one process ends the token and its subscription on the other", async ({ expect }) => {
    const seed = await seedOrganization(first!);
    await seed.fund(1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const onSecond = new Api(second!.url, (await seed.as(memberId!)).credential);
    // The second process caches the member's standing now.
    expect((await onSecond.execute(ViewerDocument)).viewer.principal).toBe("MEMBER");
    const { subscription, client } = subscribe(onSecond, BalanceChangedDocument, { kind: "INFERENCE" });
    await subscription.next();
    await new Promise((resolve) => setTimeout(resolve, 500));

    await seed.admin.execute(RevokeAccessTokensDocument, { memberId: memberId! });
    await expect.poll(async () => (await onSecond.request(ViewerDocument)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    await expect
      .poll(() => subscription.errors.map((e) => JSON.stringify(e) + String((e as { reason?: string }).reason)).join(), { timeout: 20_000 })
      .toMatch(/UNAUTHENTICATED/);
    await client.dispose();
  });
});
