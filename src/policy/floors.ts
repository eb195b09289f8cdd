// The operator's minimumFloor: no policy or override floor stays below it, and members follow their floors up.
import type { Tx } from "../ledger/tx.ts";
import type { PendingEvents } from "../pubsub.ts";
import { toPolicyValues } from "./cache.ts";
import { raisePolicyFloors } from "./rules.ts";
import { bringUpToFloors, KINDS } from "./service.ts";

/** The operator raised minimumFloor: policy and override floors below it rise to it, and members follow. */
export async function raiseFloorsToMinimum(tx: Tx, organizationId: string, minimumFloor: bigint, events: PendingEvents): Promise<void> {
  const row = await tx.distributionPolicy.findUnique({ where: { organizationId } });
  if (!row) return;
  const current = toPolicyValues(row);
  const policy = raisePolicyFloors(current, minimumFloor);
  if (policy !== current) {
    const { preset, ...values } = policy;
    await tx.distributionPolicy.update({ where: { organizationId }, data: { preset, ...values } });
  }
  await tx.member.updateMany({
    where: { organizationId, hasOverride: true, overrideFloor: { lt: minimumFloor } },
    data: { overrideFloor: minimumFloor },
  });
  await tx.member.updateMany({
    where: { organizationId, hasOverride: true, overrideCeiling: { lt: minimumFloor } },
    data: { overrideCeiling: minimumFloor },
  });
  await bringUpToFloors(tx, { organizationId, policy, reference: null }, events);
  for (const kind of KINDS) events.add("allocationChanged", organizationId, { kind });
}
