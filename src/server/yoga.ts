// The GraphQL engine: yoga with query limits, error masking, metrics and one context factory for HTTP and WebSocket.
import { randomUUID } from "node:crypto";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { GraphQLError, type GraphQLSchema } from "graphql";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import type { Context } from "../context.ts";
import { AppError } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import { graphiqlOptions, renderGraphiQLPage } from "./graphiql.ts";
import type { Metrics } from "./metrics.ts";
import { persistedOperationsPlugin } from "./persisted-operations.ts";

/** What yoga passes to the context factory: an HTTP request, or graphql-ws connection params. */
interface ServerContext {
  request?: Request;
  connectionParams?: Record<string, unknown>;
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
    graphiql: graphiqlOptions,
    renderGraphiQL: renderGraphiQLPage,
    logging: config.logLevel === "silent" ? false : config.logLevel,
    context: async ({ request, connectionParams }): Promise<Context> => {
      const header = request ? request.headers.get("authorization") : (connectionParams?.authorization as string | undefined);
      return {
        principal: await runtime.authenticator.authenticate(header),
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
      persistedOperationsPlugin(config.trustedDocuments),
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
    ],
  });
}
