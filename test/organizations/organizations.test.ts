import { describe, expect, it } from "vitest";
import { graphql } from "../graphql/index.ts";
import { Api } from "../support/client.ts";
import { unique } from "../support/factories.ts";
import { OPERATOR_KEY, startServer } from "../support/server.ts";

const server = await startServer();
const operator = new Api(server.url, OPERATOR_KEY);

const CREATE = graphql(`
  mutation CreateOrganization($input: CreateOrganizationInput!) {
    createOrganization(input: $input) { id name currency planBudget overageLimit cycleAnchorDay cycleStart cycleEnd automaticFallback }
  }
`);
const ORGANIZATION = graphql(`
  query OrganizationById($id: ID!) {
    organization(id: $id) { id name }
  }
`);

describe("organizations", () => {
  it("lets the operator create an organisation with defaults", async () => {
    const name = unique("acme");
    const { createOrganization: org } = await operator.execute(CREATE, { input: { name, adminEmail: "Boss@Example.com" } });
    expect(org).toMatchObject({
      name,
      currency: "EUR",
      planBudget: "0.00",
      overageLimit: "0.00",
      cycleAnchorDay: new Date().getUTCDate(),
      automaticFallback: true,
    });
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

  it("lets the operator read any organisation by id", async () => {
    const name = unique("o");
    const { createOrganization: org } = await operator.execute(CREATE, { input: { name, adminEmail: "a@example.com" } });
    const { organization } = await operator.execute(ORGANIZATION, { id: org.id });
    expect(organization).toEqual({ id: org.id, name });
  });

  it("lets only the operator set the plan, and admins read it", async () => {
    const { createOrganization: org } = await operator.execute(CREATE, { input: { name: unique("o"), adminEmail: "a@example.com" } });
    const SET_PLAN = graphql(`
      mutation SetPlan($id: ID!, $budget: Money!, $overage: Money!, $anchor: Int) {
        setPlan(organizationId: $id, planBudget: $budget, overageLimit: $overage, cycleAnchorDay: $anchor) { planBudget overageLimit cycleAnchorDay }
      }
    `);
    // a higher overage waits for an admin's acceptance (plan.test.ts)
    const { setPlan } = await operator.execute(SET_PLAN, { id: org.id, budget: "1250.5", overage: "100", anchor: 15 });
    expect(setPlan).toEqual({ planBudget: "1250.50", overageLimit: "0.00", cycleAnchorDay: 15 });
    const bad = await operator.errorOf(SET_PLAN, { id: org.id, budget: "-1", overage: "0", anchor: 15 });
    expect(bad.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "planBudget" });
    const badDay = await operator.errorOf(SET_PLAN, { id: org.id, budget: "1", overage: "0", anchor: 32 });
    expect(badDay.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "cycleAnchorDay" });
    const { organization } = await operator.execute(
      graphql(`query PlanOf($id: ID!) { organization(id: $id) { planBudget cycleAnchorDay } }`),
      { id: org.id },
    );
    expect(organization).toEqual({ planBudget: "1250.50", cycleAnchorDay: 15 });
  });
});
