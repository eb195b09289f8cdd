// Credential material: service API keys are shown once and stored as SHA-256 hashes.
import { hash, randomBytes, timingSafeEqual } from "node:crypto";

export const API_KEY_PREFIX = "twk_";

export function newApiKeySecret(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
}

export function hashSecret(secret: string): string {
  return hash("sha256", secret, "hex");
}

/** Compares a presented secret with a known one in constant time (through their hashes, which have equal lengths). */
export class KnownSecret {
  readonly #hash: Buffer;

  constructor(secret: string) {
    this.#hash = hash("sha256", secret, "buffer");
  }

  matches(presented: string): boolean {
    return timingSafeEqual(hash("sha256", presented, "buffer"), this.#hash);
  }
}
