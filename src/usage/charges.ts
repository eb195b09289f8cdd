// Charging usage: every charge updates its member's balance row and its model's cycle-spend row, so charges are
// group-committed (group-commit.ts; the runtime's `charges` queue): one statement for all the charges that arrive while a batch is written.
import type { Decimal } from "decimal.js";
import type { TokenKind } from "../db/generated/enums.ts";
import { balanceSnapshot } from "../ledger/balances.ts";
import { inTransaction, publishCommitted } from "../ledger/tx.ts";
import { dayStart } from "../organizations/cycle.ts";
import { PendingEvents } from "../pubsub.ts";
import type { Runtime } from "../runtime.ts";
import type { ChargedBalance, ChargedBatch, ChargedSpend } from "./after-charge.ts";
import { chargeSql, type RowLocks, sqlDate, sqlTimestamp } from "./statements.ts";

const CHARGE_STATEMENTS = { skip: chargeSql("skip"), wait: chargeSql("wait") };

/** One usage to charge, as chargeSql reads it (`ord` is given by the batch). */
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
  /** Refused: it would take its organisation's usage total out of range (nothing charged). */
  overLimit: boolean;
  /** Its reservation or balance row was locked elsewhere: nothing charged, to be written again. */
  skipped: boolean;
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
  version: bigint | null;
  inferenceFloor: bigint | null;
  trainingFloor: bigint | null;
  ceiling: bigint | null;
  hasOverride: boolean | null;
  overrideFloor: bigint | null;
  overrideCeiling: bigint | null;
  overrideUnlimitedCeiling: boolean | null;
}

/** Charges set aside (group-commit.ts) keep their order per member; a commit by a service key names its reservation only. */
export const chargeLane = (item: ChargeItem): string => item.member_id ?? item.reservation_id ?? item.usage_id;

/**
 * Writes one batch with one statement (atomic on its own, one round trip), publishes each charge's balance
 * (in order) and the spend change, then runs the auto-increase and spend-alert hooks, which begin their own
 * transaction only if they have something to change. Rows come back in the items' order.
 */
export async function chargeBatch(runtime: Runtime, items: ChargeItem[], rowLocks: RowLocks): Promise<ChargedRow[]> {
  const now = runtime.clock.now();
  const payload = JSON.stringify(items.map((item, ord) => ({ ...item, ord })));
  const charged = await runtime.db.raw.preparedWithoutWaiting<ChargedRow>(`charge_usage_${rowLocks}`, CHARGE_STATEMENTS[rowLocks], [
    payload,
    sqlTimestamp(now),
    sqlDate(dayStart(now)),
  ]);
  const chargeEvents = new PendingEvents();
  queueChargeEvents(charged, chargeEvents, now);
  publishCommitted(runtime, chargeEvents);

  try {
    await followCharges(runtime, chargedBatch(charged));
  } catch (error) {
    // The usage is recorded either way; a bump or alert missed here is given by the next charge or rebalancing run.
    console.error("After-charge hooks (auto-increase, spend alerts) failed:", error);
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

/** Each balance with its final state in the batch, and each model cycle spend the batch changed. */
function chargedBatch(rows: ChargedRow[]): ChargedBatch {
  const balances = new Map<string, ChargedBalance>();
  const spends = new Map<string, ChargedSpend>();
  for (const row of rows) {
    if (!row.id) continue;
    const balanceKey = `${row.memberId}:${row.kind}`;
    const last = balances.get(balanceKey);
    if (!last || BigInt(row.used!) >= last.used) {
      balances.set(balanceKey, {
        organizationId: row.organizationId!,
        memberId: row.memberId!,
        kind: row.kind!,
        limit: BigInt(row.limit!),
        used: BigInt(row.used!),
      });
    }
    spends.set(`${row.organizationId}:${row.modelId}:${row.cycleStart!.getTime()}`, {
      organizationId: row.organizationId!,
      modelId: row.modelId!,
      cycleStart: row.cycleStart!,
    });
  }
  return { balances: [...balances.values()], spends: [...spends.values()] };
}

/** Runs the runtime's after-charge hooks; a transaction is begun only when one of them has something due. */
async function followCharges(runtime: Runtime, batch: ChargedBatch): Promise<void> {
  const planned = await Promise.all(runtime.afterCharge.map((hook) => hook.plan(runtime, batch)));
  const followUps = planned.filter((followUp) => followUp !== null);
  if (followUps.length === 0) return;
  await inTransaction(runtime, async (tx, events) => {
    for (const followUp of followUps) await followUp(tx, events);
  });
}
