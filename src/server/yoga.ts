// The GraphQL engine: yoga with query limits, error masking, metrics and one context factory for HTTP and WebSocket.
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { useGraphQLSSE } from "@graphql-yoga/plugin-graphql-sse";
import { type DocumentNode, GraphQLError, type GraphQLSchema } from "graphql";
import { createYoga, isAsyncIterable, type Plugin, type YogaServerInstance } from "graphql-yoga";
import type { CredentialWatch } from "../auth/credential-watch.ts";
import type { Principal } from "../auth/principal.ts";
import type { Context } from "../context.ts";
import { isUnreachable } from "../db/unreachable.ts";
import { AppError, serviceUnavailable, unrepresentableColumn } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import { checkOperationInputs } from "../schema/input-guard.ts";
import { errorRewritePlugin } from "./error-rewrite.ts";
import { executionContextPlugin } from "./execution-context.ts";
import { graphiqlOptions, renderGraphiQLPage } from "./graphiql.ts";
import type { Metrics } from "./metrics.ts";
import { persistedOperationsPlugin } from "./persisted-operations.ts";
import { schemaExposurePlugins } from "./posture.ts";
import { eventStreamOf, subscriptionEventsPlugin } from "./subscription-events.ts";
import { subscriptionLimitPlugin } from "./subscription-limit.ts";

/** What yoga passes to the context factory: an HTTP request, or a graphql-ws connection authenticated at connect. */
interface ServerContext {
  request?: Request;
  req?: IncomingMessage;
  principal?: Principal;
}

/** The client's address, as failed authentications are counted per address. */
export function clientAddress(request: IncomingMessage | undefined): string {
  return request?.socket.remoteAddress ?? "unknown";
}

export type Yoga = YogaServerInstance<ServerContext, Context>;

/**
 * The credential in graphql-ws's connection_init payload, where client docs put it: `authorization` or
 * `Authorization`, at the top or inside `headers` (Apollo, urql).
 */
export function connectionCredential(params: Record<string, unknown> | undefined | null): string | undefined {
  const headers = params?.headers && typeof params.headers === "object" ? (params.headers as Record<string, unknown>) : undefined;
  for (const value of [params?.authorization, params?.Authorization, headers?.authorization, headers?.Authorization]) {
    if (typeof value === "string") return value;
  }
  return undefined;
}

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
  return errorRewritePlugin((error) => {
    if (labelVariableError(error)) return;
    if (!error.extensions.code && INPUT_ERROR.test(error.message)) (error.extensions as Record<string, unknown>).code = "BAD_USER_INPUT";
  });
}

/** graphql-armor's refusals (depth, aliases, tokens, directives, cost) are bad input too, naming the query as the field. */
const queryLimitCode = [
  (_context: unknown, error: GraphQLError) => {
    Object.assign(error.extensions as Record<string, unknown>, { code: "BAD_USER_INPUT", field: "query" });
  },
];

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
        eventStreamOf(result, setResult).endWhen((end) => credentials.watch(principal, end));
      },
    }),
  };
}

function metricsPlugin(metrics: Metrics): Plugin {
  return {
    onSubscribe: () => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (!isAsyncIterable(result)) return;
        metrics.subscriptions.inc();
        eventStreamOf(result, setResult).onEnd(() => metrics.subscriptions.dec());
      },
    }),
    onExecute: ({ args }) => {
      const started = performance.now();
      const definition = args.document.definitions.find((d: { kind: string }) => d.kind === "OperationDefinition");
      const type = definition && "operation" in definition ? definition.operation : "unknown";
      const name = args.operationName ?? (definition && "name" in definition ? definition.name?.value : undefined) ?? "anonymous";
      return {
        onExecuteDone: ({ result }) => {
          const failed = "errors" in result && Boolean(result.errors?.length);
          metrics.recordOperation(type, name, failed, (performance.now() - started) / 1000);
        },
      };
    },
  };
}

/** Hooks that run around a request's execution in yoga's own handler, which the direct JSON path (json-post.ts) does not call. */
const REQUEST_HOOKS = ["onRequest", "onRequestParse", "onResultProcess", "onResponse", "instrumentation"] as const;

