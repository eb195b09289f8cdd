// Members: adding them (each gets the policy floor from the pool), suspending them, and their draw limits.

import { isUniqueViolation } from "../db/errors.ts";
import type { Role, TokenKind } from "../db/generated/enums.ts";
import { uuidV7 } from "../db/ids.ts";
import { AppError, badInput, conflict, forbidden, notFound } from "../errors.ts";
import { moveAllocations } from "../ledger/allocations.ts";
import { tokenAmount } from "../ledger/rules.ts";
import { inTransaction, type Tx } from "../ledger/tx.ts";
import { normalizeEmail } from "../organizations/service.ts";
import { effectiveBounds } from "../policy/presets.ts";
import type { Runtime } from "../runtime.ts";

export interface MemberInput {
  email: string;
  name?: string | null;
  role?: Role | null;
  teamName?: string | null;
}

/** Also bounds the in-batch counter of batchIds (12 bits). */
export const MAX_MEMBERS_PER_CALL = 1000;
const KINDS: TokenKind[] = ["INFERENCE", "TRAINING"];
const NO_OVERRIDE = { hasOverride: false, overrideFloor: null, overrideCeiling: null, overrideUnlimitedCeiling: false };

/**
 * Time-ordered UUIDs (v7) for one batch, in input order: the 12 bits after the timestamp count up within the batch
 * (RFC 9562, method 1), so the members directory lists a batch as it was given.
 */
function batchIds(count: number): string[] {
  const now = new Date();
  return Array.from({ length: count }, (_, index) => uuidV7(now, index));
}

function optionalText(value: string | null | undefined, field: string, max: number): string | null {
  const text = value?.trim();
  if (!text) return null;
  if (text.length > max) throw badInput(field, `${field} must be at most ${max} characters.`);
  return text;
}

/** Validates the whole list before touching the database, so a bad entry changes nothing. */
function validateMembers(members: MemberInput[]) {
  if (members.length === 0) throw badInput("members", "members must name at least one member.");
  if (members.length > MAX_MEMBERS_PER_CALL) throw badInput("members", `At most ${MAX_MEMBERS_PER_CALL} members per call.`);
  const seen = new Map<string, number>();
  return members.map((member, index) => {
    const field = `members[${index}]`;
    const email = normalizeEmail(member.email, `${field}.email`);
    const first = seen.get(email);
    if (first !== undefined) throw badInput(`${field}.email`, `${email} appears twice (also members[${first}].email).`);
    seen.set(email, index);
    return {
      email,
      name: optionalText(member.name, `${field}.name`, 200),
      role: member.role ?? "MEMBER",
      teamName: optionalText(member.teamName, `${field}.teamName`, 100),
    };
  });
}

/** Adds members with their teams and gives each the policy floor of each kind from the pool: all or nothing. */
export async function addMembers(runtime: Runtime, organizationId: string, actorId: string, input: MemberInput[]): Promise<string[]> {
  const members = validateMembers(input);
  try {
    return await inTransaction(runtime, async (tx, events) => {
      const emails = members.map((member) => member.email);
      const existing = await tx.member.findMany({ where: { organizationId, email: { in: emails } }, select: { email: true } });
      if (existing.length > 0) {
        const index = emails.indexOf(existing[0]!.email);
        throw new AppError("CONFLICT", `A member with email ${existing[0]!.email} already exists.`, { field: `members[${index}].email` });
      }
      const teamIds = await ensureTeams(
        tx,
        organizationId,
        members.map((member) => member.teamName),
      );
      const ids = batchIds(members.length);
      // One statement for the members and their two balance rows each (Prisma's createMany is slow for large batches).
      await tx.$executeRawUnsafe(
        `WITH added AS (
           INSERT INTO "Member" ("id", "organizationId", "email", "name", "role", "teamId")
           SELECT m.id, $1::uuid, m.email, m.name, m.role::"Role", m.team_id
             FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[]) AS m(id, email, name, role, team_id)
           RETURNING "id")
         INSERT INTO "Balance" ("memberId", "kind", "organizationId", "cycleStart")
         SELECT added."id", k.kind, $1::uuid, o."currentCycleStart"
           FROM added CROSS JOIN unnest(ARRAY['INFERENCE', 'TRAINING']::"TokenKind"[]) AS k(kind)
           JOIN "Organization" o ON o."id" = $1::uuid`,
        organizationId,
        ids,
        members.map((member) => member.email),
        members.map((member) => member.name),
        members.map((member) => member.role),
        members.map((member) => (member.teamName ? teamIds.get(member.teamName)! : null)),
      );

      const policy = await tx.distributionPolicy.findUnique({ where: { organizationId } });
      for (const kind of KINDS) {
        const floor = policy ? effectiveBounds(policy, NO_OVERRIDE, kind).floor : 0n;
        await moveAllocations(
          tx,
          {
            organizationId,
            kind,
            type: "ALLOCATION",
            changes: ids.map((memberId) => ({ memberId, delta: floor })),
            actorId,
            note: "Policy floor for a new member",
          },
          events,
        );
      }
      return ids;
    });
  } catch (error) {
    // Two admins adding the same email at once: the unique index decides, the loser gets CONFLICT.
    if (isUniqueViolation(error)) throw new AppError("CONFLICT", "One of these members was added at the same time by someone else.");
    throw error;
  }
}

