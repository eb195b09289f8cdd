// Node's HTTP server limits on slow clients: a request must send its headers, and then its whole body, within
// the configured times (408 and closed otherwise), and an idle keep-alive connection is closed.
import type { ServerOptions } from "node:http";
import type { Config } from "../config.ts";

export function httpServerOptions(config: Config): ServerOptions {
  return {
    headersTimeout: config.httpHeadersTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    // Node checks the two request timeouts on this interval (30 s by default), so a limit is kept within a second.
    connectionsCheckingInterval: Math.min(1000, config.httpHeadersTimeoutMs),
  };
}
