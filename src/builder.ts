// The Pothos builder and its plugins; nothing else.
import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import type { Decimal } from "decimal.js";
import { isNodeVisible } from "./auth/access.ts";
import { isAdmin } from "./auth/principal.ts";
import type { Context } from "./context.ts";
import type { PrismaClient } from "./db/generated/client.ts";
import type PrismaTypes from "./db/generated/pothos-types.ts";
import { getDatamodel } from "./db/generated/pothos-types.ts";
import { forbidden, unauthenticated } from "./errors.ts";

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
  Scalars: {
    ID: { Input: string; Output: string | number };
    DateTime: { Input: Date; Output: Date | string };
    SafeInt: { Input: number; Output: number | bigint };
    Money: { Input: Decimal; Output: Decimal | { toString(): string } };
  };
  // A suspended member holds none of these scopes but `self`: it reads its own member and balances, nothing else.
  AuthScopes: {
    /** Any authenticated caller but a suspended member. */
    authenticated: boolean;
    /** Any authenticated caller, a suspended member included: only for the ways to its own member. */
    signedIn: boolean;
    operator: boolean;
    /** An ADMIN member. */
    admin: boolean;
    /** Any member (ADMIN or MEMBER). */
    member: boolean;
    /** A service API key. */
    service: boolean;
    /** The calling member itself (suspended or not) is the member with this id. */
    self: string;
    /** The calling member (not suspended) is the member with this id: what belongs to it (requests, usage). */
    owner: string;
    /** The calling member (not suspended) belongs to the organisation of this admin: its name is shown as a decider's. */
    adminOfOwnOrganization: { role: string; organizationId: string };
  };
}>({
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: ({ principal }) => {
      const suspended = principal.kind === "MEMBER" && principal.suspended;
      const activeMember = principal.kind === "MEMBER" && !suspended;
      return {
        authenticated: principal.kind !== "ANONYMOUS" && !suspended,
        signedIn: principal.kind !== "ANONYMOUS",
        operator: principal.kind === "OPERATOR",
        admin: isAdmin(principal) && !suspended,
        member: activeMember,
        service: principal.kind === "SERVICE",
        self: (memberId) => principal.kind === "MEMBER" && principal.memberId === memberId,
        owner: (memberId) => activeMember && principal.memberId === memberId,
        adminOfOwnOrganization: (member) => activeMember && member.role === "ADMIN" && member.organizationId === principal.organizationId,
      };
    },
    unauthorizedError: (_parent, context) => (context.principal.kind === "ANONYMOUS" ? unauthenticated() : forbidden()),
  },
  prisma: {
    client: (context) => context.runtime.prisma as PrismaClient,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
    nodesQueryOptions: false,
    nodeQueryOptions: {
      // A suspended member may still read its own member (the types' rules decide what else comes back).
      skipTypeScopes: true,
      authScopes: { signedIn: true },
      resolve: async (_root, { id }, context, _info, resolveNode) => {
        // A well-formed id of nothing answers as another organisation's does: null (no existence oracle).
        let node: Record<string, unknown> | null;
        try {
          node = (await resolveNode(id)) as Record<string, unknown> | null;
        } catch (error) {
          if ((error as { code?: unknown }).code !== "P2025") throw error;
          node = null;
        }
        return node && isNodeVisible(context, id.typename, node) ? node : null;
      },
    },
  },
});

// Every root field needs a credential not suspended, unless it says otherwise (skipTypeScopes).
builder.queryType({ authScopes: { authenticated: true } });
builder.mutationType({ authScopes: { authenticated: true } });
builder.subscriptionType({ authScopes: { authenticated: true } });
