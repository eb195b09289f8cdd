// The usage hot path: authorize (hold a reservation), commit or record (charge), release.
// Each write is one prepared SQL statement (see statements.ts), atomic on its own; charges are group-committed
// (charges.ts), and the auto-increase and spend-alert hooks run after their batch commits. Events are published
// after commit.
import { hash } from "node:crypto";
import { Decimal } from "decimal.js";
import { isUniqueViolation } from "../db/errors.ts";
import { type Model, Prisma, type Reservation } from "../db/generated/client.ts";
import type { TokenKind } from "../db/generated/enums.ts";
import { uuidV7 } from "../db/ids.ts";
import { badInput, conflict, notFound } from "../errors.ts";
import { type BalanceRow, publishCommittedBalances } from "../ledger/balances.ts";
import { tokenAmount } from "../ledger/rules.ts";
import type { BalanceView } from "../members/balance.ts";
import { effectiveBounds } from "../policy/presets.ts";
import type { Runtime } from "../runtime.ts";
import type { ChargedRow, ChargeItem } from "./charges.ts";
import { type HeldRow, HOLD_WAITING_SQL, type HoldItem, holdOutcome, holdParameters } from "./holds.ts";
import {
  type AuthorizationDecision,
  decideAuthorization,
  limitsInForce,
  MAX_TOKENS_PER_CALL,
  type ModelStanding,
  reservationCost,
} from "./rules.ts";
import type { MemberStandingRow, ModelStandingRow } from "./standings.ts";
import { CAP_POSITION_SQL, LOCK_MODEL_SQL, RELEASE_SQL, sqlTimestamp } from "./statements.ts";

/** Who the caller may act for: any member of the organisation (services, admins), or only itself. */
export interface UsageActor {
  organizationId: string;
  /** null: any member of the organisation. */
  onlyMemberId: string | null;
}

export interface Authorization {
  decision: AuthorizationDecision;
  /** The routed model's full row, so answering needs no further query. */
  routedModel: Model | null;
  /** The reservation held, as stored. */
  reservation: Reservation | null;
}

export interface UsageReceipt {
  id: string;
  memberId: string;
  modelId: string;
  tokens: bigint;
  cost: Decimal;
  balance: BalanceView;
}

const MAX_TEXT = 200;

/** A new row id (time-ordered UUID v7). */
export const newId = (at: Date): string => uuidV7(at);

/** One call's tokens: bounded (MAX_TOKENS_PER_CALL) so that no single call can take a total out of range. */
const callTokens = (value: number, field: string): bigint => tokenAmount(value, field, { max: MAX_TOKENS_PER_CALL, hint: "per call" });

function optionalText(value: string | null | undefined, field: string): string | null {
  if (value == null) return null;
  const text = value.trim();
  if (text.length > MAX_TEXT) throw badInput(field, `${field} must be at most ${MAX_TEXT} characters.`);
  return text || null;
}

function idempotencyKey(value: string, field: string): string {
  const key = value.trim();
  if (key.length < 1 || key.length > MAX_TEXT) throw badInput(field, `${field} must be 1 to ${MAX_TEXT} characters.`);
  return key;
}

function payloadHash(payload: unknown[]): string {
  return hash("sha256", JSON.stringify(payload), "base64url");
}

// ---------------------------------------------------------------- authorize

export interface AuthorizeInput {
  memberId: string;
  modelKey: string;
  kind: TokenKind;
  estimatedTokens: number;
}

