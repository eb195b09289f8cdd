// TokenRequest and its audit trail; asking, cancelling, bulk decisions, auto-approval settings, and the live streams.

import { queryFromInfo } from "@pothos/plugin-prisma";
import { encodeGlobalID } from "@pothos/plugin-relay";
import type { GraphQLResolveInfo } from "graphql";
import { decodeId, requireAdmin } from "../auth/access.ts";
import { isAdmin } from "../auth/principal.ts";
import { requestPrivateRule, staffOnly, usageRule } from "../auth/read-rules.ts";
import { builder } from "../builder.ts";
import type { Context } from "../context.ts";
import type { Prisma } from "../db/generated/client.ts";
import { badInput, forbidden, notFound, unauthenticated } from "../errors.ts";
import { remaining } from "../members/rules.ts";
import { OrganizationRef } from "../organizations/schema.ts";
import { TokenKindEnum, TokenRequestStatusEnum } from "../schema/enums.ts";
import { ageSeconds, type DecisionActor, MAX_DECISION_IDS } from "./rules.ts";
import {
  cancelTokenRequest,
  type DecisionResult,
  decideTokenRequests,
  type RequestLoader,
  requestTokens,
  setAutoApproval,
} from "./service.ts";
import { countPending, pendingCounts, type RequestScope, requestChanges } from "./streams.ts";

const DecisionActorEnum = builder.enumType("DecisionActor", {
  description: "Who made a token request's decision.",
  values: {
    ADMIN: { description: "An admin approved or rejected it." },
    MEMBER: { description: "The requester cancelled it." },
    SYSTEM: { description: "The organisation's auto-approval setting approved it." },
  } as const,
});

/** Who a request is filed for: the calling member, or for a service key the member it names in its organisation. */
function requesterOf(context: Context, memberId: string | null): { memberId: string; organizationId: string } {
  const { principal } = context;
  if (principal.kind === "SERVICE") {
    if (!memberId) throw badInput("memberId", "memberId is required when a service key files a request.");
    return { memberId, organizationId: principal.organizationId };
  }
  if (principal.kind !== "MEMBER") throw forbidden();
  if (memberId && memberId !== principal.memberId) throw notFound("Member");
  return principal;
}

