// Runtime migrator: applies prisma/migrations the way `prisma migrate deploy` does, recording them in
// Prisma's own _prisma_migrations table, so either tool sees what the other applied.
//
// `db` may be a pool (each call on any connection), so every step that must be atomic is ONE multi-statement
// exec: PostgreSQL runs it as one implicit transaction, which holds the advisory lock until it ends and
// rolls everything back on error.
import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface MigrationDb {
  exec(sql: string): Promise<void>;
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations", import.meta.url));

/** Prisma Migrate's own advisory lock key, so this also excludes a concurrent `prisma migrate deploy`. */
const LOCK = "SELECT pg_advisory_xact_lock(72707369);";

/** Raised inside the migration's transaction when another process applied it first. */
const ALREADY_APPLIED = "TWMA1";

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);`;

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | string | null;
  rolled_back_at: Date | string | null;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Like Prisma, accept a file whose line endings git converted since it was applied. */
function matchesChecksum(sql: string, checksum: string): boolean {
  const lf = sql.replace(/\r\n/g, "\n");
  return [sql, lf, lf.replace(/\n/g, "\r\n")].some((text) => sha256(text) === checksum);
}

/** Every `<dir>/<name>/migration.sql`, in name order (the timestamp prefix). */
export async function readMigrations(migrationsDir = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(migrationsDir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: sha256(sql) };
    }),
  );
}

/** Throws on a failed or edited migration; returns the migrations still to apply. */
function pendingMigrations(migrations: Migration[], rows: MigrationRow[]): Migration[] {
  const live = rows.filter((row) => row.rolled_back_at === null);
  const failed = live.filter((row) => row.finished_at === null).map((row) => row.migration_name);
  if (failed.length > 0) {
    throw new Error(`Migrations failed earlier and must be resolved by hand (prisma migrate resolve): ${failed.join(", ")}`);
  }
  const applied = new Map(live.map((row) => [row.migration_name, row.checksum]));
  const edited = migrations.filter((m) => applied.has(m.name) && !matchesChecksum(m.sql, applied.get(m.name) ?? ""));
  if (edited.length > 0) {
    throw new Error(`Applied migrations were modified since (checksum mismatch): ${edited.map((m) => m.name).join(", ")}`);
  }
  return migrations.filter((m) => !applied.has(m.name));
}

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** Applies `migration` with its _prisma_migrations row, atomically; false if another process already had. */
async function applyOne(db: MigrationDb, migration: Migration): Promise<boolean> {
  const name = literal(migration.name);
  const script = `${LOCK}
DO $guard$ BEGIN
  IF EXISTS (SELECT 1 FROM _prisma_migrations WHERE migration_name = ${name} AND rolled_back_at IS NULL) THEN
    RAISE EXCEPTION 'migration % is already applied', ${name} USING ERRCODE = '${ALREADY_APPLIED}';
  END IF;
END $guard$;
${migration.sql}
;
INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
VALUES (${literal(randomUUID())}, ${literal(migration.checksum)}, ${name}, now(), clock_timestamp(), 1);`;
  try {
    await db.exec(script);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === ALREADY_APPLIED) return false;
    throw new Error(`Migration ${migration.name} failed: ${(error as Error).message}`, { cause: error });
  }
}

const readRows = (db: MigrationDb) =>
  db.query<MigrationRow>("SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations");

/**
 * Applies the migrations in `migrationsDir` that `db` lacks, each in its own transaction with its
 * _prisma_migrations row. Safe to run from several processes at once. Returns the names it applied.
 */
export async function applyMigrations(db: MigrationDb, migrationsDir = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(migrationsDir);
  await db.exec(`${LOCK}\n${CREATE_TABLE}`);
  const applied: string[] = [];
  let raced = false;
  for (const migration of pendingMigrations(migrations, await readRows(db))) {
    if (await applyOne(db, migration)) applied.push(migration.name);
    else raced = true;
  }
  // What another process applied meanwhile must match our files too.
  if (raced) pendingMigrations(migrations, await readRows(db));
  return applied;
}
