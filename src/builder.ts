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
  AuthScopes: {
    /** Any authenticated caller. */
    authenticated: boolean;
    operator: boolean;
    /** An ADMIN member. */
    admin: boolean;
    /** Any member (ADMIN or MEMBER). */
    member: boolean;
    /** A service API key. */
    service: boolean;
  };
}>({
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (context) => ({
      authenticated: context.principal.kind !== "ANONYMOUS",
      operator: context.principal.kind === "OPERATOR",
      admin: isAdmin(context.principal),
      member: context.principal.kind === "MEMBER",
      service: context.principal.kind === "SERVICE",
    }),
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
      authScopes: { authenticated: true },
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

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
