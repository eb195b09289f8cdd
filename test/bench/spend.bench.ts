// Spend views at scale: 1,000,000 usage rows of one organisation in the current billing cycle (bulk-inserted
// with SQL, with the matching ModelCycleSpend rollups and first-usage times), then over HTTP against the real
// server in its own process: the spend summary, each analytics query (first on usage rows alone, then after the
// daily rollup job has run, which is how a server answers), and the full CSV export streamed while the server's
// resident memory is watched.
import { readFileSync } from "node:fs";
import http from "node:http";
import pg from "pg";
import { systemClock } from "../../src/clock.ts";
import { openDatabase } from "../../src/db/database.ts";
import { cycleAt } from "../../src/organizations/cycle.ts";
import type { Runtime } from "../../src/runtime.ts";
import { rollUpUsage } from "../../src/spend/analytics.ts";
import {
  BenchClient,
  type BenchModule,
  type BenchResult,
  createBenchDatabase,
  OPERATOR_KEY,
  round,
  runLoad,
  startBenchServer,
} from "./support.ts";

const ROWS = Number(process.env.BENCH_SPEND_ROWS ?? 1_000_000);
const MEMBERS = 1000;
const APPS = 40;
const ASSISTANTS = 25;
const RUNS = 15;

const QUERIES: Record<string, string> = {
  "spend summary": `query { organization { spend { spent ratio byModel { model { key } spend percent requests tokens } } } }`,
  "analytics totals": `query { analytics { totals { requests tokens cost } } }`,
  "top apps": `query { analytics { topApps(limit: 10) { name requests tokens cost } } }`,
  "top assistants": `query { analytics { topAssistants(limit: 10, by: TOKENS) { name requests tokens cost } } }`,
  "top consumers": `query { analytics { topConsumers(limit: 10, by: COST) { member { email } requests tokens cost } } }`,
  "top models": `query { analytics { topModels(limit: 10) { model { key } requests tokens cost } } }`,
  "time to first value": `query { analytics { medianTimeToFirstValueSeconds timeToFirstValue { membersCreated membersReached buckets { members } } } }`,
};

const rawId = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;

async function seedOrganization(url: string): Promise<{ organizationId: string; adminToken: string }> {
  const operator = new BenchClient(url, OPERATOR_KEY, 4);
  const { createOrganization } = await operator.execute(
    `mutation { createOrganization(input: { name: "Spend bench", adminEmail: "admin@spend.bench", planBudget: "50000", overageLimit: "10000" }) {
      id members(first: 1) { edges { node { id } } } } }`,
  );
  const { issueAccessToken } = await operator.execute(`mutation($id: ID!) { issueAccessToken(memberId: $id, ttlSeconds: 86400) }`, {
    id: createOrganization.members.edges[0].node.id,
  });
  const admin = operator.as(issueAccessToken);
  for (const [i, [input, output]] of [
    ["0.15", "0.60"],
    ["2.50", "10"],
    ["3", "15"],
    ["0.50", "1.50"],
    ["5", "20"],
  ].entries()) {
    await admin.execute(`mutation($input: ModelInput!) { upsertModel(input: $input) { id } }`, {
      input: { key: `model-${i}`, inputPricePerMillion: input, outputPricePerMillion: output },
    });
  }
  operator.close();
  admin.close();
  return { organizationId: rawId(createOrganization.id), adminToken: issueAccessToken };
}

