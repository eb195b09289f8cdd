// Spend threshold alerts after usage charges (an after-charge hook of the hot path, see usage/after-charge.ts).
// An organisation without thresholds costs no query at all (its thresholds are cached per process), one with
// thresholds at most one read per batch, and a transaction only when a threshold is crossed. The unique
// (threshold, cycle) row makes each alert fire once, across processes.
import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../db/generated/client.ts";
import { type AppPubSub, listen } from "../pubsub.ts";
import type { AfterChargeHook, ChargedSpend, ChargeFollowUp } from "../usage/after-charge.ts";
import { reachedThresholds, relevantThresholds, type ThresholdRule, thresholdAmount } from "./rules.ts";

/** Safety net behind the spendThresholdsChanged event (a lost event heals within this). */
const TTL_MS = 30_000;
const MAX_CACHED_ORGANIZATIONS = 50_000;

interface CachedThresholds {
  rules: ThresholdRule[];
  loadedAt: number;
  /** "<thresholdId>@<cycleStart ms>" of alerts known to exist, so they are not looked up again. */
  fired: Set<string>;
}

/** Each organisation's spend thresholds, per server process; built and closed by buildApp. */
export class ThresholdCache {
  readonly #prisma: PrismaClient;
  readonly #entries = new Map<string, CachedThresholds>();
  /** Bumped by every eviction, so a load that raced with a change does not store the old thresholds. */
  readonly #generations = new Map<string, number>();
  readonly #stopListening: () => void;

  constructor(prisma: PrismaClient, pubsub: AppPubSub) {
    this.#prisma = prisma;
    this.#stopListening = listen(pubsub, "spendThresholdsChanged", ({ organizationId }) => this.forget(organizationId));
  }

  async get(organizationId: string): Promise<CachedThresholds> {
    const cached = this.#entries.get(organizationId);
    if (cached && performance.now() - cached.loadedAt < TTL_MS) return cached;
    const generation = this.#generations.get(organizationId) ?? 0;
    const rows = await this.#prisma.spendThreshold.findMany({
      where: { organizationId },
      select: { id: true, modelId: true, percent: true },
    });
    const entry: CachedThresholds = { rules: rows, loadedAt: performance.now(), fired: new Set() };
    if ((this.#generations.get(organizationId) ?? 0) === generation) {
      if (this.#entries.size >= MAX_CACHED_ORGANIZATIONS) this.#entries.clear();
      this.#entries.set(organizationId, entry);
    }
    return entry;
  }

  /** Drops this process's cached thresholds of an organisation (after they changed). */
  forget(organizationId: string): void {
    this.#entries.delete(organizationId);
    this.#generations.set(organizationId, (this.#generations.get(organizationId) ?? 0) + 1);
  }

  close(): void {
    this.#stopListening();
  }
}

interface Standing {
  organizationSpend: string;
  envelope: string;
  modelSpend: string;
  cap: string | null;
  fired: string | null;
}

export const spendAlertsAfterCharge: AfterChargeHook = {
  name: "spend-alerts",
  async plan(runtime, { spends }) {
    const followUps: ChargeFollowUp[] = [];
    for (const spend of spends) {
      const followUp = await planAlerts(runtime.prisma, runtime.spendThresholds, spend, runtime.clock.now());
      if (followUp) followUps.push(followUp);
    }
    if (followUps.length === 0) return null;
    return async (tx, events) => {
      for (const followUp of followUps) await followUp(tx, events);
    };
  },
};

/** The alerts that `spend` crossed: read outside any transaction; only crossing one writes. */
async function planAlerts(prisma: PrismaClient, cache: ThresholdCache, spend: ChargedSpend, now: Date): Promise<ChargeFollowUp | null> {
  const thresholds = await cache.get(spend.organizationId);
  if (thresholds.rules.length === 0) return null;
  const cycle = spend.cycleStart.getTime();
  const firedKey = (id: string) => `${id}@${cycle}`;
  const pending = relevantThresholds(thresholds.rules, spend.modelId).filter((rule) => !thresholds.fired.has(firedKey(rule.id)));
  if (pending.length === 0) return null;

  const cycleStart = spend.cycleStart.toISOString();
  const ids = pending.map((_, index) => `$${index + 4}::uuid`).join(", ");
  const [standing] = await prisma.$queryRawUnsafe<Standing[]>(
    `SELECT
       (SELECT COALESCE(sum(s."spend"), 0) FROM "ModelCycleSpend" s
         WHERE s."organizationId" = $1::uuid AND s."cycleStart" = $2::timestamp)::text AS "organizationSpend",
       (SELECT o."planBudget" + o."overageLimit" FROM "Organization" o WHERE o."id" = $1::uuid)::text AS "envelope",
       COALESCE((SELECT s."spend" FROM "ModelCycleSpend" s
         WHERE s."organizationId" = $1::uuid AND s."modelId" = $3::uuid AND s."cycleStart" = $2::timestamp), 0)::text AS "modelSpend",
       (SELECT m."cap" FROM "Model" m WHERE m."id" = $3::uuid)::text AS "cap",
       (SELECT string_agg(a."thresholdId"::text, ',') FROM "SpendAlert" a
         WHERE a."cycleStart" = $2::timestamp AND a."thresholdId" IN (${ids})) AS "fired"`,
    spend.organizationId,
    cycleStart,
    spend.modelId,
    ...pending.map((rule) => rule.id),
  );
  if (!standing) return null;
  const alreadyFired = new Set(standing.fired ? standing.fired.split(",") : []);
  for (const id of alreadyFired) thresholds.fired.add(firedKey(id));
  const reached = reachedThresholds(
    pending.filter((rule) => !alreadyFired.has(rule.id)),
    { ...standing, modelId: spend.modelId },
  );
  if (reached.length === 0) return null;
  return async (tx, events) => {
    for (const rule of reached) {
      const organizationWide = rule.modelId === null;
      const spent = organizationWide ? standing.organizationSpend : standing.modelSpend;
      const alertId = randomUUID();
      const inserted = await tx.$queryRawUnsafe<{ id: string }[]>(
        `INSERT INTO "SpendAlert" ("id", "thresholdId", "cycleStart", "spend", "createdAt")
       VALUES ($1::uuid, $2::uuid, $3::timestamp, $4::numeric, $5::timestamp)
       ON CONFLICT ("thresholdId", "cycleStart") DO NOTHING
       RETURNING "id"::text AS "id"`,
        alertId,
        rule.id,
        cycleStart,
        spent,
        now.toISOString(),
      );
      // Remembered only once committed by someone: ours may still roll back (the next check sees it in "fired").
      if (inserted.length === 0) {
        thresholds.fired.add(firedKey(rule.id));
        continue;
      }
      events.add("spendAlert", spend.organizationId, {
        alertId,
        thresholdId: rule.id,
        modelId: rule.modelId,
        percent: rule.percent,
        spend: spent,
        amount: thresholdAmount(rule.percent, organizationWide ? standing.envelope : standing.cap)!.toFixed(),
        cycleStart,
        createdAt: now.toISOString(),
      });
    }
  };
}
