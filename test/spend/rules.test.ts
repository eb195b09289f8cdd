// Pure rules of model spend: shares and ratio, thresholds, analytics range plans, time to first value, CSV.

import { parse as parseWithCsvParse } from "csv-parse/sync";
import { Decimal } from "decimal.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatMoney } from "../../src/schema/scalars.ts";
import {
  csvField,
  csvRecord,
  firstValueDistribution,
  median,
  moneyText,
  normalizeThresholdPercents,
  percentOf,
  planRange,
  reachedThresholds,
  relevantThresholds,
  resolveRange,
  rollupTarget,
  secondsToFirstValue,
  spendRatio,
  summarizeSpend,
  thresholdAmount,
  utcDayCeil,
  utcDayFloor,
} from "../../src/spend/rules.ts";
import { parseCsv } from "./csv.ts";

const DAY = 86_400_000;
const badField = (field: string) => expect.objectContaining({ extensions: expect.objectContaining({ code: "BAD_USER_INPUT", field }) });

describe("spend ratio and shares", () => {
  it("divides spend by plan budget plus overage, 0 without a plan, and goes above 1 when overspent", () => {
    expect(spendRatio("3.30", "100", "20")).toBe(0.0275);
    expect(spendRatio("5", "0", "0")).toBe(0);
    expect(spendRatio("150", "100", "20")).toBe(1.25);
    expect(spendRatio("0", "100", "0")).toBe(0);
  });

  it("gives each model its percent of the total, 0 when nothing was spent", () => {
    expect(percentOf("3", "3.3")).toBe(90.91);
    expect(percentOf("0.3", "3.3")).toBe(9.09);
    expect(percentOf("0", "0")).toBe(0);
  });

  it("sums the models exactly and orders them by spend, then requests, then key", () => {
    const row = (key: string, spend: string, requests = 1) => ({ model: { key }, spend: new Decimal(spend), requests, tokens: 10n });
    const summary = summarizeSpend({
      cycleStart: new Date("2026-03-01T00:00:00Z"),
      cycleEnd: new Date("2026-04-01T00:00:00Z"),
      planBudget: "100",
      overageLimit: "20",
      models: [row("c", "0", 0), row("b", "0.1"), row("a", "0.2"), row("d", "0.1", 3), row("e", "0", 0)],
    });
    expect(summary.spent.toFixed()).toBe("0.4");
    expect(summary.byModel.map((m) => m.model.key)).toEqual(["a", "d", "b", "c", "e"]);
    expect(summary.byModel.map((m) => m.percent)).toEqual([50, 25, 25, 0, 0]);
    expect(summary.ratio).toBe(0.003333);
  });

  it("keeps shares between 0 and 100 and their sum within rounding of 100 (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 12 }), (cents) => {
        const summary = summarizeSpend({
          cycleStart: new Date(0),
          cycleEnd: new Date(DAY),
          planBudget: "1",
          overageLimit: "0",
          models: cents.map((c, i) => ({ model: { key: `m${i}` }, spend: new Decimal(c).div(100), requests: 0, tokens: 0n })),
        });
        const total = summary.byModel.reduce((sum, m) => sum + m.percent, 0);
        expect(summary.byModel.every((m) => m.percent >= 0 && m.percent <= 100)).toBe(true);
        if (cents.some((c) => c > 0)) expect(Math.abs(total - 100)).toBeLessThanOrEqual(0.005 * cents.length + 1e-9);
        else expect(total).toBe(0);
        expect(summary.spent.eq(cents.reduce((a, b) => a + b, 0) / 100)).toBe(true);
      }),
    );
  });
});

