// The operator's plan and the admins' confirmation of it. Pure; no I/O.
import { Decimal } from "decimal.js";

export interface Overage {
  overageLimit: Decimal;
  pendingOverageLimit: Decimal | null;
}

/**
 * Overage is "set by the operator, confirmed by admins": an overage above the one in force waits as pending
 * until an admin accepts it; one at or below it applies at once (and withdraws any pending one).
 */
export function offerOverage(current: Overage, offered: Decimal.Value): Overage {
  const next = new Decimal(offered);
  if (next.gt(current.overageLimit)) return { overageLimit: current.overageLimit, pendingOverageLimit: next };
  return { overageLimit: next, pendingOverageLimit: null };
}

/** The pending overage becomes the one in force. Null when none is pending. */
export function acceptPendingOverage(current: Overage): Overage | null {
  if (current.pendingOverageLimit === null) return null;
  return { overageLimit: current.pendingOverageLimit, pendingOverageLimit: null };
}
