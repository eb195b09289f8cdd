// Model spend for admins: Organization.spend and its live subscription, usage analytics, spend thresholds
// and their alerts. The CSV export is a plain route (./export.ts).
import { formatPrismaCursor, parsePrismaCursor } from "@pothos/plugin-prisma";
import { resolveCursorConnection } from "@pothos/plugin-relay";
import { decodeId, requireAdmin } from "../auth/access.ts";
import { isUuid } from "../auth/authenticate.ts";
import { isAdmin } from "../auth/principal.ts";
import { staffOnly } from "../auth/read-rules.ts";
import { builder } from "../builder.ts";
import type { Context } from "../context.ts";
import { type Model, Prisma } from "../db/generated/client.ts";
import { badInput, notFound } from "../errors.ts";
import type { SpendAlertEvent } from "../events.ts";
import { MemberRef } from "../members/schema.ts";
import { ModelRef } from "../models/schema.ts";
import { cycleAt } from "../organizations/cycle.ts";
import { OrganizationRef } from "../organizations/schema.ts";
import {
  rangeTotals,
  rolledThrough,
  type TimeToFirstValue,
  timeToFirstValue,
  topUsage,
  type UsageRanking,
  type UsageTotals,
} from "./analytics.ts";
import { type FirstValueBucket, type ModelShare, resolveRange, type TimeRange, thresholdAmount } from "./rules.ts";
import { liveSpendSummary, type SpendSummary, setSpendThresholds, spendSummary } from "./service.ts";

// ---------------------------------------------------------------------------------------------------------
// The cycle summary

const ModelSpendRef = builder.objectRef<ModelShare<Model>>("ModelSpend");
builder.objectType(ModelSpendRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    model: t.field({ type: ModelRef, resolve: (row) => row.model }),
    spend: t.field({ type: "Money", resolve: (row) => row.spend }),
    percent: t.float({ description: "Share of total cycle spend, 0-100.", resolve: (row) => row.percent }),
    requests: t.int({ resolve: (row) => row.requests }),
    tokens: t.field({ type: "SafeInt", resolve: (row) => row.tokens }),
  }),
});

const SpendSummaryRef = builder.objectRef<SpendSummary>("SpendSummary");
builder.objectType(SpendSummaryRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    cycleStart: t.field({ type: "DateTime", resolve: (summary) => summary.cycleStart }),
    cycleEnd: t.field({ type: "DateTime", resolve: (summary) => summary.cycleEnd }),
    spent: t.field({ type: "Money", resolve: (summary) => summary.spent }),
    planBudget: t.field({ type: "Money", resolve: (summary) => summary.planBudget }),
    overageLimit: t.field({ type: "Money", resolve: (summary) => summary.overageLimit }),
    pendingOverageLimit: t.field({
      type: "Money",
      nullable: true,
      description: "A higher overage the operator set, waiting for an admin to accept it (acceptOverage); null: none.",
      resolve: (summary) => summary.pendingOverageLimit,
    }),
    ratio: t.float({ description: "spent / (planBudget + overageLimit), 0-1 or above.", resolve: (summary) => summary.ratio }),
    byModel: t.field({ type: [ModelSpendRef], resolve: (summary) => summary.byModel }),
  }),
});

builder.objectField(OrganizationRef, "spend", (t) =>
  t.field({
    type: SpendSummaryRef,
    description: "This billing cycle's spend against the plan, by model (admins; operators for any organisation).",
    authScopes: { admin: true, operator: true },
    resolve: (organization, _args, context) => spendSummary(context.runtime, organization.id),
  }),
);

builder.subscriptionFields((t) => ({
  spendChanged: t.field({
    type: SpendSummaryRef,
    description: "Emits on subscribe, then whenever cycle spend changes (admins).",
    authScopes: { admin: true },
    subscribe: (_root, _args, context) => liveSpendSummary(context.runtime, requireAdmin(context).organizationId),
    resolve: (summary) => summary,
  }),
}));

// ---------------------------------------------------------------------------------------------------------
// Analytics

const UsageRankingEnum = builder.enumType("UsageRanking", {
  description: "What a top list is ordered by.",
  values: ["REQUESTS", "TOKENS", "COST"] as const,
});

