// Purchases (quote and buy) and the organisation's allocation status, also as a live subscription.

import { requireAdmin } from "../auth/access.ts";
import { staffOnly } from "../auth/read-rules.ts";
import { builder } from "../builder.ts";
import type { Context } from "../context.ts";
import type { TokenKind } from "../db/generated/enums.ts";
import { notFound } from "../errors.ts";
import { OrganizationRef } from "../organizations/schema.ts";
import { PresetNameEnum, TokenKindEnum } from "../schema/enums.ts";
import { type PlanQuote, quotePlan } from "./pricing.ts";
import { purchaseTokens, quotePurchase } from "./purchases.ts";
import { type AllocationStatus, allocationStatus, allocationStatusStream } from "./status.ts";

export const PurchaseRef = builder.prismaNode("Purchase", {
  id: { field: "id" },
  // organisation finances: admins (and the operator) only, also through node(id:)
  authScopes: staffOnly,
  fields: (t) => ({
    kind: t.field({ type: TokenKindEnum, resolve: (purchase) => purchase.kind }),
    tokens: t.field({ type: "SafeInt", resolve: (purchase) => purchase.tokens }),
    listPrice: t.field({ type: "Money", resolve: (purchase) => purchase.listPrice }),
    discountPercent: t.float({ resolve: (purchase) => Number(purchase.discountPercent) }),
    price: t.field({ type: "Money", resolve: (purchase) => purchase.price }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

const PurchaseQuoteRef = builder.objectRef<ReturnType<typeof quotePurchase>>("PurchaseQuote");
builder.objectType(PurchaseQuoteRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    tokens: t.field({ type: "SafeInt", resolve: (q) => q.tokens }),
    listPrice: t.field({ type: "Money", resolve: (q) => q.listPrice }),
    discountPercent: t.float({ resolve: (q) => q.discountPercent }),
    price: t.field({ type: "Money", resolve: (q) => q.price }),
  }),
});

const PlanQuoteRef = builder.objectRef<PlanQuote>("PlanQuote");
builder.objectType(PlanQuoteRef, {
  description: "What a plan of members × a monthly AI budget per member over some months needs and costs, bought as one purchase.",
  fields: (t) => ({
    members: t.exposeInt("members"),
    monthlyBudgetPerMember: t.field({ type: "Money", resolve: (q) => q.monthlyBudgetPerMember }),
    months: t.exposeInt("months"),
    monthlyTokens: t.field({ type: "SafeInt", description: "Tokens the plan needs each month.", resolve: (q) => q.monthlyTokens }),
    tokens: t.field({ type: "SafeInt", description: "Tokens needed over all the months.", resolve: (q) => q.tokens }),
    listPrice: t.field({ type: "Money", resolve: (q) => q.listPrice }),
    discountPercent: t.float({ description: "The bulk discount tier the purchase reaches.", resolve: (q) => q.discountPercent }),
    tierMinimum: t.field({
      type: "Money",
      nullable: true,
      description: "The list price from which that tier applies; null below the first tier.",
      resolve: (q) => q.tierMinimum,
    }),
    price: t.field({ type: "Money", resolve: (q) => q.price }),
  }),
});

builder.queryFields((t) => ({
  quotePlan: t.field({
    type: PlanQuoteRef,
    description: "Sizes a purchase: members × monthlyBudgetPerMember (money, at the list price) over months, with its discount.",
    args: {
      members: t.arg.int({ required: true }),
      monthlyBudgetPerMember: t.arg({ type: "Money", required: true }),
      months: t.arg.int({ required: true, defaultValue: 1 }),
    },
    authScopes: { admin: true },
    resolve: (_root, args, context) => quotePlan(args, context.runtime.config.pricePerMillionTokens),
  }),
  quotePurchase: t.field({
    type: PurchaseQuoteRef,
    description: "What buying `tokens` would cost, without buying.",
    args: { tokens: t.arg({ type: "SafeInt", required: true }) },
    authScopes: { admin: true },
    resolve: (_root, args, context) => quotePurchase(context.runtime, args.tokens),
  }),
}));

builder.mutationFields((t) => ({
  purchaseTokens: t.prismaField({
    type: "Purchase",
    description: "Buys tokens into the organisation's pool of `kind`.",
    args: {
      tokens: t.arg({ type: "SafeInt", required: true }),
      kind: t.arg({ type: TokenKindEnum, required: true, defaultValue: "INFERENCE" }),
    },
    authScopes: { admin: true },
    resolve: async (query, _root, args, context) => {
      const admin = requireAdmin(context);
      const purchase = await purchaseTokens(context.runtime, {
        organizationId: admin.organizationId,
        actorId: admin.memberId,
        tokens: args.tokens,
        kind: args.kind,
      });
      return context.runtime.prisma.purchase.findUniqueOrThrow({ ...query, where: { id: purchase.id } });
    },
  }),
}));

builder.prismaObjectFields(OrganizationRef, (t) => ({
  purchases: t.relatedConnection(
    "purchases",
    {
      description: "Token purchases, newest first (admins).",
      authScopes: { admin: true, operator: true },
      totalCount: true,
      cursor: "id",
      query: () => ({ orderBy: [{ createdAt: "desc" }, { id: "desc" }] }),
    },
    { name: "PurchaseConnection" },
    { name: "PurchaseEdge" },
  ),
}));

const AllocationStatusRef = builder.objectRef<AllocationStatus>("AllocationStatus");
builder.objectType(AllocationStatusRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    kind: t.field({ type: TokenKindEnum, resolve: (status) => status.kind }),
    purchased: t.field({
      type: "SafeInt",
      description: "Tokens bought by the organisation and not consumed (pool plus outstanding allocations).",
      resolve: (status) => status.purchased,
    }),
    allocated: t.field({
      type: "SafeInt",
      description: "Sum of current member allocations (their limits for this period).",
      resolve: (status) => status.allocated,
    }),
    used: t.field({ type: "SafeInt", description: "Tokens consumed by members in the current period.", resolve: (status) => status.used }),
    unallocated: t.field({
      type: "SafeInt",
      description: "Tokens in the pool not assigned to any member.",
      resolve: (status) => status.unallocated,
    }),
    purchasedAllTime: t.field({
      type: "SafeInt",
      description: "Every token of this kind ever bought (= unallocated + allocated + consumedInClosedPeriods).",
      resolve: (status) => status.purchasedAllTime,
    }),
    consumedInClosedPeriods: t.field({
      type: "SafeInt",
      description: "Tokens consumed in billing cycles that have ended.",
      resolve: (status) => status.consumedInClosedPeriods,
    }),
    activePreset: t.field({ type: PresetNameEnum, resolve: (status) => status.activePreset }),
  }),
});

async function statusOf(context: Context, organizationId: string, kind: TokenKind): Promise<AllocationStatus> {
  const status = await allocationStatus(context.runtime.prisma, organizationId, kind);
  if (!status) throw notFound("Organization");
  return status;
}

builder.prismaObjectFields(OrganizationRef, (t) => ({
  allocationStatus: t.field({
    type: AllocationStatusRef,
    args: { kind: t.arg({ type: TokenKindEnum, required: true, defaultValue: "INFERENCE" }) },
    authScopes: { admin: true, operator: true },
    resolve: (organization, args, context) => statusOf(context, organization.id, args.kind),
  }),
}));

builder.subscriptionFields((t) => ({
  allocationStatusChanged: t.field({
    type: AllocationStatusRef,
    description: "Emits on subscribe, then on every change (admins).",
    args: { kind: t.arg({ type: TokenKindEnum, required: true, defaultValue: "INFERENCE" }) },
    authScopes: { admin: true },
    subscribe: (_root, args, context) => allocationStatusStream(context.runtime, requireAdmin(context).organizationId, args.kind),
    resolve: (status: AllocationStatus) => status,
  }),
}));
