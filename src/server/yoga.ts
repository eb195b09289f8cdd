// The GraphQL engine: yoga with query limits, error masking, metrics and one context factory for HTTP and WebSocket.
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { GraphQLError, type GraphQLSchema } from "graphql";
import { createYoga, isAsyncIterable, type Plugin, Repeater, type YogaServerInstance } from "graphql-yoga";
import type { CredentialWatch } from "../auth/credential-watch.ts";
import type { Context } from "../context.ts";
import { AppError } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import type { Metrics } from "./metrics.ts";

/** What yoga passes to the context factory: an HTTP request, or graphql-ws connection params; `req` in both. */
interface ServerContext {
  request?: Request;
  req?: IncomingMessage;
  connectionParams?: Record<string, unknown>;
}

/** The client's address, as failed authentications are counted per address. */
export function clientAddress(request: IncomingMessage | undefined): string {
  return request?.socket.remoteAddress ?? "unknown";
}

export type Yoga = YogaServerInstance<ServerContext, Context>;

/** Input coercion failures (our scalars, enums, missing fields) are the caller's mistake: BAD_USER_INPUT. */
const INPUT_ERROR =
  /^(Variable "\$[^"]+" got invalid value|Variable "\$[^"]+" of required type|Expected value of type|Argument "[^"]+" of required type|Field "[^"]+" of required type|Int cannot represent|Enum "[^"]+" cannot represent)/;

function inputErrorPlugin(): Plugin {
  const relabel = (errors: readonly Error[]) => {
    for (const error of errors) {
      if (error instanceof GraphQLError && !error.extensions.code && INPUT_ERROR.test(error.message)) {
        (error.extensions as Record<string, unknown>).code = "BAD_USER_INPUT";
      }
    }
  };
  return {
    onValidate:
      () =>
      ({ result }) => {
        relabel(result);
      },
    onExecute: () => ({
      onExecuteDone: ({ result }) => {
        if ("errors" in result && result.errors) relabel(result.errors);
      },
    }),
  };
}

/**
 * A subscription ends with its credential's right (token expiry, revocation, suspension), with an UNAUTHENTICATED
 * error as its last event, over every transport (SSE and graphql-ws alike).
 */
function endWithCredentialPlugin(credentials: CredentialWatch): Plugin {
  return {
    onSubscribe: ({ args }) => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (!isAsyncIterable(result)) return;
        const { principal } = args.contextValue as unknown as Context;
        setResult(untilRevoked(result, (end) => credentials.watch(principal, end)));
      },
    }),
  };
}

function untilRevoked<T>(source: AsyncIterable<T>, watch: (end: (reason: AppError) => void) => () => void) {
  return new Repeater<T | { errors: AppError[] }>(async (push, stop) => {
    const iterator = source[Symbol.asyncIterator]();
    const unwatch = watch((reason) => {
      void push({ errors: [reason] });
      stop();
    });
    void stop.then(() => {
      unwatch();
      void iterator.return?.();
    });
    try {
      for (;;) {
        const next = await Promise.race([iterator.next(), stop]);
        if (!next || next.done) break;
        await push(next.value);
      }
      stop();
    } catch (error) {
      stop(error);
    }
  });
}

function metricsPlugin(metrics: Metrics): Plugin {
  return {
    onExecute: ({ args }) => {
      const started = performance.now();
      const definition = args.document.definitions.find((d: { kind: string }) => d.kind === "OperationDefinition");
      const type = definition && "operation" in definition ? definition.operation : "unknown";
      const name = args.operationName ?? (definition && "name" in definition ? definition.name?.value : undefined) ?? "anonymous";
      return {
        onExecuteDone: ({ result }) => {
          const failed = "errors" in result && Boolean(result.errors?.length);
          metrics.operations.inc({ type, name, outcome: failed ? "error" : "ok" });
          metrics.operationSeconds.observe({ type }, (performance.now() - started) / 1000);
        },
      };
    },
  };
}

export function createYogaServer(schema: GraphQLSchema, runtime: Runtime, metrics: Metrics): Yoga {
  const { config } = runtime;
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    // Bodies are limited before yoga (server/body.ts), far more cheaply than yoga's own stream-based limit.
    maxRequestBodySize: false,
    landingPage: false,
    graphiql: { subscriptionsProtocol: "WS", title: "Tokenwarden" },
    logging: config.logLevel === "silent" ? false : config.logLevel,
    context: async ({ request, req, connectionParams }): Promise<Context> => {
      const header = request ? request.headers.get("authorization") : (connectionParams?.authorization as string | undefined);
      return {
        principal: await runtime.authenticator.authenticate(header, clientAddress(req)),
        runtime,
        requestId: request?.headers.get("x-request-id") ?? randomUUID(),
      };
    },
    maskedErrors: {
      maskError: (error, message) => {
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (original instanceof AppError || (error instanceof GraphQLError && !original)) return error as Error;
        if (original instanceof GraphQLError && original.extensions.code) return error as Error;
        console.error("Unexpected error:", original ?? error);
        return new GraphQLError(message, { extensions: { code: "INTERNAL_SERVER_ERROR" } });
      },
    },
    plugins: [
      EnvelopArmorPlugin({
        maxDepth: { n: config.maxQueryDepth },
        maxAliases: { n: config.maxAliases },
        maxTokens: { n: config.maxQueryTokens },
        maxDirectives: { n: 50 },
        costLimit: { maxCost: config.maxQueryCost },
        blockFieldSuggestion: { enabled: config.production },
      }),
      inputErrorPlugin(),
      metricsPlugin(metrics),
      endWithCredentialPlugin(runtime.credentials),
    ],
  });
}
