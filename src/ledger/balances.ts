// Balance and pool rows as the ledger reads them: the one row type, the one snapshot builder (what balance
// subscribers receive) and the one pair of locks, always taken in this order: balances by member id, then the pool.
import type { TokenKind } from "../db/generated/enums.ts";
import type { BalanceSnapshot } from "../events.ts";
import { PendingEvents } from "../pubsub.ts";
import type { Runtime } from "../runtime.ts";
import { publishCommitted, type Tx } from "./tx.ts";

/** A balance row as the ledger statements return it (BALANCE_COLUMNS). */
export interface BalanceRow {
  memberId: string;
  organizationId: string;
  kind: TokenKind;
  limit: bigint;
  used: bigint;
  reserved: bigint;
  lastAutoIncreaseAt: Date | null;
  /** Raised by every statement that changes the row: subscribers never show an older version after a newer one. */
  version: bigint;
}

const BALANCE_FIELDS = ["memberId", "organizationId", "kind", "limit", "used", "reserved", "lastAutoIncreaseAt", "version"];
export const BALANCE_COLUMNS = BALANCE_FIELDS.map((field) => `"${field}"`).join(", ");
/** BALANCE_COLUMNS of a "Balance" aliased `b`, for statements that join it. */
export const BALANCE_COLUMNS_OF_B = BALANCE_FIELDS.map((field) => `b."${field}"`).join(", ");

export function balanceSnapshot(row: BalanceRow): BalanceSnapshot {
  return {
    memberId: row.memberId,
    organizationId: row.organizationId,
    kind: row.kind,
    limit: Number(row.limit),
    used: Number(row.used),
    reserved: Number(row.reserved),
    lastAutoIncreaseAt: row.lastAutoIncreaseAt ? new Date(row.lastAutoIncreaseAt).toISOString() : null,
    version: Number(row.version),
  };
}

/** Locks the members' balance rows of one kind, in id order, and returns them by member id. */
export async function lockBalances(tx: Tx, kind: TokenKind, memberIds: string[]): Promise<Map<string, BalanceRow>> {
  const rows = await tx.$queryRawUnsafe<BalanceRow[]>(
    `SELECT ${BALANCE_COLUMNS} FROM "Balance"
      WHERE "memberId" = ANY($1::uuid[]) AND "kind" = $2::"TokenKind"
      ORDER BY "memberId" FOR UPDATE`,
    [...new Set(memberIds)].sort(),
    kind,
  );
  return new Map(rows.map((row) => [row.memberId, row]));
}

/** Locks the pool row of one kind and returns its tokens. Lock order: balances first (lockBalances), then the pool. */
export async function lockPool(tx: Tx, organizationId: string, kind: TokenKind): Promise<bigint> {
  const rows = await tx.$queryRawUnsafe<{ tokens: bigint }[]>(
    `SELECT "tokens" FROM "Pool" WHERE "organizationId" = $1::uuid AND "kind" = $2::"TokenKind" FOR UPDATE`,
    organizationId,
    kind,
  );
  return rows[0] ? BigInt(rows[0].tokens) : 0n;
}

export async function poolTokens(tx: Tx, organizationId: string, kind: TokenKind): Promise<bigint> {
  const rows = await tx.$queryRawUnsafe<{ tokens: bigint }[]>(
    `SELECT "tokens" FROM "Pool" WHERE "organizationId" = $1::uuid AND "kind" = $2::"TokenKind"`,
    organizationId,
    kind,
  );
  return rows[0]?.tokens ?? 0n;
}

/**
 * Publishes the balances returned by a statement that committed on its own (the hot path's holds, releases and
 * expiries run outside any transaction); the same after-commit publication as inTransaction's.
 */
export function publishCommittedBalances(runtime: Runtime, rows: readonly BalanceRow[]): void {
  const events = new PendingEvents();
  for (const row of rows) events.add("balanceChanged", row.memberId, balanceSnapshot(row));
  publishCommitted(runtime, events);
}