interface AnalyticsScope {
  organizationId: string;
  range: TimeRange;
  rolledThrough: Date | null;
  firstValue?: Promise<TimeToFirstValue>;
}

const UsageTotalsRef = builder.objectRef<Omit<UsageTotals, "key">>("UsageTotals");
builder.objectType(UsageTotalsRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    requests: t.int({ resolve: (row) => Number(row.requests) }),
    tokens: t.field({ type: "SafeInt", resolve: (row) => row.tokens }),
    cost: t.field({ type: "Money", resolve: (row) => row.cost }),
  }),
});

const NamedUsageRef = builder.objectRef<UsageTotals>("NamedUsage");
builder.objectType(NamedUsageRef, {
  authScopes: staffOnly,
  description: "Usage of one app (workflow) or assistant over the range.",
  fields: (t) => ({
    name: t.string({ resolve: (row) => row.key }),
    requests: t.int({ resolve: (row) => Number(row.requests) }),
    tokens: t.field({ type: "SafeInt", resolve: (row) => row.tokens }),
    cost: t.field({ type: "Money", resolve: (row) => row.cost }),
  }),
});

type ConsumerUsage = UsageTotals & { member: object };
const ConsumerUsageRef = builder.objectRef<ConsumerUsage>("ConsumerUsage");
builder.objectType(ConsumerUsageRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    member: t.field({ type: MemberRef, resolve: (row) => row.member as never }),
    requests: t.int({ resolve: (row) => Number(row.requests) }),
    tokens: t.field({ type: "SafeInt", resolve: (row) => row.tokens }),
    cost: t.field({ type: "Money", resolve: (row) => row.cost }),
  }),
});

type ModelUsage = UsageTotals & { model: Model };
const ModelUsageRef = builder.objectRef<ModelUsage>("ModelUsage");
builder.objectType(ModelUsageRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    model: t.field({ type: ModelRef, resolve: (row) => row.model }),
    requests: t.int({ resolve: (row) => Number(row.requests) }),
    tokens: t.field({ type: "SafeInt", resolve: (row) => row.tokens }),
    cost: t.field({ type: "Money", resolve: (row) => row.cost }),
  }),
});

const FirstValueBucketRef = builder.objectRef<FirstValueBucket>("TimeToFirstValueBucket");
builder.objectType(FirstValueBucketRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    label: t.exposeString("label"),
    minSeconds: t.exposeFloat("minSeconds"),
    maxSeconds: t.exposeFloat("maxSeconds", { nullable: true, description: "Exclusive; null: open-ended." }),
    members: t.exposeInt("members"),
  }),
});

const TimeToFirstValueRef = builder.objectRef<TimeToFirstValue>("TimeToFirstValue");
builder.objectType(TimeToFirstValueRef, {
  authScopes: staffOnly,
  description: "How quickly members created in the range first used tokens (creation to first usage).",
  fields: (t) => ({
    membersCreated: t.exposeInt("membersCreated"),
    membersReached: t.exposeInt("membersReached", { description: "Of those, members with at least one usage." }),
    medianSeconds: t.exposeFloat("medianSeconds", { nullable: true, description: "null while nobody has reached first value." }),
    buckets: t.field({ type: [FirstValueBucketRef], resolve: (ttfv) => ttfv.buckets }),
  }),
});

function checkedLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw badInput("limit", `limit must be from 1 to 100; got ${limit}.`);
  return limit;
}

const firstValueOf = (scope: AnalyticsScope, context: Context) =>
  (scope.firstValue ??= timeToFirstValue(context.runtime, scope.organizationId, scope.range));

