// The hot statements are prepared once per connection (PostgreSQL). A prepared statement's row type is fixed, so a
// migration that adds columns while a server runs (a rolling deploy) must not break the statements it holds.

import { describe, expect, it } from "vitest";
import {
  AuthorizeUsageDocument,
  CommitUsageDocument,
  RecordUsageDocument,
  ReleaseReservationDocument,
} from "../../src/client/generated/graphql.ts";
import { startServer } from "../support/server.ts";
import { key, usageOrganization } from "./setup.ts";

const server = await startServer();

describe("prepared hot statements", () => {
  it("keep working when a migration adds columns to the tables they read and write", async () => {
    const org = await usageOrganization(server);
    await org.model("gpt-4o", { input: "2.50", output: "10.00" });
    const useTokens = async () => {
      const { authorizeUsage } = await org.service.execute(AuthorizeUsageDocument, {
        input: { memberId: org.memberId, modelKey: "gpt-4o", estimatedTokens: 100 },
      });
      expect(authorizeUsage.allowed).toBe(true);
      await org.service.execute(CommitUsageDocument, {
        input: { reservationId: authorizeUsage.reservation!.id, inputTokens: 10, outputTokens: 5, idempotencyKey: key() },
      });
      const { authorizeUsage: held } = await org.service.execute(AuthorizeUsageDocument, {
        input: { memberId: org.memberId, modelKey: "gpt-4o", estimatedTokens: 100 },
      });
      expect((await org.service.execute(ReleaseReservationDocument, { id: held.reservation!.id })).releaseReservation).toBe(true);
      await org.service.execute(RecordUsageDocument, {
        input: { memberId: org.memberId, modelKey: "gpt-4o", inputTokens: 3, outputTokens: 2, idempotencyKey: key() },
      });
    };
    // Sequential calls reuse the pool's connections, which now hold the prepared statements.
    for (let i = 0; i < 3; i++) await useTokens();
    for (const table of ["Model", "Member", "Organization", "Balance", "Reservation", "UsageRecord", "ModelCycleSpend"]) {
      await server.app.runtime.db.raw.exec(`ALTER TABLE "${table}" ADD COLUMN "addedByALaterVersion" integer`);
    }
    for (let i = 0; i < 3; i++) await useTokens();
    expect(await org.balance()).toMatchObject({ used: 6 * (15 + 5), reserved: 0 });
  });
});
