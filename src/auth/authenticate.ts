// Turns the bearer credential of an HTTP request or a graphql-ws connection into a Principal.
import { decodeGlobalID } from "@pothos/plugin-relay";
import type { Config } from "../config.ts";
import type { PrismaClient } from "../db/generated/client.ts";
import { unauthenticated } from "../errors.ts";
import type { JwtVerifier } from "./jwt.ts";
import { anonymous, type Principal } from "./principal.ts";
import { API_KEY_PREFIX, hashSecret, KnownSecret } from "./secrets.ts";

const API_KEY_CACHE_MS = 10_000;

export class Authenticator {
  readonly #apiKeys = new Map<string, { principal: Promise<Principal | null>; until: number }>();
  readonly #prisma: PrismaClient;
  readonly #jwt: JwtVerifier;
  readonly #operatorKey: KnownSecret;

  constructor(prisma: PrismaClient, config: Config, jwt: JwtVerifier) {
    this.#prisma = prisma;
    this.#jwt = jwt;
    this.#operatorKey = new KnownSecret(config.operatorApiKey);
  }

  /** `header` is the Authorization header (or connection_init's `authorization`). Invalid credentials throw. */
  async authenticate(header: string | null | undefined): Promise<Principal> {
    if (!header) return anonymous;
    const credential = header.replace(/^Bearer\s+/i, "").trim();
    if (!credential) return anonymous;
    if (this.#operatorKey.matches(credential)) return { kind: "OPERATOR" };
    if (credential.startsWith(API_KEY_PREFIX)) return this.#apiKey(credential);
    const subject = await this.#jwt.verify(credential);
    if (!subject) throw unauthenticated("The access token is invalid or expired.");
    const memberId = memberIdOfSubject(subject);
    if (!memberId) throw unauthenticated("The access token names no member.");
    const member = await this.#prisma.member.findUnique({
      where: { id: memberId },
      select: { id: true, organizationId: true, role: true },
    });
    if (!member) throw unauthenticated("The access token names no member.");
    return { kind: "MEMBER", memberId: member.id, organizationId: member.organizationId, role: member.role };
  }

  /** Called for every revocation, in every process (through pubsub). */
  forgetApiKey(secretHash: string): void {
    this.#apiKeys.delete(secretHash);
  }

  async #apiKey(secret: string): Promise<Principal> {
    const secretHash = hashSecret(secret);
    const now = Date.now();
    let cached = this.#apiKeys.get(secretHash);
    if (!cached || cached.until <= now) {
      // One lookup per key at a time: requests arriving while it runs share it (no stampede on expiry).
      const principal = this.#lookUpApiKey(secretHash);
      cached = { principal, until: now + API_KEY_CACHE_MS };
      this.#apiKeys.set(secretHash, cached);
      principal.catch(() => {
        if (this.#apiKeys.get(secretHash)?.principal === principal) this.#apiKeys.delete(secretHash);
      });
    }
    const principal = await cached.principal;
    if (!principal) throw unauthenticated("The API key is invalid or revoked.");
    return principal;
  }

  async #lookUpApiKey(secretHash: string): Promise<Principal | null> {
    const key = await this.#prisma.apiKey.findUnique({
      where: { secretHash },
      select: { id: true, organizationId: true, revokedAt: true },
    });
    return key && !key.revokedAt ? { kind: "SERVICE", apiKeyId: key.id, organizationId: key.organizationId } : null;
  }
}

/** `sub` is the member id as clients see it (a global id), or the raw id an identity provider may hold. */
function memberIdOfSubject(subject: string): string | null {
  if (isUuid(subject)) return subject;
  try {
    const { typename, id } = decodeGlobalID(subject);
    return typename === "Member" && isUuid(id) ? id : null;
  } catch {
    return null;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);
