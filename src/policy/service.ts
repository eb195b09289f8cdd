// Distribution policy operations: presets, edits, overrides, distribution and reclamation. One transaction each.
import type { TokenKind } from "../db/generated/enums.ts";
import { badInput, notFound } from "../errors.ts";
import { moveAllocations } from "../ledger/allocations.ts";
import { BALANCE_COLUMNS_OF_B, type BalanceRow, balanceSnapshot, lockPool } from "../ledger/balances.ts";
import { tokenAmount } from "../ledger/rules.ts";
import { inTransaction, type Tx } from "../ledger/tx.ts";
import { cycleAt } from "../organizations/cycle.ts";
import type { PendingEvents } from "../pubsub.ts";
import type { Runtime } from "../runtime.ts";
import { loadPolicyBalances, type PolicyBalance } from "./balances.ts";
import { toPolicyValues } from "./cache.ts";
import type { PolicyValues } from "./presets.ts";
import { activate, assertPolicyFloorsAtLeast, distributionTarget, editPolicy, type PolicyInput, planFill, reclaimable } from "./rules.ts";

export const KINDS: readonly TokenKind[] = ["INFERENCE", "TRAINING"];

export async function currentPolicy(client: Tx, organizationId: string): Promise<PolicyValues> {
  const row = await client.distributionPolicy.findUnique({ where: { organizationId } });
  if (!row) throw notFound("Organization");
  return toPolicyValues(row);
}

/** A saved policy, with what bringing the members up to its floors did. */
export type SavedPolicy = PolicyValues & { floorTopUp: DistributionOutcome };

async function minimumFloorOf(tx: Tx, organizationId: string): Promise<bigint> {
  const organization = await tx.organization.findUnique({ where: { id: organizationId }, select: { minimumFloor: true } });
  if (!organization) throw notFound("Organization");
  return organization.minimumFloor;
}

type FloorName = "inferenceFloor" | "trainingFloor";

/** The policy an edit would save, refused (BAD_USER_INPUT naming `field`) when a floor is below the organisation's minimumFloor. */
function checkedPolicy(next: PolicyValues, minimumFloor: bigint, field: (name: FloorName) => string): PolicyValues {
  assertPolicyFloorsAtLeast(next, minimumFloor, field);
  return next;
}

/** Names the floor the admin gave, else the preset that brought it, else the floor as it stood. */
const editedField = (input: PolicyInput) => (name: FloorName) => (input[name] == null && input.preset ? "policy.preset" : `policy.${name}`);

async function savePolicy(
  runtime: Runtime,
  organizationId: string,
  change: (current: PolicyValues, minimumFloor: bigint) => PolicyValues,
): Promise<SavedPolicy> {
  const saved = await inTransaction(
    runtime,
    async (tx, events) => {
      // The row lock serialises concurrent edits: each applies to the other's result.
      await tx.$queryRawUnsafe(`SELECT 1 FROM "DistributionPolicy" WHERE "organizationId" = $1::uuid FOR UPDATE`, organizationId);
      const next = change(await currentPolicy(tx, organizationId), await minimumFloorOf(tx, organizationId));
      const { preset, ...values } = next;
      await tx.distributionPolicy.update({ where: { organizationId }, data: { preset, ...values } });
      // A raised floor brings every member up at once (fairly when the pool is short).
      const floorTopUp = await bringUpToFloors(tx, { organizationId, policy: next, reference: null }, events);
      for (const kind of KINDS) events.add("allocationChanged", organizationId, { kind });
      return { ...next, floorTopUp };
    },
    { timeoutMs: 120_000 },
  );
  runtime.policies.changed(organizationId);
  return saved;
}

export function activatePreset(runtime: Runtime, organizationId: string, preset: PolicyValues["preset"]): Promise<SavedPolicy> {
  return savePolicy(runtime, organizationId, (current, minimumFloor) =>
    checkedPolicy(activate(current, preset), minimumFloor, () => "preset"),
  );
}

/** See `editPolicy`: a named preset is activated first, then the other given fields apply; any difference makes it CUSTOM. */
export function updateDistributionPolicy(runtime: Runtime, organizationId: string, input: PolicyInput): Promise<SavedPolicy> {
  return savePolicy(runtime, organizationId, (current, minimumFloor) =>
    checkedPolicy(editPolicy(current, input), minimumFloor, editedField(input)),
  );
}