async function ensureTeams(tx: Tx, organizationId: string, names: (string | null)[]): Promise<Map<string, string>> {
  const wanted = [...new Set(names.filter((name): name is string => name !== null))];
  if (wanted.length === 0) return new Map();
  await tx.team.createMany({ data: wanted.map((name) => ({ organizationId, name })), skipDuplicates: true });
  const teams = await tx.team.findMany({ where: { organizationId, name: { in: wanted } }, select: { id: true, name: true } });
  return new Map(teams.map((team) => [team.name, team.id]));
}

/** The member if it belongs to the organisation; NOT_FOUND otherwise (existence elsewhere does not leak). */
export async function memberOf(runtime: Runtime | { prisma: Tx }, organizationId: string, memberId: string) {
  const member = await runtime.prisma.member.findUnique({ where: { id: memberId } });
  if (!member || member.organizationId !== organizationId) throw notFound("Member");
  return member;
}

/**
 * Suspends or reinstates a member. Nobody suspends or reinstates itself, and the last active admin stays: suspensions
 * in one organisation take turns (the organisation row is locked), so two admins cannot suspend each other at once.
 * Suspending revokes the member's access tokens, and its open subscriptions end on every server process.
 */
export async function setMemberSuspended(
  runtime: Runtime,
  organizationId: string,
  actorId: string,
  memberId: string,
  suspended: boolean,
): Promise<void> {
  await inTransaction(runtime, async (tx, events) => {
    await tx.$executeRaw`SELECT 1 FROM "Organization" WHERE "id" = ${organizationId}::uuid FOR UPDATE`;
    const member = await memberOf({ prisma: tx }, organizationId, memberId);
    if (memberId === actorId) throw forbidden("Nobody can suspend or reinstate itself; ask another admin.");
    if (suspended && member.role === "ADMIN" && !member.suspended) {
      const otherActiveAdmins = await tx.member.count({
        where: { organizationId, role: "ADMIN", suspended: false, id: { not: memberId } },
      });
      if (otherActiveAdmins === 0) throw conflict("The last active admin of the organisation cannot be suspended.");
    }
    await tx.member.update({
      where: { id: memberId },
      data: suspended ? { suspended, tokensValidAfter: new Date() } : { suspended },
    });
    events.add("memberAccessChanged", { memberId });
  });
  runtime.authenticator.forgetMember(memberId);
}

/**
 * Every access token issued to the member until now stops working, on every server process at once (the instant is
 * kept on the member; processes hold it in their authentication cache, which the event evicts).
 */
export async function revokeAccessTokens(runtime: Runtime, organizationId: string | null, memberId: string): Promise<void> {
  const member = await runtime.prisma.member.findUnique({ where: { id: memberId }, select: { organizationId: true } });
  if (!member || (organizationId !== null && member.organizationId !== organizationId)) throw notFound("Member");
  // Token lifetimes follow the system clock (auth/jwt.ts), so the revocation instant does too.
  await runtime.prisma.member.update({ where: { id: memberId }, data: { tokensValidAfter: new Date() } });
  runtime.authenticator.forgetMember(memberId);
  runtime.pubsub.publish("memberAccessChanged", { memberId });
}

export interface DrawLimitsInput {
  daily?: number | null;
  monthly?: number | null;
}

/** undefined: leave as is; null: no limit. */
function limitValue(value: number | null | undefined, field: string): bigint | null | undefined {
  if (value === undefined || value === null) return value;
  return tokenAmount(value, field, { hint: "null: no limit" });
}

export async function setDefaultLimits(runtime: Runtime, organizationId: string, limits: DrawLimitsInput) {
  const daily = limitValue(limits.daily, "limits.daily");
  const monthly = limitValue(limits.monthly, "limits.monthly");
  await runtime.prisma.organization.update({
    where: { id: organizationId },
    data: {
      ...(daily !== undefined ? { defaultDailyLimit: daily } : {}),
      ...(monthly !== undefined ? { defaultMonthlyLimit: monthly } : {}),
    },
  });
}

/** `limits` null: back to the organisation's defaults. Omitted fields keep the value in force for the member. */
export async function setMemberLimits(runtime: Runtime, organizationId: string, memberId: string, limits: DrawLimitsInput | null) {
  const daily = limits ? limitValue(limits.daily, "limits.daily") : undefined;
  const monthly = limits ? limitValue(limits.monthly, "limits.monthly") : undefined;
  await inTransaction(runtime, async (tx) => {
    const member = await memberOf({ prisma: tx }, organizationId, memberId);
    if (!limits) {
      await tx.member.update({ where: { id: memberId }, data: { hasLimitsOverride: false, dailyLimit: null, monthlyLimit: null } });
      return;
    }
    const organization = await tx.organization.findUniqueOrThrow({
      where: { id: organizationId },
      select: { defaultDailyLimit: true, defaultMonthlyLimit: true },
    });
    const inForce = member.hasLimitsOverride
      ? { daily: member.dailyLimit, monthly: member.monthlyLimit }
      : { daily: organization.defaultDailyLimit, monthly: organization.defaultMonthlyLimit };
    await tx.member.update({
      where: { id: memberId },
      data: {
        hasLimitsOverride: true,
        dailyLimit: daily === undefined ? inForce.daily : daily,
        monthlyLimit: monthly === undefined ? inForce.monthly : monthly,
      },
    });
  });
}
