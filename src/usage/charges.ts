// Charging usage: every charge updates its member's balance row and its model's cycle-spend row, so charges are
// group-committed (group-commit.ts): one statement for all the charges that arrive while a batch is written.
import type { Decimal } from "decimal.js";
import type { TokenKind } from "../db/generated/enums.ts";
import { balanceSnapshot } from "../ledger/allocations.ts";
import { dayStart } from "../organizations/cycle.ts";
import { autoIncreaseAfterUsage } from "../policy/auto-increase.ts";
import { PendingEvents } from "../pubsub.ts";
import type { Runtime } from "../runtime.ts";
import { checkSpendAlerts } from "../spend/alerts.ts";
import { groupCommit } from "./group-commit.ts";
import { lazyTransaction } from "./lazy-transaction.ts";
import { CHARGE_SQL, sqlDate, sqlTimestamp } from "./statements.ts";

/** One usage to charge, as CHARGE_SQL reads it (`ord` is given by the batch). */
export interface ChargeItem {
  usage_id: string;
  organization_id: string;
  reservation_id: string | null;
  member_id: string | null;
  link: boolean;
  model_key: string | null;
  kind: TokenKind | null;
  input_tokens: number;
  output_tokens: number;
  app: string | null;
  assistant: string | null;
  idempotency_key: string;
  payload_hash: string;
}

export interface ChargedRow {
  ord: number;
  found: boolean;
  id: string | null;
  modelId: string | null;
  tokens: bigint | null;
  cost: Decimal | null;
  cycleStart: Date | null;
  memberId: string | null;
  organizationId: string | null;
  kind: TokenKind | null;
  limit: bigint | null;
  used: bigint | null;
  reserved: bigint | null;
  lastAutoIncreaseAt: Date | null;
  inferenceFloor: bigint | null;
  trainingFloor: bigint | null;
  ceiling: bigint | null;
  hasOverride: boolean | null;
  overrideFloor: bigint | null;
  overrideCeiling: bigint | null;
  overrideUnlimitedCeiling: boolean | null;
}

/** Charges one usage item together with whatever else is being charged at the same moment (group-commit.ts). */
export const chargeUsage = groupCommit<ChargeItem, ChargedRow>({ write: chargeBatch });

/**
 * Writes one batch with one statement (atomic on its own, one round trip), publishes each charge's balance
 * (in order) and the spend change, then runs the auto-increase and spend-alert hooks, which begin their own
 * transaction only if they have something to change. Rows come back in the items' order.
 */
async function chargeBatch(runtime: Runtime, items: ChargeItem[]): Promise<ChargedRow[]> {
  const now = runtime.clock.now();
  const payload = JSON.stringify(items.map((item, ord) => ({ ...item, ord })));
  const charged = await runtime.db.raw.prepared<ChargedRow>("charge_usage", CHARGE_SQL, [
    payload,
    sqlTimestamp(now),
    sqlDate(dayStart(now)),
  ]);
  const chargeEvents = new PendingEvents();
  queueChargeEvents(charged, chargeEvents, now);
  chargeEvents.publish(runtime.pubsub);

  const hookEvents = new PendingEvents();
  const hooks = lazyTransaction(runtime);
  try {
    await runHooks(hooks.tx, runtime, charged, hookEvents);
    await hooks.commit();
    hookEvents.publish(runtime.pubsub);
  } catch (error) {
    // The usage is recorded either way; a bump or alert missed here is given by the next charge or rebalancing run.
    await hooks.rollback(error);
    console.error("Usage hooks (auto-increase, spend alerts) failed after a charge:", error);
  }
  return charged;
}

function queueChargeEvents(rows: ChargedRow[], events: PendingEvents, now: Date): void {
  const organizations = new Set<string>();
  for (const row of rows) {
    if (!row.id) continue;
    const balance = row as ChargedRow & Parameters<typeof balanceSnapshot>[0];
    events.add("balanceChanged", balance.memberId, balanceSnapshot(balance));
    organizations.add(balance.organizationId);
  }
  for (const organizationId of organizations) events.add("spendChanged", organizationId, { at: now.toISOString() });
}

type HookTx = Parameters<typeof autoIncreaseAfterUsage>[0];

/** Auto-increase once per charged balance (with its final state), spend alerts once per model and cycle. */
async function runHooks(tx: HookTx, runtime: Runtime, rows: ChargedRow[], events: PendingEvents): Promise<void> {
  const balances = new Map<string, ChargedRow>();
  const spends = new Map<string, ChargedRow>();
  for (const row of rows) {
    if (!row.id) continue;
    const balanceKey = `${row.memberId}:${row.kind}`;
    const last = balances.get(balanceKey);
    if (!last || row.used! >= last.used!) balances.set(balanceKey, row);
    spends.set(`${row.organizationId}:${row.modelId}:${row.cycleStart!.getTime()}`, row);
  }
  for (const row of balances.values()) {
    await autoIncreaseAfterUsage(
      tx,
      runtime,
      { organizationId: row.organizationId!, memberId: row.memberId!, kind: row.kind!, limit: row.limit!, used: row.used! },
      events,
    );
  }
  for (const row of spends.values()) {
    await checkSpendAlerts(
      tx,
      runtime,
      { organizationId: row.organizationId!, modelId: row.modelId!, cycleStart: row.cycleStart! },
      events,
    );
  }
}
