// Fan-out: MEMBERS members × SOCKETS sockets each watching the member's own balance (10,000 sockets by default, held
// by a raw-ws child process), then one charge per member per second, spread over the members, for SECONDS seconds
// (open loop). Prints the sockets, the server's memory per socket, and how long after each charge's response its
// event (its balance version) arrived on every socket: percentiles, events lost. Once on one process, once on two
// processes through Redis (REDIS_URL, default the local one; only published to, never stopped).
import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import {
  BenchClient,
  type BenchModule,
  type BenchResult,
  createBenchDatabase,
  OPERATOR_KEY,
  round,
  runRate,
  startBenchServer,
} from "./support.ts";

const MEMBERS = Number(process.env.BENCH_FANOUT_MEMBERS ?? 1000);
const SOCKETS = Number(process.env.BENCH_FANOUT_SOCKETS ?? 10);
const SECONDS = Number(process.env.BENCH_FANOUT_SECONDS ?? 10);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

const rssMb = (pid: number) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)![1]) / 1024;

async function pooled<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!);
      }
    }),
  );
  return results;
}

function reply<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: any) => {
      if (message.type === "failed") reject(new Error(message.error));
      else if (message.type === type) {
        child.off("message", onMessage);
        resolve(message as T);
      }
    };
    child.on("message", onMessage);
  });
}

