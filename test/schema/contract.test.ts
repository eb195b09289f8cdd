// The printed schema is the one built in code, and it never breaks the public contract.
import { readFileSync } from "node:fs";
import { generate } from "@graphql-codegen/cli";
import { buildSchema, findBreakingChanges } from "graphql";
import { describe, expect, it } from "vitest";
import config from "../../codegen.ts";

const root = new URL("../../", import.meta.url);
const committed = readFileSync(new URL("schema/schema.graphql", root), "utf8");
const contract = readFileSync(new URL("../shared/contract/schema.graphql", root), "utf8");

describe("schema/schema.graphql", () => {
  it("is what codegen prints from the code today (run `npm run schema:print` after schema changes)", async () => {
    const outputs = await generate(
      { ...config, documents: [], generates: { "schema/schema.graphql": config.generates["schema/schema.graphql"]! } },
      false,
    );
    const printed = outputs.find((output: { filename: string }) => output.filename === "schema/schema.graphql");
    expect(printed?.content).toBe(committed);
  });

  it("is a superset of the contract (no breaking changes)", () => {
    const breaking = findBreakingChanges(buildSchema(contract), buildSchema(committed));
    expect(breaking.map((change) => change.description)).toEqual([]);
  });

  it("would notice a breaking change", () => {
    const broken = committed.replace(/\n {2}planBudget: Money!/, "\n  planBudget: Money");
    expect(broken).not.toBe(committed);
    expect(findBreakingChanges(buildSchema(contract), buildSchema(broken)).length).toBeGreaterThan(0);
  });
});
