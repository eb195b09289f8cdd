// Token request rules: validation, the rate limit, auto-approval and which approvals the pool can cover. No I/O.
import type { TokenKind } from "../db/generated/enums.ts";
import { badInput } from "../errors.ts";
import { tokenAmount } from "../ledger/rules.ts";

/** Who decided a request (TokenRequestDecision.actorPrincipal). */
export type DecisionActor = "ADMIN" | "MEMBER" | "SYSTEM";

export const MAX_REASON_LENGTH = 1000;
export const MAX_NOTE_LENGTH = 1000;
/** Most ids one bulk decision may name; `allPending: true` has no such bound. */
export const MAX_DECISION_IDS = 1000;
export const RATE_WINDOW_SECONDS = 3600;

export function validateAmount(amount: number, field = "amount"): bigint {
  return tokenAmount(amount, field, { min: 1 });
}

/** Trimmed text, null when blank; longer than `max` is BAD_USER_INPUT naming `field`. */
export function validateText(text: string | null | undefined, field: string, max: number): string | null {
  const trimmed = text?.trim() ?? "";
  if (trimmed.length > max) throw badInput(field, `${field} must be at most ${max} characters (got ${trimmed.length}).`);
  return trimmed || null;
}

/** The unique key that allows one pending request per member and kind; null once decided. */
export function pendingKey(memberId: string, kind: TokenKind): string {
  return `${memberId}:${kind}`;
}

export interface RateDecision {
  allowed: boolean;
  /** Seconds until the oldest request in the window leaves it (0 when allowed). */
  retryAfterSeconds: number;
}

/**
 * At most `perHour` requests in any rolling hour. `recent` holds the creation times of the member's requests
 * in the hour before `now` (any order).
 */
export function rateLimit(recent: Date[], now: Date, perHour: number): RateDecision {
  const windowStart = now.getTime() - RATE_WINDOW_SECONDS * 1000;
  const inWindow = recent
    .map((at) => at.getTime())
    .filter((at) => at > windowStart)
    .sort((a, b) => a - b);
  if (inWindow.length < perHour) return { allowed: true, retryAfterSeconds: 0 };
  // The request that must leave the window before one more fits.
  const leaving = inWindow[inWindow.length - perHour]!;
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((leaving - windowStart) / 1000)) };
}

export interface AutoApproval {
  /** null: auto-approval off. */
  maxAmount: bigint | null;
  poolReserve: bigint;
}

/** A request is approved at once when it is small enough and the pool keeps the reserve after it. */
export function autoApproves(amount: bigint, pool: bigint, settings: AutoApproval): boolean {
  return settings.maxAmount !== null && amount <= settings.maxAmount && pool - amount >= settings.poolReserve;
}

export interface PendingApproval {
  id: string;
  amount: bigint;
}

export interface ApprovalPlan {
  approved: string[];
  /** Ids the pool could not cover when their turn came; they stay pending. */
  insufficient: string[];
  /** Tokens the approved requests take from the pool. */
  taken: bigint;
}

/**
 * Approves in the given order (oldest first) while the pool lasts: a request that does not fit is skipped
 * and stays pending, and later, smaller ones may still fit.
 */
export function planApprovals(requests: PendingApproval[], pool: bigint): ApprovalPlan {
  const plan: ApprovalPlan = { approved: [], insufficient: [], taken: 0n };
  for (const request of requests) {
    if (request.amount <= pool - plan.taken) {
      plan.approved.push(request.id);
      plan.taken += request.amount;
    } else {
      plan.insufficient.push(request.id);
    }
  }
  return plan;
}

export function ageSeconds(createdAt: Date, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - createdAt.getTime()) / 1000));
}
