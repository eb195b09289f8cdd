// Service API keys: the secret is shown once at creation; only its hash is stored.
import { hashSecret, newApiKeySecret } from "../auth/secrets.ts";
import { badInput, notFound } from "../errors.ts";
import type { Runtime } from "../runtime.ts";

export async function createApiKey(runtime: Runtime, organizationId: string, name: string) {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 100) throw badInput("name", "name must be 1 to 100 characters.");
  const secret = newApiKeySecret();
  const key = await runtime.prisma.apiKey.create({
    data: { organizationId, name: trimmed, secretHash: hashSecret(secret), createdAt: runtime.clock.now() },
    select: { id: true, name: true },
  });
  return { ...key, secret };
}

/** Revoking is idempotent; every server process drops the key from its cache and ends its subscriptions at once. */
export async function revokeApiKey(runtime: Runtime, organizationId: string, id: string): Promise<void> {
  const key = await runtime.prisma.apiKey.findUnique({ where: { id }, select: { organizationId: true, secretHash: true } });
  if (!key || key.organizationId !== organizationId) throw notFound("API key");
  await runtime.prisma.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: runtime.clock.now() } });
  runtime.authenticator.forgetApiKey(key.secretHash);
  runtime.pubsub.publish("apiKeyRevoked", { secretHash: key.secretHash, apiKeyId: id });
}
