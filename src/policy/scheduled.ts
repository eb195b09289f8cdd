// The policy's scheduled work: the cycle reset at each cycle start and rebalancing at rebalanceFrequency.
// Exactly once per organisation and slot across processes: the run claims its (organisation, job, slot) row
// in ScheduledRun inside the same transaction that does the work, so a second claimant waits and then finds it taken.
import { randomUUID } from "node:crypto";
import type { TokenKind } from "../db/generated/enums.ts";
import { lockPool } from "../ledger/balances.ts";
import { closeCycle } from "../ledger/cycles.ts";
import { inTransaction, type Tx } from "../ledger/tx.ts";
import { cycleAt } from "../organizations/cycle.ts";
import type { Runtime } from "../runtime.ts";
import { sqlTimestamp } from "../usage/statements.ts";
import { autoIncrease } from "./auto-increase.ts";
import { loadPolicyBalances } from "./balances.ts";
import { planReset, rebalanceSlot, resetTarget } from "./rules.ts";
import { currentPolicy, KINDS, reclaim, topUpFloors } from "./service.ts";

export const CYCLE_RESET = "CYCLE_RESET";
export const REBALANCE = "REBALANCE";
/** The jobs a ScheduledRun row names. */
export type ScheduledJob = typeof CYCLE_RESET | typeof REBALANCE;
const BATCH = 200;
const RUN_TIMEOUT_MS = 300_000;

/** What a run did for one kind; token amounts (JSON numbers, all below 2^53). */
export interface KindOutcome {
  kind: TokenKind;
  members: number;
  consumed?: number;
  overdraft?: number;
  reclaimed?: number;
  reclaimedMembers?: number;
  autoIncreased?: number;
  autoIncreasedMembers?: number;
  toppedUp?: number;
  toppedUpMembers?: number;
  /** Tokens the run wanted to give beyond what the pool had. */
  shortfall: number;
}

export interface RunOutcome {
  summary: string;
  kinds: KindOutcome[];
}

/** Claims the run; null when another process (or an earlier run) already has it. */
async function claim(tx: Tx, organizationId: string, job: ScheduledJob, slot: Date, now: Date): Promise<string | null> {
  const rows = await tx.$queryRawUnsafe<{ id: string }[]>(
    `INSERT INTO "ScheduledRun" ("id", "organizationId", "job", "slot", "startedAt")
     VALUES ($1::uuid, $2::uuid, $3, $4::timestamptz, $5::timestamptz)
     ON CONFLICT ("organizationId", "job", "slot") DO NOTHING RETURNING "id"`,
    randomUUID(),
    organizationId,
    job,
    slot,
    now,
  );
  return rows[0]?.id ?? null;
}

async function finish(tx: Tx, runId: string, outcome: RunOutcome, now: Date): Promise<void> {
  await tx.scheduledRun.update({ where: { id: runId }, data: { finishedAt: now, outcome: outcome as object } });
}

// ---------------------------------------------------------------------------------------------------------
// Cycle reset

/**
 * Closes the organisation's cycle and opens the one starting at `slot`: used returns to what was already charged
 * in the new cycle (usually 0); each member's
 * consumption (at most its limit; any overdraft is noted) moves to the pool's consumedInClosedCycles, the
 * unused rest returns to the pool, and new limits (the floor, or the old limit with monthlyResetToFloor off)
 * are taken from it, fairly when short. Reservations stay. Returns null when the slot was already done.
 */
