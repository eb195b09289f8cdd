// Entry point: read the configuration, start the server, stop gracefully on SIGTERM/SIGINT.
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { buildApp } from "./server/app.ts";

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`Configuration error: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
  const app = await buildApp({ config, processMetrics: true });
  const url = await app.start();
  const where = config.databaseUrl ? "PostgreSQL" : `embedded PGlite in ${config.dataDir}`;
  console.log(
    `Tokenwarden listening on ${url.replace("127.0.0.1", config.host === "0.0.0.0" ? "localhost" : config.host)}/graphql (${where}${config.redisUrl ? ", events through Redis" : ""})`,
  );
  if (config.generatedOperatorKey) {
    console.log(`Operator API key (generated, kept in ${config.dataDir ?? "./.data"}/secrets.json; shown once): ${config.operatorApiKey}`);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: finishing in-flight work and closing connections...`);
    const force = setTimeout(() => {
      console.error("Shutdown took longer than 25 s; exiting.");
      process.exit(1);
    }, 25_000);
    force.unref();
    await app.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

await main();