/** Members, usage rows spread evenly over the cycle so far, and what the usage transaction keeps beside them. */
async function bulkLoad(client: pg.Client, organizationId: string, cycleStart: Date, now: Date): Promise<number> {
  const started = performance.now();
  await client.query(
    `INSERT INTO "Team" ("id", "organizationId", "name") SELECT gen_random_uuid(), $1, 'Team ' || g FROM generate_series(1, 20) g`,
    [organizationId],
  );
  await client.query(
    `INSERT INTO "Member" ("id", "organizationId", "email", "name", "teamId", "createdAt")
     SELECT gen_random_uuid(), $1, 'member' || g || '@spend.bench', 'Member ' || g,
            (SELECT t."id" FROM "Team" t WHERE t."organizationId" = $1 ORDER BY t."name" OFFSET g % 20 LIMIT 1),
            $2::timestamp - (g % 60) * interval '1 day'
       FROM generate_series(1, ${MEMBERS}) g`,
    [organizationId, cycleStart.toISOString()],
  );
  const seconds = Math.max(1, Math.floor((now.getTime() - cycleStart.getTime()) / 1000) - 60);
  // In time order, as usage arrives: a day's rows sit together on disk, as they do in production.
  await client.query(
    `INSERT INTO "UsageRecord" ("id", "organizationId", "memberId", "modelId", "kind", "inputTokens", "outputTokens", "tokens", "cost",
        "inputPricePerMillion", "outputPricePerMillion", "app", "assistant", "idempotencyKey", "payloadHash", "cycleStart", "createdAt")
     SELECT gen_random_uuid(), $1, mb."id", md."id", CASE WHEN g % 10 = 0 THEN 'TRAINING' ELSE 'INFERENCE' END::"TokenKind",
            400 + g % 1600, 100 + g % 700, 500 + g % 1600 + g % 700,
            round(((400 + g % 1600) * md."inputPricePerMillion" + (100 + g % 700) * md."outputPricePerMillion") / 1000000, 8),
            md."inputPricePerMillion", md."outputPricePerMillion",
            CASE WHEN g % 7 = 0 THEN NULL WHEN g % 11 = 0 THEN 'Report, "quarterly"' ELSE 'app-' || (g * 7 % ${APPS}) END,
            CASE WHEN g % 5 = 0 THEN NULL ELSE 'assistant-' || (g * 13 % ${ASSISTANTS}) END,
            'bench-' || g, 'bench', $2::timestamp,
            $2::timestamp + ((g::bigint * 7919) % ${seconds}) * interval '1 second' AS at
       FROM generate_series(1, ${ROWS}) g
       JOIN (SELECT "id", row_number() OVER (ORDER BY "id") - 1 AS n FROM "Member" WHERE "organizationId" = $1) mb ON mb.n = g % ${MEMBERS}
       JOIN (SELECT "id", "inputPricePerMillion", "outputPricePerMillion", row_number() OVER (ORDER BY "key") - 1 AS n
               FROM "Model" WHERE "organizationId" = $1) md ON md.n = (g / 3) % 5
      ORDER BY at`,
    [organizationId, cycleStart.toISOString()],
  );
  await client.query(
    `INSERT INTO "ModelCycleSpend" ("organizationId", "modelId", "cycleStart", "spend", "requests", "tokens")
     SELECT "organizationId", "modelId", "cycleStart", sum("cost"), count(*), sum("tokens") FROM "UsageRecord"
      WHERE "organizationId" = $1 GROUP BY 1, 2, 3`,
    [organizationId],
  );
  await client.query(
    `UPDATE "Member" m SET "firstUsageAt" = f.first FROM (SELECT "memberId", min("createdAt") AS first FROM "UsageRecord"
      WHERE "organizationId" = $1 GROUP BY 1) f WHERE m."id" = f."memberId"`,
    [organizationId],
  );
  await client.query(`VACUUM ANALYZE`);
  return (performance.now() - started) / 1000;
}

async function timeQueries(client: BenchClient, names: string[]): Promise<Record<string, { p50: number; p95: number }>> {
  const results: Record<string, { p50: number; p95: number }> = {};
  for (const name of names) {
    await client.execute(QUERIES[name]!); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      await client.execute(QUERIES[name]!);
      samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    results[name] = {
      p50: samples[Math.floor(samples.length / 2)]!,
      p95: samples[Math.min(samples.length - 1, Math.ceil(samples.length * 0.95) - 1)]!,
    };
  }
  return results;
}

