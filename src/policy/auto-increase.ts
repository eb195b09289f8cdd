// Auto-increase after a usage charge. Called inside the usage transaction (the hot path).
// Placeholder signature agreed between the usage and policy work; the policy work implements it.
import type { TokenKind } from "../db/generated/enums.ts";
import type { Tx } from "../ledger/tx.ts";
import type { PendingEvents } from "../pubsub.ts";
import type { Runtime } from "../runtime.ts";

export interface ChargedBalance {
  organizationId: string;
  memberId: string;
  kind: TokenKind;
  limit: bigint;
  used: bigint;
}

export async function autoIncreaseAfterUsage(_tx: Tx, _runtime: Runtime, _balance: ChargedBalance, _events: PendingEvents): Promise<void> {}