/** How many of yoga's plugins (built-in ones included, after each plugin added its own) have each request hook. */
function requestHookCounts(yoga: Yoga): number[] {
  // Yoga keeps the list as envelop flattened it (each plugin's own added plugins included).
  const { plugins } = yoga as unknown as { plugins: (Record<string, unknown> | undefined)[] };
  return REQUEST_HOOKS.map((hook) => plugins.filter((plugin) => plugin?.[hook]).length);
}

export interface YogaServer {
  yoga: Yoga;
  /**
   * Whether the direct JSON path may answer requests: only while no plugin beyond yoga's built-in ones hooks
   * a phase that path skips (request parsing, result processing, responses, instrumentation). Yoga's built-in
   * hooks there (JSON parsing and result processing, CORS for requests with an Origin) it does itself; a plugin
   * added later (tracing, logging, response caching) sends every request through yoga instead.
   */
  directJsonPath: boolean;
}

export function createYogaServer(schema: GraphQLSchema, runtime: Runtime, metrics: Metrics, extraPlugins: Plugin[] = []): YogaServer {
  const yoga = buildYoga(schema, runtime, [...ourPlugins(runtime, metrics), ...extraPlugins]);
  // graphql-sse's plugin hooks onRequest only to answer its own endpoint (/graphql/stream), never the direct path's
  // POST /graphql: it counts as built in.
  const builtIn = buildYoga(schema, runtime, [useGraphQLSSE()]);
  const counts = requestHookCounts(yoga);
  const directJsonPath = requestHookCounts(builtIn).every((count, index) => count === counts[index]);
  void builtIn.dispose();
  return { yoga, directJsonPath };
}

function ourPlugins(runtime: Runtime, metrics: Metrics): Plugin[] {
  const { config } = runtime;
  return [
    persistedOperationsPlugin(config.trustedDocuments),
    EnvelopArmorPlugin({
      maxDepth: { n: config.maxQueryDepth, onReject: queryLimitCode },
      maxAliases: { n: config.maxAliases, onReject: queryLimitCode },
      maxTokens: { n: config.maxQueryTokens, onReject: queryLimitCode },
      maxDirectives: { n: 50, onReject: queryLimitCode },
      costLimit: { maxCost: config.maxQueryCost, onReject: queryLimitCode },
      // Suggestions of every kind are hidden by schemaExposurePlugins.
      blockFieldSuggestion: { enabled: false },
    }),
    ...schemaExposurePlugins(config),
    subscriptionLimitPlugin(config.maxSubscriptionsPerMember) as Plugin,
    inputErrorPlugin(),
    inputGuardPlugin(),
    metricsPlugin(metrics),
    endWithCredentialPlugin(runtime.credentials),
    subscriptionEventsPlugin() as Plugin,
    executionContextPlugin() as Plugin,
    // graphql-sse's protocol on /graphql/stream, both its modes (single connection: PUT reservation, GET stream).
    useGraphQLSSE(),
  ];
}

function buildYoga(schema: GraphQLSchema, runtime: Runtime, plugins: Plugin[]): Yoga {
  const { config } = runtime;
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    // Bodies are limited before yoga (server/body.ts), far more cheaply than yoga's own stream-based limit.
    maxRequestBodySize: false,
    landingPage: false,
    graphiql: config.graphiql ? graphiqlOptions : false,
    renderGraphiQL: renderGraphiQLPage,
    // CORS is applied before yoga for every route (server/cors.ts).
    cors: false,
    logging: config.logLevel === "silent" ? false : config.logLevel,
    context: async ({ request, req, principal }): Promise<Context> => {
      return {
        principal: principal ?? (await runtime.authenticator.authenticate(request?.headers.get("authorization"), clientAddress(req))),
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
        // graphql-js's own coercion of variables wraps the scalar's or enum's refusal: the caller's input, not a fault.
        if (error instanceof GraphQLError && original instanceof GraphQLError && INPUT_ERROR.test(error.message)) {
          (error.extensions as Record<string, unknown>).code ??= "BAD_USER_INPUT";
          return error;
        }
        const cause = original ?? error;
        if (isUnreachable(cause)) {
          console.error("Dependency unreachable:", cause instanceof Error ? cause.message.trim().split("\n").at(-1) : cause);
          return serviceUnavailable();
        }
        console.error("Unexpected error:", original ?? error);
        return new GraphQLError(message, { extensions: { code: "INTERNAL_SERVER_ERROR" } });
      },
    },
    plugins,
  });
}
