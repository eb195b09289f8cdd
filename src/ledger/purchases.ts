// Buying tokens: the purchase row, the pool credit and the floors it fills commit together, or none does.
import type { TokenKind } from "../db/generated/enums.ts";
import { loadPolicyBalances } from "../policy/balances.ts";
import { toPolicyValues } from "../policy/cache.ts";
import { topUpFloors } from "../policy/service.ts";
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
    // Members below their floor (the pool was short: the first admin of a new organisation starts there) are
    // brought up by the purchase itself. Their rows are locked before the pool's: the ledger's lock order.
    const policy = await tx.distributionPolicy.findUnique({ where: { organizationId: purchase.organizationId } });
    const balances = policy
      ? await loadPolicyBalances(tx, {
          organizationId: purchase.organizationId,
          kind: purchase.kind,
          policy: toPolicyValues(policy),
          lock: true,
        })
      : [];
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
    if (policy) {
      await topUpFloors(
        tx,
        { organizationId: purchase.organizationId, kind: purchase.kind, policy: toPolicyValues(policy), reference: row.id },
        events,
        balances,
      );
    }
    return row;
  });
}
