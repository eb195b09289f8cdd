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
//
// What ends with a subscription (its place under the per-member limit, the gauge, the watch on its credential) is
// attached to its one EventStream, not layered around it.

import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  type GraphQLError,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Principal } from "../auth/principal.ts";
import type { Context } from "../context.ts";
import { releaseCachesAfter, withOwnCaches } from "./execution-context.ts";

type Result = ExecutionResult | Promise<ExecutionResult>;

type Step = IteratorResult<ExecutionResult>;
const DONE: Step = { value: undefined, done: true };

/**
 * A subscription's stream as the transports see it: each source event executed, and what ends with the subscription
 * attached to it, in one iterator. Other plugins attach here (`eventStreamOf`) rather than through envelop's onEnd
 * or by wrapping the stream: every event of every socket passes each layer (10,000 a second at the fan-out bench's
 * scale), each layer keeps a pending promise chain per socket until the next event, and the young-generation
 * collections that promoted those chains were the largest pause in the fan-out load. A stop is answered by resolving
 * the waiting pull, not by racing each pull against a long-lived stop promise (a race leaves one reaction, and the
 * event it settled with, on that promise per event until the subscription ends).
 */
export class EventStream implements AsyncIterableIterator<ExecutionResult> {
  readonly #source: AsyncIterator<unknown>;
  readonly #execute: (event: unknown) => Result;
  readonly #onEnd: (() => void)[] = [];
  #ended = false;
  /** The last event, set when the stream is told to end with an error: sent at the next pull. */
  #final: ExecutionResult | null = null;
  /** The pull waiting for the source's next event. */
  #waiting: ((step: Step) => void) | null = null;
  /** The failure of the pull last made, for an event whose execution fails. */
  #reject: ((error: unknown) => void) | null = null;

  constructor(source: AsyncIterator<unknown>, execute: (event: unknown) => Result) {
    this.#source = source;
    this.#execute = execute;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Calls `handle` once when the stream ends, however it ends (at once if it has). */
  onEnd(handle: () => void): void {
    if (this.#ended) handle();
    else this.#onEnd.push(handle);
  }

  /** Ends the stream when `watch` calls its `end`, with that error as the last event; `watch` returns its own stop. */
  endWhen(watch: (end: (error: GraphQLError) => void) => () => void): void {
    if (this.#ended) return;
    // A watch may fire while it is being set up (a token expired already): its stop is then called at once.
    this.onEnd(
      watch((error) => {
        if (this.#ended || this.#final) return;
        this.#final = { errors: [error] };
        const waiting = this.#waiting;
        this.#waiting = null;
        waiting?.(this.#finalStep());
      }),
    );
  }

  /** One pull at a time, as `for await` pulls. */
  next(): Promise<Step> {
    if (this.#ended) return Promise.resolve(DONE);
    if (this.#final) return Promise.resolve(this.#finalStep());
    // What waits per socket between two events (a second at the fan-out bench's scale, so it is promoted to the old
    // generation): the pull's promise and the source's, no closures of its own.
    const { promise, resolve, reject } = Promise.withResolvers<Step>();
    this.#waiting = resolve;
    this.#reject = reject;
    this.#source.next().then(this.#onStep, this.#onSourceError);
    return promise;
  }

  readonly #onStep = (step: IteratorResult<unknown>): void => {
    const resolve = this.#waiting;
    // Ended or told to end meanwhile: that answer was given already.
    if (!resolve) return;
    this.#waiting = null;
    if (step.done) {
      this.#end();
      resolve(DONE);
      return;
    }
    let result: Result;
    try {
      result = this.#execute(step.value);
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (result instanceof Promise) result.then((value) => resolve({ value, done: false }), this.#fail);
    else resolve({ value: result, done: false });
  };

  readonly #onSourceError = (error: unknown): void => {
    if (!this.#waiting) return;
    this.#waiting = null;
    this.#fail(error);
  };

  /** Ends the stream and fails the pull being answered. */
  readonly #fail = (error: unknown): void => {
    const reject = this.#reject;
    this.#end();
    reject?.(error);
  };

  return(): Promise<Step> {
    this.#end();
    return Promise.resolve(DONE);
  }

  throw(error: unknown): Promise<Step> {
    this.#end();
    return Promise.reject(error);
  }

  #finalStep(): Step {
    const value = this.#final!;
    this.#end();
    return { value, done: false };
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.(DONE);
    void this.#source.return?.()?.catch(() => {});
    for (const handle of this.#onEnd.splice(0)) {
      try {
        handle();
      } catch (error) {
        console.error("A subscription's end handler failed:", error);
      }
    }
  }
}

/** The subscription's event stream, to attach to; a stream from elsewhere (another plugin's subscribe) is taken in once. */
export function eventStreamOf(result: AsyncIterable<unknown>, setResult: (stream: EventStream) => void): EventStream {
  if (result instanceof EventStream) return result;
  const stream = new EventStream(result[Symbol.asyncIterator](), (event) => event as ExecutionResult);
  setResult(stream);
  return stream;
}

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
  return withOwnCaches(Object.create(context) as object);
}

export function subscriptionEventsPlugin(): Plugin<Context> {
  // Event object → document → (operation, variables, caller) → its result. Weak on both: a result lives as long as
  // its event is referenced (by a subscriber's queue), and goes with it.
  const results = new WeakMap<object, WeakMap<DocumentNode, Map<string, Result>>>();

  const executeEvent = (args: ExecutionArgs, event: unknown): Result => {
    const contextValue = eventContext(args.contextValue as object);
    return releaseCachesAfter(contextValue, execute({ ...args, rootValue: event, contextValue }));
  };

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
        return new EventStream(
          source[Symbol.asyncIterator](),
          key === null ? (event: unknown) => executeEvent(eventArgs, event) : (event: unknown) => executeShared(eventArgs, key, event),
        );
      });
    },
  };
}
