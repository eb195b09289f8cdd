// Resource checks that scopes cannot express. Anything of another organisation is NOT_FOUND, never FORBIDDEN.
import { decodeGlobalID } from "@pothos/plugin-relay";
import type { Context } from "../context.ts";
import { badInput, forbidden, notFound, unauthenticated } from "../errors.ts";
import { isUuid } from "./authenticate.ts";
import { isAdmin, organizationOf } from "./principal.ts";

/** Decodes a global ID of the given type into the database id; malformed input is BAD_USER_INPUT naming `field`. */
export function decodeId(value: string, typename: string, field: string): string {
  let decoded: { typename: string; id: string };
  try {
    decoded = decodeGlobalID(value);
  } catch {
    throw badInput(field, `${field} is not a valid ${typename} id.`);
  }
  if (decoded.typename !== typename || !isUuid(decoded.id)) {
    throw badInput(field, `${field} is not a valid ${typename} id.`);
  }
  return decoded.id;
}

/** The organisation an operation works on: the caller's own, or for operators the one they name. */
export function organizationScope(context: Context, requested?: string | null): string {
  const own = organizationOf(context.principal);
  if (context.principal.kind === "OPERATOR") {
    if (!requested) throw badInput("id", "Operators must name the organisation (id).");
    return requested;
  }
  if (!own) throw unauthenticated();
  if (requested && requested !== own) throw notFound("Organization");
  return own;
}

/** Throws NOT_FOUND unless the caller may see things of this organisation. */
export function assertOrganizationVisible(context: Context, organizationId: string, what: string): void {
  if (context.principal.kind === "OPERATOR") return;
  if (organizationOf(context.principal) !== organizationId) throw notFound(what);
}

/** Members see themselves; admins, services and operators see members of their organisation. */
export function assertMemberVisible(context: Context, member: { id: string; organizationId: string }): void {
  assertOrganizationVisible(context, member.organizationId, "Member");
  const { principal } = context;
  if (principal.kind === "MEMBER" && principal.role !== "ADMIN" && principal.memberId !== member.id) throw notFound("Member");
}

export function requireAdmin(context: Context): { memberId: string; organizationId: string } {
  const { principal } = context;
  if (principal.kind === "ANONYMOUS") throw unauthenticated();
  if (principal.kind !== "MEMBER" || principal.role !== "ADMIN") throw forbidden("Only an organisation admin may do this.");
  return { memberId: principal.memberId, organizationId: principal.organizationId };
}

/**
 * Whether `node(id:)` may return this object to the caller. Objects of another organisation, and for plain
 * members other members' things, read as absent.
 */
export function isNodeVisible(context: Context, typename: string, node: Record<string, unknown>): boolean {
  const { principal } = context;
  if (principal.kind === "OPERATOR") return true;
  const organizationId =
    typename === "Organization"
      ? node.id
      : typename === "SpendAlert" // an alert's organisation is its threshold's
        ? (node.threshold as { organizationId?: unknown } | undefined)?.organizationId
        : node.organizationId;
  if (typeof organizationId !== "string" || organizationId !== organizationOf(principal)) return false;
  if (principal.kind !== "MEMBER" || isAdmin(principal)) return true;
  if (typename === "Member") return node.id === principal.memberId;
  if ("memberId" in node) return node.memberId === principal.memberId;
  return typename === "Organization" || typename === "Team" || typename === "Model";
}
