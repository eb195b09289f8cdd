// Members: adding them (each gets the policy floor from the pool), suspending them, and their draw limits.
import type { Role, TokenKind } from "../db/generated/enums.ts";
import { AppError, badInput, notFound } from "../errors.ts";
import { moveAllocations } from "../ledger/allocations.ts";
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

export const MAX_MEMBERS_PER_CALL = 1000;
const KINDS: TokenKind[] = ["INFERENCE", "TRAINING"];
const NO_OVERRIDE = { hasOverride: false, overrideFloor: null, overrideCeiling: null, overrideUnlimitedCeiling: false };

const isUniqueViolation = (error: unknown) => (error as { code?: unknown } | null)?.code === "P2002";

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
      const created = await tx.member.createManyAndReturn({
        data: members.map((member) => ({
          organizationId,
          email: member.email,
          name: member.name,
          role: member.role,
          teamId: member.teamName ? teamIds.get(member.teamName)! : null,
        })),
        select: { id: true, email: true },
      });
      const idByEmail = new Map(created.map((member) => [member.email, member.id]));
      const ids = emails.map((email) => idByEmail.get(email)!);
      await tx.balance.createMany({ data: ids.flatMap((memberId) => KINDS.map((kind) => ({ memberId, organizationId, kind }))) });

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

export async function setMemberSuspended(runtime: Runtime, organizationId: string, memberId: string, suspended: boolean) {
  await memberOf(runtime, organizationId, memberId);
  await runtime.prisma.member.update({ where: { id: memberId }, data: { suspended } });
}

export interface DrawLimitsInput {
  daily?: number | null;
  monthly?: number | null;
}

/** undefined: leave as is; null: no limit. */
function limitValue(value: number | null | undefined, field: string): bigint | null | undefined {
  if (value === undefined || value === null) return value;
  if (!Number.isSafeInteger(value) || value < 0)
    throw badInput(field, `${field} must be a whole number of tokens, 0 or more (null: no limit).`);
  return BigInt(value);
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
