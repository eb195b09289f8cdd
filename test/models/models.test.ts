import { describe, expect, it } from "vitest";
import {
  type ModelInput,
  ModelsDocument,
  OrganizationSettingsDocument,
  SetAutomaticFallbackDocument,
  UpsertModelDocument,
} from "../../src/client/generated/graphql.ts";
import { pick } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

describe("upsertModel", () => {
  it("creates a model with defaults, then changes it by key keeping omitted fields", async () => {
    const { admin } = await seedOrganization(server);
    const { upsertModel: created } = await admin.execute(UpsertModelDocument, {
      input: { key: "  gpt-4o-mini ", inputPricePerMillion: "0.15", outputPricePerMillion: "0.6" },
    });
    expect(created).toMatchObject({
      key: "gpt-4o-mini",
      displayName: "gpt-4o-mini",
      inputPricePerMillion: "0.15",
      outputPricePerMillion: "0.60",
      enabled: true,
      cap: null,
      cycleSpend: "0.00",
    });
    const { upsertModel: capped } = await admin.execute(UpsertModelDocument, {
      input: {
        key: "gpt-4o-mini",
        displayName: "GPT-4o mini",
        inputPricePerMillion: "0.20",
        outputPricePerMillion: "0.80",
        cap: "125.5",
        enabled: false,
      },
    });
    expect(capped).toMatchObject({
      id: created.id,
      displayName: "GPT-4o mini",
      inputPricePerMillion: "0.20",
      cap: "125.50",
      enabled: false,
    });
    const { upsertModel: kept } = await admin.execute(UpsertModelDocument, {
      input: { key: "gpt-4o-mini", inputPricePerMillion: "0.25", outputPricePerMillion: "1" },
    });
    expect(kept).toMatchObject({ id: created.id, displayName: "GPT-4o mini", inputPricePerMillion: "0.25", cap: "125.50", enabled: false });
    const { upsertModel: uncapped } = await admin.execute(UpsertModelDocument, {
      input: { key: "gpt-4o-mini", inputPricePerMillion: "0.25", outputPricePerMillion: "1", cap: null, enabled: true },
    });
    expect(uncapped).toMatchObject({ id: created.id, cap: null, enabled: true });
    const { models } = await admin.execute(ModelsDocument);
    expect(models.map((model) => pick(model, "id", "key"))).toEqual([{ id: created.id, key: "gpt-4o-mini" }]);
    // The model as a Node (the Node interface, not a client operation).
    const { node } = await admin.execute(`query($id: ID!) { node(id: $id) { ... on Model { key inputPricePerMillion } } }`, {
      id: created.id,
    });
    expect(node).toEqual({ key: "gpt-4o-mini", inputPricePerMillion: "0.25" });
  });

  it("keeps keys per organisation", async () => {
    const a = await seedOrganization(server);
    const b = await seedOrganization(server);
    const input = { key: "shared", inputPricePerMillion: "1", outputPricePerMillion: "2" };
    const { upsertModel: first } = await a.admin.execute(UpsertModelDocument, { input });
    const { upsertModel: second } = await b.admin.execute(UpsertModelDocument, { input: { ...input, inputPricePerMillion: "3" } });
    expect(second.id).not.toBe(first.id);
    expect((await a.admin.execute(ModelsDocument)).models.map((model) => pick(model, "inputPricePerMillion"))).toEqual([
      { inputPricePerMillion: "1.00" },
    ]);
    // Another organisation's model reads as absent.
    expect((await b.admin.execute(`query($id: ID!) { node(id: $id) { id } }`, { id: first.id })).node).toBeNull();
  });

  it("refuses bad input naming the field and changes nothing", async () => {
    const { admin } = await seedOrganization(server);
    const base = { key: "m", inputPricePerMillion: "1", outputPricePerMillion: "1" };
    const cases: [ModelInput, string | null][] = [
      [{ ...base, key: "   " }, "input.key"],
      [{ ...base, key: "k".repeat(101) }, "input.key"],
      [{ ...base, displayName: " " }, "input.displayName"],
      [{ ...base, inputPricePerMillion: "-0.01" }, "input.inputPricePerMillion"],
      [{ ...base, outputPricePerMillion: "-1" }, "input.outputPricePerMillion"],
      [{ ...base, cap: "-5" }, "input.cap"],
      [{ ...base, cap: "1.2.3" }, null],
      [{ ...base, inputPricePerMillion: "0.000000001" }, null],
    ];
    for (const [input, field] of cases) {
      const error = await admin.errorOf(UpsertModelDocument, { input });
      expect(error.extensions?.code, JSON.stringify(input)).toBe("BAD_USER_INPUT");
      if (field) expect(error.extensions?.field).toBe(field);
    }
    expect((await admin.execute(ModelsDocument)).models).toEqual([]);
  });

  it("is for admins only", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(1_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    const service = await seed.serviceKey();
    const input = { key: "m", inputPricePerMillion: "1", outputPricePerMillion: "1" };
    for (const api of [member, service, seed.operator]) {
      expect((await api.errorOf(UpsertModelDocument, { input })).extensions?.code).toBe("FORBIDDEN");
      expect((await api.errorOf(SetAutomaticFallbackDocument, { enabled: false })).extensions?.code).toBe("FORBIDDEN");
    }
    expect((await seed.admin.execute(ModelsDocument)).models).toEqual([]);
  });
});

describe("setAutomaticFallback", () => {
  it("toggles routing for the admin's organisation", async () => {
    const { admin, operator, organizationId } = await seedOrganization(server);
    expect(
      pick((await admin.execute(SetAutomaticFallbackDocument, { enabled: false })).setAutomaticFallback, "id", "automaticFallback"),
    ).toEqual({
      id: organizationId,
      automaticFallback: false,
    });
    const { organization } = await operator.execute(OrganizationSettingsDocument, { organizationId });
    expect(organization.automaticFallback).toBe(false);
    expect((await admin.execute(SetAutomaticFallbackDocument, { enabled: true })).setAutomaticFallback.automaticFallback).toBe(true);
  });
});
