// The server of a benchmark, in its own process: configured from the environment, reports its URL, stops on "stop",
// and answers "memory" with its process.memoryUsage() after a full garbage collection (what it holds, not what it has
// not yet collected; started with --expose-gc by support.ts).
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { loadConfig } from "../../src/config.ts";
import { buildApp } from "../../src/server/app.ts";

const app = await buildApp({ config: loadConfig(process.env) });
const url = await app.start(0);
process.send?.(url);
// How late the event loop ran its turns, and the garbage collector's pauses: "loop-reset" starts a window, "loop"
// reports the delay's p50/p99/max and the young- and old-generation pauses (count, total, longest) in ms.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const emptyPauses = () => ({ count: 0, totalMs: 0, maxMs: 0 });
let pauses = { young: emptyPauses(), old: emptyPauses() };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
    const pause = kind === constants.NODE_PERFORMANCE_GC_MINOR ? pauses.young : pauses.old;
    pause.count++;
    pause.totalMs += entry.duration;
    pause.maxMs = Math.max(pause.maxMs, entry.duration);
  }
}).observe({ entryTypes: ["gc"] });
process.on("message", async (message) => {
  if (message === "loop-reset") {
    loopDelay.reset();
    pauses = { young: emptyPauses(), old: emptyPauses() };
    return;
  }
  if (message === "loop") {
    const ms = (ns: number) => ns / 1e6;
    process.send?.({ loop: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max), gc: pauses } });
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
