// Subscriptions over HTTP with graphql-sse's own client, in both of its modes: distinct connections (plain SSE on
// /graphql) and single connection (reservation on /graphql/stream, served by yoga's graphql-sse plugin).

import { createClient } from "graphql-sse";
import { describe, it } from "vitest";
import { SetAllocationDocument } from "../../src/client/generated/graphql.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

describe("graphql-sse clients", () => {
  for (const [mode, url, singleConnection] of [
    ["distinct connections", "/graphql", false],
    ["single connection", "/graphql/stream", true],
  ] as const) {
    it(`streams the balance in ${mode} mode`, async ({ expect }) => {
      const seed = await seedOrganization(server);
      await seed.fund(2_000_000);
      const [memberId] = await seed.addMembers([{}]);
      const member = await seed.as(memberId!);
      const client = createClient({
        url: `${server.url}${url}`,
        singleConnection,
        retryAttempts: 0,
        headers: { authorization: `Bearer ${member.credential}` },
      });
      const events: unknown[] = [];
      const errors: unknown[] = [];
      const dispose = client.subscribe(
        { query: `subscription { balanceChanged(kind: INFERENCE) { limit } }` },
        { next: (result) => events.push(result), error: (error) => errors.push(error), complete: () => {} },
      );
      await expect
        .poll(() => ({ events, errors }), { timeout: 30_000 })
        .toEqual({ events: [{ data: { balanceChanged: { limit: 500_000 } } }], errors: [] });
      await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, inference: 600_000 } });
      await expect.poll(() => events.at(-1), { timeout: 30_000 }).toEqual({ data: { balanceChanged: { limit: 600_000 } } });
      dispose();
      client.dispose();
    });
  }
});
