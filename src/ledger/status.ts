// The organisation's allocation status for one kind, read in one SQL statement so its numbers agree with each other.
import type { PresetName, TokenKind } from "../db/generated/enums.ts";
import type { Tx } from "./tx.ts";

export interface AllocationStatus {
  organizationId: string;
  kind: TokenKind;
  /** Pool plus outstanding allocations. */
  purchased: bigint;
  /** Σ member limits this period. */
  allocated: bigint;
  /** Σ member use this period. */
  used: bigint;
  /** The pool. */
  unallocated: bigint;
  /** Every token ever bought, and those consumed in closed periods: the two ends of the conservation law. */
  purchasedAllTime: bigint;
  consumedInClosedPeriods: bigint;
  activePreset: PresetName;
}

interface Row {
  unallocated: bigint;
  purchasedTotal: bigint;
  consumedInClosedCycles: bigint;
  allocated: bigint;
  used: bigint;
  preset: PresetName | null;
}

export async function allocationStatus(db: Pick<Tx, "$queryRawUnsafe">, organizationId: string, kind: TokenKind): Promise<AllocationStatus | null> {
  const rows = await db.$queryRawUnsafe<Row[]>(
    `SELECT p."tokens" AS unallocated, p."purchasedTotal", p."consumedInClosedCycles",
            COALESCE(b.allocated, 0)::bigint AS allocated, COALESCE(b.used, 0)::bigint AS used, d."preset"::text AS preset
       FROM "Pool" p
       LEFT JOIN LATERAL (
         SELECT SUM("limit") AS allocated, SUM("used") AS used FROM "Balance"
          WHERE "organizationId" = p."organizationId" AND "kind" = p."kind"
       ) b ON true
       LEFT JOIN "DistributionPolicy" d ON d."organizationId" = p."organizationId"
      WHERE p."organizationId" = $1::uuid AND p."kind" = $2::"TokenKind"`,
    organizationId,
    kind,
  );
  const row = rows[0];
  if (!row) return null;
  return {
    organizationId,
    kind,
    purchased: row.unallocated + row.allocated,
    allocated: row.allocated,
    used: row.used,
    unallocated: row.unallocated,
    purchasedAllTime: row.purchasedTotal,
    consumedInClosedPeriods: row.consumedInClosedCycles,
    activePreset: row.preset ?? "STANDARD",
  };
}
