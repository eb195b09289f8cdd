// The usage decisions as pure functions: cost of a call, when a model is capped, where a capped call
// falls back to, and the ordered checks of authorizeUsage. No I/O; the service feeds them a snapshot.
import { Decimal } from "decimal.js";

/** Enough precision for 2^53 tokens times a price of 14 integer and 8 fractional digits. */
const Exact = Decimal.clone({ precision: 64, rounding: Decimal.ROUND_HALF_UP });

/** Money is stored with 8 decimals; costs are rounded half away from zero to that (as PostgreSQL's round()). */
export const MONEY_DECIMALS = 8;

/** The most any token total may reach: what a client reads exactly as a JSON number (2^53-1, SafeInt). */
export const MAX_TOKEN_TOTAL = Number.MAX_SAFE_INTEGER;
/** Costs are stored as DECIMAL(24, 8): every cost total stays below 10^16. */
export const MAX_COST_TOTAL = "10000000000000000";
/**
 * The most tokens one call may report (input and output each) or reserve. No model call comes near it, and it keeps
 * a call's cost (at most 2 × 10^9 tokens × 10^12 per million) within the cost columns.
 */
export const MAX_TOKENS_PER_CALL = 1_000_000_000;

export type DenialReason =
  | "MEMBER_SUSPENDED"
  | "MODEL_DISABLED"
  | "BUDGET_EXHAUSTED"
  | "MODEL_CAP_REACHED"
  | "INSUFFICIENT_BALANCE"
  | "DAILY_LIMIT_REACHED"
  | "MONTHLY_LIMIT_REACHED";

export interface PricedModel {
  id: string;
  key: string;
  inputPricePerMillion: Decimal.Value;
  outputPricePerMillion: Decimal.Value;
  enabled: boolean;
  /** null: no cap. */
  cap: Decimal.Value | null;
}

/** A model with what counts against its cap this cycle. */
export interface ModelStanding extends PricedModel {
  cycleSpend: Decimal.Value;
  /** Estimated cost of the model's open reservations. */
  openReservationCost: Decimal.Value;
}

/** Cost of a call: input and output tokens at the model's prices per million, rounded to 8 decimals. */
export function usageCost(
  inputTokens: bigint | number,
  outputTokens: bigint | number,
  model: Pick<PricedModel, "inputPricePerMillion" | "outputPricePerMillion">,
): Decimal {
  const input = new Exact(inputTokens.toString()).times(new Exact(model.inputPricePerMillion.toString()));
  const output = new Exact(outputTokens.toString()).times(new Exact(model.outputPricePerMillion.toString()));
  return new Decimal(input.plus(output).div(1_000_000).toDecimalPlaces(MONEY_DECIMALS, Decimal.ROUND_HALF_UP).toFixed());
}

/** What a reservation holds against the cap: every estimated token at the model's higher price. */
export function reservationCost(
  tokens: bigint | number,
  model: Pick<PricedModel, "inputPricePerMillion" | "outputPricePerMillion">,
): Decimal {
  const input = new Exact(model.inputPricePerMillion.toString());
  const output = new Exact(model.outputPricePerMillion.toString());
  const price = Decimal.max(input, output);
  return new Decimal(
    new Exact(tokens.toString()).times(price).div(1_000_000).toDecimalPlaces(MONEY_DECIMALS, Decimal.ROUND_HALF_UP).toFixed(),
  );
}

/** Input plus output price: how "expensive" a model is when choosing a fallback. */
export function combinedPrice(model: Pick<PricedModel, "inputPricePerMillion" | "outputPricePerMillion">): Decimal {
  return new Exact(model.inputPricePerMillion.toString()).plus(new Exact(model.outputPricePerMillion.toString()));
}

/** A model is capped when its cycle spend plus the estimated cost of its open reservations reaches its cap. */
export function isCapped(model: ModelStanding): boolean {
  if (model.cap === null) return false;
  return new Exact(model.cycleSpend.toString()).plus(new Exact(model.openReservationCost.toString())).gte(new Exact(model.cap.toString()));
}

/**
 * The most expensive enabled, uncapped model that is strictly cheaper (input + output price) than `requested`.
 * Ties on price go to the smallest key, so the choice never depends on row order.
 */
