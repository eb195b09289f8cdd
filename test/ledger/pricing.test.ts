import { Decimal } from "decimal.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors.ts";
import { DISCOUNT_TIERS, discountPercentFor, quote } from "../../src/ledger/pricing.ts";

const TEN = new Decimal("10.00");
// As many digits as pricing.ts keeps, so the expected values here are exact too.
const Exact = Decimal.clone({ precision: 60 });
const MAX_TOKENS = BigInt(Number.MAX_SAFE_INTEGER);
const tokens = fc.bigInt({ min: 200_000n, max: MAX_TOKENS });
const price = fc.integer({ min: 1, max: 100_000_000 }).map((cents) => new Decimal(cents).div(100));

function refusal(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("purchase pricing", () => {
  it.each([
    [200_000n, "2.00", 0, "2.00"],
    [999_999n, "10.00", 0, "10.00"],
    [999_990n, "10.00", 0, "10.00"],
    [999_499n, "9.99", 0, "9.99"],
    [999_500n, "10.00", 0, "10.00"],
    [1_000_000n, "10.00", 5, "9.50"],
    [4_999_999n, "50.00", 5, "47.50"],
    [4_999_000n, "49.99", 5, "47.49"],
    [10_000_000n, "100.00", 15, "85.00"],
    [9_999_499n, "99.99", 10, "90.00"],
    [50_000_000n, "500.00", 20, "400.00"],
    [100_000_000n, "1000.00", 25, "750.00"],
    [499_999_499n, "4999.99", 25, "3750.00"],
    [500_000_000n, "5000.00", 30, "3500.00"],
    [123_456_789n, "1234.57", 25, "925.93"],
    [3_333_333n, "33.33", 5, "31.67"],
  ])("%s tokens list at %s with %s %% off: %s", (count, list, discount, net) => {
    const q = quote(count, TEN);
    expect(q.listPrice.toFixed(2)).toBe(list);
    expect(q.discountPercent).toBe(discount);
    expect(q.price.toFixed(2)).toBe(net);
  });

  it("rounds half up to cents", () => {
    // 200_500 tokens at 10.00 = 2.005 -> 2.01; 1_050_500 tokens = 10.505 -> 10.51, less 5 % = 9.9845 -> 9.98
    expect(quote(200_500n, TEN).listPrice.toFixed(2)).toBe("2.01");
    expect(quote(1_050_500n, TEN).price.toFixed(2)).toBe("9.98");
    // 5 % of 10.10 = 0.505 off -> 9.595 -> 9.60
    expect(quote(1_010_000n, TEN).price.toFixed(2)).toBe("9.60");
  });

  it("refuses list prices under 2.00 and non-positive amounts, naming the field", () => {
    for (const count of [0n, -5n, 1n, 199_499n, 199_500n, 199_999n]) {
      const error = refusal(() => quote(count, TEN));
      expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "tokens" });
    }
    // the minimum is judged on the exact list price: 199,500 lists at 1.995, under 2.00, even though it rounds to 2.00
    expect(quote(200_000n, TEN).listPrice.toFixed(2)).toBe("2.00");
  });

  it("has every tier boundary exactly where the price list puts it", () => {
    expect(discountPercentFor(new Decimal("9.99"))).toBe(0);
    for (const tier of DISCOUNT_TIERS) {
      expect(discountPercentFor(tier.minListPrice)).toBe(tier.percent);
      expect(discountPercentFor(tier.minListPrice.minus("0.01"))).toBeLessThan(tier.percent);
    }
    expect(discountPercentFor(new Decimal("1e12"))).toBe(30);
  });

  it("property: list price is exact and the net price is list less the discount, in cents, never negative", () => {
    fc.assert(
      fc.property(tokens, price, (count, perMillion) => {
        const expectedList = new Exact(count.toString()).mul(perMillion).div(1_000_000);
        let q: ReturnType<typeof quote>;
        try {
          q = quote(count, perMillion);
        } catch (error) {
          expect(error).toBeInstanceOf(AppError);
          expect(expectedList.lt(2)).toBe(true);
          return;
        }
        expect(q.listPrice.minus(expectedList).abs().lte("0.005")).toBe(true);
        expect(q.listPrice.decimalPlaces()).toBeLessThanOrEqual(2);
        expect(q.price.decimalPlaces()).toBeLessThanOrEqual(2);
        expect(q.price.gte(0)).toBe(true);
        expect(q.price.lte(q.listPrice)).toBe(true);
        expect(q.discountPercent).toBe(discountPercentFor(expectedList));
        const expectedNet = expectedList.mul(100 - q.discountPercent).div(100);
        expect(q.price.eq(expectedNet.toDecimalPlaces(2, Decimal.ROUND_HALF_UP))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("property: no tier is reached by rounding; a count just under a tier never costs more than one at it", () => {
    fc.assert(
      fc.property(fc.constantFrom(...DISCOUNT_TIERS), fc.bigInt({ min: 1n, max: 10_000n }), (tier, below) => {
        const atTier = BigInt(tier.minListPrice.div(TEN).mul(1_000_000).toFixed(0));
        const under = quote(atTier - below, TEN);
        expect(under.discountPercent).toBeLessThan(tier.percent);
        expect(quote(atTier, TEN).discountPercent).toBe(tier.percent);
        // within the lower tier, more tokens never cost less
        const less = quote(atTier - below - 1n, TEN);
        expect(under.price.gte(less.price)).toBe(true);
      }),
    );
  });

  it("property: more tokens never get a smaller discount nor list for less", () => {
    fc.assert(
      fc.property(tokens, fc.bigInt({ min: 0n, max: 10n ** 12n }), (count, extra) => {
        const bigger = count + extra > MAX_TOKENS ? MAX_TOKENS : count + extra;
        const a = quote(count, TEN);
        const b = quote(bigger, TEN);
        expect(b.discountPercent).toBeGreaterThanOrEqual(a.discountPercent);
        expect(b.listPrice.gte(a.listPrice)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("property: the discount tier is monotonic in the list price", () => {
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 10_000_000 }), fc.integer({ min: 0, max: 1_000_000 }), (cents, more) => {
        const low = new Decimal(cents).div(100);
        const high = new Decimal(cents + more).div(100);
        expect(discountPercentFor(high)).toBeGreaterThanOrEqual(discountPercentFor(low));
      }),
    );
  });

  it("stays exact at the largest safe token count", () => {
    const q = quote(MAX_TOKENS, TEN);
    expect(q.listPrice.toFixed(2)).toBe("90071992547.41");
    expect(q.price.toFixed(2)).toBe("63050394783.19");
  });
});
