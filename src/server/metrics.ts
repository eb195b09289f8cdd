// Prometheus metrics for /metrics; one registry per app so tests can run several apps in one process.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { GroupCommitObserver } from "../usage/group-commit.ts";

/**
 * Operation names come from clients, and each distinct one is a series of its own that the registry keeps for the
 * process's life: past this many, further names are counted as OTHER_OPERATIONS, so a client sending random names
 * cannot grow the server's memory (or the scrape) without bound.
 */
export const MAX_OPERATION_NAMES = 500;
export const OTHER_OPERATIONS = "(other)";

/** Seconds, fine where the hot path's targets lie (tens of milliseconds). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** A histogram with one label: a series per value of `label`. */
const histogram = (registry: Registry, name: string, help: string, label: string, buckets: number[]) =>
  new Histogram({ name, help, labelNames: [label], buckets, registers: [registry] });

/** A counter with one label: a series per value of `label`. */
const counter = (registry: Registry, name: string, help: string, label: string) =>
  new Counter({ name, help, labelNames: [label], registers: [registry] });

/** The methods timed on their own; others are counted as "other". */
const TIMED_METHODS = ["GET", "POST", "OPTIONS", "other"] as const;

export class Metrics {
  readonly registry = new Registry();
  readonly operations = new Counter({
    name: "tokenwarden_graphql_operations_total",
    help: "GraphQL operations by type, name and outcome.",
    labelNames: ["type", "name", "outcome"] as const,
    registers: [this.registry],
  });
  readonly operationSeconds = histogram(
    this.registry,
    "tokenwarden_graphql_operation_seconds",
    "GraphQL operation duration.",
    "type",
    LATENCY_BUCKETS,
  );
  readonly httpRequestSeconds = histogram(
    this.registry,
    "tokenwarden_http_request_seconds",
    "From an HTTP request's headers read to its answer written, by method; streamed answers (subscriptions) are not counted.",
    "method",
    LATENCY_BUCKETS,
  );
  readonly groupCommitBatchItems = histogram(
    this.registry,
    "tokenwarden_group_commit_batch_items",
    "Items per statement of the hot path's group-commit queues (charges, holds, standings).",
    "queue",
    BATCH_BUCKETS,
  );
  readonly groupCommitWriteSeconds = histogram(
    this.registry,
    "tokenwarden_group_commit_write_seconds",
    "A group-commit queue's statement, from sent to answered (its commit included).",
    "queue",
    LATENCY_BUCKETS,
  );
  readonly groupCommitItemSeconds = histogram(
    this.registry,
    "tokenwarden_group_commit_item_seconds",
    "An item of a group-commit queue, from submitted to answered: its wait for a batch, and the batch.",
    "queue",
    LATENCY_BUCKETS,
  );
  readonly groupCommitSkipped = counter(
    this.registry,
    "tokenwarden_group_commit_skipped_total",
    "Items a batch skipped because their row was locked elsewhere (tried again in a later batch).",
    "queue",
  );
  readonly groupCommitSetAside = counter(
    this.registry,
    "tokenwarden_group_commit_set_aside_total",
    "Items set aside to be written alone, waiting for their row (skipped too often, or their batch kept waiting).",
    "queue",
  );
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

  /** Each method's series, looked up once. */
  readonly #httpDurations = new Map<string, { observe(seconds: number): void }>(
    TIMED_METHODS.map((method) => [method, this.httpRequestSeconds.labels({ method })]),
  );

  /** Counts an HTTP request answered after `seconds`; methods outside the usual few are counted together. */
  recordHttpRequest(method: string | undefined, seconds: number): void {
    (this.#httpDurations.get(method ?? "other") ?? this.#httpDurations.get("other")!).observe(seconds);
  }

  /** What the group-commit queue `queue` tells, as its series. */
  groupCommitObserver(queue: string): GroupCommitObserver {
    const batchItems = this.groupCommitBatchItems.labels({ queue });
    const writeSeconds = this.groupCommitWriteSeconds.labels({ queue });
    const itemSeconds = this.groupCommitItemSeconds.labels({ queue });
    const skipped = this.groupCommitSkipped.labels({ queue });
    const setAside = this.groupCommitSetAside.labels({ queue });
    return {
      batchWritten(items, seconds) {
        batchItems.observe(items);
        writeSeconds.observe(seconds);
      },
      itemSettled: (seconds) => itemSeconds.observe(seconds),
      itemsSkipped: (count) => skipped.inc(count),
      itemsSetAside: (count) => setAside.inc(count),
    };
  }

  constructor(withProcessMetrics: boolean) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
