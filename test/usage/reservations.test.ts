// Time-dependent usage behaviour on a ManualClock: reservation expiry by the background job, and daily draw limits.

import { describe, expect, it } from "vitest";
import {
  AuthorizeUsageDocument,
  CommitUsageDocument,
  RecordUsageDocument,
  ReleaseReservationDocument,
  ReservationDocument,
  SetDefaultLimitsDocument,
} from "../../src/client/generated/graphql.ts";
import { ManualClock } from "../../src/clock.ts";
import type { Api } from "../support/client.ts";
import { startServer } from "../support/server.ts";
import { key, usageOrganization } from "./setup.ts";

// Mid-cycle, mid-day: a few hours of moves never cross a cycle boundary.
const clock = new ManualClock("2027-05-12T09:00:00Z"); // ahead of real time: issued tokens stay valid
/** A reservation read by its id (fails when the id names something else). */
async function reservation(api: Api, id: string) {
  const { node } = await api.execute(ReservationDocument, { id });
  if (node?.__typename !== "Reservation") throw new Error(`${id} is not a reservation: ${JSON.stringify(node)}`);
  return node;
}

const server = await startServer({ clock, env: { RESERVATION_TTL_SECONDS: "120" } });
// On PostgreSQL, a second process of the same deployment sweeps at the same time.
const second = server.databaseUrl
  ? await startServer({ clock, databaseUrl: server.databaseUrl, env: { RESERVATION_TTL_SECONDS: "120" } })
  : null;

// One clock for the file: these tests move it, so they run one after the other.
describe.sequential("usage over time", () => {
  it("expires open reservations past their TTL, gives the tokens back, and still records a late commit", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const { authorizeUsage: held } = await org.service.execute(AuthorizeUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", estimatedTokens: 4_000 },
    });
    expect(new Date(held.reservation!.expiresAt).toISOString()).toBe(new Date(clock.now().getTime() + 120_000).toISOString());
    const { authorizeUsage: released } = await org.service.execute(AuthorizeUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", estimatedTokens: 1_000 },
    });
    await org.service.execute(ReleaseReservationDocument, { id: released.reservation!.id });
    expect(await org.balance()).toMatchObject({ reserved: 4_000 });

    await server.app.scheduler.runOnce(); // not due yet
    expect(await org.balance()).toMatchObject({ reserved: 4_000 });

    clock.advance(121_000);
    const { authorizeUsage: fresh } = await org.service.execute(AuthorizeUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", estimatedTokens: 500 },
    });
    await server.app.scheduler.runOnce();
    expect(await org.balance()).toMatchObject({ reserved: 500, used: 0 });
    const expired = await reservation(org.service, held.reservation!.id);
    expect({ status: expired.status, tokens: expired.tokens }).toEqual({ status: "EXPIRED", tokens: 4_000 });
    expect((await reservation(org.service, released.reservation!.id)).status).toBe("RELEASED");
    expect((await reservation(org.service, fresh.reservation!.id)).status).toBe("OPEN");
    expect((await org.service.execute(ReleaseReservationDocument, { id: held.reservation!.id })).releaseReservation).toBe(false);

    // The call did happen: its usage is charged, and the fresh hold is left alone.
    const { commitUsage } = await org.service.execute(CommitUsageDocument, {
      input: { reservationId: held.reservation!.id, inputTokens: 3_000, outputTokens: 500, idempotencyKey: key() },
    });
    expect(commitUsage.balance).toMatchObject({ used: 3_500, reserved: 500 });
    await server.app.scheduler.runOnce(); // nothing more to expire
    expect(await org.balance()).toMatchObject({ used: 3_500, reserved: 500 });
  });

  it.skipIf(!second)("expires each reservation exactly once when two server processes sweep at once", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    const held = await Promise.all(
      Array.from({ length: 40 }, () =>
        org.service.execute(AuthorizeUsageDocument, { input: { memberId: org.memberId, modelKey: "m", estimatedTokens: 250 } }),
      ),
    );
    expect(await org.balance()).toMatchObject({ reserved: 10_000 });
    clock.advance(121_000);
    await Promise.all([server.app.scheduler.runOnce(), second!.app.scheduler.runOnce(), server.app.scheduler.runOnce()]);
    expect(await org.balance()).toMatchObject({ reserved: 0, used: 0 });
    const statuses = await Promise.all(held.map(({ authorizeUsage }) => reservation(org.service, authorizeUsage.reservation!.id)));
    expect(statuses.every(({ status }) => status === "EXPIRED")).toBe(true);
  });

  it("resets the daily draw limit at 00:00 UTC", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1", output: "1" });
    await org.admin.execute(SetDefaultLimitsDocument, { limits: { daily: 1000 } });
    await org.service.execute(RecordUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", inputTokens: 1_000, outputTokens: 0, idempotencyKey: key() },
    });
    const denied = await org.service.execute(AuthorizeUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", estimatedTokens: 1 },
    });
    expect(denied.authorizeUsage.denialReason).toBe("DAILY_LIMIT_REACHED");
    const later = new Date(clock.now());
    later.setUTCHours(24, 0, 0, 0);
    clock.set(later);
    const allowed = await org.service.execute(AuthorizeUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", estimatedTokens: 1_000 },
    });
    expect(allowed.authorizeUsage.allowed).toBe(true);
  });
});
