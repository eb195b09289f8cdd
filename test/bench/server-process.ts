// The server of a benchmark, in its own process: configured from the environment, reports its URL, stops on "stop",
// and answers "memory" with its process.memoryUsage() after a full garbage collection (what it holds, not what it has
// not yet collected; started with --expose-gc by support.ts).
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { loadConfig } from "../../src/config.ts";
import { buildApp } from "../../src/server/app.ts";

const app = await buildApp({ config: loadConfig(process.env) });
const url = await app.start(0);
process.send?.(url);
// How late the event loop ran its turns: "loop-reset" starts a window, "loop" reports its p50/p99/max in ms.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
process.on("message", async (message) => {
  if (message === "loop-reset") {
    loopDelay.reset();
    return;
  }
  if (message === "loop") {
    const ms = (ns: number) => ns / 1e6;
    process.send?.({ loop: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) } });
    return;
  }
  if (message === "memory") {
    const before = process.memoryUsage();
    (globalThis as { gc?: () => void }).gc?.();
    process.send?.({ memory: { before, after: process.memoryUsage() } });
    return;
  }
  // BENCH_FANOUT_HEAP_SNAPSHOT: what the fan-out bench's sockets hold, object by object.
  if (message === "heap-snapshot") {
    const { writeHeapSnapshot } = await import("node:v8");
    process.send?.({ heapSnapshot: writeHeapSnapshot(join(tmpdir(), `fanout-${process.pid}-${Date.now()}.heapsnapshot`)) });
    return;
  }
  if (message !== "stop") return;
  await app.stop();
  process.exit(0);
});
process.on("disconnect", () => process.exit(0));
