// What benchmarks share: a throwaway PostgreSQL database, the real server in its own process, a keep-alive
// GraphQL client and a bounded load loop with latency percentiles. Loopback only; everything stops by itself.
import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import { createTestDatabase } from "../support/database.ts";

export const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://root@127.0.0.1:5432/postgres";
export const OPERATOR_KEY = "bench-operator-key-0123456789abcdef";
const JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789";

export interface BenchResult {
  name: string;
  metrics: Record<string, string | number>;
}

export interface BenchModule {
  name: string;
  run(): Promise<BenchResult[]>;
}

/** A fresh, empty database on the bench PostgreSQL server; `drop()` removes it. */
export const createBenchDatabase = () => createTestDatabase(ADMIN_DATABASE_URL, "tw_bench");

/** The real server (buildApp) in a child process, so the load generator does not share its event loop. */
export interface BenchServer {
  url: string;
  pid: number;
  /** The server's memory (MB) as it stands, and after a full garbage collection (what it really holds). */
  memory(): Promise<{ rss: number; heapUsed: number; rssAfterGc: number; heapUsedAfterGc: number; external: number }>;
  /** Starts a window of event-loop delay and garbage-collection measurement; `loopDelay()` reports it (ms). */
  resetLoopDelay(): void;
  loopDelay(): Promise<{ p50: number; p99: number; max: number; gc: Record<"young" | "old", GcPauses> }>;
  /** Writes a heap snapshot of the server (in its working directory) and returns its path. */
  heapSnapshot(): Promise<string>;
  stop(): Promise<void>;
}

/** The garbage collector's pauses of one generation in a window: how many, their total and the longest (ms). */
export interface GcPauses {
  count: number;
  totalMs: number;
  maxMs: number;
}

/** An event-loop delay window as the benches print it. */
export const describeLoopDelay = ({ p50, p99, max }: { p50: number; p99: number; max: number }): string =>
  `p50 ${round(p50)}, p99 ${round(p99)}, max ${round(max)} ms`;

/** `pauses` as the benches print them. */
export const describePauses = ({ count, totalMs, maxMs }: GcPauses): string =>
  `${count}, ${round(totalMs, 0)} ms in all, longest ${round(maxMs)} ms`;

