// Member, Team, Balance, AllocationOverride and DrawLimits types, and the member(id) query.

import { assertMemberVisible, decodeId } from "../auth/access.ts";
import { anyCaller, balanceRule, memberNameRule, memberPrivateRule, memberRule } from "../auth/read-rules.ts";
import { builder } from "../builder.ts";
import type { Context } from "../context.ts";
import type { Balance } from "../db/generated/client.ts";
import type { TokenKind } from "../db/generated/enums.ts";
import { badInput, notFound } from "../errors.ts";
import type { MemberOverride } from "../policy/presets.ts";
import { RoleEnum, TokenKindEnum } from "../schema/enums.ts";
import { type BalanceView, balanceView } from "./balance.ts";
import { remaining } from "./rules.ts";

export const TeamRef = builder.prismaNode("Team", {
  id: { field: "id" },
  authScopes: anyCaller,
  fields: (t) => ({
    name: t.exposeString("name"),
  }),
});

export const BalanceRef = builder.objectRef<BalanceView>("Balance");
builder.objectType(BalanceRef, {
  description: "A member's allocation of one kind for the current period.",
  authScopes: balanceRule,
  fields: (t) => ({
    kind: t.field({ type: TokenKindEnum, resolve: (balance) => balance.kind }),
    limit: t.field({
      type: "SafeInt",
      description: "The member's allocation for this period (the 'Max Tokens' an admin sees).",
      resolve: (balance) => balance.limit,
    }),
    used: t.field({ type: "SafeInt", resolve: (balance) => balance.used }),
    remaining: t.field({
      type: "SafeInt",
      resolve: (balance) => remaining(balance.limit, balance.used),
    }),
    reserved: t.field({ type: "SafeInt", description: "Tokens held by open reservations.", resolve: (balance) => balance.reserved }),
    floor: t.field({ type: "SafeInt", resolve: (balance) => balance.floor }),
    ceiling: t.field({ type: "SafeInt", nullable: true, description: "null means unlimited.", resolve: (balance) => balance.ceiling }),
    lastAutoIncreaseAt: t.field({ type: "DateTime", nullable: true, resolve: (balance) => balance.lastAutoIncreaseAt }),
    version: t.field({
      type: "SafeInt",
      description:
        "Goes up with every change of this balance (also of its floor or ceiling), on every server process: show a value only when its version is higher than the one shown.",
      resolve: (balance) => balance.version,
    }),
  }),
});

interface OverrideView {
  floor: bigint | null;
  ceiling: bigint | null;
  unlimitedCeiling: boolean;
  excluded: boolean;
}
export const AllocationOverrideRef = builder.objectRef<OverrideView>("AllocationOverride");
builder.objectType(AllocationOverrideRef, {
  fields: (t) => ({
    floor: t.field({ type: "SafeInt", nullable: true, resolve: (o) => o.floor }),
    ceiling: t.field({
      type: "SafeInt",
      nullable: true,
      description: "null with unlimitedCeiling false means: use the policy ceiling.",
      resolve: (o) => o.ceiling,
    }),
    unlimitedCeiling: t.exposeBoolean("unlimitedCeiling"),
    excluded: t.exposeBoolean("excluded", { description: "Excluded from auto-increase and reclamation." }),
  }),
});

export interface DrawLimitsView {
  daily: bigint | null;
  monthly: bigint | null;
}
export const DrawLimitsRef = builder.objectRef<DrawLimitsView>("DrawLimits");
builder.objectType(DrawLimitsRef, {
  fields: (t) => ({
    daily: t.field({ type: "SafeInt", nullable: true, description: "null means no limit.", resolve: (l) => l.daily }),
    monthly: t.field({ type: "SafeInt", nullable: true, resolve: (l) => l.monthly }),
  }),
});

const balanceSelect = {
  balances: true,
  organizationId: true,
  hasOverride: true,
  overrideFloor: true,
  overrideCeiling: true,
  overrideUnlimitedCeiling: true,
} as const;

type MemberWithBalances = MemberOverride & { id: string; organizationId: string; balances: Balance[] };

