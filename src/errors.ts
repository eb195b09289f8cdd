// Expected failures: a stable extensions.code and a message a person can act on. Everything else is masked.
import { GraphQLError } from "graphql";

export type ErrorCode =
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "BAD_USER_INPUT"
  | "INSUFFICIENT_POOL"
  | "REQUEST_ALREADY_PENDING"
  | "CONFLICT"
  | "RATE_LIMITED"
  | "SERVICE_UNAVAILABLE";

export class AppError extends GraphQLError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...extensions } });
    this.code = code;
  }
}

export const notFound = (what: string) => new AppError("NOT_FOUND", `${what} not found.`);
export const forbidden = (message = "You are not allowed to do this.") => new AppError("FORBIDDEN", message);
export const unauthenticated = (message = "Authentication required.") => new AppError("UNAUTHENTICATED", message);
/** `field` names the offending input, e.g. "input.amount". */
export const badInput = (field: string, message: string) => new AppError("BAD_USER_INPUT", message, { field });
export const insufficientPool = (needed: bigint, available: bigint) =>
  new AppError("INSUFFICIENT_POOL", `The pool has ${available} tokens; this needs ${needed}. Buy tokens or lower the amount.`, {
    needed: Number(needed),
    available: Number(available),
  });
export const conflict = (message: string) => new AppError("CONFLICT", message);
export const rateLimited = (message: string, retryAfterSeconds: number) => new AppError("RATE_LIMITED", message, { retryAfterSeconds });
/** The database (or another dependency) is unreachable: the caller should retry later. */
export const serviceUnavailable = () =>
  new AppError("SERVICE_UNAVAILABLE", "The service is temporarily unavailable (its database cannot be reached). Retry later.", {
    http: { status: 503 },
  });

/**
 * The column named by a violated `<Table>_<column>_representable` CHECK constraint (see the representable_totals
 * migration): the database's last word that a total stays within 2^53-1, whatever path tried to pass it.
 */
export function unrepresentableColumn(error: unknown): string | null {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    const match = /check constraint "(\w+?)_(\w+)_representable"/.exec(cause.message);
    if (match) return `${match[1]}.${match[2]}`;
  }
  return null;
}
