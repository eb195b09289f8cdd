// The usage hot path under load: recordUsage (and authorize + commit pairs) over HTTP against PostgreSQL,
// spread over 100 members and all on one member, with a lost-update check, compared with the same charge
// statement run directly with `pg` at the same concurrency in the same run.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { newId } from "../../src/usage/service.ts";
import { CHARGE_SQL } from "../../src/usage/statements.ts";
import {
  BenchClient,
  type BenchModule,
  type BenchResult,
  createBenchDatabase,
  type LoadResult,
  OPERATOR_KEY,
  round,
  runLoad,
  runRate,
  startBenchServer,
} from "./support.ts";

const MEMBERS = 100;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const POOL_SIZE = Number(process.env.BENCH_POOL_SIZE ?? 16);
const SPREAD_OPS = Number(process.env.BENCH_OPS ?? 20_000);
/** The target rate, offered open-loop: latency is then the server's at that load, not at its limit. */
const TARGET_RATE = Number(process.env.BENCH_RATE ?? 2_000);
const ONE_MEMBER_OPS = Number(process.env.BENCH_ONE_MEMBER_OPS ?? 10_000);
const PAIR_OPS = 3_000;
const MAX_MS = 25_000;
const WARMUP_OPS = 1_000;
const INPUT_TOKENS = 3;
const OUTPUT_TOKENS = 2;
const CHARGE = BigInt(INPUT_TOKENS + OUTPUT_TOKENS);

