// buildApp(): the one composition root. Everything that runs for the life of a server process is built here from
// what the domains export (the runtime with its caches, queues and after-charge hooks; the background jobs in
// their order; the HTTP routes; yoga and graphql-ws) and disposed by stop(). Domains register nothing themselves.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Plugin } from "graphql-yoga";
import { Authenticator } from "../auth/authenticate.ts";
import { CredentialWatch } from "../auth/credential-watch.ts";
import { createJwtVerifier } from "../auth/jwt.ts";
import { type Clock, systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { openDatabase } from "../db/database.ts";
import { isUnreachable } from "../db/unreachable.ts";
import { AppError, serviceUnavailable } from "../errors.ts";
import { LiveBalances } from "../members/live.ts";
import { autoIncreaseAfterCharge } from "../policy/auto-increase.ts";
import { PolicyCache } from "../policy/cache.ts";
import { runCycleResets, runRebalancing } from "../policy/scheduled.ts";
import { createAppPubSub, listen } from "../pubsub.ts";
import type { Runtime } from "../runtime.ts";
import { schema } from "../schema/index.ts";
import { spendAlertsAfterCharge, ThresholdCache } from "../spend/alerts.ts";
import { rollUpUsage } from "../spend/analytics.ts";
import { exportUsageCsv } from "../spend/export.ts";
import { chargeBatch, chargeLane } from "../usage/charges.ts";
import { GroupCommit } from "../usage/group-commit.ts";
import { holdBatch, holdKey, holdLane } from "../usage/holds.ts";
import { expireReservations } from "../usage/reservations.ts";
import { readStandings } from "../usage/standings.ts";
import { limitBody } from "./body.ts";
import { corsPolicy } from "./cors.ts";
import { httpServerOptions } from "./http-timeouts.ts";
import { type BackgroundJob, Scheduler } from "./jobs.ts";
import { answerJsonPost } from "./json-post.ts";
import { Metrics } from "./metrics.ts";
import { health, metricsRoute, type RouteHandler, readiness } from "./routes.ts";
import { attachWebSocketServer } from "./websocket.ts";
import { clientAddress, createYogaServer } from "./yoga.ts";

/** HTTP status of a plain route's refusal, by error code. */
const ROUTE_STATUS: Record<string, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
};

/** Whether the answer to `request` may be a stream (SSE, multipart): one that lasts as long as its subscription. */
const mayStream = (request: IncomingMessage) => /text\/event-stream|multipart\/mixed/.test(request.headers.accept ?? "");

export interface AppOptions {
  config: Config;
  clock?: Clock;
  /** Collect Node process metrics (off in tests, where several apps share a process). */
  processMetrics?: boolean;
  /** Observes every SQL statement (tests pin query counts). */
  onQuery?: (sql: string) => void;
  /** Yoga plugins added after ours (tests observe what every request goes through). */
  yogaPlugins?: Plugin[];
}

export interface App {
  runtime: Runtime;
  scheduler: Scheduler;
  /** Whether JSON POSTs skip yoga's Fetch-API layer (json-post.ts); false once a plugin hooks what that path skips. */
  directJsonPath: boolean;
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
  const metrics = new Metrics(options.processMetrics ?? false);
  const pubsub = pubsubHandle.pubsub;
  const authenticator = new Authenticator(db.prisma, config, jwt);
  const policies = new PolicyCache(db.prisma, pubsub);
  const credentials = new CredentialWatch(authenticator);
  const runtime: Runtime = {
    config,
    db,
    prisma: db.prisma,
    pubsub,
    clock,
    jwt,
    authenticator,
    policies,
    liveBalances: new LiveBalances(db.prisma, pubsub, policies),
    spendThresholds: new ThresholdCache(db.prisma, pubsub),
    charges: new GroupCommit({
      write: (items, rowLocks) => chargeBatch(runtime, items, rowLocks),
      skipped: (row) => row.skipped,
      laneOf: chargeLane,
      observer: metrics.groupCommitObserver("charges"),
    }),
    holds: new GroupCommit({
      write: (items, rowLocks) => holdBatch(runtime, items, rowLocks),
      skipped: (outcome) => outcome.skipped,
      keyOf: holdKey,
      laneOf: holdLane,
      observer: metrics.groupCommitObserver("holds"),
    }),
    standings: new GroupCommit({
      write: (items) => readStandings(runtime, items),
      observer: metrics.groupCommitObserver("standings"),
    }),
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

  metrics.eventListenersNow = pubsubHandle.listeners;
  const { yoga, directJsonPath } = createYogaServer(schema, runtime, metrics, options.yogaPlugins);
  const scheduler = new Scheduler(runtime, metrics, jobs);

  // While stopping, every response closes its connection as it finishes (Connection: close), so kept-alive clients
  // cannot hold the process until their idle timeout; in-flight responses are followed until then. Subscription
  // streams (SSE, multipart) never finish by themselves: they are cut, and their clients reconnect elsewhere.
  let draining = false;
  const inFlight = new Set<ServerResponse>();
  const closeWhenDone = (response: ServerResponse) => {
    if (!response.headersSent) response.setHeader("connection", "close");
    else if (mayStream(response.req)) response.destroy();
    else response.once("finish", () => server.closeIdleConnections());
  };

  const cors = corsPolicy(config);
  const server: Server = createServer(httpServerOptions(config), async (request, response) => {
    const arrived = performance.now();
    response.once("finish", () => {
      if (!mayStream(request)) metrics.recordHttpRequest(request.method, (performance.now() - arrived) / 1000);
    });
    if (draining) closeWhenDone(response);
    else {
      inFlight.add(response);
      response.once("close", () => inFlight.delete(response));
    }
    if (cors.apply(request, response)) return;
    const url = new URL(request.url ?? "/", "http://localhost");
    const route = request.method === "GET" ? routes.get(url.pathname) : undefined;
    if (!route) {
      if (request.method === "POST") {
        try {
          if (!(await limitBody(request, response, config.maxRequestBodyBytes))) return;
          if (directJsonPath && (await answerJsonPost(yoga, request, response))) return;
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
      const known = error instanceof AppError ? error : isUnreachable(error) ? serviceUnavailable() : null;
      if (!known) console.error(`GET ${url.pathname} failed:`, error);
      if (!response.headersSent) {
        const status = known ? (ROUTE_STATUS[known.code] ?? 400) : 500;
        response.writeHead(status, { "content-type": "application/json", ...(status === 401 ? { "www-authenticate": "Bearer" } : {}) });
        response.end(JSON.stringify({ error: known ? { code: known.code, message: known.message } : { code: "INTERNAL_SERVER_ERROR" } }));
      } else {
        response.destroy();
      }
    }
  });

  const webSocket = attachWebSocketServer(server, yoga, runtime, metrics, cors);

  let started = false;
  let stopping: Promise<void> | null = null;
  const stop = async () => {
    draining = true;
    for (const response of inFlight) closeWhenDone(response);
    inFlight.clear();
    await scheduler.stop();
    // Close sockets cleanly, then let in-flight HTTP requests finish.
    await webSocket.dispose();
    if (started) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    }
    await yoga.dispose();
    for (const stop of stopFollowingRevocations) stop();
    runtime.policies.close();
    runtime.spendThresholds.close();
    runtime.liveBalances.close();
    await pubsubHandle.close();
    await db.close();
  };
  return {
    runtime,
    scheduler,
    directJsonPath,
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