const AnalyticsRef = builder.objectRef<AnalyticsScope>("Analytics");
builder.objectType(AnalyticsRef, {
  authScopes: staffOnly,
  description: "Usage over a range (admins): top apps, assistants, consumers and models, and time to first value.",
  fields: (t) => {
    const topArgs = {
      limit: t.arg.int({ defaultValue: 10, required: true }),
      by: t.arg({ type: UsageRankingEnum, defaultValue: "REQUESTS", required: true }),
    };
    const top = (
      scope: AnalyticsScope,
      context: Context,
      dimension: "APP" | "ASSISTANT" | "MEMBER" | "MODEL",
      by: UsageRanking,
      limit: number,
    ) => topUsage(context.runtime, scope.organizationId, scope.range, scope.rolledThrough, dimension, by, checkedLimit(limit));
    return {
      from: t.field({ type: "DateTime", resolve: (scope) => scope.range.from }),
      to: t.field({ type: "DateTime", resolve: (scope) => scope.range.to }),
      totals: t.field({
        type: UsageTotalsRef,
        resolve: (scope, _args, context) => rangeTotals(context.runtime, scope.organizationId, scope.range, scope.rolledThrough),
      }),
      topApps: t.field({
        type: [NamedUsageRef],
        description: "The most used apps (workflows); usage without an app is not listed.",
        args: topArgs,
        resolve: (scope, args, context) => top(scope, context, "APP", args.by, args.limit),
      }),
      topAssistants: t.field({
        type: [NamedUsageRef],
        description: "The most used assistants with their request counts and tokens; usage without an assistant is not listed.",
        args: topArgs,
        resolve: (scope, args, context) => top(scope, context, "ASSISTANT", args.by, args.limit),
      }),
      topConsumers: t.field({
        type: [ConsumerUsageRef],
        description: "The members who used the most.",
        args: topArgs,
        resolve: async (scope, args, context) => {
          const rows = await top(scope, context, "MEMBER", args.by, args.limit);
          const members = await context.runtime.prisma.member.findMany({
            where: { id: { in: rows.map((row) => row.key) }, organizationId: scope.organizationId },
          });
          const byId = new Map(members.map((member) => [member.id, member]));
          return rows.flatMap((row) => {
            const member = byId.get(row.key);
            return member ? [{ ...row, member }] : [];
          });
        },
      }),
      topModels: t.field({
        type: [ModelUsageRef],
        args: topArgs,
        resolve: async (scope, args, context) => {
          const rows = await top(scope, context, "MODEL", args.by, args.limit);
          const models = await context.runtime.prisma.model.findMany({
            where: { id: { in: rows.map((row) => row.key) }, organizationId: scope.organizationId },
          });
          const byId = new Map(models.map((model) => [model.id, model]));
          return rows.flatMap((row) => {
            const model = byId.get(row.key);
            return model ? [{ ...row, model }] : [];
          });
        },
      }),
      medianTimeToFirstValueSeconds: t.float({
        nullable: true,
        description: "Median seconds from a member's creation to its first usage, over members created in the range.",
        resolve: async (scope, _args, context) => (await firstValueOf(scope, context)).medianSeconds,
      }),
      timeToFirstValue: t.field({ type: TimeToFirstValueRef, resolve: (scope, _args, context) => firstValueOf(scope, context) }),
    };
  },
});

builder.queryFields((t) => ({
  analytics: t.field({
    type: AnalyticsRef,
    description: "Usage analytics over [from, to) (admins); each end defaults to the current billing cycle's.",
    args: { from: t.arg({ type: "DateTime" }), to: t.arg({ type: "DateTime" }) },
    authScopes: { admin: true },
    resolve: async (_root, args, context) => {
      const { organizationId } = requireAdmin(context);
      const organization = await context.runtime.prisma.organization.findUnique({
        where: { id: organizationId },
        select: { cycleAnchorDay: true },
      });
      if (!organization) throw notFound("Organization");
      const range = resolveRange(args.from, args.to, cycleAt(organization.cycleAnchorDay, context.runtime.clock.now()));
      return { organizationId, range, rolledThrough: await rolledThrough(context.runtime, organizationId) };
    },
  }),
}));

// ---------------------------------------------------------------------------------------------------------
// Spend thresholds and alerts

/** What a SpendAlert reads beyond its own row: its threshold's organisation, model and percent. */
const SPEND_ALERT_INCLUDE = { threshold: { select: { organizationId: true, modelId: true, percent: true } } } as const;

/** A SpendAlert as its fields read it (the row with its threshold's organisation, model and percent). */
type SpendAlertRow = Prisma.SpendAlertGetPayload<{ include: typeof SPEND_ALERT_INCLUDE }>;

