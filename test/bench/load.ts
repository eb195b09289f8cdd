// Runs load streams in a separate client process (load-process.ts) and returns each stream's latencies.
import { fork } from "node:child_process";
import type { LoadResult } from "./support.ts";

export interface Stream {
  /** What each call does (see load-process.ts). */
  script: "record" | "pair" | "commit-twice" | "commit-retry" | "typename";
  credential: string;
  /** Global ids of the members the calls go to, in turn. */
  members: string[];
  modelKey: string;
  /** Idempotency keys are `${prefix}-${i}`. */
  prefix: string;
  count: number;
  /** Calls offered per second (open loop); otherwise `concurrency` in flight (closed loop). */
  rate?: number;
  concurrency?: number;
  maxMs?: number;
  /** Keep-alive connections. */
  sockets: number;
}

export interface LoadRequest {
  url: string;
  streams: Stream[];
}

/** Runs the streams at the same time in a fresh client process; one result per stream, in order. */
export function generateLoad(url: string, streams: Stream[]): Promise<LoadResult[]> {
  const child = fork(new URL("./load-process.ts", import.meta.url).pathname, [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: process.execArgv.filter((arg) => !arg.startsWith("--cpu-prof")),
  });
  return new Promise((resolve, reject) => {
    child.once("message", (results) => resolve(results as LoadResult[]));
    child.once("exit", (code) => reject(new Error(`load generator exited with ${code} before answering`)));
    child.send({ url, streams } satisfies LoadRequest);
  });
}
