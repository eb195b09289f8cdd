// What the usage tests share: an organisation with tokens, a member with a 500K allocation, models and a service key.
import type { Api } from "../support/client.ts";
import { type Seed, seedOrganization, unique } from "../support/factories.ts";
import type { TestServer } from "../support/server.ts";

export const UPSERT_MODEL = `mutation($input: ModelInput!) {
  upsertModel(input: $input) { id key displayName inputPricePerMillion outputPricePerMillion enabled cap cycleSpend }
}`;

export const AUTHORIZE = `mutation($input: AuthorizeUsageInput!) {
  authorizeUsage(input: $input) {
    allowed denialReason fellBack
    routedModel { id key }
    reservation { id kind tokens expiresAt status estimatedCost member { id } model { key } }
  }
}`;

const RECEIPT = `id tokens cost member { id } model { key } balance { kind limit used remaining reserved }`;
export const COMMIT = `mutation($input: CommitUsageInput!) { commitUsage(input: $input) { ${RECEIPT} } }`;
export const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { ${RECEIPT} } }`;
export const RELEASE = `mutation($id: ID!) { releaseReservation(id: $id) }`;
export const BALANCE = `query($id: ID!) { member(id: $id) { inference { limit used remaining reserved } training { limit used reserved } } }`;

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
      const { member: found } = await seed.admin.execute(BALANCE, { id });
      return found.inference;
    },
    async model(key, prices) {
      const { upsertModel } = await seed.admin.execute(UPSERT_MODEL, {
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
