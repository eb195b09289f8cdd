// Production posture as a stranger meets it: no introspection, suggestions or GraphiQL unless a setting enables
// them, /metrics only with a credential, CORS only for listed origins on every route, WebSocket upgrades from other
// origins refused. Development keeps the conveniences, without credentials for any origin.
// Operations are written out on purpose: introspection, suggestions and stranger probes, not client operations.
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Api } from "../support/client.ts";
import { OPERATOR_KEY, startServer, type TestServer } from "../support/server.ts";

const ADMIN_ORIGIN = "https://admin.example.com";
const METRICS_TOKEN = "metrics-token-0123456789abcdef";
const production = await startServer({ env: { NODE_ENV: "production", CORS_ORIGINS: ADMIN_ORIGIN, METRICS_TOKEN } });
const development = await startServer();

const INTROSPECTION = `{ __schema { queryType { name } } }`;
const TYPO = `{ viewr { principal } }`;
const ENUM_LITERAL = `mutation { purchaseTokens(kind: INFERENC, tokens: 1000000) { id } }`;
const ENUM_VARIABLE = `mutation($kind: TokenKind!) { purchaseTokens(kind: $kind, tokens: 1000000) { id } }`;

const messagesOf = (result: { errors?: { message: string }[] }) => (result.errors ?? []).map((error) => error.message).join("\n");

/** A browser's POST (with an Origin), which yoga answers rather than the server-side JSON path. */
async function browserPost(server: TestServer, query: string, variables?: Record<string, unknown>) {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: ADMIN_ORIGIN },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

