// The usage bench's load generator, in a process of its own: a plain Node http client (keep-alive agent, one JSON
// POST per call) whose CPU, garbage and timers do not share an event loop with the bench's bookkeeping, so its
// latencies are what a client of the server sees. Each stream is offered open-loop at a fixed rate (timed from
// each call's scheduled start) or closed-loop at a fixed concurrency. Started by `generateLoad` (load.ts).

import type { LoadRequest, Stream } from "./load.ts";
import { BenchClient, type LoadResult, runLoad, runRate } from "./support.ts";

const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { id tokens cost balance { used remaining reserved } } }`;
const AUTHORIZE = `mutation($input: AuthorizeUsageInput!) { authorizeUsage(input: $input) { allowed reservation { id } } }`;
const COMMIT = `mutation($input: CommitUsageInput!) { commitUsage(input: $input) { id tokens cost balance { used reserved } } }`;
const INPUT_TOKENS = 3;
const OUTPUT_TOKENS = 2;

type Call = (i: number) => Promise<unknown>;

function script(stream: Stream, client: BenchClient): Call {
  const member = (i: number) => stream.members[i % stream.members.length]!;
  const record = (i: number) =>
    client.execute(RECORD, {
      input: {
        memberId: member(i),
        modelKey: stream.modelKey,
        inputTokens: INPUT_TOKENS,
        outputTokens: OUTPUT_TOKENS,
        idempotencyKey: `${stream.prefix}-${i}`,
      },
    });
  const authorize = async (i: number): Promise<string> => {
    const { authorizeUsage } = await client.execute(AUTHORIZE, {
      input: { memberId: member(i), modelKey: stream.modelKey, estimatedTokens: 10 },
    });
    if (!authorizeUsage.allowed) throw new Error("authorization denied");
    return authorizeUsage.reservation.id;
  };
  const commit = (reservationId: string, key: string) =>
    client.execute(COMMIT, {
      input: { reservationId, inputTokens: INPUT_TOKENS, outputTokens: OUTPUT_TOKENS, idempotencyKey: key },
    });
  switch (stream.script) {
    case "record":
      return record;
    case "pair":
      return async (i) => commit(await authorize(i), `${stream.prefix}-${i}`);
    // A careless client: two commits of one reservation under two keys at once. In one batch they collide on the
    // reservation's unique link and fail the batch's statement; the service then records the second unlinked.
    case "commit-twice":
      return async (i) => {
        const reservationId = await authorize(i);
        await Promise.all([commit(reservationId, `${stream.prefix}-${i}-a`), commit(reservationId, `${stream.prefix}-${i}-b`)]);
      };
    // The same traffic, well-behaved: the second commit is a retry under the same key (answered from the first).
    case "commit-retry":
      return async (i) => {
        const reservationId = await authorize(i);
        await Promise.all([commit(reservationId, `${stream.prefix}-${i}`), commit(reservationId, `${stream.prefix}-${i}`)]);
      };
    case "typename":
      return () => client.execute(`{ __typename }`);
  }
}

process.on("message", async (message: LoadRequest) => {
  const results = await Promise.all(
    message.streams.map((stream): Promise<LoadResult> => {
      const client = new BenchClient(message.url, stream.credential, stream.sockets);
      const call = script(stream, client);
      const cpuBefore = process.cpuUsage();
      const load = stream.rate
        ? runRate(stream.count, stream.rate, call)
        : runLoad(stream.count, stream.concurrency ?? 32, stream.maxMs ?? 25_000, call);
      // The process's CPU is the stream's own only when it runs alone.
      const alone = message.streams.length === 1;
      return load
        .then((result) => {
          if (!alone) return result;
          const { user, system } = process.cpuUsage(cpuBefore);
          return { ...result, clientCpuPerOp: Math.round((user + system) / Math.max(result.ops, 1)) };
        })
        .finally(() => client.close());
    }),
  );
  process.send!(results, () => process.exit(0));
});
process.on("disconnect", () => process.exit(0));
