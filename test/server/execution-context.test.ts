// What an operation is executed with: a context of its own that carries the caller and the runtime but nothing of the
// request (yoga's request, response and parameters), with Pothos caches keyed apart from it and let go of once the
// execution is done, so that those caches do not keep the request alive (execution-context.ts says why).
import { contextCacheSymbol } from "@pothos/core";
import { RequestCache } from "@pothos/plugin-scope-auth";
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from "graphql";
import { createYoga } from "graphql-yoga";
import { describe, expect, it } from "vitest";
import { builder } from "../../src/builder.ts";
import type { Context } from "../../src/context.ts";
import { executionContextPlugin, releaseCachesAfter, withOwnCaches } from "../../src/server/execution-context.ts";

type Seen = { keys: string[]; cacheKey: unknown; context: Record<string | symbol, unknown> };

/** A yoga whose one field records the context it is resolved with; its context is what ours carries, plus yoga's. */
function server() {
  const seen: Seen[] = [];
  const principal = { kind: "OPERATOR" } as unknown as Context["principal"];
  const runtime = {} as Context["runtime"];
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({
      name: "Query",
      fields: {
        who: {
          type: GraphQLString,
          resolve: async (_root, _args, context: Record<string | symbol, unknown>) => {
            await new Promise((resolve) => setTimeout(resolve, 5));
            seen.push({ keys: Object.keys(context), cacheKey: context[contextCacheSymbol], context });
            return (context.principal as { kind: string }).kind;
          },
        },
      },
    }),
  });
  const yoga = createYoga({
    schema,
    context: () => ({ principal, runtime, requestId: "request-1" }),
    plugins: [executionContextPlugin()],
    logging: false,
  });
  return { yoga, seen, principal, runtime };
}

describe("an operation's execution context", () => {
  it("carries the caller, the runtime and the request id, and nothing of the request", async () => {
    const { yoga, seen, principal, runtime } = server();
    const response = await yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ who }" }),
    });
    expect(await response.json()).toEqual({ data: { who: "OPERATOR" } });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.keys.sort()).toEqual(["principal", "requestId", "runtime"]);
    expect(seen[0]!.context.principal).toBe(principal);
    expect(seen[0]!.context.runtime).toBe(runtime);
    expect(seen[0]!.context.requestId).toBe("request-1");
  });

  it("keys its Pothos caches apart while it executes, and lets go of that key once it is done", async () => {
    const { yoga, seen } = server();
    await Promise.all(
      [1, 2].map(() =>
        yoga.fetch("http://localhost/graphql", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: "{ who }" }),
        }),
      ),
    );
    expect(seen).toHaveLength(2);
    // While resolving, each had a key of its own; after, neither holds one.
    expect(typeof seen[0]!.cacheKey).toBe("object");
    expect(seen[0]!.cacheKey).not.toBe(seen[1]!.cacheKey);
    for (const { context } of seen) expect(context[contextCacheSymbol]).toBeUndefined();
  });
});

describe("releaseCachesAfter", () => {
  const keyOf = (context: object) => (context as Record<symbol, unknown>)[contextCacheSymbol];

  it("lets go at once of a result already there", () => {
    const context = withOwnCaches({});
    expect(keyOf(context)).toBeTypeOf("object");
    const result = { data: {} };
    expect(releaseCachesAfter(context, result)).toBe(result);
    expect(keyOf(context)).toBeUndefined();
  });

  it("lets go once a promised result settles, resolved or rejected, and not before", async () => {
    let resolve!: (value: { data: object }) => void;
    const context = withOwnCaches({});
    const settled = releaseCachesAfter(context, new Promise<{ data: object }>((r) => (resolve = r)));
    expect(keyOf(context)).toBeTypeOf("object");
    resolve({ data: {} });
    await expect(settled).resolves.toEqual({ data: {} });
    expect(keyOf(context)).toBeUndefined();

    const failing = withOwnCaches({});
    const error = new Error("execution failed");
    await expect(releaseCachesAfter(failing, Promise.reject(error))).rejects.toBe(error);
    expect(keyOf(failing)).toBeUndefined();
  });

  it("drops the authorisation cache outright, not only its key", () => {
    const context = withOwnCaches({ principal: { kind: "OPERATOR" } });
    const key = keyOf(context);
    const cache = RequestCache.fromContext(context, builder as never);
    expect(RequestCache.fromContext({ [contextCacheSymbol]: key }, builder as never)).toBe(cache);
    releaseCachesAfter(context, { data: {} });
    // Looked up by the same key again, it is gone: the WeakMap no longer holds it for the scavenger to copy.
    expect(RequestCache.fromContext({ [contextCacheSymbol]: key }, builder as never)).not.toBe(cache);
  });

  it("waits for any thenable, not only a native promise", async () => {
    let settle!: (value: { data: object }) => void;
    const thenable = {
      // biome-ignore lint/suspicious/noThenProperty: a thenable that is not a native promise is the point.
      then<T>(onFulfilled: (value: { data: object }) => T) {
        return new Promise<{ data: object }>((resolve) => (settle = resolve)).then(onFulfilled);
      },
    } as unknown as Promise<{ data: object }>;
    const context = withOwnCaches({});
    const settled = releaseCachesAfter(context, thenable);
    expect(keyOf(context)).toBeTypeOf("object");
    settle({ data: {} });
    await settled;
    expect(keyOf(context)).toBeUndefined();
  });

  it("keeps the key of a streamed result, which is still executing", async () => {
    const stream = (async function* () {
      yield { data: {} };
    })();
    const context = withOwnCaches({});
    expect(releaseCachesAfter(context, stream)).toBe(stream);
    const promised = withOwnCaches({});
    await releaseCachesAfter(promised, Promise.resolve(stream));
    expect(keyOf(context)).toBeTypeOf("object");
    expect(keyOf(promised)).toBeTypeOf("object");
  });

  it("gives an event's context caches of its own, over what it inherits", () => {
    const subscription = withOwnCaches({ principal: "p" });
    const event = withOwnCaches(Object.create(subscription) as { principal: string });
    expect(event.principal).toBe("p");
    expect(keyOf(event)).not.toBe(keyOf(subscription));
    releaseCachesAfter(event, { data: {} });
    // Released, the event no longer falls back to the subscription's caches either.
    expect(keyOf(event)).toBeUndefined();
    expect(keyOf(subscription)).toBeTypeOf("object");
  });
});
