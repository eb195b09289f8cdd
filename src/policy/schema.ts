// Distribution policy: presets, the organisation's policy and schedule, previews, and the admin's actions.

import { decodeId, requireAdmin } from "../auth/access.ts";
import { cycleDatesRule, staffOnly } from "../auth/read-rules.ts";
import { builder } from "../builder.ts";
import type { Context } from "../context.ts";
import { AppError } from "../errors.ts";
import { cycleAt } from "../organizations/cycle.ts";
import { BumpMethodEnum, PresetNameEnum, RebalanceFrequencyEnum, TokenKindEnum, TriggerModeEnum } from "../schema/enums.ts";
import { toPolicyValues } from "./cache.ts";
import { type FixedPresetName, type PolicyValues, PRESETS } from "./presets.ts";
import { nextRebalance, type PolicyInput, rebalanceSlot } from "./rules.ts";
import { CYCLE_RESET, type KindOutcome, REBALANCE, type RunOutcome, type ScheduledJob } from "./scheduled.ts";
import {
  activatePreset,
  type DistributionOutcome,
  distributeNow,
  previewDistribution,
  previewFloorChange,
  previewReclamation,
  type ReclamationCandidate,
  reclaimNow,
  removeOverride,
  setOverride,
  updateDistributionPolicy,
} from "./service.ts";

const DistributionPreviewRef = builder.objectRef<DistributionOutcome>("DistributionPreview");

/** A policy as read, or as saved by a mutation together with what bringing members up to its floors did. */
const DistributionPolicyRef = builder.objectRef<PolicyValues & { floorTopUp?: DistributionOutcome }>("DistributionPolicy");
builder.objectType(DistributionPolicyRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    preset: t.field({ type: PresetNameEnum, resolve: (p) => p.preset }),
    inferenceFloor: t.field({ type: "SafeInt", resolve: (p) => p.inferenceFloor }),
    trainingFloor: t.field({ type: "SafeInt", resolve: (p) => p.trainingFloor }),
    ceiling: t.field({ type: "SafeInt", nullable: true, description: "null means unlimited.", resolve: (p) => p.ceiling }),
    autoIncrease: t.exposeBoolean("autoIncrease"),
    triggerMode: t.field({ type: TriggerModeEnum, resolve: (p) => p.triggerMode }),
    triggerPercent: t.exposeFloat("triggerPercent", {
      description: "Percent of the allocation used at which a bump fires (10-99 for FLAT_THRESHOLD).",
    }),
    cooldownMinutes: t.exposeInt("cooldownMinutes"),
    bumpMethod: t.field({ type: BumpMethodEnum, resolve: (p) => p.bumpMethod }),
    bumpAmount: t.exposeFloat("bumpAmount", { description: "Tokens for FLAT; percent for the percent methods." }),
    bufferDays: t.exposeInt("bufferDays"),
    nearMaxThreshold: t.exposeFloat("nearMaxThreshold", {
      nullable: true,
      description: "0.0-1.0: fraction of the ceiling at which a member counts as near it.",
    }),
    nearMaxBump: t.exposeFloat("nearMaxBump", { nullable: true, description: "Tokens for FLAT; percent for the percent methods." }),
    monthlyResetToFloor: t.exposeBoolean("monthlyResetToFloor"),
    reclamation: t.exposeBoolean("reclamation"),
    rebalanceFrequency: t.field({ type: RebalanceFrequencyEnum, resolve: (p) => p.rebalanceFrequency }),
    floorTopUp: t.field({
      type: DistributionPreviewRef,
      nullable: true,
      description:
        "On a saved policy (activatePreset, updateDistributionPolicy): the members brought up to the new floors, and the shortfall when the pool could not cover them all. null when read.",
      resolve: (p) => p.floorTopUp ?? null,
    }),
  }),
});

const DistributionPresetRef = builder.objectRef<{ name: FixedPresetName | "CUSTOM"; description: string; policy: PolicyValues | null }>(
  "DistributionPreset",
);
builder.objectType(DistributionPresetRef, {
  fields: (t) => ({
    name: t.field({ type: PresetNameEnum, resolve: (preset) => preset.name }),
    description: t.exposeString("description"),
    policy: t.field({
      type: DistributionPolicyRef,
      description: "The preset's values; for CUSTOM, the organisation's current values (STANDARD's for callers without one).",
      resolve: async (preset, _args, context): Promise<PolicyValues> =>
        preset.policy ?? { ...(await ownPolicy(context)), preset: "CUSTOM" as const },
    }),
  }),
});

