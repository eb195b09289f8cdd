// The contexts operations are executed with, and how long Pothos's caches hold them.
//
// Pothos keeps an execution's caches (authorisation results by parent object, scope loaders, plugin data) in
// module-level WeakMaps keyed by the context, and those caches hold the context. V8's young-generation collector (the
// scavenger) treats the values of a WeakMap as live whatever becomes of their key, so each execution's caches, and
// with them its context and everything the context held (yoga's: the Node request and response, the parsed
// parameters; the results the caches keyed), outlived the request and were promoted to the old generation to wait
// for a full collection. At 2,000 recordUsage calls a second that was 3–4 MB promoted per scavenge, and scavenges
// that paused the server 8–20 ms each.
//
// So an execution gets a context of its own, with a key object for the Pothos caches (Pothos looks for
// `contextCacheSymbol` before the context itself), and lets go of it once it is done. The authorisation cache, which
// keeps every parent object it judged, is deleted outright (a dead key's entry is still copied once by the next
// scavenge); the others' entries go at the next scavenge, their key being held by nothing. A query's or mutation's
// context carries only what resolvers use. Measured at 2,000 recordUsage calls a second: 0.5 MB survived a scavenge
// instead of 4.5, 0.2 MB was promoted instead of 3–4, and a scavenge paused the server about 2 ms instead of 8–20.
import { contextCacheSymbol, initContextCache } from "@pothos/core";
import { RequestCache } from "@pothos/plugin-scope-auth";
import { isAsyncIterable, type Plugin } from "graphql-yoga";
import type { Context } from "../context.ts";

/** `context` with Pothos caches of its own. */
export function withOwnCaches<T extends object>(context: T): T {
  return Object.assign(context, initContextCache());
}

/**
 * `result`, after which `context`'s Pothos caches are let go of (a later use would start caches keyed by the context
 * itself). A streamed result (@defer, @stream) is still executing: its caches go with its context.
 */
export function releaseCachesAfter<R>(context: object, result: R | Promise<R>): R | Promise<R> {
  const release = () => {
    RequestCache.clearForContext(context);
    (context as Record<symbol, unknown>)[contextCacheSymbol] = undefined;
  };
  const done = (settled: R): R => {
    if (!isAsyncIterable(settled)) release();
    return settled;
  };
  // Any thenable, not only a native promise: the executor may answer with promise-helpers' own.
  if (!isThenable(result)) return done(result);
  return result.then(done, (error: unknown) => {
    release();
    throw error;
  });
}

const isThenable = <R>(value: R | Promise<R>): value is Promise<R> => typeof (value as { then?: unknown } | null)?.then === "function";

/** Queries and mutations are executed with a context of their own (subscriptions' events: subscription-events.ts). */
export function executionContextPlugin(): Plugin<Context> {
  return {
    onExecute({ executeFn, setExecuteFn }) {
      setExecuteFn((args) => {
        const { principal, runtime, requestId } = args.contextValue as Context;
        const contextValue = withOwnCaches<Context>({ principal, runtime, requestId });
        return releaseCachesAfter(contextValue, executeFn({ ...args, contextValue }));
      });
    },
  };
}
