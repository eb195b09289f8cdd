// Closing a billing cycle: used returns to what the new cycle already has, the cycle's consumption leaves the books, new limits come from the pool.
// Set-based like moveAllocations: a fixed number of statements whatever the member count, one ledger entry per member.
import type { TokenKind } from "../db/generated/enums.ts";
import type { BalanceSnapshot } from "../events.ts";
import type { PendingEvents } from "../pubsub.ts";
import { BALANCE_COLUMNS_OF_B, type BalanceRow, balanceSnapshot } from "./balances.ts";
import type { Tx } from "./tx.ts";

export interface CycleClosing {
  organizationId: string;
  kind: TokenKind;
  /** The scheduled run that closes the cycle. */
  reference: string;
  /** Start of the cycle being opened. */
  cycleStart: Date;
  /**
   * Every balance of the kind as the caller read it under lock (balances in member-id order, then the pool:
   * the ledger's lock order), with what the reset rule (policy/rules.ts planReset) decided for it.
   */
  members: {
    memberId: string;
    limit: bigint;
    used: bigint;
    /** The part of `used` that came out of the limit (the rest was overdraft, never from purchased tokens). */
    consumed: bigint;
    newLimit: bigint;
    /** Usage already charged in the new cycle (after the boundary, before this run): the new cycle's used. */
    openedUsed: bigint;
    note: string;
  }[];
}

/**
 * Applies a cycle's close to the balances and the pool and writes one CYCLE_RESET entry per member: the limit
 * moves by newLimit − limit, used by −used (the new cycle's usage already charged is counted by its own usage rows), and the pool gets the unused rest back (limit − consumed) less the new
 * limit, so each entry's poolDelta + limitDelta = −consumed, which moves to the pool's consumedInClosedCycles.
 * Throws, changing nothing, if a balance is not as the caller read it or the pool would go below zero.
 */
export async function closeCycle(tx: Tx, closing: CycleClosing, events: PendingEvents): Promise<BalanceSnapshot[]> {
  const { organizationId, kind, members } = closing;
  const poolDeltas = members.map((member) => member.limit - member.consumed - member.newLimit);
  const updated =
    members.length === 0
      ? []
      : await tx.$queryRawUnsafe<BalanceRow[]>(
          `UPDATE "Balance" AS b SET "limit" = c.new_limit, "used" = c.opened_used, "cycleStart" = $8::timestamp, "lastTier" = 0,
                   "version" = b."version" + 1, "updatedAt" = now()
             FROM unnest($3::uuid[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
                  AS c(member_id, old_limit, old_used, new_limit, opened_used)
            WHERE b."memberId" = c.member_id AND b."kind" = $2::"TokenKind" AND b."organizationId" = $1::uuid
              AND b."limit" = c.old_limit AND b."used" = c.old_used AND c.new_limit >= 0
            RETURNING ${BALANCE_COLUMNS_OF_B}`,
          organizationId,
          kind,
          members.map((member) => member.memberId),
          members.map((member) => member.limit.toString()),
          members.map((member) => member.used.toString()),
          members.map((member) => member.newLimit.toString()),
          members.map((member) => member.openedUsed.toString()),
          closing.cycleStart.toISOString(),
        );
  if (updated.length !== members.length) {
    throw new Error(`Cycle close refused for ${members.length - updated.length} balance(s): not as read under lock.`);
  }

  const poolDelta = poolDeltas.reduce((sum, delta) => sum + delta, 0n);
  const consumed = members.reduce((sum, member) => sum + member.consumed, 0n);
  const pool = await tx.$queryRawUnsafe<{ tokens: bigint }[]>(
    `UPDATE "Pool" SET "tokens" = "tokens" + $3::bigint, "consumedInClosedCycles" = "consumedInClosedCycles" + $4::bigint
      WHERE "organizationId" = $1::uuid AND "kind" = $2::"TokenKind" AND "tokens" + $3::bigint >= 0
      RETURNING "tokens"`,
    organizationId,
    kind,
    poolDelta.toString(),
    consumed.toString(),
  );
  if (pool.length === 0) throw new Error(`Cycle close refused: the ${kind.toLowerCase()} pool would go below zero.`);

  if (members.length > 0) {
    await tx.$executeRawUnsafe(
      `INSERT INTO "LedgerEntry" ("organizationId", "memberId", "kind", "type", "poolDelta", "limitDelta", "usedDelta", "reference", "note")
       SELECT $1::uuid, c.member_id, $2::"TokenKind", 'CYCLE_RESET', c.pool_delta, c.limit_delta, c.used_delta, $3, c.note
         FROM unnest($4::uuid[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[]) AS c(member_id, pool_delta, limit_delta, used_delta, note)`,
      organizationId,
      kind,
      closing.reference,
      members.map((member) => member.memberId),
      poolDeltas.map((delta) => delta.toString()),
      members.map((member) => (member.newLimit - member.limit).toString()),
      members.map((member) => (-member.used).toString()),
      members.map((member) => member.note),
    );
  }

  const snapshots = updated.map(balanceSnapshot);
  for (const snapshot of snapshots) events.add("balanceChanged", snapshot.memberId, snapshot);
  events.add("allocationChanged", organizationId, { kind });
  return snapshots;
}
