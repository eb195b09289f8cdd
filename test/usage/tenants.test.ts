// One tenant's failing or blocked charges must not hold up anyone else's (issue 10). Not timed: each test asserts
// what completes while the trouble lasts, and that everything is charged exactly once.

import pg from "pg";
import { describe, expect, it } from "vitest";
import { AuthorizeUsageDocument, CommitUsageDocument, RecordUsageDocument } from "../../src/client/generated/graphql.ts";
import { startServer } from "../support/server.ts";
import { key, type UsageOrg, usageOrganization } from "./setup.ts";

const server = await startServer();

const rawId = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;

/** Holds the member's balance rows locked from another connection until the returned release is called. */
async function holdBalanceLocked(memberId: string): Promise<() => Promise<void>> {
  const holder = new pg.Client({ connectionString: server.databaseUrl! });
  await holder.connect();
  await holder.query("BEGIN");
  await holder.query(`SELECT 1 FROM "Balance" WHERE "memberId" = $1::uuid FOR UPDATE`, [rawId(memberId)]);
  return async () => {
    await holder.query("ROLLBACK");
    await holder.end();
  };
}

function record(org: UsageOrg, memberId: string, idempotencyKey = key()) {
  return org.service.execute(RecordUsageDocument, { input: { memberId, modelKey: "m", inputTokens: 3, outputTokens: 2, idempotencyKey } });
}

describe("charges of one tenant in trouble", () => {
  it("two commits of one reservation under two keys, among other charges, leave every charge made exactly once", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1.00", output: "2.00" });
    const [bob] = await org.addMembers([{ name: "Bob" }]);
    const { authorizeUsage } = await org.service.execute(AuthorizeUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", estimatedTokens: 10 },
    });
    const commit = (idempotencyKey: string) =>
      org.service.execute(CommitUsageDocument, {
        input: { reservationId: authorizeUsage.reservation!.id, inputTokens: 3, outputTokens: 2, idempotencyKey },
      });
    // Two keys for one reservation at once: the first to be written links it, the other is recorded unlinked, and
    // whatever batch they share loses nothing.
    const results = await Promise.all([
      commit(key()),
      ...Array.from({ length: 10 }, () => record(org, bob!)),
      commit(key()),
      ...Array.from({ length: 10 }, () => record(org, bob!)),
    ]);
    expect(results).toHaveLength(22);
    expect(await org.balance(bob!)).toMatchObject({ used: 20 * 5, reserved: 0 });
    expect(await org.balance()).toMatchObject({ used: 2 * 5, reserved: 0 });
  });

  it.skipIf(!server.databaseUrl)(
    "a balance row held locked by another connection holds up only its own member's charges, which follow once it is free",
    async () => {
      const org = await usageOrganization(server);
      await org.model("m", { input: "1.00", output: "2.00" });
      const [bob] = await org.addMembers([{ name: "Bob" }]);
      const other = await usageOrganization(server);
      await other.model("m", { input: "1.00", output: "2.00" });

      const release = await holdBalanceLocked(org.memberId);

      let blockedDone = false;
      const blocked = Promise.all([record(org, org.memberId), record(org, org.memberId)]).finally(() => {
        blockedDone = true;
      });
      // While the lock is held: the member's organisation and another organisation charge, again and again.
      for (let round = 0; round < 3; round++) {
        await Promise.all([record(org, bob!), record(other, other.memberId), record(org, bob!)]);
      }
      expect(blockedDone).toBe(false);
      await release();
      await blocked;

      expect(await org.balance()).toMatchObject({ used: 2 * 5 });
      expect(await org.balance(bob!)).toMatchObject({ used: 6 * 5 });
      expect(await other.balance()).toMatchObject({ used: 3 * 5 });
    },
  );

  it.skipIf(!server.databaseUrl)(
    "a balance row held locked holds up only its own member's authorizations and commits, which follow once it is free",
    async () => {
      const org = await usageOrganization(server);
      await org.model("m", { input: "1.00", output: "2.00" });
      const [bob] = await org.addMembers([{ name: "Bob" }]);
      const authorize = async (memberId: string) => {
        const { authorizeUsage } = await org.service.execute(AuthorizeUsageDocument, {
          input: { memberId, modelKey: "m", estimatedTokens: 10 },
        });
        expect(authorizeUsage.allowed).toBe(true);
        return authorizeUsage.reservation!.id;
      };
      const commit = (reservationId: string) =>
        org.service.execute(CommitUsageDocument, { input: { reservationId, inputTokens: 3, outputTokens: 2, idempotencyKey: key() } });
      const heldReservation = await authorize(org.memberId);

      const release = await holdBalanceLocked(org.memberId);

      let blockedDone = false;
      const blocked = Promise.all([authorize(org.memberId), commit(heldReservation)]).finally(() => {
        blockedDone = true;
      });
      for (let round = 0; round < 3; round++) await commit(await authorize(bob!));
      expect(blockedDone).toBe(false);
      await release();
      const [laterReservation] = await blocked;
      await commit(laterReservation);

      expect(await org.balance()).toMatchObject({ used: 2 * 5, reserved: 0 });
      expect(await org.balance(bob!)).toMatchObject({ used: 3 * 5, reserved: 0 });
    },
  );
});
