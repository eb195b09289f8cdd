// authorizeUsage's holds on balances, group-committed (group-commit.ts): every hold updates its member's balance
// row, so the holds that arrive while a batch is written go together in the next one.
import type { TokenKind } from "../db/generated/enums.ts";
import type { BalanceRow } from "../ledger/balances.ts";
import type { Runtime } from "../runtime.ts";
import { HOLD_SQL, sqlTimestamp } from "./statements.ts";

/** One hold, as HOLD_SQL reads it (`ord` is given by the batch). */
export interface HoldItem {
  reservation_id: string;
  organization_id: string;
  member_id: string;
  kind: TokenKind;
  model_id: string;
  tokens: string;
  estimated_cost: string;
  expires_at: string;
}

type HeldRow = BalanceRow & { ord: number };

/** HOLD_SQL's parameters for `items` at `now`. */
export function holdParameters(items: HoldItem[], now: Date): [string, string] {
  return [JSON.stringify(items.map((item, ord) => ({ ...item, ord }))), sqlTimestamp(now)];
}

/** Writes a batch of holds with one statement (the runtime's `holds` queue). */
export async function holdBatch(runtime: Runtime, items: HoldItem[]): Promise<(BalanceRow | undefined)[]> {
  const rows = await runtime.db.raw.preparedWithoutWaiting<HeldRow>("hold_tokens", HOLD_SQL, holdParameters(items, runtime.clock.now()));
  const byOrd = new Map(rows.map(({ ord, ...balance }) => [ord, balance]));
  return items.map((_, ord) => byOrd.get(ord));
}

/** Holds on one balance never share a batch: HOLD_SQL judges each against the row as it was before the batch. */
export const holdKey = (item: HoldItem): string => `${item.member_id}:${item.kind}`;

/** Holds set aside (group-commit.ts) keep their order per member. */
export const holdLane = (item: HoldItem): string => item.member_id;
