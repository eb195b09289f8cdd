// The most subscriptions one member (or one service key, or the operator) holds open on this process, over every
// connection and transport (graphql-ws and SSE): one caller cannot take the event loop from the others.
import { isAsyncIterable, type Plugin } from "graphql-yoga";
import type { Principal } from "../auth/principal.ts";
import type { Context } from "../context.ts";
import { rateLimited } from "../errors.ts";
import { eventStreamOf } from "./subscription-events.ts";

function holderOf(principal: Principal): string | null {
  switch (principal.kind) {
    case "MEMBER":
      return `member:${principal.memberId}`;
    case "SERVICE":
      return `key:${principal.apiKeyId}`;
    case "OPERATOR":
      return "operator";
    default:
      return null;
  }
}

export function subscriptionLimitPlugin(limit: number): Plugin<Context> {
  const open = new Map<string, number>();
  const release = (holder: string) => {
    const left = (open.get(holder) ?? 1) - 1;
    if (left > 0) open.set(holder, left);
    else open.delete(holder);
  };
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const holder = holderOf((args.contextValue as Context).principal);
      if (!holder) return;
      const held = open.get(holder) ?? 0;
      if (held >= limit) {
        setResultAndStopExecution({
          errors: [rateLimited(`At most ${limit} subscriptions may be open at once (MAX_SUBSCRIPTIONS_PER_MEMBER); end one first.`, 1)],
        });
        return;
      }
      open.set(holder, held + 1);
      return {
        onSubscribeResult({ result, setResult }) {
          // An operation refused before it streamed (bad arguments, not found) holds nothing.
          if (!isAsyncIterable(result)) release(holder);
          else eventStreamOf(result, setResult).onEnd(() => release(holder));
        },
      };
    },
  };
}
