// Two server processes through a Redis that stops and comes back under load: every subscriber ends on the database's
// values and never sees a balance's version go down. Uses its own redis-server (never the shared one on 6379).
// Runs in the services suite (npm run test:services), where TEST_DATABASE_URL is set.

import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import {
  BalanceChangedDocument,
  MemberBalancesDocument,
  RecordUsageDocument,
  UpsertModelDocument,
} from "../../src/client/generated/graphql.ts";
import { Api, Subscription } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const enabled = Boolean(process.env.TEST_DATABASE_URL);

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A private redis-server on `port`; resolves once it accepts connections. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let output = "";
    child.stdout!.on("data", (chunk) => {
      output += chunk;
      if (output.includes("Ready to accept connections")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

describe.skipIf(!enabled)("a Redis outage under load, two server processes", async () => {
  const port = enabled ? await freePort() : 0;
  let redis = enabled ? await startRedis(port) : null;
  afterAll(async () => {
    if (redis) await stopRedis(redis);
  });
  const env = { REDIS_URL: `redis://127.0.0.1:${port}` };
  const first = enabled ? await startServer({ env }) : null;
  const second = enabled ? await startServer({ env, databaseUrl: first!.databaseUrl! }) : null;

  it("ends every subscriber on the database's values, versions never going down", async () => {
    const seed = await seedOrganization(first!);
    await seed.fund(50_000_000);
    const memberIds = await seed.addMembers(Array.from({ length: 4 }, () => ({})));
    await seed.admin.execute(UpsertModelDocument, { input: { key: "m", inputPricePerMillion: "1.00", outputPricePerMillion: "1.00" } });
    const services = [
      new Api(first!.url, (await seed.serviceKey()).credential),
      new Api(second!.url, (await seed.serviceKey()).credential),
    ];

    // Each member watched from both processes.
    const watchers = memberIds.flatMap((memberId) =>
      services.map((service) => {
        const client = service.ws();
        return { memberId, client, subscription: new Subscription(client, BalanceChangedDocument, { memberId, kind: "INFERENCE" }) };
      }),
    );
    await Promise.all(watchers.map((watcher) => watcher.subscription.next()));

    let running = true;
    let charges = 0;
    const load = (async () => {
      for (let call = 0; running; call++) {
        const service = services[call % 2]!;
        const memberId = memberIds[call % memberIds.length]!;
        const result = await service.request(RecordUsageDocument, {
          input: { memberId, modelKey: "m", inputTokens: 7, outputTokens: 3, idempotencyKey: `gap-${call}` },
        });
        if (!result.errors) charges++;
      }
    })();

    await expect.poll(() => charges, { timeout: 60_000 }).toBeGreaterThan(20);
    await stopRedis(redis!);
    redis = null;
    const beforeOutage = charges;
    await expect.poll(() => charges, { timeout: 60_000 }).toBeGreaterThan(beforeOutage + 40);
    redis = await startRedis(port);
    const afterOutage = charges;
    await expect.poll(() => charges, { timeout: 60_000 }).toBeGreaterThan(afterOutage + 40);
    running = false;
    await load;

    for (const watcher of watchers) {
      const { member } = await seed.admin.execute(MemberBalancesDocument, { memberId: watcher.memberId });
      await expect.poll(() => watcher.subscription.events.at(-1)?.balanceChanged, { timeout: 60_000 }).toEqual(member!.inference);
      const versions = watcher.subscription.events.map((event) => event.balanceChanged.version);
      for (let index = 1; index < versions.length; index++) expect(versions[index]).toBeGreaterThan(versions[index - 1]!);
      watcher.subscription.close();
      await watcher.client.dispose();
    }
  });
});
