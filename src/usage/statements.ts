// The SQL of the usage hot path. Charging is ONE statement of data-modifying CTEs for a whole batch of
// usage items: record the usage (idempotent on organisation + key), close the reservations, charge the
// balances, roll up each model's cycle spend and note members' first use. The balance and spend rows are
// updated in place (used = used + n) so concurrent charges never lose one. The benchmark runs these same
// strings directly with `pg` to compare.
import { BALANCE_COLUMNS_OF_B } from "../ledger/balances.ts";
import { MAX_COST_TOTAL, MAX_TOKEN_TOTAL } from "./rules.ts";

/**
 * How a group-committed statement treats a row another transaction holds locked: "skip" it (the items needing it
 * come back skipped) or "wait" for it (up to the connection's lock_timeout).
 */
export type RowLocks = "skip" | "wait";
const skipLocked = (rowLocks: RowLocks) => (rowLocks === "skip" ? " SKIP LOCKED" : "");

/**
 * `= ANY` the batch's values of an item column: how the hot statements reach a table's rows by key. A prepared
 * statement's generic plan assumes a batch of 100 items (it cannot know the size), so a plain join of the items to a
 * table could scan the whole table; an array of keys makes it an index lookup whatever the guess.
 */
const inBatch = (column: string) => `= ANY (ARRAY(SELECT i.${column} FROM item i WHERE i.${column} IS NOT NULL))`;

/**
 * An item's balance row, by its primary key (member, kind), for a LATERAL join. Joined plainly, a generic plan may
 * instead read the (organisation, kind) index for the kind alone, every balance of that kind for each item; OFFSET 0
 * keeps the subquery from being merged into the join, so the lookup can only be by the key. Its columns are the
 * ones the statements read.
 */
const balanceByKey = (memberId: string, kind: string) => `(
    SELECT b."memberId", b."kind", b."organizationId", b."limit", b."used", b."reserved", b."usedOnDay", b."usedDay"
      FROM "Balance" b
     WHERE b."memberId" = ${memberId} AND b."kind" = ${kind}::"TokenKind"
    OFFSET 0
  )`;

/** Timestamps go to PostgreSQL as UTC text, so the session time zone never matters. */
export const sqlTimestamp = (at: Date) => at.toISOString().slice(0, 23);
export const sqlDate = (at: Date) => at.toISOString().slice(0, 10);

/** The anchor day's midnight in the month starting at `month` (a timestamp), the month's last day standing in for a missing one. */
const anchorIn = (month: string, anchorDay: string) =>
  `(${month} + (LEAST(${anchorDay}, extract(day FROM ${month} + interval '1 month' - interval '1 day')::int) - 1) * interval '1 day')`;

/**
 * Start of the billing cycle containing `now` for an anchor day (by default an organisation row `o`'s), in SQL so
 * a charge needs no extra round trip. The rule is organizations/cycle.ts `cycleAt`; test/usage/rules-vs-sql.test.ts
 * holds this expression against it over every day of several years and every anchor day.
 */
export const cycleStartOf = (now: string, anchorDay = `o."cycleAnchorDay"`) => {
  const thisMonth = `date_trunc('month', ${now}::timestamp)`;
  return `(CASE WHEN ${now}::timestamp >= ${anchorIn(thisMonth, anchorDay)} THEN ${anchorIn(thisMonth, anchorDay)}
      ELSE ${anchorIn(`(${thisMonth} - interval '1 month')`, anchorDay)} END)`;
};

