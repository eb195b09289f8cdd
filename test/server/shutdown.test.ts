// Graceful stop: requests already in flight finish and commit; subscribers are told the server is going away.

import type { Plugin } from "graphql-yoga";
import { describe, it } from "vitest";
import { BalanceChangedDocument, PurchaseTokensDocument } from "../../src/client/generated/graphql.ts";
import { subscribe } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

// Resolves once the server executes its first operation after `watching` is set: the stop below begins with
// requests in flight, however slow the machine.
let watching = false;
let executing = () => {};
const firstExecuted = new Promise<void>((resolve) => (executing = resolve));
const observer: Plugin = {
  onExecute: () => {
    if (watching) executing();
  },
};
const server = await startServer({ yogaPlugins: [observer] });

describe("graceful shutdown", () => {
  it("finishes in-flight mutations and closes WebSockets with 1001", async ({ expect }) => {
    const seed = await seedOrganization(server);
    const [memberId] = await (async () => {
      await seed.fund(1_000_000);
      return seed.addMembers([{}]);
    })();
    const member = await seed.as(memberId!);
    const { subscription, client } = subscribe(member, BalanceChangedDocument);
    await subscription.next();

    watching = true;
    const inFlight = Array.from({ length: 20 }, () => seed.admin.request(PurchaseTokensDocument, { tokens: 1_000_000 }));
    await firstExecuted;
    const stopped = server.app.stop();
    const results = await Promise.allSettled(inFlight);
    await stopped;

    // Every purchase either completed (and was committed) or was refused before it started: none is half-done.
    const completed = results.filter((r) => r.status === "fulfilled" && r.value.data?.purchaseTokens?.tokens === 1_000_000);
    expect(completed.length).toBeGreaterThan(0);
    for (const result of results) {
      if (result.status === "fulfilled") expect(result.value.errors).toBeUndefined();
    }
    await expect.poll(() => subscription.errors.length, { timeout: 50_000 }).toBeGreaterThan(0);
    expect((subscription.errors[0] as { code?: number }).code).toBe(1001);
    await client.dispose();
  });
});
