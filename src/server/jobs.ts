// Periodic background work (reservation expiry, cycle resets, rebalancing). Each job is safe to run
// in several processes at once: exactly-once effects come from the database, not from this loop.
import type { Runtime } from "../runtime.ts";
import type { Metrics } from "./metrics.ts";

export interface BackgroundJob {
  name: string;
  run(runtime: Runtime): Promise<unknown>;
}

export class Scheduler {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  readonly #runtime: Runtime;
  readonly #metrics: Metrics;
  readonly #jobs: readonly BackgroundJob[];

  /** `jobs` run one after the other, in this order, on every tick. */
  constructor(runtime: Runtime, metrics: Metrics, jobs: readonly BackgroundJob[]) {
    this.#runtime = runtime;
    this.#metrics = metrics;
    this.#jobs = jobs;
  }

  /** Runs every job once now (also used by tests after moving the clock). */
  runOnce(): Promise<void> {
    this.#running ??= this.#runAll().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  start(intervalSeconds: number): void {
    if (intervalSeconds <= 0) return;
    void this.runOnce();
    this.#timer = setInterval(() => void this.runOnce(), intervalSeconds * 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  async #runAll(): Promise<void> {
    for (const job of this.#jobs) {
      try {
        await job.run(this.#runtime);
        this.#metrics.jobRuns.inc({ job: job.name, outcome: "ok" });
      } catch (error) {
        this.#metrics.jobRuns.inc({ job: job.name, outcome: "error" });
        console.error(`Background job ${job.name} failed:`, error);
      }
    }
  }
}