describe("spend thresholds", () => {
  it("deduplicates and sorts percents, refusing bad ones naming the element", () => {
    expect(normalizeThresholdPercents([80, 50, 100, 50])).toEqual([50, 80, 100]);
    expect(normalizeThresholdPercents([])).toEqual([]);
    expect(normalizeThresholdPercents([12.5, 150])).toEqual([12.5, 150]);
    expect(() => normalizeThresholdPercents([50, 0])).toThrow(badField("percents[1]"));
    expect(() => normalizeThresholdPercents([-5])).toThrow(badField("percents[0]"));
    expect(() => normalizeThresholdPercents([1001])).toThrow(badField("percents[0]"));
    expect(() => normalizeThresholdPercents([Number.NaN])).toThrow(badField("percents[0]"));
    expect(() => normalizeThresholdPercents([33.333])).toThrow(badField("percents[0]"));
    expect(() => normalizeThresholdPercents(Array.from({ length: 21 }, (_, i) => i + 1))).toThrow(badField("percents"));
  });

  it("measures organisation thresholds against the envelope and model thresholds against the cap", () => {
    const rules = [
      { id: "org50", modelId: null, percent: 50 },
      { id: "org80", modelId: null, percent: 80 },
      { id: "a50", modelId: "a", percent: 50 },
      { id: "b50", modelId: "b", percent: 50 },
    ];
    expect(relevantThresholds(rules, "a").map((r) => r.id)).toEqual(["org50", "org80", "a50"]);
    const standing = { organizationSpend: "60", envelope: "100", modelId: "a", modelSpend: "0.5", cap: "1" };
    expect(reachedThresholds(rules, standing).map((r) => r.id)).toEqual(["org50", "a50"]);
    expect(reachedThresholds(rules, { ...standing, modelSpend: "0.49999999" }).map((r) => r.id)).toEqual(["org50"]);
    expect(reachedThresholds(rules, { ...standing, organizationSpend: "80" }).map((r) => r.id)).toEqual(["org50", "org80", "a50"]);
    // nothing to measure against: no plan, no cap
    expect(reachedThresholds(rules, { ...standing, envelope: "0", cap: null })).toEqual([]);
    expect(thresholdAmount(80, "120")?.toFixed()).toBe("96");
    expect(thresholdAmount(80, null)).toBeNull();
  });

  it("fires exactly when spend reaches percent × base (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        (pct100, base, spend) => {
          const percent = pct100 / 100;
          const reached = reachedThresholds([{ id: "t", modelId: null, percent }], {
            organizationSpend: String(spend),
            envelope: String(base),
            modelId: "m",
            modelSpend: "0",
            cap: null,
          });
          expect(reached.length === 1).toBe(new Decimal(spend).times(100).gte(new Decimal(base).times(percent)));
        },
      ),
    );
  });
});

describe("analytics ranges", () => {
  const cycle = { start: new Date("2026-03-01T00:00:00Z"), end: new Date("2026-04-01T00:00:00Z") };

  it("defaults to the current cycle and refuses an empty or reversed range", () => {
    expect(resolveRange(null, null, cycle)).toEqual({ from: cycle.start, to: cycle.end });
    const from = new Date("2026-03-05T00:00:00Z");
    expect(resolveRange(from, undefined, cycle)).toEqual({ from, to: cycle.end });
    expect(() => resolveRange(from, from, cycle)).toThrow(badField("from"));
    expect(() => resolveRange(null, new Date("2026-02-01T00:00:00Z"), cycle)).toThrow(badField("to"));
  });

  it("reads whole rolled-up days from the rollup and the rest from usage rows", () => {
    const at = (text: string) => new Date(text);
    expect(planRange({ from: at("2026-03-01T00:00:00Z"), to: at("2026-04-01T00:00:00Z") }, at("2026-03-12T00:00:00Z"))).toEqual({
      rollup: { from: at("2026-03-01T00:00:00Z"), to: at("2026-03-12T00:00:00Z") },
      raw: [{ from: at("2026-03-12T00:00:00Z"), to: at("2026-04-01T00:00:00Z") }],
    });
    expect(planRange({ from: at("2026-03-01T06:00:00Z"), to: at("2026-03-05T18:00:00Z") }, at("2026-03-12T00:00:00Z"))).toEqual({
      rollup: { from: at("2026-03-02T00:00:00Z"), to: at("2026-03-05T00:00:00Z") },
      raw: [
        { from: at("2026-03-01T06:00:00Z"), to: at("2026-03-02T00:00:00Z") },
        { from: at("2026-03-05T00:00:00Z"), to: at("2026-03-05T18:00:00Z") },
      ],
    });
    const within = { from: at("2026-03-03T06:00:00Z"), to: at("2026-03-03T18:00:00Z") };
    expect(planRange(within, at("2026-03-12T00:00:00Z"))).toEqual({ rollup: null, raw: [within] });
    expect(planRange(within, null)).toEqual({ rollup: null, raw: [within] });
  });

  it("partitions any range exactly, using only whole days before the cursor (property)", () => {
    const base = Date.UTC(2026, 0, 1);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 * DAY }),
        fc.integer({ min: 1, max: 60 * DAY }),
        fc.option(fc.integer({ min: 0, max: 70 }), { nil: null }),
        (offset, length, cursorDay) => {
          const range = { from: new Date(base + offset), to: new Date(base + offset + length) };
          const cursor = cursorDay === null ? null : new Date(base + cursorDay * DAY);
          const plan = planRange(range, cursor);
          const parts = [...(plan.rollup ? [plan.rollup] : []), ...plan.raw].sort((a, b) => a.from.getTime() - b.from.getTime());
          expect(parts[0]!.from).toEqual(range.from);
          expect(parts.at(-1)!.to).toEqual(range.to);
          for (let i = 1; i < parts.length; i++) expect(parts[i]!.from).toEqual(parts[i - 1]!.to);
          for (const part of parts) expect(part.from.getTime()).toBeLessThan(part.to.getTime());
          if (plan.rollup) {
            expect(plan.rollup.from.getTime() % DAY).toBe(0);
            expect(plan.rollup.to.getTime() % DAY).toBe(0);
            expect(plan.rollup.to.getTime()).toBeLessThanOrEqual(cursor!.getTime());
          }
          expect(plan.raw.length).toBeLessThanOrEqual(2);
        },
      ),
    );
  });

  it("rolls up a day only after it ended more than the grace period ago", () => {
    const grace = 10 * 60_000;
    expect(rollupTarget(new Date("2026-03-12T00:05:00Z"), grace)).toEqual(new Date("2026-03-11T00:00:00Z"));
    expect(rollupTarget(new Date("2026-03-12T00:10:00Z"), grace)).toEqual(new Date("2026-03-12T00:00:00Z"));
    expect(utcDayFloor(new Date("2026-03-12T23:59:59.999Z"))).toEqual(new Date("2026-03-12T00:00:00Z"));
    expect(utcDayCeil(new Date("2026-03-12T00:00:00.001Z"))).toEqual(new Date("2026-03-13T00:00:00Z"));
    expect(utcDayCeil(new Date("2026-03-12T00:00:00Z"))).toEqual(new Date("2026-03-12T00:00:00Z"));
  });
});