async function scenario(processes: 1 | 2): Promise<BenchResult> {
  const database = await createBenchDatabase();
  const env = { DATABASE_URL: database.url, ...(processes === 2 ? { REDIS_URL } : {}) };
  const servers = [await startBenchServer(env)];
  if (processes === 2) servers.push(await startBenchServer(env));
  const client = fork(new URL("./fanout-client.ts", import.meta.url).pathname, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const operator = new BenchClient(servers[0]!.url, OPERATOR_KEY, 20);
  try {
    const { createOrganization } = await operator.execute(
      `mutation { createOrganization(input: { name: "Bench fan-out", adminEmail: "admin@fanout.example" }) { id members(first: 1) { edges { node { id } } } } }`,
    );
    const tokenFor = async (memberId: string) =>
      (await operator.execute(`mutation($id: ID!) { issueAccessToken(memberId: $id, ttlSeconds: 86400) }`, { id: memberId }))
        .issueAccessToken as string;
    const admin = operator.as(await tokenFor(createOrganization.members.edges[0].node.id));
    for (const kind of ["INFERENCE", "TRAINING"]) {
      await admin.execute(`mutation($kind: TokenKind!) { purchaseTokens(tokens: ${(MEMBERS + 1) * 1_000_000}, kind: $kind) { id } }`, {
        kind,
      });
    }
    const { addMembers } = await admin.execute(`mutation($members: [MemberInput!]!) { addMembers(members: $members) { id } }`, {
      members: Array.from({ length: MEMBERS }, (_, i) => ({ email: `member${i}@fanout.example` })),
    });
    const memberIds = (addMembers as { id: string }[]).map((member) => member.id);
    await admin.execute(
      `mutation { upsertModel(input: { key: "m", inputPricePerMillion: "1.00", outputPricePerMillion: "1.00" }) { id } }`,
    );
    const { createApiKey } = await admin.execute(`mutation { createApiKey(name: "chat app") { secret } }`);
    const chargers = servers.map((server) => new BenchClient(server.url, createApiKey.secret as string, 64));
    const tokens = await pooled(memberIds, 20, tokenFor);

    const rssBefore = servers.map((server) => rssMb(server.pid));
    const watches = tokens.flatMap((token, member) =>
      Array.from({ length: SOCKETS }, (_, socket) => ({ url: servers[(member * SOCKETS + socket) % servers.length]!.url, member, token })),
    );
    const opening = reply<{ sockets: number }>(client, "opened");
    client.send({ type: "open", watches, concurrency: 20 });
    const { sockets } = await opening;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rssOpen = servers.map((server) => rssMb(server.pid));

    // One charge per member per second, members taken in turn; each response says which version it made.
    const charged: { member: number; version: number; at: number }[] = [];
    const load = await runRate(MEMBERS * SECONDS, MEMBERS, async (i) => {
      const member = i % MEMBERS;
      const { recordUsage } = await chargers[i % chargers.length]!.execute(
        `mutation($m: ID!, $k: String!) { recordUsage(input: { memberId: $m, modelKey: "m", inputTokens: 7, outputTokens: 3, idempotencyKey: $k }) { balance { version } } }`,
        { m: memberIds[member], k: `fanout-${i}` },
      );
      charged.push({ member, version: recordUsage.balance.version, at: performance.timeOrigin + performance.now() });
    });
    const rssAfter = servers.map((server) => rssMb(server.pid));

    const finalVersions = new Array<number>(MEMBERS).fill(0);
    for (const charge of charged) finalVersions[charge.member] = Math.max(finalVersions[charge.member]!, charge.version);
    const collecting = reply<{ sockets: { member: number; versions: number[]; times: number[] }[] }>(client, "collected");
    client.send({ type: "collect", finalVersions, waitMs: 30_000 });
    const collected = await collecting;

    const byMember = new Map<number, { versions: number[]; times: number[] }[]>();
    for (const socket of collected.sockets) byMember.set(socket.member, [...(byMember.get(socket.member) ?? []), socket]);
    const latencies: number[] = [];
    let lost = 0;
    let superseded = 0;
    let backwards = 0;
    for (const socket of collected.sockets) {
      for (let index = 1; index < socket.versions.length; index++) if (socket.versions[index]! <= socket.versions[index - 1]!) backwards++;
    }
    for (const charge of charged) {
      for (const socket of byMember.get(charge.member) ?? []) {
        const index = socket.versions.indexOf(charge.version);
        if (index >= 0) latencies.push(socket.times[index]! - charge.at);
        else if ((socket.versions.at(-1) ?? -1) > charge.version) superseded++;
        else lost++;
      }
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN);
    const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
    for (const charger of chargers) charger.close();
    return {
      name: `${MEMBERS} members × ${SOCKETS} sockets on ${processes} process${processes === 2 ? "es through Redis" : ""}, ${MEMBERS} charges/s for ${SECONDS} s`,
      metrics: {
        sockets: `${sockets} open`,
        "server RSS MB": `${round(sum(rssBefore), 0)} before sockets → ${round(sum(rssOpen), 0)} open → ${round(sum(rssAfter), 0)} after the load (target < 1024 per process: ${rssAfter.map((mb) => round(mb, 0)).join(", ")})`,
        "KB per socket": round(((sum(rssOpen) - sum(rssBefore)) * 1024) / sockets, 1),
        charges: `${load.ops} at ${round(load.opsPerSecond, 0)}/s, ${load.errors} failed${load.firstError ? ` (${load.firstError})` : ""}; charge p99 ${round(load.p99)} ms`,
        events: `${latencies.length} of ${load.ops * SOCKETS} on time-stamped versions; lost ${lost}, superseded ${superseded}, backwards ${backwards}`,
        "event ms": `after the charge's response: p50 ${at(0.5)}, p95 ${at(0.95)}, p99 ${at(0.99)}, max ${at(1)} (target p99 ≤ 100)`,
      },
    };
  } finally {
    client.kill();
    operator.close();
    for (const server of servers) await server.stop();
    await database.drop();
  }
}

/** BENCH_FANOUT_PROCESSES=1 or 2 runs one scenario only. */
async function run(): Promise<BenchResult[]> {
  const only = Number(process.env.BENCH_FANOUT_PROCESSES ?? 0);
  const results: BenchResult[] = [];
  for (const processes of [1, 2] as const) {
    if (only && only !== processes) continue;
    const result = await scenario(processes);
    // Printed as soon as known as well: a scenario takes minutes on a busy machine.
    console.log(`  ${result.name}: ${JSON.stringify(result.metrics)}`);
    results.push(result);
  }
  return results;
}

export const fanoutBench: BenchModule = { name: "fanout of balance events", run };
