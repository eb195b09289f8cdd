import { describe, expect, it } from "vitest";
import { CreateOrganizationDocument, OrganizationSettingsDocument, SetPlanDocument } from "../../src/client/generated/graphql.ts";
import { Api, pick } from "../support/client.ts";
import { unique } from "../support/factories.ts";
import { OPERATOR_KEY, startServer } from "../support/server.ts";

const server = await startServer();
const operator = new Api(server.url, OPERATOR_KEY);

const create = (name: string, adminEmail = "a@example.com") =>
  operator.execute(CreateOrganizationDocument, { input: { name, adminEmail } }).then(({ createOrganization }) => createOrganization);
const settingsOf = (organizationId: string) =>
  operator.execute(OrganizationSettingsDocument, { organizationId }).then(({ organization }) => organization!);

describe("organizations", () => {
  it("lets the operator create an organisation with defaults", async () => {
    const name = unique("acme");
    const org = await settingsOf((await create(name, "Boss@Example.com")).id);
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
    const error = await anonymous.errorOf(CreateOrganizationDocument, { input: { name: "x", adminEmail: "a@b.co" } });
    expect(error.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("rejects bad input naming the field and creates nothing", async () => {
    const error = await operator.errorOf(CreateOrganizationDocument, { input: { name: "x", adminEmail: "not-an-email" } });
    expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.adminEmail" });
    const money = await operator.errorOf(CreateOrganizationDocument, { input: { name: "x", adminEmail: "a@b.co", planBudget: "12.3.4" } });
    expect(money.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("lets the operator read any organisation by id", async () => {
    const name = unique("o");
    const org = await create(name);
    expect(pick(await settingsOf(org.id), "id", "name")).toEqual({ id: org.id, name });
  });

  it("lets only the operator set the plan, and admins read it", async () => {
    const org = await create(unique("o"));
    const setPlan = (planBudget: string, overageLimit: string, cycleAnchorDay: number) =>
      ({ organizationId: org.id, planBudget, overageLimit, cycleAnchorDay }) as const;
    // a higher overage waits for an admin's acceptance (plan.test.ts)
    const { setPlan: plan } = await operator.execute(SetPlanDocument, setPlan("1250.5", "100", 15));
    expect(pick(plan, "planBudget", "overageLimit", "cycleAnchorDay")).toEqual({
      planBudget: "1250.50",
      overageLimit: "0.00",
      cycleAnchorDay: 15,
    });
    const bad = await operator.errorOf(SetPlanDocument, setPlan("-1", "0", 15));
    expect(bad.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "planBudget" });
    const badDay = await operator.errorOf(SetPlanDocument, setPlan("1", "0", 32));
    expect(badDay.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "cycleAnchorDay" });
    const organization = pick(await settingsOf(org.id), "planBudget", "cycleAnchorDay");
    expect(organization).toEqual({ planBudget: "1250.50", cycleAnchorDay: 15 });
  });
});
