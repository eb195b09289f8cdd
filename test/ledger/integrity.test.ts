// Model-based property test of the ledger: random purchases, additions and allocations through the API, checking after
// every step that the API agrees with a simple model, that tokens are conserved, and that the balance and pool rows
// equal what the immutable ledger entries add up to.

import { decodeGlobalID } from "@pothos/plugin-relay";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AddMembersDocument,
  AllocateTokensDocument,
  AllocationStatusDocument,
  MembersDocument,
  SetAllocationDocument,
} from "../../src/client/generated/graphql.ts";
import { type Seed, seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();
const prisma = server.app.runtime.prisma;

type Kind = "INFERENCE" | "TRAINING";
const KINDS: Kind[] = ["INFERENCE", "TRAINING"];
const FLOOR = 500_000; // STANDARD preset

type Command =
  | { op: "purchase"; kind: Kind; tokens: number }
  | { op: "addMembers"; count: number }
  | { op: "setAllocation"; member: number; inference: number | null; training: number | null }
  | { op: "allocate"; members: number[]; kind: Kind; amount: number };

const kind = fc.constantFrom<Kind>("INFERENCE", "TRAINING");
const limit = fc.option(fc.integer({ min: 0, max: 3_000_000 }), { nil: null });
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant("purchase" as const), kind, tokens: fc.integer({ min: 200_000, max: 4_000_000 }) }),
  fc.record({ op: fc.constant("addMembers" as const), count: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant("setAllocation" as const), member: fc.nat(20), inference: limit, training: limit }),
  fc.record({
    op: fc.constant("allocate" as const),
    members: fc.array(fc.nat(20), { minLength: 1, maxLength: 4 }),
    kind,
    amount: fc.integer({ min: 0, max: 1_500_000 }),
  }),
);

interface Model {
  pool: Record<Kind, number>;
  purchased: Record<Kind, number>;
  /** member id -> limits */
  limits: Map<string, Record<Kind, number>>;
  order: string[];
}

/** Runs one command against the API and the model; both must agree on success or the refusal code. */
async function step(seed: Seed, model: Model, cmd: Command): Promise<"done" | "refused" | "skipped"> {
  const pick = (index: number) => model.order[index % model.order.length]!;
  if (cmd.op === "purchase") {
    // (nobody is below its floor here, so the purchase tops no one up and the pool grows by all of it)
    model.purchased[cmd.kind] += await seed.purchase(cmd.tokens, cmd.kind);
    model.pool[cmd.kind] += cmd.tokens;
    return "done";
  }
  if (cmd.op === "addMembers") {
    const fits = KINDS.every((k) => model.pool[k] >= FLOOR * cmd.count);
    const members = Array.from({ length: cmd.count }, () => ({}));
    if (!fits) {
      const error = await seed.admin.errorOf(AddMembersDocument, {
        members: members.map((_, i) => ({ email: `m${model.order.length + i}-${Date.now()}@example.com` })),
      });
      expect(error.extensions?.code).toBe("INSUFFICIENT_POOL");
      return "refused";
    }
    const ids = await seed.addMembers(members);
    for (const id of ids) {
      model.limits.set(id, { INFERENCE: FLOOR, TRAINING: FLOOR });
      model.order.push(id);
    }
    for (const k of KINDS) model.pool[k] -= FLOOR * cmd.count;
    return "done";
  }
  if (model.order.length === 0) return "skipped";
  if (cmd.op === "setAllocation") {
    const memberId = pick(cmd.member);
    const current = model.limits.get(memberId)!;
    const targets: Partial<Record<Kind, number>> = {};
    if (cmd.inference !== null) targets.INFERENCE = cmd.inference;
    if (cmd.training !== null) targets.TRAINING = cmd.training;
    // kinds in order: the first refusal (below the floor, then a short pool) decides
    let refusal: string | null = null;
    for (const k of KINDS) {
      if (refusal || targets[k] === undefined) continue;
      if (targets[k]! < FLOOR) refusal = "BAD_USER_INPUT";
      else if (model.pool[k] < targets[k]! - current[k]) refusal = "INSUFFICIENT_POOL";
    }
    const result = await seed.admin.request(SetAllocationDocument, {
      input: { memberId, inference: cmd.inference, training: cmd.training },
    });
    if (refusal) {
      expect(result.errors?.[0]?.extensions?.code).toBe(refusal);
      return "refused";
    }
    expect(result.errors).toBeUndefined();
    for (const k of KINDS) {
      if (targets[k] === undefined) continue;
      model.pool[k] -= targets[k]! - current[k];
      current[k] = targets[k]!;
    }
    const { inference, training } = result.data!.setAllocation;
    expect({ inference: { limit: inference.limit }, training: { limit: training.limit } }).toEqual({
      inference: { limit: current.INFERENCE },
      training: { limit: current.TRAINING },
    });
    return "done";
  }
  const memberIds = [...new Set(cmd.members.map(pick))];
  const fits = model.pool[cmd.kind] >= cmd.amount * memberIds.length;
  const result = await seed.admin.request(AllocateTokensDocument, {
    input: { memberIds: cmd.members.map(pick), kind: cmd.kind, amount: cmd.amount },
  });
  if (!fits) {
    expect(result.errors?.[0]?.extensions?.code).toBe("INSUFFICIENT_POOL");
    return "refused";
  }
  expect(result.errors).toBeUndefined();
  for (const id of memberIds) model.limits.get(id)![cmd.kind] += cmd.amount;
  model.pool[cmd.kind] -= cmd.amount * memberIds.length;
  return "done";
}

