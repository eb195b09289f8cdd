// The organisation's allocation status for one kind, read in one SQL statement so its numbers agree with each other.
import { Repeater } from "graphql-yoga";
import type { PresetName, TokenKind } from "../db/generated/enums.ts";
import type { Runtime } from "../runtime.ts";
import type { Tx } from "./tx.ts";

export interface AllocationStatus {
  organizationId: string;
  kind: TokenKind;
  /** Pool plus outstanding allocations. */
  purchased: bigint;
  /** Σ member limits this period. */
  allocated: bigint;
  /** Σ member use this period. */
  used: bigint;
  /** The pool. */
  unallocated: bigint;
  /** Every token ever bought, and those consumed in closed periods: the two ends of the conservation law. */
  purchasedAllTime: bigint;
  consumedInClosedPeriods: bigint;
  activePreset: PresetName;
}

interface Row {
  unallocated: bigint;
  purchasedTotal: bigint;
  consumedInClosedCycles: bigint;
  allocated: bigint;
  used: bigint;
  preset: PresetName | null;
}

export async function allocationStatus(
  db: Pick<Tx, "$queryRawUnsafe">,
  organizationId: string,
  kind: TokenKind,
): Promise<AllocationStatus | null> {
  const rows = await db.$queryRawUnsafe<Row[]>(
    `SELECT p."tokens" AS unallocated, p."purchasedTotal", p."consumedInClosedCycles",
            COALESCE(b.allocated, 0)::bigint AS allocated, COALESCE(b.used, 0)::bigint AS used, d."preset"::text AS preset
       FROM "Pool" p
       LEFT JOIN LATERAL (
         SELECT SUM("limit") AS allocated, SUM("used") AS used FROM "Balance"
          WHERE "organizationId" = p."organizationId" AND "kind" = p."kind"
       ) b ON true
       LEFT JOIN "DistributionPolicy" d ON d."organizationId" = p."organizationId"
      WHERE p."organizationId" = $1::uuid AND p."kind" = $2::"TokenKind"`,
    organizationId,
    kind,
  );
  const row = rows[0];
  if (!row) return null;
  return {
    organizationId,
    kind,
    purchased: row.unallocated + row.allocated,
    allocated: row.allocated,
    used: row.used,
    unallocated: row.unallocated,
    purchasedAllTime: row.purchasedTotal,
    consumedInClosedPeriods: row.consumedInClosedCycles,
    activePreset: row.preset ?? "STANDARD",
  };
}

const statusKey = (status: AllocationStatus | null) =>
  JSON.stringify(status, (_key, value) => (typeof value === "bigint" ? value.toString() : value));

/**
 * The status now, then again whenever it changes: allocation movements of this kind, and usage charges (which change
 * `used` and arrive as spendChanged). Listening starts before the first read; bursts of events coalesce into one read,
 * and a read that finds nothing new sends nothing, except after a gap in delivery (deliveryGap): then the status again.
 */
export function allocationStatusStream(runtime: Runtime, organizationId: string, kind: TokenKind): Repeater<AllocationStatus> {
  return new Repeater<AllocationStatus>(async (push, stop) => {
    const allocations = runtime.pubsub.subscribe("allocationChanged", organizationId)[Symbol.asyncIterator]();
    const spend = runtime.pubsub.subscribe("spendChanged", organizationId)[Symbol.asyncIterator]();
    const gaps = runtime.pubsub.subscribe("deliveryGap")[Symbol.asyncIterator]();
    let dirty = true;
    let reading = false;
    let last = "";
    const refresh = async () => {
      if (reading) return;
      reading = true;
      try {
        while (dirty) {
          dirty = false;
          const status = await allocationStatus(runtime.prisma, organizationId, kind);
          const key = statusKey(status);
          if (status && key !== last) {
            last = key;
            await push(status);
          }
        }
      } catch (error) {
        stop(error);
      } finally {
        reading = false;
      }
    };
    const listen = async (events: AsyncIterator<unknown>, relevant: (event: unknown) => boolean) => {
      for (;;) {
        const event = await events.next();
        if (event.done) return;
        if (!relevant(event.value)) continue;
        dirty = true;
        void refresh();
      }
    };
    void listen(allocations, (event) => (event as { kind: TokenKind }).kind === kind);
    void listen(spend, () => true);
    // After a gap in delivery the subscriber gets the current status again, changed or not.
    void listen(gaps, () => {
      last = "";
      return true;
    });
    void refresh();
    await stop;
    await Promise.all([allocations.return?.(), spend.return?.(), gaps.return?.()]);
  });
}
