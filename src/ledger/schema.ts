// Purchases (quote and buy) and the organisation's allocation status, live.
import { requireAdmin } from "../auth/access.ts";
import { builder } from "../builder.ts";
import { OrganizationRef } from "../organizations/schema.ts";
import { TokenKindEnum } from "../schema/enums.ts";
import { purchaseTokens, quotePurchase } from "./purchases.ts";

export const PurchaseRef = builder.prismaNode("Purchase", {
  id: { field: "id" },
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
  fields: (t) => ({
    tokens: t.field({ type: "SafeInt", resolve: (q) => q.tokens }),
    listPrice: t.field({ type: "Money", resolve: (q) => q.listPrice }),
    discountPercent: t.float({ resolve: (q) => q.discountPercent }),
    price: t.field({ type: "Money", resolve: (q) => q.price }),
  }),
});

builder.queryFields((t) => ({
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
  purchases: t.relatedConnection("purchases", {
    description: "Token purchases, newest first (admins).",
    authScopes: { admin: true, operator: true },
    totalCount: true,
    cursor: "id",
    query: () => ({ orderBy: [{ createdAt: "desc" }, { id: "desc" }] }),
  }),
}));
