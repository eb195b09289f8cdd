// Organisations: created by the platform operator with their first admin; the plan is the operator's to set.
import type { Decimal } from "decimal.js";
import { badInput, notFound } from "../errors.ts";
import { inTransaction } from "../ledger/tx.ts";
import { DEFAULT_PRESET, PRESETS } from "../policy/presets.ts";
import type { Runtime } from "../runtime.ts";
import { cycleAt } from "./cycle.ts";

export interface NewOrganization {
  name: string;
  adminEmail: string;
  currency?: string | null;
  planBudget?: Decimal | null;
  overageLimit?: Decimal | null;
  cycleAnchorDay?: number | null;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const CURRENCY = /^[A-Z]{3}$/;

export function normalizeEmail(email: string, field: string): string {
  const normalized = email.trim().toLowerCase();
  if (!EMAIL.test(normalized) || normalized.length > 254) throw badInput(field, `${field} is not a valid email address.`);
  return normalized;
}

export function validateAnchorDay(day: number, field: string): number {
  if (!Number.isInteger(day) || day < 1 || day > 31) throw badInput(field, `${field} must be a day of the month from 1 to 31.`);
  return day;
}

export function validateBudget(amount: Decimal, field: string): Decimal {
  if (amount.isNegative()) throw badInput(field, `${field} cannot be negative.`);
  return amount;
}

export async function createOrganization(runtime: Runtime, input: NewOrganization) {
  const name = input.name.trim();
  if (!name || name.length > 200) throw badInput("input.name", "input.name must be 1 to 200 characters.");
  const adminEmail = normalizeEmail(input.adminEmail, "input.adminEmail");
  const currency = (input.currency ?? "EUR").trim().toUpperCase();
  if (!CURRENCY.test(currency)) throw badInput("input.currency", "input.currency must be a three-letter ISO 4217 code.");
  // By default the cycle starts on the day of the month the plan started: today.
  const cycleAnchorDay = validateAnchorDay(input.cycleAnchorDay ?? runtime.clock.now().getUTCDate(), "input.cycleAnchorDay");
  const planBudget = input.planBudget ? validateBudget(input.planBudget, "input.planBudget") : undefined;
  const overageLimit = input.overageLimit ? validateBudget(input.overageLimit, "input.overageLimit") : undefined;
  const { start } = cycleAt(cycleAnchorDay, runtime.clock.now());
  const { preset: _preset, ...policy } = PRESETS[DEFAULT_PRESET].policy;

  return inTransaction(runtime, async (tx) => {
    const organization = await tx.organization.create({
      data: {
        name,
        currency,
        cycleAnchorDay,
        currentCycleStart: start,
        ...(planBudget ? { planBudget: planBudget.toString() } : {}),
        ...(overageLimit ? { overageLimit: overageLimit.toString() } : {}),
        pools: { create: [{ kind: "INFERENCE" }, { kind: "TRAINING" }] },
        policy: { create: { preset: DEFAULT_PRESET, ...policy } },
      },
    });
    await tx.member.create({
      data: {
        organizationId: organization.id,
        email: adminEmail,
        role: "ADMIN",
        balances: {
          create: [
            { kind: "INFERENCE", organizationId: organization.id, cycleStart: start },
            { kind: "TRAINING", organizationId: organization.id, cycleStart: start },
          ],
        },
      },
    });
    return organization;
  });
}

export async function setPlan(
  runtime: Runtime,
  organizationId: string,
  plan: { planBudget: Decimal; overageLimit: Decimal; cycleAnchorDay?: number | null },
) {
  validateBudget(plan.planBudget, "planBudget");
  validateBudget(plan.overageLimit, "overageLimit");
  const anchor = plan.cycleAnchorDay == null ? undefined : validateAnchorDay(plan.cycleAnchorDay, "cycleAnchorDay");
  const existing = await runtime.prisma.organization.findUnique({ where: { id: organizationId }, select: { id: true } });
  if (!existing) throw notFound("Organization");
  const organization = await runtime.prisma.organization.update({
    where: { id: organizationId },
    data: {
      planBudget: plan.planBudget.toString(),
      overageLimit: plan.overageLimit.toString(),
      ...(anchor ? { cycleAnchorDay: anchor } : {}),
    },
  });
  runtime.pubsub.publish("spendChanged", organizationId, { at: runtime.clock.now().toISOString() });
  return organization;
}
