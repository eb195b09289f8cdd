// Members at scale against PostgreSQL: adding 1,000 members in one call (each takes its floors from the pools),
// paging the directory 100 at a time with balances and teams, allocateTokens to all 1,000 at once, and the
// allocation status read (one SQL statement over every balance).
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

const MEMBERS = Number(process.env.BENCH_MEMBERS ?? 1000);
const FLOOR = 500_000;

const PAGE = `query($after: String) { organization { members(first: 100, after: $after) {
  totalCount
  edges { node { id email team { name } inference { limit used remaining reserved floor ceiling } training { limit used remaining reserved floor ceiling } } }
  pageInfo { hasNextPage endCursor }
} } }`;

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

async function run(): Promise<BenchResult[]> {
  const database = await createBenchDatabase();
  const server = await startBenchServer({ DATABASE_URL: database.url });
  const operator = new BenchClient(server.url, OPERATOR_KEY, 20);
  try {
    const { createOrganization } = await operator.execute(
      `mutation { createOrganization(input: { name: "Bench members", adminEmail: "admin@bench.example" }) { id members(first: 1) { edges { node { id } } } } }`,
    );
    const { issueAccessToken } = await operator.execute(`mutation($id: ID!) { issueAccessToken(memberId: $id, ttlSeconds: 86400) }`, {
      id: createOrganization.members.edges[0].node.id,
    });
    const admin = operator.as(issueAccessToken);
    for (const kind of ["INFERENCE", "TRAINING"]) {
      await admin.execute(`mutation($tokens: SafeInt!, $kind: TokenKind!) { purchaseTokens(tokens: $tokens, kind: $kind) { id } }`, {
        tokens: MEMBERS * FLOOR * 2,
        kind,
      });
    }
    const [added, addMs] = await timed(() =>
      admin.execute(`mutation($members: [MemberInput!]!) { addMembers(members: $members) { id } }`, {
        members: Array.from({ length: MEMBERS }, (_, i) => ({
          email: `member${i}@bench.example`,
          name: `Member ${i}`,
          teamName: `Team ${i % 25}`,
        })),
      }),
    );
    const ids = (added.addMembers as { id: string }[]).map((member) => member.id);

    const [, allocateMs] = await timed(() =>
      admin.execute(`mutation($input: AllocateInput!) { allocateTokens(input: $input) { id } }`, {
        input: { memberIds: ids, kind: "INFERENCE", amount: 1000 },
      }),
    );

    // Walk the whole directory once, then load the first page concurrently.
    const [pages, walkMs] = await timed(async () => {
      let after: string | null = null;
      let count = 0;
      do {
        const { organization }: { organization: any } = await admin.execute(PAGE, { after });
        count++;
        after = organization.members.pageInfo.hasNextPage ? organization.members.pageInfo.endCursor : null;
      } while (after);
      return count;
    });
    const page = await runLoad(300, 8, 30_000, () => admin.execute(PAGE));
    const status = await runLoad(1000, 16, 30_000, () =>
      admin.execute(`{ organization { allocationStatus { purchased allocated used unallocated activePreset } } }`),
    );
    return [
      { name: `addMembers: ${MEMBERS} members with floors, one call`, metrics: { ms: round(addMs) } },
      { name: `allocateTokens: ${MEMBERS} members, one call`, metrics: { ms: round(allocateMs) } },
      { name: `members directory walk (${pages} pages of 100)`, metrics: { ms: round(walkMs), "ms/page": round(walkMs / pages) } },
      {
        name: "members(first: 100) with balances and teams, 8 concurrent",
        metrics: {
          ops: page.ops,
          errors: page.errors,
          "ops/s": round(page.opsPerSecond),
          p50: round(page.p50),
          p95: round(page.p95),
          p99: round(page.p99),
        },
      },
      {
        name: `allocationStatus over ${MEMBERS + 1} balances, 16 concurrent`,
        metrics: {
          ops: status.ops,
          errors: status.errors,
          "ops/s": round(status.opsPerSecond),
          p50: round(status.p50),
          p95: round(status.p95),
          p99: round(status.p99),
        },
      },
    ];
  } finally {
    operator.close();
    await server.stop();
    await database.drop();
  }
}

export const membersBench: BenchModule = { name: "members", run };
