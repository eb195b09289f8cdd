// Buying tokens: the purchase row and the pool credit commit together, or neither does.
import type { TokenKind } from "../db/generated/enums.ts";
import type { Runtime } from "../runtime.ts";
import { creditPurchase } from "./allocations.ts";
import { quote } from "./pricing.ts";
import { inTransaction } from "./tx.ts";

export function quotePurchase(runtime: Runtime, tokens: number) {
  return quote(BigInt(tokens), runtime.config.pricePerMillionTokens);
}

export async function purchaseTokens(
  runtime: Runtime,
  purchase: { organizationId: string; actorId: string; tokens: number; kind: TokenKind },
) {
  const priced = quote(BigInt(purchase.tokens), runtime.config.pricePerMillionTokens);
  return inTransaction(runtime, async (tx, events) => {
    const row = await tx.purchase.create({
      data: {
        organizationId: purchase.organizationId,
        kind: purchase.kind,
        tokens: priced.tokens,
        listPrice: priced.listPrice.toString(),
        discountPercent: priced.discountPercent,
        price: priced.price.toString(),
        createdAt: runtime.clock.now(),
      },
    });
    await creditPurchase(
      tx,
      {
        organizationId: purchase.organizationId,
        kind: purchase.kind,
        tokens: priced.tokens,
        purchaseId: row.id,
        actorId: purchase.actorId,
      },
      events,
    );
    return row;
  });
}
