// A credential's right ends everywhere at once: suspension, revokeAccessTokens, expiry and API key revocation end
// requests, open subscriptions (graphql-ws and SSE) and connections; failed authentications are limited per address.

import { print } from "graphql";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import {
  BalanceChangedDocument,
  CreateApiKeyDocument,
  IssueAccessTokenDocument,
  MembersDocument,
  RevokeAccessTokensDocument,
  RevokeApiKeyDocument,
  SetAllocationDocument,
  SetMemberSuspendedDocument,
} from "../../src/client/generated/graphql.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { Api, subscribe } from "../support/client.ts";
import { type Seed, seedOrganization } from "../support/factories.ts";
import { OPERATOR_KEY, startServer } from "../support/server.ts";

const server = await startServer();
/** A server of its own for the test that counts SQL statements (the other tests run concurrently). */
let queries = 0;
const counted = await startServer({ onQuery: () => queries++ });
const secret = new TextEncoder().encode(server.config.jwtSecret);

// Written out on purpose, as the authentication probes they are: `{ viewer { principal } }` after each change of a
// credential, and what a suspended admin may read or is refused. Everything else goes through the client's documents.
const SUSPEND = `mutation($id: ID!, $suspended: Boolean!) { setMemberSuspended(memberId: $id, suspended: $suspended) { id suspended } }`;
const REVOKE = `mutation($id: ID!) { revokeAccessTokens(memberId: $id) }`;
const codeOf = (response: { errors?: { extensions?: { code?: string } }[] }) => response.errors?.[0]?.extensions?.code;

/** A token signed with the server's secret, with the claims given (exp and iat in seconds; undefined: left out). */
function token(memberId: string, claims: { iat?: number; exp?: number }) {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(memberId);
  if (claims.iat !== undefined) jwt = jwt.setIssuedAt(claims.iat);
  if (claims.exp !== undefined) jwt = jwt.setExpirationTime(claims.exp);
  return jwt.sign(secret);
}
const now = () => Math.floor(Date.now() / 1000);

/** How a subscription ended: an error result (its code) or the socket's close code and reason. */
function endOf(errors: unknown[]): string {
  return errors
    .map((error) => {
      const close = error as { code?: number; reason?: string };
      if (typeof close.code === "number") return `close ${close.code} ${close.reason}`;
      return JSON.stringify(error);
    })
    .join(" | ");
}

describe("suspension", () => {
  it("leaves a suspended admin only its own member and balances, and nobody suspends itself", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [otherAdmin, member] = await seed.addMembers([{ role: "ADMIN", name: "Bea" }, { name: "Cy" }]);
    const bea = await seed.as(otherAdmin!);
    expect(codeOf(await seed.admin.request(SetMemberSuspendedDocument, { memberId: seed.adminId, suspended: true }))).toBe("FORBIDDEN");

    await seed.admin.execute(SetMemberSuspendedDocument, { memberId: otherAdmin!, suspended: true });
    // Suspension revoked Bea's token; a new one lets her read herself and her balances, nothing else.
    expect(codeOf(await bea.request(`{ viewer { principal } }`))).toBe("UNAUTHENTICATED");
    const suspended = await seed.as(otherAdmin!);
    const own = await suspended.execute(
      `query($id: ID!) { viewer { member { name suspended inference { limit } } } member(id: $id) { id } }`,
      {
        id: otherAdmin,
      },
    );
    expect(own).toEqual({
      viewer: { member: { name: "Bea", suspended: true, inference: { limit: 500_000 } } },
      member: { id: otherAdmin },
    });
    for (const [document, variables] of [
      [`mutation { createApiKey(name: "mine") { secret } }`, {}],
      [
        `mutation($ids: [ID!]!) { allocateTokens(input: { memberIds: $ids, kind: INFERENCE, amount: 1000 }) { id } }`,
        { ids: [otherAdmin] },
      ],
      [SUSPEND, { id: otherAdmin, suspended: false }],
      [SUSPEND, { id: seed.adminId, suspended: true }],
      [REVOKE, { id: seed.adminId }],
      [`{ organization { name } }`, {}],
      [`query($id: ID!) { member(id: $id) { email } }`, { id: member }],
      [`{ models { key } }`, {}],
    ] as const) {
      const response = await suspended.request(document, variables);
      expect(codeOf(response), document).toBe("FORBIDDEN");
    }
    const { viewer } = await suspended.request(`{ viewer { organization { name } } }`).then((r) => r.data!);
    expect(viewer.organization).toBeNull();
    const admins = await seed.admin.execute(MembersDocument);
    expect(admins.organization.members.edges.filter((e) => e.node.role === "ADMIN" && !e.node.suspended)).toHaveLength(1);
  });

  it("keeps the last active admin: two admins suspending each other at once leave exactly one active", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(1_000_000);
    const [otherId] = await seed.addMembers([{ role: "ADMIN" }]);
    const other = await seed.as(otherId!);
    const [first, second] = await Promise.all([
      seed.admin.request(SetMemberSuspendedDocument, { memberId: otherId!, suspended: true }),
      other.request(SetMemberSuspendedDocument, { memberId: seed.adminId, suspended: true }),
    ]);
    const succeeded = [first, second].filter((response) => !response.errors);
    expect(succeeded).toHaveLength(1);
    // The loser was refused as the last admin, or its token had been revoked by the winner's suspension first.
    expect(["CONFLICT", "UNAUTHENTICATED"]).toContain(codeOf(first.errors ? first : second));
    const { organization } = await seed.operator.execute(MembersDocument, { organizationId: seed.organizationId });
    expect(organization.members.edges.filter((e) => e.node.role === "ADMIN" && !e.node.suspended)).toHaveLength(1);
  });
});

