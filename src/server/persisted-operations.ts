// Persisted operations: automatic persisted queries (Apollo's link, urql's persistedExchange) by default, or, with
// TRUSTED_DOCUMENTS, only the operations of the generated manifest (src/client/generated/persisted-documents.json).
import { readFileSync } from "node:fs";
import { useAPQ } from "@graphql-yoga/plugin-apq";
import { usePersistedOperations } from "@graphql-yoga/plugin-persisted-operations";
import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";

const manifest = JSON.parse(readFileSync(new URL("../client/generated/persisted-documents.json", import.meta.url), "utf8")) as Record<
  string,
  string
>;

/** The trusted document with this hash (`sha256:<hex>` as in the manifest, or the bare hex Apollo-style clients send). */
export function trustedDocument(hash: string): string | null {
  return manifest[hash.startsWith("sha256:") ? hash : `sha256:${hash}`] ?? null;
}

export function persistedOperationsPlugin(trustedDocuments: boolean): Plugin {
  if (!trustedDocuments) return useAPQ();
  return usePersistedOperations({ getPersistedOperation: trustedDocument, allowArbitraryOperations: false });
}

const hashIn = (extensions: unknown): string | null => {
  const persisted = (extensions as { persistedQuery?: { version?: unknown; sha256Hash?: unknown } } | null)?.persistedQuery;
  return persisted?.version === 1 && typeof persisted.sha256Hash === "string" ? persisted.sha256Hash : null;
};

/**
 * The query a graphql-ws subscribe message stands for. graphql-ws hands us the message before yoga's parameter hooks,
 * so trusted documents are enforced here too: only a manifest hash, never query text.
 */
export function subscriptionQuery(payload: { query: string; extensions?: unknown }, trustedDocuments: boolean): string | GraphQLError {
  if (!trustedDocuments) return payload.query;
  const hash = hashIn(payload.extensions);
  if (payload.query || hash === null) {
    return new GraphQLError("PersistedQueryOnly", { extensions: { code: "PERSISTED_QUERY_ONLY" } });
  }
  return trustedDocument(hash) ?? new GraphQLError("PersistedQueryNotFound", { extensions: { code: "PERSISTED_QUERY_NOT_IN_LIST" } });
}
