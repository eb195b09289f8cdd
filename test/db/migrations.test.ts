import { createHash, randomBytes } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { diffDatabaseToSchema, prismaApplyMigrations, prismaMigrationStatus } from "../../prisma/tools/schema-engine.ts";
import { applyMigrations, DEFAULT_MIGRATIONS_DIR, type MigrationDb, readMigrations } from "../../src/db/migrate.ts";

// Prisma's schema engine (WebAssembly) and fresh PGlite databases are heavy: on a 2-core host that other processes
// keep busy, one case takes minutes. The cases run one after another (describe.sequential), so each timeout
// measures that case's own work, not the sum of every case sharing the worker's thread.
const TIMEOUT = 300_000;

function pgliteDb(pglite: PGlite): MigrationDb {
  return {
    exec: async (sql) => {
      await pglite.exec(sql);
    },
    query: async <T>(sql: string, params?: unknown[]) => (await pglite.query<T>(sql, params)).rows,
  };
}

/** Like src/db/database.ts: a pool, so consecutive calls may run on different connections. */
function poolDb(pool: pg.Pool): MigrationDb {
  return {
    exec: async (sql) => {
      await pool.query(sql);
    },
    query: async <T>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as T[],
  };
}

interface Row {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  applied_steps_count: number;
}
const rowsOf = (db: MigrationDb) =>
  db.query<Row>("SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name");

const migrations = await readMigrations();
const names = migrations.map((m) => m.name);

const tempDirs: string[] = [];
/** A copy of prisma/migrations to tamper with. */
async function copyMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tokenwarden-migrations-"));
  tempDirs.push(dir);
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}
afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe.sequential("migrations", () => {
  it("has at least one migration", () => {
    expect(names.length).toBeGreaterThan(0);
  });

  it(
    "build exactly prisma/schema.prisma (else: npm run migrate:new -- <name>)",
    async () => {
      const db = new PGlite();
      await applyMigrations(pgliteDb(db));
      expect(await diffDatabaseToSchema(db)).toBe("");
      await db.close();
    },
    TIMEOUT,
  );

  it(
    "drift check can fail: an empty database differs from the schema",
    async () => {
      const db = new PGlite();
      expect(await diffDatabaseToSchema(db)).toContain('CREATE TABLE "Organization"');
      await db.close();
    },
    TIMEOUT,
  );
});

describe.sequential("applyMigrations on PGlite", () => {
  it(
    "applies each migration once, recording Prisma's checksum; a second run is a no-op",
    async () => {
      const pglite = new PGlite();
      const db = pgliteDb(pglite);
      expect(await applyMigrations(db)).toEqual(names);
      expect(await applyMigrations(db)).toEqual([]);

      const rows = await rowsOf(db);
      expect(rows.map((row) => row.migration_name)).toEqual(names);
      for (const [i, row] of rows.entries()) {
        const sql = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, names[i] as string, "migration.sql"));
        expect(row.checksum).toBe(createHash("sha256").update(sql).digest("hex"));
        expect(row.finished_at).not.toBeNull();
        expect(row.applied_steps_count).toBe(1);
      }
      await pglite.close();
    },
    TIMEOUT,
  );

  it(
    "is interchangeable with Prisma Migrate, both ways",
    async () => {
      const ours = new PGlite();
      await applyMigrations(pgliteDb(ours));
      expect(await prismaMigrationStatus(ours)).toEqual({
        editedMigrationNames: [],
        failedMigrationNames: [],
        hasMigrationsTable: true,
        history: null,
      });
      expect(await prismaApplyMigrations(ours)).toEqual([]);

      const prismas = new PGlite();
      expect(await prismaApplyMigrations(prismas)).toEqual(names);
      expect(await applyMigrations(pgliteDb(prismas))).toEqual([]);
      await Promise.all([ours.close(), prismas.close()]);
    },
    TIMEOUT,
  );

  it("refuses to run when an applied migration was edited", { timeout: TIMEOUT }, async () => {
    const pglite = new PGlite();
    const db = pgliteDb(pglite);
    const dir = await copyMigrations();
    await applyMigrations(db, dir);
    await writeFile(path.join(dir, names[0] as string, "migration.sql"), "-- edited\n", { flag: "a" });
    await expect(applyMigrations(db, dir)).rejects.toThrow(/checksum mismatch.*/);
    await pglite.close();
  });

  it("rolls a failing migration back whole, without recording it", { timeout: TIMEOUT }, async () => {
    const pglite = new PGlite();
    const db = pgliteDb(pglite);
    const dir = await copyMigrations();
    await mkdir(path.join(dir, "99999999999999_broken"));
    await writeFile(
      path.join(dir, "99999999999999_broken", "migration.sql"),
      'CREATE TABLE "Half" (id int);\nSELECT * FROM "NoSuchTable";\n',
    );
    await expect(applyMigrations(db, dir)).rejects.toThrow(/99999999999999_broken/);
    expect((await rowsOf(db)).map((row) => row.migration_name)).toEqual(names);
    expect(await db.query("SELECT to_regclass('\"Half\"') IS NULL AS absent")).toEqual([{ absent: true }]);
    await pglite.close();
  });
});

describe.sequential("applyMigrations on PostgreSQL", () => {
  const adminUrl = process.env.TEST_PG_ADMIN_URL ?? "postgresql://root@127.0.0.1:5432/postgres";

  it(
    "several processes starting at once apply each migration exactly once",
    async () => {
      const database = `tokenwarden_migrate_${randomBytes(6).toString("hex")}`;
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${database}`);
      const url = new URL(adminUrl);
      url.pathname = `/${database}`;
      // Separate pools stand for separate server processes.
      const pools = Array.from({ length: 4 }, () => {
        const pool = new pg.Pool({ connectionString: url.href, max: 3 });
        // pool.end() resolves before its sockets close; DROP DATABASE ... FORCE may then kill them.
        pool.on("error", () => {});
        return pool;
      });
      try {
        const results = await Promise.all(pools.map((pool) => applyMigrations(poolDb(pool))));
        expect(results.flat().sort()).toEqual(names);

        const rows = await rowsOf(poolDb(pools[0] as pg.Pool));
        expect(rows.map((row) => row.migration_name)).toEqual(names);
        expect(rows.map((row) => row.checksum)).toEqual(migrations.map((m) => m.checksum));
        expect(await applyMigrations(poolDb(pools[1] as pg.Pool))).toEqual([]);

        // Lose the race deterministically: a process that read the history before another applied it.
        const db = poolDb(pools[2] as pg.Pool);
        let reads = 0;
        const stale: MigrationDb = {
          exec: db.exec,
          query: async <T>(sql: string, params?: unknown[]) => (reads++ === 0 ? [] : db.query<T>(sql, params)),
        };
        expect(await applyMigrations(stale)).toEqual([]);
        expect(reads).toBe(2);
        expect(await rowsOf(db)).toHaveLength(names.length);
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
        await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await admin.end();
      }
    },
    TIMEOUT,
  );
});