async function ownPolicy(context: Context): Promise<PolicyValues> {
  const { principal } = context;
  const organizationId = principal.kind === "MEMBER" || principal.kind === "SERVICE" ? principal.organizationId : null;
  const row = organizationId ? await context.runtime.prisma.distributionPolicy.findUnique({ where: { organizationId } }) : null;
  return row ? toPolicyValues(row) : PRESETS.STANDARD.policy;
}

const DistributionPolicyInput = builder.inputType("DistributionPolicyInput", {
  description:
    "Absent fields keep their value. `preset` (other than CUSTOM) starts from that preset's values; any given field that differs from the start makes the policy CUSTOM.",
  fields: (t) => ({
    preset: t.field({ type: PresetNameEnum }),
    inferenceFloor: t.field({ type: "SafeInt" }),
    trainingFloor: t.field({ type: "SafeInt" }),
    ceiling: t.field({ type: "SafeInt" }),
    unlimitedCeiling: t.boolean(),
    autoIncrease: t.boolean(),
    triggerMode: t.field({ type: TriggerModeEnum }),
    triggerPercent: t.float(),
    cooldownMinutes: t.int(),
    bumpMethod: t.field({ type: BumpMethodEnum }),
    bumpAmount: t.float(),
    bufferDays: t.int(),
    nearMaxThreshold: t.float({ description: "null clears the near-max bump (with nearMaxBump)." }),
    nearMaxBump: t.float({ description: "null clears the near-max bump (with nearMaxThreshold)." }),
    monthlyResetToFloor: t.boolean(),
    reclamation: t.boolean(),
    rebalanceFrequency: t.field({ type: RebalanceFrequencyEnum }),
  }),
});

const MemberAllocationChangeRef = builder.objectRef<DistributionOutcome["changes"][number]>("MemberAllocationChange");
builder.objectType(MemberAllocationChangeRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    member: t.prismaField({
      type: "Member",
      resolve: (query, change, _args, context) =>
        context.runtime.prisma.member.findUniqueOrThrow({ ...query, where: { id: change.memberId } }),
    }),
    kind: t.field({ type: TokenKindEnum, resolve: (change) => change.kind }),
    before: t.field({ type: "SafeInt", resolve: (change) => change.before }),
    after: t.field({ type: "SafeInt", resolve: (change) => change.after }),
  }),
});

builder.objectType(DistributionPreviewRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    changes: t.field({ type: [MemberAllocationChangeRef], resolve: (preview) => preview.changes }),
    totalAfter: t.field({
      type: "SafeInt",
      description: "Σ of every member's limits (both kinds) after the distribution.",
      resolve: (p) => p.totalAfter,
    }),
    shortfall: t.field({
      type: "SafeInt",
      description: "Pool tokens the plan would need beyond what is unallocated (0 if it fits).",
      resolve: (preview) => preview.shortfall,
    }),
  }),
});

const ReclamationCandidateRef = builder.objectRef<ReclamationCandidate>("ReclamationCandidate");
builder.objectType(ReclamationCandidateRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    member: t.prismaField({
      type: "Member",
      resolve: (query, candidate, _args, context) =>
        context.runtime.prisma.member.findUniqueOrThrow({ ...query, where: { id: candidate.memberId } }),
    }),
    kind: t.field({ type: TokenKindEnum, resolve: (candidate) => candidate.kind }),
    limit: t.field({ type: "SafeInt", resolve: (candidate) => candidate.limit }),
    projectedNeed: t.field({ type: "SafeInt", resolve: (candidate) => candidate.projectedNeed }),
    reclaimable: t.field({ type: "SafeInt", resolve: (candidate) => candidate.reclaimable }),
  }),
});

