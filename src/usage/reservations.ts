// Expiry of reservations nobody committed or released: their tokens go back to the member.
import { type BalanceRow, publishCommittedBalances } from "../ledger/balances.ts";
import type { Runtime } from "../runtime.ts";
import { EXPIRE_SQL } from "./statements.ts";

/** Reservations expired per statement; a backlog is worked off batch by batch. */
const BATCH = 1000;

/** Expires every OPEN reservation past its expiry; returns how many balances changed. */
export async function expireReservations(runtime: Runtime): Promise<number> {
  const now = runtime.clock.now().toISOString().slice(0, 23);
  let changed = 0;
  for (;;) {
    const balances = await runtime.prisma.$queryRawUnsafe<BalanceRow[]>(EXPIRE_SQL, now, BATCH);
    publishCommittedBalances(runtime, balances);
    changed += balances.length;
    if (balances.length === 0) return changed;
  }
}
