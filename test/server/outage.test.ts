// A database outage is a retryable SERVICE_UNAVAILABLE (HTTP 503), not an INTERNAL_SERVER_ERROR with 200: on both
// GraphQL request paths, the plain routes and WebSocket. The server reaches its own PostgreSQL database through
// a TCP proxy that the test cuts and restores (the shared PostgreSQL is never touched).

import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { RecordUsageDocument, UpsertModelDocument } from "../../src/client/generated/graphql.ts";
import { Api } from "../support/client.ts";
import { createTestDatabase } from "../support/database.ts";
import { seedOrganization } from "../support/factories.ts";
import { OPERATOR_KEY, startServer } from "../support/server.ts";

const adminUrl = process.env.TEST_PG_ADMIN_URL ?? process.env.TEST_DATABASE_URL ?? "postgresql://root@127.0.0.1:5432/postgres";

/** Forwards TCP to PostgreSQL until cut: then new connections are refused and open ones reset. */
class CuttableProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | null = null;
  port = 0;

  constructor(target: URL) {
    this.#target = { host: target.hostname, port: Number(target.port || 5432) };
  }

  async open(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.#target.port, this.#target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on("close", () => this.#sockets.delete(socket));
        socket.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const socket of this.#sockets) socket.resetAndDestroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  }
}

const database = await createTestDatabase(adminUrl, "tw_outage");
const proxy = new CuttableProxy(new URL(adminUrl));
await proxy.open();
const proxiedUrl = new URL(database.url);
proxiedUrl.host = `127.0.0.1:${proxy.port}`;
const server = await startServer({ databaseUrl: proxiedUrl.toString() });
afterAll(async () => {
  await proxy.cut();
  await database.drop();
});

describe("while the database is unreachable", () => {
  it("answers SERVICE_UNAVAILABLE (503) everywhere, and serves again once it is back", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    const service = await seed.serviceKey();
    await seed.admin.execute(UpsertModelDocument, { input: { key: "m", inputPricePerMillion: "1", outputPricePerMillion: "1" } });
    const operator = new Api(server.url, OPERATOR_KEY);
    const ORGANIZATION = `query($id: ID) { organization(id: $id) { name } }`;
    // A chat app's connection, open before the outage.
    const chatApp = new WebSocket(`${server.url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
    const chatMessages: any[] = [];
    chatApp.on("message", (data) => chatMessages.push(JSON.parse(String(data))));
    await new Promise((resolve) => chatApp.once("open", resolve));
    chatApp.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${service.credential}` } }));
    await expect.poll(() => chatMessages.some((message) => message.type === "connection_ack"), { timeout: 60_000 }).toBe(true);

    await proxy.cut();

    // Written out: the same request on each path, whoever sends it (a probe of the outage, not a client's operations).
    // The JSON path: a member token is looked up (context), the operator's query reads (resolver), usage charges.
    for (const [api, query, variables] of [
      [seed.admin, ORGANIZATION, {}],
      [operator, ORGANIZATION, { id: seed.organizationId }],
      [
        service,
        `mutation($m: ID!) { recordUsage(input: { memberId: $m, modelKey: "m", inputTokens: 10, outputTokens: 10, idempotencyKey: "outage" }) { id } }`,
        { m: memberId },
      ],
    ] as const) {
      const result = await api.request(query, variables);
      expect({ status: result.status, code: result.errors?.[0]?.extensions?.code }).toEqual({ status: 503, code: "SERVICE_UNAVAILABLE" });
    }

    // Yoga's path (a browser's request).
    const browser = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "http://localhost:5173", authorization: `Bearer ${OPERATOR_KEY}` },
      body: JSON.stringify({ query: ORGANIZATION, variables: { id: seed.organizationId } }),
    });
    expect(browser.status).toBe(503);
    expect(((await browser.json()) as any).errors[0].extensions.code).toBe("SERVICE_UNAVAILABLE");

    // Plain routes.
    const csv = await fetch(`${server.url}/export/usage.csv`, { headers: { authorization: `Bearer ${seed.admin.credential}` } });
    expect(csv.status).toBe(503);
    expect(((await csv.json()) as any).error.code).toBe("SERVICE_UNAVAILABLE");
    expect((await fetch(`${server.url}/ready`)).status).toBe(503);

    // WebSocket: a subscription that reads on an open connection, and a connection whose member token cannot be
    // checked (closed with 1013, try again later).
    chatApp.send(
      JSON.stringify({
        id: "balance",
        type: "subscribe",
        payload: { query: `subscription($m: ID) { balanceChanged(memberId: $m, kind: INFERENCE) { limit } }`, variables: { m: memberId } },
      }),
    );
    await expect.poll(() => chatMessages.find((message) => message.id === "balance"), { timeout: 60_000 }).toBeDefined();
    expect(JSON.stringify(chatMessages.find((message) => message.id === "balance"))).toContain("SERVICE_UNAVAILABLE");
    chatApp.close();
    const memberSocket = new WebSocket(`${server.url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
    const closed = new Promise<number>((resolve) => memberSocket.once("close", (code) => resolve(code)));
    memberSocket.once("open", () =>
      memberSocket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${member.credential}` } })),
    );
    expect(await closed).toBe(1013);

    await proxy.open();
    // The pool reconnects on its own: wait for it rather than for a fixed time.
    await expect.poll(async () => (await fetch(`${server.url}/ready`)).status, { timeout: 60_000, interval: 200 }).toBe(200);
    expect(await seed.admin.execute(ORGANIZATION, {})).toEqual({ organization: { name: expect.any(String) } });
    const { recordUsage } = await service.execute(RecordUsageDocument, {
      input: { memberId: memberId!, modelKey: "m", inputTokens: 10, outputTokens: 10, idempotencyKey: "after" },
    });
    expect(recordUsage.tokens).toBe(20);
  });
});
