// The SQL of the usage hot path. Each charge is ONE statement of data-modifying CTEs: record the usage
// (idempotent on organisation + key), close the reservation, charge the balance, roll up the model's cycle
// spend and note the member's first use. A single statement is atomic and sees no half-done state; the
// balance and spend rows are updated in place (used = used + n) so concurrent charges never lose one.
// The benchmark runs these same strings directly with `pg` to compare.

/** Start of the billing cycle containing $now for an organisation row `o` (mirrors organizations/cycle.ts). */
const cycleStartOf = (now: string) => `(date_trunc('month', ${now}::timestamp)
      - CASE WHEN extract(day FROM ${now}::timestamp) >= o."cycleAnchorDay" THEN interval '0' ELSE interval '1 month' END
      + (o."cycleAnchorDay" - 1) * interval '1 day')`;

/**
 * Everything after the row `src` (organisation, member, kind, model and its prices, reservation to link, cycle)
 * has been chosen. Parameters shared by both charges: $1 usage id, $2 organisation id, $6 input tokens,
 * $7 output tokens, $8 app, $9 assistant, $10 idempotency key, $11 payload hash, $12 now, $13 today.
 */
const CHARGE_TAIL = `
usage AS (
  INSERT INTO "UsageRecord" ("id", "organizationId", "memberId", "modelId", "kind", "inputTokens", "outputTokens", "tokens", "cost",
     "inputPricePerMillion", "outputPricePerMillion", "app", "assistant", "reservationId", "idempotencyKey", "payloadHash",
     "cycleStart", "createdAt")
  SELECT $1::uuid, s."organizationId", s."memberId", s."modelId", s."kind", $6::bigint, $7::bigint, $6::bigint + $7::bigint,
         round(($6::bigint * s.input_price + $7::bigint * s.output_price) * 0.000001, 8), s.input_price, s.output_price,
         $8, $9, s.reservation_id, $10, $11, s.cycle_start, $12::timestamp
    FROM src s
  ON CONFLICT ("organizationId", "idempotencyKey") DO NOTHING
  RETURNING "id", "organizationId", "memberId", "modelId", "kind", "tokens", "cost", "reservationId", "cycleStart"
),
closed AS (
  UPDATE "Reservation" r SET "status" = 'COMMITTED', "closedAt" = $12::timestamp
    FROM usage u
   WHERE r."id" = u."reservationId" AND r."status" = 'OPEN'
  RETURNING r."tokens"
),
balance AS (
  UPDATE "Balance" b
     SET "used" = b."used" + u."tokens",
         "usedOnDay" = CASE WHEN b."usedDay" = $13::date THEN b."usedOnDay" + u."tokens" ELSE u."tokens" END,
         "usedDay" = $13::date,
         "reserved" = b."reserved" - COALESCE((SELECT sum(c."tokens") FROM closed c), 0),
         "updatedAt" = $12::timestamp
    FROM usage u
   WHERE b."memberId" = u."memberId" AND b."kind" = u."kind"
  RETURNING b."memberId", b."organizationId", b."kind", b."limit", b."used", b."reserved", b."lastAutoIncreaseAt"
),
spend AS (
  INSERT INTO "ModelCycleSpend" ("organizationId", "modelId", "cycleStart", "spend", "requests", "tokens")
  SELECT u."organizationId", u."modelId", u."cycleStart", u."cost", 1, u."tokens" FROM usage u
  ON CONFLICT ("organizationId", "modelId", "cycleStart") DO UPDATE
     SET "spend" = "ModelCycleSpend"."spend" + EXCLUDED."spend",
         "requests" = "ModelCycleSpend"."requests" + 1,
         "tokens" = "ModelCycleSpend"."tokens" + EXCLUDED."tokens"
),
first_use AS (
  UPDATE "Member" m SET "firstUsageAt" = $12::timestamp
    FROM usage u
   WHERE m."id" = u."memberId" AND m."firstUsageAt" IS NULL
)
SELECT (SELECT count(*) FROM src)::int AS "found",
       u."id", u."modelId", u."tokens", u."cost", u."cycleStart",
       b."memberId", b."organizationId", b."kind", b."limit", b."used", b."reserved", b."lastAutoIncreaseAt",
       p."inferenceFloor", p."trainingFloor", p."ceiling",
       mm."hasOverride", mm."overrideFloor", mm."overrideCeiling", mm."overrideUnlimitedCeiling"
  FROM (SELECT 1) AS one
  LEFT JOIN usage u ON true
  LEFT JOIN balance b ON true
  LEFT JOIN "DistributionPolicy" p ON p."organizationId" = b."organizationId"
  LEFT JOIN "Member" mm ON mm."id" = b."memberId"`;

/**
 * recordUsage: $3 member id, $4 model key, $5 kind. Nothing is charged (found = 0) when the member has no
 * balance in the organisation or the organisation has no model with that key.
 */
export const RECORD_USAGE_SQL = `
WITH src AS (
  SELECT b."organizationId", b."memberId", b."kind", md."id" AS "modelId",
         md."inputPricePerMillion" AS input_price, md."outputPricePerMillion" AS output_price,
         NULL::uuid AS reservation_id, ${cycleStartOf("$12")} AS cycle_start
    FROM "Balance" b
    JOIN "Organization" o ON o."id" = b."organizationId"
    JOIN "Model" md ON md."organizationId" = b."organizationId" AND md."key" = $4
   WHERE b."memberId" = $3::uuid AND b."kind" = $5::"TokenKind" AND b."organizationId" = $2::uuid
),${CHARGE_TAIL}`;

