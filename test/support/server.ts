// Starts a real server for a test file: embedded PGlite in memory by default; a fresh PostgreSQL
// database when TEST_DATABASE_URL is set; events through Redis when TEST_REDIS_URL is set.
import type { Plugin } from "graphql-yoga";
import { afterAll } from "vitest";
import type { Clock } from "../../src/clock.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { type App, buildApp } from "../../src/server/app.ts";
import { createTestDatabase } from "./database.ts";

export const OPERATOR_KEY = "test-operator-key-0123456789abcdef";
const JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789";

export interface TestServer {
  app: App;
  url: string;
  config: Config;
  /** Database connection string (PostgreSQL runs only), so a second server can share it. */
  databaseUrl: string | null;
}

export interface StartOptions {
  clock?: Clock;
  env?: Record<string, string>;
  /** Share an existing database (a second process of the same deployment). */
  databaseUrl?: string;
  /** Observes every SQL statement the server sends (to pin query counts). */
  onQuery?: (sql: string) => void;
  /** Yoga plugins added after the server's own. */
  yogaPlugins?: Plugin[];
}

/** Starts a server and stops it (and drops its database) after the file's tests. */
export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  let databaseUrl = options.databaseUrl ?? null;
  let drop: (() => Promise<void>) | null = null;
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!databaseUrl && adminUrl) {
    const database = await createTestDatabase(adminUrl);
    databaseUrl = database.url;
    drop = database.drop;
  }
  const config = loadConfig({
    NODE_ENV: "test",
    OPERATOR_API_KEY: OPERATOR_KEY,
    AUTH_JWT_SECRET: JWT_SECRET,
    DATA_DIR: ":memory:",
    LOG_LEVEL: "silent",
    SCHEDULER_INTERVAL_SECONDS: "0",
    HOST: "127.0.0.1",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...(process.env.TEST_REDIS_URL ? { REDIS_URL: process.env.TEST_REDIS_URL } : {}),
    ...options.env,
  });
  const app = await buildApp({
    config,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
    ...(options.yogaPlugins ? { yogaPlugins: options.yogaPlugins } : {}),
  });
  const url = await app.start(0);
  // Registered with the file or suite being collected: call startServer at a file's or describe's top level, not in a
  // hook or a test (a hook registered there never runs, and the database would be left behind).
  afterAll(async () => {
    try {
      await app.stop();
    } finally {
      await drop?.();
    }
  });
  return { app, url, config, databaseUrl };
}
