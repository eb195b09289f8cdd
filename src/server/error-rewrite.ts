// Lets a plugin amend every GraphQL error before it is answered: validation errors, and the errors of an execution,
// of a subscription refused before it streamed, and of each subscription event.
import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";

export function errorRewritePlugin(rewrite: (error: GraphQLError) => void): Plugin {
  const each = (errors: readonly unknown[] | undefined) => {
    for (const error of errors ?? []) if (error instanceof GraphQLError) rewrite(error);
  };
  const ofResult = (result: unknown) => {
    if (result && typeof result === "object" && "errors" in result) each((result as { errors?: readonly unknown[] }).errors);
  };
  return {
    onValidate:
      () =>
      ({ result }) => {
        each(result);
      },
    onExecute: () => ({
      onExecuteDone: ({ result }) => {
        ofResult(result);
      },
    }),
    onSubscribe: () => ({
      onSubscribeResult: ({ result }) => {
        ofResult(result);
        return { onNext: ({ result: event }) => ofResult(event) };
      },
    }),
  };
}
