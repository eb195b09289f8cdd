// What a purchase of tokens costs: list price at the configured rate, less the bulk discount. Pure; no I/O.
import { Decimal as BaseDecimal } from "decimal.js";
import { badInput } from "../errors.ts";

// Enough significant digits that no product of a token count and a price is ever rounded before we round to cents.
const Decimal = BaseDecimal.clone({ precision: 60 });
type Decimal = BaseDecimal;

export interface PurchaseQuote {
  tokens: bigint;
  /** The list price in cents, as shown; the minimum and the tiers are judged on the exact one before rounding. */
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

/**
 * Prices `tokens` at `pricePerMillion`; a list price under 2.00 is refused (BAD_USER_INPUT on `field`).
 * The minimum and the discount tier are judged on the exact list price, and the price is rounded to cents once,
 * so no count of tokens reaches a tier (or the minimum) by rounding: 999,500 tokens at 10.00 list at 9.995, no 5 %.
 */
export function quote(tokens: bigint, pricePerMillion: Decimal, field = "tokens"): PurchaseQuote {
  if (tokens <= 0n) throw badInput(field, `${field} must be a positive whole number of tokens.`);
  const exactListPrice = new Decimal(tokens.toString()).div(MILLION).mul(pricePerMillion);
  if (exactListPrice.lt(MINIMUM_LIST_PRICE)) {
    const minimumTokens = MINIMUM_LIST_PRICE.div(pricePerMillion).mul(MILLION).toDecimalPlaces(0, BaseDecimal.ROUND_CEIL);
    throw badInput(
      field,
      `The smallest purchase is ${MINIMUM_LIST_PRICE.toFixed(2)} (${minimumTokens.toFixed(0)} tokens); ${tokens} tokens list at ${exactListPrice.toString()}.`,
    );
  }
  const discountPercent = discountPercentFor(exactListPrice);
  const price = toCents(exactListPrice.mul(new Decimal(100 - discountPercent)).div(100));
  return { tokens, listPrice: toCents(exactListPrice), discountPercent, price };
}

export interface PlanQuote extends PurchaseQuote {
  members: number;
  monthlyBudgetPerMember: Decimal;
  months: number;
  /** Tokens the plan needs each month (all members), at the list price. */
  monthlyTokens: bigint;
  /** The list price from which the quote's discount applies; null below the first tier. */
  tierMinimum: Decimal | null;
}

const MAX_TOKENS = new Decimal(Number.MAX_SAFE_INTEGER);

/**
 * The wallet seed's calculator: `members` × a monthly AI budget per member (money) over `months`, as tokens at
 * the list price (rounded up, so the budget is covered) and priced as one purchase with its bulk discount.
 */
export function quotePlan(plan: { members: number; monthlyBudgetPerMember: Decimal; months: number }, pricePerMillion: Decimal): PlanQuote {
  if (!Number.isSafeInteger(plan.members) || plan.members < 1 || plan.members > 1_000_000) {
    throw badInput("members", "members must be a whole number from 1 to 1000000.");
  }
  if (!Number.isSafeInteger(plan.months) || plan.months < 1 || plan.months > 120) {
    throw badInput("months", "months must be a whole number from 1 to 120.");
  }
  const budget = new Decimal(plan.monthlyBudgetPerMember);
  if (!budget.isFinite() || budget.lte(0)) throw badInput("monthlyBudgetPerMember", "monthlyBudgetPerMember must be above 0.");
  const monthlyTokens = budget.mul(plan.members).mul(MILLION).div(pricePerMillion).toDecimalPlaces(0, BaseDecimal.ROUND_CEIL);
  const total = monthlyTokens.mul(plan.months);
  if (total.gt(MAX_TOKENS)) throw badInput("monthlyBudgetPerMember", "The plan needs more tokens than one purchase can hold (2^53-1).");
  const priced = quote(BigInt(total.toFixed(0)), pricePerMillion, "monthlyBudgetPerMember");
  const tier = DISCOUNT_TIERS.find((candidate) => candidate.percent === priced.discountPercent);
  return {
    ...priced,
    members: plan.members,
    monthlyBudgetPerMember: budget,
    months: plan.months,
    monthlyTokens: BigInt(monthlyTokens.toFixed(0)),
    tierMinimum: tier?.minListPrice ?? null,
  };
}
