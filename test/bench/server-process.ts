// The server of a benchmark, in its own process: configured from the environment, reports its URL, stops on "stop",
// and answers "memory" with its process.memoryUsage() after a full garbage collection (what it holds, not what it has
// not yet collected; started with --expose-gc by support.ts).
import { loadConfig } from "../../src/config.ts";
import { buildApp } from "../../src/server/app.ts";

const app = await buildApp({ config: loadConfig(process.env) });
const url = await app.start(0);
process.send?.(url);
process.on("message", async (message) => {
  if (message === "memory") {
    const before = process.memoryUsage();
    (globalThis as { gc?: () => void }).gc?.();
    process.send?.({ memory: { before, after: process.memoryUsage() } });
    return;
  }
  if (message !== "stop") return;
  await app.stop();
  process.exit(0);
});
process.on("disconnect", () => process.exit(0));
