// What a purchase of tokens costs: list price at the configured rate, less the bulk discount. Pure; no I/O.
import { Decimal as BaseDecimal } from "decimal.js";
import { badInput } from "../errors.ts";

// Enough significant digits that no product of a token count and a price is ever rounded before we round to cents.
const Decimal = BaseDecimal.clone({ precision: 60 });
type Decimal = BaseDecimal;

export interface PurchaseQuote {
  tokens: bigint;
  listPrice: Decimal;
  /** 0-100. */
  discountPercent: number;
  price: Decimal;
}

/** Bulk discounts by list price, highest threshold first (wallet-allocation-limits). */
export const DISCOUNT_TIERS: readonly { minListPrice: Decimal; percent: number }[] = [
  { minListPrice: new Decimal(5000), percent: 30 },
  { minListPrice: new Decimal(1000), percent: 25 },
  { minListPrice: new Decimal(500), percent: 20 },
  { minListPrice: new Decimal(100), percent: 15 },
  { minListPrice: new Decimal(50), percent: 10 },
  { minListPrice: new Decimal(10), percent: 5 },
];

export const MINIMUM_LIST_PRICE = new Decimal("2.00");
const MILLION = new Decimal(1_000_000);

const toCents = (value: Decimal) => value.toDecimalPlaces(2, BaseDecimal.ROUND_HALF_UP);

export function discountPercentFor(listPrice: Decimal): number {
  return DISCOUNT_TIERS.find((tier) => listPrice.gte(tier.minListPrice))?.percent ?? 0;
}

/** Prices `tokens` at `pricePerMillion`; a list price under 2.00 is refused (BAD_USER_INPUT on `field`). */
export function quote(tokens: bigint, pricePerMillion: Decimal, field = "tokens"): PurchaseQuote {
  if (tokens <= 0n) throw badInput(field, `${field} must be a positive whole number of tokens.`);
  const listPrice = toCents(new Decimal(tokens.toString()).div(MILLION).mul(pricePerMillion));
  if (listPrice.lt(MINIMUM_LIST_PRICE)) {
    const minimumTokens = MINIMUM_LIST_PRICE.div(pricePerMillion).mul(MILLION).toDecimalPlaces(0, BaseDecimal.ROUND_CEIL);
    throw badInput(
      field,
      `The smallest purchase is ${MINIMUM_LIST_PRICE.toFixed(2)} (about ${minimumTokens.toFixed(0)} tokens); ${tokens} tokens list at ${listPrice.toFixed(2)}.`,
    );
  }
  const discountPercent = discountPercentFor(listPrice);
  const price = toCents(listPrice.mul(new Decimal(100 - discountPercent)).div(100));
  return { tokens, listPrice, discountPercent, price };
}