describe("introspection and suggestions", () => {
  it("refuses introspection in production, anonymous or not, on both request paths (FORBIDDEN)", async () => {
    for (const credential of [null, OPERATOR_KEY]) {
      const result = await new Api(production.url, credential).request(INTROSPECTION);
      expect(result.data ?? null).toBeNull();
      expect(result.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    }
    const browser = await browserPost(production, INTROSPECTION);
    expect(browser.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });

  it("answers introspection in development", async () => {
    expect(await new Api(development.url).execute(INTROSPECTION)).toEqual({ __schema: { queryType: { name: "Query" } } });
  });

  it("suggests no field or enum value in production, on both request paths", async () => {
    const api = new Api(production.url);
    const results: [string, { errors?: { message: string }[] }][] = [
      ["viewr", await api.request(TYPO)],
      ["INFERENC", await api.request(ENUM_LITERAL)],
      ["INFERENC", await api.request(ENUM_VARIABLE, { kind: "INFERENC" })],
      ["viewr", await browserPost(production, TYPO)],
      ["INFERENC", await browserPost(production, ENUM_VARIABLE, { kind: "INFERENC" })],
    ];
    for (const [mistake, result] of results) {
      // The error still names the caller's mistake, and only that.
      expect(messagesOf(result)).toContain(mistake);
      expect(messagesOf(result)).not.toMatch(/Did you mean|INFERENCE|viewer/);
    }
  });

  it("suggests no enum value in production over WebSocket", async () => {
    const client = new Api(production.url, OPERATOR_KEY).ws();
    const errors = await new Promise<unknown>((resolve) => {
      client.subscribe(
        { query: `subscription($kind: TokenKind!) { balanceChanged(kind: $kind) { limit } }`, variables: { kind: "INFERENC" } },
        { next: (result) => resolve(result.errors), error: resolve, complete: () => {} },
      );
    });
    expect(JSON.stringify(errors)).toMatch(/INFERENC/);
    expect(JSON.stringify(errors)).not.toMatch(/Did you mean|INFERENCE/);
    await client.dispose();
  });

  it("keeps suggestions in development", async () => {
    const api = new Api(development.url);
    expect(messagesOf(await api.request(TYPO))).toMatch(/Did you mean "viewer"/);
    expect(messagesOf(await api.request(ENUM_VARIABLE, { kind: "INFERENC" }))).toMatch(/Did you mean the enum value "INFERENCE"/);
  });
});

describe("GraphiQL", () => {
  it("is served in development and not in production", async () => {
    const page = (server: TestServer) => fetch(`${server.url}/graphql`, { headers: { accept: "text/html" } });
    expect(await (await page(development)).text()).toContain("graphiql");
    expect(await (await page(production)).text()).not.toMatch(/graphiql/i);
  });
});

describe("/metrics", () => {
  it("asks for the metrics token or the operator key in production", async () => {
    const metrics = (credential?: string) =>
      fetch(`${production.url}/metrics`, credential ? { headers: { authorization: `Bearer ${credential}` } } : {});
    const anonymous = await metrics();
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toMatch(/tokenwarden_/);
    expect((await metrics("wrong-token-0123456789abcdef")).status).toBe(401);
    for (const credential of [METRICS_TOKEN, OPERATOR_KEY]) {
      const allowed = await metrics(credential);
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toMatch(/tokenwarden_websocket_connections/);
    }
  });

  it("is open in development without METRICS_TOKEN", async () => {
    expect((await fetch(`${development.url}/metrics`)).status).toBe(200);
  });
});

describe("CORS", () => {
  const ROUTES = ["/graphql", "/health", "/ready", "/metrics", "/export/usage.csv"];
  const preflight = (server: TestServer, path: string, origin: string) =>
    fetch(`${server.url}${path}`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });

  it("in production answers only listed origins, never with credentials, on every route and preflight", async () => {
    for (const path of ROUTES) {
      const allowed = await preflight(production, path, ADMIN_ORIGIN);
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get("access-control-allow-origin")).toBe(ADMIN_ORIGIN);
      expect(allowed.headers.get("access-control-allow-headers")).toMatch(/authorization/);
      expect(allowed.headers.get("access-control-allow-credentials")).toBeNull();

      const other = await preflight(production, path, "https://evil.example");
      expect(other.headers.get("access-control-allow-origin")).toBeNull();

      const get = await fetch(`${production.url}${path}`, { headers: { origin: ADMIN_ORIGIN } });
      expect(get.headers.get("access-control-allow-origin")).toBe(ADMIN_ORIGIN);
      expect(get.headers.get("access-control-allow-credentials")).toBeNull();
      const foreign = await fetch(`${production.url}${path}`, { headers: { origin: "https://evil.example" } });
      expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    }
    const post = await fetch(`${production.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "https://evil.example", authorization: `Bearer ${OPERATOR_KEY}` },
      body: JSON.stringify({ query: `{ viewer { principal } }` }),
    });
    expect(post.headers.get("access-control-allow-origin")).toBeNull();
    expect(post.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("in development answers any origin, without credentials, on every route", async () => {
    for (const path of ROUTES) {
      const allowed = await preflight(development, path, "http://localhost:5173");
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get("access-control-allow-origin")).toBe("*");
      expect(allowed.headers.get("access-control-allow-credentials")).toBeNull();
      const get = await fetch(`${development.url}${path}`, { headers: { origin: "http://localhost:5173" } });
      expect(get.headers.get("access-control-allow-origin")).toBe("*");
      expect(get.headers.get("access-control-allow-credentials")).toBeNull();
    }
  });
});

describe("WebSocket origins", () => {
  /** The status of an upgrade from `origin` (101: accepted). */
  const upgrade = (server: TestServer, origin?: string) =>
    new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${server.url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws", origin ? { origin } : {});
      socket.once("open", () => {
        socket.close();
        resolve(101);
      });
      socket.once("unexpected-response", (_request, response) => {
        resolve(response.statusCode ?? 0);
        socket.terminate();
      });
      socket.once("error", (error) => {
        if (socket.readyState !== WebSocket.CLOSED) reject(error);
      });
    });

  it("refuses upgrades from unlisted origins in production, and takes listed ones and server-side clients", async () => {
    expect(await upgrade(production, "https://evil.example")).toBe(403);
    expect(await upgrade(production, ADMIN_ORIGIN)).toBe(101);
    expect(await upgrade(production)).toBe(101);
    expect(await upgrade(development, "http://localhost:5173")).toBe(101);
  });
});