const ReclamationPreviewRef = builder.objectRef<ReclamationCandidate[]>("ReclamationPreview");
builder.objectType(ReclamationPreviewRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    candidates: t.field({ type: [ReclamationCandidateRef], resolve: (candidates) => candidates }),
    totalReclaimable: t.field({
      type: "SafeInt",
      resolve: (candidates) => candidates.reduce((sum, candidate) => sum + candidate.reclaimable, 0n),
    }),
  }),
});

// ---------------------------------------------------------------------------------------------------------
// The schedule an admin sees

const RunKindOutcomeRef = builder.objectRef<KindOutcome>("ScheduledRunKindOutcome");
builder.objectType(RunKindOutcomeRef, {
  authScopes: staffOnly,
  description: "What a scheduled run did for one token kind.",
  fields: (t) => ({
    kind: t.field({ type: TokenKindEnum, resolve: (o) => o.kind }),
    members: t.exposeInt("members"),
    consumed: t.field({
      type: "SafeInt",
      nullable: true,
      description: "Cycle reset: tokens consumed in the closed cycle.",
      resolve: (o) => o.consumed ?? null,
    }),
    overdraft: t.field({
      type: "SafeInt",
      nullable: true,
      description: "Cycle reset: tokens used beyond limits.",
      resolve: (o) => o.overdraft ?? null,
    }),
    reclaimed: t.field({ type: "SafeInt", nullable: true, resolve: (o) => o.reclaimed ?? null }),
    reclaimedMembers: t.int({ nullable: true, resolve: (o) => o.reclaimedMembers ?? null }),
    autoIncreased: t.field({ type: "SafeInt", nullable: true, resolve: (o) => o.autoIncreased ?? null }),
    autoIncreasedMembers: t.int({ nullable: true, resolve: (o) => o.autoIncreasedMembers ?? null }),
    toppedUp: t.field({
      type: "SafeInt",
      nullable: true,
      description: "Tokens given to bring members up to their floor.",
      resolve: (o) => o.toppedUp ?? null,
    }),
    toppedUpMembers: t.int({ nullable: true, resolve: (o) => o.toppedUpMembers ?? null }),
    shortfall: t.field({
      type: "SafeInt",
      description: "Tokens the run wanted to give beyond what the pool had.",
      resolve: (o) => o.shortfall,
    }),
  }),
});

interface RunView {
  job: ScheduledJob;
  slot: Date;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: RunOutcome | null;
}

const ScheduledJobEnum = builder.enumType("ScheduledJob", {
  values: {
    [CYCLE_RESET]: { description: "The reset at a billing cycle's start." },
    [REBALANCE]: { description: "A rebalancing run at the policy's rebalanceFrequency." },
  } as const,
});

const ScheduledRunRef = builder.objectRef<RunView>("ScheduledRun");
builder.objectType(ScheduledRunRef, {
  authScopes: staffOnly,
  description: "One run of scheduled policy work (CYCLE_RESET or REBALANCE), claimed exactly once per organisation and slot.",
  fields: (t) => ({
    job: t.field({ type: ScheduledJobEnum, resolve: (run) => run.job }),
    slot: t.field({ type: "DateTime", description: "The cycle start or rebalancing slot the run belongs to.", resolve: (run) => run.slot }),
    startedAt: t.field({ type: "DateTime", resolve: (run) => run.startedAt }),
    finishedAt: t.field({ type: "DateTime", nullable: true, resolve: (run) => run.finishedAt }),
    summary: t.string({ resolve: (run) => run.outcome?.summary ?? "" }),
    kinds: t.field({ type: [RunKindOutcomeRef], resolve: (run) => run.outcome?.kinds ?? [] }),
  }),
});

interface ScheduleView {
  organizationId: string;
  cycleAnchorDay: number;
  currentCycleStart: Date;
  rebalanceFrequency: PolicyValues["rebalanceFrequency"];
}

