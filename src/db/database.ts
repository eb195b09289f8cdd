// Opens the one database: PGlite under DATA_DIR (or in memory) by default, PostgreSQL when DATABASE_URL is set.
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { Decimal } from "decimal.js";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "./generated/client.ts";
import { applyMigrations } from "./migrate.ts";

export type Prisma = PrismaClient;

/** Raw SQL access that works the same on PGlite and PostgreSQL (the migrator, benchmarks and the hot path). */
export interface RawSql {
  exec(sql: string): Promise<void>;
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * A statement run very often, as an autocommit statement of its own. On PostgreSQL it is prepared once per
   * connection under `name` (planning a large statement can cost more than running it). Rows are typed as
   * Prisma types raw rows: int8 → bigint, numeric → Decimal, timestamp → Date (UTC). Its result columns must be
   * named, not `*`: a prepared statement's row type is fixed, and a migration adding a column would break it.
   */
  prepared<T>(name: string, sql: string, params: unknown[]): Promise<T[]>;
  /**
   * As `prepared`, but a row lock held by another connection for more than LOCK_WAIT_MS makes the statement fail
   * with `lockNotAvailable` instead of waiting (group-commit.ts sets such batches' items aside). On its own small
   * pool, so the setting never reaches Prisma's transactions.
   */
  preparedWithoutWaiting<T>(name: string, sql: string, params: unknown[]): Promise<T[]>;
}

/**
 * How long a group-committed write waits for a row another connection holds locked before it gives up: a batch skips
 * locked reservations and balances, so this bounds its wait on other rows; an item set aside and written alone waits
 * this long for its own row, then is tried again after a pause (usage/group-commit.ts).
 */
export const LOCK_WAIT_MS = 500;

/** Whether `error` is PostgreSQL's lock_not_available (a lock wait that outlasted lock_timeout). */
export const lockNotAvailable = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === "55P03";

/** Parsers of the types whose default JavaScript value differs from Prisma's, by type oid. */
const ROW_PARSERS: Record<number, (value: string) => unknown> = {
  20: (value) => BigInt(value),
  1700: (value) => new Decimal(value),
  1114: (value) => new Date(`${value.replace(" ", "T")}Z`),
  1184: (value) => new Date(value),
  1082: (value) => new Date(`${value}T00:00:00Z`),
};
const PG_TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    ROW_PARSERS[oid] ?? pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};

export interface Database {
  prisma: PrismaClient;
  raw: RawSql;
  kind: "pglite" | "postgresql";
  /** Cheap round trip, for /ready. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl: string | null;
  /** PGlite folder; null keeps PGlite in memory. */
  dataDir: string | null;
  poolSize?: number;
  /** Observes every SQL statement Prisma sends (tests pin query counts with it); off unless given. */
  onQuery?: (sql: string) => void;
}

/** A Prisma client on `adapter`, reporting each statement to `onQuery` when one is given. */
function prismaClient(
  adapter: NonNullable<ConstructorParameters<typeof PrismaClient>[0]["adapter"]>,
  onQuery?: (sql: string) => void,
): PrismaClient {
  if (!onQuery) return new PrismaClient({ adapter });
  const client = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  client.$on("query", (event) => onQuery(event.query));
  return client as unknown as PrismaClient;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const database = options.databaseUrl
    ? openPostgres(options.databaseUrl, options.poolSize ?? 10, options.onQuery)
    : await openPglite(options.dataDir, options.onQuery);
  await applyMigrations(database.raw);
  return database;
}

function openPostgres(url: string, poolSize: number, onQuery?: (sql: string) => void): Database {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  pool.on("error", (error) => console.error("PostgreSQL pool error:", error.message));
  // Two group-commit queues (charges, holds), each writing two batches and two items set aside at a time.
  const boundedPool = new pg.Pool({ connectionString: url, max: 8, options: `-c lock_timeout=${LOCK_WAIT_MS}` });
  boundedPool.on("error", (error) => console.error("PostgreSQL pool error:", error.message));
  const prisma = prismaClient(new PrismaPg(pool), onQuery);
  const raw: RawSql = {
    async exec(sql) {
      await pool.query(sql);
    },
    async query<T>(sql: string, params?: unknown[]) {
      const result = await pool.query(sql, params as unknown[]);
      return result.rows as T[];
    },
    async prepared<T>(name: string, sql: string, params: unknown[]) {
      onQuery?.(sql);
      const result = await pool.query({ name, text: sql, values: params, types: PG_TYPES });
      return result.rows as T[];
    },
    async preparedWithoutWaiting<T>(name: string, sql: string, params: unknown[]) {
      onQuery?.(sql);
      const result = await boundedPool.query({ name, text: sql, values: params, types: PG_TYPES });
      return result.rows as T[];
    },
  };
  return {
    prisma,
    raw,
    kind: "postgresql",
    async ping() {
      await pool.query("select 1");
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
      await boundedPool.end();
    },
  };
}

async function openPglite(dataDir: string | null, onQuery?: (sql: string) => void): Promise<Database> {
  const pglite = dataDir ? new PGlite(dataDir) : new PGlite();
  await pglite.waitReady;
  const prisma = prismaClient(new PrismaPGlite(pglite), onQuery);
  const raw: RawSql = {
    async exec(sql) {
      await pglite.exec(sql);
    },
    async query<T>(sql: string, params?: unknown[]) {
      const result = await pglite.query(sql, params);
      return result.rows as T[];
    },
    async prepared<T>(_name: string, sql: string, params: unknown[]) {
      onQuery?.(sql);
      const result = await pglite.query(sql, params, { parsers: ROW_PARSERS });
      return result.rows as T[];
    },
    // One connection: no other holds a lock.
    preparedWithoutWaiting<T>(name: string, sql: string, params: unknown[]) {
      return raw.prepared<T>(name, sql, params);
    },
  };
  return {
    prisma,
    raw,
    kind: "pglite",
    async ping() {
      await pglite.query("select 1");
    },
    async close() {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}
