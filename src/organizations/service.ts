// Organisations: created by the platform operator with their first admin; the plan is the operator's to set.
import { type Decimal, Decimal as DecimalValue } from "decimal.js";
import { badInput, conflict, notFound } from "../errors.ts";
import { inTransaction } from "../ledger/tx.ts";
import { raiseFloorsToMinimum } from "../policy/floors.ts";
import { DEFAULT_PRESET, PRESETS } from "../policy/presets.ts";
import type { Runtime } from "../runtime.ts";
import { cycleAt } from "./cycle.ts";
import { acceptPendingOverage, offerOverage } from "./rules.ts";

export interface NewOrganization {
  name: string;
  adminEmail: string;
  currency?: string | null;
  planBudget?: Decimal | null;
  overageLimit?: Decimal | null;
  cycleAnchorDay?: number | null;
}

/**
 * The WHATWG HTML standard's "valid e-mail address" (what browsers accept in <input type=email>): the atext of
 * RFC 5322 before the @, then DNS labels; we also ask for a dot in the domain, so an address can reach the internet.
 */
const EMAIL = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
const CURRENCY = /^[A-Z]{3}$/;

export function normalizeEmail(email: string, field: string): string {
  const normalized = email.trim().toLowerCase();
  const local = normalized.slice(0, normalized.lastIndexOf("@"));
  if (!EMAIL.test(normalized) || normalized.length > 254 || local.length > 64) {
    throw badInput(field, `${field} is not a valid email address.`);
  }
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

/** The least any floor may be by default: "all users are required to have a minimum of 200K". */
export const DEFAULT_MINIMUM_FLOOR = 200_000n;

export interface PlanInput {
  planBudget: Decimal;
  overageLimit: Decimal;
  cycleAnchorDay?: number | null;
  minimumFloor?: number | null;
}

function validateMinimumFloor(value: number): bigint {
  if (!Number.isSafeInteger(value) || value < 0)
    throw badInput("minimumFloor", "minimumFloor must be a whole number of tokens, 0 or more.");
  return BigInt(value);
}

/**
 * The operator sets the plan. A higher overageLimit waits as pendingOverageLimit until an admin accepts it; a
 * lower one applies at once. A higher minimumFloor raises the policy's and the overrides' floors below it, and
 * every member is brought up to its new floor at once (fairly when the pool is short).
 */
export async function setPlan(runtime: Runtime, organizationId: string, plan: PlanInput) {
  validateBudget(plan.planBudget, "planBudget");
  validateBudget(plan.overageLimit, "overageLimit");
  const anchor = plan.cycleAnchorDay == null ? undefined : validateAnchorDay(plan.cycleAnchorDay, "cycleAnchorDay");
  const minimumFloor = plan.minimumFloor == null ? undefined : validateMinimumFloor(plan.minimumFloor);
  const organization = await inTransaction(runtime, async (tx, events) => {
    const rows = await tx.$queryRawUnsafe<{ overageLimit: string; pendingOverageLimit: string | null }[]>(
      `SELECT "overageLimit"::text, "pendingOverageLimit"::text FROM "Organization" WHERE "id" = $1::uuid FOR NO KEY UPDATE`,
      organizationId,
    );
    const current = rows[0];
    if (!current) throw notFound("Organization");
    const overage = offerOverage(
      {
        overageLimit: new DecimalValue(current.overageLimit),
        pendingOverageLimit: current.pendingOverageLimit === null ? null : new DecimalValue(current.pendingOverageLimit),
      },
      plan.overageLimit,
    );
    const updated = await tx.organization.update({
      where: { id: organizationId },
      data: {
        planBudget: plan.planBudget.toString(),
        overageLimit: overage.overageLimit.toString(),
        pendingOverageLimit: overage.pendingOverageLimit?.toString() ?? null,
        ...(anchor ? { cycleAnchorDay: anchor } : {}),
        ...(minimumFloor !== undefined ? { minimumFloor } : {}),
      },
    });
    if (minimumFloor !== undefined) await raiseFloorsToMinimum(tx, organizationId, minimumFloor, events);
    return updated;
  });
  runtime.policies.changed(organizationId);
  runtime.pubsub.publish("spendChanged", organizationId, { at: runtime.clock.now().toISOString() });
  return organization;
}

/**
 * An admin accepts the overage the operator offered. `expected`, when given, must be the pending value (so an
 * admin never accepts a value it has not seen); CONFLICT when nothing is pending or it changed.
 */
export async function acceptOverage(runtime: Runtime, organizationId: string, expected: Decimal | null) {
  const organization = await inTransaction(runtime, async (tx) => {
    const rows = await tx.$queryRawUnsafe<{ overageLimit: string; pendingOverageLimit: string | null }[]>(
      `SELECT "overageLimit"::text, "pendingOverageLimit"::text FROM "Organization" WHERE "id" = $1::uuid FOR NO KEY UPDATE`,
      organizationId,
    );
    const current = rows[0];
    if (!current) throw notFound("Organization");
    const pending = current.pendingOverageLimit === null ? null : new DecimalValue(current.pendingOverageLimit);
    const accepted = acceptPendingOverage({ overageLimit: new DecimalValue(current.overageLimit), pendingOverageLimit: pending });
    if (!accepted) throw conflict("No overage is waiting for acceptance (it was accepted or withdrawn).");
    if (expected && !expected.eq(pending!)) {
      throw conflict(`The pending overage is now ${pending!.toFixed(2)}, not ${expected.toFixed(2)}; review it and accept again.`);
    }
    return tx.organization.update({
      where: { id: organizationId },
      data: { overageLimit: accepted.overageLimit.toString(), pendingOverageLimit: null },
    });
  });
  runtime.pubsub.publish("spendChanged", organizationId, { at: runtime.clock.now().toISOString() });
  return organization;
}
