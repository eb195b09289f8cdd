// Builds what a test needs through the public API, each test its own organisation (tests run concurrently).
import { randomBytes } from "node:crypto";
import {
  AddMembersDocument,
  CreateApiKeyDocument,
  CreateOrganizationDocument,
  IssueAccessTokenDocument,
  MembersDocument,
  PurchaseTokensDocument,
} from "../../src/client/generated/graphql.ts";
import { Api } from "./client.ts";
import { OPERATOR_KEY, type TestServer } from "./server.ts";

export const unique = (prefix = "t") => `${prefix}-${randomBytes(5).toString("hex")}`;

export interface Seed {
  operator: Api;
  admin: Api;
  adminId: string;
  organizationId: string;
  /** An Api acting as the given member (token issued by the operator). */
  as(memberId: string): Promise<Api>;
  addMembers(members: { email?: string; name?: string; role?: "ADMIN" | "MEMBER"; teamName?: string }[]): Promise<string[]>;
  /**
   * Buys `tokens` for the pool, plus what the purchase itself gives members below their floor (the admin starts at 0),
   * so the pool ends `tokens` larger as before purchases filled floors. Returns the tokens bought.
   */
  purchase(tokens: number, kind?: "INFERENCE" | "TRAINING"): Promise<number>;
  /** Buys `tokens` of each kind (new members take a floor of both from the pools). */
  fund(tokens: number): Promise<void>;
  serviceKey(): Promise<Api>;
}

export async function seedOrganization(
  server: TestServer,
  input: { planBudget?: string; overageLimit?: string; cycleAnchorDay?: number } = {},
): Promise<Seed> {
  const operator = new Api(server.url, OPERATOR_KEY);
  const { createOrganization } = await operator.execute(CreateOrganizationDocument, {
    input: { name: unique("org"), adminEmail: `${unique("admin")}@example.com`, ...input },
  });
  const organizationId = createOrganization.id;
  const adminId = createOrganization.members.edges[0]!.node.id;

  const tokenFor = async (memberId: string) => {
    const { issueAccessToken } = await operator.execute(IssueAccessTokenDocument, { memberId, ttlSeconds: 86400 });
    return new Api(server.url, issueAccessToken);
  };
  const admin = await tokenFor(adminId);

  const seed: Seed = {
    operator,
    admin,
    adminId,
    organizationId,
    as: tokenFor,
    async addMembers(members) {
      const { addMembers } = await admin.execute(AddMembersDocument, {
        members: members.map((member) => ({ email: `${unique("member")}@example.com`, ...member })),
      });
      return addMembers.map((member) => member.id);
    },
    async purchase(tokens, kind = "INFERENCE") {
      const { organization } = await admin.execute(MembersDocument, { first: 100 });
      const field = kind === "INFERENCE" ? "inference" : "training";
      const belowFloors = organization.members.edges
        .filter(({ node }) => !node.suspended)
        .reduce((sum, { node }) => sum + Math.max(0, node[field].floor - node[field].limit), 0);
      await admin.execute(PurchaseTokensDocument, { tokens: tokens + belowFloors, kind });
      return tokens + belowFloors;
    },
    async fund(tokens) {
      await seed.purchase(tokens, "INFERENCE");
      await seed.purchase(tokens, "TRAINING");
    },
    async serviceKey() {
      const { createApiKey } = await admin.execute(CreateApiKeyDocument, { name: unique("key") });
      return new Api(server.url, createApiKey.secret);
    },
  };
  return seed;
}
