// buildApp(): the one composition root. Everything that runs for the life of a server process is built here from
// what the domains export (the runtime with its caches, queues and after-charge hooks; the background jobs in
// their order; the HTTP routes; yoga and graphql-ws) and disposed by stop(). Domains register nothing themselves.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";
import { Authenticator } from "../auth/authenticate.ts";
import { CredentialWatch } from "../auth/credential-watch.ts";
import { createJwtVerifier } from "../auth/jwt.ts";
import type { Principal } from "../auth/principal.ts";
import { type Clock, systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { openDatabase } from "../db/database.ts";
import { AppError } from "../errors.ts";
import { autoIncreaseAfterCharge } from "../policy/auto-increase.ts";
import { PolicyCache } from "../policy/cache.ts";
import { runCycleResets, runRebalancing } from "../policy/scheduled.ts";
import { createAppPubSub, listen } from "../pubsub.ts";
import type { Runtime } from "../runtime.ts";
import { schema } from "../schema/index.ts";
import { spendAlertsAfterCharge, ThresholdCache } from "../spend/alerts.ts";
import { rollUpUsage } from "../spend/analytics.ts";
import { exportUsageCsv } from "../spend/export.ts";
import { chargeBatch } from "../usage/charges.ts";
import { GroupCommit } from "../usage/group-commit.ts";
import { holdBatch, holdKey } from "../usage/holds.ts";
import { expireReservations } from "../usage/reservations.ts";
import { limitBody } from "./body.ts";
import { type BackgroundJob, Scheduler } from "./jobs.ts";
import { answerJsonPost } from "./json-post.ts";
import { Metrics } from "./metrics.ts";
import { health, metricsRoute, type RouteHandler, readiness } from "./routes.ts";
import { clientAddress, createYogaServer } from "./yoga.ts";

export interface AppOptions {
  config: Config;
  clock?: Clock;
  /** Collect Node process metrics (off in tests, where several apps share a process). */
  processMetrics?: boolean;
  /** Observes every SQL statement (tests pin query counts). */
  onQuery?: (sql: string) => void;
}

export interface App {
  runtime: Runtime;
  scheduler: Scheduler;
  /** Listens on `port` (0: any free port) and returns the base URL. */
  start(port?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function buildApp(options: AppOptions): Promise<App> {
  const { config } = options;
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  const pubsubHandle = createAppPubSub(config.redisUrl);
  const jwt = createJwtVerifier(config);
  const clock = options.clock ?? systemClock;
  const pubsub = pubsubHandle.pubsub;
  const authenticator = new Authenticator(db.prisma, config, jwt);
  const credentials = new CredentialWatch(authenticator);
  const runtime: Runtime = {
    config,
    db,
    prisma: db.prisma,
    pubsub,
    clock,
    jwt,
    authenticator,
    policies: new PolicyCache(db.prisma, pubsub),
    spendThresholds: new ThresholdCache(db.prisma, pubsub),
    charges: new GroupCommit({ write: (items) => chargeBatch(runtime, items) }),
    holds: new GroupCommit({ write: (items) => holdBatch(runtime, items), keyOf: holdKey }),
    afterCharge: [autoIncreaseAfterCharge, spendAlertsAfterCharge],
    credentials,
  };
  // Revocations and changes of a member's standing: caches evicted, open subscriptions and connections ended.
  const stopFollowingRevocations = [
    listen(pubsub, "apiKeyRevoked", (event) => credentials.apiKeyRevoked(event)),
    listen(pubsub, "memberAccessChanged", (event) => void credentials.memberAccessChanged(event)),
  ];

  // In this order on every tick: expired reservations give their tokens back before a cycle's reset, and the
  // reset comes before the first rebalancing of the new cycle.
  const jobs: BackgroundJob[] = [
    { name: "expire-reservations", run: expireReservations },
    { name: "policy.cycle-reset", run: runCycleResets },
    { name: "policy.rebalance", run: runRebalancing },
    { name: "usage-rollup", run: rollUpUsage },
  ];
  const routes = new Map<string, RouteHandler>([
    ["/health", health],
    ["/ready", readiness],
    ["/metrics", metricsRoute],
    [
      "/export/usage.csv",
      async (_request, response, context) => exportUsageCsv(runtime, await context.principal(), context.url.searchParams, response),
    ],
  ]);

  const metrics = new Metrics(options.processMetrics ?? false);
  const yoga = createYogaServer(schema, runtime, metrics);
  const scheduler = new Scheduler(runtime, metrics, jobs);

  const server: Server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const route = request.method === "GET" ? routes.get(url.pathname) : undefined;
    if (!route) {
      if (request.method === "POST") {
        try {
          if (!(await limitBody(request, response, config.maxRequestBodyBytes))) return;
          if (await answerJsonPost(yoga, request, response)) return;
        } catch (error) {
          // A client that went away mid-body, or a fault outside GraphQL's own error handling.
          if (request.destroyed) return;
          console.error("POST /graphql failed:", error);
          if (response.headersSent) response.destroy();
          else {
            response.writeHead(500, { "content-type": "application/json; charset=utf-8" });
            response.end(JSON.stringify({ errors: [{ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR" } }] }));
          }
          return;
        }
      }
      return yoga.handle(request, response);
    }
    try {
      await route(request, response, {
        runtime,
        metrics,
        url,
        principal: () => authenticator.authenticate(request.headers.authorization, clientAddress(request)),
      });
    } catch (error) {
      const known = error instanceof AppError;
      if (!known) console.error(`GET ${url.pathname} failed:`, error);
      if (!response.headersSent) {
        const status = known
          ? (({ UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404, RATE_LIMITED: 429 } as Record<string, number>)[error.code] ?? 400)
          : 500;
        response.writeHead(status, { "content-type": "application/json", ...(status === 401 ? { "www-authenticate": "Bearer" } : {}) });
        response.end(JSON.stringify({ error: known ? { code: error.code, message: error.message } : { code: "INTERNAL_SERVER_ERROR" } }));
      } else {
        response.destroy();
      }
    }
  });

  const wsServer = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const connectionWatches = new WeakMap<object, () => void>();
  const wsHandle = useServer(
    {
      execute: (args: any) => args.rootValue.execute(args),
      subscribe: (args: any) => args.rootValue.subscribe(args),
      onConnect: async (ctx) => {
        // Refuse a bad credential at connect; each subscribe authenticates again (revocations apply).
        const { socket, request } = ctx.extra;
        let principal: Principal;
        try {
          principal = await authenticator.authenticate(ctx.connectionParams?.authorization as string | undefined, clientAddress(request));
        } catch (error) {
          if (error instanceof AppError && error.code === "RATE_LIMITED") socket.close(4429, closeReason(error));
          return false;
        }
        // The connection ends with its credential's right (expiry, revocation, suspension), on every process.
        connectionWatches.set(
          socket,
          credentials.watch(principal, (reason) => socket.close(4403, closeReason(reason))),
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
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          connectionParams: ctx.connectionParams,
        });
        const document = parse(payload.query);
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
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
  );

  let started = false;
  let stopping: Promise<void> | null = null;
  const stop = async () => {
    await scheduler.stop();
    // Close sockets cleanly (1001 going away), then let in-flight HTTP requests finish.
    await wsHandle.dispose();
    wsServer.close();
    if (started) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    }
    await yoga.dispose();
    await Promise.all([...stopFollowingRevocations.map((stop) => stop()), runtime.policies.close(), runtime.spendThresholds.close()]);
    await pubsubHandle.close();
    await db.close();
  };
  return {
    runtime,
    scheduler,
    async start(port = config.port) {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, config.host, () => resolve());
      });
      started = true;
      scheduler.start(config.schedulerIntervalSeconds);
      const { port: bound } = server.address() as AddressInfo;
      return `http://127.0.0.1:${bound}`;
    },
    stop() {
      stopping ??= stop();
      return stopping;
    },
  };
}

/** A WebSocket close reason is at most 123 bytes. */
function closeReason(error: AppError): string {
  return `${error.code}: ${error.message}`.slice(0, 120);
}