/**
 * Charges a batch of usage items in one statement. $1 is a JSON array of items:
 *   { ord, usage_id, organization_id, reservation_id, member_id, link, model_key, kind, input_tokens, output_tokens,
 *     app, assistant, idempotency_key, payload_hash }
 * A recordUsage item names member_id, model_key and kind; a commitUsage item names reservation_id (member_id, when
 * set, restricts it to that member; link says whether to link the reservation). $2 is now, $3 today (UTC).
 *
 * Items whose source (member, model or reservation) is not found, or whose idempotency key was used before,
 * charge nothing and come back without an id; so do items that would take their organisation's usage total past
 * MAX_TOKEN_TOTAL tokens or MAX_COST_TOTAL (they come back overLimit), each refused alone. Rows are locked in a
 * fixed order (reservations, then balances by member, then model spend by model, then the organisation's usage
 * total) so concurrent batches and the expiry sweep wait rather than deadlock.
 *
 * With `rowLocks` "skip" (a group-committed batch), an item whose reservation or balance row another transaction
 * holds locked is skipped: nothing is done for it and it comes back `skipped`, to be written again (group-commit.ts),
 * so a row held long by one tenant never holds up a batch of others. With "wait" (an item written alone) it waits
 * for the row, as long as the connection's lock_timeout allows.
 * Each item's balance is the one right after its own charge, as if the batch's items ran one by one in order
 * (each charge raises the balance's version by one, so each item's state has its own version).
 *
 * Usage counts in the cycle in which it happened (its cycleStart, from $2): usage charged after a cycle boundary but
 * before the reset has run is recorded under the new cycle and left out of the closing cycle's `used`; the reset
 * counts it into the new one (policy/scheduled.ts). The comparison reads the balance row as locked, so a reset that
 * commits while a charge waits is seen by it. (A charge timed before a boundary whose statement reaches the balance
 * only after that reset has committed counts in the new cycle, as does usage after the operator moved the anchor
 * back: a balance never stops counting.)
 */
