// graphql-ws on the HTTP server's port: every operation passes through yoga's plugins and context factory (as on
// HTTP). The caller is authenticated once, at connection_init, and kept for the connection (a credential that
// loses its right ends the connection instead). Frames are limited like request bodies, browsers must come from
// an allowed origin, and one connection holds a bounded number of subscriptions.
import type { Server } from "node:http";
import { type DocumentNode, GraphQLError } from "graphql";
import { CloseCode } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";
import type { Principal } from "../auth/principal.ts";
import { isUnreachable } from "../db/unreachable.ts";
import { AppError, rateLimited } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import type { CorsPolicy } from "./cors.ts";
import type { Metrics } from "./metrics.ts";
import { subscriptionQuery } from "./persisted-operations.ts";
import { clientAddress, connectionCredential, type Yoga } from "./yoga.ts";

/** Close code for "try again later" (RFC 6455 registry): the credential could not be checked. */
const TRY_AGAIN_LATER = 1013;
/**
 * How often each socket is pinged; one that has not answered by the next ping is closed. graphql-ws's default, 12 s,
 * costs a timer, a listener and two frames per socket each time: with 10,000 sockets on a process, 800 a second and
 * ~3% of its CPU. 30 s still keeps a connection alive through proxies that drop idle ones after 60 s (the usual
 * default of load balancers), and finds a dead peer within a minute.
 */
const KEEP_ALIVE_MS = 30_000;

export interface WebSocketTransport {
  dispose(): Promise<void>;
}

export function attachWebSocketServer(
  server: Server,
  yoga: Yoga,
  runtime: Runtime,
  metrics: Metrics,
  cors: CorsPolicy,
): WebSocketTransport {
  const { config, authenticator } = runtime;
  const wsServer = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    // A larger frame is refused (close 1009) before it is buffered or parsed.
    maxPayload: config.maxRequestBodyBytes,
    // ws's default, stated: compression keeps zlib state per socket (ws's README warns of its memory) for ~100-byte messages.
    perMessageDeflate: false,
    verifyClient: ({ origin }, accept) => (cors.allows(origin) ? accept(true) : accept(false, 403, "Origin not allowed")),
  });
  // The connection ends with its credential's right (expiry, revocation, suspension), on every process.
  const connectionWatches = new WeakMap<object, () => void>();
  const handle = useServer<Record<string, unknown>, { principal: Principal }>(
    {
      execute: (args: any) => args.rootValue.execute(args),
      subscribe: (args: any) => args.rootValue.subscribe(args),
      onConnect: async (ctx) => {
        const { socket, request } = ctx.extra;
        try {
          ctx.extra.principal = await authenticator.authenticate(connectionCredential(ctx.connectionParams), clientAddress(request));
        } catch (error) {
          if (error instanceof AppError && error.code === "RATE_LIMITED") {
            socket.close(4429, closeReason(error));
            return false;
          }
          // A refused credential is final: 4401, not graphql-ws's default 4403, which its client retries for ~40 s.
          // A credential that could not be checked (the database unreachable) is worth a retry.
          if (error instanceof AppError && (error.code === "UNAUTHENTICATED" || error.code === "FORBIDDEN"))
            ctx.extra.socket.close(CloseCode.Unauthorized, `Unauthorized: ${error.message}`.slice(0, 120));
          else if (isUnreachable(error)) ctx.extra.socket.close(TRY_AGAIN_LATER, "SERVICE_UNAVAILABLE");
          return false;
        }
        connectionWatches.set(
          socket,
          runtime.credentials.watch(ctx.extra.principal, (reason) => socket.close(4403, closeReason(reason))),
        );
        metrics.websocketConnections.inc();
        return true;
      },
      onClose: (ctx) => {
        connectionWatches.get(ctx.extra.socket)?.();
        connectionWatches.delete(ctx.extra.socket);
        if (ctx.acknowledged) metrics.websocketConnections.dec();
      },
      onSubscribe: async (ctx, _id, payload) => {
        // graphql-ws has already entered this one in ctx.subscriptions.
        if (Object.keys(ctx.subscriptions).length > config.maxSubscriptionsPerConnection) {
          return [
            rateLimited(
              `At most ${config.maxSubscriptionsPerConnection} subscriptions may be open on one connection (MAX_SUBSCRIPTIONS_PER_CONNECTION).`,
              1,
            ),
          ];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          principal: ctx.extra.principal,
        });
        // graphql-ws operations do not pass yoga's parameter hooks: persisted and trusted documents are resolved here.
        const query = subscriptionQuery(payload, config.trustedDocuments);
        if (typeof query !== "string") return [query];
        let document: DocumentNode;
        try {
          document = parse(query);
          const errors = validate(schema, document);
          if (errors.length > 0) return errors;
        } catch (error) {
          // A syntax error, or a query over a limit (graphql-armor throws), ends this operation, not the connection.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        let contextValue: unknown;
        try {
          contextValue = await contextFactory();
        } catch (error) {
          if (error instanceof AppError) return [error];
          throw error;
        }
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue,
          rootValue: { execute, subscribe },
        };
      },
    },
    wsServer,
    KEEP_ALIVE_MS,
  );
  return {
    async dispose() {
      // Close sockets cleanly (1001 going away).
      await handle.dispose();
      wsServer.close();
    },
  };
}

/** A WebSocket close reason is at most 123 bytes. */
function closeReason(error: AppError): string {
  return `${error.code}: ${error.message}`.slice(0, 120);
}
