// Every transport keeps the limits: WebSocket frames and operations before authentication, subscriptions per
// connection and per member, slow clients on HTTP, and query limits that answer with a code on every path.
// Operations are written out on purpose: probes of depth, size and connection limits, not client operations.
import net from "node:net";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Api } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { OPERATOR_KEY, startServer, type TestServer } from "../support/server.ts";

const limited = await startServer({
  env: {
    MAX_REQUEST_BODY_BYTES: "4096",
    MAX_SUBSCRIPTIONS_PER_CONNECTION: "2",
    MAX_SUBSCRIPTIONS_PER_MEMBER: "3",
  },
});
const strict = await startServer({
  env: { MAX_QUERY_DEPTH: "3", MAX_ALIASES: "5", MAX_QUERY_TOKENS: "500", MAX_QUERY_COST: "100" },
});
// Short HTTP timeouts on a server of their own: a busy host must not time out the other tests' requests.
const slow = await startServer({
  env: { HTTP_HEADERS_TIMEOUT_SECONDS: "1", HTTP_REQUEST_TIMEOUT_SECONDS: "2", HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: "1" },
});
const queries: string[] = [];
const counted = await startServer({ onQuery: (sql) => queries.push(sql) });

const wsUrl = (server: TestServer) => `${server.url.replace(/^http/, "ws")}/graphql`;

/** A raw graphql-transport-ws socket: what it was sent back, and how it closed. */
function rawSocket(server: TestServer) {
  const socket = new WebSocket(wsUrl(server), "graphql-transport-ws");
  const messages: any[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(String(data))));
  const opened = new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once("close", (code, reason) => resolve({ code, reason: String(reason) })),
  );
  const waitFor = async (predicate: (message: any) => boolean) => {
    while (!messages.some(predicate)) await new Promise((resolve) => setTimeout(resolve, 20));
    return messages.find(predicate);
  };
  return { socket, messages, opened, closed, waitFor, send: (message: unknown) => socket.send(JSON.stringify(message)) };
}

async function connected(server: TestServer, credential: string) {
  const raw = rawSocket(server);
  await raw.opened;
  raw.send({ type: "connection_init", payload: { authorization: `Bearer ${credential}` } });
  await raw.waitFor((message) => message.type === "connection_ack");
  return raw;
}

const BALANCE = `subscription { balanceChanged(kind: INFERENCE) { limit } }`;
const SET_ALLOCATION = `mutation($id: ID!, $inference: SafeInt) { setAllocation(input: { memberId: $id, inference: $inference }) { id } }`;

