// The hot statements are prepared once per connection, and after a few runs PostgreSQL keeps one generic plan for
// them, made without knowing how many items a batch holds (it guesses 100). A plan that then joins the batch to a
// whole table (a sequential scan of the reservations, a hash of every member) costs more with every row the
// organisation ever wrote; one that reads open reservations by status reads every reservation that was ever open
// until VACUUM (a status change leaves the old index entry behind). Seen in the bench: the standings read took
// 3.8 ms and each commit's batch scanned every reservation. These plans must reach every row by its key.
// Later seen: with no statistics yet (a new database), the generic plans read a member's balance through the
// (organisation, kind) index by its kind alone, every balance of that kind for each item.

import pg from "pg";
import { describe, expect, it } from "vitest";
import { AUTHORIZE_STANDINGS_SQL, CAP_POSITION_SQL, chargeSql, EXPIRE_SQL, holdSql } from "../../src/usage/statements.ts";
import { startServer } from "../support/server.ts";
import { usageOrganization } from "./setup.ts";

const server = await startServer();
const rawId = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;

/** The generic plan PostgreSQL keeps for `sql` (prepared, as the server prepares it), run once on `parameters`. */
async function genericPlan(client: pg.Client, name: string, sql: string, types: string, parameters: string[]): Promise<string> {
  await client.query(`PREPARE ${name}(${types}) AS ${sql}`);
  const literals = parameters.map((parameter) => client.escapeLiteral(parameter)).join(", ");
  const { rows } = await client.query(`EXPLAIN (ANALYZE, COSTS OFF) EXECUTE ${name}(${literals})`);
  return rows.map((row) => row["QUERY PLAN"]).join("\n");
}

/** The lines of `plans` matching `pattern` that ran, each named by its plan. */
const linesRun = (plans: Record<string, string>, pattern: RegExp): string[] =>
  Object.entries(plans).flatMap(([name, plan]) =>
    plan
      .split("\n")
      .filter((line) => pattern.test(line) && !line.includes("(never executed)"))
      .map((line) => `${name}: ${line.trim()}`),
  );

describe("hot statements' plans", () => {
  it.skipIf(!server.databaseUrl)("reach reservations and balances by key, open reservations by the open-only indexes", async () => {
    const org = await usageOrganization(server);
    const model = await org.model("m", { input: "1.00", output: "1.00" });
    const organizationId = rawId(org.organizationId);
    const memberId = rawId(org.memberId);
    const modelId = rawId(model.id);
    const client = new pg.Client({ connectionString: server.databaseUrl! });
    await client.connect();
    try {
      // Reservations that were open and were committed: the committed rows and the old versions' index entries.
      await client.query(
        `INSERT INTO "Reservation" ("id", "organizationId", "memberId", "modelId", "kind", "tokens", "estimatedCost", "status", "expiresAt", "createdAt")
         SELECT gen_random_uuid(), $1::uuid, $2::uuid, $3::uuid, 'INFERENCE', 1, 0, 'OPEN', now(), now() FROM generate_series(1, 5000)`,
        [organizationId, memberId, modelId],
      );
      await client.query(`UPDATE "Reservation" SET "status" = 'COMMITTED' WHERE "organizationId" = $1::uuid`, [organizationId]);
      const { rows } = await client.query(`SELECT "id" FROM "Reservation" WHERE "organizationId" = $1::uuid LIMIT 1`, [organizationId]);
      await client.query("SET plan_cache_mode = force_generic_plan");
      const now = new Date().toISOString().slice(0, 23);
      const chargeItem = (reservationId: string | null) => ({
        ord: 0,
        usage_id: crypto.randomUUID(),
        organization_id: organizationId,
        reservation_id: reservationId,
        member_id: reservationId ? null : memberId,
        link: true,
        model_key: reservationId ? null : "m",
        kind: reservationId ? null : "INFERENCE",
        input_tokens: 1,
        output_tokens: 1,
        app: null,
        assistant: null,
        idempotency_key: crypto.randomUUID(),
        payload_hash: "plan",
      });
      const plans = {
        standings: await genericPlan(client, "standings", AUTHORIZE_STANDINGS_SQL, "json", [
          JSON.stringify([{ ord: 0, member_id: memberId, organization_id: organizationId, kind: "INFERENCE", at: now }]),
        ]),
        hold: await genericPlan(client, "hold", holdSql("skip"), "json, text", [
          JSON.stringify([
            {
              ord: 0,
              reservation_id: crypto.randomUUID(),
              organization_id: organizationId,
              member_id: memberId,
              kind: "INFERENCE",
              model_id: modelId,
              tokens: 1,
              estimated_cost: "0",
              expires_at: now,
            },
          ]),
          now,
        ]),
        commit: await genericPlan(client, "commit_charge", chargeSql("skip"), "json, text, text", [
          JSON.stringify([chargeItem(rows[0].id)]),
          now,
          now.slice(0, 10),
        ]),
        record: await genericPlan(client, "record_charge", chargeSql("wait"), "json, text, text", [
          JSON.stringify([chargeItem(null)]),
          now,
          now.slice(0, 10),
        ]),
        capPosition: await genericPlan(client, "cap_position", CAP_POSITION_SQL, "text, text, text", [organizationId, modelId, now]),
        expire: await genericPlan(client, "expire", EXPIRE_SQL, "text, int", [now, "100"]),
      };
      // No plan scans the reservations or reads them by status (a capped model's open reservations are read by
      // status, only when the model has a cap: here it has none, so that part never runs).
      expect(linesRun(plans, /Seq Scan on "Reservation"|"Reservation_\w*status\w*"/)).toEqual([]);
      // Every balance is read by its primary key (member, kind).
      const balanceReads = linesRun(plans, /Scan .*on "Balance"/);
      expect(balanceReads.length).toBeGreaterThan(0);
      expect(balanceReads.filter((line) => !/Index Scan using "Balance_pkey"/.test(line))).toEqual([]);
      // A cap's open cost and the expiry sweep read only open reservations, through the indexes of open ones.
      expect(plans.capPosition).toMatch(/Reservation_open_organizationId_modelId_idx/);
      expect(plans.expire).toMatch(/Reservation_open_expiresAt_idx/);
      // The commit closed its reservation through the row it locked.
      expect(plans.commit).toMatch(/Tid Scan on "Reservation"/);
    } finally {
      await client.query("ROLLBACK").catch(() => {});
      await client.end();
    }
  });
});
