// API keys for services (gateways, chat apps): created and revoked by admins.

import { encodeGlobalID } from "@pothos/plugin-relay";
import { decodeId, requireAdmin } from "../auth/access.ts";
import { staffOnly } from "../auth/read-rules.ts";
import { builder } from "../builder.ts";
import { OrganizationRef } from "../organizations/schema.ts";
import { createApiKey, revokeApiKey } from "./service.ts";

builder.prismaNode("ApiKey", {
  id: { field: "id" },
  // organisation finances and credentials: admins (and the operator) only, also through node(id:)
  authScopes: staffOnly,
  fields: (t) => ({
    name: t.exposeString("name"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true }),
  }),
});

const ApiKeyCreatedRef = builder.objectRef<{ id: string; name: string; secret: string }>("ApiKeyCreated");
builder.objectType(ApiKeyCreatedRef, {
  authScopes: staffOnly,
  fields: (t) => ({
    id: t.id({ resolve: (key) => encodeGlobalID("ApiKey", key.id) }),
    name: t.exposeString("name"),
    secret: t.exposeString("secret", { description: "Shown once; only a hash is stored." }),
  }),
});

builder.prismaObjectFields(OrganizationRef, (t) => ({
  apiKeys: t.relation("apiKeys", {
    description: "The organisation's API keys, newest first, revoked ones included (admins; secrets are never shown again).",
    authScopes: { admin: true },
    query: { orderBy: [{ createdAt: "desc" }, { id: "desc" }] },
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: ApiKeyCreatedRef,
    args: { name: t.arg.string({ required: true }) },
    authScopes: { admin: true },
    resolve: (_root, args, context) => createApiKey(context.runtime, requireAdmin(context).organizationId, args.name),
  }),
  revokeApiKey: t.boolean({
    args: { id: t.arg.id({ required: true }) },
    authScopes: { admin: true },
    resolve: async (_root, args, context) => {
      const admin = requireAdmin(context);
      await revokeApiKey(context.runtime, admin.organizationId, decodeId(String(args.id), "ApiKey", "id"));
      return true;
    },
  }),
}));
