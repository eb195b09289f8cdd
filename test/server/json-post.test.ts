// JSON POSTs from server-side clients are answered without yoga's Fetch-API layer (server/json-post.ts); browsers
// (an Origin header) still go through yoga. Both must answer alike, so each case is sent both ways and compared.
// Operations are written out on purpose: the same bytes sent both ways, bad JSON included, not client operations.
import type { Plugin } from "graphql-yoga";
import { describe, expect, it } from "vitest";
import { seedOrganization } from "../support/factories.ts";
import { OPERATOR_KEY, startServer } from "../support/server.ts";

const server = await startServer();
const ORIGIN = "https://admin.example.com";

interface Answer {
  status: number;
  contentType: string | null;
  body: string;
}

async function post(body: string, headers: Record<string, string> = {}): Promise<Answer & { cors: string | null }> {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${OPERATOR_KEY}`, ...headers },
    body,
  });
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    body: await response.text(),
    cors: response.headers.get("access-control-allow-origin"),
  };
}

/** The answer without and with an Origin header (the second is yoga's own), minus the CORS header. */
async function bothWays(body: string, headers: Record<string, string> = {}): Promise<[Answer, Answer]> {
  const { cors: direct, ...lean } = await post(body, headers);
  const { cors, ...throughYoga } = await post(body, { ...headers, origin: ORIGIN });
  expect(direct).toBeNull();
  // Development: any origin, without credentials (server/cors.ts).
  expect(cors).toBe("*");
  return [lean, throughYoga];
}

describe("JSON POSTs answered directly", () => {
  it("answer data, validation, syntax and authentication errors exactly as yoga does", async () => {
    const seed = await seedOrganization(server);
    const cases: [string, Record<string, string>?][] = [
      [JSON.stringify({ query: `query($id: ID!) { organization(id: $id) { id name } }`, variables: { id: seed.organizationId } })],
      [JSON.stringify({ query: `{ viewer { principal nope } }` })],
      [JSON.stringify({ query: `{ viewer { principal } ` })],
      [JSON.stringify({ query: `{ viewer { principal } }` }), { authorization: "Bearer twk_not-a-real-key" }],
      [JSON.stringify({ query: `{ viewer { principal nope } }` }), { accept: "application/graphql-response+json" }],
      [JSON.stringify({ query: `query A { viewer { principal } } query B { viewer { principal } }`, operationName: "C" })],
      [JSON.stringify({ query: `mutation { issueAccessToken(memberId: "not-a-global-id") }` })],
    ];
    for (const [body, headers] of cases) {
      const [lean, throughYoga] = await bothWays(body, headers);
      expect(lean).toEqual(throughYoga);
    }
    const [ok] = await bothWays(cases[0]![0]);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).data.organization.id).toBe(seed.organizationId);
    const [strict] = await bothWays(cases[4]![0], cases[4]![1]);
    expect(strict).toMatchObject({ status: 400, contentType: "application/graphql-response+json; charset=utf-8" });
  });

  it("leave bodies yoga refuses to yoga, which answers in its own words", async () => {
    for (const body of [
      "{not json",
      JSON.stringify([{ query: "{ __typename }" }]),
      JSON.stringify({ query: "{ __typename }", extra: 1 }),
    ]) {
      const [lean, throughYoga] = await bothWays(body);
      expect(lean).toEqual(throughYoga);
      expect(lean.status).toBe(400);
      expect(JSON.parse(lean.body).errors[0].extensions.code).toBe("BAD_REQUEST");
    }
  });

  it("hand a subscription sent as a JSON POST to yoga, which streams it as server-sent events", async () => {
    const seed = await seedOrganization(server);
    const controller = new AbortController();
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${seed.admin.credential}` },
      body: JSON.stringify({ query: `subscription { pendingTokenRequestCount }` }),
      signal: controller.signal,
    });
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    let text = "";
    while (!text.includes("pendingTokenRequestCount")) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain(`"pendingTokenRequestCount":0`);
    controller.abort();
  });
});

/** A plugin that counts each request-level and execution hook it sees. */
function countingPlugin() {
  const counts = { onRequest: 0, onRequestParse: 0, onParams: 0, onExecute: 0, onResultProcess: 0, onResponse: 0 };
  const plugin: Plugin = {
    onRequest: () => void counts.onRequest++,
    onRequestParse: () => void counts.onRequestParse++,
    onParams: () => void counts.onParams++,
    onExecute: () => void counts.onExecute++,
    onResultProcess: () => void counts.onResultProcess++,
    onResponse: () => void counts.onResponse++,
  };
  return { counts, plugin };
}

// A second server with that plugin installed, started with the file (not inside a test's time limit).
const { counts, plugin } = countingPlugin();
const observed = await startServer({ yogaPlugins: [plugin] });

describe("yoga plugins", () => {
  it("see every JSON POST, from a server-side client and from a browser alike", async () => {
    const send = (headers: Record<string, string>) =>
      fetch(`${observed.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${OPERATOR_KEY}`, ...headers },
        body: JSON.stringify({ query: "{ viewer { principal } }" }),
      }).then((response) => response.json());
    expect(await send({})).toEqual({ data: { viewer: { principal: "OPERATOR" } } });
    expect(counts).toEqual({ onRequest: 1, onRequestParse: 1, onParams: 1, onExecute: 1, onResultProcess: 1, onResponse: 1 });
    expect(await send({ origin: ORIGIN })).toEqual({ data: { viewer: { principal: "OPERATOR" } } });
    expect(counts).toEqual({ onRequest: 2, onRequestParse: 2, onParams: 2, onExecute: 2, onResultProcess: 2, onResponse: 2 });
    expect(observed.app.directJsonPath).toBe(false);
  });

  it("leave the direct JSON path on while only yoga's and the server's own plugins are installed", () => {
    expect(server.app.directJsonPath).toBe(true);
  });
});