async function check(seed: Seed, model: Model): Promise<void> {
  // what the API says
  for (const k of KINDS) {
    const { organization } = await seed.admin.execute(AllocationStatusDocument, { kind: k });
    const {
      purchased,
      allocated: allocatedNow,
      used,
      unallocated,
      purchasedAllTime,
      consumedInClosedPeriods,
    } = organization.allocationStatus;
    const status = { purchased, allocated: allocatedNow, used, unallocated, purchasedAllTime, consumedInClosedPeriods };
    const allocated = [...model.limits.values()].reduce((sum, limits) => sum + limits[k], 0);
    expect(status).toEqual({
      purchased: model.pool[k] + allocated,
      allocated,
      used: 0,
      unallocated: model.pool[k],
      purchasedAllTime: model.purchased[k],
      consumedInClosedPeriods: 0,
    });
    // conservation: all ever bought = pool + allocations + consumed in closed periods
    expect(status.purchasedAllTime).toBe(status.unallocated + status.allocated + status.consumedInClosedPeriods);
  }
  const { organization } = await seed.admin.execute(MembersDocument, { first: 100 });
  for (const { node } of organization.members.edges) {
    const expected = model.limits.get(node.id) ?? { INFERENCE: 0, TRAINING: 0 };
    expect({ id: node.id, INFERENCE: node.inference.limit, TRAINING: node.training.limit }).toEqual({ id: node.id, ...expected });
  }

  // rebuilt from the ledger (direct database reads, for this check only)
  const organizationId = decodeGlobalID(seed.organizationId).id;
  const [entries, balances, pools, purchases] = await Promise.all([
    prisma.ledgerEntry.groupBy({
      by: ["memberId", "kind"],
      where: { organizationId },
      _sum: { limitDelta: true, poolDelta: true, usedDelta: true },
    }),
    prisma.balance.findMany({ where: { organizationId } }),
    prisma.pool.findMany({ where: { organizationId } }),
    prisma.purchase.groupBy({ by: ["kind"], where: { organizationId }, _sum: { tokens: true } }),
  ]);
  expect(balances).toHaveLength(model.order.length * 2);
  const modelLimits = new Map([...model.limits].map(([id, limits]) => [decodeGlobalID(id).id, limits]));
  for (const balance of balances) {
    expect(balance.limit).toBe(BigInt(modelLimits.get(balance.memberId)![balance.kind]));
    const sums = entries.find((e) => e.memberId === balance.memberId && e.kind === balance.kind)?._sum;
    expect({ member: balance.memberId, kind: balance.kind, limit: balance.limit }).toEqual({
      member: balance.memberId,
      kind: balance.kind,
      limit: sums?.limitDelta ?? 0n,
    });
    expect(balance.used).toBe(sums?.usedDelta ?? 0n);
  }
  for (const pool of pools) {
    const poolDelta = entries.filter((e) => e.kind === pool.kind).reduce((sum, e) => sum + (e._sum.poolDelta ?? 0n), 0n);
    const bought = purchases.find((p) => p.kind === pool.kind)?._sum.tokens ?? 0n;
    expect({ kind: pool.kind, tokens: pool.tokens, purchasedTotal: pool.purchasedTotal }).toEqual({
      kind: pool.kind,
      tokens: poolDelta,
      purchasedTotal: bought,
    });
  }
}

describe("ledger integrity", () => {
  it("property: the API, a model of it and the rebuilt ledger always agree, and tokens are conserved", async () => {
    const outcomes = { done: 0, refused: 0, skipped: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 10 }), async (commands) => {
        const seed = await seedOrganization(server);
        // start funded, so most sequences add members and move tokens rather than only meeting an empty pool
        // (the first purchase brings the admin up to its floor; the factory buys that on top)
        await seed.fund(3_000_000);
        const model: Model = {
          pool: { INFERENCE: 3_000_000, TRAINING: 3_000_000 },
          purchased: { INFERENCE: 3_000_000 + FLOOR, TRAINING: 3_000_000 + FLOOR },
          limits: new Map([[seed.adminId, { INFERENCE: FLOOR, TRAINING: FLOOR }]]),
          order: [seed.adminId],
        };
        for (const cmd of commands) {
          outcomes[await step(seed, model, cmd)]++;
          await check(seed, model);
        }
      }),
      { numRuns: 15, endOnFailure: true },
    );
    // the runs exercised both paths: operations that went through and refusals that changed nothing
    expect(outcomes.done).toBeGreaterThan(20);
    expect(outcomes.refused).toBeGreaterThan(0);
  });
});