export const chargeSql = (rowLocks: RowLocks): string => `
WITH item AS (
  SELECT * FROM json_to_recordset($1::json) AS i(
    ord int, usage_id uuid, organization_id uuid, reservation_id uuid, member_id uuid, link boolean, model_key text, kind text,
    input_tokens bigint, output_tokens bigint, app text, assistant text, idempotency_key text, payload_hash text)
),
-- The batch's reservations, locked before their balances (release and expiry lock them in this order), as they are
-- now: a commit that waited for one sees a concurrent close.
reservation AS MATERIALIZED (
  SELECT r.ctid AS tid, r."id", r."organizationId", r."memberId", r."kind", r."modelId", r."status"
    FROM "Reservation" r
   WHERE r."id" ${inBatch("reservation_id")}
   ORDER BY r."id"
     FOR UPDATE OF r${skipLocked(rowLocks)}
),
sourced AS (
  SELECT i.ord, i.usage_id, i.organization_id, i.input_tokens, i.output_tokens, i.app, i.assistant, i.idempotency_key, i.payload_hash,
         b."memberId" AS member_id, b."kind", md."id" AS model_id,
         md."inputPricePerMillion" AS input_price, md."outputPricePerMillion" AS output_price,
         NULL::uuid AS reservation_id, ${cycleStartOf("$2")} AS cycle_start
    FROM item i
    CROSS JOIN LATERAL ${balanceByKey("i.member_id", "i.kind")} b
    JOIN "Organization" o ON o."id" = i.organization_id
    JOIN "Model" md ON md."organizationId" = i.organization_id AND md."key" = i.model_key
   WHERE i.reservation_id IS NULL AND b."organizationId" = i.organization_id
  UNION ALL
  SELECT i.ord, i.usage_id, i.organization_id, i.input_tokens, i.output_tokens, i.app, i.assistant, i.idempotency_key, i.payload_hash,
         r."memberId", r."kind", r."modelId",
         md."inputPricePerMillion", md."outputPricePerMillion",
         -- One usage links a reservation: of two commits of one reservation in a batch, the first links it.
         CASE WHEN i.link AND r."status" <> 'COMMITTED' AND row_number() OVER (PARTITION BY r."id" ORDER BY i.ord) = 1 THEN r."id" END,
         ${cycleStartOf("$2")}
    FROM item i
    JOIN reservation r ON r."id" = i.reservation_id AND r."organizationId" = i.organization_id
                      AND (i.member_id IS NULL OR r."memberId" = i.member_id)
    JOIN "Model" md ON md."id" = r."modelId"
    JOIN "Organization" o ON o."id" = i.organization_id
),
priced AS (
  SELECT f.*, round((f.input_tokens * f.input_price + f.output_tokens * f.output_price) * 0.000001, 8) AS cost FROM sourced f
),
-- An item that would take its organisation's usage total (which bounds every usage sum the API shows) past what a
-- client can read is refused alone: first each item on its own, then the rest in order. The CHECK constraints
-- stop any race past this read.
src AS (
  SELECT * FROM (
    SELECT p.*, COALESCE(t."tokens", 0) AS total_tokens, COALESCE(t."cost", 0) AS total_cost,
           sum(p.input_tokens + p.output_tokens) OVER upto AS tokens_upto, sum(p.cost) OVER upto AS cost_upto
      FROM priced p
      LEFT JOIN "UsageTotal" t ON t."organizationId" = p.organization_id
     WHERE COALESCE(t."tokens", 0) + p.input_tokens + p.output_tokens <= ${MAX_TOKEN_TOTAL}
       AND COALESCE(t."cost", 0) + p.cost < ${MAX_COST_TOTAL}
    WINDOW upto AS (PARTITION BY p.organization_id ORDER BY p.ord)
  ) fits
   WHERE fits.total_tokens + fits.tokens_upto <= ${MAX_TOKEN_TOTAL} AND fits.total_cost + fits.cost_upto < ${MAX_COST_TOTAL}
),
held AS MATERIALIZED (
  SELECT b."memberId", b."kind" FROM "Balance" b
   WHERE (b."memberId", b."kind") IN (SELECT s.member_id, s."kind" FROM src s)
   ORDER BY b."memberId", b."kind"
     FOR UPDATE OF b${skipLocked(rowLocks)}
),
usage AS (
  INSERT INTO "UsageRecord" ("id", "organizationId", "memberId", "modelId", "kind", "inputTokens", "outputTokens", "tokens", "cost",
     "inputPricePerMillion", "outputPricePerMillion", "app", "assistant", "reservationId", "idempotencyKey", "payloadHash",
     "cycleStart", "createdAt")
  -- The cost rule is usage/rules.ts usageCost; test/usage/rules-vs-sql.test.ts holds this expression against it.
  SELECT s.usage_id, s.organization_id, s.member_id, s.model_id, s."kind", s.input_tokens, s.output_tokens, s.input_tokens + s.output_tokens,
         s.cost, s.input_price, s.output_price,
         s.app, s.assistant, s.reservation_id, s.idempotency_key, s.payload_hash, s.cycle_start, $2::timestamp
    FROM src s
    JOIN held h ON h."memberId" = s.member_id AND h."kind" = s."kind"
   ORDER BY s.ord
  ON CONFLICT ("organizationId", "idempotencyKey") DO NOTHING
  RETURNING "id", "organizationId", "memberId", "modelId", "kind", "tokens", "cost", "reservationId", "cycleStart"
),
-- By the row version locked above (a TID lookup): the planner has no by-status path to choose, whose index keeps an
-- entry for every reservation ever OPEN until VACUUM.
closed AS (
  UPDATE "Reservation" r SET "status" = 'COMMITTED', "closedAt" = $2::timestamp
    FROM usage u
    JOIN reservation rv ON rv."id" = u."reservationId" AND rv."status" = 'OPEN'
   WHERE r.ctid = rv.tid
  RETURNING r."id", r."memberId", r."kind", r."tokens"
),
delta AS (
  SELECT u."memberId", u."kind", sum(u."tokens")::bigint AS used, count(*)::bigint AS charges, max(u."cycleStart") AS cycle_start,
         (SELECT COALESCE(sum(c."tokens"), 0) FROM closed c WHERE c."memberId" = u."memberId" AND c."kind" = u."kind")::bigint AS released
    FROM usage u
   GROUP BY u."memberId", u."kind"
),
balance AS (
  UPDATE "Balance" b
     SET "used" = CASE WHEN l.cycle_start > b."cycleStart" THEN b."used" ELSE b."used" + l.used END,
         "usedOnDay" = CASE WHEN b."usedDay" = $3::date THEN b."usedOnDay" + l.used ELSE l.used END,
         "usedDay" = $3::date,
         "reserved" = b."reserved" - l.released,
         "version" = b."version" + l.charges,
         "updatedAt" = $2::timestamp
    FROM delta l
   WHERE b."memberId" = l."memberId" AND b."kind" = l."kind"
  RETURNING ${BALANCE_COLUMNS_OF_B}, l.cycle_start <= b."cycleStart" AS counted
),
spend AS (
  INSERT INTO "ModelCycleSpend" ("organizationId", "modelId", "cycleStart", "spend", "requests", "tokens")
  SELECT u."organizationId", u."modelId", u."cycleStart", sum(u."cost"), count(*)::int, sum(u."tokens")::bigint
    FROM usage u
   GROUP BY u."organizationId", u."modelId", u."cycleStart"
   ORDER BY u."modelId"
  ON CONFLICT ("organizationId", "modelId", "cycleStart") DO UPDATE
     SET "spend" = "ModelCycleSpend"."spend" + EXCLUDED."spend",
         "requests" = "ModelCycleSpend"."requests" + EXCLUDED."requests",
         "tokens" = "ModelCycleSpend"."tokens" + EXCLUDED."tokens"
),
total AS (
  INSERT INTO "UsageTotal" ("organizationId", "tokens", "cost")
  SELECT u."organizationId", sum(u."tokens")::bigint, sum(u."cost")
    FROM usage u
   GROUP BY u."organizationId"
   ORDER BY u."organizationId"
  ON CONFLICT ("organizationId") DO UPDATE
     SET "tokens" = "UsageTotal"."tokens" + EXCLUDED."tokens", "cost" = "UsageTotal"."cost" + EXCLUDED."cost"
),
first_use AS (
  UPDATE "Member" m SET "firstUsageAt" = $2::timestamp
    FROM (SELECT DISTINCT "memberId" FROM usage) u
   WHERE m."id" = u."memberId" AND m."firstUsageAt" IS NULL
)
SELECT i.ord, EXISTS (SELECT 1 FROM sourced f WHERE f.ord = i.ord) AS found,
       EXISTS (SELECT 1 FROM sourced f WHERE f.ord = i.ord) AND NOT EXISTS (SELECT 1 FROM src s WHERE s.ord = i.ord) AS "overLimit",
       EXISTS (SELECT 1 FROM src s WHERE s.ord = i.ord AND NOT EXISTS (
                 SELECT 1 FROM held h WHERE h."memberId" = s.member_id AND h."kind" = s."kind"))
       OR (i.reservation_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reservation r WHERE r."id" = i.reservation_id)
           -- A scalar subquery (looked up by id), which the planner cannot turn into a scan of every reservation.
           AND (SELECT r."organizationId" FROM "Reservation" r WHERE r."id" = i.reservation_id) = i.organization_id)
         AS "skipped",
       u."id", u."modelId", u."tokens", u."cost", u."cycleStart",
       b."memberId", b."organizationId", b."kind", b."limit", b."lastAutoIncreaseAt",
       (b."used" - CASE WHEN b.counted THEN COALESCE(sum(u."tokens") OVER later, 0) ELSE 0 END)::bigint AS "used",
       (b."reserved" + COALESCE(sum(c."tokens") OVER later, 0))::bigint AS "reserved",
       (b."version" - COALESCE(count(u."id") OVER later, 0))::bigint AS "version",
       p."inferenceFloor", p."trainingFloor", p."ceiling",
       mm."hasOverride", mm."overrideFloor", mm."overrideCeiling", mm."overrideUnlimitedCeiling"
  FROM item i
  LEFT JOIN usage u ON u."id" = i.usage_id
  LEFT JOIN closed c ON c."id" = u."reservationId"
  LEFT JOIN balance b ON b."memberId" = u."memberId" AND b."kind" = u."kind"
  LEFT JOIN "DistributionPolicy" p ON p."organizationId" = b."organizationId"
  LEFT JOIN "Member" mm ON mm."id" = b."memberId"
WINDOW later AS (PARTITION BY u."memberId", u."kind" ORDER BY i.ord DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
 ORDER BY i.ord`;

