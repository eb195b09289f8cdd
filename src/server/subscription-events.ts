// How each event of a subscription is executed. A subscription keeps one context for its whole life, and Pothos keys
// its per-request caches on the context: authorisation results by parent object (every event is a new parent) and
// scope loaders by argument. Left alone, a subscription open for a day kept every event it had executed, and the
// executions that hung off them, until it ended; and an authorisation decided for the first event held for the last.
// Here every event is executed with a context of its own: the subscription's caller and runtime, fresh caches.
//
// Events are also executed once for all who would get the same answer. The ten sockets of one member watching its
// balance receive the same event object (members/live.ts hands one view to every subscriber of the member) with the
// same document, variables and caller: their execution results are equal, so the first subscriber's is reused. A root
// subscription field opts in with the extension `sharedExecution: true`: its selection must depend only on the event
// and on who the caller is (no clock, no per-connection state).

import { mapAsyncIterator } from "@graphql-tools/utils";
import { initContextCache } from "@pothos/core";
import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Principal } from "../auth/principal.ts";
import type { Context } from "../context.ts";

type Result = ExecutionResult | Promise<ExecutionResult>;

/** Whether the one root field of the document's subscription opted in to shared execution. */
function opted(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): boolean {
  const operation = document.definitions.find(
    (definition): definition is OperationDefinitionNode =>
      definition.kind === Kind.OPERATION_DEFINITION && (!operationName || definition.name?.value === operationName),
  );
  const selections = operation?.selectionSet.selections ?? [];
  if (operation?.operation !== "subscription" || selections.length !== 1 || selections[0]!.kind !== Kind.FIELD) return false;
  const field = schema.getSubscriptionType()?.getFields()[selections[0]!.name.value];
  return field?.extensions?.sharedExecution === true;
}

/** Who the caller is, as far as a field's authorisation can tell: never the token's times (their end closes the stream). */
function callerKey(principal: Principal): string {
  switch (principal.kind) {
    case "MEMBER":
      return `member:${principal.memberId}:${principal.organizationId}:${principal.role}:${principal.suspended}`;
    case "SERVICE":
      return `key:${principal.apiKeyId}:${principal.organizationId}`;
    default:
      return principal.kind;
  }
}

/** The subscription's context for one event: its properties inherited, Pothos's context caches new. */
function eventContext(context: object): object {
  return Object.assign(Object.create(context) as object, initContextCache());
}

export function subscriptionEventsPlugin(): Plugin<Context> {
  // Event object → document → (operation, variables, caller) → its result. Weak on both: a result lives as long as
  // its event is referenced (by a subscriber's queue), and goes with it.
  const results = new WeakMap<object, WeakMap<DocumentNode, Map<string, Result>>>();

  const executeEvent = (args: ExecutionArgs, event: unknown): Result =>
    execute({ ...args, rootValue: event, contextValue: eventContext(args.contextValue as object) });

  const executeShared = (args: ExecutionArgs, key: string, event: unknown): Result => {
    if (typeof event !== "object" || event === null) return executeEvent(args, event);
    let byDocument = results.get(event);
    if (!byDocument) {
      byDocument = new WeakMap();
      results.set(event, byDocument);
    }
    let byKey = byDocument.get(args.document);
    if (!byKey) {
      byKey = new Map();
      byDocument.set(args.document, byKey);
    }
    const known = byKey.get(key);
    if (known) return known;
    const result = executeEvent(args, event);
    byKey.set(key, result);
    return result;
  };

  return {
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      const { schema, document, operationName } = args;
      const key = opted(schema, document, operationName)
        ? `${operationName ?? ""}\u0000${JSON.stringify(args.variableValues ?? {})}\u0000${callerKey(args.contextValue.principal)}`
        : null;
      setSubscribeFn(async (subscribeArgs) => {
        // graphql-js's own two steps of a subscription: the source stream (the field's subscribe, with its
        // authorisation), then each event executed.
        const source = await createSourceEventStream(subscribeArgs as ExecutionArgs);
        // Refused before it streamed (variables, authorisation, not found): the engine's own answer, as for any other
        // operation (its errors carry the HTTP status and codes the engine gives them).
        if (!(Symbol.asyncIterator in source)) return subscribeFn(subscribeArgs);
        const eventArgs = subscribeArgs as ExecutionArgs;
        return mapAsyncIterator(
          source,
          key === null ? (event: unknown) => executeEvent(eventArgs, event) : (event: unknown) => executeShared(eventArgs, key, event),
        );
      });
    },
  };
}
