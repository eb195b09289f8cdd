// Access tokens: HS256 with the server's secret, or an identity provider's JWKS where configured.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { createRemoteJWKSet, type JWTPayload, jwtVerify, SignJWT } from "jose";
import type { Config } from "../config.ts";

export interface JwtVerifier {
  /** The subject (`sub`: a member id) of a valid token, or null. */
  verify(token: string): Promise<string | null>;
  issue(memberId: string, ttlSeconds: number): Promise<string>;
}

export function createJwtVerifier(config: Config): JwtVerifier {
  const secret = new TextEncoder().encode(config.jwtSecret);
  const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : null;
  const claims = {
    ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { audience: config.jwtAudience } : {}),
  };
  const subject = (payload: JWTPayload) => (typeof payload.sub === "string" && payload.sub ? payload.sub : null);

  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, secret, { algorithms: ["HS256"], ...claims });
        return subject(payload);
      } catch {
        if (!jwks) return null;
      }
      try {
        const { payload } = await jwtVerify(token, jwks, claims);
        return subject(payload);
      } catch {
        return null;
      }
    },
    async issue(memberId, ttlSeconds) {
      // `sub` is the member id exactly as the API shows it (Member.id). Token lifetimes are security, not
      // product time: issue and expiry both follow the system clock, never the (injectable) business clock.
      const issuedAt = Math.floor(Date.now() / 1000);
      let jwt = new SignJWT({})
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(encodeGlobalID("Member", memberId))
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ttlSeconds);
      if (config.jwtIssuer) jwt = jwt.setIssuer(config.jwtIssuer);
      if (config.jwtAudience) jwt = jwt.setAudience(config.jwtAudience);
      return jwt.sign(secret);
    },
  };
}
