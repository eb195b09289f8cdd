// The client operations: generated typed documents and manifest are what codegen makes of the .graphql files
// today, and the GraphQL config that editors read finds the schema and validates the documents against it.
import { readFileSync } from "node:fs";
import { generate } from "@graphql-codegen/cli";
import { concatAST, validate } from "graphql";
import { loadConfig } from "graphql-config";
import { describe, expect, it } from "vitest";
import config from "../../codegen.ts";

const root = new URL("../../", import.meta.url);
const OUTPUT = "src/client/generated/";

describe("src/client/generated/", () => {
  it("is what codegen makes of src/client/operations today (run `npm run schema:print` after changing either)", async () => {
    const outputs: { filename: string; content: string }[] = await generate(
      { ...config, generates: { [OUTPUT]: config.generates[OUTPUT]! } },
      false,
    );
    expect(outputs.map((output) => output.filename).sort()).toEqual(
      ["gql.ts", "graphql.ts", "persisted-documents.json"].map((file) => `${OUTPUT}${file}`),
    );
    for (const output of outputs) {
      expect(output.content, `${output.filename} is stale`).toBe(readFileSync(new URL(output.filename, root), "utf8"));
    }
  });

  it("maps the scalars to what arrives in JSON, never unknown", () => {
    const generated = readFileSync(new URL(`${OUTPUT}graphql.ts`, root), "utf8");
    // SafeInt (tokens), Money (cost) and DateTime (expiresAt, lastAutoIncreaseAt) as JSON carries them.
    expect(generated).toContain("export type UsageReceiptFieldsFragment = { id: string, tokens: number, cost: string,");
    expect(generated).toContain("tokens: number, estimatedCost: string, expiresAt: string,");
    expect(generated).toContain("lastAutoIncreaseAt: string | null");
    const types = generated.split("\n").filter((line) => line.startsWith("export type"));
    expect(types.filter((line) => /: (unknown|any)\b/.test(line))).toEqual([]);
  });
});

describe(".graphqlrc.yml", () => {
  it("points editors at schema/schema.graphql and the documents, which all validate", async () => {
    const graphqlConfig = await loadConfig({ rootDir: root.pathname, throwOnMissing: true });
    const project = graphqlConfig!.getDefault();
    const schema = await project.getSchema();
    expect(schema.getQueryType()?.getFields().pendingTokenRequestCount).toBeDefined();
    const documents = (await project.getDocuments()).filter((source) => source.location?.includes("src/client/operations"));
    expect(documents.length).toBeGreaterThanOrEqual(8);
    // Fragments are shared across files, as the language server sees them.
    const errors = validate(schema, concatAST(documents.map((source) => source.document!)));
    expect(errors.map((error) => error.message)).toEqual([]);
  });
});