/**
 * Everything authorizeUsage reads, for a batch of authorizations in one statement. $1 is a JSON array of
 *   { ord, member_id, organization_id, kind, at }
 * and each comes back as the rows of its `ord`: member `member_id` of organisation `organization_id` with its
 * balance of `kind`, and on the same rows each of the organisation's models (prices, switch, cap, spend in the cycle
 * containing `at`, and for a capped model the estimated cost of its open reservations: only a cap counts them, see
 * rules.ts isCapped). One row per model; one row with no model columns when there is none; no row when the member is
 * not in the organisation.
 *
 * Open reservations are read only for capped models: a reservation's status change leaves its old index entry
 * (status OPEN) behind until VACUUM, so reading "every open reservation" costs more with every authorization since
 * the last one, on the hot path of every organisation.
 */
export const AUTHORIZE_STANDINGS_SQL = `
WITH item AS (
  SELECT * FROM json_to_recordset($1::json) AS i(ord int, member_id uuid, organization_id uuid, kind text, at timestamp)
),
member AS MATERIALIZED (
  SELECT m."id", m."organizationId", m."suspended", m."hasLimitsOverride", m."dailyLimit", m."monthlyLimit"
    FROM "Member" m
   WHERE m."id" ${inBatch("member_id")}
)
SELECT i.ord, m."suspended", m."hasLimitsOverride", m."dailyLimit", m."monthlyLimit",
       o."planBudget", o."overageLimit", o."automaticFallback", o."defaultDailyLimit", o."defaultMonthlyLimit",
       b."limit", b."used", b."reserved", b."usedOnDay", b."usedDay",
       md."id", md."organizationId", md."key", md."displayName", md."inputPricePerMillion", md."outputPricePerMillion",
       md."enabled", md."cap", md."createdAt", md."updatedAt",
       COALESCE(s."spend", 0) AS "cycleSpend", COALESCE(oc.cost, 0) AS "openReservationCost"
  FROM item i
  JOIN member m ON m."id" = i.member_id AND m."organizationId" = i.organization_id
  JOIN "Organization" o ON o."id" = m."organizationId"
  LEFT JOIN LATERAL ${balanceByKey(`m."id"`, "i.kind")} b ON true
  LEFT JOIN "Model" md ON md."organizationId" = o."id"
  LEFT JOIN "ModelCycleSpend" s ON s."organizationId" = o."id" AND s."modelId" = md."id" AND s."cycleStart" = ${cycleStartOf("i.at")}
  LEFT JOIN LATERAL (
    SELECT sum(r."estimatedCost") AS cost
      FROM "Reservation" r
     WHERE md."cap" IS NOT NULL AND r."organizationId" = o."id" AND r."modelId" = md."id" AND r."status" = 'OPEN'
  ) oc ON true
 ORDER BY i.ord`;

