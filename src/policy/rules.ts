// The distribution policy's rules: policy edits and their validation, bump sizes and triggers, fair fill,
// reclamation projections, rebalancing slots. Pure functions (no I/O, no clock): same inputs, same answer.
import type { PresetName, TokenKind } from "../db/generated/enums.ts";
import { badInput } from "../errors.ts";
import { tokenAmount } from "../ledger/rules.ts";
import { dayStart } from "../organizations/cycle.ts";
import { type FixedPresetName, type PolicyValues, PRESETS } from "./presets.ts";

const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;
const MAX_TOKENS = BigInt(Number.MAX_SAFE_INTEGER);

/** What `updateDistributionPolicy` and `previewDistribution` accept; absent (or null) fields keep their value. */
export interface PolicyInput {
  preset?: PresetName | null;
  inferenceFloor?: number | null;
  trainingFloor?: number | null;
  ceiling?: number | null;
  unlimitedCeiling?: boolean | null;
  autoIncrease?: boolean | null;
  triggerMode?: PolicyValues["triggerMode"] | null;
  triggerPercent?: number | null;
  cooldownMinutes?: number | null;
  bumpMethod?: PolicyValues["bumpMethod"] | null;
  bumpAmount?: number | null;
  bufferDays?: number | null;
  /** Explicit null clears it (no near-max bump). */
  nearMaxThreshold?: number | null;
  /** Explicit null clears it (no near-max bump). */
  nearMaxBump?: number | null;
  monthlyResetToFloor?: boolean | null;
  reclamation?: boolean | null;
  rebalanceFrequency?: PolicyValues["rebalanceFrequency"] | null;
}

export function presetPolicy(name: FixedPresetName): PolicyValues {
  return { ...PRESETS[name].policy };
}

/** The policy an admin activates: a fixed preset's values, or for CUSTOM the current values relabelled. */
export function activate(current: PolicyValues, preset: PresetName): PolicyValues {
  return preset === "CUSTOM" ? { ...current, preset: "CUSTOM" } : presetPolicy(preset);
}

const EDITABLE_FIELDS = [
  "inferenceFloor",
  "trainingFloor",
  "ceiling",
  "autoIncrease",
  "triggerMode",
  "triggerPercent",
  "cooldownMinutes",
  "bumpMethod",
  "bumpAmount",
  "bufferDays",
  "nearMaxThreshold",
  "nearMaxBump",
  "monthlyResetToFloor",
  "reclamation",
  "rebalanceFrequency",
] as const satisfies readonly (keyof PolicyValues)[];

/**
 * Applies an edit. The base is the named preset's values when `input.preset` names one (CUSTOM or absent:
 * the current values); every other given field then overrides the base. The result is labelled with the
 * base preset when no field differs from it, else CUSTOM. Throws BAD_USER_INPUT naming `${prefix}.<field>`
 * for the first invalid field; nothing is applied then.
 */
