// GraphQL Code Generator: prints the schema built in code to schema/schema.graphql (committed; a test
// fails when it is stale), turns the client operations (src/client/operations/*.graphql) into typed documents
// with their persisted-documents manifest (src/client/generated/, committed; a test fails when stale). Tests use
// those same documents; the operations still written out in tests are probes (malformed, transport, limits).
import type { CodegenConfig } from "@graphql-codegen/cli";
import { printSchema } from "graphql";
import { schema } from "./src/schema/index.ts";

/** How our scalars arrive in JSON: token amounts as numbers, money as exact decimal strings, instants as ISO-8601. */
export const scalars = { DateTime: "string", SafeInt: "number", Money: "string" };

const config: CodegenConfig = {
  schema: printSchema(schema),
  ignoreNoDocuments: true,
  generates: {
    "schema/schema.graphql": {
      plugins: ["schema-ast"],
      config: { includeDirectives: false, commentDescriptions: false },
    },
    "src/client/generated/": {
      documents: ["src/client/operations/*.graphql"],
      preset: "client",
      presetConfig: { fragmentMasking: false, persistedDocuments: { hashAlgorithm: "sha256" }, skipIndexFile: true },
      config: { useTypeImports: true, importExtension: ".ts", scalars, enumsAsTypes: true, strictScalars: true },
    },
  },
};

export default config;
