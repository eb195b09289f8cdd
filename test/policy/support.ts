// Helpers for the policy tests: an organisation with members and a model, usage, balances and the conservation law.
import { expect } from "vitest";
import {
  ActivatePresetDocument,
  AllocationStatusDocument,
  type AllocationStatusFieldsFragment,
  type BalanceFieldsFragment,
  DistributionPolicyDocument,
  type DistributionPolicyFieldsFragment,
  type DistributionPolicyInput,
  MemberBalancesDocument,
  type PresetName,
  RecordUsageDocument,
  RemoveOverrideDocument,
  UpdateDistributionPolicyDocument,
  UpsertModelDocument,
} from "../../src/client/generated/graphql.ts";
import type { Api } from "../support/client.ts";
import { type Seed, seedOrganization, unique } from "../support/factories.ts";
import type { TestServer } from "../support/server.ts";

export type Kind = "INFERENCE" | "TRAINING";

export interface PolicyOrg extends Seed {
  memberIds: string[];
  modelKey: string;
  /** Tokens bought so far, per kind (the conservation law's left side). */
  bought: Record<Kind, number>;
  buy(tokens: number, kind?: Kind): Promise<void>;
  use(memberId: string, tokens: number, kind?: Kind): Promise<BalanceShape>;
  balance(memberId: string, kind?: Kind): Promise<BalanceShape>;
  status(kind?: Kind): Promise<StatusShape>;
  /** Asserts purchased = unallocated + allocated + consumed in closed periods, for both kinds, and returns the statuses. */
  conserved(): Promise<Record<Kind, StatusShape>>;
  policy(input: DistributionPolicyInput): Promise<DistributionPolicyFieldsFragment>;
  preset(preset: PresetName): Promise<void>;
}

export type BalanceShape = BalanceFieldsFragment;
export type StatusShape = AllocationStatusFieldsFragment;

/**
 * An organisation with `members` members (besides its admin) and one model. With `preset`, that preset is
 * active before members are added, so they start at its floors (bought first when `fund` is given).
 */
export async function policyOrg(
  server: TestServer,
  options: { members?: number; fund?: number; preset?: PresetName; cycleAnchorDay?: number; planBudget?: string } = {},
): Promise<PolicyOrg> {
  const seed = await seedOrganization(server, {
    // The policy tests' cycles start on the 1st unless a test says otherwise (the server's default is the creation day).
    cycleAnchorDay: options.cycleAnchorDay ?? 1,
    ...(options.planBudget ? { planBudget: options.planBudget } : {}),
  });
  const bought: Record<Kind, number> = { INFERENCE: 0, TRAINING: 0 };
  const modelKey = unique("model");
  await seed.admin.execute(UpsertModelDocument, {
    input: { key: modelKey, inputPricePerMillion: "1.00", outputPricePerMillion: "2.00" },
  });
  const org: PolicyOrg = {
    ...seed,
    memberIds: [],
    modelKey,
    bought,
    async buy(tokens, kind = "INFERENCE") {
      bought[kind] += await seed.purchase(tokens, kind);
    },
    async use(memberId, tokens, kind = "INFERENCE") {
      const { recordUsage } = await seed.admin.execute(RecordUsageDocument, {
        input: { memberId, modelKey, kind, inputTokens: tokens, outputTokens: 0, idempotencyKey: unique("use") },
      });
      return recordUsage.balance;
    },
    async balance(memberId, kind = "INFERENCE") {
      const field = kind === "INFERENCE" ? "inference" : "training";
      const { member } = await seed.admin.execute(MemberBalancesDocument, { memberId });
      return member![field];
    },
    async status(kind = "INFERENCE") {
      const { organization } = await seed.admin.execute(AllocationStatusDocument, { kind });
      return organization.allocationStatus;
    },
    async conserved() {
      const result = {} as Record<Kind, StatusShape>;
      for (const kind of ["INFERENCE", "TRAINING"] as const) {
        const status = await org.status(kind);
        expect(status.unallocated).toBeGreaterThanOrEqual(0);
        expect({ kind, purchasedAllTime: status.purchasedAllTime }).toEqual({ kind, purchasedAllTime: bought[kind] });
        expect({ kind, law: status.unallocated + status.allocated + status.consumedInClosedPeriods }).toEqual({ kind, law: bought[kind] });
        result[kind] = status;
      }
      return result;
    },
    async policy(input) {
      const { updateDistributionPolicy } = await seed.admin.execute(UpdateDistributionPolicyDocument, { policy: input });
      return updateDistributionPolicy;
    },
    async preset(preset) {
      await seed.admin.execute(ActivatePresetDocument, { preset });
    },
  };
  if (options.preset) await org.preset(options.preset);
  if (options.fund) {
    await org.buy(options.fund, "INFERENCE");
    await org.buy(options.fund, "TRAINING");
  }
  if (options.members) org.memberIds = await seed.addMembers(Array.from({ length: options.members }, () => ({})));
  return org;
}

export async function currentPolicy(admin: Api): Promise<DistributionPolicyFieldsFragment> {
  const { organization } = await admin.execute(DistributionPolicyDocument);
  return organization.distributionPolicy;
}

/**
 * Waits until a fresh balance subscription delivers events: pokes the member (removeOverride re-announces its
 * balance without moving tokens) until one arrives, so a change made next cannot precede the subscription.
 */
export async function balanceSubscriptionLive(
  org: Seed,
  memberId: string,
  subscription: { next(predicate?: (event: any) => boolean, timeoutMs?: number): Promise<unknown> },
): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    await org.admin.execute(RemoveOverrideDocument, { memberId });
    try {
      await subscription.next(() => true, 300);
      return;
    } catch {
      // not live yet
    }
  }
  throw new Error("The balance subscription never delivered an event.");
}
