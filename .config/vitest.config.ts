import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // Node resolves graphql@16 (no "exports") to its CommonJS build; make test sources use that same copy,
    // or `instanceof GraphQLError` would see two different classes.
    alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }],
  },
  test: {
    root: new URL("..", import.meta.url).pathname,
    include: ["test/**/*.test.ts"],
    // Generous: the suite must pass on a machine whose cores are all taken by something else (PGlite runs a test file's
    // concurrent tests one statement at a time); a test that hangs still fails, later.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: "forks",
    maxWorkers: 2,
    sequence: { concurrent: true },
    reporters: ["default"],
  },
});
