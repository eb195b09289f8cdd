// Usage: npm run generate [-- <prisma generate flags>]
// `prisma generate` never runs the schema engine, but the CLI downloads it first unless
// PRISMA_SCHEMA_ENGINE_BINARY names an existing file: an empty stub lets it run offline.
import { spawnSync } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const prismaCli = path.join(path.dirname(createRequire(import.meta.url).resolve("prisma/package.json")), "build", "index.js");

let engine = process.env.PRISMA_SCHEMA_ENGINE_BINARY;
if (!engine) {
  engine = path.join(os.tmpdir(), "prisma-schema-engine-stub");
  closeSync(openSync(engine, "a"));
}

const result = spawnSync(process.execPath, [prismaCli, "generate", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: engine,
    // Generators such as prisma-pothos-types are run as shell commands from node_modules/.bin.
    PATH: [path.join(root, "node_modules", ".bin"), process.env.PATH].filter(Boolean).join(path.delimiter),
  },
});
if (result.error) throw result.error;
process.exit(result.status ?? 1);
