// Access tokens: HS256 with the server's secret, or an identity provider's JWKS where configured.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTPayload } from "jose";
import type { Config } from "../config.ts";

export interface JwtVerifier {
  /** The subject (`sub`: a member id) of a token valid at `now`, or null. */
  verify(token: string, now: Date): Promise<string | null>;
  issue(memberId: string, ttlSeconds: number, now: Date): Promise<string>;
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
    async verify(token, now) {
      // Expiry is judged on the server's one clock, the same that stamped the token at issue.
      try {
        const { payload } = await jwtVerify(token, secret, { algorithms: ["HS256"], currentDate: now, ...claims });
        return subject(payload);
      } catch {
        if (!jwks) return null;
      }
      try {
        const { payload } = await jwtVerify(token, jwks, { currentDate: now, ...claims });
        return subject(payload);
      } catch {
        return null;
      }
    },
    async issue(memberId, ttlSeconds, now) {
      // `sub` is the member id exactly as the API shows it (Member.id).
      const issuedAt = Math.floor(now.getTime() / 1000);
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