describe("time to first value", () => {
  it("measures creation to first usage, never negative, null without usage", () => {
    const created = new Date("2026-03-01T00:00:00Z");
    expect(secondsToFirstValue(created, new Date("2026-03-01T01:00:00Z"))).toBe(3600);
    expect(secondsToFirstValue(created, new Date("2026-02-28T23:59:59Z"))).toBe(0);
    expect(secondsToFirstValue(created, null)).toBeNull();
  });

  it("takes the middle value, or the mean of the two middle ones", () => {
    expect(median([])).toBeNull();
    expect(median([5])).toBe(5);
    expect(median([9, 1, 5])).toBe(5);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("puts every value in exactly one bucket", () => {
    const buckets = firstValueDistribution([0, 3599, 3600, 86_399, 86_400, 7 * 86_400, 30 * 86_400, 400 * 86_400]);
    expect(buckets.map((b) => b.members)).toEqual([2, 2, 1, 1, 2]);
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e9, noNaN: true })), (values) => {
        expect(firstValueDistribution(values).reduce((sum, b) => sum + b.members, 0)).toBe(values.length);
      }),
    );
  });
});

describe("CSV", () => {
  it("quotes only fields with commas, quotes or line breaks, doubling inner quotes", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField("")).toBe("");
    expect(csvField(null)).toBe("");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvField("cr\rhere")).toBe('"cr\rhere"');
    expect(csvRecord(["a", null, "b,c"])).toBe('a,,"b,c"\r\n');
  });

  it("neutralises cells a spreadsheet would run as formulas (OWASP): a leading single quote, and quoted", () => {
    for (const cell of ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x.test","y")']) {
      const written = csvField(cell);
      expect(written.startsWith(`"'`)).toBe(true);
      expect(parseWithCsvParse(csvRecord([cell, "b"]))).toEqual([[`'${cell}`, "b"]]);
    }
    expect(csvField("a=1")).toBe("a=1");
  });

  it("round-trips any fields through an RFC 4180 parser (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: fc.constantFrom("a", ",", '"', "\n", "\r", " ", "é", "=", "+", "-", "@", "\t") }), {
          minLength: 1,
          maxLength: 6,
        }),
        (fields) => {
          const read = fields.map((field) => (/^[=+\-@\t\r]/.test(field) ? `'${field}` : field));
          expect(parseCsv(csvRecord(fields))).toEqual([read]);
          expect(parseWithCsvParse(csvRecord(fields), { relax_quotes: false })).toEqual([read]);
        },
      ),
    );
  });

  it("writes stored money like the API does", () => {
    expect(moneyText("12.50000000")).toBe("12.50");
    expect(moneyText("0.00012000")).toBe("0.00012");
    expect(moneyText("3")).toBe("3.00");
    expect(moneyText("3.1")).toBe("3.10");
    expect(moneyText("3.")).toBe("3.00");
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 22n }), (units) => {
        const stored = new Decimal(units.toString()).div(1e8).toFixed(8);
        expect(moneyText(stored)).toBe(formatMoney(new Decimal(stored)));
      }),
    );
  });
});
