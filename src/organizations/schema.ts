// Organization, Viewer, and the operator's mutations.
import { assertMemberVisible, decodeId, organizationScope, requireAdmin } from "../auth/access.ts";
import { organizationOf, principalName } from "../auth/principal.ts";
import { anyCaller, staffOnly } from "../auth/read-rules.ts";
import { builder } from "../builder.ts";
import { badInput, notFound } from "../errors.ts";
import { cycleAt } from "./cycle.ts";
import { acceptOverage, createOrganization, setPlan } from "./service.ts";

export const OrganizationRef = builder.prismaNode("Organization", {
  id: { field: "id", skipTypeScopes: true, authScopes: anyCaller },
  authScopes: staffOnly,
  fields: (t) => ({
    name: t.exposeString("name", { skipTypeScopes: true, authScopes: anyCaller }),
    currency: t.exposeString("currency"),
    planBudget: t.field({
      type: "Money",
      description: "Plan budget per billing cycle; set by the platform operator, read-only to admins.",
      resolve: (organization) => organization.planBudget,
    }),
    overageLimit: t.field({
      type: "Money",
      description: "Extra allowance on top of the plan budget; set by the platform operator.",
      resolve: (organization) => organization.overageLimit,
    }),
    cycleAnchorDay: t.exposeInt("cycleAnchorDay", {
      description:
        "Day of month (1-31) on which the billing cycle starts; in shorter months, their last day. By default the day the organisation was created.",
      skipTypeScopes: true,
      authScopes: anyCaller,
    }),
    cycleStart: t.field({
      type: "DateTime",
      skipTypeScopes: true,
      authScopes: anyCaller,
      resolve: (organization, _args, context) => cycleAt(organization.cycleAnchorDay, context.runtime.clock.now()).start,
    }),
    cycleEnd: t.field({
      type: "DateTime",
      skipTypeScopes: true,
      authScopes: anyCaller,
      resolve: (organization, _args, context) => cycleAt(organization.cycleAnchorDay, context.runtime.clock.now()).end,
    }),
    automaticFallback: t.exposeBoolean("automaticFallback"),
    pendingOverageLimit: t.field({
      type: "Money",
      nullable: true,
      description: "A higher overage the operator set, in force once an admin accepts it (acceptOverage); null: none waiting.",
      authScopes: { admin: true, operator: true },
      resolve: (organization) => organization.pendingOverageLimit,
    }),
    minimumFloor: t.field({
      type: "SafeInt",
      description: "The least any policy or override floor may be; set by the platform operator (default 200,000).",
      authScopes: { admin: true, operator: true },
      resolve: (organization) => organization.minimumFloor,
    }),
  }),
});

const ViewerRef = builder.objectRef<{ organizationId: string | null; memberId: string | null; principal: string }>("Viewer");

builder.objectType(ViewerRef, {
  fields: (t) => ({
    principal: t.exposeString("principal", { description: "OPERATOR, ADMIN, MEMBER or SERVICE" }),
    member: t.prismaField({
      type: "Member",
      nullable: true,
      resolve: (query, viewer, _args, context) =>
        viewer.memberId ? context.runtime.prisma.member.findUnique({ ...query, where: { id: viewer.memberId } }) : null,
    }),
    organization: t.prismaField({
      type: "Organization",
      nullable: true,
      resolve: (query, viewer, _args, context) =>
        viewer.organizationId ? context.runtime.prisma.organization.findUnique({ ...query, where: { id: viewer.organizationId } }) : null,
    }),
  }),
});

builder.queryFields((t) => ({
  viewer: t.field({
    type: ViewerRef,
    skipTypeScopes: true,
    authScopes: { signedIn: true },
    resolve: (_root, _args, { principal }) => ({
      principal: principalName(principal),
      organizationId: organizationOf(principal),
      memberId: principal.kind === "MEMBER" ? principal.memberId : null,
    }),
  }),
  organization: t.prismaField({
    type: "Organization",
    description: "The caller's organisation (operators pass id).",
    args: { id: t.arg.id() },
    authScopes: { authenticated: true },
    resolve: async (query, _root, args, context) => {
      const requested = args.id ? decodeId(String(args.id), "Organization", "id") : null;
      const id = organizationScope(context, requested);
      const organization = await context.runtime.prisma.organization.findUnique({ ...query, where: { id } });
      if (!organization) throw notFound("Organization");
      return organization;
    },
  }),
}));

const CreateOrganizationInput = builder.inputType("CreateOrganizationInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    adminEmail: t.string({ required: true }),
    currency: t.string(),
    planBudget: t.field({ type: "Money" }),
    overageLimit: t.field({ type: "Money" }),
    cycleAnchorDay: t.int(),
  }),
});

builder.mutationFields((t) => ({
  createOrganization: t.prismaField({
    type: "Organization",
    args: { input: t.arg({ type: CreateOrganizationInput, required: true }) },
    authScopes: { operator: true },
    resolve: async (query, _root, { input }, context) => {
      const organization = await createOrganization(context.runtime, input);
      return context.runtime.prisma.organization.findUniqueOrThrow({ ...query, where: { id: organization.id } });
    },
  }),
  setPlan: t.prismaField({
    type: "Organization",
    args: {
      organizationId: t.arg.id({ required: true }),
      planBudget: t.arg({ type: "Money", required: true }),
      overageLimit: t.arg({ type: "Money", required: true }),
      cycleAnchorDay: t.arg.int(),
      minimumFloor: t.arg({ type: "SafeInt", description: "The least any floor may be; raising it raises floors below it." }),
    },
    description:
      "Sets the plan (operator). An overageLimit above the one in force waits as pendingOverageLimit until an admin accepts it; a lower one applies at once.",
    authScopes: { operator: true },
    resolve: async (query, _root, args, context) => {
      const id = decodeId(String(args.organizationId), "Organization", "organizationId");
      await setPlan(context.runtime, id, args);
      return context.runtime.prisma.organization.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  acceptOverage: t.prismaField({
    type: "Organization",
    description:
      "An admin confirms the overage the operator set: pendingOverageLimit comes into force. Pass the value you reviewed as overageLimit to refuse (CONFLICT) if it changed since.",
    args: { overageLimit: t.arg({ type: "Money" }) },
    authScopes: { admin: true },
    resolve: async (query, _root, args, context) => {
      const { organizationId } = requireAdmin(context);
      await acceptOverage(context.runtime, organizationId, args.overageLimit ?? null);
      return context.runtime.prisma.organization.findUniqueOrThrow({ ...query, where: { id: organizationId } });
    },
  }),
  issueAccessToken: t.string({
    description: "A signed access token (JWT) for a member; operators only. ttlSeconds: 60 up to the server's cap (default 3600).",
    args: { memberId: t.arg.id({ required: true }), ttlSeconds: t.arg.int() },
    authScopes: { operator: true },
    resolve: async (_root, args, context) => {
      const memberId = decodeId(String(args.memberId), "Member", "memberId");
      const maxTtl = context.runtime.config.accessTokenMaxTtlSeconds;
      const ttl = args.ttlSeconds ?? Math.min(3600, maxTtl);
      if (!Number.isInteger(ttl) || ttl < 60 || ttl > maxTtl) {
        throw badInput("ttlSeconds", `ttlSeconds must be from 60 to ${maxTtl}.`);
      }
      const member = await context.runtime.prisma.member.findUnique({
        where: { id: memberId },
        select: { id: true, organizationId: true },
      });
      if (!member) throw notFound("Member");
      assertMemberVisible(context, member);
      return context.runtime.jwt.issue(member.id, ttl);
    },
  }),
}));