/**
 * authorizeUsage's holds, a batch at a time. $1 is a JSON array of holds:
 *   { ord, reservation_id, organization_id, member_id, kind, model_id, tokens, estimated_cost, expires_at }
 * and $2 is now. Each hold takes its tokens only if they are still available when its balance row is locked, so
 * two authorizations racing for the last tokens cannot both win; a batch has at most one hold per balance
 * (group-commit.ts keeps the others for the next). One row per hold whose balance exists, with its `ord`: the
 * balance after the hold when it was taken, no balance when the tokens were not there, and `skipped` when its
 * balance row was locked elsewhere and `rowLocks` is "skip" (as for charges: nothing done, to be written again).
 */
export const holdSql = (rowLocks: RowLocks): string => `
WITH item AS (
  SELECT * FROM json_to_recordset($1::json) AS i(
    ord int, reservation_id uuid, organization_id uuid, member_id uuid, kind text, model_id uuid, tokens bigint,
    estimated_cost numeric, expires_at timestamp)
),
found AS (
  SELECT i.ord, b."memberId", b."kind", i.tokens
    FROM item i
    CROSS JOIN LATERAL ${balanceByKey("i.member_id", "i.kind")} b
   WHERE b."organizationId" = i.organization_id
),
locked AS MATERIALIZED (
  SELECT b."memberId", b."kind"
    FROM "Balance" b
   WHERE (b."memberId", b."kind") IN (SELECT f."memberId", f."kind" FROM found f)
   ORDER BY b."memberId", b."kind"
     FOR UPDATE OF b${skipLocked(rowLocks)}
),
balance AS (
  UPDATE "Balance" b SET "reserved" = b."reserved" + f.tokens, "version" = b."version" + 1, "updatedAt" = $2::timestamp
    FROM found f JOIN locked l ON l."memberId" = f."memberId" AND l."kind" = f."kind"
   WHERE b."memberId" = f."memberId" AND b."kind" = f."kind" AND b."limit" - b."used" - b."reserved" >= f.tokens
  RETURNING f.ord, ${BALANCE_COLUMNS_OF_B}
),
reservation AS (
  INSERT INTO "Reservation" ("id", "organizationId", "memberId", "modelId", "kind", "tokens", "estimatedCost", "status", "expiresAt", "createdAt")
  SELECT i.reservation_id, b."organizationId", b."memberId", i.model_id, b."kind", i.tokens, i.estimated_cost, 'OPEN', i.expires_at, $2::timestamp
    FROM balance b JOIN item i ON i.ord = b.ord
)
SELECT f.ord, l."memberId" IS NULL AS "skipped", ${BALANCE_COLUMNS_OF_B}
  FROM found f
  LEFT JOIN locked l ON l."memberId" = f."memberId" AND l."kind" = f."kind"
  LEFT JOIN balance b ON b.ord = f.ord`;

