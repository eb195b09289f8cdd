// Token requests: a member asks, an admin (or the auto-approval setting) decides; each operation is one transaction.
import type { TokenKind, TokenRequestStatus } from "../db/generated/enums.ts";
import { AppError, conflict, forbidden, notFound, rateLimited } from "../errors.ts";
import { moveAllocations } from "../ledger/allocations.ts";
import { lockBalances, lockPool } from "../ledger/balances.ts";
import { tokenAmount } from "../ledger/rules.ts";
import { inTransaction, type Tx } from "../ledger/tx.ts";
import { remaining } from "../members/rules.ts";
import type { Runtime } from "../runtime.ts";
import {
  autoApproves,
  type DecisionActor,
  MAX_NOTE_LENGTH,
  MAX_REASON_LENGTH,
  pendingKey,
  planApprovals,
  RATE_WINDOW_SECONDS,
  rateLimit,
  validateAmount,
  validateText,
} from "./rules.ts";

export interface Requester {
  memberId: string;
  organizationId: string;
}

export interface Admin {
  memberId: string;
  organizationId: string;
}

export interface NewTokenRequest {
  amount: number;
  kind: TokenKind;
  reason?: string | null;
}

export async function requestTokens(runtime: Runtime, requester: Requester, input: NewTokenRequest): Promise<{ id: string }> {
  const amount = validateAmount(input.amount, "amount");
  const reason = validateText(input.reason, "reason", MAX_REASON_LENGTH);
  const { memberId, organizationId } = requester;
  const { kind } = input;
  const perHour = runtime.config.tokenRequestsPerHour;

  return inTransaction(runtime, async (tx, events) => {
    // One member's requests run one at a time, so the rate limit counts every one of them.
    await tx.$queryRawUnsafe(`SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended($1, 0))`, `token-request:${memberId}`);
    const now = runtime.clock.now();
    const member = await tx.member.findUnique({
      where: { id: memberId },
      select: {
        organizationId: true,
        suspended: true,
        balances: { where: { kind }, select: { limit: true, used: true } },
        organization: { select: { autoApproveMaxAmount: true, autoApprovePoolReserve: true } },
      },
    });
    if (!member || member.organizationId !== organizationId) throw notFound("Member");
    if (member.suspended) throw forbidden("Your membership is suspended; an admin must reinstate it before you can request tokens.");

    const recent = await tx.tokenRequest.findMany({
      where: { memberId, createdAt: { gt: new Date(now.getTime() - RATE_WINDOW_SECONDS * 1000) } },
      select: { createdAt: true },
      orderBy: { createdAt: "desc" },
      take: perHour,
    });
    const rate = rateLimit(
      recent.map((row) => row.createdAt),
      now,
      perHour,
    );
    if (!rate.allowed) {
      throw rateLimited(
        `You can request tokens at most ${perHour} times an hour; try again in ${formatWait(rate.retryAfterSeconds)}.`,
        rate.retryAfterSeconds,
      );
    }

    const balance = member.balances[0];
    const [created] = await tx.tokenRequest.createManyAndReturn({
      data: [
        {
          organizationId,
          memberId,
          kind,
          amount,
          reason,
          pendingKey: pendingKey(memberId, kind),
          balanceAtRequest: balance ? remaining(balance.limit, balance.used) : 0n,
          createdAt: now,
        },
      ],
      select: { id: true },
      skipDuplicates: true,
    });
    if (!created) {
      throw new AppError(
        "REQUEST_ALREADY_PENDING",
        `You already have a pending ${kind.toLowerCase()} token request; cancel it or wait for an admin's decision.`,
      );
    }

    const settings = { maxAmount: member.organization.autoApproveMaxAmount, poolReserve: member.organization.autoApprovePoolReserve };
    if (settings.maxAmount !== null && amount <= settings.maxAmount) {
      await lockBalances(tx, kind, [memberId]);
      const pool = await lockPool(tx, organizationId, kind);
      if (autoApproves(amount, pool, settings)) {
        const note = `Approved automatically: at most ${settings.maxAmount} tokens while the pool keeps ${settings.poolReserve}.`;
        await moveAllocations(
          tx,
          {
            organizationId,
            kind,
            type: "REQUEST_APPROVAL",
            changes: [{ memberId, delta: amount }],
            reference: created.id,
            actorId: null,
            note,
          },
          events,
        );
        await tx.tokenRequest.update({
          where: { id: created.id },
          data: { status: "APPROVED", pendingKey: null, decidedAt: now, decisionNote: note, autoApproved: true },
        });
        await tx.tokenRequestDecision.create({
          data: {
            organizationId,
            requestId: created.id,
            status: "APPROVED",
            automatic: true,
            actorPrincipal: "SYSTEM" satisfies DecisionActor,
            note,
            createdAt: now,
          },
        });
      }
    }
    events.add("tokenRequestChanged", organizationId, { requestId: created.id, memberId });
    return created;
  });
}