builder.prismaObject("TokenRequestDecision", {
  description: "One entry of a request's audit trail: who decided what, when and why.",
  fields: (t) => ({
    status: t.field({ type: TokenRequestStatusEnum, resolve: (decision) => decision.status }),
    automatic: t.exposeBoolean("automatic", { description: "Decided by the organisation's auto-approval setting." }),
    actor: t.relation("actor", { nullable: true, description: "The member who decided; null when automatic." }),
    actorPrincipal: t.field({ type: DecisionActorEnum, resolve: (decision) => decision.actorPrincipal as DecisionActor }),
    note: t.exposeString("note", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

export const TokenRequestRef = builder.prismaNode("TokenRequest", {
  id: { field: "id" },
  authScopes: usageRule,
  fields: (t) => ({
    member: t.relation("member"),
    kind: t.field({ type: TokenKindEnum, resolve: (request) => request.kind }),
    amount: t.field({ type: "SafeInt", resolve: (request) => request.amount }),
    reason: t.exposeString("reason", { nullable: true, authScopes: requestPrivateRule }),
    status: t.field({ type: TokenRequestStatusEnum, resolve: (request) => request.status }),
    balanceAtRequest: t.field({
      type: "SafeInt",
      description: "The member's remaining balance when the request was made.",
      resolve: (request) => request.balanceAtRequest,
    }),
    currentBalance: t.field({
      type: "SafeInt",
      description: "The member's remaining balance of this kind now.",
      select: { kind: true, member: { select: { balances: { select: { kind: true, limit: true, used: true } } } } },
      resolve: (request) => {
        const balance = request.member.balances.find((row) => row.kind === request.kind);
        return balance ? remaining(balance.limit, balance.used) : 0n;
      },
    }),
    ageSeconds: t.int({
      description: "Seconds since the request was made.",
      resolve: (request, _args, context) => ageSeconds(request.createdAt, context.runtime.clock.now()),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    decidedAt: t.expose("decidedAt", { type: "DateTime", nullable: true }),
    decidedBy: t.relation("decidedBy", {
      nullable: true,
      description: "The admin who decided, or the requester who cancelled.",
      authScopes: requestPrivateRule,
    }),
    decisionNote: t.exposeString("decisionNote", { nullable: true, authScopes: requestPrivateRule }),
    autoApproved: t.exposeBoolean("autoApproved"),
    decisions: t.relation("decisions", {
      description: "The audit trail, oldest first.",
      authScopes: requestPrivateRule,
      query: { orderBy: [{ createdAt: "asc" }, { id: "asc" }] },
    }),
  }),
});

const TokenRequestOrderEnum = builder.enumType("TokenRequestOrder", {
  values: {
    NEWEST: { description: "Most recent first (default)." },
    OLDEST: { description: "Oldest first: the review queue." },
    LARGEST: { description: "Largest amount first." },
  } as const,
});

type TokenRequestRow = Prisma.TokenRequestGetPayload<object>;

interface OutcomeView {
  request: TokenRequestRow;
  ok: boolean;
  errorCode: string | null;
}

const TokenRequestOutcomeRef = builder.objectRef<OutcomeView>("TokenRequestOutcome");
builder.objectType(TokenRequestOutcomeRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    request: t.field({ type: TokenRequestRef, resolve: (outcome) => outcome.request }),
    ok: t.exposeBoolean("ok"),
    errorCode: t.exposeString("errorCode", {
      nullable: true,
      description: "Set when ok is false, e.g. INSUFFICIENT_POOL, ALREADY_DECIDED.",
    }),
  }),
});

interface BulkView {
  outcomes: OutcomeView[];
  notFound: string[];
}

const BulkDecisionResultRef = builder.objectRef<BulkView>("BulkDecisionResult");
builder.objectType(BulkDecisionResultRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    outcomes: t.field({ type: [TokenRequestOutcomeRef], resolve: (result) => result.outcomes }),
    succeeded: t.int({ resolve: (result) => result.outcomes.filter((outcome) => outcome.ok).length }),
    failed: t.int({
      description: "Outcomes that are not ok, plus ids in notFound.",
      resolve: (result) => result.outcomes.filter((outcome) => !outcome.ok).length + result.notFound.length,
    }),
    notFound: t.idList({
      description: "Ids given that match no request of the organisation (NOT_FOUND); nothing was done for them.",
      resolve: (result) => result.notFound,
    }),
  }),
});

builder.prismaObjectFields(OrganizationRef, (t) => ({
  autoApproveMaxAmount: t.field({
    type: "SafeInt",
    nullable: true,
    description: "Token requests up to this amount are approved automatically; null: auto-approval off.",
    select: { autoApproveMaxAmount: true },
    resolve: (organization) => organization.autoApproveMaxAmount,
  }),
  autoApprovePoolReserve: t.field({
    type: "SafeInt",
    description: "Auto-approval never takes the pool below this many tokens.",
    select: { autoApprovePoolReserve: true },
    resolve: (organization) => organization.autoApprovePoolReserve,
  }),
}));

/** Admins see the organisation's requests, members their own. */
function scopeOf(context: Context): RequestScope {
  const { principal } = context;
  if (principal.kind !== "MEMBER") throw principal.kind === "ANONYMOUS" ? unauthenticated() : forbidden();
  return { organizationId: principal.organizationId, memberId: isAdmin(principal) ? null : principal.memberId };
}

interface ListArgs {
  status?: "PENDING" | "APPROVED" | "REJECTED" | "CANCELLED" | null;
  kind?: "INFERENCE" | "TRAINING" | null;
  teamId?: string | number | null;
  memberId?: string | number | null;
  search?: string | null;
}

function listWhere(context: Context, args: ListArgs): Prisma.TokenRequestWhereInput {
  const scope = scopeOf(context);
  const where: Prisma.TokenRequestWhereInput = { organizationId: scope.organizationId };
  if (scope.memberId) where.memberId = scope.memberId;
  if (args.status) where.status = args.status;
  if (args.kind) where.kind = args.kind;
  // Kept beside the scope's own memberId, so a member naming someone else simply sees nothing.
  if (args.memberId) where.AND = [{ memberId: decodeId(String(args.memberId), "Member", "memberId") }];
  const member: Prisma.MemberWhereInput = {};
  if (args.teamId) member.teamId = decodeId(String(args.teamId), "Team", "teamId");
  const search = args.search?.trim();
  if (search) {
    if (search.length > 200) throw badInput("search", "search must be at most 200 characters.");
    member.OR = [{ email: { contains: search, mode: "insensitive" } }, { name: { contains: search, mode: "insensitive" } }];
  }
  if (Object.keys(member).length > 0) where.member = member;
  return where;
}

const ORDER: Record<"NEWEST" | "OLDEST" | "LARGEST", Prisma.TokenRequestOrderByWithRelationInput[]> = {
  NEWEST: [{ createdAt: "desc" }, { id: "desc" }],
  OLDEST: [{ createdAt: "asc" }, { id: "asc" }],
  LARGEST: [{ amount: "desc" }, { createdAt: "asc" }, { id: "asc" }],
};

builder.queryFields((t) => ({
  tokenRequests: t.prismaConnection(
    {
      type: "TokenRequest",
      cursor: "id",
      description: "Admins: the organisation's token requests; members: their own.",
      authScopes: { member: true },
      args: {
        status: t.arg({ type: TokenRequestStatusEnum }),
        kind: t.arg({ type: TokenKindEnum }),
        teamId: t.arg.id({ description: "Only requests of members of this team." }),
        memberId: t.arg.id(),
        search: t.arg.string({ description: "Part of the member's email or name, any case." }),
        orderBy: t.arg({ type: TokenRequestOrderEnum, defaultValue: "NEWEST" }),
      },
      totalCount: (_connection, args, context) => context.runtime.prisma.tokenRequest.count({ where: listWhere(context, args) }),
      resolve: (query, _root, args, context) =>
        context.runtime.prisma.tokenRequest.findMany({
          ...query,
          where: listWhere(context, args),
          orderBy: ORDER[args.orderBy ?? "NEWEST"],
        }),
    },
    { name: "TokenRequestConnection" },
    { name: "TokenRequestEdge" },
  ),
  pendingTokenRequestCount: t.int({
    description: "Pending requests: the organisation's for admins (the badge), the member's own otherwise.",
    authScopes: { member: true },
    resolve: (_root, _args, context) => countPending(context.runtime, scopeOf(context)),
  }),
}));

/** Decodes the ids of a bulk decision, or null for `allPending: true`; exactly one of the two must be given. */
function decisionTarget(ids: readonly (string | number)[] | null | undefined, allPending: boolean | null | undefined): string[] | null {
  if (allPending && ids) throw badInput("ids", "Give either ids or allPending: true, not both.");
  if (allPending) return null;
  if (!ids) throw badInput("ids", "Give the ids of the requests to decide, or allPending: true.");
  if (ids.length === 0) throw badInput("ids", "ids must name at least one request.");
  if (ids.length > MAX_DECISION_IDS)
    throw badInput("ids", `ids may name at most ${MAX_DECISION_IDS} requests; use allPending: true for more.`);
  return ids.map((id, index) => decodeId(String(id), "TokenRequest", `ids.${index}`));
}

/** Loads the outcomes' requests with the selection the client asked for under `outcomes.request`. */
function requestLoader(context: Context, info: GraphQLResolveInfo): RequestLoader<TokenRequestRow> {
  const query = queryFromInfo({ context, info, path: ["outcomes", "request"] });
  return (tx, ids) => tx.tokenRequest.findMany({ ...query, where: { id: { in: ids } } } as Prisma.TokenRequestFindManyArgs);
}

function bulkView(result: DecisionResult<TokenRequestRow>): BulkView {
  const byId = new Map(result.requests.map((row) => [row.id, row]));
  return {
    outcomes: result.outcomes.map((outcome) => ({ request: byId.get(outcome.requestId)!, ok: outcome.ok, errorCode: outcome.errorCode })),
    notFound: result.notFound.map((id) => encodeGlobalID("TokenRequest", id)),
  };
}

type MutationFieldBuilder = Parameters<Parameters<typeof builder.mutationFields>[0]>[0];

const decisionArgs = (t: MutationFieldBuilder) => ({
  ids: t.arg.idList({ description: "The requests to decide (at most 1000)." }),
  allPending: t.arg.boolean({ description: "Decide every request pending at this moment instead of ids." }),
  note: t.arg.string({ description: "Why; shown to the member and kept in the audit trail (at most 1000 characters)." }),
});

/** approveTokenRequests and rejectTokenRequests: the same bulk decision, told apart by its outcome. */
const decisionField = (t: MutationFieldBuilder, status: "APPROVED" | "REJECTED", description: string) =>
  t.field({
    type: BulkDecisionResultRef,
    description,
    args: decisionArgs(t),
    authScopes: { admin: true },
    resolve: async (_root, args, context, info) => {
      const admin = requireAdmin(context);
      const ids = decisionTarget(args.ids, args.allPending);
      return bulkView(await decideTokenRequests(context.runtime, admin, status, { ids, note: args.note }, requestLoader(context, info)));
    },
  });

builder.mutationFields((t) => ({
  requestTokens: t.prismaField({
    type: "TokenRequest",
    description:
      "Asks an admin for more tokens; one pending request per member and kind. May be approved at once by the auto-approval setting. A service key (the chat app) files for a member of its organisation (memberId).",
    args: {
      amount: t.arg({ type: "SafeInt", required: true }),
      kind: t.arg({ type: TokenKindEnum, required: true, defaultValue: "INFERENCE" }),
      reason: t.arg.string(),
      memberId: t.arg.id({ description: "The member the request is for: required for service keys; members may only name themselves." }),
    },
    authScopes: { member: true, service: true },
    resolve: async (query, _root, args, context) => {
      const requester = requesterOf(context, args.memberId == null ? null : decodeId(String(args.memberId), "Member", "memberId"));
      const created = await requestTokens(context.runtime, requester, { amount: args.amount, kind: args.kind, reason: args.reason });
      return context.runtime.prisma.tokenRequest.findUniqueOrThrow({ ...query, where: { id: created.id } });
    },
  }),
  cancelTokenRequest: t.prismaField({
    type: "TokenRequest",
    description: "Withdraws the caller's own pending request.",
    args: { id: t.arg.id({ required: true }) },
    authScopes: { member: true },
    resolve: async (query, _root, args, context) => {
      const { principal } = context;
      if (principal.kind !== "MEMBER") throw forbidden();
      const id = decodeId(String(args.id), "TokenRequest", "id");
      await cancelTokenRequest(context.runtime, { ...principal, isAdmin: isAdmin(principal) }, id);
      return context.runtime.prisma.tokenRequest.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  approveTokenRequests: decisionField(
    t,
    "APPROVED",
    "Approves by ids or allPending: true, oldest first while the pool lasts; each approval adds its amount to the member's limit (it may pass the ceiling).",
  ),
  rejectTokenRequests: decisionField(t, "REJECTED", "Rejects by ids or allPending: true, with an optional note for the members."),
  setAutoApproval: t.prismaField({
    type: "Organization",
    description:
      "Requests up to maxAmount are approved at once while the pool keeps poolReserve tokens after them; maxAmount null turns it off.",
    args: {
      maxAmount: t.arg({ type: "SafeInt" }),
      poolReserve: t.arg({ type: "SafeInt", required: true }),
    },
    authScopes: { admin: true },
    resolve: async (query, _root, args, context) => {
      const admin = requireAdmin(context);
      await setAutoApproval(context.runtime, admin, { maxAmount: args.maxAmount ?? null, poolReserve: args.poolReserve });
      return context.runtime.prisma.organization.findUniqueOrThrow({ ...query, where: { id: admin.organizationId } });
    },
  }),
}));

builder.subscriptionFields((t) => ({
  pendingTokenRequestCount: t.int({
    description: "Emits the current count on subscribe, then on every change (admins: the organisation's; members: their own).",
    authScopes: { member: true },
    subscribe: (_root, _args, context) => pendingCounts(context.runtime, scopeOf(context)),
    resolve: (count: number) => count,
  }),
  tokenRequestUpdated: t.prismaField({
    type: "TokenRequest",
    description: "A member's own requests, or every request of the organisation for admins.",
    authScopes: { member: true },
    subscribe: (_root, _args, context) => requestChanges(context.runtime, scopeOf(context)),
    resolve: (query, event, _args, context) =>
      context.runtime.prisma.tokenRequest.findUniqueOrThrow({ ...query, where: { id: (event as { requestId: string }).requestId } }),
  }),
}));
