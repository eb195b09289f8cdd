// Persisted operations on both request paths (json-post.ts without an Origin, yoga itself with one): automatic
// persisted queries by default, and with TRUSTED_DOCUMENTS only the generated manifest's operations, also over
// graphql-ws and through tokenwarden/client.
import { createHash } from "node:crypto";
import {
  CreateOrganizationDocument,
  createTokenwardenClient,
  IssueAccessTokenDocument,
  PendingTokenRequestCountDocument,
} from "tokenwarden/client";
import { describe, expect, it } from "vitest";
import manifest from "../../src/client/generated/persisted-documents.json" with { type: "json" };
import { Api } from "../support/client.ts";
import { OPERATOR_KEY, startServer, type TestServer } from "../support/server.ts";

const apq = await startServer();
const trusted = await startServer({ env: { TRUSTED_DOCUMENTS: "true" } });

const PATHS = { "json-post": {}, yoga: { origin: "https://admin.example.com" } } as const;

async function post(server: TestServer, body: unknown, headers: Record<string, string>) {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${OPERATOR_KEY}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] } };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const persisted = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });

describe.each(Object.entries(PATHS))("over %s", (_path, headers) => {
  it("automatic persisted queries: an unknown hash asks for the query, which is then kept under its hash", async () => {
    const query = `query Probe${sha256(String(Math.random())).slice(0, 8)} { viewer { principal } }`;
    const hash = sha256(query);
    const unknown = await post(apq, { extensions: persisted(hash) }, headers);
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe("PERSISTED_QUERY_NOT_FOUND");

    const registered = await post(apq, { query, extensions: persisted(hash) }, headers);
    expect(registered.body).toEqual({ data: { viewer: { principal: "OPERATOR" } } });
    const byHash = await post(apq, { extensions: persisted(hash) }, headers);
    expect(byHash).toEqual({ status: 200, body: { data: { viewer: { principal: "OPERATOR" } } } });

    const mismatch = await post(apq, { query, extensions: persisted(sha256("something else")) }, headers);
    expect(mismatch.body.errors?.[0]?.extensions?.code).toBe("PERSISTED_QUERY_MISMATCH");
  });

  it("trusted documents: the manifest's operations by hash, nothing else", async () => {
    const [hash, document] = Object.entries(manifest).find(([, text]) => text.includes("query PendingTokenRequestCount"))!;
    const admin = (await seedTrusted()).admin;
    const byHash = await post(
      trusted,
      { extensions: persisted(hash.replace("sha256:", "")) },
      { ...headers, authorization: `Bearer ${admin}` },
    );
    expect(byHash.body).toEqual({ data: { pendingTokenRequestCount: 0 } });

    const text = await post(trusted, { query: document }, headers);
    expect(text.body.errors?.[0]?.extensions?.code).toBe("CANNOT_SEND_PQ_ID_AND_BODY");
    const arbitrary = await post(trusted, { query: "{ viewer { principal } }" }, headers);
    expect(arbitrary.body.data ?? null).toBeNull();
    expect(arbitrary.body.errors?.[0]?.extensions?.code).toBe("CANNOT_SEND_PQ_ID_AND_BODY");
    const unknown = await post(trusted, { extensions: persisted(sha256("{ viewer { principal } }")) }, headers);
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe("PERSISTED_QUERY_NOT_IN_LIST");
  });
});

/** An organisation on the trusted server, set up by hashes of the generated manifest through the client. */
async function seedTrusted() {
  const operator = createTokenwardenClient({ url: `${trusted.url}/graphql`, credential: OPERATOR_KEY, persistedDocuments: true });
  const { createOrganization } = await operator.execute(CreateOrganizationDocument, {
    input: { name: "Trusted", adminEmail: `admin-${sha256(String(Math.random())).slice(0, 8)}@example.com` },
  });
  const adminId = createOrganization.members.edges[0]!.node.id;
  const { issueAccessToken } = await operator.execute(IssueAccessTokenDocument, { memberId: adminId, ttlSeconds: 3600 });
  return { admin: issueAccessToken, adminId };
}

describe("trusted documents through tokenwarden/client and graphql-ws", () => {
  it("the client sends hashes only, and its subscriptions are held to the manifest too", async () => {
    const { admin } = await seedTrusted();
    const client = createTokenwardenClient({ url: `${trusted.url}/graphql`, credential: admin, persistedDocuments: true });
    expect(await client.execute(PendingTokenRequestCountDocument)).toEqual({ pendingTokenRequestCount: 0 });

    const ws = new Api(trusted.url, admin).ws();
    const outcome = await new Promise<unknown>((resolve) => {
      ws.subscribe(
        { query: "subscription { pendingTokenRequestCount }" },
        { next: resolve, error: resolve, complete: () => resolve("complete") },
      );
    });
    expect(JSON.stringify(outcome)).toContain("PersistedQueryOnly");
    const count = await new Promise<unknown>((resolve, reject) => {
      const hash = Object.entries(manifest).find(([, text]) => text.includes("subscription PendingTokenRequestCountChanged"))![0];
      ws.subscribe({ query: "", extensions: persisted(hash) }, { next: resolve, error: reject, complete: () => {} });
    });
    expect(count).toEqual({ data: { pendingTokenRequestCount: 0 } });
    await ws.dispose();
  });
});
