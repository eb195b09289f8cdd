// A member's balance rules. Pure.

/** remaining = limit − used, never below 0 (usage that happened is recorded past the limit). */
export function remaining(limit: bigint, used: bigint): bigint {
  return limit > used ? limit - used : 0n;
}
