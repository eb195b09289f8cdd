// authorizeUsage's read of the member's and the models' standing, group-read: every authorization reads the same
// few rows of its organisation, so the reads that arrive while one is running go together in the next statement
// (the runtime's `standings` queue, a GroupCommit of reads: one statement, one round trip for the lot).
import type { Decimal } from "decimal.js";
import type { Model } from "../db/generated/client.ts";
import type { TokenKind } from "../db/generated/enums.ts";
import type { Runtime } from "../runtime.ts";
import { AUTHORIZE_STANDINGS_SQL } from "./statements.ts";

/** One authorization's read, as AUTHORIZE_STANDINGS_SQL takes it (`ord` is given by the batch). */
export interface StandingItem {
  member_id: string;
  organization_id: string;
  kind: TokenKind;
  /** The authorization's time (UTC timestamp text): the cycle whose spend is read. */
  at: string;
}

export interface MemberStandingRow {
  suspended: boolean;
  hasLimitsOverride: boolean;
  dailyLimit: bigint | null;
  monthlyLimit: bigint | null;
  planBudget: Decimal;
  overageLimit: Decimal;
  automaticFallback: boolean;
  defaultDailyLimit: bigint | null;
  defaultMonthlyLimit: bigint | null;
  limit: bigint | null;
  used: bigint | null;
  reserved: bigint | null;
  usedOnDay: bigint | null;
  usedDay: Date | null;
}

export interface ModelStandingRow extends Model {
  cycleSpend: Decimal;
  openReservationCost: Decimal;
}

/** The model columns of a standing row for an organisation without models. */
type NoModel = { [K in keyof ModelStandingRow]: K extends "cycleSpend" | "openReservationCost" ? Decimal : null };

/** One row per model of the member's organisation (one with no model when it has none); none for a stranger. */
export type StandingRows = (MemberStandingRow & (ModelStandingRow | NoModel))[];

/** Reads a batch of standings with one statement; each item's rows, in the items' order. */
export async function readStandings(runtime: Runtime, items: StandingItem[]): Promise<StandingRows[]> {
  const rows = await runtime.db.raw.prepared<StandingRows[number] & { ord: number }>("authorize_standings", AUTHORIZE_STANDINGS_SQL, [
    JSON.stringify(items.map((item, ord) => ({ ...item, ord }))),
  ]);
  const byItem: StandingRows[] = items.map(() => []);
  for (const row of rows) byItem[row.ord]!.push(row);
  return byItem;
}
