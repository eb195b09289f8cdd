// Bench: one rebalancing run (reclamation + auto-increase + floor top-up) and one cycle reset over an
// organisation of 10,000 members on PostgreSQL. Members and balances are seeded in bulk with SQL (fast),
// in three groups: idle members holding far more than they need (reclaimed), members at 80 % of their limit
// (bumped), members below the floor (topped up). Target: each run under 5 s. Checks conservation after each.
import { ManualClock } from "../../src/clock.ts";
import { loadConfig } from "../../src/config.ts";
import { createOrganization } from "../../src/organizations/service.ts";
import { rebalance, resetCycle } from "../../src/policy/scheduled.ts";
import { activatePreset } from "../../src/policy/service.ts";
import { buildApp } from "../../src/server/app.ts";
import { createTestDatabase } from "../support/database.ts";
import type { BenchModule, BenchResult } from "./support.ts";

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgresql://root@127.0.0.1:5432/postgres";
const MEMBERS = 10_000;
const POOL = 1_000_000_000;

async function measure(): Promise<BenchResult[]> {
  const database = await createTestDatabase(ADMIN_URL);
  const clock = new ManualClock("2027-03-11T06:00:00.000Z"); // day 10 of a 31-day cycle
  const config = loadConfig({
    NODE_ENV: "test",
    OPERATOR_API_KEY: "bench-operator-key-0123456789abcdef",
    AUTH_JWT_SECRET: "bench-jwt-secret-0123456789abcdef0123456789",
    DATA_DIR: ":memory:",
    LOG_LEVEL: "silent",
    SCHEDULER_INTERVAL_SECONDS: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: database.url,
  });
  const app = await buildApp({ config, clock });
  const { runtime } = app;
  try {
    const organization = await createOrganization(runtime, { name: "Bench rebalance", adminEmail: "admin@bench.example" });
    await activatePreset(runtime, organization.id, "DYNAMIC");
    const sql = (text: string, ...params: unknown[]) => runtime.db.raw.query(text, params);
    await sql(
      `INSERT INTO "Member" ("id", "organizationId", "email", "role")
       SELECT gen_random_uuid(), $1::uuid, 'member' || g || '@bench.example', 'MEMBER' FROM generate_series(1, $2::int) g`,
      organization.id,
      MEMBERS,
    );
    // Group by row number: 0 idle with 4M (3.5M reclaimable), 1 at 80 % of 500K (bump due), 2 at 100K (below the floor).
    await sql(
      `INSERT INTO "Balance" ("memberId", "kind", "organizationId", "cycleStart", "limit", "used")
       SELECT m."id", k.kind::"TokenKind", m."organizationId", (SELECT "currentCycleStart" FROM "Organization" WHERE "id" = $1::uuid),
              CASE m.n % 3 WHEN 0 THEN 4000000 WHEN 1 THEN 500000 ELSE 100000 END,
              CASE m.n % 3 WHEN 0 THEN 100000 WHEN 1 THEN 400000 ELSE 0 END
         FROM (SELECT "id", "organizationId", row_number() OVER (ORDER BY "id") AS n FROM "Member"
                WHERE "organizationId" = $1::uuid AND "role" = 'MEMBER') m
        CROSS JOIN (VALUES ('INFERENCE'), ('TRAINING')) AS k(kind)`,
      organization.id,
    );
    await sql(
      `UPDATE "Pool" p SET "tokens" = $2::bigint,
              "purchasedTotal" = $2::bigint + (SELECT COALESCE(SUM("limit"), 0) FROM "Balance" b WHERE b."organizationId" = p."organizationId" AND b."kind" = p."kind")
        WHERE p."organizationId" = $1::uuid`,
      organization.id,
      POOL,
    );
    await runtime.db.raw.exec(`ANALYZE "Balance"; ANALYZE "Member"; ANALYZE "Pool"`);

    const conserved = async () => {
      const rows = (await sql(
        `SELECT p."kind", p."purchasedTotal" - p."tokens" - p."consumedInClosedCycles" - COALESCE(SUM(b."limit"), 0) AS gap
           FROM "Pool" p LEFT JOIN "Balance" b ON b."organizationId" = p."organizationId" AND b."kind" = p."kind"
          WHERE p."organizationId" = $1::uuid GROUP BY p."kind", p."purchasedTotal", p."tokens", p."consumedInClosedCycles"`,
        organization.id,
      )) as { kind: string; gap: string | number }[];
      return rows.every((row) => Number(row.gap) === 0) ? "holds" : `BROKEN ${JSON.stringify(rows)}`;
    };

    let started = performance.now();
    const rebalanced = await rebalance(runtime, organization.id, new Date("2027-03-11T00:00:00.000Z"));
    const rebalanceSeconds = (performance.now() - started) / 1000;
    const rebalanceConservation = await conserved();

    clock.set("2027-04-01T00:00:05.000Z");
    started = performance.now();
    const reset = await resetCycle(runtime, organization.id, new Date("2027-04-01T00:00:00.000Z"));
    const resetSeconds = (performance.now() - started) / 1000;
    const resetConservation = await conserved();

    const inference = rebalanced?.kinds.find((kind) => kind.kind === "INFERENCE");
    return [
      {
        name: `rebalancing run, ${MEMBERS.toLocaleString("en")} members × 2 kinds (target < 5 s)`,
        metrics: {
          seconds: rebalanceSeconds.toFixed(2),
          reclaimed: `${inference?.reclaimed} from ${inference?.reclaimedMembers} (inference)`,
          "auto-increased": `${inference?.autoIncreased} for ${inference?.autoIncreasedMembers}`,
          "topped up": `${inference?.toppedUp} for ${inference?.toppedUpMembers}`,
          conservation: rebalanceConservation,
        },
      },
      {
        name: `cycle reset, ${MEMBERS.toLocaleString("en")} members × 2 kinds (target < 5 s)`,
        metrics: { seconds: resetSeconds.toFixed(2), summary: reset?.summary ?? "not run", conservation: resetConservation },
      },
    ];
  } finally {
    await app.stop();
    await database.drop();
  }
}

export const rebalanceBench: BenchModule = { name: "rebalance", run: measure };

/** Runs the bench alone and prints its results. */
export async function run(): Promise<void> {
  for (const result of await measure()) {
    console.log(result.name);
    for (const [metric, value] of Object.entries(result.metrics)) console.log(`  ${metric.padEnd(16)} ${value}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
