// Which browser origins may call the server, applied once for every route (GraphQL, health, metrics, exports) and
// for WebSocket upgrades. Development (no CORS_ORIGINS): any origin, without credentials. Production: only the
// listed origins. Credentials are never allowed: callers authenticate with a bearer header, not with cookies.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Config } from "../config.ts";

const ALLOWED_METHODS = "GET, POST, OPTIONS";
const ALLOWED_HEADERS = "authorization, content-type, accept, x-request-id";
const PREFLIGHT_MAX_AGE_SECONDS = "600";

export interface CorsPolicy {
  /** Whether a browser on `origin` may call; a request without an Origin header is not a cross-origin call. */
  allows(origin: string | undefined): boolean;
  /**
   * Sets the CORS headers `request` earns on `response` (yoga and the routes then write their own headers beside
   * them). Answers a preflight (OPTIONS) itself and resolves true when it did.
   */
  apply(request: IncomingMessage, response: ServerResponse): boolean;
}

export function corsPolicy(config: Pick<Config, "corsOrigins">): CorsPolicy {
  const listed = config.corsOrigins === null ? null : new Set(config.corsOrigins);
  const allows = (origin: string | undefined) => origin === undefined || listed === null || listed.has(origin);
  return {
    allows,
    apply(request, response) {
      const origin = request.headers.origin;
      const allowed = origin !== undefined && allows(origin);
      if (allowed) {
        response.setHeader("access-control-allow-origin", listed === null ? "*" : origin);
        if (listed !== null) response.setHeader("vary", "Origin");
      }
      if (request.method !== "OPTIONS" || origin === undefined) return false;
      if (!allowed) {
        response
          .writeHead(403, { "content-type": "application/json" })
          .end('{"error":{"code":"FORBIDDEN","message":"Origin not allowed."}}');
        return true;
      }
      response.writeHead(204, {
        "access-control-allow-methods": ALLOWED_METHODS,
        "access-control-allow-headers": ALLOWED_HEADERS,
        "access-control-max-age": PREFLIGHT_MAX_AGE_SECONDS,
        "content-length": "0",
      });
      response.end();
      return true;
    },
  };
}