/**
 * commitUsage: $3 reservation id, $4 member the caller is restricted to (null: any member of the organisation),
 * $5 whether to link the reservation. The charge uses the reservation's member, kind and routed model. A
 * reservation already committed by another usage record is not linked again (the usage is still recorded).
 */
export const COMMIT_USAGE_SQL = `
WITH src AS (
  SELECT r."organizationId", r."memberId", r."kind", r."modelId",
         md."inputPricePerMillion" AS input_price, md."outputPricePerMillion" AS output_price,
         CASE WHEN $5::boolean AND r."status" <> 'COMMITTED' THEN r."id" END AS reservation_id,
         ${cycleStartOf("$12")} AS cycle_start
    FROM "Reservation" r
    JOIN "Model" md ON md."id" = r."modelId"
    JOIN "Organization" o ON o."id" = r."organizationId"
   WHERE r."id" = $3::uuid AND r."organizationId" = $2::uuid AND ($4::uuid IS NULL OR r."memberId" = $4::uuid)
),${CHARGE_TAIL}`;

/**
 * authorizeUsage's hold: $1 reservation id, $2 organisation, $3 member, $4 kind, $5 model, $6 tokens,
 * $7 estimated cost, $8 expiresAt, $9 now. The conditional update takes the tokens only if they are still
 * available, so two authorizations racing for the last tokens cannot both win. No row: not available.
 */
export const RESERVE_SQL = `
WITH balance AS (
  UPDATE "Balance" b SET "reserved" = b."reserved" + $6::bigint, "updatedAt" = $9::timestamp
   WHERE b."memberId" = $3::uuid AND b."kind" = $4::"TokenKind" AND b."organizationId" = $2::uuid
     AND b."limit" - b."used" - b."reserved" >= $6::bigint
  RETURNING b."memberId", b."organizationId", b."kind", b."limit", b."used", b."reserved", b."lastAutoIncreaseAt"
),
reservation AS (
  INSERT INTO "Reservation" ("id", "organizationId", "memberId", "modelId", "kind", "tokens", "estimatedCost", "status", "expiresAt", "createdAt")
  SELECT $1::uuid, b."organizationId", b."memberId", $5::uuid, b."kind", $6::bigint, $7::numeric, 'OPEN', $8::timestamp, $9::timestamp
    FROM balance b
  RETURNING "id"
)
SELECT b.* FROM balance b, reservation r`;

/** releaseReservation: $1 reservation, $2 organisation, $3 member restriction (null: any), $4 now. */
export const RELEASE_SQL = `
WITH released AS (
  UPDATE "Reservation" r SET "status" = 'RELEASED', "closedAt" = $4::timestamp
   WHERE r."id" = $1::uuid AND r."organizationId" = $2::uuid AND ($3::uuid IS NULL OR r."memberId" = $3::uuid)
     AND r."status" = 'OPEN'
  RETURNING r."memberId", r."kind", r."tokens"
),
balance AS (
  UPDATE "Balance" b SET "reserved" = b."reserved" - r."tokens", "updatedAt" = $4::timestamp
    FROM released r
   WHERE b."memberId" = r."memberId" AND b."kind" = r."kind"
  RETURNING b."memberId", b."organizationId", b."kind", b."limit", b."used", b."reserved", b."lastAutoIncreaseAt"
)
SELECT * FROM balance`;

/**
 * Expiry: up to $2 OPEN reservations past their expiry at $1 become EXPIRED and give back their tokens.
 * SKIP LOCKED lets several server processes sweep at once, and skips reservations being committed right now;
 * balances are locked in member order, as ledger/allocations.ts does, so the sweep never deadlocks with it.
 */
export const EXPIRE_SQL = `
WITH due AS (
  SELECT r."id" FROM "Reservation" r
   WHERE r."status" = 'OPEN' AND r."expiresAt" <= $1::timestamp
   ORDER BY r."expiresAt"
   LIMIT $2::int
   FOR UPDATE SKIP LOCKED
),
expired AS (
  UPDATE "Reservation" r SET "status" = 'EXPIRED', "closedAt" = $1::timestamp
    FROM due WHERE r."id" = due."id"
  RETURNING r."memberId", r."kind", r."tokens"
),
freed AS (
  SELECT "memberId", "kind", sum("tokens") AS tokens FROM expired GROUP BY "memberId", "kind"
),
locked AS (
  SELECT b."memberId", b."kind", f."tokens" FROM "Balance" b
    JOIN freed f ON b."memberId" = f."memberId" AND b."kind" = f."kind"
   ORDER BY b."memberId", b."kind"
   FOR UPDATE OF b
),
balance AS (
  UPDATE "Balance" b SET "reserved" = b."reserved" - l."tokens", "updatedAt" = $1::timestamp
    FROM locked l
   WHERE b."memberId" = l."memberId" AND b."kind" = l."kind"
  RETURNING b."memberId", b."organizationId", b."kind", b."limit", b."used", b."reserved", b."lastAutoIncreaseAt"
)
SELECT * FROM balance`;
