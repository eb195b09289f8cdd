// Reservation, UsageAuthorization and UsageReceipt, and the usage mutations (service keys, the member itself, admins).

import { encodeGlobalID } from "@pothos/plugin-relay";
import { decodeId } from "../auth/access.ts";
import { usageRule } from "../auth/read-rules.ts";
import { builder } from "../builder.ts";
import type { Context } from "../context.ts";
import { unauthenticated } from "../errors.ts";
import { BalanceRef } from "../members/schema.ts";
import { ModelRef } from "../models/schema.ts";
import { TokenKindEnum, UsageDenialReasonEnum } from "../schema/enums.ts";
import {
  type Authorization,
  authorizeUsage,
  commitUsage,
  recordUsage,
  releaseReservation,
  type UsageActor,
  type UsageReceipt,
} from "./service.ts";

/** Services and admins act for any member of their organisation; a member only for itself. */
function actorOf(context: Context): UsageActor {
  const { principal } = context;
  if (principal.kind === "SERVICE") return { organizationId: principal.organizationId, onlyMemberId: null };
  if (principal.kind === "MEMBER") {
    return { organizationId: principal.organizationId, onlyMemberId: principal.role === "ADMIN" ? null : principal.memberId };
  }
  throw unauthenticated();
}

const ReservationStatusEnum = builder.enumType("ReservationStatus", {
  values: {
    OPEN: { description: "Holding its tokens until committed, released or expired." },
    COMMITTED: { description: "Its usage was charged." },
    RELEASED: { description: "Given back unused." },
    EXPIRED: { description: "Nobody committed or released it before it expired; its tokens went back." },
  } as const,
});

const ReservationRef = builder.prismaNode("Reservation", {
  id: { field: "id" },
  select: { id: true, organizationId: true, memberId: true },
  authScopes: usageRule,
  fields: (t) => ({
    member: t.relation("member"),
    model: t.relation("model"),
    kind: t.field({ type: TokenKindEnum, select: { kind: true }, resolve: (reservation) => reservation.kind }),
    tokens: t.field({ type: "SafeInt", select: { tokens: true }, resolve: (reservation) => reservation.tokens }),
    status: t.field({ type: ReservationStatusEnum, select: { status: true }, resolve: (reservation) => reservation.status }),
    estimatedCost: t.field({
      type: "Money",
      description: "What the reservation holds against its model's cap while open.",
      select: { estimatedCost: true },
      resolve: (reservation) => reservation.estimatedCost,
    }),
    expiresAt: t.expose("expiresAt", { type: "DateTime" }),
  }),
});

const UsageAuthorizationRef = builder.objectRef<Authorization>("UsageAuthorization");
builder.objectType(UsageAuthorizationRef, {
  fields: (t) => ({
    allowed: t.boolean({ resolve: ({ decision }) => decision.allowed }),
    denialReason: t.field({
      type: UsageDenialReasonEnum,
      nullable: true,
      resolve: ({ decision }) => (decision.allowed ? null : decision.reason),
    }),
    routedModel: t.field({
      type: ModelRef,
      nullable: true,
      description: "The model to call: the requested one, or a cheaper fallback when its cap is reached.",
      resolve: ({ routedModel }) => routedModel,
    }),
    fellBack: t.boolean({ resolve: ({ decision }) => decision.fellBack }),
    reservation: t.field({ type: ReservationRef, nullable: true, resolve: ({ reservation }) => reservation }),
  }),
});

