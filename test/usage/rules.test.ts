import { Decimal } from "decimal.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AuthorizationSnapshot,
  budgetExhausted,
  combinedPrice,
  decideAuthorization,
  fallbackFor,
  isCapped,
  limitsInForce,
  type ModelStanding,
  reservationCost,
  usageCost,
  usedToday,
} from "../../src/usage/rules.ts";

const model = (key: string, input: string, output: string, extra: Partial<ModelStanding> = {}): ModelStanding => ({
  id: key,
  key,
  inputPricePerMillion: input,
  outputPricePerMillion: output,
  enabled: true,
  cap: null,
  cycleSpend: "0",
  openReservationCost: "0",
  ...extra,
});

const NOW = new Date("2027-01-15T12:00:00Z");

function snapshot(overrides: Partial<AuthorizationSnapshot> = {}): AuthorizationSnapshot {
  const requested = model("m", "1", "2");
  return {
    suspended: false,
    requested,
    models: [requested],
    organizationSpend: "0",
    planBudget: "0",
    overageLimit: "0",
    automaticFallback: true,
    balance: { limit: 1_000n, used: 0n, reserved: 0n, usedOnDay: 0n, usedDay: null },
    limits: { daily: null, monthly: null },
    estimatedTokens: 100n,
    now: NOW,
    ...overrides,
  };
}

describe("costs", () => {
  it("prices input and output tokens per million, exactly, rounded to 8 decimals half up", () => {
    expect(usageCost(1_234n, 567n, { inputPricePerMillion: "0.15", outputPricePerMillion: "0.60" }).toFixed()).toBe("0.0005253");
    expect(usageCost(1n, 0n, { inputPricePerMillion: "0.005", outputPricePerMillion: "0" }).toFixed()).toBe("0.00000001"); // 0.000000005 → up
    expect(usageCost(1n, 0n, { inputPricePerMillion: "0.004", outputPricePerMillion: "0" }).toFixed()).toBe("0"); // 0.000000004 → down
    expect(usageCost(2n ** 53n - 1n, 0n, { inputPricePerMillion: "99999999999999.99999999", outputPricePerMillion: "0" }).toFixed()).toBe(
      "900719925474099099999909.92800745",
    );
  });

  it("is additive in tokens up to rounding and never negative (property)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 40n }),
        fc.bigInt({ min: 0n, max: 2n ** 40n }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (a, b, cents) => {
          const price = { inputPricePerMillion: new Decimal(cents).div(100).toFixed(), outputPricePerMillion: "0" };
          const whole = usageCost(a + b, 0n, price);
          const parts = usageCost(a, 0n, price).plus(usageCost(b, 0n, price));
          expect(whole.gte(0)).toBe(true);
          expect(whole.minus(parts).abs().lte("0.00000001")).toBe(true);
        },
      ),
    );
  });

  it("holds reservations at the higher of the two prices", () => {
    expect(reservationCost(1_000n, { inputPricePerMillion: "2.5", outputPricePerMillion: "10" }).toFixed()).toBe("0.01");
    expect(reservationCost(1_000n, { inputPricePerMillion: "12", outputPricePerMillion: "10" }).toFixed()).toBe("0.012");
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 40n }),
        fc.bigInt({ min: 0n, max: 2n ** 40n }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (input, output, p, q) => {
          const prices = { inputPricePerMillion: String(p), outputPricePerMillion: String(q) };
          // A reservation of all the tokens covers any split of them into input and output.
          expect(reservationCost(input + output, prices).gte(usageCost(input, output, prices))).toBe(true);
        },
      ),
    );
  });
});

describe("caps and fallback", () => {
  it("caps a model when spend plus open reservations reaches the cap", () => {
    expect(isCapped(model("a", "1", "1"))).toBe(false);
    expect(isCapped(model("a", "1", "1", { cap: "10", cycleSpend: "6", openReservationCost: "3.99" }))).toBe(false);
    expect(isCapped(model("a", "1", "1", { cap: "10", cycleSpend: "6", openReservationCost: "4" }))).toBe(true);
    expect(isCapped(model("a", "1", "1", { cap: "0" }))).toBe(true);
  });

  it("picks the most expensive enabled, uncapped model strictly cheaper than the requested one", () => {
    const requested = model("big", "10", "30");
    const models = [
      requested,
      model("same-price", "20", "20"),
      model("disabled", "15", "15", { enabled: false }),
      model("capped", "14", "14", { cap: "1", cycleSpend: "1" }),
      model("mid", "5", "20"),
      model("small", "1", "1"),
    ];
    expect(fallbackFor(requested, models)?.key).toBe("mid");
    expect(fallbackFor(model("tiny", "0.5", "0.5"), models)).toBeNull();
    expect(fallbackFor(requested, [requested, model("b", "1", "1"), model("a", "1", "1")])?.key).toBe("a"); // tie: smallest key
  });

  it("never routes to a model that is not cheaper, disabled or capped (property)", () => {
    const arbitraryModel = fc.record({
      key: fc.string({ minLength: 1, maxLength: 4 }),
      input: fc.integer({ min: 0, max: 50 }),
      output: fc.integer({ min: 0, max: 50 }),
      enabled: fc.boolean(),
      cap: fc.option(fc.integer({ min: 0, max: 20 }), { nil: null }),
      spend: fc.integer({ min: 0, max: 20 }),
    });
    fc.assert(
      fc.property(arbitraryModel, fc.array(arbitraryModel, { maxLength: 8 }), (wanted, others) => {
        const toModel = (m: typeof wanted, i: number) =>
          model(`${m.key}${i}`, String(m.input), String(m.output), {
            enabled: m.enabled,
            cap: m.cap === null ? null : String(m.cap),
            cycleSpend: String(m.spend),
          });
        const requested = toModel(wanted, -1);
        const all = [requested, ...others.map(toModel)];
        const chosen = fallbackFor(requested, all);
        const eligible = all.filter(
          (m) => m.id !== requested.id && m.enabled && !isCapped(m) && combinedPrice(m).lt(combinedPrice(requested)),
        );
        if (eligible.length === 0) {
          expect(chosen).toBeNull();
        } else {
          expect(eligible).toContain(chosen);
          for (const other of eligible) expect(combinedPrice(other).lte(combinedPrice(chosen!))).toBe(true);
        }
      }),
    );
  });
});

