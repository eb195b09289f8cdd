// Two server processes on one PostgreSQL with Redis: a policy change made through one reaches the other's
// hot-path policy cache at once (policyChanged through Redis), not only after the cache's TTL.
// Needs TEST_DATABASE_URL and TEST_REDIS_URL (npm run test:services); skipped on the embedded default.

import { describe, expect, it } from "vitest";
import { RecordUsageDocument } from "../../src/client/generated/graphql.ts";
import { Api } from "../support/client.ts";
import { startServer } from "../support/server.ts";
import { policyOrg } from "./support.ts";

const shared = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);
const first = await startServer();
const second = shared ? await startServer({ databaseUrl: first.databaseUrl! }) : null;

describe.skipIf(!shared)("policy cache across processes", () => {
  it("a policy edited through one process applies at once to usage charged through another", async () => {
    const org = await policyOrg(first, { members: 1, fund: 5_000_000 });
    const [id] = org.memberIds as [string];
    const throughSecond = new Api(second!.url, org.admin.credential);
    const use = (tokens: number) =>
      throughSecond.execute(RecordUsageDocument, {
        input: {
          memberId: id,
          modelKey: org.modelKey,
          inputTokens: tokens,
          outputTokens: 0,
          idempotencyKey: `${id}-${tokens}-${Math.random()}`,
        },
      });
    await use(1_000); // the second process caches STANDARD (auto-increase on)
    await org.policy({ autoIncrease: false });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await use(399_000); // 80 %: would bump under the cached policy
    expect((await org.balance(id)).limit).toBe(500_000);
    await org.policy({ autoIncrease: true });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await use(1_000);
    expect((await org.balance(id)).limit).toBe(625_000);
  });
});
