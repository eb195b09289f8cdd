// Bench: approving 1,000 pending token requests with `allPending: true` on PostgreSQL, while 1,000 balanceChanged
// subscribers (multiplexed over a few graphql-ws connections) wait for their new balance.
// Prints the mutation's duration and the time until every subscriber has its new limit. Target: mutation < 1 s.
import { loadConfig } from "../../src/config.ts";
import { buildApp } from "../../src/server/app.ts";
import { Api, Subscription } from "../support/client.ts";
import { createTestDatabase } from "../support/server.ts";

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgresql://root@127.0.0.1:5432/postgres";
const OPERATOR_KEY = "bench-operator-key-0123456789abcdef";
const MEMBERS = 1000;
const CONNECTIONS = 10;
const ROUNDS = 3;
const FLOOR = 500_000;
const AMOUNT = 10_000;

/** Runs `work` over `items` with at most `limit` in flight. */
async function pooled<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!, index);
      }
    }),
  );
  return results;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function run(): Promise<void> {
  const database = await createTestDatabase(ADMIN_URL);
  const config = loadConfig({
    NODE_ENV: "test",
    OPERATOR_API_KEY: OPERATOR_KEY,
    AUTH_JWT_SECRET: "bench-jwt-secret-0123456789abcdef0123456789",
    DATA_DIR: ":memory:",
    LOG_LEVEL: "silent",
    SCHEDULER_INTERVAL_SECONDS: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: database.url,
    TOKEN_REQUESTS_PER_HOUR: "100",
  });
  const app = await buildApp({ config });
  const url = await app.start(0);
  const clients: ReturnType<Api["ws"]>[] = [];
  try {
    const operator = new Api(url, OPERATOR_KEY);
    const { createOrganization } = await operator.execute(
      `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id members(first: 1) { edges { node { id } } } } }`,
      { input: { name: "Bench requests", adminEmail: "admin@bench.example" } },
    );
    const tokenFor = async (memberId: string) =>
      new Api(url, (await operator.execute(`mutation($id: ID!) { issueAccessToken(memberId: $id, ttlSeconds: 86400) }`, { id: memberId })).issueAccessToken);
    const admin = await tokenFor(createOrganization.members.edges[0].node.id);
    for (const kind of ["INFERENCE", "TRAINING"]) {
      await admin.execute(`mutation($tokens: SafeInt!, $kind: TokenKind!) { purchaseTokens(tokens: $tokens, kind: $kind) { id } }`, {
        tokens: MEMBERS * (FLOOR + AMOUNT * ROUNDS),
        kind,
      });
    }
    const { addMembers } = await admin.execute(`mutation($members: [MemberInput!]!) { addMembers(members: $members) { id } }`, {
      members: Array.from({ length: MEMBERS }, (_, i) => ({ email: `member${i}@bench.example`, name: `Member ${i}`, teamName: `Team ${i % 20}` })),
    });
    const memberIds = (addMembers as { id: string }[]).map((member) => member.id);
    const members = await pooled(memberIds, 20, tokenFor);

    // 1,000 balance subscriptions as the admin (who may watch any member), spread over a few connections.
    const subscriptions = memberIds.map((memberId, index) => {
      const connection = index % CONNECTIONS;
      clients[connection] ??= admin.ws();
      return new Subscription<{ balanceChanged: { limit: number } }>(
        clients[connection]!,
        `subscription($memberId: ID!) { balanceChanged(memberId: $memberId, kind: INFERENCE) { limit } }`,
        { memberId },
      );
    });
    // A subscription that answers at once, last on each connection: when it has, the ones before it are in place.
    const probes = clients.map((client) => new Subscription<{ pendingTokenRequestCount: number }>(client, `subscription { pendingTokenRequestCount }`));
    await Promise.all(probes.map((probe) => probe.next()));
    await new Promise((resolve) => setTimeout(resolve, 500));

    const mutationMs: number[] = [];
    const deliveredMs: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      await pooled(members, 20, (member) => member.execute(`mutation($amount: SafeInt!) { requestTokens(amount: $amount) { id } }`, { amount: AMOUNT }));
      const expected = FLOOR + AMOUNT * round;
      const arrivals = subscriptions.map((subscription) => subscription.next((event) => event.balanceChanged.limit === expected, 60_000));

      const started = performance.now();
      const { approveTokenRequests } = await admin.execute(
        `mutation { approveTokenRequests(allPending: true, note: "Bench") { succeeded failed outcomes { ok errorCode request { id status } } } }`,
      );
      const answered = performance.now();
      await Promise.all(arrivals);
      const delivered = performance.now();
      if (approveTokenRequests.succeeded !== MEMBERS || approveTokenRequests.failed !== 0) {
        throw new Error(`Round ${round}: expected ${MEMBERS} approvals, got ${JSON.stringify({ ...approveTokenRequests, outcomes: undefined })}`);
      }
      mutationMs.push(answered - started);
      deliveredMs.push(delivered - started);
      console.log(
        `requests: round ${round}: approveTokenRequests(allPending) of ${MEMBERS} took ${(answered - started).toFixed(0)} ms; ` +
          `all ${MEMBERS} balanceChanged subscribers had their new limit after ${(delivered - started).toFixed(0)} ms`,
      );
    }
    console.log(
      `requests: median over ${ROUNDS} rounds: mutation ${median(mutationMs).toFixed(0)} ms (target < 1000 ms), ` +
        `every subscriber updated ${median(deliveredMs).toFixed(0)} ms after the call started`,
    );
    for (const subscription of [...subscriptions, ...probes]) subscription.close();
  } finally {
    await Promise.all(clients.map((client) => client.dispose()));
    await app.stop();
    await database.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