const UsageReceiptRef = builder.objectRef<UsageReceipt>("UsageReceipt");
builder.objectType(UsageReceiptRef, {
  authScopes: usageRule,
  fields: (t) => ({
    id: t.id({
      description: "Same id for a retried call with the same idempotency key.",
      resolve: (receipt) => encodeGlobalID("UsageRecord", receipt.id),
    }),
    member: t.prismaField({
      type: "Member",
      resolve: (query, receipt, _args, context) =>
        context.runtime.prisma.member.findUniqueOrThrow({ ...query, where: { id: receipt.memberId } }),
    }),
    model: t.prismaField({
      type: "Model",
      resolve: (query, receipt, _args, context) =>
        context.runtime.prisma.model.findUniqueOrThrow({ ...query, where: { id: receipt.modelId } }),
    }),
    tokens: t.field({ type: "SafeInt", resolve: (receipt) => receipt.tokens }),
    cost: t.field({ type: "Money", resolve: (receipt) => receipt.cost }),
    balance: t.field({
      type: BalanceRef,
      description: "The member's balance right after this charge.",
      resolve: (receipt) => receipt.balance,
    }),
  }),
});

const AuthorizeUsageInput = builder.inputType("AuthorizeUsageInput", {
  fields: (t) => ({
    memberId: t.id({ required: true }),
    modelKey: t.string({ required: true }),
    kind: t.field({ type: TokenKindEnum, required: true, defaultValue: "INFERENCE" }),
    estimatedTokens: t.field({
      type: "SafeInt",
      required: true,
      description: "Upper bound of tokens the call may use; this many are reserved.",
    }),
  }),
});

const CommitUsageInput = builder.inputType("CommitUsageInput", {
  fields: (t) => ({
    reservationId: t.id({ required: true }),
    inputTokens: t.field({ type: "SafeInt", required: true }),
    outputTokens: t.field({ type: "SafeInt", required: true }),
    app: t.string(),
    assistant: t.string(),
    idempotencyKey: t.string({ required: true }),
  }),
});

const RecordUsageInput = builder.inputType("RecordUsageInput", {
  fields: (t) => ({
    memberId: t.id({ required: true }),
    modelKey: t.string({ required: true }),
    kind: t.field({ type: TokenKindEnum, required: true, defaultValue: "INFERENCE" }),
    inputTokens: t.field({ type: "SafeInt", required: true }),
    outputTokens: t.field({ type: "SafeInt", required: true }),
    app: t.string(),
    assistant: t.string(),
    idempotencyKey: t.string({ required: true }),
  }),
});

const usageScopes = { member: true, service: true } as const;

builder.mutationFields((t) => ({
  authorizeUsage: t.field({
    type: UsageAuthorizationRef,
    description: "Checks whether the member may make the call and, if so, reserves the estimated tokens. Denials are answers, not errors.",
    args: { input: t.arg({ type: AuthorizeUsageInput, required: true }) },
    authScopes: usageScopes,
    resolve: (_root, { input }, context) =>
      authorizeUsage(context.runtime, actorOf(context), {
        memberId: decodeId(String(input.memberId), "Member", "input.memberId"),
        modelKey: input.modelKey,
        kind: input.kind,
        estimatedTokens: input.estimatedTokens,
      }),
  }),
  commitUsage: t.field({
    type: UsageReceiptRef,
    description: "Charges the call's tokens at the routed model's prices and closes the reservation (idempotent per key).",
    args: { input: t.arg({ type: CommitUsageInput, required: true }) },
    authScopes: usageScopes,
    resolve: (_root, { input }, context) =>
      commitUsage(context.runtime, actorOf(context), {
        ...input,
        reservationId: decodeId(String(input.reservationId), "Reservation", "input.reservationId"),
      }),
  }),
  releaseReservation: t.boolean({
    description: "Gives back the tokens an open reservation holds; false when it was already closed.",
    args: { id: t.arg.id({ required: true }) },
    authScopes: usageScopes,
    resolve: (_root, args, context) =>
      releaseReservation(context.runtime, actorOf(context), decodeId(String(args.id), "Reservation", "id")),
  }),
  recordUsage: t.field({
    type: UsageReceiptRef,
    description: "Charges usage already done, without authorization (idempotent per key).",
    args: { input: t.arg({ type: RecordUsageInput, required: true }) },
    authScopes: usageScopes,
    resolve: (_root, { input }, context) =>
      recordUsage(context.runtime, actorOf(context), {
        ...input,
        memberId: decodeId(String(input.memberId), "Member", "input.memberId"),
      }),
  }),
}));
