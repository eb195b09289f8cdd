// Usage: npm run migrate:new -- <name>
// Writes prisma/migrations/<UTC timestamp>_<name>/migration.sql with the SQL that takes the existing
// migrations to prisma/schema.prisma (what `prisma migrate dev --create-only` would write).
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { diffMigrationsToSchema, MIGRATION_LOCK, MIGRATION_LOCK_FILE, MIGRATIONS_DIR } from "./schema-engine.ts";

const name = (process.argv[2] ?? "")
  .toLowerCase()
  .replace(/[^a-z0-9]+/g, "_")
  .replace(/^_+|_+$/g, "");
if (!name) {
  console.error("Usage: npm run migrate:new -- <name>");
  process.exit(1);
}

const sql = await diffMigrationsToSchema();
if (!sql) {
  console.log("No schema changes.");
  process.exit(0);
}

// Prisma Migrate's folder name: UTC YYYYMMDDHHMMSS, then the name.
const timestamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
const dir = path.join(MIGRATIONS_DIR, `${timestamp}_${name}`);
await mkdir(dir, { recursive: true });
await writeFile(path.join(dir, "migration.sql"), sql, { flag: "wx" });
const lockPath = path.join(MIGRATIONS_DIR, MIGRATION_LOCK_FILE);
if (!existsSync(lockPath)) await writeFile(lockPath, MIGRATION_LOCK);

console.log(sql);
console.error(`Created ${path.relative(process.cwd(), path.join(dir, "migration.sql"))}`);
