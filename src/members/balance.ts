// The Balance a client sees: limit, used, remaining, reserved, and the floor and ceiling in force.
import { createContextCache } from "@pothos/core";
import DataLoader from "dataloader";
import type { Context } from "../context.ts";
import type { DistributionPolicy } from "../db/generated/client.ts";
import type { BalanceSnapshot } from "../events.ts";
import type { BalanceRow } from "../ledger/balances.ts";
import { effectiveBounds, type MemberOverride } from "../policy/presets.ts";

export interface BalanceView extends BalanceRow {
  floor: bigint;
  ceiling: bigint | null;
}

/** Each organisation's policy, loaded at most once per operation (members lists stay constant in queries). */
const policyLoader = createContextCache(
  (context: Context) =>
    new DataLoader<string, DistributionPolicy | null>(async (organizationIds) => {
      const rows = await context.runtime.prisma.distributionPolicy.findMany({
        where: { organizationId: { in: [...organizationIds] } },
      });
      const byId = new Map(rows.map((row) => [row.organizationId, row]));
      return organizationIds.map((id) => byId.get(id) ?? null);
    }),
);

/** Member overrides, for balances that arrive without their member. */
const memberOverrideLoader = createContextCache(
  (context: Context) =>
    new DataLoader<string, MemberOverride | null>(async (memberIds) => {
      const rows = await context.runtime.prisma.member.findMany({
        where: { id: { in: [...memberIds] } },
        select: { id: true, hasOverride: true, overrideFloor: true, overrideCeiling: true, overrideUnlimitedCeiling: true },
      });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return memberIds.map((id) => byId.get(id) ?? null);
    }),
);

const NO_OVERRIDE: MemberOverride = { hasOverride: false, overrideFloor: null, overrideCeiling: null, overrideUnlimitedCeiling: false };
const NO_POLICY = { inferenceFloor: 0n, trainingFloor: 0n, ceiling: null };

export async function balanceView(
  context: Context,
  balance: Omit<BalanceView, "floor" | "ceiling">,
  member: MemberOverride | null,
): Promise<BalanceView> {
  const policy = (await policyLoader(context).load(balance.organizationId)) ?? NO_POLICY;
  const override = member ?? (await memberOverrideLoader(context).load(balance.memberId)) ?? NO_OVERRIDE;
  return { ...balance, ...effectiveBounds(policy, override, balance.kind) };
}

export function fromSnapshot(snapshot: BalanceSnapshot): Omit<BalanceView, "floor" | "ceiling"> {
  return {
    memberId: snapshot.memberId,
    organizationId: snapshot.organizationId,
    kind: snapshot.kind,
    limit: BigInt(snapshot.limit),
    used: BigInt(snapshot.used),
    reserved: BigInt(snapshot.reserved),
    lastAutoIncreaseAt: snapshot.lastAutoIncreaseAt ? new Date(snapshot.lastAutoIncreaseAt) : null,
    version: BigInt(snapshot.version),
  };
}