export async function resetCycle(runtime: Runtime, organizationId: string, slot: Date): Promise<RunOutcome | null> {
  const now = runtime.clock.now();
  return inTransaction(
    runtime,
    async (tx, events) => {
      // NO KEY UPDATE: charges running now take KEY SHARE on the organisation (their usage rows' foreign key) at the
      // end of their statement, after locking balances; a FOR UPDATE here would deadlock with them.
      const organization = await tx.$queryRawUnsafe<{ currentCycleStart: Date }[]>(
        `SELECT "currentCycleStart" FROM "Organization" WHERE "id" = $1::uuid FOR NO KEY UPDATE`,
        organizationId,
      );
      if (!organization[0] || new Date(organization[0].currentCycleStart) >= slot) return null;
      const runId = await claim(tx, organizationId, CYCLE_RESET, slot, now);
      if (!runId) return null;
      const policy = await currentPolicy(tx, organizationId);
      const kinds: KindOutcome[] = [];
      for (const kind of KINDS) {
        const balances = await loadPolicyBalances(tx, { organizationId, kind, policy, lock: true });
        const pool = await lockPool(tx, organizationId, kind);
        const plan = planReset(
          balances.map((balance) => ({ ...balance, target: resetTarget(balance, policy.monthlyResetToFloor) })),
          pool,
        );
        // Usage already charged in the new cycle (after the boundary, before this run) was kept out of the closing
        // `used` by the charge statement; it is the new cycle's `used`. Read after the balances are locked, so every
        // charge is either in this sum or waits and then finds the balance in the new cycle.
        const opened = await newCycleUsage(tx, organizationId, kind, slot);
        await closeCycle(
          tx,
          {
            organizationId,
            kind,
            reference: runId,
            cycleStart: slot,
            members: balances.map((balance, index) => {
              const member = plan.members[index]!;
              return {
                memberId: balance.memberId,
                limit: balance.limit,
                used: balance.used,
                consumed: member.consumed,
                newLimit: member.newLimit,
                openedUsed: opened.get(balance.memberId) ?? 0n,
                note:
                  member.overdraft > 0n
                    ? `Cycle closed: consumed ${member.consumed}; ${member.overdraft} used beyond the limit (overdraft, not from purchased tokens).`
                    : `Cycle closed: consumed ${member.consumed}.`,
              };
            }),
          },
          events,
        );
        kinds.push({
          kind,
          members: balances.length,
          consumed: Number(plan.consumed),
          overdraft: Number(plan.members.reduce((sum, member) => sum + member.overdraft, 0n)),
          shortfall: Number(plan.shortfall),
        });
      }
      await tx.organization.update({ where: { id: organizationId }, data: { currentCycleStart: slot } });
      const shortfall = kinds.filter((kind) => kind.shortfall > 0);
      const outcome: RunOutcome = {
        summary:
          `Cycle ${slot.toISOString().slice(0, 10)} opened for ${kinds[0]?.members ?? 0} member(s); limits ${policy.monthlyResetToFloor ? "reset to the floor" : "re-established"}.` +
          (shortfall.length
            ? ` Pool short by ${shortfall.map((kind) => `${kind.shortfall} ${kind.kind.toLowerCase()}`).join(", ")} tokens.`
            : ""),
        kinds,
      };
      await finish(tx, runId, outcome, now);
      return outcome;
    },
    { timeoutMs: RUN_TIMEOUT_MS },
  );
}

/** Per member: the tokens of `kind` charged in the cycle starting at `slot` (only rows since then can carry that label). */
async function newCycleUsage(tx: Tx, organizationId: string, kind: TokenKind, slot: Date): Promise<Map<string, bigint>> {
  const rows = await tx.$queryRawUnsafe<{ memberId: string; tokens: bigint }[]>(
    `SELECT "memberId", sum("tokens")::bigint AS "tokens" FROM "UsageRecord"
      WHERE "organizationId" = $1::uuid AND "createdAt" >= $3::timestamp AND "cycleStart" = $3::timestamp AND "kind" = $2::"TokenKind"
      GROUP BY "memberId"`,
    organizationId,
    kind,
    sqlTimestamp(slot),
  );
  return new Map(rows.map((row) => [row.memberId, BigInt(row.tokens)]));
}