describe("access tokens", () => {
  it("revokeAccessTokens ends every token issued before it, and only those", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [aliceId, bobId] = await seed.addMembers([{}, {}]);
    const alice = await seed.as(aliceId!);
    const bob = await seed.as(bobId!);
    expect(codeOf(await alice.request(RevokeAccessTokensDocument, { memberId: bobId! }))).toBe("NOT_FOUND");
    const other = await seedOrganization(server);
    expect(codeOf(await other.admin.request(RevokeAccessTokensDocument, { memberId: aliceId! }))).toBe("NOT_FOUND");

    expect(await seed.admin.execute(RevokeAccessTokensDocument, { memberId: aliceId! })).toEqual({ revokeAccessTokens: true });
    expect(codeOf(await alice.request(`{ viewer { principal } }`))).toBe("UNAUTHENTICATED");
    expect((await bob.execute(`{ viewer { principal } }`)).viewer.principal).toBe("MEMBER");
    const fresh = await seed.as(aliceId!);
    expect((await fresh.execute(`{ viewer { principal } }`)).viewer.principal).toBe("MEMBER");
    // A member may end its own tokens (a lost device), the operator anyone's.
    await bob.execute(RevokeAccessTokensDocument, { memberId: bobId! });
    expect(codeOf(await bob.request(`{ viewer { principal } }`))).toBe("UNAUTHENTICATED");
    await seed.operator.execute(RevokeAccessTokensDocument, { memberId: aliceId! });
    expect(codeOf(await fresh.request(`{ viewer { principal } }`))).toBe("UNAUTHENTICATED");
  });

  it("refuses tokens without exp, or issued in the future beyond the clock skew; caps ttlSeconds", async () => {
    const seed = await seedOrganization(server);
    const asToken = async (claims: { iat?: number; exp?: number }) =>
      codeOf(await new Api(server.url, await token(seed.adminId, claims)).request(`{ viewer { principal } }`)) ?? "OK";
    expect(await asToken({ iat: now() })).toBe("UNAUTHENTICATED");
    expect(await asToken({ exp: now() + 600 })).toBe("UNAUTHENTICATED");
    expect(await asToken({ iat: now() + 3600, exp: now() + 7200 })).toBe("UNAUTHENTICATED");
    expect(await asToken({ iat: now() + 5, exp: now() + 600 })).toBe("OK");
    expect(await asToken({ iat: now() - 10, exp: now() - 1 })).toBe("UNAUTHENTICATED");

    const tooLong = await seed.operator.request(IssueAccessTokenDocument, { memberId: seed.adminId, ttlSeconds: 86401 });
    expect(tooLong.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "ttlSeconds" });
  });

  it("checks revocation without a database read per request", async () => {
    const seed = await seedOrganization(counted);
    await seed.fund(1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = Object.assign(await seed.as(memberId!), { memberId });
    await member.execute(`{ viewer { principal } }`);
    const before = queries;
    for (let i = 0; i < 5; i++) expect((await member.execute(`{ viewer { principal } }`)).viewer.principal).toBe("MEMBER");
    expect(queries - before).toBe(0);
    // ...and a revocation still applies at once.
    await seed.admin.execute(RevokeAccessTokensDocument, { memberId: member.memberId! });
    expect(codeOf(await member.request(`{ viewer { principal } }`))).toBe("UNAUTHENTICATED");
  });
});