/** Runs the contract's checks in order and, when allowed, holds a reservation of the estimated tokens. */
export async function authorizeUsage(runtime: Runtime, actor: UsageActor, input: AuthorizeInput, attempt = 1): Promise<Authorization> {
  const estimatedTokens = callTokens(input.estimatedTokens, "input.estimatedTokens");
  const modelKey = input.modelKey.trim();
  if (modelKey.length < 1 || modelKey.length > 100) throw badInput("input.modelKey", "input.modelKey must be 1 to 100 characters.");
  if (actor.onlyMemberId && actor.onlyMemberId !== input.memberId) throw notFound("Member");
  const now = runtime.clock.now();

  // One read: the member's standing on every row, each model's (with this cycle's spend) beside it.
  const rows = await runtime.standings.submit({
    member_id: input.memberId,
    organization_id: actor.organizationId,
    kind: input.kind,
    at: sqlTimestamp(now),
  });
  const standing = rows[0];
  if (!standing) throw notFound("Member");
  const modelRows = rows.filter((row): row is MemberStandingRow & ModelStandingRow => row.id !== null);

  const models = modelRows.map(
    (row): ModelStanding => ({
      id: row.id,
      key: row.key,
      enabled: row.enabled,
      cycleSpend: row.cycleSpend.toString(),
      openReservationCost: row.openReservationCost.toString(),
      inputPricePerMillion: row.inputPricePerMillion.toString(),
      outputPricePerMillion: row.outputPricePerMillion.toString(),
      cap: row.cap === null ? null : row.cap.toString(),
    }),
  );
  const organizationSpend = models.reduce((sum, model) => sum.plus(model.cycleSpend), new Decimal(0));

  const decision = decideAuthorization({
    suspended: standing.suspended,
    requested: models.find((model) => model.key === modelKey) ?? null,
    models,
    organizationSpend,
    planBudget: standing.planBudget.toString(),
    overageLimit: standing.overageLimit.toString(),
    automaticFallback: standing.automaticFallback,
    balance: {
      limit: standing.limit ?? 0n,
      used: standing.used ?? 0n,
      reserved: standing.reserved ?? 0n,
      usedOnDay: standing.usedOnDay ?? 0n,
      usedDay: standing.usedDay,
    },
    limits: limitsInForce(standing, { daily: standing.defaultDailyLimit, monthly: standing.defaultMonthlyLimit }),
    estimatedTokens,
    now,
  });
  const routedModel = decision.routed ? (modelRows.find((row) => row.id === decision.routed!.id) ?? null) : null;
  if (!decision.allowed) return { decision, routedModel, reservation: null };

  const reservationId = newId(now);
  const expiresAt = new Date(now.getTime() + runtime.config.reservationTtlSeconds * 1000);
  const estimatedCost = reservationCost(estimatedTokens, decision.routed);
  const hold: HoldItem = {
    reservation_id: reservationId,
    organization_id: actor.organizationId,
    member_id: input.memberId,
    kind: input.kind,
    model_id: decision.routed.id,
    tokens: estimatedTokens.toString(),
    estimated_cost: estimatedCost.toFixed(),
    expires_at: sqlTimestamp(expiresAt),
  };
  let balance: BalanceRow | undefined;
  if (decision.routed.cap === null) {
    ({ balance } = await runtime.holds.submit(hold));
  } else {
    const held = await holdUnderCap(runtime, new Decimal(decision.routed.cap), now, hold);
    if (held === "capped") {
      // Others filled the cap since our read: decide again on fresh numbers (that may route to a fallback).
      if (attempt < 3) return authorizeUsage(runtime, actor, input, attempt + 1);
      return {
        decision: { allowed: false, reason: "MODEL_CAP_REACHED", routed: decision.routed, fellBack: decision.fellBack },
        routedModel,
        reservation: null,
      };
    }
    balance = held;
  }
  // Another authorization took the tokens between our read and this conditional update.
  if (!balance) {
    return {
      decision: { allowed: false, reason: "INSUFFICIENT_BALANCE", routed: decision.routed, fellBack: decision.fellBack },
      routedModel,
      reservation: null,
    };
  }
  publishCommittedBalances(runtime, [balance]);
  const reservation: Reservation = {
    id: reservationId,
    organizationId: actor.organizationId,
    memberId: input.memberId,
    modelId: decision.routed.id,
    kind: input.kind,
    tokens: estimatedTokens,
    estimatedCost: new Prisma.Decimal(estimatedCost.toFixed()),
    status: "OPEN",
    expiresAt,
    createdAt: now,
    closedAt: null,
  };
  return { decision, routedModel, reservation };
}

/**
 * Holds a reservation on a capped model only while the model is below its cap. The model row lock makes
 * concurrent holds on it take turns, and each reads the position in a fresh statement after the lock, so
 * a burst overshoots the cap by at most one reservation's estimate.
 */
