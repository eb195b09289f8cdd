// Usage analytics over a chosen range: top apps, assistants, consumers and models, and time to first value.
// Whole days come from UsageDailyRollup (built off the hot path by the rollup job below once a day has
// closed); the partial days at the ends of a range and the days not yet rolled up come from UsageRecord.
// A cycle of a million usage rows thus reads ~30 rollup rows per key plus at most a day and a bit of rows.
import { Decimal } from "decimal.js";
import type { UsageDimension } from "../db/generated/enums.ts";
import type { Runtime } from "../runtime.ts";
import {
  type FirstValueBucket,
  firstValueDistribution,
  median,
  planRange,
  rollupTarget,
  secondsToFirstValue,
  type TimeRange,
} from "./rules.ts";

/** A day is rolled up only this long after it ended: no usage transaction stays open that long. */
export const ROLLUP_GRACE_MS = 10 * 60_000;
/** Days one organisation may advance per job run, so a long backlog is caught up over several runs. */
const ROLLUP_DAYS_PER_RUN = 62;

export type UsageRanking = "REQUESTS" | "TOKENS" | "COST";

export interface UsageTotals {
  key: string;
  requests: bigint;
  tokens: bigint;
  cost: Decimal;
}

/** What each dimension groups usage rows by. */
const DIMENSION_COLUMN: Record<UsageDimension, string> = {
  APP: `"app"`,
  ASSISTANT: `"assistant"`,
  MEMBER: `"memberId"::text`,
  MODEL: `"modelId"::text`,
};

const RANKING_COLUMN: Record<UsageRanking, string> = { REQUESTS: "requests", TOKENS: "tokens", COST: "cost" };

/** Every day before this is in the rollup; null when the organisation has not been rolled up yet. */
export async function rolledThrough(runtime: Runtime, organizationId: string): Promise<Date | null> {
  const cursor = await runtime.prisma.usageRollupCursor.findUnique({ where: { organizationId }, select: { rolledThrough: true } });
  return cursor?.rolledThrough ?? null;
}

interface TotalsRow {
  key: string;
  requests: string;
  tokens: string;
  cost: string;
}

/** The top `limit` values of a dimension over the range, ranked by `ranking` (ties: by key). */
export async function topUsage(
  runtime: Runtime,
  organizationId: string,
  range: TimeRange,
  cursor: Date | null,
  dimension: UsageDimension,
  ranking: UsageRanking,
  limit: number,
): Promise<UsageTotals[]> {
  const plan = planRange(range, cursor);
  const column = DIMENSION_COLUMN[dimension];
  const params: unknown[] = [organizationId];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const parts: string[] = [];
  if (plan.rollup) {
    parts.push(`SELECT "key", "requests", "tokens", "cost" FROM "UsageDailyRollup"
      WHERE "organizationId" = $1::uuid AND "dimension" = ${param(dimension)}::"UsageDimension"
        AND "day" >= ${param(plan.rollup.from.toISOString())}::timestamp AND "day" < ${param(plan.rollup.to.toISOString())}::timestamp`);
  }
  for (const raw of plan.raw) {
    parts.push(`SELECT ${column} AS "key", count(*) AS "requests", sum("tokens") AS "tokens", sum("cost") AS "cost" FROM "UsageRecord"
      WHERE "organizationId" = $1::uuid AND "createdAt" >= ${param(raw.from.toISOString())}::timestamp
        AND "createdAt" < ${param(raw.to.toISOString())}::timestamp AND ${column} IS NOT NULL
      GROUP BY 1`);
  }
  const order = RANKING_COLUMN[ranking];
  const rows = await runtime.prisma.$queryRawUnsafe<TotalsRow[]>(
    `SELECT "key", sum("requests")::text AS "requests", sum("tokens")::text AS "tokens", sum("cost")::text AS "cost"
       FROM (${parts.join("\nUNION ALL\n")}) AS parts
      GROUP BY "key"
      ORDER BY sum("${order}") DESC, "key" ASC
      LIMIT ${param(limit)}::int`,
    ...params,
  );
  return rows.map((row) => ({ key: row.key, requests: BigInt(row.requests), tokens: BigInt(row.tokens), cost: new Decimal(row.cost) }));
}

/** Requests, tokens and cost over the whole range (the MODEL dimension covers every usage row). */
export async function rangeTotals(
  runtime: Runtime,
  organizationId: string,
  range: TimeRange,
  cursor: Date | null,
): Promise<Omit<UsageTotals, "key">> {
  const models = await topUsage(runtime, organizationId, range, cursor, "MODEL", "COST", 1_000_000);
  return models.reduce(
    (sum, row) => ({ requests: sum.requests + row.requests, tokens: sum.tokens + row.tokens, cost: sum.cost.plus(row.cost) }),
    { requests: 0n, tokens: 0n, cost: new Decimal(0) },
  );
}

export interface TimeToFirstValue {
  /** Members created in the range. */
  membersCreated: number;
  /** Of those, members that have used tokens at least once. */
  membersReached: number;
  medianSeconds: number | null;
  buckets: FirstValueBucket[];
}

