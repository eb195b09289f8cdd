// Prometheus metrics for /metrics; one registry per app so tests can run several apps in one process.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  readonly operations = new Counter({
    name: "tokenwarden_graphql_operations_total",
    help: "GraphQL operations by type, name and outcome.",
    labelNames: ["type", "name", "outcome"] as const,
    registers: [this.registry],
  });
  readonly operationSeconds = new Histogram({
    name: "tokenwarden_graphql_operation_seconds",
    help: "GraphQL operation duration.",
    labelNames: ["type"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly websocketConnections = new Gauge({
    name: "tokenwarden_websocket_connections",
    help: "Open graphql-ws connections.",
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: "tokenwarden_subscriptions",
    help: "Open GraphQL subscriptions (graphql-ws and SSE).",
    registers: [this.registry],
  });
  /** Set by the app: the pubsub's listener count (every live subscription holds at least one). */
  eventListenersNow: () => number = () => 0;
  readonly eventListeners: Gauge = new Gauge({
    name: "tokenwarden_event_listeners",
    help: "Event listeners registered in this process: live subscriptions (their streams and feeds) and cache evictions.",
    registers: [this.registry],
    collect: (): void => this.eventListeners.set(this.eventListenersNow()),
  });
  readonly jobRuns = new Counter({
    name: "tokenwarden_job_runs_total",
    help: "Background job runs by job and outcome.",
    labelNames: ["job", "outcome"] as const,
    registers: [this.registry],
  });

  constructor(withProcessMetrics: boolean) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
