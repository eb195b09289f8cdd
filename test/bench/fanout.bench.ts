// Fan-out: MEMBERS members × SOCKETS sockets each watching the member's own balance (10,000 sockets by default, held
// by CLIENTS raw-ws child processes), then one charge per member per second, spread over the members, for SECONDS
// seconds (open loop). Prints the sockets, the servers' memory (before the sockets, with them open, at the peak, after
// the load) and per socket, how long after each charge's response its event (its balance version) arrived on every
// socket (percentiles, events lost), and the CPU each process used during the load, so that a saturated client or
// server shows. Once on one process, once on two processes through Redis (REDIS_URL, default the local one; only
// published to, never stopped).
import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import {
  BenchClient,
  type BenchModule,
  type BenchResult,
  cpuMsOf,
  createBenchDatabase,
  describeLoopDelay,
  describePauses,
  OPERATOR_KEY,
  round,
  runRate,
  startBenchServer,
} from "./support.ts";

const MEMBERS = Number(process.env.BENCH_FANOUT_MEMBERS ?? 1000);
const SOCKETS = Number(process.env.BENCH_FANOUT_SOCKETS ?? 10);
const SECONDS = Number(process.env.BENCH_FANOUT_SECONDS ?? 10);
/** Subscriber processes: one raw-ws process receiving 10,000 events a second may itself become the bottleneck. */
const CLIENTS = Number(process.env.BENCH_FANOUT_CLIENTS ?? 1);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

const statusMb = (pid: number, field: "VmRSS" | "VmHWM") =>
  Number(readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`${field}:\\s+(\\d+)`))![1]) / 1024;
const rssMb = (pid: number) => statusMb(pid, "VmRSS");
const cpuSeconds = (pid: number) => cpuMsOf(pid) / 1000;
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
const load = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(" ");

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

interface Collected {
  closed: number;
  sockets: { member: number; versions: number[]; times: number[] }[];
}

