// Who is calling. The role of a member comes from the database, never from the token.
import type { Role } from "../db/generated/enums.ts";

export type Principal =
  | { kind: "ANONYMOUS" }
  | { kind: "OPERATOR" }
  | {
      kind: "MEMBER";
      memberId: string;
      organizationId: string;
      role: Role;
      /** A suspended member reads its own member and balances, nothing else (the scopes in builder.ts). */
      suspended: boolean;
      /** The access token's `iat`, in milliseconds: revocations compare with it. */
      tokenIssuedAt: number;
      /** The access token's `exp`, in milliseconds: open subscriptions end then. */
      tokenExpiresAt: number;
    }
  | { kind: "SERVICE"; apiKeyId: string; organizationId: string };

export type MemberPrincipal = Extract<Principal, { kind: "MEMBER" }>;

export const anonymous: Principal = { kind: "ANONYMOUS" };

/** The name clients see in `viewer.principal`. */
export function principalName(principal: Principal): string {
  if (principal.kind === "MEMBER") return principal.role === "ADMIN" ? "ADMIN" : "MEMBER";
  return principal.kind;
}

export function organizationOf(principal: Principal): string | null {
  return principal.kind === "MEMBER" || principal.kind === "SERVICE" ? principal.organizationId : null;
}

export function isAdmin(principal: Principal): boolean {
  return principal.kind === "MEMBER" && principal.role === "ADMIN";
}
