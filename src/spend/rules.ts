// Pure rules of model spend: shares and ratio of the cycle summary, threshold crossings, analytics ranges,
// time to first value, and CSV fields. No I/O.
import { Decimal } from "decimal.js";
import { badInput } from "../errors.ts";

const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------------------
// The cycle summary

export interface ModelTotals<M> {
  model: M;
  spend: Decimal;
  requests: number;
  tokens: bigint;
}

export interface ModelShare<M> extends ModelTotals<M> {
  /** Share of the cycle's total spend, 0-100, rounded to 2 decimals. */
  percent: number;
}

export interface SpendSummaryView<M> {
  cycleStart: Date;
  cycleEnd: Date;
  spent: Decimal;
  planBudget: Decimal;
  overageLimit: Decimal;
  ratio: number;
  byModel: ModelShare<M>[];
}

/** spent / (planBudget + overageLimit), 0 when nothing is allowed (no plan set); not capped at 1. */
export function spendRatio(spent: Decimal.Value, planBudget: Decimal.Value, overageLimit: Decimal.Value): number {
  const allowance = new Decimal(planBudget).plus(overageLimit);
  if (allowance.lte(0)) return 0;
  return new Decimal(spent).div(allowance).toDecimalPlaces(6, Decimal.ROUND_HALF_UP).toNumber();
}

/** Each model's share of `total` in percent; 0 for all when nothing was spent. */
export function percentOf(part: Decimal.Value, total: Decimal.Value): number {
  const whole = new Decimal(total);
  if (whole.lte(0)) return 0;
  return new Decimal(part).div(whole).times(100).toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toNumber();
}

/**
 * The summary the Token limits tab shows: every model of the organisation with its cycle spend, most
 * expensive first (then most requests, then key), and the total against the plan envelope.
 */
