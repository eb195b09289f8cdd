// The hot path as /metrics shows it: the server's time for each request and each group-commit queue's statements.
// A server of its own: the metrics are the process's, and the other usage tests' calls would move them.
import { describe, expect, it } from "vitest";
import { AuthorizeUsageDocument, CommitUsageDocument, RecordUsageDocument } from "../../src/client/generated/graphql.ts";
import { startServer } from "../support/server.ts";
import { key, usageOrganization } from "./setup.ts";

const server = await startServer();

/** The value of each /metrics series named in `series` (0 for one not there yet). */
async function scrape(series: string[]): Promise<number[]> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return series.map((name) =>
    Number(
      text
        .split("\n")
        .find((line) => line.startsWith(`${name} `))
        ?.split(" ")[1] ?? 0,
    ),
  );
}

describe("the hot path's metrics", () => {
  it("show each queue's statements and items, and the server's time for each POST", async () => {
    const org = await usageOrganization(server);
    await org.model("m", { input: "1.00", output: "2.00" });
    const series = [
      'tokenwarden_http_request_seconds_count{method="POST"}',
      ...["standings", "holds", "charges"].flatMap((queue) => [
        `tokenwarden_group_commit_batch_items_sum{queue="${queue}"}`,
        `tokenwarden_group_commit_item_seconds_count{queue="${queue}"}`,
        `tokenwarden_group_commit_write_seconds_count{queue="${queue}"}`,
      ]),
    ];
    const before = await scrape(series);
    const { authorizeUsage } = await org.service.execute(AuthorizeUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", estimatedTokens: 100 },
    });
    await org.service.execute(CommitUsageDocument, {
      input: { reservationId: authorizeUsage.reservation!.id, inputTokens: 10, outputTokens: 5, idempotencyKey: key() },
    });
    await org.service.execute(RecordUsageDocument, {
      input: { memberId: org.memberId, modelKey: "m", inputTokens: 1, outputTokens: 1, idempotencyKey: key() },
    });
    const after = await scrape(series);
    // Three POSTs; one standing read and one hold (authorize), two charges (commit, record), each a statement alone.
    expect(after.map((value, i) => value - before[i]!)).toEqual([3, 1, 1, 1, 1, 1, 1, 2, 2, 2]);
  });
});