/** What saving `input` would do to members below its floors; nothing is changed or saved. */
export function previewFloorChange(runtime: Runtime, organizationId: string, input: PolicyInput): Promise<DistributionOutcome> {
  return inTransaction(runtime, async (tx) => {
    const policy = checkedPolicy(
      editPolicy(await currentPolicy(tx, organizationId), input),
      await minimumFloorOf(tx, organizationId),
      editedField(input),
    );
    return bringUpToFloors(tx, { organizationId, policy, reference: null }, null);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Overrides

export interface OverrideInput {
  floor?: number | null;
  ceiling?: number | null;
  unlimitedCeiling?: boolean | null;
  excluded?: boolean | null;
}

function overrideTokens(value: number | null | undefined, field: string): bigint | null {
  if (value == null) return null;
  return tokenAmount(value, field);
}

/**
 * Replaces the member's override (absent floor or ceiling: the policy's). The floor may be below the policy's
 * (a restricted account) but not below the organisation's minimumFloor. A floor above the member's limit is
 * topped up at once from what the pool has (FLOOR_TOP_UP); the rest follows as soon as tokens arrive.
 */
export async function setOverride(runtime: Runtime, organizationId: string, memberId: string, input: OverrideInput): Promise<void> {
  const floor = overrideTokens(input.floor, "input.floor");
  const ceiling = overrideTokens(input.ceiling, "input.ceiling");
  const unlimitedCeiling = input.unlimitedCeiling ?? false;
  if (unlimitedCeiling && ceiling !== null) throw badInput("input.ceiling", "input.ceiling cannot be given with unlimitedCeiling: true.");
  await inTransaction(runtime, async (tx, events) => {
    const member = await tx.member.findUnique({ where: { id: memberId }, select: { organizationId: true } });
    if (!member || member.organizationId !== organizationId) throw notFound("Member");
    const policy = await currentPolicy(tx, organizationId);
    const minimumFloor = await minimumFloorOf(tx, organizationId);
    if (floor !== null && floor < minimumFloor) {
      throw badInput("input.floor", `input.floor (${floor}) is below the organisation's minimum floor (${minimumFloor}).`);
    }
    if (floor !== null && ceiling === null && !unlimitedCeiling && policy.ceiling !== null && floor > policy.ceiling) {
      throw badInput(
        "input.floor",
        `input.floor (${floor}) is above the policy ceiling (${policy.ceiling}); give a ceiling or unlimitedCeiling too.`,
      );
    }
    if (ceiling !== null) {
      for (const kind of KINDS) {
        const effectiveFloor = floor ?? (kind === "INFERENCE" ? policy.inferenceFloor : policy.trainingFloor);
        if (ceiling < effectiveFloor) {
          throw badInput(
            "input.ceiling",
            `input.ceiling (${ceiling}) must be at least the member's ${kind.toLowerCase()} floor (${effectiveFloor}).`,
          );
        }
      }
    }
    await tx.member.update({
      where: { id: memberId },
      data: {
        hasOverride: true,
        overrideFloor: floor,
        overrideCeiling: ceiling,
        overrideUnlimitedCeiling: unlimitedCeiling,
        overrideExcluded: input.excluded ?? false,
      },
    });
    await bringUpToFloors(tx, { organizationId, policy, memberId, reference: null }, events);
    await announceBounds(tx, organizationId, memberId, events);
  });
}

export async function removeOverride(runtime: Runtime, organizationId: string, memberId: string): Promise<void> {
  await inTransaction(runtime, async (tx, events) => {
    const member = await tx.member.findUnique({ where: { id: memberId }, select: { organizationId: true } });
    if (!member || member.organizationId !== organizationId) throw notFound("Member");
    await tx.member.update({
      where: { id: memberId },
      data: { hasOverride: false, overrideFloor: null, overrideCeiling: null, overrideUnlimitedCeiling: false, overrideExcluded: false },
    });
    // A restricted account (override floor below the policy's) rises to the policy floor.
    await bringUpToFloors(tx, { organizationId, policy: await currentPolicy(tx, organizationId), memberId, reference: null }, events);
    await announceBounds(tx, organizationId, memberId, events);
  });
}

/**
 * The member's floor and ceiling changed: its balance subscribers see the new values. They are part of the balance
 * a subscriber sees, so its version goes up too (an event with an unchanged version would be dropped as old).
 */
async function announceBounds(tx: Tx, organizationId: string, memberId: string, events: PendingEvents): Promise<void> {
  const balances = await tx.$queryRawUnsafe<BalanceRow[]>(
    `UPDATE "Balance" AS b SET "version" = b."version" + 1 WHERE b."memberId" = $1::uuid RETURNING ${BALANCE_COLUMNS_OF_B}`,
    memberId,
  );
  for (const balance of balances)
    events.add("balanceChanged", memberId, { ...balanceSnapshot({ ...balance, organizationId }), overrideChanged: true });
}

// ---------------------------------------------------------------------------------------------------------
// Floors, distribution, reclamation

export interface FillOutcome {
  changes: { memberId: string; kind: TokenKind; before: bigint; after: bigint }[];
  shortfall: bigint;
}

/** Raises non-suspended members below their floor to it, fairly from what the pool has (FLOOR_TOP_UP). */
export async function topUpFloors(
  tx: Tx,
  run: { organizationId: string; kind: TokenKind; policy: PolicyValues; memberId?: string; reference: string | null },
  events: PendingEvents | null,
  locked?: PolicyBalance[],
): Promise<FillOutcome> {
  const balances = (locked ?? (await loadPolicyBalances(tx, { ...run, lock: events !== null }))).filter(
    (balance) => !balance.suspended && balance.limit < balance.floor,
  );
  const outcome = await fill(
    tx,
    run,
    balances.map((balance) => ({ memberId: balance.memberId, limit: balance.limit, target: balance.floor })),
    "FLOOR_TOP_UP",
    events,
  );
  const raised = new Map(outcome.changes.map((change) => [change.memberId, change.after]));
  for (const balance of balances) balance.limit = raised.get(balance.memberId) ?? balance.limit;
  return outcome;
}

/**
 * Raises every non-suspended member below its floor to it, both kinds (FLOOR_TOP_UP). With `events` null nothing
 * is written: the preview of what saving `policy` would do.
 */
export async function bringUpToFloors(
  tx: Tx,
  run: { organizationId: string; policy: PolicyValues; reference: string | null; memberId?: string },
  events: PendingEvents | null,
): Promise<DistributionOutcome> {
  const outcome: DistributionOutcome = { changes: [], totalAfter: 0n, shortfall: 0n };
  for (const kind of KINDS) {
    const balances = await loadPolicyBalances(tx, { ...run, kind, lock: events !== null });
    const result = await topUpFloors(tx, { ...run, kind }, events, balances);
    outcome.changes.push(...result.changes);
    outcome.shortfall += result.shortfall;
    outcome.totalAfter += balances.reduce((sum, balance) => sum + balance.limit, 0n);
  }
  return outcome;
}

async function fill(
  tx: Tx,
  run: { organizationId: string; kind: TokenKind; reference: string | null; actorId?: string | null },
  items: { memberId: string; limit: bigint; target: bigint }[],
  type: "FLOOR_TOP_UP" | "DISTRIBUTION",
  events: PendingEvents | null,
): Promise<FillOutcome> {
  if (items.length === 0) return { changes: [], shortfall: 0n };
  const pool = await lockPool(tx, run.organizationId, run.kind);
  const plan = planFill(items, pool);
  const changes = items
    .map((item, index) => ({ memberId: item.memberId, kind: run.kind, before: item.limit, after: item.limit + plan.grants[index]! }))
    .filter((change) => change.after !== change.before);
  if (events && changes.length > 0) {
    await moveAllocations(
      tx,
      {
        organizationId: run.organizationId,
        kind: run.kind,
        type,
        changes: changes.map((change) => ({ memberId: change.memberId, delta: change.after - change.before })),
        reference: run.reference,
        actorId: run.actorId ?? null,
        note:
          type === "FLOOR_TOP_UP" ? "Topped up to the floor." : "Distribute now: raised towards the ceiling (the floor where unlimited).",
      },
      events,
    );
  }
  return { changes, shortfall: plan.shortfall };
}

export interface DistributionOutcome {
  changes: FillOutcome["changes"];
  totalAfter: bigint;
  shortfall: bigint;
}

/**
 * distributeNow: every non-suspended member is raised to its target (the ceiling, or the floor where the
 * ceiling is unlimited), fairly when the pool is short. It never lowers a limit: members at or above their
 * target keep theirs. With `events` null nothing is written (the preview), and `policy` may be a draft.
 */
export async function distribute(
  tx: Tx,
  run: { organizationId: string; policy: PolicyValues; actorId: string | null },
  events: PendingEvents | null,
): Promise<DistributionOutcome> {
  const outcome: DistributionOutcome = { changes: [], totalAfter: 0n, shortfall: 0n };
  for (const kind of KINDS) {
    const balances = await loadPolicyBalances(tx, { organizationId: run.organizationId, kind, policy: run.policy, lock: events !== null });
    const items = balances.filter((balance) => !balance.suspended).map((balance) => ({ ...balance, target: distributionTarget(balance) }));
    const result = await fill(
      tx,
      { organizationId: run.organizationId, kind, reference: null, actorId: run.actorId },
      items,
      "DISTRIBUTION",
      events,
    );
    const raised = new Map(result.changes.map((change) => [change.memberId, change.after]));
    outcome.changes.push(...result.changes);
    outcome.shortfall += result.shortfall;
    outcome.totalAfter += balances.reduce((sum, balance) => sum + (raised.get(balance.memberId) ?? balance.limit), 0n);
  }
  return outcome;
}

export function previewDistribution(runtime: Runtime, organizationId: string, input: PolicyInput | null): Promise<DistributionOutcome> {
  return inTransaction(runtime, async (tx) => {
    const current = await currentPolicy(tx, organizationId);
    const policy = input ? editPolicy(current, input) : current;
    return distribute(tx, { organizationId, policy, actorId: null }, null);
  });
}

export function distributeNow(runtime: Runtime, organizationId: string, actorId: string): Promise<DistributionOutcome> {
  return inTransaction(
    runtime,
    async (tx, events) => distribute(tx, { organizationId, policy: await currentPolicy(tx, organizationId), actorId }, events),
    { timeoutMs: 120_000 },
  );
}

export interface ReclamationCandidate {
  memberId: string;
  kind: TokenKind;
  limit: bigint;
  projectedNeed: bigint;
  reclaimable: bigint;
}

/** Reclaims (with `events`; previews with null) every limit above its projected need, back to the pool. */
export async function reclaim(
  tx: Tx,
  run: {
    organizationId: string;
    kind: TokenKind;
    policy: PolicyValues;
    cycleAnchorDay: number;
    now: Date;
    actorId: string | null;
    reference: string | null;
  },
  events: PendingEvents | null,
  locked?: PolicyBalance[],
): Promise<ReclamationCandidate[]> {
  const cycle = cycleAt(run.cycleAnchorDay, run.now);
  const balances = locked ?? (await loadPolicyBalances(tx, { ...run, lock: events !== null }));
  const candidates: ReclamationCandidate[] = [];
  const reclaimed: PolicyBalance[] = [];
  for (const balance of balances) {
    if (balance.excluded) continue;
    const result = reclaimable(balance, cycle, run.now);
    if (!result) continue;
    candidates.push({ memberId: balance.memberId, kind: run.kind, limit: balance.limit, ...result });
    reclaimed.push(balance);
  }
  if (events && candidates.length > 0) {
    await moveAllocations(
      tx,
      {
        organizationId: run.organizationId,
        kind: run.kind,
        type: "RECLAMATION",
        changes: candidates.map((candidate) => ({ memberId: candidate.memberId, delta: -candidate.reclaimable })),
        reference: run.reference,
        actorId: run.actorId,
        note: "Reclaimed the allocation above the projected need.",
      },
      events,
    );
    reclaimed.forEach((balance, index) => {
      balance.limit -= candidates[index]!.reclaimable;
    });
  }
  return candidates;
}

async function reclaimAll(
  runtime: Runtime,
  organizationId: string,
  actorId: string | null,
  apply: boolean,
): Promise<ReclamationCandidate[]> {
  return inTransaction(
    runtime,
    async (tx, events) => {
      const policy = await currentPolicy(tx, organizationId);
      const { cycleAnchorDay } = await tx.organization.findUniqueOrThrow({
        where: { id: organizationId },
        select: { cycleAnchorDay: true },
      });
      const now = runtime.clock.now();
      const candidates: ReclamationCandidate[] = [];
      for (const kind of KINDS) {
        candidates.push(
          ...(await reclaim(tx, { organizationId, kind, policy, cycleAnchorDay, now, actorId, reference: null }, apply ? events : null)),
        );
      }
      return candidates;
    },
    { timeoutMs: 120_000 },
  );
}

export const previewReclamation = (runtime: Runtime, organizationId: string) => reclaimAll(runtime, organizationId, null, false);
export const reclaimNow = (runtime: Runtime, organizationId: string, actorId: string) => reclaimAll(runtime, organizationId, actorId, true);
