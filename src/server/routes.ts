// Plain HTTP routes beside /graphql (health, readiness, metrics, exports): GET only. buildApp lists them.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Principal } from "../auth/principal.ts";
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

export const metricsRoute: RouteHandler = async (_request, response, { metrics }) => {
  response.writeHead(200, { "content-type": metrics.registry.contentType }).end(await metrics.registry.metrics());
};