export function editPolicy(current: PolicyValues, input: PolicyInput, prefix = "policy"): PolicyValues {
  const base: PolicyValues = input.preset ? activate(current, input.preset) : { ...current };
  const next: PolicyValues = { ...base };
  const field = (name: string) => `${prefix}.${name}`;

  if (input.inferenceFloor != null) next.inferenceFloor = tokens(input.inferenceFloor, field("inferenceFloor"));
  if (input.trainingFloor != null) next.trainingFloor = tokens(input.trainingFloor, field("trainingFloor"));
  if (input.unlimitedCeiling === true) {
    if (input.ceiling != null) throw badInput(field("ceiling"), `${field("ceiling")} cannot be given with unlimitedCeiling: true.`);
    next.ceiling = null;
  } else if (input.ceiling != null) {
    next.ceiling = tokens(input.ceiling, field("ceiling"));
  } else if (input.unlimitedCeiling === false && next.ceiling === null) {
    throw badInput(field("ceiling"), `${field("ceiling")} is required when unlimitedCeiling is false.`);
  }
  if (input.autoIncrease != null) next.autoIncrease = input.autoIncrease;
  if (input.triggerMode != null) next.triggerMode = input.triggerMode;
  if (input.triggerPercent != null) next.triggerPercent = input.triggerPercent;
  if (input.cooldownMinutes != null) next.cooldownMinutes = input.cooldownMinutes;
  if (input.bumpMethod != null) next.bumpMethod = input.bumpMethod;
  if (input.bumpAmount != null) next.bumpAmount = input.bumpAmount;
  if (input.bufferDays != null) next.bufferDays = input.bufferDays;
  if (input.nearMaxThreshold !== undefined) next.nearMaxThreshold = input.nearMaxThreshold;
  if (input.nearMaxBump !== undefined) next.nearMaxBump = input.nearMaxBump;
  if (input.monthlyResetToFloor != null) next.monthlyResetToFloor = input.monthlyResetToFloor;
  if (input.reclamation != null) next.reclamation = input.reclamation;
  if (input.rebalanceFrequency != null) next.rebalanceFrequency = input.rebalanceFrequency;

  validatePolicy(next, prefix);
  const changed = EDITABLE_FIELDS.some((name) => next[name] !== base[name]);
  return { ...next, preset: changed ? "CUSTOM" : base.preset };
}

const tokens = (value: number, field: string): bigint => tokenAmount(value, field);

/** Checks every field of a complete policy; throws BAD_USER_INPUT naming the first bad one. */
export function validatePolicy(policy: PolicyValues, prefix = "policy"): void {
  const field = (name: string) => `${prefix}.${name}`;
  const highestFloor = max(policy.inferenceFloor, policy.trainingFloor);
  if (policy.ceiling !== null && policy.ceiling < highestFloor) {
    throw badInput(
      field("ceiling"),
      `${field("ceiling")} (${policy.ceiling}) must be at least the floors (${highestFloor}), or unlimited.`,
    );
  }
  if (!Number.isFinite(policy.triggerPercent) || policy.triggerPercent < 10 || policy.triggerPercent > 99) {
    throw badInput(field("triggerPercent"), `${field("triggerPercent")} must be from 10 to 99.`);
  }
  if (!Number.isSafeInteger(policy.cooldownMinutes) || policy.cooldownMinutes < 0 || policy.cooldownMinutes > 525_600) {
    throw badInput(field("cooldownMinutes"), `${field("cooldownMinutes")} must be a whole number of minutes from 0 to 525600 (a year).`);
  }
  validateBump(policy.bumpMethod, policy.bumpAmount, field("bumpAmount"));
  if (!Number.isInteger(policy.bufferDays) || policy.bufferDays < 0 || policy.bufferDays > 27) {
    throw badInput(field("bufferDays"), `${field("bufferDays")} must be a whole number of days from 0 to 27.`);
  }
  if (policy.nearMaxThreshold !== null) {
    if (!Number.isFinite(policy.nearMaxThreshold) || policy.nearMaxThreshold < 0 || policy.nearMaxThreshold > 1) {
      throw badInput(field("nearMaxThreshold"), `${field("nearMaxThreshold")} must be from 0.0 to 1.0.`);
    }
    if (policy.nearMaxBump === null) {
      throw badInput(field("nearMaxBump"), `${field("nearMaxBump")} is required with a nearMaxThreshold (or clear both).`);
    }
  }
  if (policy.nearMaxBump !== null) {
    if (policy.nearMaxThreshold === null) {
      throw badInput(field("nearMaxThreshold"), `${field("nearMaxThreshold")} is required with a nearMaxBump (or clear both).`);
    }
    validateBump(policy.bumpMethod, policy.nearMaxBump, field("nearMaxBump"));
  }
}

