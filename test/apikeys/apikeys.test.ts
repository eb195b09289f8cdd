import { describe, expect, it } from "vitest";
import { Api } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

const CREATE = `mutation($name: String!) { createApiKey(name: $name) { id name secret } }`;
const REVOKE = `mutation($id: ID!) { revokeApiKey(id: $id) }`;
const KEYS = `{ organization { apiKeys { id name createdAt revokedAt } } }`;

describe("API keys", () => {
  it("shows the secret once; the key then authenticates as a service of the organisation", async () => {
    const seed = await seedOrganization(server);
    const { createApiKey } = await seed.admin.execute(CREATE, { name: "  Chat gateway " });
    expect(createApiKey.name).toBe("Chat gateway");
    expect(createApiKey.secret).toMatch(/^twk_[A-Za-z0-9_-]{40,}$/);
    const service = new Api(server.url, createApiKey.secret);
    const { viewer } = await service.execute(`{ viewer { principal organization { id } } }`);
    expect(viewer).toEqual({ principal: "SERVICE", organization: { id: seed.organizationId } });

    const { organization } = await seed.admin.execute(KEYS);
    expect(organization.apiKeys).toEqual([{ id: createApiKey.id, name: "Chat gateway", createdAt: expect.any(String), revokedAt: null }]);
    expect(JSON.stringify(organization)).not.toContain(createApiKey.secret);
  });

  it("revokes at once, twice is fine, and the key stops working", async () => {
    const seed = await seedOrganization(server);
    const { createApiKey } = await seed.admin.execute(CREATE, { name: "gateway" });
    const { createApiKey: kept } = await seed.admin.execute(CREATE, { name: "kept" });
    const service = new Api(server.url, createApiKey.secret);
    // warm the authenticator's cache first: revocation must evict it
    await service.execute(`{ viewer { principal } }`);
    expect((await seed.admin.execute(REVOKE, { id: createApiKey.id })).revokeApiKey).toBe(true);
    expect((await service.errorOf(`{ viewer { principal } }`)).extensions?.code).toBe("UNAUTHENTICATED");
    expect((await seed.admin.execute(REVOKE, { id: createApiKey.id })).revokeApiKey).toBe(true);
    const { viewer } = await new Api(server.url, kept.secret).execute(`{ viewer { principal } }`);
    expect(viewer.principal).toBe("SERVICE");
    const { organization } = await seed.admin.execute(KEYS);
    const revoked = organization.apiKeys.find((key: { id: string }) => key.id === createApiKey.id);
    expect(revoked.revokedAt).not.toBeNull();
  });

  it("another organisation's key is NOT_FOUND and stays valid", async () => {
    const seed = await seedOrganization(server);
    const other = await seedOrganization(server);
    const { createApiKey: theirs } = await other.admin.execute(CREATE, { name: "theirs" });
    expect((await seed.admin.errorOf(REVOKE, { id: theirs.id })).extensions?.code).toBe("NOT_FOUND");
    expect((await new Api(server.url, theirs.secret).execute(`{ viewer { principal } }`)).viewer.principal).toBe("SERVICE");
    expect((await seed.admin.errorOf(REVOKE, { id: "not-an-id" })).extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "id" });
  });

  it("is for admins only, and refuses empty names", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    expect((await member.errorOf(CREATE, { name: "mine" })).extensions?.code).toBe("FORBIDDEN");
    const service = await seed.serviceKey();
    expect((await service.errorOf(CREATE, { name: "child" })).extensions?.code).toBe("FORBIDDEN");
    expect((await service.errorOf(KEYS)).extensions?.code).toBe("FORBIDDEN");
    const { organization: listed } = await seed.admin.execute(KEYS);
    const nodeQuery = `query($id: ID!) { node(id: $id) { ... on ApiKey { name } } }`;
    expect((await seed.admin.execute(nodeQuery, { id: listed.apiKeys[0].id })).node.name).toBeTruthy();
    expect((await service.errorOf(nodeQuery, { id: listed.apiKeys[0].id })).extensions?.code).toBe("FORBIDDEN");
    expect((await member.execute(nodeQuery, { id: listed.apiKeys[0].id })).node).toBeNull();
    expect((await new Api(server.url).errorOf(CREATE, { name: "x" })).extensions?.code).toBe("UNAUTHENTICATED");
    expect((await seed.admin.errorOf(CREATE, { name: "   " })).extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "name" });
    const { organization } = await seed.admin.execute(KEYS);
    expect(organization.apiKeys).toHaveLength(1);
  });
});
