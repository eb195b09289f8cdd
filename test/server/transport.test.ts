// The transport as clients meet it: health endpoints, GraphiQL, authentication, query limits, masking.
// Operations are written out on purpose: probes of the transport, authentication and limits, not client operations.
import http from "node:http";
import { describe, expect, it } from "vitest";
import { Api } from "../support/client.ts";
import { seedOrganization, unique } from "../support/factories.ts";
import { OPERATOR_KEY, startServer } from "../support/server.ts";

const server = await startServer();
const strict = await startServer({ env: { MAX_QUERY_DEPTH: "3" } });
const smallBodies = await startServer({ env: { MAX_REQUEST_BODY_BYTES: "4096" } });

/** POSTs `body` to /graphql as is; `chunked` sends it without a Content-Length. */
function post(url: string, body: string, headers: Record<string, string> = {}, chunked = false) {
  return new Promise<{ status: number; json: any }>((resolve, reject) => {
    const request = http.request(`${url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${OPERATOR_KEY}`,
        ...(chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(Buffer.byteLength(body)) }),
        ...headers,
      },
    });
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    // A refused upload may see its connection closed before it has written everything.
    request.on("error", reject);
    if (chunked) {
      for (let at = 0; at < body.length; at += 1000) request.write(body.slice(at, at + 1000));
      request.end();
    } else request.end(body);
  });
}

describe("HTTP endpoints", () => {
  it("answers /health and /ready", async () => {
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
  });

  it("exposes Prometheus metrics that count operations", async () => {
    await new Api(server.url, OPERATOR_KEY).execute(`query Probe { viewer { principal } }`);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/tokenwarden_graphql_operations_total\{type="query",name="Probe",outcome="ok"\} [1-9]/);
  });

  it("serves GraphiQL to browsers", async () => {
    const response = await fetch(`${server.url}/graphql`, { headers: { accept: "text/html" } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("graphiql");
  });
});

describe("who is calling", () => {
  it("tells the operator apart from members by credential", async () => {
    const seed = await seedOrganization(server);
    const operator = await seed.operator.execute(`{ viewer { principal organization { id } } }`);
    expect(operator.viewer).toEqual({ principal: "OPERATOR", organization: null });
    const admin = await seed.admin.execute(`{ viewer { principal member { id role } organization { id } } }`);
    expect(admin.viewer).toEqual({
      principal: "ADMIN",
      member: { id: seed.adminId, role: "ADMIN" },
      organization: { id: seed.organizationId },
    });
  });

  it("refuses an invalid or tampered token with UNAUTHENTICATED", async () => {
    const seed = await seedOrganization(server);
    const tampered = `${seed.admin.credential!.slice(0, -3)}abc`;
    expect((await new Api(server.url, tampered).errorOf(`{ viewer { principal } }`)).extensions?.code).toBe("UNAUTHENTICATED");
    expect((await new Api(server.url, "twk_not-a-real-key").errorOf(`{ viewer { principal } }`)).extensions?.code).toBe("UNAUTHENTICATED");
    expect((await new Api(server.url).errorOf(`{ viewer { principal } }`)).extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("keeps organisations apart: another organisation's things are NOT_FOUND", async () => {
    const [first, second] = await Promise.all([seedOrganization(server), seedOrganization(server)]);
    const error = await first.admin.errorOf(`query($id: ID!) { organization(id: $id) { id } }`, { id: second.organizationId });
    expect(error.extensions?.code).toBe("NOT_FOUND");
    const member = await first.admin.request(`query($id: ID!) { member(id: $id) { id } }`, { id: second.adminId });
    expect(member.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const node = await first.admin.execute(`query($id: ID!) { node(id: $id) { id } }`, { id: second.adminId });
    expect(node.node).toBeNull();
    const own = await first.admin.execute(`query($id: ID!) { node(id: $id) { id } }`, { id: first.adminId });
    expect(own.node).toEqual({ id: first.adminId });
  });

  it("only lets the operator issue access tokens", async () => {
    const seed = await seedOrganization(server);
    const error = await seed.admin.errorOf(`mutation($id: ID!) { issueAccessToken(memberId: $id) }`, { id: seed.adminId });
    expect(error.extensions?.code).toBe("FORBIDDEN");
  });
});

describe("abuse limits and errors", () => {
  it("refuses over-deep queries and alias floods", async () => {
    const shallow = new Api(strict.url, OPERATOR_KEY);
    expect((await shallow.request(`{ viewer { organization { id } } }`)).errors).toBeUndefined();
    const deep = await shallow.request(`{ viewer { member { team { id } } } }`);
    expect(deep.errors?.[0]?.message).toMatch(/depth/i);
    const api = new Api(server.url, OPERATOR_KEY);
    const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: viewer { principal }`).join(" ");
    const flood = await api.request(`{ ${aliases} }`);
    expect(flood.errors?.[0]?.message).toMatch(/alias/i);
    expect(flood.data ?? null).toBeNull();
  });

  it("refuses a request body over MAX_REQUEST_BODY_BYTES with 413, declared or chunked, and runs nothing", async () => {
    const seed = await seedOrganization(smallBodies);
    const addMember = JSON.stringify({
      query: `mutation($members: [MemberInput!]!) { addMembers(members: $members) { id } }`,
      variables: { members: [{ email: `${unique("big")}@example.com`, name: "x".repeat(5000) }] },
    });
    for (const chunked of [false, true]) {
      const refused = await post(smallBodies.url, addMember, { authorization: `Bearer ${seed.admin.credential}` }, chunked);
      expect(refused.status).toBe(413);
      expect(refused.json.errors[0].extensions.code).toBe("REQUEST_ENTITY_TOO_LARGE");
    }
    const { organization } = await seed.admin.execute(`query($id: ID!) { organization(id: $id) { members(first: 10) { totalCount } } }`, {
      id: seed.organizationId,
    });
    expect(organization.members.totalCount).toBe(1);
    const small = await post(smallBodies.url, JSON.stringify({ query: `{ viewer { principal } }` }), {}, true);
    expect(small).toEqual({ status: 200, json: { data: { viewer: { principal: "OPERATOR" } } } });
  });

  it("refuses a compressed request body with 415", async () => {
    const refused = await post(server.url, JSON.stringify({ query: `{ viewer { principal } }` }), { "content-encoding": "gzip" });
    expect(refused.status).toBe(415);
    expect(refused.json.errors[0].extensions.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it("rejects malformed ids and amounts as BAD_USER_INPUT", async () => {
    const api = new Api(server.url, OPERATOR_KEY);
    const error = await api.errorOf(`mutation { issueAccessToken(memberId: "not-a-global-id") }`);
    expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "memberId" });
    const ttl = await api.errorOf(`mutation { issueAccessToken(memberId: "x", ttlSeconds: 1.5) }`);
    expect(ttl.extensions?.code).toBe("BAD_USER_INPUT");
  });
});
