// Bulk approval: 1,000 members each with a pending token request, 1,000 balanceChanged subscribers (multiplexed over
// a few graphql-ws connections), then approveTokenRequests(allPending: true) against PostgreSQL. Measures the
// mutation's duration (target < 1 s) and the time until every subscriber has its new limit. Several rounds.
import { Api, Subscription } from "../support/client.ts";
import { BenchClient, type BenchModule, type BenchResult, createBenchDatabase, OPERATOR_KEY, round, startBenchServer } from "./support.ts";

const MEMBERS = Number(process.env.BENCH_REQUEST_MEMBERS ?? 1000);
/** 50 subscriptions and a probe on each: within MAX_SUBSCRIPTIONS_PER_CONNECTION's default (100). */
const CONNECTIONS = Math.ceil(MEMBERS / 50);
const ROUNDS = 3;
const FLOOR = 500_000;
const AMOUNT = 10_000;

const APPROVE_ALL = `mutation { approveTokenRequests(allPending: true, note: "Bench") { succeeded failed outcomes { ok errorCode request { id status } } } }`;

/** Runs `work` over `items` with at most `limit` in flight. */
async function pooled<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function run(): Promise<BenchResult[]> {
  const database = await createBenchDatabase();
  const server = await startBenchServer({
    DATABASE_URL: database.url,
    TOKEN_REQUESTS_PER_HOUR: "100",
    // One admin watches every member's balance here (standing in for each member watching its own).
    MAX_SUBSCRIPTIONS_PER_MEMBER: String(MEMBERS + CONNECTIONS),
  });
  const sockets: ReturnType<Api["ws"]>[] = [];
  const subscriptions: Subscription<any>[] = [];
  const operator = new BenchClient(server.url, OPERATOR_KEY, 20);
  try {
    const { createOrganization } = await operator.execute(
      `mutation { createOrganization(input: { name: "Bench requests", adminEmail: "admin@bench.example" }) { id members(first: 1) { edges { node { id } } } } }`,
    );
    const tokenFor = async (memberId: string) =>
      (await operator.execute(`mutation($id: ID!) { issueAccessToken(memberId: $id, ttlSeconds: 86400) }`, { id: memberId }))
        .issueAccessToken as string;
    const adminToken = await tokenFor(createOrganization.members.edges[0].node.id);
    const admin = operator.as(adminToken);
    for (const kind of ["INFERENCE", "TRAINING"]) {
      await admin.execute(`mutation($tokens: SafeInt!, $kind: TokenKind!) { purchaseTokens(tokens: $tokens, kind: $kind) { id } }`, {
        // Every member and the admin (a member too, with its own floor).
        tokens: (MEMBERS + 1) * (FLOOR + AMOUNT * ROUNDS),
        kind,
      });
    }
    const { addMembers } = await admin.execute(`mutation($members: [MemberInput!]!) { addMembers(members: $members) { id } }`, {
      members: Array.from({ length: MEMBERS }, (_, i) => ({
        email: `member${i}@bench.example`,
        name: `Member ${i}`,
        teamName: `Team ${i % 20}`,
      })),
    });
    const memberIds = (addMembers as { id: string }[]).map((member) => member.id);
    const members = (await pooled(memberIds, 20, tokenFor)).map((token) => new Api(server.url, token));

    // The admin may watch any member's balance: 1,000 subscriptions over a few connections.
    const adminApi = new Api(server.url, adminToken);
    for (let i = 0; i < CONNECTIONS; i++) sockets.push(adminApi.ws());
    const balances = memberIds.map(
      (memberId, index) =>
        new Subscription<{ balanceChanged: { limit: number } }>(
          sockets[index % CONNECTIONS]!,
          `subscription($memberId: ID!) { balanceChanged(memberId: $memberId, kind: INFERENCE) { limit } }`,
          { memberId },
        ),
    );
    subscriptions.push(...balances);
    // A subscription that answers at once, last on each connection: once it has, the ones before it are in place.
    const probes = sockets.map(
      (socket) => new Subscription<{ pendingTokenRequestCount: number }>(socket, `subscription { pendingTokenRequestCount }`),
    );
    subscriptions.push(...probes);
    await Promise.all(probes.map((probe) => probe.next(() => true, 60_000)));
    await new Promise((resolve) => setTimeout(resolve, 500));

    const mutationMs: number[] = [];
    const deliveredMs: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      await pooled(members, 20, (member) =>
        member.execute(`mutation($amount: SafeInt!) { requestTokens(amount: $amount) { id } }`, { amount: AMOUNT }),
      );
      const expected = FLOOR + AMOUNT * round;
      const arrivals = balances.map((subscription) => subscription.next((event) => event.balanceChanged.limit === expected, 60_000));
      const started = performance.now();
      const { approveTokenRequests } = await admin.execute(APPROVE_ALL);
      const answered = performance.now();
      if (approveTokenRequests.succeeded !== MEMBERS || approveTokenRequests.failed !== 0) {
        const codes = new Set(approveTokenRequests.outcomes.map((outcome: { errorCode: string | null }) => outcome.errorCode));
        throw new Error(
          `Round ${round}: expected ${MEMBERS} approvals, got ${approveTokenRequests.succeeded} ok and ${approveTokenRequests.failed} failed (${[...codes].join(", ")})`,
        );
      }
      await Promise.all(arrivals);
      const delivered = performance.now();
      mutationMs.push(answered - started);
      deliveredMs.push(delivered - started);
    }
    return [
      {
        name: `approveTokenRequests(allPending: true) of ${MEMBERS} pending requests, ${MEMBERS} balanceChanged subscribers on ${CONNECTIONS} connections (${ROUNDS} rounds)`,
        metrics: {
          "mutation ms": `median ${round(median(mutationMs), 0)} (rounds ${mutationMs.map((ms) => round(ms, 0)).join(", ")}; target < 1000)`,
          "all updated ms": `median ${round(median(deliveredMs), 0)} (rounds ${deliveredMs.map((ms) => round(ms, 0)).join(", ")}; from the call's start)`,
        },
      },
    ];
  } finally {
    for (const subscription of subscriptions) subscription.close();
    await Promise.all(sockets.map((socket) => socket.dispose()));
    operator.close();
    await server.stop();
    await database.drop();
  }
}

export const requestsBench: BenchModule = { name: "token requests bulk approval", run };
