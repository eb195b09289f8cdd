// Access tokens: HS256 with the server's secret, or an identity provider's JWKS where configured.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { createRemoteJWKSet, type JWTPayload, jwtVerify, SignJWT } from "jose";
import type { Config } from "../config.ts";

/** How far in the future a token's `iat` may lie (the issuer's clock running ahead of ours). */
export const CLOCK_SKEW_SECONDS = 30;

export interface VerifiedToken {
  /** `sub`: a member id. */
  subject: string;
  /** `iat` in milliseconds (tokens we issue carry it with millisecond precision, so a revocation splits a second). */
  issuedAt: number;
  /** `exp` in milliseconds. */
  expiresAt: number;
}

export interface JwtVerifier {
  /** The claims of a valid token, or null. Tokens without `exp` or `iat`, or issued in the future, are not valid. */
  verify(token: string): Promise<VerifiedToken | null>;
  issue(memberId: string, ttlSeconds: number): Promise<string>;
}

export function createJwtVerifier(config: Config): JwtVerifier {
  const secret = new TextEncoder().encode(config.jwtSecret);
  const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : null;
  const options = {
    requiredClaims: ["exp", "iat"],
    ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { audience: config.jwtAudience } : {}),
  };
  const claims = (payload: JWTPayload): VerifiedToken | null => {
    if (typeof payload.sub !== "string" || !payload.sub) return null;
    if (typeof payload.iat !== "number" || typeof payload.exp !== "number") return null;
    if (payload.iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS) return null;
    return { subject: payload.sub, issuedAt: payload.iat * 1000, expiresAt: payload.exp * 1000 };
  };

  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, secret, { algorithms: ["HS256"], ...options });
        return claims(payload);
      } catch {
        if (!jwks) return null;
      }
      try {
        const { payload } = await jwtVerify(token, jwks, options);
        return claims(payload);
      } catch {
        return null;
      }
    },
    async issue(memberId, ttlSeconds) {
      // `sub` is the member id exactly as the API shows it (Member.id). Token lifetimes are security, not
      // product time: issue and expiry both follow the system clock, never the (injectable) business clock.
      const issuedAt = Date.now() / 1000;
      let jwt = new SignJWT({})
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(encodeGlobalID("Member", memberId))
        .setIssuedAt(issuedAt)
        .setExpirationTime(Math.floor(issuedAt) + ttlSeconds);
      if (config.jwtIssuer) jwt = jwt.setIssuer(config.jwtIssuer);
      if (config.jwtAudience) jwt = jwt.setAudience(config.jwtAudience);
      return jwt.sign(secret);
    },
  };
}