describe("graphql-ws keeps the HTTP limits", () => {
  it("closes a connection whose frame is over MAX_REQUEST_BODY_BYTES (1009) without parsing it, also before connection_init", async () => {
    const raw = rawSocket(limited);
    await raw.opened;
    raw.send({ id: "1", type: "subscribe", payload: { query: `{ viewer { principal } }`, variables: { padding: "x".repeat(10_000) } } });
    expect((await raw.closed).code).toBe(1009);
    expect(raw.messages).toEqual([]);
  });

  it("refuses an operation sent before connection_init (4401) and runs nothing", async () => {
    const raw = rawSocket(limited);
    await raw.opened;
    raw.send({ id: "1", type: "subscribe", payload: { query: `{ viewer { principal } }` } });
    // 4401 Unauthorized; on a host so busy that the server reads the frame after its 3 s wait for connection_init
    // has passed, 4408 (init timeout) comes first: refused either way.
    expect([4401, 4408]).toContain((await raw.closed).code);
    expect(raw.messages).toEqual([]);
  });

  it("limits subscriptions per connection and per member (RATE_LIMITED), and frees a slot when one ends", async () => {
    const seed = await seedOrganization(limited);
    await seed.fund(5_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const credential = (await seed.as(memberId!)).credential!;
    const first = await connected(limited, credential);
    const second = await connected(limited, credential);
    // The member's balance keeps changing, so every open subscription soon gets an event.
    let ticking = true;
    const ticker = (async () => {
      for (let limit = 600_000; ticking; limit = limit === 600_000 ? 700_000 : 600_000) {
        await seed.admin.execute(SET_ALLOCATION, { id: memberId, inference: limit });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    /**
     * The first answer to a new subscription: an event once it is open; refused, its errors (an `error` message
     * when graphql-ws refuses it, a result with errors when the operation does).
     */
    const outcome = async (raw: Awaited<ReturnType<typeof connected>>, id: string) => {
      raw.send({ id, type: "subscribe", payload: { query: BALANCE } });
      const message = await raw.waitFor((m) => m.id === id && (m.type === "next" || m.type === "error"));
      const errors = message.type === "error" ? message.payload : message.payload.errors;
      return errors ? { type: "refused", errors } : { type: "open", errors: [] };
    };
    try {
      expect(await outcome(first, "a")).toEqual({ type: "open", errors: [] });
      expect(await outcome(first, "b")).toEqual({ type: "open", errors: [] });
      const overConnection = await outcome(first, "c");
      expect(overConnection.type).toBe("refused");
      expect(overConnection.errors[0].extensions.code).toBe("RATE_LIMITED");
      expect(overConnection.errors[0].message).toMatch(/MAX_SUBSCRIPTIONS_PER_CONNECTION/);

      expect(await outcome(second, "d")).toEqual({ type: "open", errors: [] });
      const overMember = await outcome(second, "e");
      expect(overMember.type).toBe("refused");
      expect(overMember.errors[0].extensions.code).toBe("RATE_LIMITED");
      expect(overMember.errors[0].message).toMatch(/MAX_SUBSCRIPTIONS_PER_MEMBER/);

      // Ending one frees its slot (once the server has seen the complete).
      first.send({ id: "a", type: "complete" });
      let attempt = 0;
      while ((await outcome(second, `f${attempt}`)).type !== "open") attempt++;
    } finally {
      ticking = false;
      await ticker;
      for (const raw of [first, second]) raw.socket.close();
    }
  });

  it("authenticates once per connection, not on every subscribe", async () => {
    const seed = await seedOrganization(counted);
    await seed.fund(5_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    // Authentication of a member token reads the member's organisation and role.
    const authentications = () =>
      queries.filter((sql) => /"Member"/.test(sql) && /"role"/.test(sql) && /"organizationId"/.test(sql)).length;

    const raw = await connected(counted, member.credential!);
    const afterConnect = authentications();
    for (const id of ["1", "2", "3", "4", "5"]) raw.send({ id, type: "subscribe", payload: { query: BALANCE } });
    raw.send({ id: "q", type: "subscribe", payload: { query: `{ viewer { principal } }` } });
    expect((await raw.waitFor((message) => message.id === "q" && message.type === "next")).payload.data.viewer.principal).toBe("MEMBER");
    const afterSubscribes = authentications();

    // The five are open: each sees the next change.
    await seed.admin.execute(SET_ALLOCATION, { id: memberId, inference: 600_000 });
    // (Each first sends the current balance on subscribe, then the change.)
    for (const id of ["1", "2", "3", "4", "5"]) {
      const change = await raw.waitFor(
        (message) => message.id === id && message.type === "next" && message.payload.data.balanceChanged.limit === 600_000,
      );
      expect(change.payload.data.balanceChanged.limit).toBe(600_000);
    }
    expect(afterSubscribes).toBe(afterConnect);
    raw.socket.close();
  });
});

/** Opens a TCP connection, writes `head`, then trickles `byte` until the server closes; resolves with what it answered. */
function trickle(server: TestServer, head: string, byte: string): Promise<{ answer: string; trickled: number }> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(server.url);
    const socket = net.connect(Number(port), "127.0.0.1");
    let answer = "";
    let trickled = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.on("connect", () => {
      socket.write(head);
      timer = setInterval(() => {
        // Past a minute the server kept the connection: the limit is not kept (the default was five minutes).
        if (trickled++ > 300) {
          clearInterval(timer);
          socket.destroy();
          reject(new Error(`the server kept a trickling connection open; answered ${JSON.stringify(answer)}`));
          return;
        }
        if (!socket.destroyed) socket.write(byte);
      }, 200);
    });
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ answer, trickled });
    });
  });
}

