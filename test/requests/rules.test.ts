// Pure rules of token requests: validation, the rolling-hour rate limit, auto-approval, and the approval plan.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { remaining } from "../../src/members/rules.ts";
import { ageSeconds, autoApproves, pendingKey, planApprovals, rateLimit, validateAmount, validateText } from "../../src/requests/rules.ts";

describe("validateAmount", () => {
  it("accepts positive whole numbers and refuses the rest naming the field", () => {
    expect(validateAmount(1)).toBe(1n);
    expect(validateAmount(Number.MAX_SAFE_INTEGER)).toBe(BigInt(Number.MAX_SAFE_INTEGER));
    for (const bad of [0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => validateAmount(bad)).toThrow(
        expect.objectContaining({ extensions: expect.objectContaining({ code: "BAD_USER_INPUT", field: "amount" }) }),
      );
    }
  });
});

describe("validateText", () => {
  it("trims, turns blank into null and refuses text over the limit", () => {
    expect(validateText("  need more  ", "reason", 10)).toBe("need more");
    expect(validateText("   ", "reason", 10)).toBeNull();
    expect(validateText(null, "reason", 10)).toBeNull();
    expect(validateText("x".repeat(10), "reason", 10)).toHaveLength(10);
    expect(() => validateText("x".repeat(11), "reason", 10)).toThrow(
      expect.objectContaining({ extensions: expect.objectContaining({ field: "reason" }) }),
    );
  });
});

describe("pendingKey and remaining", () => {
  it("keys one pending request per member and kind; remaining never goes below zero", () => {
    expect(pendingKey("m", "INFERENCE")).not.toBe(pendingKey("m", "TRAINING"));
    expect(remaining(10n, 3n)).toBe(7n);
    expect(remaining(3n, 10n)).toBe(0n);
  });
});

describe("rateLimit", () => {
  const now = new Date("2026-01-01T12:00:00Z");
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);

  it("allows up to the limit in a rolling hour and says when the next one fits", () => {
    expect(rateLimit([ago(10), ago(20)], now, 3)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(rateLimit([ago(10), ago(20), ago(600)], now, 3)).toEqual({ allowed: false, retryAfterSeconds: 3000 });
    // requests older than an hour do not count
    expect(rateLimit([ago(10), ago(20), ago(3600)], now, 3).allowed).toBe(true);
  });

  it("property: refused exactly when the window is full; retrying after the wait is allowed", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 7200 }), { maxLength: 30 }), fc.integer({ min: 1, max: 10 }), (ages, perHour) => {
        const recent = ages.map(ago);
        const decision = rateLimit(recent, now, perHour);
        const inWindow = ages.filter((age) => age < 3600).length;
        expect(decision.allowed).toBe(inWindow < perHour);
        if (!decision.allowed) {
          expect(decision.retryAfterSeconds).toBeGreaterThan(0);
          expect(decision.retryAfterSeconds).toBeLessThanOrEqual(3600);
          const later = new Date(now.getTime() + decision.retryAfterSeconds * 1000);
          expect(rateLimit(recent, later, perHour).allowed).toBe(true);
          if (decision.retryAfterSeconds > 1) {
            const earlier = new Date(now.getTime() + (decision.retryAfterSeconds - 1) * 1000);
            expect(rateLimit(recent, earlier, perHour).allowed).toBe(false);
          }
        }
      }),
    );
  });
});

describe("autoApproves", () => {
  it("approves small requests only while the pool keeps its reserve, never when off", () => {
    const settings = { maxAmount: 1000n, poolReserve: 5000n };
    expect(autoApproves(1000n, 6000n, settings)).toBe(true);
    expect(autoApproves(1001n, 100_000n, settings)).toBe(false);
    expect(autoApproves(1000n, 5999n, settings)).toBe(false);
    expect(autoApproves(1n, 1_000_000n, { maxAmount: null, poolReserve: 0n })).toBe(false);
  });
});

describe("planApprovals", () => {
  it("takes oldest first while the pool lasts and skips what does not fit", () => {
    const plan = planApprovals(
      [
        { id: "a", amount: 50n },
        { id: "b", amount: 80n },
        { id: "c", amount: 30n },
        { id: "d", amount: 30n },
      ],
      100n,
    );
    expect(plan).toEqual({ approved: ["a", "c"], insufficient: ["b", "d"], taken: 80n });
  });

  it("property: partitions the requests in order, never exceeds the pool, and every skipped one did not fit at its turn", () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 1n, max: 1000n }), { maxLength: 40 }),
        fc.bigInt({ min: 0n, max: 10_000n }),
        (amounts, pool) => {
          const requests = amounts.map((amount, index) => ({ id: `r${index}`, amount }));
          const plan = planApprovals(requests, pool);
          expect([...plan.approved, ...plan.insufficient].sort()).toEqual(requests.map((r) => r.id).sort());
          const approved = new Set(plan.approved);
          expect(plan.taken).toBe(requests.filter((r) => approved.has(r.id)).reduce((sum, r) => sum + r.amount, 0n));
          expect(plan.taken).toBeLessThanOrEqual(pool);
          let left = pool;
          for (const request of requests) {
            if (approved.has(request.id)) left -= request.amount;
            else expect(request.amount).toBeGreaterThan(left);
          }
          // order is kept within each list
          const position = new Map(requests.map((r, i) => [r.id, i]));
          for (const list of [plan.approved, plan.insufficient]) {
            expect(list.map((id) => position.get(id)!)).toEqual([...list.map((id) => position.get(id)!)].sort((a, b) => a - b));
          }
        },
      ),
    );
  });
});

describe("ageSeconds", () => {
  it("counts whole seconds since the request, never negative", () => {
    const at = new Date("2026-01-01T00:00:00Z");
    expect(ageSeconds(at, new Date("2026-01-01T00:01:30.900Z"))).toBe(90);
    expect(ageSeconds(at, new Date("2025-12-31T23:59:00Z"))).toBe(0);
  });
});