export function summarizeSpend<M extends { key: string }>(input: {
  cycleStart: Date;
  cycleEnd: Date;
  planBudget: Decimal.Value;
  overageLimit: Decimal.Value;
  models: ModelTotals<M>[];
}): SpendSummaryView<M> {
  const spent = input.models.reduce((sum, row) => sum.plus(row.spend), new Decimal(0));
  const byModel = input.models
    .map((row) => ({ ...row, percent: percentOf(row.spend, spent) }))
    .sort(
      (a, b) =>
        b.spend.comparedTo(a.spend) || b.requests - a.requests || (a.model.key < b.model.key ? -1 : a.model.key > b.model.key ? 1 : 0),
    );
  return {
    cycleStart: input.cycleStart,
    cycleEnd: input.cycleEnd,
    spent,
    planBudget: new Decimal(input.planBudget),
    overageLimit: new Decimal(input.overageLimit),
    ratio: spendRatio(spent, input.planBudget, input.overageLimit),
    byModel,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Spend thresholds

export const MAX_THRESHOLDS = 20;
export const MAX_THRESHOLD_PERCENT = 1000;

/**
 * The percents an admin sets, validated, deduplicated and sorted. Above 100 is allowed: spend may pass the
 * envelope or a cap by what was already reserved, and usage recorded after the fact is never dropped.
 */
export function normalizeThresholdPercents(percents: readonly number[], field = "percents"): number[] {
  if (percents.length > MAX_THRESHOLDS) throw badInput(field, `At most ${MAX_THRESHOLDS} thresholds per scope; got ${percents.length}.`);
  const seen = new Set<number>();
  for (const [index, percent] of percents.entries()) {
    if (!Number.isFinite(percent) || percent <= 0 || percent > MAX_THRESHOLD_PERCENT) {
      throw badInput(`${field}[${index}]`, `A threshold is a percent above 0 and at most ${MAX_THRESHOLD_PERCENT}; got ${percent}.`);
    }
    if (new Decimal(percent).decimalPlaces() > 2) {
      throw badInput(`${field}[${index}]`, `A threshold has at most 2 decimals; got ${percent}.`);
    }
    seen.add(percent);
  }
  return [...seen].sort((a, b) => a - b);
}

/** The money at which a threshold fires: percent of the envelope or cap; null when there is none (no cap, no plan). */
export function thresholdAmount(percent: number, base: Decimal.Value | null): Decimal | null {
  if (base === null) return null;
  const amount = new Decimal(base);
  if (amount.lte(0)) return null;
  return amount.times(percent).div(100);
}

export interface ThresholdRule {
  id: string;
  /** null: the organisation's envelope (planBudget + overageLimit). */
  modelId: string | null;
  percent: number;
}

export interface SpendStanding {
  organizationSpend: Decimal.Value;
  /** planBudget + overageLimit. */
  envelope: Decimal.Value;
  modelId: string;
  modelSpend: Decimal.Value;
  /** The charged model's cap; null when uncapped. */
  cap: Decimal.Value | null;
}

/** Thresholds relevant to a charge on `modelId`: the organisation's and that model's. */
export function relevantThresholds<T extends ThresholdRule>(thresholds: readonly T[], modelId: string): T[] {
  return thresholds.filter((threshold) => threshold.modelId === null || threshold.modelId === modelId);
}

/** The thresholds (of those given) that the standing has reached. */
export function reachedThresholds<T extends ThresholdRule>(thresholds: readonly T[], standing: SpendStanding): T[] {
  return thresholds.filter((threshold) => {
    if (threshold.modelId !== null && threshold.modelId !== standing.modelId) return false;
    const amount =
      threshold.modelId === null ? thresholdAmount(threshold.percent, standing.envelope) : thresholdAmount(threshold.percent, standing.cap);
    const spend = threshold.modelId === null ? standing.organizationSpend : standing.modelSpend;
    return amount !== null && new Decimal(spend).gte(amount);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Analytics ranges

export interface TimeRange {
  from: Date;
  to: Date;
}

/** The range asked for; missing ends default to the current cycle's. */
export function resolveRange(from: Date | null | undefined, to: Date | null | undefined, cycle: { start: Date; end: Date }): TimeRange {
  const range = { from: from ?? cycle.start, to: to ?? cycle.end };
  if (range.from.getTime() >= range.to.getTime()) {
    throw badInput(from ? "from" : "to", `from (${range.from.toISOString()}) must be before to (${range.to.toISOString()}).`);
  }
  return range;
}

export function utcDayFloor(at: Date): Date {
  return new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS);
}

export function utcDayCeil(at: Date): Date {
  return new Date(Math.ceil(at.getTime() / DAY_MS) * DAY_MS);
}

/** Which parts of a range come from the daily rollup and which from usage rows. */
export interface RangePlan {
  /** Whole UTC days, all before the rollup cursor; null when none. */
  rollup: TimeRange | null;
  /** Partial days at the ends and everything not yet rolled up; at most two, disjoint. */
  raw: TimeRange[];
}

/**
 * Splits [from, to) into whole days already in the rollup (every day before `rolledThrough`) and the rest,
 * read from usage rows. The parts are disjoint and together cover exactly [from, to).
 */
export function planRange(range: TimeRange, rolledThrough: Date | null): RangePlan {
  const start = utcDayCeil(range.from);
  const end = rolledThrough ? new Date(Math.min(utcDayFloor(range.to).getTime(), utcDayFloor(rolledThrough).getTime())) : null;
  if (!end || start.getTime() >= end.getTime()) return { rollup: null, raw: [range] };
  const raw: TimeRange[] = [];
  if (range.from.getTime() < start.getTime()) raw.push({ from: range.from, to: start });
  if (end.getTime() < range.to.getTime()) raw.push({ from: end, to: range.to });
  return { rollup: { from: start, to: end }, raw };
}

/** The last day a rollup run may close: days ending more than `graceMs` ago can no longer receive usage. */
export function rollupTarget(now: Date, graceMs: number): Date {
  return utcDayFloor(new Date(now.getTime() - graceMs));
}

// ---------------------------------------------------------------------------------------------------------
// Time to first value

export interface FirstValueBucket {
  label: string;
  minSeconds: number;
  /** Exclusive; null: open-ended. */
  maxSeconds: number | null;
  members: number;
}

const BUCKETS: Omit<FirstValueBucket, "members">[] = [
  { label: "under 1 hour", minSeconds: 0, maxSeconds: 3600 },
  { label: "1 to 24 hours", minSeconds: 3600, maxSeconds: 86_400 },
  { label: "1 to 7 days", minSeconds: 86_400, maxSeconds: 7 * 86_400 },
  { label: "7 to 30 days", minSeconds: 7 * 86_400, maxSeconds: 30 * 86_400 },
  { label: "30 days or more", minSeconds: 30 * 86_400, maxSeconds: null },
];

/** Seconds from a member's creation to its first usage; null while it has none. Never negative (clock skew). */
export function secondsToFirstValue(createdAt: Date, firstUsageAt: Date | null): number | null {
  if (!firstUsageAt) return null;
  return Math.max(0, (firstUsageAt.getTime() - createdAt.getTime()) / 1000);
}

/** The median (mean of the two middle values for an even count); null for no values. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function firstValueDistribution(seconds: readonly number[]): FirstValueBucket[] {
  return BUCKETS.map((bucket) => ({
    ...bucket,
    members: seconds.filter((value) => value >= bucket.minSeconds && (bucket.maxSeconds === null || value < bucket.maxSeconds)).length,
  }));
}

// ---------------------------------------------------------------------------------------------------------
// CSV (RFC 4180)

export const USAGE_CSV_COLUMNS = [
  "timestamp",
  "member email",
  "team",
  "model",
  "kind",
  "input tokens",
  "output tokens",
  "cost",
  "app",
  "assistant",
] as const;

const NEEDS_QUOTES = /[",\r\n]/;
/** A cell a spreadsheet would run as a formula (OWASP, "CSV Injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A field as RFC 4180 writes it: quoted (inner quotes doubled) when it holds a comma, quote or line break. A cell a
 * spreadsheet would take for a formula is neutralised as OWASP advises: prefixed with a single quote, and quoted.
 */
export function csvField(value: string | null | undefined): string {
  if (value === null || value === undefined) return "";
  if (FORMULA_START.test(value)) return `"'${value.replaceAll('"', '""')}"`;
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One record, CRLF-terminated. */
export function csvRecord(fields: readonly (string | null | undefined)[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}

/**
 * A stored decimal as the API writes money ("12.50", "0.00012"): at least two decimals, no trailing zeros
 * beyond. Works on the text (no Decimal per row) because the export writes millions of them.
 */
export function moneyText(stored: string): string {
  const dot = stored.indexOf(".");
  if (dot === -1) return `${stored}.00`;
  let end = stored.length;
  while (end > dot + 3 && stored.charCodeAt(end - 1) === 48) end--;
  const text = stored.slice(0, end);
  return end - dot === 2 ? `${text}0` : end - dot === 1 ? `${text}00` : text;
}
