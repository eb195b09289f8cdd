// tokenwarden/client against a real server, as a chat app's backend uses it: the hot path with idempotency keys
// and retries over a network that loses answers, and the token indicator across a dropped connection.

import { type Balance, createTokenwardenClient, type DenialReason, TokenwardenError } from "tokenwarden/client";
import { describe, expect, it } from "vitest";
import { RecordUsageDocument } from "../../src/client/generated/graphql.ts";
import { startServer, type TestServer } from "../support/server.ts";
import { startTcpProxy } from "../support/tcp-proxy.ts";
import { usageOrganization } from "../usage/setup.ts";

// At the top level, so that startServer's afterAll (stop the server, drop its database) is registered with the file.
const server: TestServer = await startServer();

async function chatApp() {
  const org = await usageOrganization(server);
  await org.model("gpt-4o-mini", { input: "0.15", output: "0.60" });
  const proxy = await startTcpProxy(server.url);
  const client = createTokenwardenClient({
    url: `${proxy.url}/graphql`,
    credential: org.service.credential!,
    retry: { attempts: 5, baseDelayMs: 20 },
  });
  return { org, proxy, client };
}

/** Collects the balances a watch reports; `until` waits for one that matches. */
function collector() {
  const seen: Balance[] = [];
  const waiters: { match: (balance: Balance) => boolean; resolve: (balance: Balance) => void }[] = [];
  return {
    seen,
    onBalance(balance: Balance) {
      seen.push(balance);
      for (const waiter of waiters.splice(0)) {
        if (waiter.match(balance)) waiter.resolve(balance);
        else waiters.push(waiter);
      }
    },
    until(match: (balance: Balance) => boolean): Promise<Balance> {
      const found = seen.find(match);
      return found ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

describe("tokenwarden/client", () => {
  it("authorizes, commits and releases; a denial is a typed reason, not an error", async () => {
    const { org, client } = await chatApp();
    const allowed = await client.authorize({ memberId: org.memberId, modelKey: "gpt-4o-mini", estimatedTokens: 2000 });
    expect(allowed).toMatchObject({ allowed: true, routedModel: "gpt-4o-mini", fellBack: false });
    if (!allowed.allowed) throw new Error("expected an allowed authorization");
    const receipt = await client.commit({ reservationId: allowed.reservationId, inputTokens: 1200, outputTokens: 300, app: "chat" });
    expect(receipt).toMatchObject({ tokens: 1500, cost: expect.any(String), balance: { used: 1500, reserved: 0 } });

    const held = await client.authorize({ memberId: org.memberId, modelKey: "gpt-4o-mini", estimatedTokens: 1000 });
    if (!held.allowed) throw new Error("expected an allowed authorization");
    expect(await client.release(held.reservationId)).toBe(true);
    expect(await client.release(held.reservationId)).toBe(false);
    expect(await org.balance()).toMatchObject({ used: 1500, reserved: 0 });

    const denied = await client.authorize({ memberId: org.memberId, modelKey: "gpt-4o-mini", estimatedTokens: 100_000_000 });
    const reason: DenialReason | null = denied.allowed ? null : denied.reason;
    expect(reason).toBe("INSUFFICIENT_BALANCE");
  });

  it("retries a record whose answer was lost with the same idempotency key, so it is charged once", async () => {
    const { org, proxy, client } = await chatApp();
    proxy.loseNextAnswers(2);
    const before = proxy.connections;
    const receipt = await client.record({ memberId: org.memberId, modelKey: "gpt-4o-mini", inputTokens: 700, outputTokens: 300 });
    // Three connections: two whose answers were lost after the server had charged, then the one that answered.
    expect(proxy.connections - before).toBe(3);
    expect(receipt.tokens).toBe(1000);
    expect(await org.balance()).toMatchObject({ used: 1000 });
  });

  it("retries a commit through a connection outage and gives up with NETWORK_ERROR when it lasts", async () => {
    const { org, proxy, client } = await chatApp();
    const allowed = await client.authorize({ memberId: org.memberId, modelKey: "gpt-4o-mini", estimatedTokens: 500 });
    if (!allowed.allowed) throw new Error("expected an allowed authorization");
    proxy.loseNextAnswers(1);
    const receipt = await client.commit({
      reservationId: allowed.reservationId,
      inputTokens: 100,
      outputTokens: 50,
      idempotencyKey: "call-7",
    });
    expect(receipt.balance).toMatchObject({ used: 150, reserved: 0 });

    proxy.setDown(true);
    const error = await client.record({ memberId: org.memberId, modelKey: "gpt-4o-mini", inputTokens: 1, outputTokens: 1 }).catch((e) => e);
    proxy.setDown(false);
    expect(error).toBeInstanceOf(TokenwardenError);
    expect(error.code).toBe("NETWORK_ERROR");
    expect(await org.balance()).toMatchObject({ used: 150 });
  });

  it("does not retry a refusal", async () => {
    const { org, proxy, client } = await chatApp();
    const before = proxy.connections;
    const error = (await client
      .record({ memberId: org.memberId, modelKey: "no-such-model", inputTokens: 1, outputTokens: 1 })
      .catch((e: unknown) => e)) as TokenwardenError;
    expect(error).toBeInstanceOf(TokenwardenError);
    expect(error.code).not.toBe("NETWORK_ERROR");
    expect(proxy.connections - before).toBeLessThanOrEqual(1);
  });

  it("watchBalance starts with the current value and resumes with it after a dropped connection", async () => {
    const { org, proxy, client } = await chatApp();
    const watched = collector();
    const watch = client.watchBalance(org.memberId, watched.onBalance, { onError: (error) => console.error(error) });
    try {
      await watched.until((balance) => balance.used === 0 && balance.limit > 0);
      await client.record({ memberId: org.memberId, modelKey: "gpt-4o-mini", inputTokens: 100, outputTokens: 0 });
      await watched.until((balance) => balance.used === 100);

      // The connection drops; usage happens while the watch is away (straight to the server, not through the proxy).
      proxy.setDown(true);
      await org.service.execute(RecordUsageDocument, {
        input: { memberId: org.memberId, modelKey: "gpt-4o-mini", inputTokens: 250, outputTokens: 0, idempotencyKey: "while-away" },
      });
      proxy.setDown(false);
      // Nothing changes after the reconnect: only the client's resume can show the 350.
      const resumed = await watched.until((balance) => balance.used === 350);
      expect(resumed.remaining).toBe(resumed.limit - 350);
      expect(watched.seen.at(-1)!.used).toBe(350);
      // Never a value older than, or the same as, one already shown (the re-read after the reconnect included).
      const versions = watched.seen.map((balance) => balance.version);
      expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
    } finally {
      watch.stop();
      await client.close();
    }
  });
});
