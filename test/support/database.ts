// Throwaway PostgreSQL databases for tests and benchmarks (no test-runner imports, so benchmarks can use it too).
import { randomBytes } from "node:crypto";
import pg from "pg";

/** A fresh, empty database on the server named by `adminUrl`; dropped by the returned function. */
export async function createTestDatabase(adminUrl: string, prefix = "tw_test"): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
