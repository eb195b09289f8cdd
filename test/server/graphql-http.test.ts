// The GraphQL-over-HTTP spec's request and response shapes, checked by graphql-http's own audit on both request
// paths (json-post.ts answers JSON POSTs without an Origin; yoga answers the rest).
import { serverAudits } from "graphql-http";
import { describe, expect, it } from "vitest";
import { startServer } from "../support/server.ts";

const server = await startServer();

const withOrigin: typeof fetch = (input, init) =>
  fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), origin: "https://admin.example.com" } });

describe.each([
  ["json-post (no Origin)", fetch],
  ["yoga (with an Origin)", withOrigin],
] as const)("graphql-http audit over %s", (_path, fetchFn) => {
  it("has no failing MUST or SHOULD audit", async () => {
    const audits = serverAudits({ url: `${server.url}/graphql`, fetchFn });
    expect(audits.length).toBeGreaterThan(40);
    const failures: string[] = [];
    for (const audit of audits) {
      const result = await audit.fn();
      if (result.status === "error") failures.push(`${audit.name}: ${result.reason}`);
      if (result.status === "warn" && audit.name.startsWith("SHOULD")) failures.push(`${audit.name} (warn): ${result.reason}`);
    }
    expect(failures).toEqual([]);
  });
});
