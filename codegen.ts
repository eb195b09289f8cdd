// GraphQL Code Generator: prints the schema built in code to schema/schema.graphql (committed; a test
// fails when it is stale), turns the client operations (src/client/operations/*.graphql) into typed documents
// with their persisted-documents manifest (src/client/generated/, committed; a test fails when stale), and the
// operations written inline in test/**/*.ts into typed documents for the tests.
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
    "test/graphql/": {
      documents: ["test/**/*.ts", "!test/graphql/**"],
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        emitLegacyCommonJSImports: false,
        scalars,
        enumsAsTypes: true,
      },
    },
  },
};

export default config;