describe("slow HTTP clients", () => {
  it("closes a request whose body trickles in past HTTP_REQUEST_TIMEOUT_SECONDS with 408", async () => {
    const head = `POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 4000\r\nAuthorization: Bearer ${OPERATOR_KEY}\r\n\r\n{"query":"`;
    const { answer } = await trickle(slow, head, " ");
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it("closes a request whose headers trickle in past HTTP_HEADERS_TIMEOUT_SECONDS with 408", async () => {
    const { answer } = await trickle(slow, `GET /health HTTP/1.1\r\nHost: localhost\r\n`, "X");
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it("closes an idle keep-alive connection after HTTP_KEEP_ALIVE_TIMEOUT_SECONDS", async () => {
    const { port } = new URL(slow.url);
    const socket = net.connect(Number(port), "127.0.0.1");
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk));
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.write(`GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`);
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toMatch(/keep-alive: timeout=1/i);
  });
});

const deep = `{ viewer { member { team { id } } } }`;
const aliases = `{ ${Array.from({ length: 6 }, (_, i) => `a${i}: viewer { principal }`).join(" ")} }`;
const tokens = `{ ${"a ".repeat(600)}}`;
const directives = `{ viewer { ${"principal @include(if: true) ".repeat(51)}} }`;
const costly = `{ ${"viewer { principal } ".repeat(40)}}`;

/** Each limit's refusal: every error is BAD_USER_INPUT naming the query, and one names the limit. */
function expectRefused(errors: { message: string; extensions?: Record<string, unknown> }[] | undefined, limit: RegExp) {
  expect(errors?.length).toBeGreaterThan(0);
  for (const error of errors!) expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "query" });
  expect(errors!.map((error) => error.message).join("\n")).toMatch(limit);
}

describe("query limits answer with a code", () => {
  const cases: [string, string, RegExp][] = [
    ["depth", deep, /depth/i],
    ["aliases", aliases, /alias/i],
    ["tokens", tokens, /token/i],
    ["directives", directives, /directive/i],
    ["cost", costly, /cost/i],
  ];

  it.each(cases)("refuses %s as BAD_USER_INPUT on the JSON path", async (_name, query, limit) => {
    expectRefused((await new Api(strict.url, OPERATOR_KEY).request(query)).errors, limit);
  });

  it.each(cases)("refuses %s as BAD_USER_INPUT through yoga (a browser's request)", async (_name, query, limit) => {
    const response = await fetch(`${strict.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "http://localhost:5173", authorization: `Bearer ${OPERATOR_KEY}` },
      body: JSON.stringify({ query }),
    });
    expectRefused(((await response.json()) as { errors: [] }).errors, limit);
  });

  it.each(cases)("refuses %s as BAD_USER_INPUT over WebSocket, keeping the connection", async (_name, query, limit) => {
    const raw = await connected(strict, OPERATOR_KEY);
    raw.send({ id: "limit", type: "subscribe", payload: { query } });
    const refused = await raw.waitFor((message) => message.id === "limit");
    expect(refused.type).toBe("error");
    expectRefused(refused.payload, limit);
    raw.send({ id: "ok", type: "subscribe", payload: { query: `{ viewer { principal } }` } });
    expect((await raw.waitFor((message) => message.id === "ok" && message.type === "next")).payload).toEqual({
      data: { viewer: { principal: "OPERATOR" } },
    });
    raw.socket.close();
  });
});