/**
 * A capped model's position, read after its row is locked (see holdUnderCap): this cycle's spend plus the
 * estimated cost of its open reservations. $1 organisation, $2 model, $3 now.
 */
export const CAP_POSITION_SQL = `
SELECT COALESCE((SELECT s."spend" FROM "ModelCycleSpend" s
                  WHERE s."organizationId" = o."id" AND s."modelId" = $2::uuid AND s."cycleStart" = ${cycleStartOf("$3")}), 0)
     + COALESCE((SELECT sum(r."estimatedCost") FROM "Reservation" r
                  WHERE r."organizationId" = o."id" AND r."modelId" = $2::uuid AND r."status" = 'OPEN'), 0) AS "position"
  FROM "Organization" o
 WHERE o."id" = $1::uuid`;

/** Serializes holds on one capped model: $1 model. */
export const LOCK_MODEL_SQL = `SELECT "id" FROM "Model" WHERE "id" = $1::uuid FOR UPDATE`;

/** releaseReservation: $1 reservation, $2 organisation, $3 member restriction (null: any), $4 now. */
export const RELEASE_SQL = `
WITH released AS (
  UPDATE "Reservation" r SET "status" = 'RELEASED', "closedAt" = $4::timestamp
   WHERE r."id" = $1::uuid AND r."organizationId" = $2::uuid AND ($3::uuid IS NULL OR r."memberId" = $3::uuid)
     AND r."status" = 'OPEN'
  RETURNING r."memberId", r."kind", r."tokens"
),
balance AS (
  UPDATE "Balance" b SET "reserved" = b."reserved" - r."tokens", "version" = b."version" + 1, "updatedAt" = $4::timestamp
    FROM released r
   WHERE b."memberId" = r."memberId" AND b."kind" = r."kind"
  RETURNING ${BALANCE_COLUMNS_OF_B}
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
  UPDATE "Balance" b SET "reserved" = b."reserved" - l."tokens", "version" = b."version" + 1, "updatedAt" = $1::timestamp
    FROM locked l
   WHERE b."memberId" = l."memberId" AND b."kind" = l."kind"
  RETURNING ${BALANCE_COLUMNS_OF_B}
)
SELECT * FROM balance`;
