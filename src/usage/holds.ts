// authorizeUsage's holds on balances, group-committed (group-commit.ts): every hold updates its member's balance
// row, so the holds that arrive while a batch is written go together in the next one.
import type { TokenKind } from "../db/generated/enums.ts";
import type { BalanceRow } from "../ledger/balances.ts";
import type { Runtime } from "../runtime.ts";
import { holdSql, type RowLocks, sqlTimestamp } from "./statements.ts";

const HOLD_STATEMENTS = { skip: holdSql("skip"), wait: holdSql("wait") };

/** One hold, as holdSql reads it (`ord` is given by the batch). */
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

/** A hold's outcome: the balance after it when its tokens were held; none when they were not there (or no balance). */
export interface HoldOutcome {
  balance: BalanceRow | undefined;
  /** Its balance row was locked elsewhere: nothing held, to be written again. */
  skipped: boolean;
}

export type HeldRow = Partial<BalanceRow> & { ord: number; skipped: boolean };

/** holdSql's parameters for `items` at `now`. */
export function holdParameters(items: HoldItem[], now: Date): [string, string] {
  return [JSON.stringify(items.map((item, ord) => ({ ...item, ord }))), sqlTimestamp(now)];
}

/** Writes a batch of holds with one statement (the runtime's `holds` queue). */
export async function holdBatch(runtime: Runtime, items: HoldItem[], rowLocks: RowLocks): Promise<HoldOutcome[]> {
  const rows = await runtime.db.raw.preparedWithoutWaiting<HeldRow>(
    `hold_tokens_${rowLocks}`,
    HOLD_STATEMENTS[rowLocks],
    holdParameters(items, runtime.clock.now()),
  );
  const byOrd = new Map(rows.map((row) => [row.ord, row]));
  return items.map((_, ord) => holdOutcome(byOrd.get(ord)));
}

/** A hold's row as holdSql returns it (none when its balance does not exist), as an outcome. */
export function holdOutcome(row: HeldRow | undefined): HoldOutcome {
  if (!row) return { balance: undefined, skipped: false };
  const { ord: _ord, skipped, ...balance } = row;
  return { balance: balance.memberId ? (balance as BalanceRow) : undefined, skipped };
}

/** A capped model's hold, inside the transaction that locked the model: it waits for the balance row. */
export const HOLD_WAITING_SQL = HOLD_STATEMENTS.wait;

/** Holds on one balance never share a batch: holdSql judges each against the row as it was before the batch. */
export const holdKey = (item: HoldItem): string => `${item.member_id}:${item.kind}`;

/** Holds set aside (group-commit.ts) keep their order per member. */
export const holdLane = (item: HoldItem): string => item.member_id;
