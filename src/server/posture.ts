// What the server tells strangers about its schema: introspection and "Did you mean …?" suggestions are off unless
// GRAPHQL_INTROSPECTION is on (by default on in development, off in production), on every transport.
import { useDisableIntrospection } from "@envelop/disable-introspection";
import type { Plugin } from "graphql-yoga";
import type { Config } from "../config.ts";
import { errorRewritePlugin } from "./error-rewrite.ts";

/** graphql-js appends suggestions of fields, arguments, types and enum values as one trailing sentence. */
const SUGGESTION = /\s*Did you mean [^?]*\?/g;
const INTROSPECTION_REFUSED = /^GraphQL introspection has been disabled/;

export function schemaExposurePlugins(config: Pick<Config, "introspection">): Plugin[] {
  if (config.introspection) return [];
  return [
    useDisableIntrospection() as Plugin,
    errorRewritePlugin((error) => {
      error.message = error.message.replace(SUGGESTION, "");
      if (INTROSPECTION_REFUSED.test(error.message) && !error.extensions.code) {
        (error.extensions as Record<string, unknown>).code = "FORBIDDEN";
      }
    }),
  ];
}
