// One set-based read of an organisation's balances of one kind, with what the policy needs of each member
// (floor and ceiling in force, suspended, excluded), optionally locking the rows for the caller's transaction.
import type { TokenKind } from "../db/generated/enums.ts";
import type { Tx } from "../ledger/tx.ts";
import { effectiveBounds, type MemberOverride, type PolicyValues } from "./presets.ts";

export interface PolicyBalance {
  memberId: string;
  limit: bigint;
  used: bigint;
  reserved: bigint;
  lastAutoIncreaseAt: Date | null;
  lastTier: number;
  preemptiveBumpCycle: Date | null;
  suspended: boolean;
  excluded: boolean;
  floor: bigint;
  ceiling: bigint | null;
}

/** The row as read: the balance, and the member's suspension and override instead of the derived fields. */
type Row = Omit<PolicyBalance, "excluded" | "floor" | "ceiling"> & MemberOverride & { overrideExcluded: boolean };

/** The balances in member-id order; `lock` takes their row locks (FOR UPDATE) in that order. */
export async function loadPolicyBalances(
  tx: Tx,
  query: {
    organizationId: string;
    kind: TokenKind;
    policy: Pick<PolicyValues, "inferenceFloor" | "trainingFloor" | "ceiling">;
    memberId?: string;
    lock: boolean;
  },
): Promise<PolicyBalance[]> {
  const rows = await tx.$queryRawUnsafe<Row[]>(
    `SELECT /* policy balances */ b."memberId", b."limit", b."used", b."reserved", b."lastAutoIncreaseAt", b."lastTier", b."preemptiveBumpCycle",
            m."suspended", m."hasOverride", m."overrideFloor", m."overrideCeiling", m."overrideUnlimitedCeiling", m."overrideExcluded"
       FROM "Balance" b JOIN "Member" m ON m."id" = b."memberId"
      WHERE b."organizationId" = $1::uuid AND b."kind" = $2::"TokenKind" ${query.memberId ? `AND b."memberId" = $3::uuid` : ""}
      ORDER BY b."memberId"${query.lock ? ` FOR UPDATE OF b` : ""}`,
    query.organizationId,
    query.kind,
    ...(query.memberId ? [query.memberId] : []),
  );
  return rows.map((row) => ({
    memberId: row.memberId,
    limit: BigInt(row.limit),
    used: BigInt(row.used),
    reserved: BigInt(row.reserved),
    lastAutoIncreaseAt: row.lastAutoIncreaseAt ? new Date(row.lastAutoIncreaseAt) : null,
    lastTier: Number(row.lastTier),
    preemptiveBumpCycle: row.preemptiveBumpCycle ? new Date(row.preemptiveBumpCycle) : null,
    suspended: row.suspended,
    excluded: row.hasOverride && row.overrideExcluded,
    ...effectiveBounds(query.policy, row, query.kind),
  }));
}
