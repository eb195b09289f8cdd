// Auto-increase: after usage charges (an after-charge hook of the hot path) and on rebalancing runs.
import type { TokenKind } from "../db/generated/enums.ts";
import { moveAllocations } from "../ledger/allocations.ts";
import { lockPool } from "../ledger/balances.ts";
import type { Tx } from "../ledger/tx.ts";
import { cycleAt } from "../organizations/cycle.ts";
import type { PendingEvents } from "../pubsub.ts";
import type { AfterChargeHook } from "../usage/after-charge.ts";
import { loadPolicyBalances, type PolicyBalance } from "./balances.ts";
import type { PolicyValues } from "./presets.ts";
import { type BumpDecision, bumpDue, type CycleWindow, fairFill, inBufferDays, projectedUse, tierAfter, tierOf } from "./rules.ts";

/** Gives the bumps that charges made due; the hot path costs no query when none is (the policy is cached). */
export const autoIncreaseAfterCharge: AfterChargeHook = {
  name: "auto-increase",
  async plan(runtime, { balances }) {
    const now = runtime.clock.now();
    const runs: AutoIncreaseRun[] = [];
    for (const balance of balances) {
      const cached = await runtime.policies.get(balance.organizationId);
      if (!cached?.policy.autoIncrease) continue;
      const { policy } = cached;
      const cycle = cycleAt(cached.cycleAnchorDay, now);
      const triggered = tierOf(policy, balance.limit, balance.used) > 0;
      const projectedOver = inBufferDays(policy, cycle, now) && projectedUse(balance.used, cycle, now) > balance.limit;
      if (triggered || projectedOver) {
        runs.push({ organizationId: balance.organizationId, kind: balance.kind, policy, cycle, now, memberId: balance.memberId });
      }
    }
    if (runs.length === 0) return null;
    return async (tx, events) => {
      for (const run of runs) await autoIncrease(tx, run, events);
    };
  },
};

export interface AutoIncreaseRun {
  organizationId: string;
  kind: TokenKind;
  policy: PolicyValues;
  cycle: CycleWindow;
  now: Date;
  /** One member (the hot path); all of the organisation's members when absent. */
  memberId?: string;
  reference?: string | null;
}

export interface AutoIncreaseOutcome {
  members: number;
  tokens: bigint;
  /** Tokens the due bumps wanted beyond what the pool had. */
  shortfall: bigint;
}

/**
 * Gives every due bump (see `bumpDue`), bounded by the ceiling and by the pool — shared fairly when the pool
 * cannot cover them all; an empty pool gives nothing and is not an error. Each bump is a ledger entry.
 * `locked`: the balances already read under lock in this transaction (updated in place).
 */
export async function autoIncrease(
  tx: Tx,
  run: AutoIncreaseRun,
  events: PendingEvents,
  locked?: PolicyBalance[],
): Promise<AutoIncreaseOutcome> {
  const none = { members: 0, tokens: 0n, shortfall: 0n };
  if (!run.policy.autoIncrease) return none;
  const balances = locked ?? (await loadPolicyBalances(tx, { ...run, lock: true }));
  if (!run.memberId) await forgetStaleTiers(tx, run, balances);
  const due: { balance: PolicyBalance; memberId: string; limit: bigint; used: bigint; decision: BumpDecision }[] = [];
  for (const balance of balances) {
    const decision = bumpDue(run.policy, { ...balance, skipped: balance.suspended || balance.excluded }, run.cycle, run.now);
    if (decision) due.push({ balance, memberId: balance.memberId, limit: balance.limit, used: balance.used, decision });
  }
  if (due.length === 0) return none;

  const pool = await lockPool(tx, run.organizationId, run.kind);
  const wanted = due.map((item) => item.decision.amount);
  const grants = fairFill(wanted, pool);
  const given = due.map((item, index) => ({ ...item, grant: grants[index]! })).filter((item) => item.grant > 0n);
  const shortfall = wanted.reduce((sum, amount) => sum + amount, 0n) - grants.reduce((sum, grant) => sum + grant, 0n);
  if (given.length === 0) return { ...none, shortfall };

  // Bookkeeping first, so the balance events queued by moveAllocations carry the new lastAutoIncreaseAt.
  await tx.$executeRawUnsafe(
    `UPDATE "Balance" AS b
        SET "lastAutoIncreaseAt" = $3::timestamptz, "lastTier" = c.tier, "version" = b."version" + 1,
            "preemptiveBumpCycle" = CASE WHEN c.preemptive THEN $4::timestamptz ELSE b."preemptiveBumpCycle" END
       FROM unnest($5::uuid[], $6::int[], $7::boolean[]) AS c(member_id, tier, preemptive)
      WHERE b."memberId" = c.member_id AND b."kind" = $2::"TokenKind" AND b."organizationId" = $1::uuid`,
    run.organizationId,
    run.kind,
    run.now,
    run.cycle.start,
    given.map((item) => item.memberId),
    given.map((item) => tierAfter(run.policy, item.limit + item.grant, item.used)),
    given.map((item) => item.decision.reason === "PREEMPTIVE"),
  );
  for (const reason of ["TRIGGER", "PREEMPTIVE"] as const) {
    const changes = given.filter((item) => item.decision.reason === reason).map((item) => ({ memberId: item.memberId, delta: item.grant }));
    if (changes.length === 0) continue;
    await moveAllocations(
      tx,
      {
        organizationId: run.organizationId,
        kind: run.kind,
        type: "AUTO_INCREASE",
        changes,
        reference: run.reference ?? null,
        note:
          reason === "TRIGGER"
            ? "Usage reached the auto-increase trigger."
            : "Pre-emptive bump: projected use passes the limit before the cycle ends.",
      },
      events,
    );
  }
  for (const item of given) {
    item.balance.limit += item.grant;
    item.balance.lastAutoIncreaseAt = run.now;
    item.balance.lastTier = tierAfter(run.policy, item.balance.limit, item.used);
    if (item.decision.reason === "PREEMPTIVE") item.balance.preemptiveBumpCycle = run.cycle.start;
  }
  return { members: given.length, tokens: given.reduce((sum, item) => sum + item.grant, 0n), shortfall };
}

/**
 * A limit raised by other means (an admin, an approved request) can leave lastTier above the tier the balance
 * now sits in, which would skip that tier's next crossing; rebalancing runs lower it to the current tier.
 */
async function forgetStaleTiers(tx: Tx, run: AutoIncreaseRun, balances: PolicyBalance[]): Promise<void> {
  if (run.policy.triggerMode !== "TIERED") return;
  const stale = balances.filter((balance) => balance.lastTier > tierOf(run.policy, balance.limit, balance.used));
  if (stale.length === 0) return;
  for (const balance of stale) balance.lastTier = tierOf(run.policy, balance.limit, balance.used);
  await tx.$executeRawUnsafe(
    `UPDATE "Balance" AS b SET "lastTier" = c.tier, "version" = b."version" + 1
       FROM unnest($3::uuid[], $4::int[]) AS c(member_id, tier)
      WHERE b."memberId" = c.member_id AND b."kind" = $2::"TokenKind" AND b."organizationId" = $1::uuid`,
    run.organizationId,
    run.kind,
    stale.map((balance) => balance.memberId),
    stale.map((balance) => balance.lastTier),
  );
}
