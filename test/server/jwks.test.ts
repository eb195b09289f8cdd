// Access tokens from an identity provider: verified against its JWKS; the role still comes from our database.
// Operations are written out on purpose: authentication probes with tokens from an identity provider.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { Api } from "../support/client.ts";
import { OPERATOR_KEY, startServer } from "../support/server.ts";

const { publicKey, privateKey } = await generateKeyPair("RS256");
const jwk = { ...(await exportJWK(publicKey)), kid: "idp-key-1", alg: "RS256", use: "sig" };
const idp = createServer((_request, response) => {
  response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
});
await new Promise<void>((resolve) => idp.listen(0, "127.0.0.1", resolve));
afterAll(() => new Promise<void>((resolve) => idp.close(() => resolve())));
const jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/.well-known/jwks.json`;

const server = await startServer({ env: { AUTH_JWKS_URL: jwksUrl, AUTH_JWT_ISSUER: "https://idp.example.com" } });

const idpToken = (sub: string, issuer = "https://idp.example.com") =>
  new SignJWT({})
    .setProtectedHeader({ alg: "RS256", kid: "idp-key-1" })
    .setSubject(sub)
    .setIssuer(issuer)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(privateKey);

describe("identity provider tokens (JWKS)", () => {
  it("accepts a token signed by the provider for a known member", async () => {
    const operator = new Api(server.url, OPERATOR_KEY);
    const { createOrganization } = await operator.execute(
      `mutation { createOrganization(input: { name: "IdP org", adminEmail: "idp@example.com" }) { id } }`,
    );
    const { organization } = await operator.execute(
      `query($id: ID!) { organization(id: $id) { members(first: 1) { edges { node { id } } } } }`,
      { id: createOrganization.id },
    );
    const adminId: string = organization.members.edges[0].node.id;
    // The provider's `sub` is our member id (the raw id inside the global id).
    const rawId = Buffer.from(adminId, "base64").toString().split(":")[1]!;
    const admin = new Api(server.url, await idpToken(rawId));
    const { viewer } = await admin.execute(`{ viewer { principal } }`);
    expect(viewer.principal).toBe("ADMIN");
    const byGlobalId = new Api(server.url, await idpToken(adminId));
    expect((await byGlobalId.execute(`{ viewer { member { id } } }`)).viewer.member.id).toBe(adminId);
  });

  it("refuses a token from another issuer", async () => {
    const error = await new Api(server.url, await idpToken("00000000-0000-0000-0000-000000000000", "https://evil.example.com")).errorOf(
      `{ viewer { principal } }`,
    );
    expect(error.extensions?.code).toBe("UNAUTHENTICATED");
  });
});
