// Admin operations on members (adding, suspending, limits, allocations) and the organisation's members list.
import { decodeId, requireAdmin } from "../auth/access.ts";
import { organizationOf } from "../auth/principal.ts";
import { builder } from "../builder.ts";
import type { Context } from "../context.ts";
import type { Prisma } from "../db/generated/client.ts";
import { badInput, notFound } from "../errors.ts";
import { OrganizationRef } from "../organizations/schema.ts";
import { RoleEnum, TokenKindEnum } from "../schema/enums.ts";
import { allocateTokens, setAllocation } from "./allocation.ts";
import { DrawLimitsRef } from "./schema.ts";
import { addMembers, revokeAccessTokens, setDefaultLimits, setMemberLimits, setMemberSuspended } from "./service.ts";

const MemberInput = builder.inputType("MemberInput", {
  fields: (t) => ({
    email: t.string({ required: true }),
    name: t.string(),
    role: t.field({ type: RoleEnum }),
    teamName: t.string(),
  }),
});

const MemberFilter = builder.inputType("MemberFilter", {
  fields: (t) => ({
    search: t.string({ description: "Part of the email or name, any case." }),
    teamId: t.id(),
    overridesOnly: t.boolean(),
  }),
});

const SetAllocationInput = builder.inputType("SetAllocationInput", {
  fields: (t) => ({
    memberId: t.id({ required: true }),
    inference: t.field({ type: "SafeInt", description: "New limit for this period; omitted fields are left as they are." }),
    training: t.field({ type: "SafeInt" }),
  }),
});

const AllocateInput = builder.inputType("AllocateInput", {
  fields: (t) => ({
    memberIds: t.idList({ required: true }),
    kind: t.field({ type: TokenKindEnum, required: true }),
    amount: t.field({ type: "SafeInt", required: true, description: "Tokens added to each member's limit, taken from the pool." }),
  }),
});

const DrawLimitsInput = builder.inputType("DrawLimitsInput", {
  description: "Omitted fields are left as they are; null means no limit.",
  fields: (t) => ({
    daily: t.field({ type: "SafeInt" }),
    monthly: t.field({ type: "SafeInt" }),
  }),
});

type MemberQuery = { include?: Prisma.MemberInclude; select?: Prisma.MemberSelect };

/** The members in the order of `ids`, loaded with the selection the client asked for. */
async function membersInOrder(context: Context, query: MemberQuery, ids: string[]) {
  const rows = await context.runtime.prisma.member.findMany({ ...query, where: { id: { in: ids } } } as Prisma.MemberFindManyArgs);
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => byId.get(id)!);
}

builder.prismaObjectFields(OrganizationRef, (t) => ({
  members: t.relatedConnection(
    "members",
    {
      description: "Members, oldest first (admins, services and the operator).",
      skipTypeScopes: true,
      authScopes: { admin: true, operator: true, service: true },
      totalCount: true,
      cursor: "id",
      args: { filter: t.arg({ type: MemberFilter }) },
      query: ({ filter }) => {
        const where: Prisma.MemberWhereInput = {};
        const search = filter?.search?.trim();
        if (search) {
          if (search.length > 200) throw badInput("filter.search", "filter.search must be at most 200 characters.");
          where.OR = [{ email: { contains: search, mode: "insensitive" } }, { name: { contains: search, mode: "insensitive" } }];
        }
        if (filter?.teamId) where.teamId = decodeId(String(filter.teamId), "Team", "filter.teamId");
        if (filter?.overridesOnly) where.hasOverride = true;
        return { where, orderBy: [{ createdAt: "asc" }, { id: "asc" }] };
      },
    },
    { name: "MemberConnection" },
    { name: "MemberEdge" },
  ),
  defaultLimits: t.field({
    type: DrawLimitsRef,
    description: "Daily and monthly caps on what each member may use, unless overridden for the member.",
    select: { defaultDailyLimit: true, defaultMonthlyLimit: true },
    resolve: (organization) => ({ daily: organization.defaultDailyLimit, monthly: organization.defaultMonthlyLimit }),
  }),
}));