export function fallbackFor(requested: PricedModel, models: readonly ModelStanding[]): ModelStanding | null {
  const ceiling = combinedPrice(requested);
  let best: ModelStanding | null = null;
  for (const model of models) {
    if (model.id === requested.id || !model.enabled || isCapped(model)) continue;
    const price = combinedPrice(model);
    if (!price.lt(ceiling)) continue;
    if (!best) {
      best = model;
      continue;
    }
    const bestPrice = combinedPrice(best);
    if (price.gt(bestPrice) || (price.eq(bestPrice) && model.key < best.key)) best = model;
  }
  return best;
}

/**
 * Whether the organisation's cycle spend has used up planBudget + overageLimit. An organisation whose plan
 * was never set (both 0) has no budget configured and is not refused on spend.
 */
export function budgetExhausted(cycleSpend: Decimal.Value, planBudget: Decimal.Value, overageLimit: Decimal.Value): boolean {
  const allowance = new Exact(planBudget.toString()).plus(new Exact(overageLimit.toString()));
  if (allowance.isZero()) return false;
  return new Exact(cycleSpend.toString()).gte(allowance);
}

/** Tokens counted against the daily draw limit: today's use, or nothing when the last use was another day. */
export function usedToday(usedOnDay: bigint, usedDay: Date | null, today: Date): bigint {
  return usedDay !== null && sameUtcDay(usedDay, today) ? usedOnDay : 0n;
}

function sameUtcDay(a: Date, b: Date): boolean {
  return a.getUTCFullYear() === b.getUTCFullYear() && a.getUTCMonth() === b.getUTCMonth() && a.getUTCDate() === b.getUTCDate();
}

export interface DrawLimits {
  daily: bigint | null;
  monthly: bigint | null;
}

/** The member's own draw limits when it has an override, else the organisation's defaults. */
export function limitsInForce(
  member: { hasLimitsOverride: boolean; dailyLimit: bigint | null; monthlyLimit: bigint | null },
  defaults: DrawLimits,
): DrawLimits {
  return member.hasLimitsOverride ? { daily: member.dailyLimit, monthly: member.monthlyLimit } : defaults;
}

export interface AuthorizationSnapshot {
  suspended: boolean;
  /** The model asked for; null when the organisation has no model with that key. */
  requested: ModelStanding | null;
  models: readonly ModelStanding[];
  organizationSpend: Decimal.Value;
  planBudget: Decimal.Value;
  overageLimit: Decimal.Value;
  automaticFallback: boolean;
  balance: { limit: bigint; used: bigint; reserved: bigint; usedOnDay: bigint; usedDay: Date | null };
  limits: DrawLimits;
  estimatedTokens: bigint;
  now: Date;
}

export type AuthorizationDecision =
  | { allowed: true; routed: ModelStanding; fellBack: boolean }
  | { allowed: false; reason: DenialReason; routed: ModelStanding | null; fellBack: boolean };

/** The checks of authorizeUsage, in the contract's order; the first that fails is the answer. */
export function decideAuthorization(snapshot: AuthorizationSnapshot): AuthorizationDecision {
  const deny = (reason: DenialReason, routed: ModelStanding | null = null, fellBack = false): AuthorizationDecision => ({
    allowed: false,
    reason,
    routed,
    fellBack,
  });
  if (snapshot.suspended) return deny("MEMBER_SUSPENDED");
  const requested = snapshot.requested;
  if (!requested?.enabled) return deny("MODEL_DISABLED");
  if (budgetExhausted(snapshot.organizationSpend, snapshot.planBudget, snapshot.overageLimit)) return deny("BUDGET_EXHAUSTED");

  let routed = requested;
  let fellBack = false;
  if (isCapped(requested)) {
    const fallback = snapshot.automaticFallback ? fallbackFor(requested, snapshot.models) : null;
    if (!fallback) return deny("MODEL_CAP_REACHED");
    routed = fallback;
    fellBack = true;
  }

  const { balance, estimatedTokens } = snapshot;
  if (balance.limit - balance.used - balance.reserved < estimatedTokens) return deny("INSUFFICIENT_BALANCE", routed, fellBack);
  const { daily, monthly } = snapshot.limits;
  if (daily !== null && usedToday(balance.usedOnDay, balance.usedDay, snapshot.now) + estimatedTokens > daily) {
    return deny("DAILY_LIMIT_REACHED", routed, fellBack);
  }
  if (monthly !== null && balance.used + estimatedTokens > monthly) return deny("MONTHLY_LIMIT_REACHED", routed, fellBack);
  return { allowed: true, routed, fellBack };
}
