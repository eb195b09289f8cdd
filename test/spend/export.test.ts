// GET /export/usage.csv: content and RFC 4180 quoting, ranges, and who may download it.

import { parse as parseWithCsvParse } from "csv-parse/sync";
import { describe, expect, it } from "vitest";
import { RecordUsageDocument, type RecordUsageInput } from "../../src/client/generated/graphql.ts";
import { seedOrganization, unique } from "../support/factories.ts";
import { startServer } from "../support/server.ts";
import { usageOrganization } from "../usage/setup.ts";
import { parseCsv } from "./csv.ts";

const server = await startServer();

const HEADER = ["timestamp", "member email", "team", "model", "kind", "input tokens", "output tokens", "cost", "app", "assistant"];

async function download(credential: string | null, query = "") {
  const response = await fetch(`${server.url}/export/usage.csv${query}`, {
    headers: credential ? { authorization: `Bearer ${credential}` } : {},
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

async function withUsage() {
  const org = await usageOrganization(server);
  await org.fund(2_000_000);
  const email = `${unique("writer")}@example.com`;
  const [writer] = await org.addMembers([{ email, teamName: 'Team "Quotes", Inc.' }]);
  await org.model("gpt-x", { input: "2.5", output: "10" });
  const record = (memberId: string, input: Omit<RecordUsageInput, "memberId" | "modelKey" | "idempotencyKey">) =>
    org.service.execute(RecordUsageDocument, { input: { memberId, modelKey: "gpt-x", idempotencyKey: unique("idem"), ...input } });
  await record(writer!, { inputTokens: 1000, outputTokens: 200, app: "Plain app", assistant: "Helper" });
  await record(writer!, { inputTokens: 10, outputTokens: 0, app: 'Write, "edit", ship', assistant: null });
  await record(org.memberId, { kind: "TRAINING", inputTokens: 3, outputTokens: 7, app: null, assistant: "multi, line" });
  return { org, writer: writer!, email, token: org.admin.credential! };
}

describe("usage CSV export", () => {
  it("streams a header and one RFC 4180 record per usage row, quoting commas, quotes and line breaks", async () => {
    const { email, token } = await withUsage();
    const { status, headers, text } = await download(token);
    expect(status).toBe(200);
    expect(headers.get("content-type")).toMatch(/^text\/csv; charset=utf-8/);
    expect(headers.get("content-disposition")).toMatch(/^attachment; filename="usage-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv"$/);
    expect(text.startsWith(`${HEADER.join(",")}\r\n`)).toBe(true);
    expect(text).toContain('"Write, ""edit"", ship"');
    expect(text).toContain('"Team ""Quotes"", Inc."');

    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual(HEADER);
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row[0]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(rows.map((row) => row.slice(1))).toEqual([
      [email, 'Team "Quotes", Inc.', "gpt-x", "INFERENCE", "1000", "200", "0.0045", "Plain app", "Helper"],
      [email, 'Team "Quotes", Inc.', "gpt-x", "INFERENCE", "10", "0", "0.000025", 'Write, "edit", ship', ""],
      [expect.stringContaining("@example.com"), "", "gpt-x", "TRAINING", "3", "7", "0.0000775", "", "multi, line"],
    ]);
    const times = rows.map((row) => Date.parse(row[0]!));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it("exports only the range asked for, given as dates or date-times", async () => {
    const { token } = await withUsage();
    const all = parseCsv((await download(token)).text);
    expect(all).toHaveLength(4);
    const past = await download(token, "?from=2020-01-01&to=2020-02-01");
    expect(past.status).toBe(200);
    expect(parseCsv(past.text)).toEqual([HEADER]);
    const firstAt = all[1]![0]!;
    const lastAt = all[3]![0]!;
    const window = await download(token, `?from=${encodeURIComponent(firstAt)}&to=${encodeURIComponent(lastAt)}`);
    // from is inclusive, to exclusive
    expect(parseCsv(window.text).length).toBe(1 + all.slice(1).filter((row) => row[0]! >= firstAt && row[0]! < lastAt).length);
    const wide = await download(token, "?from=2000-01-01T00:00:00&to=2100-01-01T00:00:00%2B02:00");
    expect(parseCsv(wide.text)).toEqual(all);
  });

  it("answers 400 naming the parameter for bad dates and an empty range", async () => {
    const { token } = await withUsage();
    for (const [query, field] of [
      ["?from=yesterday", "from"],
      ["?to=2026-13-45", "to"],
      ["?from=2026-03-01&to=2026-03-01", "from"],
      ["?from=2026-03-02&to=2026-03-01", "from"],
    ] as const) {
      const response = await download(token, query);
      expect(response.status).toBe(400);
      const body = JSON.parse(response.text);
      expect(body.error.code).toBe("BAD_USER_INPUT");
      expect(body.error.message).toContain(field);
    }
  });

  it("is for admins only: 401 without or with a bad credential, 403 for members, services and the operator", async () => {
    const { org } = await withUsage();
    expect((await download(null)).status).toBe(401);
    expect((await download(null)).headers.get("www-authenticate")).toBe("Bearer");
    expect((await download("not-a-token")).status).toBe(401);
    expect((await download(org.member.credential)).status).toBe(403);
    expect((await download(org.service.credential)).status).toBe(403);
    expect((await download(org.operator.credential)).status).toBe(403);
  });

  it("neutralises cells that a spreadsheet would run as formulas (app, assistant, team and model names)", async () => {
    const org = await usageOrganization(server);
    const [writer] = await org.addMembers([{ teamName: "+SUM(1+1)" }]);
    await org.model("-2+3", { input: "1", output: "1" });
    const member = await org.as(writer!);
    await member.execute(RecordUsageDocument, {
      input: {
        memberId: writer!,
        modelKey: "-2+3",
        inputTokens: 1,
        outputTokens: 1,
        app: "=cmd|' /C calc'!A0",
        assistant: '@HYPERLINK("http://evil.test","x")',
        idempotencyKey: unique("idem"),
      },
    });
    const { text } = await download(org.admin.credential);
    const [header, row] = parseWithCsvParse(text, { relax_quotes: false }) as string[][];
    expect(header).toEqual(HEADER);
    expect(row!.slice(2, 4)).toEqual(["'+SUM(1+1)", "'-2+3"]);
    expect(row!.slice(8)).toEqual(["'=cmd|' /C calc'!A0", `'@HYPERLINK("http://evil.test","x")`]);
    expect(text).toContain(`"'=cmd|' /C calc'!A0"`);
  });

  it("never contains another organisation's usage", async () => {
    await withUsage();
    const other = await seedOrganization(server);
    const { status, text } = await download(other.admin.credential);
    expect(status).toBe(200);
    expect(parseCsv(text)).toEqual([HEADER]);
  });
});
