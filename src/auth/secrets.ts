// Credential material: service API keys are shown once and stored as SHA-256 hashes.
import { hash, randomBytes, timingSafeEqual } from "node:crypto";

export const API_KEY_PREFIX = "twk_";

export function newApiKeySecret(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
}

export function hashSecret(secret: string): string {
  return hash("sha256", secret, "hex");
}

export function safeEqual(a: string, b: string): boolean {
  const left = hash("sha256", a, "buffer");
  const right = hash("sha256", b, "buffer");
  return timingSafeEqual(left, right);
}
