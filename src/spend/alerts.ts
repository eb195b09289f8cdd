// Spend threshold alerts after a usage charge. Called inside the usage transaction (the hot path).
// Placeholder signature agreed between the usage and spend work; the spend work implements it.
import type { Tx } from "../ledger/tx.ts";
import type { PendingEvents } from "../pubsub.ts";
import type { Runtime } from "../runtime.ts";

export interface ChargedSpend {
  organizationId: string;
  modelId: string;
  cycleStart: Date;
}

export async function checkSpendAlerts(_tx: Tx, _runtime: Runtime, _spend: ChargedSpend, _events: PendingEvents): Promise<void> {}