export async function startBenchServer(env: Record<string, string>): Promise<BenchServer> {
  const child: ChildProcess = fork(new URL("./server-process.ts", import.meta.url).pathname, [], {
    env: {
      ...process.env,
      NODE_ENV: "production",
      OPERATOR_API_KEY: OPERATOR_KEY,
      AUTH_JWT_SECRET: JWT_SECRET,
      LOG_LEVEL: "silent",
      SCHEDULER_INTERVAL_SECONDS: "0",
      HOST: "127.0.0.1",
      PORT: "0",
      DATA_DIR: ":memory:",
      ...env,
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    // BENCH_PROFILE=<dir> writes a CPU profile of the server process there; BENCH_SERVER_FLAGS adds Node flags (e.g.
    // "--trace-gc --max-semi-space-size=64") to the server processes only.
    execArgv: [
      ...process.execArgv,
      "--expose-gc",
      ...(process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
      ...(process.env.BENCH_SERVER_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
    ],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("bench server did not start within 60 s")), 60_000);
    child.once("message", (message) => {
      clearTimeout(timer);
      resolve(String(message));
    });
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return {
    url,
    /** The server's process id, e.g. to watch its memory in /proc. */
    pid: child.pid!,
    resetLoopDelay() {
      child.send("loop-reset");
    },
    loopDelay: () => ask(child, "loop", "loop"),
    heapSnapshot: () => ask(child, "heap-snapshot", "heapSnapshot"),
    async memory() {
      const { before, after } = await ask<Record<"before" | "after", NodeJS.MemoryUsage>>(child, "memory", "memory");
      const mb = (bytes: number) => bytes / 1024 / 1024;
      return {
        rss: mb(before.rss),
        heapUsed: mb(before.heapUsed),
        rssAfterGc: mb(after.rss),
        heapUsedAfterGc: mb(after.heapUsed),
        external: mb(after.external),
      };
    },
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.send("stop");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Sends `message` to the bench server and resolves with the `key` of its first answer that has one. */
function ask<T>(child: ChildProcess, message: string, key: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (answer: unknown) => {
      if (!answer || typeof answer !== "object" || !(key in answer)) return;
      child.off("message", onMessage);
      resolve((answer as Record<string, T>)[key]!);
    };
    child.on("message", onMessage);
    child.send(message);
  });
}

/** GraphQL over HTTP/1.1 with keep-alive connections (at most `sockets` of them). */
export class BenchClient {
  readonly #agent: http.Agent;
  readonly #url: URL;
  readonly #credential: string;

  constructor(url: string, credential: string, sockets = 64) {
    this.#url = new URL("/graphql", url);
    this.#credential = credential;
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  as(credential: string): BenchClient {
    return new BenchClient(this.#url.origin, credential);
  }

  /** The data; throws on GraphQL errors or non-200 answers. */
  execute<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const body = JSON.stringify({ query, variables });
    return new Promise<T>((resolve, reject) => {
      const request = http.request(
        this.#url,
        {
          method: "POST",
          agent: this.#agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            authorization: `Bearer ${this.#credential}`,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            try {
              const parsed = JSON.parse(text) as { data?: T; errors?: unknown[] };
              if (parsed.errors?.length || !parsed.data) reject(new Error(`GraphQL error: ${text.slice(0, 500)}`));
              else resolve(parsed.data);
            } catch {
              reject(new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`));
            }
          });
        },
      );
      request.on("error", reject);
      request.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

export interface LoadResult {
  ops: number;
  errors: number;
  seconds: number;
  opsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  firstError: string | null;
  /**
   * CPU the load generator itself used per call (µs), when the stream ran alone in it: the client shares the
   * machine's cores with the server.
   */
  clientCpuPerOp?: number;
}

/** Runs `op(i)` for i = 0..count-1 with at most `concurrency` in flight, stopping early after `maxMs`. */
export async function runLoad(count: number, concurrency: number, maxMs: number, op: (i: number) => Promise<unknown>): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const deadline = started + maxMs;
  const worker = async () => {
    while (next < count && performance.now() < deadline) {
      const i = next++;
      const begun = performance.now();
      try {
        await op(i);
        latencies.push(performance.now() - begun);
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return summarize(latencies, errors, (performance.now() - started) / 1000, firstError);
}

/**
 * Open-loop load: starts `op(i)` at a fixed `ratePerSecond`, whether or not earlier calls have answered, for
 * `count` calls. Each latency is measured from the call's scheduled start, so a stalled server is charged for
 * the calls that queued behind it (no coordinated omission). This is how "sustains N/s with p95 under X ms" is
 * measured; `runLoad` (closed loop) measures the most the server can take.
 */
export async function runRate(count: number, ratePerSecond: number, op: (i: number) => Promise<unknown>): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const interval = 1000 / ratePerSecond;
  const started = performance.now();
  const calls: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const scheduled = started + i * interval;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    calls.push(
      op(i).then(
        () => void latencies.push(performance.now() - scheduled),
        (error: Error) => {
          errors++;
          firstError ??= error.message;
        },
      ),
    );
  }
  await Promise.all(calls);
  const seconds = (performance.now() - started) / 1000;
  return summarize(latencies, errors, seconds, firstError);
}

function summarize(latencies: number[], errors: number, seconds: number, firstError: string | null): LoadResult {
  latencies.sort((a, b) => a - b);
  const at = (q: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! : 0);
  return {
    ops: latencies.length,
    errors,
    seconds,
    opsPerSecond: latencies.length / seconds,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    firstError,
  };
}

export const round = (value: number, digits = 1) => Number(value.toFixed(digits));

/** CPU time (ms) a process has used so far, from /proc (user + system); 0 once it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    // The command name may hold spaces: the fields after it start past its closing parenthesis.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop()!.trim().split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU used by the server process and by the PostgreSQL backends connected to the bench's database: a cost per
 * call that holds when the machine is shared (latencies and throughput do not). `pool` is any pool on that database.
 */
export async function cpuMeter(pool: { query(sql: string): Promise<{ rows: { pid: number }[] }> }, serverPid: number) {
  const backends = async () =>
    (await pool.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)).rows.map(
      (row) => row.pid,
    );
  const sample = async () => {
    const postgres = new Map((await backends()).map((pid) => [pid, cpuMsOf(pid)]));
    return { server: cpuMsOf(serverPid), postgres, machine: machineTicks() };
  };
  const before = await sample();
  return async (ops: number) => {
    const after = await sample();
    let postgres = 0;
    for (const [pid, ms] of after.postgres) postgres += ms - (before.postgres.get(pid) ?? 0);
    return {
      "server µs/op": round(((after.server - before.server) * 1000) / ops, 0),
      "postgres µs/op": round((postgres * 1000) / ops, 0),
      ...machineUse(before.machine, after.machine),
    };
  };
}

/** The machine's CPU time so far (all cores, in clock ticks), from /proc/stat's first line. */
function machineTicks(): { total: number; idle: number; steal: number } {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return { total: user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal!, idle: idle! + iowait!, steal: steal! };
}

/**
 * How busy the whole machine was in the window (every process, all cores), and the time the hypervisor gave to
 * others (steal): a latency measured on a machine near 100% busy is the queue for its cores, not the server's.
 */
function machineUse(before: ReturnType<typeof machineTicks>, after: ReturnType<typeof machineTicks>): Record<string, string> {
  const total = after.total - before.total;
  if (total <= 0) return {};
  const share = (ticks: number) => `${round((100 * ticks) / total, 0)}%`;
  return { "machine busy": share(total - (after.idle - before.idle)), "machine steal": share(after.steal - before.steal) };
}

/** A Prometheus histogram's cumulative bucket counts by upper bound (seconds or items), from one scrape. */
type Buckets = Map<number, number>;

/** Every histogram series and counter of the server's /metrics, keyed by name and labels. */
async function scrapeMetrics(url: string): Promise<{ buckets: Map<string, Buckets>; values: Map<string, number> }> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${OPERATOR_KEY}` } });
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  const buckets = new Map<string, Buckets>();
  const values = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    const match = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match) continue;
    const [, name, labels, value] = match;
    const le = /(?:^|,)le="([^"]+)"/.exec(labels!)?.[1];
    if (name!.endsWith("_bucket") && le !== undefined) {
      const otherLabels = labels!.split(",").filter((label) => !label.startsWith("le="));
      const key = `${name!.slice(0, -"_bucket".length)}{${otherLabels.join(",")}}`;
      if (!buckets.has(key)) buckets.set(key, new Map());
      buckets.get(key)!.set(le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), Number(value));
    } else values.set(`${name}{${labels}}`, Number(value));
  }
  return { buckets, values };
}

/** The `q` quantile of the observations between two scrapes, interpolated inside its bucket as Prometheus does. */
function quantileBetween(before: Buckets | undefined, after: Buckets, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((bound) => after.get(bound)! - (before?.get(bound) ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  const index = counts.findIndex((count) => count >= rank);
  const upper = bounds[index]!;
  const lower = index === 0 ? 0 : bounds[index - 1]!;
  // Past the last finite bound: say that bound (the true value is above it).
  if (upper === Number.POSITIVE_INFINITY) return lower;
  const below = index === 0 ? 0 : counts[index - 1]!;
  return lower + ((upper - lower) * (rank - below)) / Math.max(counts[index]! - below, 1);
}

/**
 * The server's own view of a phase, from its /metrics: how long its POSTs took from headers read to answer written,
 * and each group-commit queue's batches (items, statement time, an item's time from submit to answer, skips). Set
 * against the client's latencies it shows where a call's time went: in the server, or waiting for a core on either
 * side (a client and server sharing a machine's cores wait for each other).
 */
export async function serverViewMeter(url: string) {
  const before = await scrapeMetrics(url);
  return async (): Promise<Record<string, string>> => {
    const after = await scrapeMetrics(url);
    const ms = (seconds: number) => (Number.isNaN(seconds) ? "-" : round(seconds * 1000, 1).toString());
    const quantiles = (key: string, scale: (value: number) => string) =>
      [0.5, 0.95, 0.99]
        .map((q) => `p${round(q * 100, 0)} ${scale(quantileBetween(before.buckets.get(key), after.buckets.get(key)!, q))}`)
        .join(", ");
    const grew = (key: string) => (after.values.get(key) ?? 0) - (before.values.get(key) ?? 0);
    const view: Record<string, string> = {};
    const http = 'tokenwarden_http_request_seconds{method="POST"}';
    if (after.buckets.has(http)) view["server's view, ms"] = quantiles(http, ms);
    for (const queue of ["standings", "holds", "charges"]) {
      const items = `tokenwarden_group_commit_batch_items{queue="${queue}"}`;
      const batches = grew(`tokenwarden_group_commit_batch_items_count{queue="${queue}"}`);
      if (!batches) continue;
      const perBatch = round(grew(`tokenwarden_group_commit_batch_items_sum{queue="${queue}"}`) / batches, 1);
      const skipped = grew(`tokenwarden_group_commit_skipped_total{queue="${queue}"}`);
      const setAside = grew(`tokenwarden_group_commit_set_aside_total{queue="${queue}"}`);
      view[`${queue} queue`] =
        `${batches} statements of ${perBatch} items (p99 ${round(quantileBetween(before.buckets.get(items), after.buckets.get(items)!, 0.99), 0)}); ` +
        `statement ms ${quantiles(`tokenwarden_group_commit_write_seconds{queue="${queue}"}`, ms)}; ` +
        `item ms ${quantiles(`tokenwarden_group_commit_item_seconds{queue="${queue}"}`, ms)}; skipped ${skipped}, set aside ${setAside}`;
    }
    return view;
  };
}
