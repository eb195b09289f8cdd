// A subscription whose client has gone is freed at once: over WebSocket and over SSE, for every subscription field,
// the event listeners and connections it held return to what they were before it opened.
// Subscriptions are written out on purpose: one per subscription field, sent raw over each transport.
import { describe, expect, it } from "vitest";
import type { Api } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

async function gauges(): Promise<{ subscriptions: number; listeners: number; connections: number }> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1] ?? Number.NaN);
  return {
    subscriptions: value("tokenwarden_subscriptions"),
    listeners: value("tokenwarden_event_listeners"),
    connections: value("tokenwarden_websocket_connections"),
  };
}

const FIELDS: [name: string, query: string, as: "admin" | "member"][] = [
  ["balanceChanged", "subscription { balanceChanged { kind used } }", "member"],
  ["balanceChanged(kind)", "subscription { balanceChanged(kind: INFERENCE) { used } }", "member"],
  ["pendingTokenRequestCount", "subscription { pendingTokenRequestCount }", "admin"],
  ["tokenRequestUpdated", "subscription { tokenRequestUpdated { id } }", "admin"],
  ["allocationStatusChanged", "subscription { allocationStatusChanged(kind: INFERENCE) { allocated } }", "admin"],
  ["spendChanged", "subscription { spendChanged { spent } }", "admin"],
  ["spendAlert", "subscription { spendAlert { percent } }", "admin"],
];

/** Opens a subscription over graphql-ws and resolves once the server holds it. */
async function openOverWebSocket(api: Api, query: string, before: number) {
  const client = api.ws();
  const errors: unknown[] = [];
  client.subscribe({ query }, { next: () => {}, error: (error) => errors.push(error), complete: () => {} });
  await expect
    .poll(async () => ({ query, errors, held: (await gauges()).subscriptions > before }), { timeout: 60_000 })
    .toEqual({ query, errors: [], held: true });
  return async () => client.dispose();
}

/** The same over Server-Sent Events (a plain fetch, as graphql-sse's distinct-connections mode does). */
async function openOverSse(api: Api, query: string, before: number) {
  const abort = new AbortController();
  const response = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${api.credential}` },
    body: JSON.stringify({ query }),
    signal: abort.signal,
  });
  expect(response.status).toBe(200);
  void response.body?.pipeTo(new WritableStream()).catch(() => {});
  await expect
    .poll(async () => ({ query, held: (await gauges()).subscriptions > before }), { timeout: 60_000 })
    .toEqual({ query, held: true });
  return async () => abort.abort();
}

// One server's gauges: the tests of this file run one after the other.
describe.sequential("subscriptions end when their client goes", () => {
  for (const transport of ["WebSocket", "SSE"] as const) {
    it(`frees every subscription field's listeners over ${transport}, five clients each`, async () => {
      const seed = await seedOrganization(server);
      await seed.fund(1_000_000);
      const [memberId] = await seed.addMembers([{}]);
      const apis = { admin: seed.admin, member: await seed.as(memberId!) };
      const open = transport === "WebSocket" ? openOverWebSocket : openOverSse;
      // Process-wide listeners made on first use (the policy cache, the live balance feeds) belong to the baseline.
      for (const [, query, as] of FIELDS) {
        await (await open(apis[as], query, 0))();
        await expect.poll(async () => (await gauges()).subscriptions, { timeout: 60_000 }).toBe(0);
      }
      await expect.poll(async () => (await gauges()).connections, { timeout: 60_000 }).toBe(0);
      const baseline = await gauges();
      for (const [name, query, as] of FIELDS) {
        const closers: (() => Promise<void>)[] = [];
        for (let client = 0; client < 5; client++) {
          const { subscriptions } = await gauges();
          closers.push(await open(apis[as], query, subscriptions));
        }
        await Promise.all(closers.map((close) => close()));
        await expect.poll(async () => ({ field: name, ...(await gauges()) }), { timeout: 60_000 }).toEqual({ field: name, ...baseline });
      }
    }, 600_000);
  }
});
