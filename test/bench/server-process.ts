// The server of a benchmark, in its own process: configured from the environment, reports its URL, stops on "stop".
import { loadConfig } from "../../src/config.ts";
import { buildApp } from "../../src/server/app.ts";

const app = await buildApp({ config: loadConfig(process.env) });
const url = await app.start(0);
process.send?.(url);
process.on("message", async (message) => {
  if (message !== "stop") return;
  await app.stop();
  process.exit(0);
});
process.on("disconnect", () => process.exit(0));
