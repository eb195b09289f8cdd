// Plain HTTP routes beside /graphql (health, readiness, metrics, exports): GET only. buildApp lists them.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Principal } from "../auth/principal.ts";
import { KnownSecret } from "../auth/secrets.ts";
import type { Runtime } from "../runtime.ts";
import type { Metrics } from "./metrics.ts";

export interface RouteContext {
  runtime: Runtime;
  metrics: Metrics;
  url: URL;
  /** Resolves the caller from the Authorization header; throws on an invalid credential. */
  principal(): Promise<Principal>;
}

export type RouteHandler = (request: IncomingMessage, response: ServerResponse, context: RouteContext) => Promise<void>;

export const health: RouteHandler = async (_request, response) => {
  response.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
};

export const readiness: RouteHandler = async (_request, response, { runtime }) => {
  try {
    await runtime.db.ping();
    response.writeHead(200, { "content-type": "application/json" }).end('{"status":"ready"}');
  } catch {
    response.writeHead(503, { "content-type": "application/json" }).end('{"status":"database unreachable"}');
  }
};

/**
 * /metrics asks for a credential in production, or wherever METRICS_TOKEN is set: that token (for a scraper that
 * should hold nothing else) or the operator key.
 */
async function mayReadMetrics(request: IncomingMessage, { runtime, principal }: RouteContext): Promise<boolean> {
  const { production, metricsToken } = runtime.config;
  if (!production && metricsToken === null) return true;
  const presented = request.headers.authorization?.replace(/^Bearer\s+/i, "").trim();
  if (!presented) return false;
  if (metricsToken !== null && new KnownSecret(metricsToken).matches(presented)) return true;
  return (await principal()).kind === "OPERATOR";
}

export const metricsRoute: RouteHandler = async (request, response, context) => {
  const { metrics } = context;
  if (!(await mayReadMetrics(request, context))) {
    response.writeHead(401, { "content-type": "application/json", "www-authenticate": "Bearer" });
    response.end(
      JSON.stringify({ error: { code: "UNAUTHENTICATED", message: "Send the metrics token or the operator key as a bearer credential." } }),
    );
    return;
  }
  response.writeHead(200, { "content-type": metrics.registry.contentType }).end(await metrics.registry.metrics());
};