async function holdUnderCap(runtime: Runtime, cap: Decimal, now: Date, hold: HoldItem): Promise<BalanceRow | undefined | "capped"> {
  return runtime.prisma.$transaction(async (tx) => {
    await tx.$queryRawUnsafe(LOCK_MODEL_SQL, hold.model_id);
    const [row] = await tx.$queryRawUnsafe<{ position: { toString(): string } }[]>(
      CAP_POSITION_SQL,
      hold.organization_id,
      hold.model_id,
      sqlTimestamp(now),
    );
    if (new Decimal(row?.position.toString() ?? "0").gte(cap)) return "capped" as const;
    const [held] = await tx.$queryRawUnsafe<HeldRow[]>(HOLD_WAITING_SQL, ...holdParameters([hold], now));
    return holdOutcome(held).balance;
  });
}

// ---------------------------------------------------------------- charge

export interface CommitInput {
  reservationId: string;
  inputTokens: number;
  outputTokens: number;
  app?: string | null;
  assistant?: string | null;
  idempotencyKey: string;
}

export interface RecordInput {
  memberId: string;
  modelKey: string;
  kind: TokenKind;
  inputTokens: number;
  outputTokens: number;
  app?: string | null;
  assistant?: string | null;
  idempotencyKey: string;
}

type ChargeCommon = Pick<ChargeItem, "input_tokens" | "output_tokens" | "app" | "assistant" | "idempotency_key">;

function chargeCommon(input: CommitInput | RecordInput): ChargeCommon {
  return {
    input_tokens: Number(callTokens(input.inputTokens, "input.inputTokens")),
    output_tokens: Number(callTokens(input.outputTokens, "input.outputTokens")),
    app: optionalText(input.app, "input.app"),
    assistant: optionalText(input.assistant, "input.assistant"),
    idempotency_key: idempotencyKey(input.idempotencyKey, "input.idempotencyKey"),
  };
}

/** Charges the usage of a reservation at its routed model's prices and closes the reservation. */
export async function commitUsage(runtime: Runtime, actor: UsageActor, input: CommitInput): Promise<UsageReceipt> {
  const common = chargeCommon(input);
  const hash = payloadHash(["commit", input.reservationId, common.input_tokens, common.output_tokens, common.app, common.assistant]);
  const item = (link: boolean): ChargeItem => ({
    ...common,
    usage_id: newId(runtime.clock.now()),
    organization_id: actor.organizationId,
    reservation_id: input.reservationId,
    member_id: actor.onlyMemberId,
    link,
    model_key: null,
    kind: null,
    payload_hash: hash,
  });
  let row: ChargedRow;
  try {
    row = await runtime.charges.submit(item(true));
  } catch (error) {
    // A commit of the same reservation under another key, in another process's batch, linked it first: record ours
    // unlinked (within a batch, chargeSql links the first alone).
    if (!isUniqueViolation(error, "UsageRecord_reservationId_key")) throw error;
    row = await runtime.charges.submit(item(false));
  }
  return receiptOf(row) ?? replay(runtime, actor, common.idempotency_key, hash, "Reservation");
}

/** Charges usage that already happened, without authorization: it is recorded even for a disabled model or a suspended member. */
export async function recordUsage(runtime: Runtime, actor: UsageActor, input: RecordInput): Promise<UsageReceipt> {
  const common = chargeCommon(input);
  const modelKey = input.modelKey.trim();
  if (modelKey.length < 1 || modelKey.length > 100) throw badInput("input.modelKey", "input.modelKey must be 1 to 100 characters.");
  if (actor.onlyMemberId && actor.onlyMemberId !== input.memberId) throw notFound("Member");
  const hash = payloadHash([
    "record",
    input.memberId,
    modelKey,
    input.kind,
    common.input_tokens,
    common.output_tokens,
    common.app,
    common.assistant,
  ]);
  const row = await runtime.charges.submit({
    ...common,
    usage_id: newId(runtime.clock.now()),
    organization_id: actor.organizationId,
    reservation_id: null,
    member_id: input.memberId,
    link: false,
    model_key: modelKey,
    kind: input.kind,
    payload_hash: hash,
  });
  return (
    receiptOf(row) ??
    replay(runtime, actor, common.idempotency_key, hash, async () => {
      const member = await runtime.prisma.member.findFirst({
        where: { id: input.memberId, organizationId: actor.organizationId },
        select: { id: true },
      });
      return member ? "Model" : "Member";
    })
  );
}

