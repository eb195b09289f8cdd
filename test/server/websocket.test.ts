// graphql-ws as chat apps use it: authenticated once, at connect (test/server/limits.test.ts pins that).

import { print } from "graphql";
import { createClient } from "graphql-ws";
import { describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import {
  ActivatePresetDocument,
  BalanceChangedDocument,
  type BalanceChangedSubscription,
  CreateApiKeyDocument,
  RevokeApiKeyDocument,
  SetAllocationDocument,
} from "../../src/client/generated/graphql.ts";
import { Api, pick, Subscription, subscribe } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

/** The client's balance subscription as text, for the stock graphql-ws client. */
const BALANCE = print(BalanceChangedDocument);

describe("subscriptions over graphql-ws", () => {
  it("refuses an invalid credential so that the stock graphql-ws client reports it at once, without retrying", async () => {
    // The client as apps create it: default retries (5, with back-off over ~40 s for a retryable close).
    let connecting = 0;
    const client = createClient({
      url: `${server.url.replace(/^http/, "ws")}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: "Bearer not-a-valid-token" },
      on: { connecting: () => connecting++ },
    });
    const outcome = await new Promise<unknown>((resolve) => {
      client.subscribe(
        { query: BALANCE, variables: { kind: "INFERENCE" } },
        { next: () => resolve("event"), error: resolve, complete: () => resolve("complete") },
      );
    });
    expect((outcome as { code?: number }).code).toBe(4401);
    expect(connecting).toBe(1);
    await client.dispose();
  });

  it("takes the credential where Apollo's and urql's docs put it in connection_init", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    const bearer = `Bearer ${member.credential}`;
    for (const connectionParams of [
      { authorization: bearer },
      { Authorization: bearer },
      { headers: { authorization: bearer } },
      { headers: { Authorization: bearer } },
    ]) {
      const client = member.ws({ connectionParams });
      const subscription = new Subscription(client, BalanceChangedDocument, { kind: "INFERENCE" });
      const event = pick((await subscription.next()).balanceChanged, "kind", "limit");
      expect({ connectionParams, event }).toEqual({ connectionParams, event: { kind: "INFERENCE", limit: 500_000 } });
      subscription.close();
      await client.dispose();
    }
  });

  it("streams the member's own balance as an admin changes it (the live token indicator)", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{ name: "Grace" }]);
    const member = await seed.as(memberId!);
    const { subscription, client } = subscribe(member, BalanceChangedDocument, { kind: "INFERENCE" });
    // The current balance, sent once the subscription listens: what changes after it arrives as an event.
    await subscription.next();
    await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, inference: 750_000 } });
    const event = await subscription.next((e) => e.balanceChanged.limit === 750_000);
    expect(pick(event.balanceChanged, "kind", "limit", "used", "remaining")).toEqual({
      kind: "INFERENCE",
      limit: 750_000,
      used: 0,
      remaining: 750_000,
    });
    subscription.close();
    await client.dispose();
  });

  it("gives each of a member's subscribers its own selection when they share an event's execution", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    // Same document and variables from two sockets of the member and from its admin; another selection with the same
    // variables and caller beside them.
    const watchers = [
      subscribe(member, BALANCE, { memberId }),
      subscribe(member, BALANCE, { memberId }),
      subscribe(seed.admin, BALANCE, { memberId }),
      subscribe(member, `subscription($memberId: ID) { balanceChanged(memberId: $memberId, kind: INFERENCE) { used floor } }`, {
        memberId,
      }),
    ];
    // Each has its current balance, sent once it listens: the change below reaches all four as an event.
    for (const { subscription } of watchers) await subscription.next();
    await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, inference: 800_000 } });
    for (const { subscription } of watchers.slice(0, 3)) {
      expect((await subscription.next((e) => e.balanceChanged.limit === 800_000)).balanceChanged).toEqual({
        kind: "INFERENCE",
        limit: 800_000,
        used: 0,
        reserved: 0,
        remaining: 800_000,
        floor: 500_000,
        ceiling: 5_000_000,
        lastAutoIncreaseAt: null,
        version: 2,
      });
    }
    // Its current value on subscribe, then the change's event: each with its own selection, never another's.
    await vi.waitFor(() => expect(watchers[3]!.subscription.events.length).toBe(2), { timeout: 10_000 });
    expect(watchers[3]!.subscription.events.map((event) => event.balanceChanged)).toEqual([
      { used: 0, floor: 500_000 },
      { used: 0, floor: 500_000 },
    ]);
    for (const { subscription, client } of watchers) {
      subscription.close();
      await client.dispose();
    }
  });

  it("shows the floor and ceiling in force at each event, also after a policy change mid-subscription", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(5_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    const { subscription, client } = subscribe(member, BalanceChangedDocument, { kind: "INFERENCE" });
    const limits = (event: BalanceChangedSubscription) => pick(event.balanceChanged, "limit", "floor", "ceiling");
    await subscription.next();
    await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, inference: 600_000 } });
    expect(limits(await subscription.next((e) => e.balanceChanged.limit === 600_000))).toEqual({
      limit: 600_000,
      floor: 500_000,
      ceiling: 5_000_000,
    });
    await seed.admin.execute(ActivatePresetDocument, { preset: "CONSERVATIVE" });
    await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, inference: 700_000 } });
    expect(limits(await subscription.next((e) => e.balanceChanged.limit === 700_000))).toEqual({
      limit: 700_000,
      floor: 200_000,
      ceiling: 1_000_000,
    });
    subscription.close();
    await client.dispose();
  });

  it("hides other members' balances from a plain member and other organisations' from admins", async ({ expect }) => {
    const [seed, other] = await Promise.all([seedOrganization(server), seedOrganization(server)]);
    await seed.fund(2_000_000);
    const [alice, bob] = await seed.addMembers([{}, {}]);
    const asAlice = await seed.as(alice!);
    const denied = subscribe(asAlice, BalanceChangedDocument, { memberId: bob, kind: "INFERENCE" });
    await expect.poll(() => denied.subscription.errors.length, { timeout: 50_000 }).toBeGreaterThan(0);
    expect(JSON.stringify(denied.subscription.errors[0])).toContain("NOT_FOUND");
    await denied.client.dispose();

    const foreign = subscribe(other.admin, BalanceChangedDocument, { memberId: alice, kind: "INFERENCE" });
    await expect.poll(() => foreign.subscription.errors.length, { timeout: 50_000 }).toBeGreaterThan(0);
    expect(JSON.stringify(foreign.subscription.errors[0])).toContain("NOT_FOUND");
    await foreign.client.dispose();
  });

  it("a revoked service key cannot subscribe again on its open connection", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const { createApiKey } = await seed.admin.execute(CreateApiKeyDocument, { name: "chat app" });
    const service = new Api(server.url, createApiKey.secret);
    // Keep the one connection open between the two subscribes.
    const client = service.ws({ lazyCloseTimeout: 60_000 });
    const first = await new Promise<unknown>((resolve) => {
      const dispose = client.subscribe(
        { query: BALANCE, variables: { memberId, kind: "INFERENCE" } },
        { next: () => {}, error: resolve, complete: () => resolve("complete") },
      );
      setTimeout(() => {
        dispose();
        resolve("open");
      }, 300);
    });
    expect(first).toBe("open");
    await seed.admin.execute(RevokeApiKeyDocument, { id: createApiKey.id });
    const second = await new Promise<unknown>((resolve) => {
      client.subscribe(
        { query: BALANCE, variables: { memberId, kind: "INFERENCE" } },
        { next: () => {}, error: resolve, complete: () => resolve("complete") },
      );
      setTimeout(() => resolve("open"), 2000);
    });
    // The revocation closed the connection itself (4403, the reason names the code); a subscribe on it cannot start.
    const closed = second as { code?: number; reason?: string };
    expect(closed.code).toBe(4403);
    expect(closed.reason).toContain("UNAUTHENTICATED");
    await client.dispose();
  });
});
