// Model spend: the cycle summary read from the per-model rollups, and the admins' spend thresholds.
import { Repeater, SlidingBuffer } from "@graphql-yoga/subscription";
import { Decimal } from "decimal.js";
import type { Model } from "../db/generated/client.ts";
import { notFound } from "../errors.ts";
import { inTransaction } from "../ledger/tx.ts";
import { cycleAt } from "../organizations/cycle.ts";
import type { Runtime } from "../runtime.ts";
import { normalizeThresholdPercents, type SpendSummaryView, summarizeSpend } from "./rules.ts";

/** The cycle's spend, and the overage the operator offered that an admin has yet to accept (null: none). */
export type SpendSummary = SpendSummaryView<Model> & { pendingOverageLimit: Decimal | null };

/** The current cycle's spend: a handful of rollup rows (one per model), however much usage there was. */
export async function spendSummary(runtime: Runtime, organizationId: string): Promise<SpendSummary> {
  const { prisma } = runtime;
  const organization = await prisma.organization.findUnique({
    where: { id: organizationId },
    select: { planBudget: true, overageLimit: true, pendingOverageLimit: true, cycleAnchorDay: true },
  });
  if (!organization) throw notFound("Organization");
  const cycle = cycleAt(organization.cycleAnchorDay, runtime.clock.now());
  const [models, rollups] = await Promise.all([
    prisma.model.findMany({ where: { organizationId } }),
    prisma.modelCycleSpend.findMany({ where: { organizationId, cycleStart: cycle.start } }),
  ]);
  const byModel = new Map(rollups.map((row) => [row.modelId, row]));
  const summary = summarizeSpend({
    cycleStart: cycle.start,
    cycleEnd: cycle.end,
    planBudget: organization.planBudget.toString(),
    overageLimit: organization.overageLimit.toString(),
    models: models.map((model) => {
      const row = byModel.get(model.id);
      return { model, spend: new Decimal(row ? row.spend.toString() : 0), requests: row?.requests ?? 0, tokens: row?.tokens ?? 0n };
    }),
  });
  const pending = organization.pendingOverageLimit;
  return { ...summary, pendingOverageLimit: pending === null ? null : new Decimal(pending.toString()) };
}

/**
 * Replaces the thresholds of one scope (the organisation's envelope when modelId is null, else that model's
 * cap). Percents kept from before keep their row, so an alert already sent this cycle is not sent again.
 */
export async function setSpendThresholds(
  runtime: Runtime,
  organizationId: string,
  modelId: string | null,
  percents: readonly number[],
): Promise<void> {
  const wanted = normalizeThresholdPercents(percents);
  await inTransaction(runtime, async (tx, events) => {
    if (modelId) {
      const model = await tx.model.findUnique({ where: { id: modelId }, select: { organizationId: true } });
      if (!model || model.organizationId !== organizationId) throw notFound("Model");
    }
    // NULL modelIds are distinct to the unique index, so two admins saving at once are serialised here instead.
    await tx.$queryRawUnsafe(
      `SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS l`,
      `spend-thresholds:${organizationId}`,
    );
    const existing = await tx.spendThreshold.findMany({ where: { organizationId, modelId }, select: { id: true, percent: true } });
    const stale = existing.filter((row) => !wanted.includes(row.percent)).map((row) => row.id);
    const missing = wanted.filter((percent) => !existing.some((row) => row.percent === percent));
    if (stale.length > 0) await tx.spendThreshold.deleteMany({ where: { id: { in: stale } } });
    if (missing.length > 0) {
      await tx.spendThreshold.createMany({ data: missing.map((percent) => ({ organizationId, modelId, percent })) });
    }
    events.add("spendThresholdsChanged", { organizationId });
  });
  // This process at once; the event reaches the others.
  runtime.spendThresholds.forget(organizationId);
}

/** Emissions of one spendChanged subscriber are at least this far apart; the newest summary always follows. */
export const SPEND_EMIT_INTERVAL_MS = 100;

/**
 * The current summary at once, then a fresh one after each spendChanged event of the organisation. Bursts are
 * coalesced: while a summary is being read or the interval has not passed, further events only mark it stale,
 * and one more summary is read afterwards, so the last one sent always reflects the last change. A subscriber
 * that reads slowly gets the newest summary (a sliding buffer of one), never a backlog of old ones.
 */
export function liveSpendSummary(runtime: Runtime, organizationId: string): Repeater<SpendSummary> {
  return new Repeater<SpendSummary>(async (push, stop) => {
    // A gap in delivery (deliveryGap) is answered like a change: the current summary again.
    const events = Repeater.merge([runtime.pubsub.subscribe("spendChanged", organizationId), runtime.pubsub.subscribe("deliveryGap")])[
      Symbol.asyncIterator
    ]();
    let nextEvent = events.next();
    let stopped = false;
    let busy = false;
    let stale = false;
    let lastRead = Number.NEGATIVE_INFINITY;
    let timer: NodeJS.Timeout | undefined;

    const read = async () => {
      timer = undefined;
      stale = false;
      lastRead = performance.now();
      try {
        const summary = await spendSummary(runtime, organizationId);
        if (!stopped) void push(summary);
      } catch (error) {
        stop(error);
        return;
      } finally {
        busy = false;
      }
      if (stale && !stopped) schedule();
    };
    const schedule = () => {
      busy = true;
      timer = setTimeout(() => void read(), Math.max(0, lastRead + SPEND_EMIT_INTERVAL_MS - performance.now()));
    };

    void stop.then(() => {
      stopped = true;
      clearTimeout(timer);
      void events.return?.();
    });
    busy = true;
    void read();
    while (!stopped) {
      const event = await nextEvent;
      if (event.done) break;
      nextEvent = events.next();
      stale = true;
      if (!busy) schedule();
    }
    stop();
  }, new SlidingBuffer(1));
}
