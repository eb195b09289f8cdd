// Admins set members' limits: raising one takes tokens from the pool, lowering it returns them. All or nothing.
import type { TokenKind } from "../db/generated/enums.ts";
import { badInput, notFound } from "../errors.ts";
import { moveAllocations } from "../ledger/allocations.ts";
import { lockBalances } from "../ledger/balances.ts";
import { tokenAmount } from "../ledger/rules.ts";
import { inTransaction } from "../ledger/tx.ts";
import { effectiveBounds } from "../policy/presets.ts";
import { assertAtLeastFloor } from "../policy/rules.ts";
import type { Runtime } from "../runtime.ts";

/** Sets the member's limit of each given kind in one transaction: both are kept, or neither. Never below the member's floor. */
export async function setAllocation(
  runtime: Runtime,
  change: { organizationId: string; actorId: string; memberId: string; inference?: number | null; training?: number | null },
): Promise<void> {
  const targets: [TokenKind, bigint, string][] = [];
  if (change.inference != null) targets.push(["INFERENCE", tokenAmount(change.inference, "input.inference"), "input.inference"]);
  if (change.training != null) targets.push(["TRAINING", tokenAmount(change.training, "input.training"), "input.training"]);

  await inTransaction(runtime, async (tx, events) => {
    const member = await tx.member.findUnique({
      where: { id: change.memberId },
      select: { organizationId: true, hasOverride: true, overrideFloor: true, overrideCeiling: true, overrideUnlimitedCeiling: true },
    });
    if (!member || member.organizationId !== change.organizationId) throw notFound("Member");
    // Shared lock: a policy edit raising the floor (which locks it first, then the balances) waits, or is waited for.
    await tx.$queryRawUnsafe(`SELECT 1 FROM "DistributionPolicy" WHERE "organizationId" = $1::uuid FOR SHARE`, change.organizationId);
    const policy = await tx.distributionPolicy.findUnique({ where: { organizationId: change.organizationId } });
    // Kinds in a fixed order (INFERENCE, then TRAINING), each balance row before its pool: the ledger's lock order.
    for (const [kind, target, field] of targets) {
      const balance = (await lockBalances(tx, kind, [change.memberId])).get(change.memberId);
      if (!balance) throw notFound("Member");
      if (policy) assertAtLeastFloor(target, effectiveBounds(policy, member, kind).floor, field);
      if (target < balance.used) {
        throw badInput(field, `${field} cannot be below the ${balance.used} tokens the member has already used this period.`);
      }
      await moveAllocations(
        tx,
        {
          organizationId: change.organizationId,
          kind,
          type: "ALLOCATION",
          changes: [{ memberId: change.memberId, delta: target - balance.limit }],
          actorId: change.actorId,
          note: `Limit set to ${target}`,
        },
        events,
      );
    }
  });
}

/** Adds `amount` to each listed member's limit of `kind`, from the pool: everyone or no one. */
export async function allocateTokens(
  runtime: Runtime,
  allocation: { organizationId: string; actorId: string; memberIds: string[]; kind: TokenKind; amount: number },
): Promise<string[]> {
  const amount = tokenAmount(allocation.amount, "input.amount");
  const memberIds = [...new Set(allocation.memberIds)];
  if (memberIds.length === 0) throw badInput("input.memberIds", "input.memberIds must name at least one member.");
  await inTransaction(runtime, async (tx, events) => {
    const found = await tx.member.count({ where: { id: { in: memberIds }, organizationId: allocation.organizationId } });
    if (found !== memberIds.length) throw notFound("Member");
    await moveAllocations(
      tx,
      {
        organizationId: allocation.organizationId,
        kind: allocation.kind,
        type: "ALLOCATION",
        changes: memberIds.map((memberId) => ({ memberId, delta: amount })),
        actorId: allocation.actorId,
        note: `Allocated ${amount} to each of ${memberIds.length} member(s)`,
      },
      events,
    );
  });
  return memberIds;
}
