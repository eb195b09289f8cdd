// Turns the bearer credential of an HTTP request or a graphql-ws connection into a Principal.
import { decodeGlobalID } from "@pothos/plugin-relay";
import type { Config } from "../config.ts";
import type { PrismaClient } from "../db/generated/client.ts";
import type { Role } from "../db/generated/enums.ts";
import { AppError, unauthenticated } from "../errors.ts";
import { FailedAuthentications } from "./failures.ts";
import type { JwtVerifier } from "./jwt.ts";
import { anonymous, type Principal } from "./principal.ts";
import { API_KEY_PREFIX, digestOf, KnownSecret, storedHashOf } from "./secrets.ts";

/**
 * Lookups are cached per process; every change that ends a credential's right (revocation, suspension, role change)
 * evicts them in every process through pubsub, so the cache time is only a safety net for a lost event.
 */
const API_KEY_CACHE_MS = 10_000;
const MEMBER_CACHE_MS = 10_000;

/** What decides whether a member's access token still holds. */
interface MemberStanding {
  id: string;
  organizationId: string;
  role: Role;
  suspended: boolean;
  /** Tokens issued at or before this instant (ms) are revoked; null: none are. */
  tokensValidAfter: number | null;
}

interface Cached<T> {
  value: Promise<T>;
  until: number;
}

export class Authenticator {
  readonly #apiKeys = new Map<string, Cached<Principal | null>>();
  readonly #members = new Map<string, Cached<MemberStanding | null>>();
  readonly #prisma: PrismaClient;
  readonly #jwt: JwtVerifier;
  readonly #operatorKey: KnownSecret;
  readonly #failures: FailedAuthentications;

  constructor(prisma: PrismaClient, config: Config, jwt: JwtVerifier) {
    this.#prisma = prisma;
    this.#jwt = jwt;
    this.#operatorKey = new KnownSecret(config.operatorApiKey);
    this.#failures = new FailedAuthentications(config.authFailuresPerMinute);
  }

  /**
   * `header` is the Authorization header (or connection_init's `authorization`). Invalid credentials throw
   * UNAUTHENTICATED and count against `clientAddress`; past the limit every credential from it is RATE_LIMITED.
   */
  async authenticate(header: string | null | undefined, clientAddress = "unknown"): Promise<Principal> {
    if (!header) return anonymous;
    const credential = header.replace(/^Bearer\s+/i, "").trim();
    if (!credential) return anonymous;
    this.#failures.assertAllowed(clientAddress);
    try {
      return await this.#verify(credential);
    } catch (error) {
      if (error instanceof AppError && error.code === "UNAUTHENTICATED") this.#failures.record(clientAddress);
      throw error;
    }
  }

  /**
   * Why the credential behind `principal` no longer holds (revoked, suspended, gone), or null while it does.
   * Open subscriptions ask this when an event says something about their credential changed.
   */
  async revocationOf(principal: Principal): Promise<AppError | null> {
    if (principal.kind === "SERVICE") {
      const key = await this.#prisma.apiKey.findUnique({ where: { id: principal.apiKeyId }, select: { revokedAt: true } });
      return !key || key.revokedAt ? unauthenticated("The API key was revoked.") : null;
    }
    if (principal.kind !== "MEMBER") return null;
    const standing = await this.#standing(principal.memberId);
    if (!standing) return unauthenticated("The member no longer exists.");
    if (standing.suspended) return unauthenticated("The member was suspended.");
    // Suspension, role changes and revokeAccessTokens all move tokensValidAfter past the token in use.
    const revoked = standing.tokensValidAfter !== null && principal.tokenIssuedAt <= standing.tokensValidAfter;
    return revoked || standing.role !== principal.role ? unauthenticated("The access token was revoked.") : null;
  }

  /** Called for every revocation, in every process (through pubsub). */
  forgetApiKey(secretHash: string): void {
    this.#apiKeys.delete(secretHash);
  }

  /** Called whenever a member's suspension, role or tokensValidAfter changes, in every process (through pubsub). */
  forgetMember(memberId: string): void {
    this.#members.delete(memberId);
  }

  async #verify(credential: string): Promise<Principal> {
    const digest = digestOf(credential);
    if (this.#operatorKey.matchesDigest(digest)) return { kind: "OPERATOR" };
    if (credential.startsWith(API_KEY_PREFIX)) return this.#apiKey(storedHashOf(digest));
    const token = await this.#jwt.verify(credential);
    if (!token) throw unauthenticated("The access token is invalid or expired.");
    const memberId = memberIdOfSubject(token.subject);
    if (!memberId) throw unauthenticated("The access token names no member.");
    const standing = await this.#standing(memberId);
    if (!standing) throw unauthenticated("The access token names no member.");
    if (standing.tokensValidAfter !== null && token.issuedAt <= standing.tokensValidAfter) {
      throw unauthenticated("The access token was revoked.");
    }
    return {
      kind: "MEMBER",
      memberId: standing.id,
      organizationId: standing.organizationId,
      role: standing.role,
      suspended: standing.suspended,
      tokenIssuedAt: token.issuedAt,
      tokenExpiresAt: token.expiresAt,
    };
  }

  #standing(memberId: string): Promise<MemberStanding | null> {
    return cached(this.#members, memberId, MEMBER_CACHE_MS, async () => {
      const member = await this.#prisma.member.findUnique({
        where: { id: memberId },
        select: { id: true, organizationId: true, role: true, suspended: true, tokensValidAfter: true },
      });
      return member ? { ...member, tokensValidAfter: member.tokensValidAfter?.getTime() ?? null } : null;
    });
  }

  /** The service principal of the API key whose secret hashes to `secretHash` (hashSecret). */
  async #apiKey(secretHash: string): Promise<Principal> {
    const principal = await cached(this.#apiKeys, secretHash, API_KEY_CACHE_MS, async () => {
      const key = await this.#prisma.apiKey.findUnique({
        where: { secretHash },
        select: { id: true, organizationId: true, revokedAt: true },
      });
      return key && !key.revokedAt ? ({ kind: "SERVICE", apiKeyId: key.id, organizationId: key.organizationId } as const) : null;
    });
    if (!principal) throw unauthenticated("The API key is invalid or revoked.");
    return principal;
  }
}

/** One lookup per key at a time: callers arriving while it runs share it (no stampede when the entry expires). */
function cached<T>(cache: Map<string, Cached<T>>, key: string, ttlMs: number, lookUp: () => Promise<T>): Promise<T> {
  const now = Date.now();
  const entry = cache.get(key);
  if (entry && entry.until > now) return entry.value;
  const value = lookUp();
  cache.set(key, { value, until: now + ttlMs });
  value.catch(() => {
    if (cache.get(key)?.value === value) cache.delete(key);
  });
  return value;
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