const SpendAlertRef = builder.objectRef<SpendAlertRow>("SpendAlert");

builder.node(SpendAlertRef, {
  authScopes: staffOnly,
  description: "A spend threshold reached in a billing cycle.",
  id: { resolve: (alert) => alert.id },
  isTypeOf: (value) => typeof value === "object" && value !== null && "thresholdId" in value && "cycleStart" in value,
  // node(id:): only the caller's organisation's alerts, and only for its admins (and the operator).
  loadOne: async (id, context) => {
    const { principal } = context;
    if (principal.kind !== "OPERATOR" && !isAdmin(principal)) return null;
    if (!isUuid(id)) return null;
    const organizationId = principal.kind === "MEMBER" ? principal.organizationId : undefined;
    return context.runtime.prisma.spendAlert.findFirst({
      where: { id, ...(organizationId ? { threshold: { organizationId } } : {}) },
      include: SPEND_ALERT_INCLUDE,
    });
  },
  fields: (t) => ({
    threshold: t.prismaField({
      type: "SpendThreshold",
      nullable: true,
      description: "null when the threshold has since been removed.",
      resolve: (query, alert, _args, context) =>
        context.runtime.prisma.spendThreshold.findUnique({ ...query, where: { id: alert.thresholdId } }),
    }),
    model: t.prismaField({
      type: "Model",
      nullable: true,
      description: "null: the organisation's envelope.",
      resolve: (query, alert, _args, context) =>
        alert.threshold.modelId ? context.runtime.prisma.model.findUnique({ ...query, where: { id: alert.threshold.modelId } }) : null,
    }),
    percent: t.float({ resolve: (alert) => alert.threshold.percent }),
    spend: t.field({ type: "Money", description: "Spend (organisation's or model's) when it fired.", resolve: (alert) => alert.spend }),
    cycleStart: t.field({ type: "DateTime", resolve: (alert) => alert.cycleStart }),
    createdAt: t.field({ type: "DateTime", resolve: (alert) => alert.createdAt }),
  }),
});

const SpendThresholdRef = builder.prismaNode("SpendThreshold", {
  id: { field: "id" },
  authScopes: staffOnly,
  description: "Alert when spend reaches a percent of planBudget + overageLimit (no model) or of a model's cap.",
  fields: (t) => ({
    percent: t.exposeFloat("percent"),
    model: t.relation("model", { nullable: true, description: "null: the organisation's envelope." }),
    amount: t.field({
      type: "Money",
      nullable: true,
      description: "The spend at which it fires now; null while there is nothing to measure against (no plan, no cap).",
      select: { organization: { select: { planBudget: true, overageLimit: true } }, model: { select: { cap: true } } },
      resolve: (threshold) =>
        thresholdAmount(
          threshold.percent,
          threshold.model
            ? (threshold.model.cap?.toString() ?? null)
            : threshold.organization.planBudget.add(threshold.organization.overageLimit).toString(),
        ),
    }),
    lastAlert: t.field({
      type: SpendAlertRef,
      nullable: true,
      description: "The most recent time it fired (at most once per billing cycle).",
      resolve: (threshold, _args, context) =>
        context.runtime.prisma.spendAlert.findFirst({
          where: { thresholdId: threshold.id },
          orderBy: { cycleStart: "desc" },
          include: SPEND_ALERT_INCLUDE,
        }),
    }),
  }),
});

/**
 * A spendAlerts cursor: the alert's id, written as every connection here writes its cursors (formatPrismaCursor), so
 * the input guard knows it; the page key (createdAt, id) is read back from the alert, in the caller's organisation.
 * Anything else is BAD_USER_INPUT naming `field`.
 */
async function alertCursor(
  context: Context,
  organizationId: string,
  cursor: string,
  field: string,
): Promise<{ createdAt: Date; id: string }> {
  let id: unknown;
  try {
    id = parsePrismaCursor(cursor);
  } catch {
    id = null;
  }
  const alert =
    typeof id === "string" && isUuid(id)
      ? await context.runtime.prisma.spendAlert.findFirst({
          where: { id, threshold: { organizationId } },
          select: { id: true, createdAt: true },
        })
      : null;
  if (!alert) throw badInput(field, `${field} is not a cursor of this list.`);
  return alert;
}

