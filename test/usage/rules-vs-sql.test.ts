// Where SQL computes a rule for speed, the pure TypeScript rule is the reference: these tests hold the SQL against it.
// The cost of a call (usage/rules.ts usageCost) is charged by the hot path's statement; the start of the billing cycle
// (organizations/cycle.ts cycleAt) is computed inside the charge and the authorize reads.

import { Decimal } from "decimal.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RecordUsageDocument } from "../../src/client/generated/graphql.ts";
import { cycleAt } from "../../src/organizations/cycle.ts";
import { usageCost } from "../../src/usage/rules.ts";
import { cycleStartOf } from "../../src/usage/statements.ts";
import { startServer } from "../support/server.ts";
import { key, usageOrganization } from "./setup.ts";

const server = await startServer();
const prisma = server.app.runtime.prisma;

/** A Money price per million tokens: up to 7 integer digits and 0–8 decimals. */
const price = fc
  .tuple(fc.integer({ min: 0, max: 9_999_999 }), fc.integer({ min: 0, max: 99_999_999 }), fc.integer({ min: 0, max: 8 }))
  .map(([whole, fraction, decimals]) =>
    decimals === 0 ? String(whole) : `${whole}.${String(fraction).padStart(8, "0").slice(0, decimals)}`,
  );
/** Token counts: small ones (where rounding to 8 decimals bites) as often as large ones. */
const tokens = fc.oneof(fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 0, max: 1_000_000_000 }));

describe("the charge statement's cost is usageCost", () => {
  // Two API calls per run: generous time, so a busy machine slows it down without failing it.
  it("property: recordUsage charges exactly usageCost(input, output, the model's prices)", { timeout: 300_000 }, async () => {
    const org = await usageOrganization(server);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(price, price, tokens, tokens, async (inputPrice, outputPrice, inputTokens, outputTokens) => {
        const modelKey = `m-${run++}`;
        await org.model(modelKey, { input: inputPrice, output: outputPrice });
        const { recordUsage } = await org.service.execute(RecordUsageDocument, {
          input: { memberId: org.memberId, modelKey, inputTokens, outputTokens, idempotencyKey: key() },
        });
        const expected = usageCost(inputTokens, outputTokens, { inputPricePerMillion: inputPrice, outputPricePerMillion: outputPrice });
        expect(recordUsage.tokens).toBe(inputTokens + outputTokens);
        // Money is exact: compare as decimals (the API drops trailing zeros), in full.
        expect(new Decimal(recordUsage.cost).toFixed(), `${inputTokens} in at ${inputPrice}, ${outputTokens} out at ${outputPrice}`).toBe(
          expected.toFixed(),
        );
      }),
      {
        numRuns: 30,
        examples: [
          ["0.005", "0", 1, 0], // half a hundred-millionth: rounds up
          ["0.004", "0", 1, 0], // rounds down
          ["0.15", "0.60", 1_234, 567],
          ["9999999.99999999", "9999999.99999999", 1_000_000_000, 1_000_000_000],
        ],
      },
    );
  });
});

describe("the SQL cycle start is cycleAt's", () => {
  /** The SQL expression's answer for each (instant, anchor day), as UTC text to the millisecond. */
  async function sqlCycleStarts(cases: { at: Date; anchorDay: number }[]): Promise<string[]> {
    const rows = await prisma.$queryRawUnsafe<{ start: string }[]>(
      `SELECT to_char(${cycleStartOf("c.at", "c.anchor_day")}, 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS start
         FROM unnest($1::timestamp[], $2::int[]) WITH ORDINALITY AS c(at, anchor_day, n)
        ORDER BY c.n`,
      cases.map((item) => item.at.toISOString().slice(0, 23)),
      cases.map((item) => item.anchorDay),
    );
    return rows.map((row) => row.start);
  }

  const tsCycleStart = (item: { at: Date; anchorDay: number }) => cycleAt(item.anchorDay, item.at).start.toISOString().slice(0, 23);
  // Every day a month can have: whatever range of anchor days the rule allows, the SQL must agree on it.
  const ANCHOR_DAYS = Array.from({ length: 31 }, (_, index) => index + 1);

  it("agrees at the first and the last millisecond of every day of 2023–2028 (leap years included), for every anchor day", async () => {
    const cases: { at: Date; anchorDay: number }[] = [];
    for (let day = Date.UTC(2023, 0, 1); day < Date.UTC(2029, 0, 1); day += 86_400_000) {
      for (const anchorDay of ANCHOR_DAYS) {
        cases.push({ at: new Date(day), anchorDay }, { at: new Date(day + 86_399_999), anchorDay });
      }
    }
    const sql = await sqlCycleStarts(cases);
    const disagreements = cases.filter((item, index) => sql[index] !== tsCycleStart(item));
    expect(disagreements.slice(0, 5).map((item) => ({ ...item, sql: sql[cases.indexOf(item)], ts: tsCycleStart(item) }))).toEqual([]);
    expect(cases.length).toBeGreaterThan(100_000);
  });

  it("property: agrees at any instant between 1970 and 2200", async () => {
    const instant = fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }).map((ms) => new Date(ms));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: instant, anchorDay: fc.constantFrom(...ANCHOR_DAYS) }), { minLength: 1, maxLength: 200 }),
        async (cases) => {
          expect(await sqlCycleStarts(cases)).toEqual(cases.map(tsCycleStart));
        },
      ),
      { numRuns: 50 },
    );
  });
});
