// GraphQL Code Generator: prints the schema built in code to schema/schema.graphql (committed; a test
// fails when it is stale) and turns the operations in test/**/*.ts into typed documents for the tests.
import type { CodegenConfig } from "@graphql-codegen/cli";
import { printSchema } from "graphql";
import { schema } from "./src/schema/index.ts";

const config: CodegenConfig = {
  schema: printSchema(schema),
  documents: ["test/**/*.ts", "!test/graphql/**"],
  ignoreNoDocuments: true,
  generates: {
    "schema/schema.graphql": {
      plugins: ["schema-ast"],
      config: { includeDirectives: false, commentDescriptions: false },
    },
    "test/graphql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        emitLegacyCommonJSImports: false,
        scalars: { DateTime: "string", SafeInt: "number", Money: "string" },
        enumsAsTypes: true,
      },
    },
  },
};

export default config;