function formatWait(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  return `${Math.ceil(seconds / 60)} min`;
}

/** The requester withdraws its own request while it is pending. */
export async function cancelTokenRequest(runtime: Runtime, requester: Requester & { isAdmin: boolean }, requestId: string): Promise<void> {
  await inTransaction(runtime, async (tx, events) => {
    const now = runtime.clock.now();
    const rows = await tx.$queryRawUnsafe<{ memberId: string; status: TokenRequestStatus }[]>(
      `SELECT "memberId", "status" FROM "TokenRequest" WHERE "id" = $1::uuid AND "organizationId" = $2::uuid FOR UPDATE`,
      requestId,
      requester.organizationId,
    );
    const request = rows[0];
    if (!request) throw notFound("Token request");
    if (request.memberId !== requester.memberId) {
      if (!requester.isAdmin) throw notFound("Token request");
      throw forbidden("Only the member who asked may cancel a request; reject it instead.");
    }
    if (request.status !== "PENDING") {
      throw conflict(`This request is already ${request.status.toLowerCase()}; only a pending request can be cancelled.`);
    }
    await tx.tokenRequest.update({
      where: { id: requestId },
      data: { status: "CANCELLED", pendingKey: null, decidedAt: now, decidedById: requester.memberId },
    });
    await tx.tokenRequestDecision.create({
      data: {
        organizationId: requester.organizationId,
        requestId,
        status: "CANCELLED",
        actorId: requester.memberId,
        actorPrincipal: (requester.isAdmin ? "ADMIN" : "MEMBER") satisfies DecisionActor,
        note: "Cancelled by the requester.",
        createdAt: now,
      },
    });
    events.add("tokenRequestChanged", requester.organizationId, { requestId, memberId: requester.memberId });
  });
}

export type DecisionErrorCode = "ALREADY_DECIDED" | "INSUFFICIENT_POOL";

export interface DecisionOutcome {
  requestId: string;
  ok: boolean;
  errorCode: DecisionErrorCode | null;
}

export interface DecisionResult<R> {
  outcomes: DecisionOutcome[];
  /** Requested ids that match no request of the organisation. */
  notFound: string[];
  /** The outcomes' requests as `load` read them, after the decision and before the events go out. */
  requests: R[];
}

/** Reads the decided requests inside the decision's transaction, so the answer is ready before the events go out. */
export type RequestLoader<R> = (tx: Tx, requestIds: string[]) => Promise<R[]>;

export interface DecisionInput {
  /** Database ids, or null to decide every request pending now. */
  ids: string[] | null;
  note?: string | null;
}

interface LockedRequest {
  id: string;
  memberId: string;
  kind: TokenKind;
  amount: bigint;
  status: TokenRequestStatus;
  createdAt: Date;
}

/**
 * Approves or rejects requests in a fixed number of statements whatever their count. The requests are locked
 * (FOR UPDATE, id order) and their status re-read, so of two admins deciding the same request one wins and the
 * other sees ALREADY_DECIDED. Approvals go oldest first while the pool lasts; the rest stay pending.
 */