const PolicyScheduleRef = builder.objectRef<ScheduleView>("PolicySchedule");
builder.objectType(PolicyScheduleRef, {
  // Members read the cycle dates and the next reset; the rebalancing fields below are staff only.
  authScopes: cycleDatesRule,
  description: "When the cycle reset and rebalancing run next, and what the last runs did.",
  fields: (t) => ({
    nextCycleReset: t.field({
      type: "DateTime",
      description:
        "The next cycle start; a reset that is due (the clock passed a cycle start) shows that start: it runs at the scheduler's next tick.",
      resolve: (schedule, _args, context) => {
        const cycle = cycleAt(schedule.cycleAnchorDay, context.runtime.clock.now());
        return schedule.currentCycleStart < cycle.start ? cycle.start : cycle.end;
      },
    }),
    cycleStart: t.field({
      type: "DateTime",
      description: "Start of the billing cycle in progress.",
      resolve: (schedule, _args, context) => cycleAt(schedule.cycleAnchorDay, context.runtime.clock.now()).start,
    }),
    cycleEnd: t.field({
      type: "DateTime",
      description: "End of the billing cycle in progress (the next cycle's start).",
      resolve: (schedule, _args, context) => cycleAt(schedule.cycleAnchorDay, context.runtime.clock.now()).end,
    }),
    rebalanceFrequency: t.field({
      type: RebalanceFrequencyEnum,
      authScopes: { admin: true, operator: true },
      resolve: (schedule) => schedule.rebalanceFrequency,
    }),
    nextRebalance: t.field({
      type: "DateTime",
      nullable: true,
      authScopes: { admin: true, operator: true },
      description: "null when rebalancing is OFF; the current slot's start while its run is still due.",
      resolve: async (schedule, _args, context) => {
        const now = context.runtime.clock.now();
        const slot = rebalanceSlot(schedule.rebalanceFrequency, now);
        if (!slot) return null;
        const done = await context.runtime.prisma.scheduledRun.findUnique({
          where: { organizationId_job_slot: { organizationId: schedule.organizationId, job: REBALANCE, slot } },
          select: { id: true },
        });
        return done ? nextRebalance(schedule.rebalanceFrequency, now) : slot;
      },
    }),
    lastRuns: t.field({
      type: [ScheduledRunRef],
      authScopes: { admin: true, operator: true },
      description: "The most recent runs, newest first.",
      args: { first: t.arg.int({ defaultValue: 10 }), job: t.arg({ type: ScheduledJobEnum, description: "Only runs of this job." }) },
      resolve: async (schedule, args, context) => {
        const first = args.first ?? 10;
        if (!Number.isInteger(first) || first < 1 || first > 100) throw badInputFirst();
        const runs = await context.runtime.prisma.scheduledRun.findMany({
          where: { organizationId: schedule.organizationId, ...(args.job ? { job: args.job } : {}) },
          orderBy: [{ startedAt: "desc" }, { slot: "desc" }],
          take: first,
        });
        return runs.map((run) => ({ ...run, job: run.job as ScheduledJob, outcome: run.outcome as RunOutcome | null }));
      },
    }),
  }),
});

function badInputFirst() {
  return new AppError("BAD_USER_INPUT", "first must be from 1 to 100.", { field: "first" });
}

builder.prismaObjectFields("Organization", (t) => ({
  distributionPolicy: t.field({
    type: DistributionPolicyRef,
    select: { policy: true },
    resolve: (organization) => toPolicyValues(organization.policy!),
  }),
  schedule: t.field({
    type: PolicyScheduleRef,
    description: "The cycle's dates and the policy's scheduled work (members read the cycle dates and the next reset).",
    skipTypeScopes: true,
    authScopes: cycleDatesRule,
    select: { id: true, cycleAnchorDay: true, currentCycleStart: true, policy: { select: { rebalanceFrequency: true } } },
    resolve: (organization) => ({
      organizationId: organization.id,
      cycleAnchorDay: organization.cycleAnchorDay,
      currentCycleStart: organization.currentCycleStart,
      rebalanceFrequency: organization.policy?.rebalanceFrequency ?? "OFF",
    }),
  }),
}));

// ---------------------------------------------------------------------------------------------------------
// Queries and mutations

const PRESET_LIST = [
  ...(Object.keys(PRESETS) as FixedPresetName[]).map((name) => ({
    name,
    description: PRESETS[name].description,
    policy: PRESETS[name].policy,
  })),
  { name: "CUSTOM" as const, description: "Specific manual requirements: every parameter configured by hand.", policy: null },
];