/** How quickly members created in the range reached their first usage. */
export async function timeToFirstValue(runtime: Runtime, organizationId: string, range: TimeRange): Promise<TimeToFirstValue> {
  const members = await runtime.prisma.member.findMany({
    where: { organizationId, createdAt: { gte: range.from, lt: range.to } },
    select: { createdAt: true, firstUsageAt: true },
  });
  const seconds = members.map((member) => secondsToFirstValue(member.createdAt, member.firstUsageAt)).filter((value) => value !== null);
  return {
    membersCreated: members.length,
    membersReached: seconds.length,
    medianSeconds: median(seconds),
    buckets: firstValueDistribution(seconds),
  };
}

// ---------------------------------------------------------------------------------------------------------
// The rollup job

const ROLL_UP_DAY = `
INSERT INTO "UsageDailyRollup" ("organizationId", "dimension", "day", "key", "requests", "tokens", "cost")
SELECT $1::uuid, d."dimension"::"UsageDimension", $2::timestamp, d."key", d."requests", d."tokens", d."cost"
  FROM (
    SELECT CASE WHEN GROUPING("app") = 0 THEN 'APP'
                WHEN GROUPING("assistant") = 0 THEN 'ASSISTANT'
                WHEN GROUPING("memberId") = 0 THEN 'MEMBER'
                ELSE 'MODEL' END AS "dimension",
           CASE WHEN GROUPING("app") = 0 THEN "app"
                WHEN GROUPING("assistant") = 0 THEN "assistant"
                WHEN GROUPING("memberId") = 0 THEN "memberId"::text
                ELSE "modelId"::text END AS "key",
           count(*) AS "requests", sum("tokens") AS "tokens", sum("cost") AS "cost"
      FROM "UsageRecord"
     WHERE "organizationId" = $1::uuid AND "createdAt" >= $2::timestamp AND "createdAt" < $3::timestamp
     GROUP BY GROUPING SETS (("app"), ("assistant"), ("memberId"), ("modelId"))
  ) AS d
 WHERE d."key" IS NOT NULL
ON CONFLICT ("organizationId", "dimension", "day", "key") DO UPDATE
   SET "requests" = EXCLUDED."requests", "tokens" = EXCLUDED."tokens", "cost" = EXCLUDED."cost"`;

/**
 * Rolls up every closed day of one organisation not rolled up yet, one day per transaction. The cursor row is
 * locked (SKIP LOCKED) for the day's transaction, so two processes never roll up the same organisation at once,
 * and a day is written and the cursor advanced atomically: each day is counted exactly once.
 */
async function rollUpOrganization(runtime: Runtime, organizationId: string, target: Date): Promise<number> {
  let days = 0;
  while (days < ROLLUP_DAYS_PER_RUN) {
    const advanced = await runtime.prisma.$transaction(async (tx) => {
      const [cursor] = await tx.$queryRawUnsafe<{ rolledThrough: string }[]>(
        `SELECT to_char("rolledThrough", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "rolledThrough"
           FROM "UsageRollupCursor" WHERE "organizationId" = $1::uuid FOR UPDATE SKIP LOCKED`,
        organizationId,
      );
      if (!cursor) return false;
      const day = new Date(cursor.rolledThrough);
      if (day.getTime() >= target.getTime()) return false;
      const next = new Date(day.getTime() + 86_400_000);
      await tx.$executeRawUnsafe(ROLL_UP_DAY, organizationId, day.toISOString(), next.toISOString());
      await tx.$executeRawUnsafe(
        `UPDATE "UsageRollupCursor" SET "rolledThrough" = $2::timestamp, "updatedAt" = $3::timestamp WHERE "organizationId" = $1::uuid`,
        organizationId,
        next.toISOString(),
        runtime.clock.now().toISOString(),
      );
      return true;
    });
    if (!advanced) break;
    days++;
  }
  return days;
}

/** Organisations whose rollup is behind `target`, starting a cursor at the first day of usage for new ones. */
async function organizationsBehind(runtime: Runtime, target: Date): Promise<string[]> {
  await runtime.prisma.$executeRawUnsafe(
    `INSERT INTO "UsageRollupCursor" ("organizationId", "rolledThrough", "updatedAt")
     SELECT o."id", date_trunc('day', first_use."createdAt"), $1::timestamp
       FROM "Organization" o
       CROSS JOIN LATERAL (SELECT u."createdAt" FROM "UsageRecord" u WHERE u."organizationId" = o."id"
                            ORDER BY u."createdAt" LIMIT 1) AS first_use
      WHERE NOT EXISTS (SELECT 1 FROM "UsageRollupCursor" c WHERE c."organizationId" = o."id")
     ON CONFLICT ("organizationId") DO NOTHING`,
    runtime.clock.now().toISOString(),
  );
  const rows = await runtime.prisma.usageRollupCursor.findMany({
    where: { rolledThrough: { lt: target } },
    select: { organizationId: true },
  });
  return rows.map((row) => row.organizationId);
}

/** One pass of the rollup: every organisation brought up to the last closed day. Returns the days rolled up. */
export async function rollUpUsage(runtime: Runtime): Promise<number> {
  const target = rollupTarget(runtime.clock.now(), ROLLUP_GRACE_MS);
  let days = 0;
  for (const organizationId of await organizationsBehind(runtime, target)) {
    days += await rollUpOrganization(runtime, organizationId, target);
  }
  // Fresh statistics let the planner hash-aggregate a range's days instead of sorting them (half the time);
  // autovacuum would get there too, but only after enough rows changed.
  if (days > 0) await runtime.prisma.$executeRawUnsafe(`ANALYZE "UsageDailyRollup"`);
  return days;
}
