// Usage counts in the cycle in which it happened, also between a cycle boundary and the reset run: used is always the
// sum of the current cycle's usage rows, and the closed cycle's consumption is exactly what was used in it.
// The two-process case needs TEST_DATABASE_URL (npm run test:services); the one-process case runs everywhere.

import { decodeGlobalID } from "@pothos/plugin-relay";
import { describe, expect, it } from "vitest";
import { RecordUsageDocument } from "../../src/client/generated/graphql.ts";
import { ManualClock } from "../../src/clock.ts";
import { Api } from "../support/client.ts";
import { unique } from "../support/factories.ts";
import { startServer } from "../support/server.ts";
import { policyOrg } from "./support.ts";

const clock = new ManualClock("2027-10-31T23:00:00.000Z");
const first = await startServer({ clock });
const shared = Boolean(process.env.TEST_DATABASE_URL);
const second = shared ? await startServer({ clock, databaseUrl: first.databaseUrl! }) : null;

describe.sequential("the cycle boundary", () => {
  it("usage charged after the boundary but before the reset counts in the new cycle, not the closed one", async () => {
    clock.set("2027-10-31T23:00:00.000Z");
    const org = await policyOrg(first, { members: 1, fund: 5_000_000 });
    const [id] = org.memberIds as [string];
    await org.use(id, 100_000);
    clock.set("2027-11-01T00:00:30.000Z"); // past the boundary; the scheduler has not run yet
    await org.use(id, 40_000);
    await org.use(id, 10_000);
    expect((await org.balance(id)).used).toBe(100_000); // still the closed cycle's, until the reset
    await first.app.scheduler.runOnce();
    expect((await org.balance(id)).used).toBe(50_000);
    const status = await org.conserved();
    expect(status.INFERENCE).toMatchObject({ used: 50_000, consumedInClosedPeriods: 100_000 });
  });

  it.skipIf(!shared)(
    "two processes: charges across the boundary while the reset runs are each counted once, in their own cycle",
    async () => {
      clock.set("2027-11-30T22:00:00.000Z");
      const org = await policyOrg(first, { members: 4, fund: 20_000_000 });
      const ids = org.memberIds;
      const throughSecond = new Api(second!.url, org.admin.credential);
      const charge = (api: Api, memberId: string, tokens: number) =>
        api.execute(RecordUsageDocument, {
          input: { memberId, modelKey: org.modelKey, inputTokens: tokens, outputTokens: 0, idempotencyKey: unique("use") },
        });
      for (const memberId of ids) await charge(throughSecond, memberId, 100_000);
      clock.set("2027-12-01T00:00:10.000Z");
      // both processes charge while the first runs the reset
      const charges = ids.flatMap((memberId) =>
        Array.from({ length: 10 }, (_, i) => charge(i % 2 ? throughSecond : org.admin, memberId, 1_000)),
      );
      await Promise.all([...charges, first.app.scheduler.runOnce(), second!.app.scheduler.runOnce()]);
      await first.app.scheduler.runOnce();
      const rows = await first.app.runtime.prisma.usageRecord.groupBy({
        by: ["memberId", "cycleStart"],
        where: { organizationId: decodeGlobalID(org.organizationId).id },
        _sum: { tokens: true },
      });
      for (const memberId of ids) {
        const newCycle = rows.find(
          (row) => row.memberId === decodeGlobalID(memberId).id && row.cycleStart.toISOString() === "2027-12-01T00:00:00.000Z",
        );
        expect(Number(newCycle?._sum.tokens)).toBe(10_000);
        expect((await org.balance(memberId)).used).toBe(10_000);
      }
      const status = await org.conserved();
      expect(status.INFERENCE).toMatchObject({ used: 40_000, consumedInClosedPeriods: 400_000 });
    },
  );
});