async function scenario(processes: 1 | 2): Promise<BenchResult> {
  const loadAtStart = load();
  const database = await createBenchDatabase();
  const env = { DATABASE_URL: database.url, ...(processes === 2 ? { REDIS_URL } : {}) };
  const servers = [await startBenchServer(env)];
  if (processes === 2) servers.push(await startBenchServer(env));
  const clients = Array.from({ length: CLIENTS }, () =>
    fork(new URL("./fanout-client.ts", import.meta.url).pathname, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }),
  );
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
    const heldBefore = await Promise.all(servers.map((server) => server.memory()));
    const watches = tokens.flatMap((token, member) =>
      Array.from({ length: SOCKETS }, (_, socket) => ({ url: servers[(member * SOCKETS + socket) % servers.length]!.url, member, token })),
    );
    // Each client process holds every CLIENTS-th socket.
    const sockets = (
      await Promise.all(
        clients.map((client, index) => {
          const opening = reply<{ sockets: number }>(client, "opened");
          client.send({ type: "open", watches: watches.filter((_, i) => i % CLIENTS === index), concurrency: 20 });
          return opening;
        }),
      )
    ).reduce((total, opened) => total + opened.sockets, 0);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rssOpen = servers.map((server) => rssMb(server.pid));
    const loadAtOpen = load();
    // What the servers hold with the sockets open (after a full collection), before any charge.
    const heldOpen = await Promise.all(servers.map((server) => server.memory()));
    if (process.env.BENCH_FANOUT_HEAP_SNAPSHOT) console.log(`  heap snapshot with the sockets open: ${await servers[0]!.heapSnapshot()}`);

    // One charge per member per second, members taken in turn; each response says which version it made.
    const charged: { member: number; version: number; sent: number; at: number }[] = [];
    const pids = { servers: servers.map((server) => server.pid), clients: clients.map((client) => client.pid!) };
    const cpuBefore = { servers: pids.servers.map(cpuSeconds), clients: pids.clients.map(cpuSeconds), bench: process.cpuUsage() };
    for (const server of servers) server.resetLoopDelay();
    const began = performance.now();
    const charges = await runRate(MEMBERS * SECONDS, MEMBERS, async (i) => {
      const member = i % MEMBERS;
      const sent = performance.timeOrigin + performance.now();
      const { recordUsage } = await chargers[i % chargers.length]!.execute(
        `mutation($m: ID!, $k: String!) { recordUsage(input: { memberId: $m, modelKey: "m", inputTokens: 7, outputTokens: 3, idempotencyKey: $k }) { balance { version } } }`,
        { m: memberIds[member], k: `fanout-${i}` },
      );
      charged.push({ member, version: recordUsage.balance.version, sent, at: performance.timeOrigin + performance.now() });
    });
    const wall = (performance.now() - began) / 1000;
    const cpuShare = (before: number, pid: number) => `${Math.round(((cpuSeconds(pid) - before) / wall) * 100)}%`;
    const cpu = {
      servers: pids.servers.map((pid, i) => cpuShare(cpuBefore.servers[i]!, pid)),
      clients: pids.clients.map((pid, i) => cpuShare(cpuBefore.clients[i]!, pid)),
      bench: `${Math.round(((process.cpuUsage(cpuBefore.bench).user + process.cpuUsage(cpuBefore.bench).system) / 1e6 / wall) * 100)}%`,
    };
    const rssAfter = servers.map((server) => rssMb(server.pid));
    const loadAfter = load();

    const finalVersions = new Array<number>(MEMBERS).fill(0);
    for (const charge of charged) finalVersions[charge.member] = Math.max(finalVersions[charge.member]!, charge.version);
    const collected = await Promise.all(
      clients.map((client) => {
        const collecting = reply<Collected>(client, "collected");
        client.send({ type: "collect", finalVersions, waitMs: 30_000 });
        return collecting;
      }),
    );
    // The servers' CPU time from the first charge until every event had arrived: the work per charge and its events,
    // which the load of a shared host changes far less than it changes latencies.
    const loopDelays = await Promise.all(servers.map((server) => server.loopDelay()));
    const serverCpu = sum(pids.servers.map((pid, i) => cpuSeconds(pid) - cpuBefore.servers[i]!));
    // The peak of each server's resident memory over its life (sockets open, the load, the events' delivery).
    const rssPeak = servers.map((server) => statusMb(server.pid, "VmHWM"));
    const heldAfter = await Promise.all(servers.map((server) => server.memory()));
    if (process.env.BENCH_FANOUT_HEAP_SNAPSHOT)
      console.log(`  heap snapshot after the events were delivered: ${await servers[0]!.heapSnapshot()}`);
    // And once the sockets are gone: their subscriptions must leave nothing behind.
    await Promise.all(
      clients.map((client) => {
        const exited = new Promise((resolve) => client.once("exit", resolve));
        client.kill();
        return exited;
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const heldClosed = await Promise.all(servers.map((server) => server.memory()));

    const byMember = new Map<number, Collected["sockets"]>();
    for (const socket of collected.flatMap((part) => part.sockets))
      byMember.set(socket.member, [...(byMember.get(socket.member) ?? []), socket]);
    const afterResponse: number[] = [];
    const afterRequest: number[] = [];
    let lost = 0;
    let superseded = 0;
    let backwards = 0;
    for (const socket of collected.flatMap((part) => part.sockets)) {
      for (let index = 1; index < socket.versions.length; index++) if (socket.versions[index]! <= socket.versions[index - 1]!) backwards++;
    }
    for (const charge of charged) {
      for (const socket of byMember.get(charge.member) ?? []) {
        const index = socket.versions.indexOf(charge.version);
        if (index >= 0) {
          afterResponse.push(socket.times[index]! - charge.at);
          afterRequest.push(socket.times[index]! - charge.sent);
        } else if ((socket.versions.at(-1) ?? -1) > charge.version) superseded++;
        else lost++;
      }
    }
    const percentiles = (values: number[]) => {
      values.sort((a, b) => a - b);
      const at = (q: number) => round(values[Math.min(values.length - 1, Math.floor(q * values.length))] ?? Number.NaN);
      return `p50 ${at(0.5)}, p95 ${at(0.95)}, p99 ${at(0.99)}, max ${at(1)}`;
    };
    const early = afterResponse.filter((ms) => ms < 0).length;
    const mb = (values: number[]) =>
      `${round(sum(values), 0)}${values.length > 1 ? ` (${values.map((value) => round(value, 0)).join(" + ")})` : ""}`;
    for (const charger of chargers) charger.close();
    return {
      name: `${MEMBERS} members × ${SOCKETS} sockets on ${processes} process${processes === 2 ? "es through Redis" : ""}, ${MEMBERS} charges/s offered for ${SECONDS} s, ${CLIENTS} subscriber process${CLIENTS > 1 ? "es" : ""}`,
      metrics: {
        sockets: `${sockets} open`,
        "server RSS MB": `${mb(rssBefore)} before the sockets → ${mb(rssOpen)} open → peak ${mb(rssPeak)} → ${mb(rssAfter)} after the load (target < 1024 per process)`,
        "KB per socket": round(((sum(rssOpen) - sum(rssBefore)) * 1024) / sockets, 1),
        "heap MB": `after a full GC: ${mb(heldBefore.map((held) => held.heapUsedAfterGc))} before the sockets → ${mb(heldOpen.map((held) => held.heapUsedAfterGc))} with the sockets open → ${mb(heldAfter.map((held) => held.heapUsedAfterGc))} after the events were delivered, sockets open (RSS then ${mb(heldAfter.map((held) => held.rssAfterGc))}) → ${mb(heldClosed.map((held) => held.heapUsedAfterGc))} once the sockets closed`,
        charges: `${charges.ops} at ${round(charges.opsPerSecond, 0)}/s, ${charges.errors} failed${charges.firstError ? ` (${charges.firstError})` : ""}; charge p50 ${round(charges.p50)}, p99 ${round(charges.p99)} ms (from its scheduled start)`,
        events: `expected ${charged.length * SOCKETS}, received ${afterResponse.length}, lost ${lost}, superseded ${superseded} (a newer version came instead), backwards ${backwards}; sockets closed by the server ${sum(collected.map((part) => part.closed))}`,
        "event ms": `after the charge's response: ${percentiles(afterResponse)} (target p99 ≤ 100; ${early} arrived before the response)`,
        "event ms req": `after the charge's request was sent: ${percentiles(afterRequest)}`,
        "server CPU": `${round((serverCpu * 1000) / charges.ops, 2)} ms per charge with its ${SOCKETS} events (${round(serverCpu, 1)} s from the first charge to the last event)`,
        "event loop": `servers' event-loop delay from the first charge to the last event: ${loopDelays.map(describeLoopDelay).join("; ")}`,
        "GC pauses": `servers' garbage collection in that time: ${loopDelays.map(({ gc }) => `young ${describePauses(gc.young)}; old ${describePauses(gc.old)}`).join(" | ")}`,
        "CPU in load": `server${servers.length > 1 ? "s" : ""} ${cpu.servers.join(" + ")}, subscriber process${clients.length > 1 ? "es" : ""} ${cpu.clients.join(" + ")}, charging bench ${cpu.bench} of one core`,
        "load average": `${loadAtStart} at start, ${loadAtOpen} with sockets open, ${loadAfter} after the load (2 cores, shared)`,
      },
    };
  } finally {
    for (const client of clients) client.kill();
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
