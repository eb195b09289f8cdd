// Model (prices, enabled, cap, this cycle's spend), the models query, upsertModel and setAutomaticFallback.

import { createContextCache } from "@pothos/core";
import DataLoader from "dataloader";
import { Decimal } from "decimal.js";
import { requireAdmin } from "../auth/access.ts";
import { organizationOf } from "../auth/principal.ts";
import { modelRule, staffOnly } from "../auth/read-rules.ts";
import { builder } from "../builder.ts";
import type { Context } from "../context.ts";
import { unauthenticated } from "../errors.ts";
import { cycleAt } from "../organizations/cycle.ts";
import { OrganizationRef } from "../organizations/schema.ts";
import { setAutomaticFallback, upsertModel } from "./service.ts";

/** Spend of each model in one cycle, batched per operation; key: "<modelId> <cycle start ISO>". */
const cycleSpendLoader = createContextCache(
  (context: Context) =>
    new DataLoader<string, Decimal>(async (keys) => {
      const pairs = keys.map((key) => key.split(" ") as [string, string]);
      const rows = await context.runtime.prisma.modelCycleSpend.findMany({
        where: { OR: pairs.map(([modelId, cycleStart]) => ({ modelId, cycleStart: new Date(cycleStart) })) },
        select: { modelId: true, cycleStart: true, spend: true },
      });
      const byKey = new Map(rows.map((row) => [`${row.modelId} ${row.cycleStart.toISOString()}`, new Decimal(row.spend.toString())]));
      return keys.map((key) => byKey.get(key) ?? new Decimal(0));
    }),
);

export const ModelRef = builder.prismaNode("Model", {
  id: { field: "id" },
  select: { id: true, organizationId: true },
  authScopes: modelRule,
  fields: (t) => ({
    key: t.exposeString("key", { description: "Provider's model identifier, e.g. gpt-4o-mini; unique per organisation." }),
    displayName: t.exposeString("displayName"),
    inputPricePerMillion: t.field({
      type: "Money",
      select: { inputPricePerMillion: true },
      resolve: (model) => model.inputPricePerMillion,
    }),
    outputPricePerMillion: t.field({
      type: "Money",
      select: { outputPricePerMillion: true },
      resolve: (model) => model.outputPricePerMillion,
    }),
    enabled: t.exposeBoolean("enabled"),
    cap: t.field({
      type: "Money",
      nullable: true,
      description: "Spend cap for the current cycle; null means no cap (draws from the shared budget).",
      authScopes: staffOnly,
      select: { cap: true },
      resolve: (model) => model.cap,
    }),
    cycleSpend: t.field({
      type: "Money",
      description: "Spend on this model in the organisation's current billing cycle.",
      authScopes: staffOnly,
      select: { organization: { select: { cycleAnchorDay: true } } },
      resolve: (model, _args, context) => {
        const { start } = cycleAt(model.organization.cycleAnchorDay, context.runtime.clock.now());
        return cycleSpendLoader(context).load(`${model.id} ${start.toISOString()}`);
      },
    }),
  }),
});

const ModelInput = builder.inputType("ModelInput", {
  fields: (t) => ({
    key: t.string({ required: true }),
    displayName: t.string({ description: "Defaults to the key for a new model." }),
    inputPricePerMillion: t.field({ type: "Money", required: true }),
    outputPricePerMillion: t.field({ type: "Money", required: true }),
    enabled: t.boolean({ description: "Defaults to true for a new model; omitted: unchanged." }),
    cap: t.field({ type: "Money", description: "Spend cap per cycle; null: no cap; omitted: unchanged (none for a new model)." }),
  }),
});

builder.queryFields((t) => ({
  models: t.prismaField({
    type: ["Model"],
    description: "The organisation's models, by key.",
    authScopes: { member: true, service: true },
    resolve: (query, _root, _args, context) => {
      const organizationId = organizationOf(context.principal);
      if (!organizationId) throw unauthenticated();
      return context.runtime.prisma.model.findMany({ ...query, where: { organizationId }, orderBy: { key: "asc" } });
    },
  }),
}));

builder.mutationFields((t) => ({
  upsertModel: t.prismaField({
    type: "Model",
    description: "Creates the model with this key or changes it (admins).",
    args: { input: t.arg({ type: ModelInput, required: true }) },
    authScopes: { admin: true },
    resolve: async (query, _root, { input }, context) => {
      const { organizationId } = requireAdmin(context);
      const model = await upsertModel(context.runtime, organizationId, input);
      return context.runtime.prisma.model.findUniqueOrThrow({ ...query, where: { id: model.id } });
    },
  }),
  setAutomaticFallback: t.prismaField({
    type: OrganizationRef,
    description: "Whether calls to a capped model are routed to a cheaper one (admins).",
    args: { enabled: t.arg.boolean({ required: true }) },
    authScopes: { admin: true },
    resolve: async (query, _root, { enabled }, context) => {
      const { organizationId } = requireAdmin(context);
      await setAutomaticFallback(context.runtime, organizationId, enabled);
      return context.runtime.prisma.organization.findUniqueOrThrow({ ...query, where: { id: organizationId } });
    },
  }),
}));