/** Resident memory of a process in MB (Linux). */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Downloads the CSV without keeping it, counting records, while sampling the server's RSS. */
async function streamExport(url: string, token: string, pid: number) {
  const baseline = rssMb(pid);
  let peak = baseline;
  let lines = 0;
  /** Peak RSS in each quarter of the rows: flat memory shows as the same number in every quarter. */
  const quarters = [0, 0, 0, 0];
  const sampler = setInterval(() => {
    const rss = rssMb(pid);
    peak = Math.max(peak, rss);
    const quarter = Math.min(3, Math.floor((lines / ROWS) * 4));
    quarters[quarter] = Math.max(quarters[quarter]!, rss);
  }, 25);
  const started = performance.now();
  let firstByteMs = 0;
  const { bytes, status } = await new Promise<{ bytes: number; status: number }>((resolve, reject) => {
    http
      .get(`${url}/export/usage.csv`, { headers: { authorization: `Bearer ${token}` } }, (response) => {
        let bytes = 0;
        response.on("data", (chunk: Buffer) => {
          if (bytes === 0) firstByteMs = performance.now() - started;
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
        });
        response.on("end", () => resolve({ bytes, status: response.statusCode ?? 0 }));
        response.on("error", reject);
      })
      .on("error", reject);
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, rssMb(pid));
  return { status, rows: lines - 1, bytes, seconds, firstByteMs, baseline, peak, quarters };
}

const HOT_PATH_OPS = 6000;
const HOT_PATH_CONCURRENCY = 64;
const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { id } }`;

/**
 * recordUsage throughput of an organisation without spend thresholds (the alert check costs no query) and
 * with thresholds that are not reached (one query per charged batch): what alerts cost the hot path.
 */
async function hotPath(url: string): Promise<BenchResult[]> {
  const operator = new BenchClient(url, OPERATOR_KEY, 4);
  const { createOrganization } = await operator.execute(
    `mutation { createOrganization(input: { name: "Alerts bench", adminEmail: "admin@alerts.bench", planBudget: "1000000" }) {
      members(first: 1) { edges { node { id } } } } }`,
  );
  const { issueAccessToken } = await operator.execute(`mutation($id: ID!) { issueAccessToken(memberId: $id, ttlSeconds: 86400) }`, {
    id: createOrganization.members.edges[0].node.id,
  });
  const admin = operator.as(issueAccessToken);
  for (const kind of ["INFERENCE", "TRAINING"]) {
    await admin.execute(`mutation($kind: TokenKind!) { purchaseTokens(tokens: 200000000, kind: $kind) { id } }`, { kind });
  }
  const { addMembers } = await admin.execute(`mutation($members: [MemberInput!]!) { addMembers(members: $members) { id } }`, {
    members: Array.from({ length: 100 }, (_, i) => ({ email: `m${i}@alerts.bench` })),
  });
  const members = (addMembers as { id: string }[]).map((m) => m.id);
  await admin.execute(`mutation { upsertModel(input: { key: "hot", inputPricePerMillion: "1", outputPricePerMillion: "2" }) { id } }`);
  const { createApiKey } = await admin.execute(`mutation { createApiKey(name: "bench") { secret } }`);
  const service = new BenchClient(url, createApiKey.secret, HOT_PATH_CONCURRENCY);
  const load = (prefix: string) =>
    runLoad(HOT_PATH_OPS, HOT_PATH_CONCURRENCY, 30_000, (i) =>
      service.execute(RECORD, {
        input: {
          memberId: members[i % members.length],
          modelKey: "hot",
          inputTokens: 30,
          outputTokens: 20,
          idempotencyKey: `${prefix}-${i}`,
        },
      }),
    );
  await load("warm");
  const without = await load("none");
  await admin.execute(`mutation { setSpendThresholds(percents: [50, 80, 100]) { id } }`);
  const withThresholds = await load("some");
  operator.close();
  admin.close();
  service.close();
  const describe = (name: string, result: Awaited<ReturnType<typeof runLoad>>): BenchResult => ({
    name,
    metrics: {
      "ops/s": round(result.opsPerSecond, 0),
      "p50 ms": round(result.p50, 1),
      "p95 ms": round(result.p95, 1),
      errors: result.errors,
      ...(result.firstError ? { "first error": result.firstError.slice(0, 160) } : {}),
    },
  });
  return [
    describe(`recordUsage, no spend thresholds (${HOT_PATH_CONCURRENCY} in flight, 100 members)`, without),
    describe("recordUsage, 3 spend thresholds not reached", withThresholds),
  ];
}

export const spendBench: BenchModule = {
  name: "spend views over 1M usage rows",
  async run(): Promise<BenchResult[]> {
    const database = await createBenchDatabase();
    const server = await startBenchServer({ DATABASE_URL: database.url, DATABASE_POOL_SIZE: "8" });
    const sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    const results: BenchResult[] = [];
    try {
      const { organizationId, adminToken } = await seedOrganization(server.url);
      const now = new Date();
      const cycle = cycleAt(1, now);
      const loadSeconds = await bulkLoad(sql, organizationId, cycle.start, now);
      const { rows } = await sql.query(`SELECT count(*)::int AS n FROM "UsageRecord" WHERE "organizationId" = $1`, [organizationId]);
      results.push({
        name: "data set",
        metrics: {
          "usage rows": rows[0].n,
          members: MEMBERS,
          "cycle days": round((now.getTime() - cycle.start.getTime()) / 86_400_000, 1),
          "load s": round(loadSeconds, 1),
        },
      });

      const admin = new BenchClient(server.url, adminToken, 4);
      const withoutRollup = await timeQueries(admin, ["top apps", "top consumers"]);
      for (const [name, t] of Object.entries(withoutRollup)) {
        results.push({
          name: `${name}, usage rows only (before the first rollup run)`,
          metrics: { "p50 ms": round(t.p50, 1), "p95 ms": round(t.p95, 1) },
        });
      }

      // The rollup job as the scheduler runs it, here in this process against the same database.
      const db = await openDatabase({ databaseUrl: database.url, dataDir: null, poolSize: 2 });
      const rollupStarted = performance.now();
      const days = await rollUpUsage({ prisma: db.prisma, clock: systemClock } as unknown as Runtime);
      const rollupSeconds = (performance.now() - rollupStarted) / 1000;
      const rollupRows = await sql.query(`SELECT count(*)::int AS n FROM "UsageDailyRollup" WHERE "organizationId" = $1`, [organizationId]);
      const rawToday = await sql.query(
        `SELECT count(*)::int AS n FROM "UsageRecord" WHERE "organizationId" = $1 AND "createdAt" >= date_trunc('day', now() AT TIME ZONE 'UTC' - interval '10 minutes')`,
        [organizationId],
      );
      await db.close();
      results.push({
        name: "daily rollup catch-up (background job)",
        metrics: { days, "rollup rows": rollupRows.rows[0].n, seconds: round(rollupSeconds, 2), "rows still read raw": rawToday.rows[0].n },
      });

      const timed = await timeQueries(admin, Object.keys(QUERIES));
      for (const [name, t] of Object.entries(timed)) {
        results.push({
          name: `${name} (HTTP, ${RUNS} runs)`,
          metrics: { "p50 ms": round(t.p50, 1), "p95 ms": round(t.p95, 1), "under 200 ms": t.p95 < 200 ? "yes" : "NO" },
        });
      }
      admin.close();

      const csv = await streamExport(server.url, adminToken, server.pid);
      results.push({
        name: "CSV export of the whole cycle",
        metrics: {
          status: csv.status,
          rows: csv.rows,
          MB: round(csv.bytes / 1e6, 1),
          seconds: round(csv.seconds, 1),
          "rows/s": round(csv.rows / csv.seconds, 0),
          "first byte ms": round(csv.firstByteMs, 0),
          "server RSS MB": `${round(csv.baseline, 0)} → peak ${round(csv.peak, 0)} (+${round(csv.peak - csv.baseline, 0)})`,
          "RSS by quarter": csv.quarters.map((mb) => round(mb, 0)).join(" / "),
        },
      });
      results.push(...(await hotPath(server.url)));
    } finally {
      await sql.end();
      await server.stop();
      if (process.env.BENCH_KEEP_DATABASE) console.log(`  kept database ${database.url}`);
      else await database.drop();
    }
    return results;
  },
};