function resolveBalance(kind: TokenKind) {
  return (member: MemberWithBalances, _args: unknown, context: Context) => {
    const row = member.balances.find((balance) => balance.kind === kind);
    const balance = row ?? {
      memberId: member.id,
      organizationId: member.organizationId,
      kind,
      limit: 0n,
      used: 0n,
      reserved: 0n,
      lastAutoIncreaseAt: null,
      version: 0n,
    };
    return balanceView(context, balance, member);
  };
}

export const MemberRef = builder.prismaNode("Member", {
  id: { field: "id" },
  select: { id: true, organizationId: true, role: true },
  authScopes: memberRule,
  fields: (t) => ({
    email: t.exposeString("email"),
    name: t.exposeString("name", { nullable: true, skipTypeScopes: true, authScopes: memberNameRule }),
    role: t.field({ type: RoleEnum, select: { role: true }, resolve: (member) => member.role }),
    team: t.relation("team", { nullable: true }),
    suspended: t.exposeBoolean("suspended"),
    inference: t.field({ type: BalanceRef, select: balanceSelect, resolve: resolveBalance("INFERENCE") }),
    training: t.field({ type: BalanceRef, select: balanceSelect, resolve: resolveBalance("TRAINING") }),
    override: t.field({
      type: AllocationOverrideRef,
      nullable: true,
      authScopes: memberPrivateRule,
      select: { hasOverride: true, overrideFloor: true, overrideCeiling: true, overrideUnlimitedCeiling: true, overrideExcluded: true },
      resolve: (member) =>
        member.hasOverride
          ? {
              floor: member.overrideFloor,
              ceiling: member.overrideCeiling,
              unlimitedCeiling: member.overrideUnlimitedCeiling,
              excluded: member.overrideExcluded,
            }
          : null,
    }),
    limits: t.field({
      type: DrawLimitsRef,
      description: "Draw limits in force for this member (override if set, else the organisation default).",
      select: {
        hasLimitsOverride: true,
        dailyLimit: true,
        monthlyLimit: true,
        organization: { select: { defaultDailyLimit: true, defaultMonthlyLimit: true } },
      },
      resolve: (member) =>
        member.hasLimitsOverride
          ? { daily: member.dailyLimit, monthly: member.monthlyLimit }
          : { daily: member.organization.defaultDailyLimit, monthly: member.organization.defaultMonthlyLimit },
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.queryFields((t) => ({
  member: t.prismaField({
    type: "Member",
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    skipTypeScopes: true,
    authScopes: { signedIn: true },
    resolve: async (query, _root, args, context) => {
      const id = decodeId(String(args.id), "Member", "id");
      const member = await context.runtime.prisma.member.findUnique({ ...query, where: { id } });
      // Nothing there answers as another organisation's member does (no existence oracle).
      if (!member) throw notFound("Member");
      assertMemberVisible(context, member);
      return member;
    },
  }),
}));

builder.subscriptionFields((t) => ({
  balanceChanged: t.field({
    type: BalanceRef,
    description:
      "The caller's own balance (the live token indicator); admins and services may pass memberId. Emits the current balance on subscribe (each kind, or the one asked for), then every change; never an older version after a newer one, and the current balance again after a gap in delivery.",
    args: { memberId: t.arg.id(), kind: t.arg({ type: TokenKindEnum }) },
    authScopes: { member: true, service: true },
    // A Balance's fields depend only on the event and the caller: the member's subscribers share one execution per
    // event (server/subscription-events.ts).
    extensions: { sharedExecution: true },
    subscribe: async (_root, args, context) => {
      const { principal } = context;
      let memberId: string;
      if (args.memberId) {
        memberId = decodeId(String(args.memberId), "Member", "memberId");
      } else if (principal.kind === "MEMBER") {
        memberId = principal.memberId;
      } else {
        throw badInput("memberId", "Services must name the member (memberId).");
      }
      const member = await context.runtime.prisma.member.findUnique({
        where: { id: memberId },
        select: { id: true, organizationId: true },
      });
      if (!member) throw notFound("Member");
      assertMemberVisible(context, member);
      return context.runtime.liveBalances.watch(memberId, args.kind ?? null);
    },
    resolve: (balance) => balance,
  }),
}));