describe("budget and draw limits", () => {
  it("treats an unset plan (0 + 0) as no budget, otherwise refuses at budget + overage", () => {
    expect(budgetExhausted("1000000", "0", "0")).toBe(false);
    expect(budgetExhausted("99.99", "80", "20")).toBe(false);
    expect(budgetExhausted("100", "80", "20")).toBe(true);
    expect(budgetExhausted("0", "0", "0.01")).toBe(false);
  });

  it("counts today's use only when the last use was today (UTC)", () => {
    expect(usedToday(500n, new Date("2027-01-15T00:00:00Z"), NOW)).toBe(500n);
    expect(usedToday(500n, new Date("2027-01-14T00:00:00Z"), NOW)).toBe(0n);
    expect(usedToday(500n, null, NOW)).toBe(0n);
  });

  it("uses the member's limits only when it has an override", () => {
    const defaults = { daily: 10n, monthly: 100n };
    expect(limitsInForce({ hasLimitsOverride: false, dailyLimit: 1n, monthlyLimit: 2n }, defaults)).toEqual(defaults);
    expect(limitsInForce({ hasLimitsOverride: true, dailyLimit: null, monthlyLimit: 2n }, defaults)).toEqual({ daily: null, monthly: 2n });
  });
});

describe("decideAuthorization", () => {
  it("allows a call that passes every check, on the requested model", () => {
    expect(decideAuthorization(snapshot())).toMatchObject({ allowed: true, fellBack: false, routed: { key: "m" } });
  });

  it("allows exactly up to the available tokens and the draw limits", () => {
    const balance = { limit: 1_000n, used: 300n, reserved: 200n, usedOnDay: 300n, usedDay: NOW };
    expect(decideAuthorization(snapshot({ balance, estimatedTokens: 500n })).allowed).toBe(true);
    expect(decideAuthorization(snapshot({ balance, estimatedTokens: 501n }))).toMatchObject({
      allowed: false,
      reason: "INSUFFICIENT_BALANCE",
    });
    expect(decideAuthorization(snapshot({ balance, estimatedTokens: 200n, limits: { daily: 500n, monthly: null } })).allowed).toBe(true);
    expect(decideAuthorization(snapshot({ balance, estimatedTokens: 201n, limits: { daily: 500n, monthly: null } }))).toMatchObject({
      reason: "DAILY_LIMIT_REACHED",
    });
    expect(decideAuthorization(snapshot({ balance, estimatedTokens: 201n, limits: { daily: null, monthly: 500n } }))).toMatchObject({
      reason: "MONTHLY_LIMIT_REACHED",
    });
  });

  it("reports the first failing check in the contract's order, whatever else fails (property)", () => {
    const order = [
      "MEMBER_SUSPENDED",
      "MODEL_DISABLED",
      "BUDGET_EXHAUSTED",
      "MODEL_CAP_REACHED",
      "INSUFFICIENT_BALANCE",
      "DAILY_LIMIT_REACHED",
      "MONTHLY_LIMIT_REACHED",
    ] as const;
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
        ([suspended, disabled, budget, capped, short, daily, monthly]) => {
          const requested = model("m", "1", "2", { enabled: !disabled, ...(capped ? { cap: "0" } : {}) });
          const decision = decideAuthorization(
            snapshot({
              suspended,
              requested,
              models: [requested],
              organizationSpend: budget ? "5" : "0",
              planBudget: "5",
              automaticFallback: false,
              balance: { limit: short ? 50n : 1_000n, used: 0n, reserved: 0n, usedOnDay: 0n, usedDay: null },
              limits: { daily: daily ? 10n : null, monthly: monthly ? 10n : null },
            }),
          );
          const failing = [suspended, disabled, budget, capped, short, daily, monthly];
          const first = failing.indexOf(true);
          if (first === -1) expect(decision.allowed).toBe(true);
          else expect(decision).toMatchObject({ allowed: false, reason: order[first] });
        },
      ),
    );
  });

  it("falls back only with automaticFallback on, and checks the balance against the routed call", () => {
    const requested = model("big", "10", "10", { cap: "1", cycleSpend: "1" });
    const cheaper = model("small", "1", "1");
    const base = snapshot({ requested, models: [requested, cheaper] });
    expect(decideAuthorization(base)).toMatchObject({ allowed: true, fellBack: true, routed: { key: "small" } });
    expect(decideAuthorization({ ...base, automaticFallback: false })).toMatchObject({
      allowed: false,
      reason: "MODEL_CAP_REACHED",
      routed: null,
    });
    expect(decideAuthorization({ ...base, estimatedTokens: 5_000n })).toMatchObject({
      allowed: false,
      reason: "INSUFFICIENT_BALANCE",
      fellBack: true,
      routed: { key: "small" },
    });
    expect(decideAuthorization({ ...base, requested: null })).toMatchObject({ allowed: false, reason: "MODEL_DISABLED" });
  });
});
