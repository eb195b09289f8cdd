// The GraphQL engine: yoga with query limits, error masking, metrics and one context factory for HTTP and WebSocket.
import { randomUUID } from "node:crypto";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { type DocumentNode, GraphQLError, type GraphQLSchema } from "graphql";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import type { Context } from "../context.ts";
import { AppError, unrepresentableColumn } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import { checkOperationInputs } from "../schema/input-guard.ts";
import type { Metrics } from "./metrics.ts";

/** What yoga passes to the context factory: an HTTP request, or graphql-ws connection params. */
interface ServerContext {
  request?: Request;
  connectionParams?: Record<string, unknown>;
}

export type Yoga = YogaServerInstance<ServerContext, Context>;

/** Input coercion failures (our scalars, enums, missing fields) are the caller's mistake: BAD_USER_INPUT. */
const INPUT_ERROR =
  /^(Variable "\$[^"]+" got invalid value|Variable "\$[^"]+" of required type|Expected value of type|Argument "[^"]+" of required type|Field "[^"]+" of required type|Int cannot represent|Enum "[^"]+" cannot represent)/;

/** Every failure to coerce a variable (wrong type, null for a non-null, a scalar's refusal) is the caller's. */
const VARIABLE_ERROR = /^Variable "\$[^"]+" (got invalid value|of required type|of non-null type)/;

/** What the executor adds after its 50th variable error (the others name their fields). */
const TOO_MANY_VARIABLE_ERRORS = /^Too many errors processing variables/;

/** graphql-js names the variable, and the place inside it: `Variable "$input" got invalid value … at "input.name"`. */
const VARIABLE_NAME = /^Variable "\$([^"]+)"/;
const VARIABLE_PATH = /^Variable "\$[^"]+" got invalid value[\s\S]*? at "([^"]+)"; /;

/** Labels a coercion failure of the caller's variables BAD_USER_INPUT naming the field; false for anything else. */
function labelVariableError(error: GraphQLError): boolean {
  if (TOO_MANY_VARIABLE_ERRORS.test(error.message)) {
    Object.assign(error.extensions as Record<string, unknown>, { code: "BAD_USER_INPUT", field: "variables" });
    return true;
  }
  if (!VARIABLE_ERROR.test(error.message)) return false;
  const extensions = error.extensions as Record<string, unknown>;
  extensions.code = "BAD_USER_INPUT";
  // A scalar's own error names only its type; name the field the caller sent instead.
  extensions.field = VARIABLE_PATH.exec(error.message)?.[1] ?? VARIABLE_NAME.exec(error.message)?.[1];
  return true;
}

function inputErrorPlugin(): Plugin {
  const relabel = (errors: readonly Error[]) => {
    for (const error of errors) {
      if (!(error instanceof GraphQLError) || labelVariableError(error)) continue;
      if (!error.extensions.code && INPUT_ERROR.test(error.message)) (error.extensions as Record<string, unknown>).code = "BAD_USER_INPUT";
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

/** Refuses bad text, ids and paging anywhere in an operation before any of it runs (schema/input-guard.ts). */
function inputGuardPlugin(): Plugin {
  const guard = ({
    args,
    setResultAndStopExecution,
  }: {
    args: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null; variableValues?: unknown };
    setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void;
  }) => {
    try {
      checkOperationInputs(args.schema, args.document, args.operationName, args.variableValues as Record<string, unknown>);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      setResultAndStopExecution({ errors: [error] });
    }
  };
  return { onExecute: guard, onSubscribe: guard };
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
        // Variables are coerced before any plugin sees the result; their errors wrap the scalar's (or none).
        if (error instanceof GraphQLError && labelVariableError(error)) return error;
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (original instanceof AppError || (error instanceof GraphQLError && !original)) return error as Error;
        if (original instanceof GraphQLError && original.extensions.code) return error as Error;
        const column = unrepresentableColumn(original);
        if (column) {
          return new GraphQLError("This would take a total past 2^53-1; nothing was changed.", {
            path: error instanceof GraphQLError ? error.path : undefined,
            extensions: { code: "BAD_USER_INPUT", field: column },
          });
        }
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
      inputGuardPlugin(),
      metricsPlugin(metrics),
    ],
  });
}
