// The only code that moves tokens between an organisation's pool and its members' limits.
// Each call is a fixed number of set-based SQL statements inside the caller's transaction:
// balance rows are locked in member-id order first, then the pool row, so concurrent callers never deadlock.
import type { LedgerEntryType, TokenKind } from "../db/generated/enums.ts";
import { badInput, insufficientPool } from "../errors.ts";
import type { BalanceSnapshot } from "../events.ts";
import type { PendingEvents } from "../pubsub.ts";
import { BALANCE_COLUMNS_OF_B, type BalanceRow, balanceSnapshot, lockBalances, poolTokens } from "./balances.ts";
import type { Tx } from "./tx.ts";

export interface AllocationChange {
  memberId: string;
  /** Tokens added to (positive) or returned from (negative) the member's limit. */
  delta: bigint;
  /** This change's own cause (e.g. one request of a bulk approval); defaults to the movement's reference. */
  reference?: string | null;
}

export interface AllocationMovement {
  organizationId: string;
  kind: TokenKind;
  type: LedgerEntryType;
  changes: AllocationChange[];
  reference?: string | null;
  actorId?: string | null;
  note?: string | null;
}

/**
 * Applies limit changes and the matching pool movement atomically, writes one ledger entry per change,
 * and queues balance and allocation events. Throws INSUFFICIENT_POOL when the pool cannot cover the net take.
 * Callers validate that no limit goes below zero; the statement refuses it anyway.
 */
export async function moveAllocations(tx: Tx, movement: AllocationMovement, events: PendingEvents): Promise<BalanceSnapshot[]> {
  const changes = movement.changes.filter((change) => change.delta !== 0n);
  if (changes.length === 0) return [];
  const memberIds = changes.map((change) => change.memberId);
  await lockBalances(tx, movement.kind, memberIds);

  const updated = await tx.$queryRawUnsafe<BalanceRow[]>(
    `UPDATE "Balance" AS b SET "limit" = b."limit" + c.delta, "version" = b."version" + 1, "updatedAt" = now()
       FROM (SELECT unnest($1::uuid[]) AS member_id, unnest($2::bigint[]) AS delta) AS c
      WHERE b."memberId" = c.member_id AND b."kind" = $3::"TokenKind" AND b."organizationId" = $4::uuid
        AND b."limit" + c.delta >= 0
      RETURNING ${BALANCE_COLUMNS_OF_B}`,
    memberIds,
    changes.map((change) => change.delta.toString()),
    movement.kind,
    movement.organizationId,
  );
  if (updated.length !== changes.length) {
    throw new Error(`Allocation change refused for ${changes.length - updated.length} balance(s): missing or below zero.`);
  }

  const netTake = changes.reduce((sum, change) => sum + change.delta, 0n);
  await takeFromPool(tx, movement.organizationId, movement.kind, netTake);

  await tx.$executeRawUnsafe(
    `INSERT INTO "LedgerEntry" ("organizationId", "memberId", "kind", "type", "poolDelta", "limitDelta", "reference", "actorId", "note")
     SELECT $1::uuid, c.member_id, $2::"TokenKind", $3::"LedgerEntryType", -c.delta, c.delta, COALESCE(c.reference, $4), $5, $6
       FROM unnest($7::uuid[], $8::bigint[], $9::text[]) AS c(member_id, delta, reference)`,
    movement.organizationId,
    movement.kind,
    movement.type,
    movement.reference ?? null,
    movement.actorId ?? null,
    movement.note ?? null,
    memberIds,
    changes.map((change) => change.delta.toString()),
    changes.map((change) => change.reference ?? null),
  );

  const snapshots = updated.map(balanceSnapshot);
  for (const snapshot of snapshots) events.add("balanceChanged", snapshot.memberId, snapshot);
  events.add("allocationChanged", movement.organizationId, { kind: movement.kind });
  return snapshots;
}

/** Takes `tokens` from the pool (negative: returns them). Refuses, changing nothing, when the pool is short. */
export async function takeFromPool(tx: Tx, organizationId: string, kind: TokenKind, tokens: bigint): Promise<bigint> {
  if (tokens === 0n) return poolTokens(tx, organizationId, kind);
  const rows = await tx.$queryRawUnsafe<{ tokens: bigint }[]>(
    `UPDATE "Pool" SET "tokens" = "tokens" - $3::bigint
      WHERE "organizationId" = $1::uuid AND "kind" = $2::"TokenKind" AND "tokens" - $3::bigint >= 0
      RETURNING "tokens"`,
    organizationId,
    kind,
    tokens.toString(),
  );
  if (rows.length === 0) throw insufficientPool(tokens, await poolTokens(tx, organizationId, kind));
  return rows[0]!.tokens;
}

/** Adds purchased tokens to the pool and records the purchase movement. */
export async function creditPurchase(
  tx: Tx,
  purchase: { organizationId: string; kind: TokenKind; tokens: bigint; purchaseId: string; actorId: string | null },
  events: PendingEvents,
): Promise<void> {
  // All tokens ever purchased bound the pool, the allocations and everything consumed: keep it representable.
  const credited = await tx.$executeRawUnsafe(
    `UPDATE "Pool" SET "tokens" = "tokens" + $3::bigint, "purchasedTotal" = "purchasedTotal" + $3::bigint
      WHERE "organizationId" = $1::uuid AND "kind" = $2::"TokenKind" AND "purchasedTotal" + $3::bigint <= ${Number.MAX_SAFE_INTEGER}`,
    purchase.organizationId,
    purchase.kind,
    purchase.tokens.toString(),
  );
  if (credited !== 1) {
    throw badInput("tokens", "This purchase would take the tokens ever purchased of this kind past 2^53-1; buy fewer.");
  }
  await tx.ledgerEntry.create({
    data: {
      organizationId: purchase.organizationId,
      kind: purchase.kind,
      type: "PURCHASE",
      poolDelta: purchase.tokens,
      reference: purchase.purchaseId,
      actorId: purchase.actorId,
    },
  });
  events.add("allocationChanged", purchase.organizationId, { kind: purchase.kind });
}
