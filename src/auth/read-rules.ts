// The contract's read table, one rule per type, as scope-auth scopes (applied on the types, so every way to an object
// obeys it, not only the entry points). ADMIN and the OPERATOR read whatever their entry points reach; below, what
// MEMBER and SERVICE callers may read. Another organisation's objects never get this far (NOT_FOUND at the entry).

/** Organisation finances, policy, plans, spend, thresholds, analytics, keys: admins and the operator. */
export const staffOnly = { admin: true, operator: true } as const;

/** What any caller of the organisation may read, a suspended member excepted (the organisation's name, cycle dates). */
export const anyCaller = { authenticated: true } as const;

/** The organisation's cycle dates and next reset ("tell users the date"): its members and the staff, not service keys. */
export const cycleDatesRule = { member: true, admin: true, operator: true } as const;

/** A member: itself (also while suspended), the staff and service keys (which work for members). */
export const memberRule = (member: { id: string }) => ({ admin: true, operator: true, service: true, self: member.id });

/** Of another member, a member sees only the name of an admin of its organisation (the one who decided its request). */
export const memberNameRule = (member: { id: string; role: string; organizationId: string }) => ({
  ...memberRule(member),
  adminOfOwnOrganization: member,
});

/** What only the member itself and the staff see of a member (its override). */
export const memberPrivateRule = (member: { id: string }) => ({ admin: true, operator: true, self: member.id });

/** A balance: its member (also while suspended), the staff and service keys. */
export const balanceRule = (balance: { memberId: string }) => ({ admin: true, operator: true, service: true, self: balance.memberId });

/** Usage (reservations, receipts) and a request's outcome: its member, the staff and service keys. */
export const usageRule = (owned: { memberId: string }) => ({ admin: true, operator: true, service: true, owner: owned.memberId });

/** A request's words and deciders (reason, notes, who decided, the audit trail): its member and the staff, not services. */
export const requestPrivateRule = (request: { memberId: string }) => ({ admin: true, operator: true, owner: request.memberId });

/** Models: every caller of the organisation but a suspended member; their spend and caps are staff-only. */
export const modelRule = { admin: true, operator: true, member: true, service: true } as const;
