// Each organisation's distribution policy, cached in process for the usage hot path. Evicted by the
// policyChanged event (every process, through Redis when configured), with a short TTL as a safety net.
import type { DistributionPolicy } from "../db/generated/client.ts";
import type { Tx } from "../ledger/tx.ts";
import type { Runtime } from "../runtime.ts";
import type { PolicyValues } from "./presets.ts";

const TTL_MS = 30_000;

export interface CachedPolicy {
  policy: PolicyValues;
  cycleAnchorDay: number;
  loadedAt: number;
}

interface PolicyCache {
  entries: Map<string, CachedPolicy>;
  /** Bumped on every eviction so a load that raced with it is not stored. */
  generation: number;
}

const caches = new WeakMap<Runtime, PolicyCache>();

function cacheOf(runtime: Runtime): PolicyCache {
  let cache = caches.get(runtime);
  if (!cache) {
    const created: PolicyCache = { entries: new Map(), generation: 0 };
    cache = created;
    caches.set(runtime, created);
    void (async () => {
      for await (const { organizationId } of runtime.pubsub.subscribe("policyChanged")) {
        created.entries.delete(organizationId);
        created.generation++;
      }
    })().catch(() => {});
  }
  return cache;
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

/** The organisation's policy and cycle anchor; a database read only on a cache miss. */
export async function cachedPolicy(runtime: Runtime, organizationId: string, client: Tx = runtime.prisma): Promise<CachedPolicy | null> {
  const cache = cacheOf(runtime);
  const now = Date.now();
  const hit = cache.entries.get(organizationId);
  if (hit && now - hit.loadedAt < TTL_MS) return hit;
  const generation = cache.generation;
  // Inside a transaction the caller passes it: PGlite has one connection, so a read beside it would wait.
  const row = await client.distributionPolicy.findUnique({
    where: { organizationId },
    include: { organization: { select: { cycleAnchorDay: true } } },
  });
  if (!row) return null;
  const entry: CachedPolicy = { policy: toPolicyValues(row), cycleAnchorDay: row.organization.cycleAnchorDay, loadedAt: now };
  if (cache.generation === generation) cache.entries.set(organizationId, entry);
  return entry;
}

/** Evicts here at once (the caller's own process), then everywhere through the event. */
export function policyChanged(runtime: Runtime, organizationId: string): void {
  const cache = cacheOf(runtime);
  cache.entries.delete(organizationId);
  cache.generation++;
  runtime.pubsub.publish("policyChanged", { organizationId });
}