function validateBump(method: PolicyValues["bumpMethod"], amount: number, field: string): void {
  if (method === "FLAT") {
    tokenAmount(amount, field, { min: 1, hint: "FLAT bumps give at least one token" });
  } else if (!Number.isFinite(amount) || amount <= 0 || amount > 100) {
    throw badInput(field, `${field} must be a percent above 0 and at most 100 for ${method} bumps.`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Auto-increase

/** TIERED mode: usage percent at which each tier fires; tier n bumps n times the bump. */
export const TIERS = [75, 90, 99.9] as const;

export type TriggerPolicy = Pick<PolicyValues, "triggerMode" | "triggerPercent">;

/** used/limit ≥ percent, exactly (percent may have one decimal). A zero limit counts as reached once anything is used. */
function reached(limit: bigint, used: bigint, percent: number): boolean {
  if (limit <= 0n) return used > 0n;
  return used * 1000n >= BigInt(Math.round(percent * 10)) * limit;
}

/** The tier the balance sits in: 0 (below the trigger), 1 for FLAT_THRESHOLD at the trigger, 1-3 for TIERED. */
export function tierOf(policy: TriggerPolicy, limit: bigint, used: bigint): number {
  if (policy.triggerMode === "FLAT_THRESHOLD") return reached(limit, used, policy.triggerPercent) ? 1 : 0;
  let tier = 0;
  for (const [index, percent] of TIERS.entries()) if (reached(limit, used, percent)) tier = index + 1;
  return tier;
}

/** The lowest usage (in tokens) at which any trigger can fire: the hot path's early exit. */
export function triggerFloorPercent(policy: TriggerPolicy): number {
  return policy.triggerMode === "FLAT_THRESHOLD" ? policy.triggerPercent : TIERS[0];
}

export type BumpPolicy = Pick<PolicyValues, "bumpMethod" | "bumpAmount" | "nearMaxThreshold" | "nearMaxBump">;

/** Percent of `base`, rounded down to whole tokens (exact: the percent is fixed to 6 decimals). */
function percentOf(base: bigint, percent: number): bigint {
  if (base <= 0n) return 0n;
  return (base * BigInt(Math.round(percent * 1_000_000))) / 100_000_000n;
}

/** One bump before the ceiling and pool bound it: nearMaxBump replaces bumpAmount when limit ≥ threshold × ceiling. */
export function baseBump(policy: BumpPolicy, limit: bigint, used: bigint, ceiling: bigint | null): bigint {
  const nearMax =
    policy.nearMaxThreshold !== null &&
    policy.nearMaxBump !== null &&
    ceiling !== null &&
    limit * 1_000_000n >= BigInt(Math.round(policy.nearMaxThreshold * 1_000_000)) * ceiling;
  const amount = nearMax ? policy.nearMaxBump! : policy.bumpAmount;
  switch (policy.bumpMethod) {
    case "FLAT":
      return BigInt(Math.floor(amount));
    case "PERCENT_OF_CURRENT":
      return percentOf(limit, amount);
    case "PERCENT_OF_REMAINING":
      return percentOf(limit - used, amount);
  }
}

/** Bounds a bump by the room under the ceiling and by what the pool has (never negative). */
export function boundBump(bump: bigint, limit: bigint, ceiling: bigint | null, pool: bigint): bigint {
  let bounded = bump;
  if (ceiling !== null) bounded = min(bounded, ceiling - limit);
  bounded = min(bounded, pool, MAX_TOKENS - limit);
  return bounded > 0n ? bounded : 0n;
}

export interface BumpState {
  limit: bigint;
  used: bigint;
  ceiling: bigint | null;
  lastAutoIncreaseAt: Date | null;
  /** Tier the last bump left the balance in (TIERED); 0 after a reset. */
  lastTier: number;
  /** Cycle start of the last pre-emptive bump, if any. */
  preemptiveBumpCycle: Date | null;
  /** Suspended or excluded by override. */
  skipped: boolean;
}

export interface CycleWindow {
  start: Date;
  end: Date;
}

export type BumpPolicyFull = Pick<
  PolicyValues,
  | "autoIncrease"
  | "triggerMode"
  | "triggerPercent"
  | "cooldownMinutes"
  | "bumpMethod"
  | "bumpAmount"
  | "bufferDays"
  | "nearMaxThreshold"
  | "nearMaxBump"
>;

export interface BumpDecision {
  /** Tokens wanted before the pool bounds it (the ceiling already applied); 0: nothing due. */
  amount: bigint;
  reason: "TRIGGER" | "PREEMPTIVE";
  /** Tier reached (TRIGGER); used to compute lastTier after the bump. */
  tier: number;
}

/** Whether the balance's cooldown has passed at `now`. */
export function cooledDown(policy: Pick<PolicyValues, "cooldownMinutes">, lastAutoIncreaseAt: Date | null, now: Date): boolean {
  return lastAutoIncreaseAt === null || now.getTime() - lastAutoIncreaseAt.getTime() >= policy.cooldownMinutes * MINUTE_MS;
}

/** Within bufferDays of the cycle end. */
export function inBufferDays(policy: Pick<PolicyValues, "bufferDays">, cycle: CycleWindow, now: Date): boolean {
  return policy.bufferDays > 0 && now.getTime() >= cycle.end.getTime() - policy.bufferDays * DAY_MS && now < cycle.end;
}

/** Linear projection of the cycle's use: used / elapsed × cycle length (elapsed at least one minute). */
export function projectedUse(used: bigint, cycle: CycleWindow, now: Date): bigint {
  const elapsed = BigInt(Math.max(now.getTime() - cycle.start.getTime(), MINUTE_MS));
  const length = BigInt(cycle.end.getTime() - cycle.start.getTime());
  return ceilDiv(used * length, elapsed);
}

/**
 * The auto-increase due for one balance (before the pool bounds it). A trigger bump needs the tier to be
 * above the tier the last bump left the balance in and the cooldown passed; otherwise, within bufferDays of
 * the cycle end, a balance projected to pass its limit gets one pre-emptive bump per cycle.
 */
export function bumpDue(policy: BumpPolicyFull, state: BumpState, cycle: CycleWindow, now: Date): BumpDecision | null {
  if (!policy.autoIncrease || state.skipped) return null;
  if (state.ceiling !== null && state.limit >= state.ceiling) return null;
  const tier = tierOf(policy, state.limit, state.used);
  const lastTier = policy.triggerMode === "TIERED" ? Math.min(state.lastTier, tier) : 0;
  if (tier > lastTier && cooledDown(policy, state.lastAutoIncreaseAt, now)) {
    const amount = boundBump(
      baseBump(policy, state.limit, state.used, state.ceiling) * BigInt(tier),
      state.limit,
      state.ceiling,
      MAX_TOKENS,
    );
    if (amount > 0n) return { amount, reason: "TRIGGER", tier };
  }
  const alreadyPreempted = state.preemptiveBumpCycle !== null && state.preemptiveBumpCycle.getTime() === cycle.start.getTime();
  if (!alreadyPreempted && inBufferDays(policy, cycle, now) && projectedUse(state.used, cycle, now) > state.limit) {
    const amount = boundBump(baseBump(policy, state.limit, state.used, state.ceiling), state.limit, state.ceiling, MAX_TOKENS);
    if (amount > 0n) return { amount, reason: "PREEMPTIVE", tier };
  }
  return null;
}

/** The tier a balance sits in after its limit grew to `limit` (what the next trigger must exceed). */
export function tierAfter(policy: TriggerPolicy, limit: bigint, used: bigint): number {
  return policy.triggerMode === "TIERED" ? tierOf(policy, limit, used) : 0;
}

// ---------------------------------------------------------------------------------------------------------
// Fair fill, distribution, reclamation

/**
 * Shares `available` tokens among needs fairly: every need gets the same amount until it is met or the
 * tokens run out (a water level); the few tokens left below one per open need go one each, in the given order.
 * Returns the grant per need (same order); Σ grants = min(available, Σ needs).
 */
export function fairFill(needs: readonly bigint[], available: bigint): bigint[] {
  const total = needs.reduce((sum, need) => sum + (need > 0n ? need : 0n), 0n);
  if (available >= total) return needs.map((need) => (need > 0n ? need : 0n));
  if (available <= 0n) return needs.map(() => 0n);
  const sorted = needs.filter((need) => need > 0n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let left = available;
  let open = BigInt(sorted.length);
  let level = 0n;
  for (const need of sorted) {
    const step = need - level;
    if (step * open <= left) {
      left -= step * open;
      level = need;
      open -= 1n;
    } else {
      level += left / open;
      left %= open;
      break;
    }
  }
  const grants = needs.map((need) => (need <= 0n ? 0n : min(need, level)));
  for (let index = 0; index < needs.length && left > 0n; index++) {
    if (needs[index]! > grants[index]!) {
      grants[index]! += 1n;
      left -= 1n;
    }
  }
  return grants;
}

/** distributeNow's target: the ceiling, or the floor where the ceiling is unlimited. */
export function distributionTarget(bounds: { floor: bigint; ceiling: bigint | null }): bigint {
  return bounds.ceiling ?? bounds.floor;
}

export interface FillPlan {
  grants: bigint[];
  /** Tokens the needs ask beyond what is available (0 if they fit). */
  shortfall: bigint;
}

/** Raises each limit towards its target (never lowers one), fairly when `available` is short. */
export function planFill(items: readonly { limit: bigint; target: bigint }[], available: bigint): FillPlan {
  const needs = items.map((item) => (item.target > item.limit ? item.target - item.limit : 0n));
  const total = needs.reduce((sum, need) => sum + need, 0n);
  const pool = available > 0n ? available : 0n;
  return { grants: fairFill(needs, pool), shortfall: total > pool ? total - pool : 0n };
}

export interface ReclamationInput {
  limit: bigint;
  used: bigint;
  reserved: bigint;
  floor: bigint;
}

/**
 * Projected need = used + (used / elapsed) × time left, plus 10 %, at least the floor — and never below what
 * is used and reserved, so open reservations stay covered. Null in the cycle's first day (too early to judge).
 */
export function projectedNeed(balance: Omit<ReclamationInput, "limit">, cycle: CycleWindow, now: Date): bigint | null {
  const elapsed = now.getTime() - cycle.start.getTime();
  if (elapsed < DAY_MS) return null;
  const length = BigInt(cycle.end.getTime() - cycle.start.getTime());
  const projected = ceilDiv(balance.used * length * 11n, BigInt(elapsed) * 10n);
  return max(projected, balance.floor, balance.used + balance.reserved);
}

/** Tokens above the projected need (0 when none, in the first day, or when excluded). */
export function reclaimable(
  balance: ReclamationInput,
  cycle: CycleWindow,
  now: Date,
): { projectedNeed: bigint; reclaimable: bigint } | null {
  const need = projectedNeed(balance, cycle, now);
  if (need === null || balance.limit <= need) return null;
  return { projectedNeed: need, reclaimable: balance.limit - need };
}

// ---------------------------------------------------------------------------------------------------------
// Floors: "the minimum a user can hold at any time"

/** A limit an admin sets is never below the member's floor (an override floor is how a restricted account gets less). */
export function assertAtLeastFloor(limit: bigint, floor: bigint, field: string): void {
  if (limit < floor) {
    throw badInput(field, `${field} (${limit}) is below the member's floor (${floor}); set an override floor to give this member less.`);
  }
}

/** No policy floor may be below the organisation's minimumFloor. */
export function assertPolicyFloorsAtLeast(
  policy: Pick<PolicyValues, "inferenceFloor" | "trainingFloor">,
  minimumFloor: bigint,
  field: (name: "inferenceFloor" | "trainingFloor") => string,
): void {
  for (const name of ["inferenceFloor", "trainingFloor"] as const) {
    if (policy[name] < minimumFloor) {
      throw badInput(field(name), `${field(name)} (${policy[name]}) is below the organisation's minimum floor (${minimumFloor}).`);
    }
  }
}

/** The policy with its floors (and a ceiling below them) raised to `minimumFloor`; the same object when none is below. */
export function raisePolicyFloors(policy: PolicyValues, minimumFloor: bigint): PolicyValues {
  if (policy.inferenceFloor >= minimumFloor && policy.trainingFloor >= minimumFloor) return policy;
  return {
    ...policy,
    preset: "CUSTOM",
    inferenceFloor: max(policy.inferenceFloor, minimumFloor),
    trainingFloor: max(policy.trainingFloor, minimumFloor),
    ceiling: policy.ceiling === null ? null : max(policy.ceiling, minimumFloor),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Cycle reset

/** The limit a member starts a new cycle with: its floor, or (monthlyResetToFloor off) its limit, never below the floor. */
export function resetTarget(balance: { limit: bigint; floor: bigint }, monthlyResetToFloor: boolean): bigint {
  return monthlyResetToFloor ? balance.floor : max(balance.limit, balance.floor);
}

export interface ResetInput {
  limit: bigint;
  used: bigint;
  /** Limit the member starts the new cycle with: the floor, or its current limit. */
  target: bigint;
}

export interface ResetPlan {
  /** Per member: what the closing cycle consumed (min(used, limit)), the overdraft, the new limit. */
  members: { consumed: bigint; overdraft: bigint; newLimit: bigint; poolDelta: bigint }[];
  consumed: bigint;
  shortfall: bigint;
  poolAfter: bigint;
}

/**
 * Closes a cycle: each member's consumption (at most its limit) leaves the books, the unused rest returns to
 * the pool, and the new limits are taken from it — fairly when the pool cannot cover every target.
 */
export function planReset(members: readonly ResetInput[], pool: bigint): ResetPlan {
  const closing = members.map((member) => {
    const consumed = min(member.used > 0n ? member.used : 0n, member.limit);
    return { consumed, overdraft: member.used > member.limit ? member.used - member.limit : 0n, freed: member.limit - consumed };
  });
  const available = pool + closing.reduce((sum, member) => sum + member.freed, 0n);
  const plan = planFill(
    members.map((member) => ({ limit: 0n, target: member.target })),
    available,
  );
  let poolAfter = available;
  const planned = closing.map((member, index) => {
    const newLimit = plan.grants[index]!;
    poolAfter -= newLimit;
    return { consumed: member.consumed, overdraft: member.overdraft, newLimit, poolDelta: member.freed - newLimit };
  });
  return { members: planned, consumed: closing.reduce((sum, member) => sum + member.consumed, 0n), shortfall: plan.shortfall, poolAfter };
}

// ---------------------------------------------------------------------------------------------------------
// Scheduling

/** Start of the rebalancing slot containing `at` (UTC hours, days, or weeks from Monday); null when OFF. */
export function rebalanceSlot(frequency: PolicyValues["rebalanceFrequency"], at: Date): Date | null {
  const day = dayStart(at).getTime();
  switch (frequency) {
    case "OFF":
      return null;
    case "HOURLY":
      return new Date(day + at.getUTCHours() * 3_600_000);
    case "DAILY":
      return new Date(day);
    case "WEEKLY":
      return new Date(day - ((at.getUTCDay() + 6) % 7) * DAY_MS);
  }
}

/** The next slot after the one containing `at`. */
export function nextRebalance(frequency: PolicyValues["rebalanceFrequency"], at: Date): Date | null {
  const slot = rebalanceSlot(frequency, at);
  if (!slot) return null;
  const length = frequency === "HOURLY" ? 3_600_000 : frequency === "DAILY" ? DAY_MS : 7 * DAY_MS;
  return new Date(slot.getTime() + length);
}

export function floorOf(policy: Pick<PolicyValues, "inferenceFloor" | "trainingFloor">, kind: TokenKind): bigint {
  return kind === "INFERENCE" ? policy.inferenceFloor : policy.trainingFloor;
}

// Math.min and Math.max do not take bigints.
function min(first: bigint, ...rest: bigint[]): bigint {
  // biome-ignore lint/complexity/useMathMinMax: bigint
  return rest.reduce((low, value) => (value < low ? value : low), first);
}

function max(first: bigint, ...rest: bigint[]): bigint {
  // biome-ignore lint/complexity/useMathMinMax: bigint
  return rest.reduce((high, value) => (value > high ? value : high), first);
}

function ceilDiv(numerator: bigint, denominator: bigint): bigint {
  return (numerator + denominator - 1n) / denominator;
}