builder.mutationFields((t) => ({
  addMembers: t.prismaField({
    type: ["Member"],
    description: "Adds members (teams created as needed); each gets the policy floor of each kind from the pool, all or nothing.",
    args: { members: t.arg({ type: [MemberInput], required: true }) },
    authScopes: { admin: true },
    resolve: async (query, _root, args, context) => {
      const admin = requireAdmin(context);
      const ids = await addMembers(context.runtime, admin.organizationId, admin.memberId, args.members);
      return membersInOrder(context, query, ids);
    },
  }),
  setMemberSuspended: t.prismaField({
    type: "Member",
    description:
      "A suspended member is denied all usage and reads only its own member and balances until reinstated; its access tokens are revoked. Nobody suspends itself, and the last active admin cannot be suspended.",
    args: { memberId: t.arg.id({ required: true }), suspended: t.arg.boolean({ required: true }) },
    authScopes: { admin: true },
    resolve: async (query, _root, args, context) => {
      const admin = requireAdmin(context);
      const memberId = decodeId(String(args.memberId), "Member", "memberId");
      await setMemberSuspended(context.runtime, admin.organizationId, admin.memberId, memberId, args.suspended);
      return context.runtime.prisma.member.findUniqueOrThrow({ ...query, where: { id: memberId } });
    },
  }),
  revokeAccessTokens: t.boolean({
    description:
      "Every access token issued to the member until now stops working at once, everywhere, and its open subscriptions end (the operator, the organisation's admins, or the member itself).",
    args: { memberId: t.arg.id({ required: true }) },
    authScopes: { operator: true, member: true },
    resolve: async (_root, args, context) => {
      const memberId = decodeId(String(args.memberId), "Member", "memberId");
      const { principal } = context;
      if (principal.kind === "MEMBER" && principal.role !== "ADMIN" && principal.memberId !== memberId) throw notFound("Member");
      await revokeAccessTokens(context.runtime, organizationOf(principal), memberId);
      return true;
    },
  }),
  setAllocation: t.prismaField({
    type: "Member",
    description: "Sets the member's inference and training limits in one atomic save.",
    args: { input: t.arg({ type: SetAllocationInput, required: true }) },
    authScopes: { admin: true },
    resolve: async (query, _root, { input }, context) => {
      const admin = requireAdmin(context);
      const memberId = decodeId(String(input.memberId), "Member", "input.memberId");
      await setAllocation(context.runtime, {
        organizationId: admin.organizationId,
        actorId: admin.memberId,
        memberId,
        inference: input.inference,
        training: input.training,
      });
      return context.runtime.prisma.member.findUniqueOrThrow({ ...query, where: { id: memberId } });
    },
  }),
  allocateTokens: t.prismaField({
    type: ["Member"],
    description: "Adds the same amount to each listed member's limit, from the pool: everyone or no one.",
    args: { input: t.arg({ type: AllocateInput, required: true }) },
    authScopes: { admin: true },
    resolve: async (query, _root, { input }, context) => {
      const admin = requireAdmin(context);
      const memberIds = input.memberIds.map((id, index) => decodeId(String(id), "Member", `input.memberIds[${index}]`));
      const ids = await allocateTokens(context.runtime, {
        organizationId: admin.organizationId,
        actorId: admin.memberId,
        memberIds,
        kind: input.kind,
        amount: input.amount,
      });
      return membersInOrder(context, query, ids);
    },
  }),
  setDefaultLimits: t.prismaField({
    type: "Organization",
    description: "Sets the organisation's default daily and monthly draw limits (null: no limit).",
    args: { limits: t.arg({ type: DrawLimitsInput, required: true }) },
    authScopes: { admin: true },
    resolve: async (query, _root, { limits }, context) => {
      const admin = requireAdmin(context);
      await setDefaultLimits(context.runtime, admin.organizationId, limits);
      return context.runtime.prisma.organization.findUniqueOrThrow({ ...query, where: { id: admin.organizationId } });
    },
  }),
  setMemberLimits: t.prismaField({
    type: "Member",
    description: "Overrides the draw limits for one member; limits null returns the member to the defaults.",
    args: { memberId: t.arg.id({ required: true }), limits: t.arg({ type: DrawLimitsInput }) },
    authScopes: { admin: true },
    resolve: async (query, _root, args, context) => {
      const admin = requireAdmin(context);
      const memberId = decodeId(String(args.memberId), "Member", "memberId");
      await setMemberLimits(context.runtime, admin.organizationId, memberId, args.limits ?? null);
      return context.runtime.prisma.member.findUniqueOrThrow({ ...query, where: { id: memberId } });
    },
  }),
}));
