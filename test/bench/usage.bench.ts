// The usage hot path under load: recordUsage (and authorize + commit pairs) over HTTP against PostgreSQL,
// spread over 100 members and all on one member, with a lost-update check, compared in the same run with two
// `pg` baselines at the same concurrency: the same charge statement one call at a time, and a plain prepared
// debit-and-insert. The calls come from a separate client process (load.ts) with a plain keep-alive http client,
// so the latencies are what a client sees, not what a client sharing the bench's event loop sees. Last, a
// bystander organisation's p95 while another organisation misbehaves (issue 10), as a ratio to its p95 while
// that organisation sends the same traffic well-behaved.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { newId } from "../../src/usage/service.ts";
import { chargeSql } from "../../src/usage/statements.ts";
import { generateLoad, type Stream } from "./load.ts";
import {
  BenchClient,
  type BenchModule,
  type BenchResult,
  type BenchServer,
  cpuMeter,
  createBenchDatabase,
  describeLoopDelay,
  describePauses,
  type LoadResult,
  OPERATOR_KEY,
  round,
  runLoad,
  serverViewMeter,
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
/** The two-phase path's target, offered open-loop. */
const PAIR_RATE = Number(process.env.BENCH_PAIR_RATE ?? 1_500);
const MAX_MS = 25_000;
const WARMUP_OPS = 1_000;
/** Open-loop phases are preceded by this long at their rate, unmeasured (JIT, pools, caches, buffers). */
const WARMUP_SECONDS = 2;
/** The bystander case: each organisation's rate. */
const BYSTANDER_RATE = Number(process.env.BENCH_BYSTANDER_RATE ?? 300);
/** Which parts to run (all by default): record, pairs, bystander, floor; or "rate", the open-loop recordUsage phase alone. */
const PARTS = new Set((process.env.BENCH_USAGE_PARTS ?? "record,pairs,bystander,floor").split(","));
const BYSTANDER_SECONDS = 8;
const INPUT_TOKENS = 3;
const OUTPUT_TOKENS = 2;
const CHARGE = BigInt(INPUT_TOKENS + OUTPUT_TOKENS);

interface Seeded {
  organizationId: string;
  members: { id: string; raw: string }[];
  serviceKey: string;
}

async function seed(url: string, name = "Bench", memberCount = MEMBERS): Promise<Seeded> {
  const operator = new BenchClient(url, OPERATOR_KEY, 4);
  const { createOrganization } = await operator.execute(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id members(first: 1) { edges { node { id } } } } }`,
    { input: { name, adminEmail: `admin@${name.toLowerCase()}.example` } },
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
    members: Array.from({ length: memberCount }, (_, i) => ({ email: `member${i}@${name.toLowerCase()}.example` })),
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
    serviceKey: createApiKey.secret,
  };
}

/** A stream of `script` calls by `seeded`'s service key to `members`. */
function stream(
  seeded: Seeded,
  members: Seeded["members"],
  script: Stream["script"],
  prefix: string,
  count: number,
  rate?: number,
): Stream {
  return {
    script,
    credential: seeded.serviceKey,
    members: members.map((member) => member.id),
    modelKey: "bench-model",
    prefix,
    count,
    ...(rate ? { rate } : { concurrency: CONCURRENCY, maxMs: MAX_MS }),
    // Room for the open-loop phases, where calls may pile up beyond CONCURRENCY while the server catches up.
    sockets: rate ? 256 : CONCURRENCY,
  };
}

/** The server and a pool on its database, for the CPU each measured call costs (cpuMeter) and the server's GC pauses. */
let measured: { server: BenchServer; pool: pg.Pool } | null = null;

type MeteredLoad = LoadResult & { cpu?: Record<string, number | string>; view?: Record<string, string>; gc?: Record<string, string> };

/**
 * One stream in the client process, after `WARMUP_SECONDS` of the same calls at the same rate when open-loop; with
 * the server's and PostgreSQL's CPU per call.
 */
async function drive(url: string, load: Stream): Promise<MeteredLoad> {
  if (load.rate) await generateLoad(url, [{ ...load, prefix: `${load.prefix}-warm`, count: load.rate * WARMUP_SECONDS }]);
  const cpu = measured && (await cpuMeter(measured.pool, measured.server.pid));
  const serverView = measured && (await serverViewMeter(url));
  measured?.server.resetLoopDelay();
  const [result] = await generateLoad(url, [load]);
  if (!measured) return result!;
  const { gc, ...loop } = await measured.server.loopDelay();
  return {
    ...result!,
    cpu: await cpu!(result!.ops),
    view: await serverView!(),
    gc: {
      "server loop delay": describeLoopDelay(loop),
      "server young GCs": describePauses(gc.young),
      "server old GCs": describePauses(gc.old),
    },
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

function describe(name: string, load: MeteredLoad, extra: Record<string, string | number> = {}): BenchResult {
  return {
    name,
    metrics: {
      ops: load.ops,
      errors: load.errors,
      "ops/s": round(load.opsPerSecond, 0),
      "p50 ms": round(load.p50, 2),
      "p95 ms": round(load.p95, 2),
      "p99 ms": round(load.p99, 2),
      ...load.view,
      ...load.cpu,
      ...load.gc,
      ...(load.clientCpuPerOp !== undefined ? { "client µs/op": load.clientCpuPerOp } : {}),
      ...extra,
      ...(load.firstError ? { "first error": load.firstError.slice(0, 160) } : {}),
    },
  };
}

/** Each phase starts from clean hot rows: thousands of updates of one row leave dead versions to step over. */
async function vacuum(pool: pg.Pool): Promise<void> {
  await pool.query(`VACUUM "Balance", "ModelCycleSpend", "Reservation"`);
}

/** recordUsage over HTTP for `members`; checks that the database's used grew by exactly what was charged. */
async function httpRecord(
  name: string,
  url: string,
  seeded: Seeded,
  pool: pg.Pool,
  members: Seeded["members"],
  count: number,
  prefix: string,
  rate?: number,
) {
  await vacuum(pool);
  const ids = members.map((m) => m.raw);
  const before = await usedOf(pool, ids);
  const load = await drive(url, stream(seeded, members, "record", prefix, count, rate));
  const grew = (await usedOf(pool, ids)) - before;
  // An open-loop run's warm-up charged too.
  const expected = BigInt(load.ops + (rate ? rate * WARMUP_SECONDS : 0)) * CHARGE;
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
      text: chargeSql("wait"),
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

/**
 * The plain baseline: what a hand-written hot path would do per call, one prepared statement that debits the
 * balance and inserts the usage row (no spend rollup, no reservations, no idempotency check), at the same
 * concurrency, one call per statement.
 */
async function rawDebit(name: string, seeded: Seeded, pool: pg.Pool, members: Seeded["members"], count: number, prefix: string) {
  await vacuum(pool);
  const { rows } = await pool.query(`SELECT "id" FROM "Model" WHERE "organizationId" = $1::uuid AND "key" = 'bench-model'`, [
    seeded.organizationId,
  ]);
  const modelId: string = rows[0].id;
  const ids = members.map((m) => m.raw);
  const before = await usedOf(pool, ids);
  const load = await runLoad(count, CONCURRENCY, MAX_MS, (i) => {
    const now = new Date().toISOString().slice(0, 23);
    return pool.query({
      name: "plain_debit",
      text: `WITH debit AS (
               UPDATE "Balance" SET "used" = "used" + $4::bigint, "updatedAt" = $6::timestamp
                WHERE "memberId" = $1::uuid AND "kind" = 'INFERENCE' RETURNING "memberId", "organizationId")
             INSERT INTO "UsageRecord" ("id", "organizationId", "memberId", "modelId", "kind", "inputTokens", "outputTokens", "tokens",
                "cost", "inputPricePerMillion", "outputPricePerMillion", "idempotencyKey", "payloadHash", "cycleStart", "createdAt")
             SELECT $2::uuid, d."organizationId", d."memberId", $3::uuid, 'INFERENCE', $4::bigint, 0, $4::bigint, 0, 0, 0, $5, '', $6::timestamp, $6::timestamp
               FROM debit d`,
      values: [members[i % members.length]!.raw, newId(new Date()), modelId, String(CHARGE), `${prefix}-${i}`, now],
    });
  });
  const grew = (await usedOf(pool, ids)) - before;
  return { load, result: describe(name, load, { "lost updates": Number(BigInt(load.ops) * CHARGE - grew) }) };
}

async function run(): Promise<BenchResult[]> {
  const database = await createBenchDatabase();
  const server = await startBenchServer({ DATABASE_URL: database.url, DATABASE_POOL_SIZE: String(POOL_SIZE) });
  const pool = new pg.Pool({ connectionString: database.url, max: POOL_SIZE });
  measured = { server, pool };
  const results: BenchResult[] = [];
  // Interrupted: still stop the server and drop the database.
  const interrupted = () => void server.stop().finally(() => database.drop().finally(() => process.exit(130)));
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const seeded = await seed(server.url);
    const one = [seeded.members[0]!];
    const url = server.url;
    /** recordUsage offered open-loop at the target rate over every member. */
    const recordAtTarget = () =>
      httpRecord(
        `recordUsage HTTP, ${MEMBERS} members, offered at a fixed ${TARGET_RATE}/s (open loop, ${WARMUP_SECONDS} s warm-up)`,
        url,
        seeded,
        pool,
        seeded.members,
        TARGET_RATE * 10,
        "rate",
        TARGET_RATE,
      );
    if (PARTS.has("record")) {
      await httpRecord("warm-up", url, seeded, pool, seeded.members, WARMUP_OPS, "warm");

      const spread = await httpRecord(
        `recordUsage HTTP, ${MEMBERS} members, ${CONCURRENCY} in flight`,
        url,
        seeded,
        pool,
        seeded.members,
        SPREAD_OPS,
        "spread",
      );
      const atTarget = await recordAtTarget();
      const rawSpread = await rawRecord(
        `same statement via pg, ${MEMBERS} members`,
        seeded,
        pool,
        seeded.members,
        SPREAD_OPS,
        "raw-spread",
      );
      const plainSpread = await rawDebit(
        `plain debit-and-insert via pg, ${MEMBERS} members`,
        seeded,
        pool,
        seeded.members,
        SPREAD_OPS,
        "plain-spread",
      );
      const single = await httpRecord(
        `recordUsage HTTP, 1 member, ${CONCURRENCY} in flight`,
        url,
        seeded,
        pool,
        one,
        ONE_MEMBER_OPS,
        "one",
      );
      const rawSingle = await rawRecord("same statement via pg, 1 member", seeded, pool, one, ONE_MEMBER_OPS, "raw-one");
      const plainSingle = await rawDebit("plain debit-and-insert via pg, 1 member", seeded, pool, one, ONE_MEMBER_OPS, "plain-one");
      const ratios = (ours: LoadResult, raw: LoadResult, plain: LoadResult) => ({
        "ours/raw": round(ours.opsPerSecond / raw.opsPerSecond, 2),
        "ours/plain": round(ours.opsPerSecond / plain.opsPerSecond, 2),
      });
      Object.assign(spread.result.metrics, ratios(spread.load, rawSpread.load, plainSpread.load));
      Object.assign(single.result.metrics, ratios(single.load, rawSingle.load, plainSingle.load));
      results.push(
        spread.result,
        atTarget.result,
        rawSpread.result,
        plainSpread.result,
        single.result,
        rawSingle.result,
        plainSingle.result,
      );
    }

    if (PARTS.has("rate")) {
      await httpRecord("warm-up", url, seeded, pool, seeded.members, WARMUP_OPS, "warm");
      results.push((await recordAtTarget()).result);
    }
    if (PARTS.has("pairs")) {
      // Unmeasured first, as the recordUsage phases are: the two-phase path's code is not yet compiled.
      await generateLoad(url, [stream(seeded, seeded.members, "pair", "pair-warm", WARMUP_OPS)]);
      await vacuum(pool);
      const pairs = await drive(url, stream(seeded, seeded.members, "pair", "pair", PAIR_OPS));
      results.push(describe(`authorizeUsage + commitUsage pairs, ${MEMBERS} members, ${CONCURRENCY} in flight`, pairs));
      await vacuum(pool);
      const pairsAtTarget = await drive(url, stream(seeded, seeded.members, "pair", "pair-rate", PAIR_RATE * 10, PAIR_RATE));
      const { rows } = await pool.query(`SELECT COALESCE(sum("reserved"), 0)::text AS reserved FROM "Balance"`);
      results.push(
        describe(`authorizeUsage + commitUsage pairs offered at ${PAIR_RATE}/s (open loop, ${WARMUP_SECONDS} s warm-up)`, pairsAtTarget, {
          "reserved left": rows[0].reserved,
        }),
      );
    }

    if (PARTS.has("bystander")) results.push(...(await bystander(url, seeded, pool)));

    if (PARTS.has("floor")) {
      // The transport's own ceiling on this machine: a query that touches nothing, same client and credential.
      const floor = await drive(url, stream(seeded, seeded.members, "typename", "floor", SPREAD_OPS));
      results.push(describe(`{ __typename } (no database), ${CONCURRENCY} in flight`, floor));
    }
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    await pool.end();
    await server.stop();
    await database.drop();
  }
  return results;
}

/**
 * Issue 10: one organisation must not slow another. A bystander organisation records usage at a fixed rate while
 * a second organisation sends the same number of calls, first well-behaved, then misbehaving: (1) commits that
 * collide (two keys for one reservation at once, which fails their batch's statement), (2) charges to a member
 * whose balance row another database connection holds locked for the whole phase. The bystander's p95 in each
 * misbehaving phase is given as a ratio to its p95 in the matching well-behaved one (target ≤ 1.5).
 */
async function bystander(url: string, seeded: Seeded, pool: pg.Pool): Promise<BenchResult[]> {
  const other = await seed(url, "Bystander", 10);
  const count = BYSTANDER_RATE * BYSTANDER_SECONDS;
  const watched = (prefix: string) => stream(other, other.members, "record", prefix, count, BYSTANDER_RATE);
  const phase = async (name: string, noisy: Stream, during?: () => Promise<() => Promise<void>>) => {
    await vacuum(pool);
    const release = await during?.();
    const [bystanderLoad, noisyLoad] = await generateLoad(url, [watched(`by-${noisy.prefix}`), noisy]).finally(() => release?.());
    return { name, bystanderLoad: bystanderLoad!, noisyLoad: noisyLoad! };
  };
  // Warm-up, unmeasured, of every kind of call the phases make (the first phase would otherwise pay for it).
  await phase("warm-up", stream(seeded, seeded.members, "record", "noisy-warm", count, BYSTANDER_RATE));
  await phase("warm-up", stream(seeded, seeded.members, "commit-retry", "retry-warm", count / 2, BYSTANDER_RATE / 2));

  const retry = await phase("well-behaved commits", stream(seeded, seeded.members, "commit-retry", "retry", count / 2, BYSTANDER_RATE / 2));
  const twice = await phase("colliding commits", stream(seeded, seeded.members, "commit-twice", "twice", count / 2, BYSTANDER_RATE / 2));
  const plain = await phase("well-behaved charges", stream(seeded, seeded.members.slice(0, 10), "record", "calm", count, BYSTANDER_RATE));
  const lockedMember = seeded.members[0]!;
  const locked = await phase(
    "charges, one balance row held locked",
    stream(seeded, seeded.members.slice(0, 10), "record", "locked", count, BYSTANDER_RATE),
    async () => {
      const holder = await pool.connect();
      await holder.query("BEGIN");
      await holder.query(`SELECT 1 FROM "Balance" WHERE "memberId" = $1::uuid FOR UPDATE`, [lockedMember.raw]);
      // Held for the phase: the bystander's calls end first (same count and rate), the locked member's wait for it.
      let released = false;
      const release = async () => {
        if (released) return;
        released = true;
        clearTimeout(timer);
        await holder.query("ROLLBACK").finally(() => holder.release());
      };
      const timer = setTimeout(() => void release(), (BYSTANDER_SECONDS + 2) * 1000);
      return release;
    },
  );
  type Phase = { name: string; bystanderLoad: LoadResult; noisyLoad: LoadResult };
  const row = (measured: Phase, baseline?: LoadResult) =>
    describe(`bystander's recordUsage at ${BYSTANDER_RATE}/s while another organisation sends ${measured.name}`, measured.bystanderLoad, {
      "other's p95 ms": round(measured.noisyLoad.p95, 2),
      "other's errors": measured.noisyLoad.errors,
      ...(baseline ? { "p95 ratio": round(measured.bystanderLoad.p95 / baseline.p95, 2) } : {}),
    });
  return [row(retry), row(twice, retry.bystanderLoad), row(plain), row(locked, plain.bystanderLoad)];
}

export const usageBench: BenchModule = { name: "usage hot path", run };
