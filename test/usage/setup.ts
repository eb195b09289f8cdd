// What the usage tests share: an organisation with tokens, a member with a 500K allocation, models and a service key.
import { MemberBalancesDocument, UpsertModelDocument } from "../../src/client/generated/graphql.ts";
import type { Api } from "../support/client.ts";
import { type Seed, seedOrganization, unique } from "../support/factories.ts";
import type { TestServer } from "../support/server.ts";

export interface UsageOrg extends Seed {
  memberId: string;
  member: Api;
  service: Api;
  /** The member's inference balance as the admin sees it. */
  balance(memberId?: string): Promise<{ limit: number; used: number; remaining: number; reserved: number }>;
  model(
    key: string,
    input: { input: string; output: string; cap?: string | null; enabled?: boolean },
  ): Promise<{ id: string; key: string }>;
}

/** Each member gets the STANDARD floor (500K of each kind); the pool keeps 1M of each for the other tests' needs. */
export async function usageOrganization(
  server: TestServer,
  plan: { planBudget?: string; overageLimit?: string; cycleAnchorDay?: number } = {},
): Promise<UsageOrg> {
  const seed = await seedOrganization(server, plan);
  await seed.fund(1_500_000);
  const [memberId] = await seed.addMembers([{ name: "Ada" }]);
  const member = await seed.as(memberId!);
  const service = await seed.serviceKey();
  return {
    ...seed,
    memberId: memberId!,
    member,
    service,
    async balance(id = memberId!) {
      const { member: found } = await seed.admin.execute(MemberBalancesDocument, { memberId: id });
      return found!.inference;
    },
    async model(key, prices) {
      const { upsertModel } = await seed.admin.execute(UpsertModelDocument, {
        input: {
          key,
          inputPricePerMillion: prices.input,
          outputPricePerMillion: prices.output,
          cap: prices.cap ?? null,
          enabled: prices.enabled ?? true,
        },
      });
      return upsertModel;
    },
  };
}

export const key = () => unique("idem");
