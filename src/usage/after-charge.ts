// What follows a batch of charges (auto-increase, spend alerts). buildApp hands the hot path these hooks, so usage
// depends on this interface and not on the domains that react to a charge.
import type { TokenKind } from "../db/generated/enums.ts";
import type { Tx } from "../ledger/tx.ts";
import type { PendingEvents } from "../pubsub.ts";
import type { Runtime } from "../runtime.ts";

/** A balance as the batch left it (the last charge of that member and kind). */
export interface ChargedBalance {
  organizationId: string;
  memberId: string;
  kind: TokenKind;
  limit: bigint;
  used: bigint;
}

/** A model's cycle spend that the batch changed. */
export interface ChargedSpend {
  organizationId: string;
  modelId: string;
  cycleStart: Date;
}

export interface ChargedBatch {
  balances: ChargedBalance[];
  spends: ChargedSpend[];
}

/** A hook's writes; the follow-ups of one batch share one transaction, and their events go out after it commits. */
export type ChargeFollowUp = (tx: Tx, events: PendingEvents) => Promise<void>;

export interface AfterChargeHook {
  name: string;
  /**
   * Decides what is due after `batch` from cached state (a read at most, never a write), so a batch with nothing
   * due costs no transaction; null when nothing is.
   */
  plan(runtime: Runtime, batch: ChargedBatch): Promise<ChargeFollowUp | null>;
}
