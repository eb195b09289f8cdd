// Each organisation's distribution policy, cached per server process for the usage hot path. Evicted by the
// policyChanged event (every process, through Redis when configured), with a short TTL as a safety net.
// Built and closed by buildApp (src/server/app.ts); the runtime carries it.
import type { DistributionPolicy, PrismaClient } from "../db/generated/client.ts";
import { type AppPubSub, listen } from "../pubsub.ts";
import type { PolicyValues } from "./presets.ts";

const TTL_MS = 30_000;

export interface CachedPolicy {
  policy: PolicyValues;
  cycleAnchorDay: number;
  loadedAt: number;
}

export function toPolicyValues(row: DistributionPolicy): PolicyValues {
  return {
    preset: row.preset,
    inferenceFloor: row.inferenceFloor,
    trainingFloor: row.trainingFloor,
    ceiling: row.ceiling,
    autoIncrease: row.autoIncrease,
    triggerMode: row.triggerMode,
    triggerPercent: row.triggerPercent,
    cooldownMinutes: row.cooldownMinutes,
    bumpMethod: row.bumpMethod,
    bumpAmount: row.bumpAmount,
    bufferDays: row.bufferDays,
    nearMaxThreshold: row.nearMaxThreshold,
    nearMaxBump: row.nearMaxBump,
    monthlyResetToFloor: row.monthlyResetToFloor,
    reclamation: row.reclamation,
    rebalanceFrequency: row.rebalanceFrequency,
  };
}

export class PolicyCache {
  readonly #prisma: PrismaClient;
  readonly #pubsub: AppPubSub;
  readonly #entries = new Map<string, CachedPolicy>();
  /** Bumped on every eviction so a load that raced with it is not stored. */
  #generation = 0;
  readonly #stopListening: () => void;

  constructor(prisma: PrismaClient, pubsub: AppPubSub) {
    this.#prisma = prisma;
    this.#pubsub = pubsub;
    this.#stopListening = listen(pubsub, "policyChanged", ({ organizationId }) => this.#evict(organizationId));
  }

  /** The organisation's policy and cycle anchor; a database read only on a cache miss. */
  async get(organizationId: string): Promise<CachedPolicy | null> {
    const now = Date.now();
    const hit = this.#entries.get(organizationId);
    if (hit && now - hit.loadedAt < TTL_MS) return hit;
    const generation = this.#generation;
    const row = await this.#prisma.distributionPolicy.findUnique({
      where: { organizationId },
      include: { organization: { select: { cycleAnchorDay: true } } },
    });
    if (!row) return null;
    const entry: CachedPolicy = { policy: toPolicyValues(row), cycleAnchorDay: row.organization.cycleAnchorDay, loadedAt: now };
    if (this.#generation === generation) this.#entries.set(organizationId, entry);
    return entry;
  }

  /** Evicts here at once (the caller's own process), then everywhere through the event. */
  changed(organizationId: string): void {
    this.#evict(organizationId);
    this.#pubsub.publish("policyChanged", { organizationId });
  }

  close(): void {
    this.#stopListening();
  }

  #evict(organizationId: string): void {
    this.#entries.delete(organizationId);
    this.#generation++;
  }
}
