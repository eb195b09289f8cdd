// The ledger's rules (pure). A token amount as the API takes it: a whole number of tokens within 2^53−1,
// checked here once for every domain.
import { badInput } from "../errors.ts";

/**
 * A whole number of tokens from `min` (0 unless given: 1 where an empty amount means nothing) to 2^53−1, as a
 * bigint; anything else is BAD_USER_INPUT naming `field`. `hint` adds what the field's special values mean.
 */
export function tokenAmount(value: number, field: string, options: { min?: 0 | 1; max?: number; hint?: string } = {}): bigint {
  const min = options.min ?? 0;
  if (!Number.isSafeInteger(value) || value < min || (options.max !== undefined && value > options.max)) {
    throw badInput(
      field,
      `${field} must be a whole number of tokens from ${min} to ${options.max ?? "2^53-1"}${options.hint ? ` (${options.hint})` : ""}, got ${value}.`,
    );
  }
  return BigInt(value);
}