describe("open subscriptions end with their credential", () => {
  async function watched() {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{}]);
    return { seed, memberId: memberId! };
  }

  let limit = 600_000;
  /** Changes the member's balance, so open subscriptions get an event. */
  const touch = (seed: Seed, memberId: string) => seed.admin.execute(SetAllocationDocument, { input: { memberId, inference: limit++ } });

  /** A balance subscription over graphql-ws, once it delivered an event. */
  async function openBalance(seed: Seed, api: Api, memberId: string) {
    const opened = subscribe(
      api,
      BalanceChangedDocument,
      api.credential?.startsWith("twk_") ? { memberId, kind: "INFERENCE" } : { kind: "INFERENCE" },
    );
    // balanceChanged may not send the current value on subscribe: change the balance until an event arrives.
    for (let attempt = 0; opened.subscription.events.length === 0; attempt++) {
      if (attempt === 60) throw new Error(`No balance event; errors ${endOf(opened.subscription.errors)}`);
      await touch(seed, memberId);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return opened;
  }

  it("over graphql-ws when the member is suspended", async ({ expect }) => {
    const { seed, memberId } = await watched();
    const opened = await openBalance(seed, await seed.as(memberId), memberId);
    await seed.admin.execute(SetMemberSuspendedDocument, { memberId, suspended: true });
    await expect.poll(() => endOf(opened.subscription.errors), { timeout: 20_000 }).toMatch(/UNAUTHENTICATED|4403/);
    await opened.client.dispose();
  });

  it("over graphql-ws when the member's tokens are revoked, and no event arrives after", async ({ expect }) => {
    const { seed, memberId } = await watched();
    const opened = await openBalance(seed, await seed.as(memberId), memberId);
    await seed.admin.execute(RevokeAccessTokensDocument, { memberId });
    await expect.poll(() => endOf(opened.subscription.errors), { timeout: 20_000 }).toMatch(/UNAUTHENTICATED|4403/);
    const count = opened.subscription.events.length;
    await touch(seed, memberId);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(opened.subscription.events).toHaveLength(count);
    await opened.client.dispose();
  });

  it("over graphql-ws when the member's token expires", async ({ expect }) => {
    const { memberId } = await watched();
    // Long enough to connect on a busy machine; the end comes from the server's timer, not from a request.
    const shortLived = new Api(server.url, await token(memberId, { iat: now(), exp: now() + 20 }));
    const expiring = subscribe(shortLived, BalanceChangedDocument, { kind: "INFERENCE" });
    await expect.poll(() => endOf(expiring.subscription.errors), { timeout: 60_000 }).toMatch(/expired/);
    await expiring.client.dispose();
  }, 120_000);

  it("over graphql-ws when the service's API key is revoked", async ({ expect }) => {
    const { seed, memberId } = await watched();
    const { createApiKey } = await seed.admin.execute(CreateApiKeyDocument, { name: "chat" });
    const service = await openBalance(seed, new Api(server.url, createApiKey.secret), memberId);
    await seed.admin.execute(RevokeApiKeyDocument, { id: createApiKey.id });
    await expect.poll(() => endOf(service.subscription.errors), { timeout: 20_000 }).toMatch(/UNAUTHENTICATED|4403/);
    await service.client.dispose();
  });

  it("over SSE with an error event, then the stream ends", async () => {
    const { seed, memberId } = await watched();
    const member = await seed.as(memberId);
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${member.credential}` },
      body: JSON.stringify({ query: print(BalanceChangedDocument), variables: { kind: "INFERENCE" } }),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) return true;
        text += decoder.decode(value);
      }
      return false;
    };
    const touching = setInterval(() => void touch(seed, memberId), 500);
    await readUntil(/"limit"/);
    clearInterval(touching);
    await seed.admin.execute(RevokeAccessTokensDocument, { memberId });
    try {
      await readUntil(/UNAUTHENTICATED/);
      expect(text).toContain("UNAUTHENTICATED");
      // Nothing after the error but the stream's end.
      expect(await readUntil(/never-sent/)).toBe(true);
    } finally {
      await reader.cancel();
    }
  });
});

describe("failed authentications", async () => {
  const limited = await startServer({ env: { AUTH_FAILURES_PER_MINUTE: "5" } });

  it("refuses every credential from an address past the limit, over HTTP (429) and WebSocket", async ({ expect }) => {
    for (let i = 0; i < 5; i++) {
      const guess = await new Api(limited.url, `wrong-operator-key-${i}-0123456789`).request(`{ viewer { principal } }`);
      expect(codeOf(guess)).toBe("UNAUTHENTICATED");
    }
    const blocked = await new Api(limited.url, "wrong-operator-key-x-0123456789").request(`{ viewer { principal } }`);
    expect(blocked.status).toBe(429);
    expect(codeOf(blocked)).toBe("RATE_LIMITED");
    // The right key too: a guesser must not learn that a guess was right.
    expect(codeOf(await new Api(limited.url, OPERATOR_KEY).request(`{ viewer { principal } }`))).toBe("RATE_LIMITED");
    const socket = subscribe(new Api(limited.url, OPERATOR_KEY), `subscription { spendChanged { spent } }`);
    await expect.poll(() => endOf(socket.subscription.errors), { timeout: 20_000 }).toMatch(/close 4429/);
    await socket.client.dispose();
    // Callers without a credential are not refused (nothing to guess).
    expect(codeOf(await new Api(limited.url, null).request(`{ viewer { principal } }`))).toBe("UNAUTHENTICATED");
  });
});

describe("operator key at start", () => {
  const production = (key: string) => () =>
    loadConfig({ NODE_ENV: "production", OPERATOR_API_KEY: key, AUTH_JWT_SECRET: "s".repeat(8) + "0123456789abcdefghijklmnopqrstuv" });

  it("refuses weak operator keys in production", () => {
    expect(production("a".repeat(64))).toThrow(ConfigError);
    expect(production("abab".repeat(16))).toThrow(ConfigError);
    expect(production("short-but-16-chars")).toThrow(/at least 32/);
    expect(production("twop_Xk3v9Qm2LpR8sT1wYz6bN4cD7fG0hJ5q")).not.toThrow();
  });
});
