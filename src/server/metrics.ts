// Prometheus metrics for /metrics; one registry per app so tests can run several apps in one process.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Operation names come from clients, and each distinct one is a series of its own that the registry keeps for the
 * process's life: past this many, further names are counted as OTHER_OPERATIONS, so a client sending random names
 * cannot grow the server's memory (or the scrape) without bound.
 */
export const MAX_OPERATION_NAMES = 500;
export const OTHER_OPERATIONS = "(other)";

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

  /** Each operation series, looked up once: prom-client works a series out from its labels on every call. */
  readonly #operationCounts = new Map<string, { inc(): void }>();
  readonly #operationDurations = new Map<string, { observe(seconds: number): void }>();
  readonly #operationNames = new Set<string>();

  /** Counts an operation of `type` named `name` that took `seconds`. */
  recordOperation(type: string, name: string, failed: boolean, seconds: number): void {
    if (!this.#operationNames.has(name)) {
      if (this.#operationNames.size >= MAX_OPERATION_NAMES) name = OTHER_OPERATIONS;
      else this.#operationNames.add(name);
    }
    const outcome = failed ? "error" : "ok";
    const key = `${type}\u0000${name}\u0000${outcome}`;
    let count = this.#operationCounts.get(key);
    if (!count) {
      count = this.operations.labels({ type, name, outcome });
      this.#operationCounts.set(key, count);
    }
    count.inc();
    let duration = this.#operationDurations.get(type);
    if (!duration) {
      duration = this.operationSeconds.labels({ type });
      this.#operationDurations.set(type, duration);
    }
    duration.observe(seconds);
  }

  constructor(withProcessMetrics: boolean) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
