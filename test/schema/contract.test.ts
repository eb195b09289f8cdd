// The printed schema is the one built in code, and it never breaks the public contract.
import { existsSync, readFileSync } from "node:fs";
import { generate } from "@graphql-codegen/cli";
import { buildSchema, findBreakingChanges } from "graphql";
import { describe, expect, it } from "vitest";
import config from "../../codegen.ts";

const root = new URL("../../", import.meta.url);
const committed = readFileSync(new URL("schema/schema.graphql", root), "utf8");
// The public contract lives beside the repository (../shared/contract/), as on CI; a bare clone has none.
const contractFile = new URL("../shared/contract/schema.graphql", root);
const contract = existsSync(contractFile) ? readFileSync(contractFile, "utf8") : null;
if (!contract) {
  console.warn(`Contract checks skipped: no ${contractFile.pathname} beside this clone.`);
  // CI always has it: a missing contract there is a failure, not a skip.
  if (process.env.CI === "true") throw new Error(`The contract is missing: ${contractFile.pathname}`);
}

describe("schema/schema.graphql", () => {
  it("is what codegen prints from the code today (run `npm run schema:print` after schema changes)", async () => {
    const outputs = await generate(
      { ...config, documents: [], generates: { "schema/schema.graphql": config.generates["schema/schema.graphql"]! } },
      false,
    );
    const printed = outputs.find((output: { filename: string }) => output.filename === "schema/schema.graphql");
    expect(printed?.content).toBe(committed);
  });

  it.skipIf(!contract)("is a superset of the contract (no breaking changes)", () => {
    const breaking = findBreakingChanges(buildSchema(contract!), buildSchema(committed));
    expect(breaking.map((change) => change.description)).toEqual([]);
  });

  it.skipIf(!contract)("would notice a breaking change", () => {
    const broken = committed.replace(/\n {2}planBudget: Money!/, "\n  planBudget: Money");
    expect(broken).not.toBe(committed);
    expect(findBreakingChanges(buildSchema(contract!), buildSchema(broken)).length).toBeGreaterThan(0);
  });
});