builder.queryFields((t) => ({
  presets: t.field({
    type: [DistributionPresetRef],
    authScopes: { authenticated: true },
    resolve: () => PRESET_LIST,
  }),
  previewDistribution: t.field({
    type: DistributionPreviewRef,
    description: "What distributeNow would do, under the current policy or the given draft (nothing is changed or saved).",
    args: { policy: t.arg({ type: DistributionPolicyInput }) },
    authScopes: { admin: true },
    resolve: (_root, args, context) => {
      const { organizationId } = requireAdmin(context);
      return previewDistribution(context.runtime, organizationId, (args.policy as PolicyInput | null | undefined) ?? null);
    },
  }),
  previewFloorChange: t.field({
    type: DistributionPreviewRef,
    description:
      "What saving this policy (a preset, a floor edit) would do to members below its floors: who is brought up, by how much, and the shortfall when the pool is short. Nothing is changed or saved.",
    args: { policy: t.arg({ type: DistributionPolicyInput, required: true }) },
    authScopes: { admin: true },
    resolve: (_root, args, context) =>
      previewFloorChange(context.runtime, requireAdmin(context).organizationId, args.policy as PolicyInput),
  }),
  previewReclamation: t.field({
    type: ReclamationPreviewRef,
    authScopes: { admin: true },
    resolve: (_root, _args, context) => previewReclamation(context.runtime, requireAdmin(context).organizationId),
  }),
}));

const OverrideInput = builder.inputType("OverrideInput", {
  description: "Replaces the member's override; absent floor or ceiling means the policy's.",
  fields: (t) => ({
    memberId: t.id({ required: true }),
    floor: t.field({ type: "SafeInt" }),
    ceiling: t.field({ type: "SafeInt" }),
    unlimitedCeiling: t.boolean(),
    excluded: t.boolean({ description: "Keeps the member out of auto-increase and reclamation." }),
  }),
});

builder.mutationFields((t) => ({
  activatePreset: t.field({
    type: DistributionPolicyRef,
    description: "Applies a preset's values; CUSTOM keeps the current values, labelled CUSTOM.",
    args: { preset: t.arg({ type: PresetNameEnum, required: true }) },
    authScopes: { admin: true },
    resolve: (_root, args, context) => activatePreset(context.runtime, requireAdmin(context).organizationId, args.preset),
  }),
  updateDistributionPolicy: t.field({
    type: DistributionPolicyRef,
    args: { policy: t.arg({ type: DistributionPolicyInput, required: true }) },
    authScopes: { admin: true },
    resolve: (_root, args, context) =>
      updateDistributionPolicy(context.runtime, requireAdmin(context).organizationId, args.policy as PolicyInput),
  }),
  distributeNow: t.field({
    type: DistributionPreviewRef,
    description:
      "Raises every non-suspended member to its ceiling (floor where unlimited), fairly when the pool is short; never lowers a limit.",
    authScopes: { admin: true },
    resolve: (_root, _args, context) => {
      const admin = requireAdmin(context);
      return distributeNow(context.runtime, admin.organizationId, admin.memberId);
    },
  }),
  reclaimNow: t.field({
    type: ReclamationPreviewRef,
    authScopes: { admin: true },
    resolve: (_root, _args, context) => {
      const admin = requireAdmin(context);
      return reclaimNow(context.runtime, admin.organizationId, admin.memberId);
    },
  }),
  setOverride: t.prismaField({
    type: "Member",
    args: { input: t.arg({ type: OverrideInput, required: true }) },
    authScopes: { admin: true },
    resolve: async (query, _root, { input }, context) => {
      const { organizationId } = requireAdmin(context);
      const memberId = decodeId(String(input.memberId), "Member", "input.memberId");
      await setOverride(context.runtime, organizationId, memberId, input);
      return context.runtime.prisma.member.findUniqueOrThrow({ ...query, where: { id: memberId } });
    },
  }),
  removeOverride: t.prismaField({
    type: "Member",
    args: { memberId: t.arg.id({ required: true }) },
    authScopes: { admin: true },
    resolve: async (query, _root, args, context) => {
      const { organizationId } = requireAdmin(context);
      const memberId = decodeId(String(args.memberId), "Member", "memberId");
      await removeOverride(context.runtime, organizationId, memberId);
      return context.runtime.prisma.member.findUniqueOrThrow({ ...query, where: { id: memberId } });
    },
  }),
}));
