// Credential material: service API keys are shown once and stored as SHA-256 hashes.
import { hash, randomBytes, timingSafeEqual } from "node:crypto";

export const API_KEY_PREFIX = "twk_";

export function newApiKeySecret(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** What is stored of an API key's secret. */
export function hashSecret(secret: string): string {
  return storedHashOf(digestOf(secret));
}

/** hashSecret of the secret whose digest (digestOf) was already taken. */
export function storedHashOf(digest: Buffer): string {
  return digest.toString("hex");
}

/** A presented credential's SHA-256, taken once: compared with known secrets, and (hex) an API key's stored hash. */
export function digestOf(presented: string): Buffer {
  return hash("sha256", presented, "buffer");
}

/** Compares a presented secret with a known one in constant time (through their hashes, which have equal lengths). */
export class KnownSecret {
  readonly #hash: Buffer;

  constructor(secret: string) {
    this.#hash = digestOf(secret);
  }

  matches(presented: string): boolean {
    return this.matchesDigest(digestOf(presented));
  }

  /** `matches` for a credential whose digest was already taken (digestOf). */
  matchesDigest(digest: Buffer): boolean {
    return timingSafeEqual(digest, this.#hash);
  }
}
