// Time-ordered UUIDs (v7, RFC 9562), like the ids Prisma gives rows. The random bits come from randomUUID, which
// draws from a cached entropy pool (randomBytes(16) would make a system call per id on the hot path).
import { randomUUID } from "node:crypto";

/**
 * A v7 UUID for the millisecond of `at`. `sequence` (0–4095), when given, fills the 12 bits after the timestamp
 * so ids made in one batch sort in the batch's order (RFC 9562, method 1); otherwise they are random.
 */
export function uuidV7(at: Date, sequence?: number): string {
  const random = randomUUID();
  const time = at.getTime().toString(16).padStart(12, "0");
  const counter = sequence === undefined ? random.slice(15, 18) : sequence.toString(16).padStart(3, "0");
  // random.slice(18) is "-" + the variant group (already 10xx) + "-" + the last 12 hex digits.
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${counter}${random.slice(18)}`;
}
