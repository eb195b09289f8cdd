// The organisation's models: prices, the enabled switch and the optional per-cycle spend cap; and the
// organisation-wide automatic fallback switch.
import type { Decimal } from "decimal.js";
import { badInput } from "../errors.ts";
import type { Runtime } from "../runtime.ts";

export interface ModelInput {
  key: string;
  displayName?: string | null;
  inputPricePerMillion: Decimal;
  outputPricePerMillion: Decimal;
  enabled?: boolean | null;
  /** undefined: keep the current cap (none for a new model); null: no cap. */
  cap?: Decimal | null;
}

function price(value: Decimal, field: string): string {
  if (value.isNegative()) throw badInput(field, `${field} cannot be negative.`);
  return value.toFixed();
}

/** Creates the model with this key, or changes the existing one; omitted optional fields keep their values. */
export async function upsertModel(runtime: Runtime, organizationId: string, input: ModelInput) {
  const key = input.key.trim();
  if (key.length < 1 || key.length > 100) throw badInput("input.key", "input.key must be 1 to 100 characters.");
  const displayName = input.displayName == null ? undefined : input.displayName.trim();
  if (displayName !== undefined && (displayName.length < 1 || displayName.length > 200)) {
    throw badInput("input.displayName", "input.displayName must be 1 to 200 characters.");
  }
  const inputPricePerMillion = price(input.inputPricePerMillion, "input.inputPricePerMillion");
  const outputPricePerMillion = price(input.outputPricePerMillion, "input.outputPricePerMillion");
  const cap = input.cap === undefined ? undefined : input.cap === null ? null : price(input.cap, "input.cap");
  const enabled = input.enabled ?? undefined;

  const model = await runtime.prisma.model.upsert({
    where: { organizationId_key: { organizationId, key } },
    create: {
      organizationId,
      key,
      displayName: displayName ?? key,
      inputPricePerMillion,
      outputPricePerMillion,
      enabled: enabled ?? true,
      cap: cap ?? null,
    },
    update: {
      inputPricePerMillion,
      outputPricePerMillion,
      ...(displayName !== undefined ? { displayName } : {}),
      ...(enabled !== undefined ? { enabled } : {}),
      ...(cap !== undefined ? { cap } : {}),
    },
  });
  // Caps and the list of models are part of the spend summary.
  runtime.pubsub.publish("spendChanged", organizationId, { at: runtime.clock.now().toISOString() });
  return model;
}

export async function setAutomaticFallback(runtime: Runtime, organizationId: string, enabled: boolean) {
  return runtime.prisma.organization.update({ where: { id: organizationId }, data: { automaticFallback: enabled } });
}