/** Every organisation whose recorded cycle is behind the clock gets its reset (catch-up after downtime too). */
export async function runCycleResets(runtime: Runtime): Promise<void> {
  const now = runtime.clock.now();
  let after: string | null = null;
  for (;;) {
    const organizations: { id: string; cycleAnchorDay: number; currentCycleStart: Date }[] = await runtime.prisma.organization.findMany({
      where: after ? { id: { gt: after } } : {},
      orderBy: { id: "asc" },
      take: BATCH,
      select: { id: true, cycleAnchorDay: true, currentCycleStart: true },
    });
    if (organizations.length === 0) return;
    for (const organization of organizations) {
      const { start } = cycleAt(organization.cycleAnchorDay, now);
      if (organization.currentCycleStart >= start) continue;
      try {
        await resetCycle(runtime, organization.id, start);
      } catch (error) {
        console.error(`Cycle reset of organisation ${organization.id} failed:`, error);
      }
    }
    after = organizations.at(-1)!.id;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rebalancing

/** One rebalancing run: reclamation (when on), auto-increase checks, then floors topped up. Null if the slot was done. */
export async function rebalance(runtime: Runtime, organizationId: string, slot: Date): Promise<RunOutcome | null> {
  const now = runtime.clock.now();
  return inTransaction(
    runtime,
    async (tx, events) => {
      const runId = await claim(tx, organizationId, REBALANCE, slot, now);
      if (!runId) return null;
      const policy = await currentPolicy(tx, organizationId);
      const { cycleAnchorDay } = await tx.organization.findUniqueOrThrow({
        where: { id: organizationId },
        select: { cycleAnchorDay: true },
      });
      const cycle = cycleAt(cycleAnchorDay, now);
      const kinds: KindOutcome[] = [];
      for (const kind of KINDS) {
        // One locked read per kind; each step updates these rows in memory for the next.
        const balances = await loadPolicyBalances(tx, { organizationId, kind, policy, lock: true });
        const reclaimed = policy.reclamation
          ? await reclaim(tx, { organizationId, kind, policy, cycleAnchorDay, now, actorId: null, reference: runId }, events, balances)
          : [];
        const increased = await autoIncrease(tx, { organizationId, kind, policy, cycle, now, reference: runId }, events, balances);
        const toppedUp = await topUpFloors(tx, { organizationId, kind, policy, reference: runId }, events, balances);
        kinds.push({
          kind,
          members: balances.length,
          reclaimed: Number(reclaimed.reduce((sum, candidate) => sum + candidate.reclaimable, 0n)),
          reclaimedMembers: reclaimed.length,
          autoIncreased: Number(increased.tokens),
          autoIncreasedMembers: increased.members,
          toppedUp: Number(toppedUp.changes.reduce((sum, change) => sum + change.after - change.before, 0n)),
          toppedUpMembers: toppedUp.changes.length,
          shortfall: Number(increased.shortfall + toppedUp.shortfall),
        });
      }
      const outcome: RunOutcome = {
        summary: kinds
          .map(
            (kind) =>
              `${kind.kind.toLowerCase()}: reclaimed ${kind.reclaimed} from ${kind.reclaimedMembers}, auto-increased ${kind.autoIncreased} for ${kind.autoIncreasedMembers}, topped up ${kind.toppedUp} for ${kind.toppedUpMembers}` +
              (kind.shortfall > 0 ? `, pool short by ${kind.shortfall}` : ""),
          )
          .join("; "),
        kinds,
      };
      await finish(tx, runId, outcome, now);
      return outcome;
    },
    { timeoutMs: RUN_TIMEOUT_MS },
  );
}

/** Every organisation with rebalancing on gets the run of the slot it is in, once. */
export async function runRebalancing(runtime: Runtime): Promise<void> {
  const now = runtime.clock.now();
  let after: string | null = null;
  for (;;) {
    const policies: { organizationId: string; rebalanceFrequency: "OFF" | "HOURLY" | "DAILY" | "WEEKLY" }[] =
      await runtime.prisma.distributionPolicy.findMany({
        where: { rebalanceFrequency: { not: "OFF" }, ...(after ? { organizationId: { gt: after } } : {}) },
        orderBy: { organizationId: "asc" },
        take: BATCH,
        select: { organizationId: true, rebalanceFrequency: true },
      });
    if (policies.length === 0) return;
    const slots = policies.map((policy) => ({ ...policy, slot: rebalanceSlot(policy.rebalanceFrequency, now)! }));
    const done = await runtime.prisma.scheduledRun.findMany({
      where: { job: REBALANCE, OR: slots.map((policy) => ({ organizationId: policy.organizationId, slot: policy.slot })) },
      select: { organizationId: true },
    });
    const claimed = new Set(done.map((run) => run.organizationId));
    for (const policy of slots) {
      if (claimed.has(policy.organizationId)) continue;
      try {
        await rebalance(runtime, policy.organizationId, policy.slot);
      } catch (error) {
        console.error(`Rebalancing of organisation ${policy.organizationId} failed:`, error);
      }
    }
    after = policies.at(-1)!.organizationId;
  }
}
