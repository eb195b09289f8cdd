// Each event of a subscription is executed with caches of its own: nothing of an event stays with the subscription
// once it has been delivered, and its authorisation is decided for it, not remembered from the first event.
// (Before, Pothos's per-request caches lived on the subscription's one context: every event's parent object, and what
// hung off it, was kept until the subscription ended.)
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import SchemaBuilder from "@pothos/core";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import { createYoga, type Plugin } from "graphql-yoga";
import { describe, it } from "vitest";
import { BalanceChangedDocument, RecordUsageDocument, UpsertModelDocument } from "../../src/client/generated/graphql.ts";
import type { Context } from "../../src/context.ts";
import { subscriptionEventsPlugin } from "../../src/server/subscription-events.ts";
import { subscribe } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** How many of `refs` still reach their object after a full collection. */
const reachable = (refs: WeakRef<object>[]) => {
  gc();
  return refs.filter((ref) => ref.deref() !== undefined).length;
};

// Every execution result the server sends on a subscription, held weakly.
const sent: WeakRef<object>[] = [];
const observer: Plugin = {
  onSubscribe: () => ({
    onSubscribeResult: () => ({
      onNext: ({ result }) => {
        sent.push(new WeakRef(result as object));
      },
    }),
  }),
};
const server = await startServer({ yogaPlugins: [observer] });

describe("subscription events", () => {
  it("keeps nothing of a delivered balance event while the subscription stays open", async ({ expect }) => {
    const seed = await seedOrganization(server);
    await seed.fund(1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    const service = await seed.serviceKey();
    await seed.admin.execute(UpsertModelDocument, { input: { key: "m", inputPricePerMillion: "1.00", outputPricePerMillion: "1.00" } });
    const { subscription, client } = subscribe(member, BalanceChangedDocument, { kind: "INFERENCE" });
    try {
      await subscription.next();
      for (let i = 1; i <= 5; i++) {
        const { recordUsage } = await service.execute(RecordUsageDocument, {
          input: { memberId: memberId!, modelKey: "m", inputTokens: i, outputTokens: 0, idempotencyKey: `event-${i}` },
        });
        await subscription.next((event) => event.balanceChanged.version === recordUsage.balance.version);
      }
      expect(sent).toHaveLength(6);
      // The newest may still be on its way through the socket's write.
      await expect.poll(() => reachable(sent.slice(0, -1)), { timeout: 10_000 }).toBe(0);
    } finally {
      subscription.close();
      await client.dispose();
    }
  });

  it("authorises every event afresh and releases each once it is sent", async ({ expect }) => {
    let checks = 0;
    // The option types are those of this project's builder, Prisma's included; this schema has no Prisma.
    const builder = new SchemaBuilder<{ Context: Context; AuthScopes: { allowed: string } }>({
      plugins: [ScopeAuthPlugin],
      scopeAuth: {
        authorizeOnSubscribe: true,
        authScopes: () => ({
          allowed: () => {
            checks++;
            return true;
          },
        }),
      },
    } as never);
    interface Item {
      n: number;
    }
    const ItemRef = builder.objectRef<Item>("Item").implement({
      // Decided per parent object, with a loader argument that is the same for every event.
      authScopes: () => ({ allowed: "items" }),
      fields: (t) => ({ n: t.exposeInt("n") }),
    });
    const items: WeakRef<Item>[] = [];
    let end = () => {};
    const ended = new Promise<void>((resolve) => (end = resolve));
    builder.queryType({ fields: (t) => ({ ok: t.boolean({ resolve: () => true }) }) });
    builder.subscriptionType({
      fields: (t) => ({
        items: t.field({
          type: ItemRef,
          subscribe: async function* () {
            for (let n = 1; n <= 5; n++) {
              const item = { n };
              items.push(new WeakRef(item));
              yield item;
            }
            await ended;
          },
          resolve: (item) => item as Item,
        }),
      }),
    });
    const yoga = createYoga({
      schema: builder.toSchema(),
      plugins: [subscriptionEventsPlugin() as Plugin],
      context: { principal: { kind: "OPERATOR" } },
      logging: false,
    });
    const response = await yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: "subscription { items { n } }" }),
    });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    try {
      while ((text.match(/^event: next$/gm) ?? []).length < 5) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      expect([...text.matchAll(/"n":(\d+)/g)].map((match) => Number(match[1]))).toEqual([1, 2, 3, 4, 5]);
      expect(checks).toBe(5);
      await expect.poll(() => reachable(items.slice(0, -1)), { timeout: 10_000 }).toBe(0);
    } finally {
      end();
      await reader.cancel();
    }
  });
});