/** A spendAlert event as the alert it announces (its organisation is the channel's). */
const fromEvent = (organizationId: string, event: SpendAlertEvent): SpendAlertRow => ({
  id: event.alertId,
  thresholdId: event.thresholdId,
  threshold: { organizationId, modelId: event.modelId, percent: event.percent },
  spend: new Prisma.Decimal(event.spend),
  cycleStart: new Date(event.cycleStart),
  createdAt: new Date(event.createdAt),
});

builder.queryFields((t) => ({
  spendThresholds: t.prismaField({
    type: [SpendThresholdRef],
    description: "The organisation's spend thresholds: the envelope's first, then each model's, by percent (admins).",
    authScopes: { admin: true },
    resolve: (query, _root, _args, context) =>
      context.runtime.prisma.spendThreshold.findMany({
        ...query,
        where: { organizationId: requireAdmin(context).organizationId },
        orderBy: [{ modelId: { sort: "asc", nulls: "first" } }, { percent: "asc" }],
      }),
  }),
  spendAlerts: t.connection(
    {
      type: SpendAlertRef,
      description: "Spend alerts sent, newest first (admins); 50 a page unless `first` says otherwise (at most 500).",
      authScopes: { admin: true },
      resolve: async (_root, args, context) => {
        const { organizationId } = requireAdmin(context);
        for (const field of ["first", "last"] as const) {
          const size = args[field];
          if (size != null && (size < 0 || size > 500)) throw badInput(field, `${field} must be from 0 to 500.`);
        }
        const after = args.after == null ? null : await alertCursor(context, organizationId, args.after, "after");
        const before = args.before == null ? null : await alertCursor(context, organizationId, args.before, "before");
        return resolveCursorConnection<Promise<SpendAlertRow[]>>(
          { args, toCursor: (alert) => formatPrismaCursor(alert, "id"), defaultSize: 50, maxSize: 500 },
          // Newest first, ties on the id: (createdAt, id) is the key, so a page never skips or repeats an alert.
          async ({ limit, inverted }) =>
            await context.runtime.prisma.spendAlert.findMany({
              where: {
                threshold: { organizationId },
                AND: [
                  ...(after
                    ? [{ OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] }]
                    : []),
                  ...(before
                    ? [{ OR: [{ createdAt: { gt: before.createdAt } }, { createdAt: before.createdAt, id: { gt: before.id } }] }]
                    : []),
                ],
              },
              include: SPEND_ALERT_INCLUDE,
              orderBy: inverted ? [{ createdAt: "asc" }, { id: "asc" }] : [{ createdAt: "desc" }, { id: "desc" }],
              take: limit,
            }),
        );
      },
    },
    { name: "SpendAlertConnection" },
  ),
}));

builder.mutationFields((t) => ({
  setSpendThresholds: t.prismaField({
    type: [SpendThresholdRef],
    description:
      "Replaces the thresholds (percents) of the organisation's envelope, or of one model's cap when modelId is given; an empty list removes them. Each fires once per billing cycle (admins).",
    args: { percents: t.arg.floatList({ required: true }), modelId: t.arg.id() },
    authScopes: { admin: true },
    resolve: async (query, _root, args, context) => {
      const { organizationId } = requireAdmin(context);
      const modelId = args.modelId ? decodeId(String(args.modelId), "Model", "modelId") : null;
      await setSpendThresholds(context.runtime, organizationId, modelId, args.percents);
      return context.runtime.prisma.spendThreshold.findMany({ ...query, where: { organizationId, modelId }, orderBy: { percent: "asc" } });
    },
  }),
}));

builder.subscriptionFields((t) => ({
  spendAlert: t.field({
    type: SpendAlertRef,
    description: "Each spend threshold reached, once per billing cycle (admins).",
    authScopes: { admin: true },
    subscribe: (_root, _args, context) => context.runtime.pubsub.subscribe("spendAlert", requireAdmin(context).organizationId),
    resolve: (event, _args, context) => fromEvent(requireAdmin(context).organizationId, event),
  }),
}));