/** The receipt of a charged row; null when nothing was charged (key used before, or source not found). */
function receiptOf(row: ChargedRow): UsageReceipt | null {
  if (row.overLimit) {
    throw badInput(
      "input.inputTokens",
      "This usage would take the organisation's recorded usage past 2^53-1 tokens or its cost past what can be stored; nothing was charged.",
    );
  }
  if (!row.id) return null;
  const bounds = effectiveBounds(
    { inferenceFloor: row.inferenceFloor ?? 0n, trainingFloor: row.trainingFloor ?? 0n, ceiling: row.ceiling },
    {
      hasOverride: row.hasOverride ?? false,
      overrideFloor: row.overrideFloor,
      overrideCeiling: row.overrideCeiling,
      overrideUnlimitedCeiling: row.overrideUnlimitedCeiling ?? false,
    },
    row.kind!,
  );
  return {
    id: row.id,
    memberId: row.memberId!,
    modelId: row.modelId!,
    tokens: row.tokens!,
    cost: new Decimal(row.cost!.toString()),
    balance: {
      memberId: row.memberId!,
      organizationId: row.organizationId!,
      kind: row.kind!,
      limit: row.limit!,
      used: row.used!,
      reserved: row.reserved!,
      lastAutoIncreaseAt: row.lastAutoIncreaseAt,
      version: row.version!,
      ...bounds,
    },
  };
}

/**
 * Nothing was charged: answer a retry with the first receipt, a reused key with CONFLICT, and otherwise
 * NOT_FOUND for what was missing.
 */
async function replay(
  runtime: Runtime,
  actor: UsageActor,
  key: string,
  hash: string,
  missing: string | (() => Promise<string>),
): Promise<UsageReceipt> {
  const record = await runtime.prisma.usageRecord.findUnique({
    where: { organizationId_idempotencyKey: { organizationId: actor.organizationId, idempotencyKey: key } },
    select: { id: true, memberId: true, modelId: true, kind: true, tokens: true, cost: true, payloadHash: true },
  });
  if (!record) throw notFound(typeof missing === "string" ? missing : await missing());
  if (record.payloadHash !== hash || (actor.onlyMemberId && actor.onlyMemberId !== record.memberId)) {
    throw conflict("This idempotencyKey was already used for a different usage; use a new key for a new call.");
  }
  const member = await runtime.prisma.member.findUniqueOrThrow({
    where: { id: record.memberId },
    select: {
      hasOverride: true,
      overrideFloor: true,
      overrideCeiling: true,
      overrideUnlimitedCeiling: true,
      balances: { where: { kind: record.kind } },
      organization: { select: { policy: { select: { inferenceFloor: true, trainingFloor: true, ceiling: true } } } },
    },
  });
  const balance = member.balances[0]!;
  const policy = member.organization.policy ?? { inferenceFloor: 0n, trainingFloor: 0n, ceiling: null };
  return {
    id: record.id,
    memberId: record.memberId,
    modelId: record.modelId,
    tokens: record.tokens,
    cost: new Decimal(record.cost.toString()),
    balance: { ...balance, ...effectiveBounds(policy, member, record.kind) },
  };
}

// ---------------------------------------------------------------- release

/** OPEN → RELEASED and the tokens held go back; false when the reservation was already closed. */
export async function releaseReservation(runtime: Runtime, actor: UsageActor, reservationId: string): Promise<boolean> {
  const now = runtime.clock.now();
  const [balance] = await runtime.db.raw.prepared<BalanceRow>("release_reservation", RELEASE_SQL, [
    reservationId,
    actor.organizationId,
    actor.onlyMemberId,
    sqlTimestamp(now),
  ]);
  if (balance) {
    publishCommittedBalances(runtime, [balance]);
    return true;
  }
  const exists = await runtime.prisma.reservation.findFirst({
    where: { id: reservationId, organizationId: actor.organizationId, ...(actor.onlyMemberId ? { memberId: actor.onlyMemberId } : {}) },
    select: { id: true },
  });
  if (!exists) throw notFound("Reservation");
  return false;
}
