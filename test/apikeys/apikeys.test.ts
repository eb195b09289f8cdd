import { describe, expect, it } from "vitest";
import { ApiKeysDocument, CreateApiKeyDocument, RevokeApiKeyDocument, ViewerDocument } from "../../src/client/generated/graphql.ts";
import { Api, pick } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

describe("API keys", () => {
  it("shows the secret once; the key then authenticates as a service of the organisation", async () => {
    const seed = await seedOrganization(server);
    const { createApiKey } = await seed.admin.execute(CreateApiKeyDocument, { name: "  Chat gateway " });
    expect(createApiKey.name).toBe("Chat gateway");
    expect(createApiKey.secret).toMatch(/^twk_[A-Za-z0-9_-]{40,}$/);
    const service = new Api(server.url, createApiKey.secret);
    const { viewer } = await service.execute(ViewerDocument);
    expect({ principal: viewer.principal, organization: pick(viewer.organization!, "id") }).toEqual({
      principal: "SERVICE",
      organization: { id: seed.organizationId },
    });

    const { organization } = await seed.admin.execute(ApiKeysDocument);
    expect(organization.apiKeys).toEqual([{ id: createApiKey.id, name: "Chat gateway", createdAt: expect.any(String), revokedAt: null }]);
    expect(JSON.stringify(organization)).not.toContain(createApiKey.secret);
  });

  it("revokes at once, twice is fine, and the key stops working", async () => {
    const seed = await seedOrganization(server);
    const { createApiKey } = await seed.admin.execute(CreateApiKeyDocument, { name: "gateway" });
    const { createApiKey: kept } = await seed.admin.execute(CreateApiKeyDocument, { name: "kept" });
    const service = new Api(server.url, createApiKey.secret);
    // warm the authenticator's cache first: revocation must evict it
    await service.execute(ViewerDocument);
    expect((await seed.admin.execute(RevokeApiKeyDocument, { id: createApiKey.id })).revokeApiKey).toBe(true);
    expect((await service.errorOf(ViewerDocument)).extensions?.code).toBe("UNAUTHENTICATED");
    expect((await seed.admin.execute(RevokeApiKeyDocument, { id: createApiKey.id })).revokeApiKey).toBe(true);
    const { viewer } = await new Api(server.url, kept.secret).execute(ViewerDocument);
    expect(viewer.principal).toBe("SERVICE");
    const { organization } = await seed.admin.execute(ApiKeysDocument);
    const revoked = organization.apiKeys.find((key) => key.id === createApiKey.id);
    expect(revoked!.revokedAt).not.toBeNull();
  });

  it("another organisation's key is NOT_FOUND and stays valid", async () => {
    const seed = await seedOrganization(server);
    const other = await seedOrganization(server);
    const { createApiKey: theirs } = await other.admin.execute(CreateApiKeyDocument, { name: "theirs" });
    expect((await seed.admin.errorOf(RevokeApiKeyDocument, { id: theirs.id })).extensions?.code).toBe("NOT_FOUND");
    expect((await new Api(server.url, theirs.secret).execute(ViewerDocument)).viewer.principal).toBe("SERVICE");
    expect((await seed.admin.errorOf(RevokeApiKeyDocument, { id: "not-an-id" })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "id",
    });
  });

  it("is for admins only, and refuses empty names", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    expect((await member.errorOf(CreateApiKeyDocument, { name: "mine" })).extensions?.code).toBe("FORBIDDEN");
    const service = await seed.serviceKey();
    expect((await service.errorOf(CreateApiKeyDocument, { name: "child" })).extensions?.code).toBe("FORBIDDEN");
    expect((await service.errorOf(ApiKeysDocument)).extensions?.code).toBe("FORBIDDEN");
    const { organization: listed } = await seed.admin.execute(ApiKeysDocument);
    // The key as a Node, read by each principal: an authorisation probe, not a client operation.
    const nodeQuery = `query($id: ID!) { node(id: $id) { ... on ApiKey { name } } }`;
    expect((await seed.admin.execute(nodeQuery, { id: listed.apiKeys[0]!.id })).node.name).toBeTruthy();
    expect((await service.errorOf(nodeQuery, { id: listed.apiKeys[0]!.id })).extensions?.code).toBe("FORBIDDEN");
    expect((await member.execute(nodeQuery, { id: listed.apiKeys[0]!.id })).node).toBeNull();
    expect((await new Api(server.url).errorOf(CreateApiKeyDocument, { name: "x" })).extensions?.code).toBe("UNAUTHENTICATED");
    expect((await seed.admin.errorOf(CreateApiKeyDocument, { name: "   " })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "name",
    });
    const { organization } = await seed.admin.execute(ApiKeysDocument);
    expect(organization.apiKeys).toHaveLength(1);
  });
});