const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { id tokens cost balance { used remaining reserved } } }`;
const AUTHORIZE = `mutation($input: AuthorizeUsageInput!) { authorizeUsage(input: $input) { allowed reservation { id } } }`;
const COMMIT = `mutation($input: CommitUsageInput!) { commitUsage(input: $input) { id tokens cost balance { used reserved } } }`;

interface Seeded {
  organizationId: string;
  members: { id: string; raw: string }[];
  service: BenchClient;
}

async function seed(url: string): Promise<Seeded> {
  const operator = new BenchClient(url, OPERATOR_KEY, 4);
  const { createOrganization } = await operator.execute(
    `mutation { createOrganization(input: { name: "Bench", adminEmail: "admin@bench.example" }) { id members(first: 1) { edges { node { id } } } } }`,
  );
  const adminId: string = createOrganization.members.edges[0].node.id;
  const { issueAccessToken } = await operator.execute(`mutation($id: ID!) { issueAccessToken(memberId: $id, ttlSeconds: 86400) }`, {
    id: adminId,
  });
  const admin = operator.as(issueAccessToken);
  for (const kind of ["INFERENCE", "TRAINING"]) {
    await admin.execute(`mutation($kind: TokenKind!) { purchaseTokens(tokens: 60000000, kind: $kind) { id } }`, { kind });
  }
  const { addMembers } = await admin.execute(`mutation($members: [MemberInput!]!) { addMembers(members: $members) { id } }`, {
    members: Array.from({ length: MEMBERS }, (_, i) => ({ email: `member${i}@bench.example` })),
  });
  await admin.execute(
    `mutation { upsertModel(input: { key: "bench-model", inputPricePerMillion: "1.25", outputPricePerMillion: "5.00" }) { id } }`,
  );
  const { createApiKey } = await admin.execute(`mutation { createApiKey(name: "bench") { secret } }`);
  operator.close();
  admin.close();
  return {
    organizationId: Buffer.from(createOrganization.id, "base64").toString().split(":")[1]!,
    members: (addMembers as { id: string }[]).map(({ id }) => ({ id, raw: Buffer.from(id, "base64").toString().split(":")[1]! })),
    // Room for the open-loop phase, where calls may pile up beyond CONCURRENCY while the server catches up.
    service: new BenchClient(url, createApiKey.secret, Math.max(CONCURRENCY, 128)),
  };
}

/** Σ used of the members, straight from the database. */
async function usedOf(pool: pg.Pool, memberIds: string[]): Promise<bigint> {
  const { rows } = await pool.query(
    `SELECT COALESCE(sum("used"), 0)::text AS used FROM "Balance" WHERE "memberId" = ANY($1::uuid[]) AND "kind" = 'INFERENCE'`,
    [memberIds],
  );
  return BigInt(rows[0].used);
}

function describe(name: string, load: LoadResult, extra: Record<string, string | number> = {}): BenchResult {
  return {
    name,
    metrics: {
      ops: load.ops,
      errors: load.errors,
      "ops/s": round(load.opsPerSecond, 0),
      "p50 ms": round(load.p50, 2),
      "p95 ms": round(load.p95, 2),
      "p99 ms": round(load.p99, 2),
      ...extra,
      ...(load.firstError ? { "first error": load.firstError.slice(0, 160) } : {}),
    },
  };
}

/** Each phase starts from clean hot rows: thousands of updates of one row leave dead versions to step over. */
async function vacuum(pool: pg.Pool): Promise<void> {
  await pool.query(`VACUUM "Balance", "ModelCycleSpend", "Reservation"`);
}

type Drive = (count: number, op: (i: number) => Promise<unknown>) => Promise<LoadResult>;
const closedLoop: Drive = (count, op) => runLoad(count, CONCURRENCY, MAX_MS, op);

/** recordUsage over HTTP for `members`; checks that the database's used grew by exactly what was charged. */
async function httpRecord(
  name: string,
  seeded: Seeded,
  pool: pg.Pool,
  members: Seeded["members"],
  count: number,
  prefix: string,
  drive: Drive = closedLoop,
) {
  await vacuum(pool);
  const before = await usedOf(
    pool,
    members.map((m) => m.raw),
  );
  const load = await drive(count, (i) =>
    seeded.service.execute(RECORD, {
      input: {
        memberId: members[i % members.length]!.id,
        modelKey: "bench-model",
        inputTokens: INPUT_TOKENS,
        outputTokens: OUTPUT_TOKENS,
        idempotencyKey: `${prefix}-${i}`,
      },
    }),
  );
  const grew =
    (await usedOf(
      pool,
      members.map((m) => m.raw),
    )) - before;
  const expected = BigInt(load.ops) * CHARGE;
  return { load, result: describe(name, load, { "lost updates": Number(expected - grew), "used grew": grew.toString() }) };
}

/**
 * The same charge statement the service runs, straight through `pg` and prepared as the service prepares it: one
 * charge per statement (autocommit, one round trip).
 */
async function rawRecord(name: string, seeded: Seeded, pool: pg.Pool, members: Seeded["members"], count: number, prefix: string) {
  await vacuum(pool);
  const before = await usedOf(
    pool,
    members.map((m) => m.raw),
  );
  const load = await runLoad(count, CONCURRENCY, MAX_MS, (i) => {
    const now = new Date();
    const item = {
      ord: 0,
      usage_id: newId(now),
      organization_id: seeded.organizationId,
      reservation_id: null,
      member_id: members[i % members.length]!.raw,
      link: false,
      model_key: "bench-model",
      kind: "INFERENCE",
      input_tokens: INPUT_TOKENS,
      output_tokens: OUTPUT_TOKENS,
      app: null,
      assistant: null,
      idempotency_key: `${prefix}-${i}`,
      payload_hash: randomBytes(16).toString("base64url"),
    };
    return pool.query({
      name: "charge_usage",
      text: CHARGE_SQL,
      values: [JSON.stringify([item]), now.toISOString().slice(0, 23), now.toISOString().slice(0, 10)],
    });
  });
  const grew =
    (await usedOf(
      pool,
      members.map((m) => m.raw),
    )) - before;
  return { load, result: describe(name, load, { "lost updates": Number(BigInt(load.ops) * CHARGE - grew) }) };
}

async function run(): Promise<BenchResult[]> {
  const database = await createBenchDatabase();
  const server = await startBenchServer({ DATABASE_URL: database.url, DATABASE_POOL_SIZE: String(POOL_SIZE) });
  const pool = new pg.Pool({ connectionString: database.url, max: POOL_SIZE });
  const results: BenchResult[] = [];
  // Interrupted: still stop the server and drop the database.
  const interrupted = () => void server.stop().finally(() => database.drop().finally(() => process.exit(130)));
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const seeded = await seed(server.url);
    const one = [seeded.members[0]!];
    await httpRecord("warm-up", seeded, pool, seeded.members, WARMUP_OPS, "warm");

    const spread = await httpRecord(
      `recordUsage HTTP, ${MEMBERS} members, ${CONCURRENCY} in flight`,
      seeded,
      pool,
      seeded.members,
      SPREAD_OPS,
      "spread",
    );
    const atTarget = await httpRecord(
      `recordUsage HTTP, ${MEMBERS} members, offered at a fixed ${TARGET_RATE}/s (open loop)`,
      seeded,
      pool,
      seeded.members,
      Math.min(SPREAD_OPS, TARGET_RATE * 10),
      "rate",
      (count, op) => runRate(count, TARGET_RATE, op),
    );
    const rawSpread = await rawRecord(`same statement via pg, ${MEMBERS} members`, seeded, pool, seeded.members, SPREAD_OPS, "raw-spread");
    const single = await httpRecord(`recordUsage HTTP, 1 member, ${CONCURRENCY} in flight`, seeded, pool, one, ONE_MEMBER_OPS, "one");
    const rawSingle = await rawRecord("same statement via pg, 1 member", seeded, pool, one, ONE_MEMBER_OPS, "raw-one");
    spread.result.metrics["ours/raw"] = round(spread.load.opsPerSecond / rawSpread.load.opsPerSecond, 2);
    single.result.metrics["ours/raw"] = round(single.load.opsPerSecond / rawSingle.load.opsPerSecond, 2);
    results.push(spread.result, atTarget.result, rawSpread.result, single.result, rawSingle.result);

    const pairs = await runLoad(PAIR_OPS, CONCURRENCY, MAX_MS, async (i) => {
      const member = seeded.members[i % MEMBERS]!;
      const { authorizeUsage } = await seeded.service.execute(AUTHORIZE, {
        input: { memberId: member.id, modelKey: "bench-model", estimatedTokens: 10 },
      });
      if (!authorizeUsage.allowed) throw new Error("authorization denied");
      await seeded.service.execute(COMMIT, {
        input: {
          reservationId: authorizeUsage.reservation.id,
          inputTokens: INPUT_TOKENS,
          outputTokens: OUTPUT_TOKENS,
          idempotencyKey: `pair-${i}`,
        },
      });
    });
    const { rows } = await pool.query(`SELECT COALESCE(sum("reserved"), 0)::text AS reserved FROM "Balance"`);
    results.push(describe(`authorizeUsage + commitUsage pairs, ${MEMBERS} members`, pairs, { "reserved left": rows[0].reserved }));

    // The transport's own ceiling on this machine: a query that touches nothing, same client and credential.
    const floor = await runLoad(SPREAD_OPS, CONCURRENCY, MAX_MS, () => seeded.service.execute(`{ __typename }`));
    results.push(describe(`{ __typename } (no database), ${CONCURRENCY} in flight`, floor));
    seeded.service.close();
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    await pool.end();
    await server.stop();
    await database.drop();
  }
  return results;
}

export const usageBench: BenchModule = { name: "usage hot path", run };