export async function decideTokenRequests<R>(
  runtime: Runtime,
  admin: Admin,
  decision: "APPROVED" | "REJECTED",
  input: DecisionInput,
  load: RequestLoader<R>,
): Promise<DecisionResult<R>> {
  const note = validateText(input.note, "note", MAX_NOTE_LENGTH);
  const { organizationId } = admin;
  return inTransaction(runtime, async (tx, events) => {
    // Published once the admin's answer is on its way: a thousand balance updates would otherwise hold it up.
    events.defer();
    const now = runtime.clock.now();
    const wanted =
      input.ids ??
      (await tx.tokenRequest.findMany({ where: { organizationId, status: "PENDING" }, select: { id: true } })).map((row) => row.id);
    const locked = await tx.$queryRawUnsafe<LockedRequest[]>(
      `SELECT "id", "memberId", "kind", "amount", "status", "createdAt" FROM "TokenRequest"
        WHERE "id" = ANY($1::uuid[]) AND "organizationId" = $2::uuid
        ORDER BY "id" FOR UPDATE`,
      [...new Set(wanted)],
      organizationId,
    );
    const byId = new Map(locked.map((row) => [row.id, row]));
    const pending = locked
      .filter((row) => row.status === "PENDING")
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1));

    const failed = new Map<string, DecisionErrorCode>();
    for (const row of locked) if (row.status !== "PENDING") failed.set(row.id, "ALREADY_DECIDED");

    let decided = pending;
    if (decision === "APPROVED") {
      decided = [];
      for (const kind of ["INFERENCE", "TRAINING"] as const) {
        const ofKind = pending.filter((row) => row.kind === kind);
        if (ofKind.length === 0) continue;
        await lockBalances(
          tx,
          kind,
          ofKind.map((row) => row.memberId),
        );
        const plan = planApprovals(ofKind, await lockPool(tx, organizationId, kind));
        for (const id of plan.insufficient) failed.set(id, "INSUFFICIENT_POOL");
        const approved = plan.approved.map((id) => byId.get(id)!);
        await moveAllocations(
          tx,
          {
            organizationId,
            kind,
            type: "REQUEST_APPROVAL",
            changes: approved.map((row) => ({ memberId: row.memberId, delta: row.amount, reference: row.id })),
            actorId: admin.memberId,
            note,
          },
          events,
        );
        decided.push(...approved);
      }
    }

    const decidedIds = decided.map((row) => row.id);
    if (decidedIds.length > 0) {
      // Raw statements: building a thousand-row createMany costs more than the database work itself.
      await tx.$executeRawUnsafe(
        `UPDATE "TokenRequest"
            SET "status" = $2::"TokenRequestStatus", "pendingKey" = NULL, "decidedAt" = $3, "decidedById" = $4::uuid,
                "decisionNote" = $5, "autoApproved" = false
          WHERE "id" = ANY($1::uuid[])`,
        decidedIds,
        decision,
        now,
        admin.memberId,
        note,
      );
      await tx.$executeRawUnsafe(
        `INSERT INTO "TokenRequestDecision" ("id", "organizationId", "requestId", "status", "automatic", "actorId", "actorPrincipal", "note", "createdAt")
         SELECT gen_random_uuid(), $2::uuid, request_id, $3::"TokenRequestStatus", false, $4::uuid, 'ADMIN', $5, $6
           FROM unnest($1::uuid[]) AS request_id`,
        decidedIds,
        organizationId,
        decision,
        admin.memberId,
        note,
        now,
      );
      events.add("tokenRequestsChanged", organizationId, {
        requests: decided.map((row) => ({ requestId: row.id, memberId: row.memberId })),
      });
    }

    // Named ids answer in the order given; `allPending` answers oldest first.
    const order = input.ids
      ? [...new Set(input.ids)].filter((id) => byId.has(id))
      : [...pending, ...locked.filter((row) => row.status !== "PENDING")].map((row) => row.id);
    const outcomes = order.map((requestId) => {
      const errorCode = failed.get(requestId) ?? null;
      return { requestId, ok: errorCode === null, errorCode };
    });
    return {
      outcomes,
      notFound: input.ids ? [...new Set(input.ids)].filter((id) => !byId.has(id)) : [],
      requests: outcomes.length > 0 ? await load(tx, order) : [],
    };
  });
}

export interface AutoApprovalInput {
  maxAmount: number | null;
  poolReserve: number;
}

export async function setAutoApproval(runtime: Runtime, admin: Admin, input: AutoApprovalInput): Promise<void> {
  const maxAmount = input.maxAmount === null ? null : validateAmount(input.maxAmount, "maxAmount");
  const poolReserve = tokenAmount(input.poolReserve, "poolReserve");
  await runtime.prisma.organization.update({
    where: { id: admin.organizationId },
    data: { autoApproveMaxAmount: maxAmount, autoApprovePoolReserve: poolReserve },
  });
}
